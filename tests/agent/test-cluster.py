#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""nodelet with an API server (tests/apiserver/fake_apiserver.py, checked against real kube-apiserver responses):
a pod bound to the node in the API runs, its status is written back (Running, Ready, the kubelet's shape) only when
it changes, kubectl sees it Ready, and deleting it in the API stops it gracefully and ends with the kubelet's final
DELETE (grace 0, uid precondition). Pods of other nodes are never run.

usage: test-cluster.py BUILD_DIR SOURCE_DIR      (exit 77 when not root)"""

import os
import shutil
import subprocess
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "apiserver"))
from daemon_harness import Node  # noqa: E402
from test_cluster_util import condition, enter_netns, expect, pod  # noqa: E402

STATIC_POD = """apiVersion: v1
kind: Pod
metadata: {name: static, namespace: default}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: docker.io/library/busybox:latest
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait"]
"""


def main():
    if os.geteuid() != 0:
        print("SKIP: needs root")
        return 77
    build, source = sys.argv[1], sys.argv[2]
    from fake_apiserver import FakeAPIServer

    n = Node(build, source)
    fake = None
    failed = False
    try:
        enter_netns(n.ns)
        fake = FakeAPIServer(tls_dir=os.path.join(n.tmp, "apiserver"))
        fake.start()
        cert, key = fake.issue_client_cert("system:node:testnode", ["system:nodes"])
        kubeconfig = fake.write_kubeconfig(os.path.join(n.tmp, "kubelet.conf"), cert, key)
        admin = fake.write_kubeconfig(os.path.join(n.tmp, "admin.conf"), fake.admin_cert, fake.admin_key)
        n.start(extra=["--kubeconfig", kubeconfig])
        n.wait(lambda: "Pod source \"api\" synced" in n.log(), 30, "the API pod source to sync")

        # The node registers itself, becomes Ready and holds its Lease.
        node = fake.wait_for("nodes", "testnode", None, lambda o: o and condition(o, "Ready") == "True", 30)
        labels = node["metadata"]["labels"]
        expect(labels.get("kubernetes.io/hostname") == "testnode" and labels.get("kubernetes.io/os") == "linux",
               "node labels %s" % labels)
        info = node["status"]["nodeInfo"]
        expect(info["containerRuntimeVersion"].startswith("nodelet://"), "nodeInfo %s" % info)
        expect(node["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"] == 10250, "daemonEndpoints")
        lease = fake.wait_for("leases.coordination.k8s.io", "testnode", "kube-node-lease", lambda o: o is not None,
                              30)
        expect(lease["spec"]["holderIdentity"] == "testnode", "lease %s" % lease["spec"])
        expect(lease["metadata"]["ownerReferences"][0]["uid"] == node["metadata"]["uid"], "lease owner")

        # A pod of another node is never run; ours runs and its status reaches the API.
        fake.create(pod("elsewhere", "othernode", "sleep 1000"))
        t0 = time.monotonic()
        fake.create(pod("web", "testnode", "trap 'exit 0' TERM; sleep 1000 & wait", ready_file=True))
        p = fake.wait_for("pods", "web", "default", lambda o: o and condition(o, "Ready") == "True", 60)
        print("pod Ready in the API %.3f s after its creation" % (time.monotonic() - t0), flush=True)
        st = p["status"]
        expect(st["phase"] == "Running", "phase %s" % st["phase"])
        expect(st["podIP"].startswith("10.251.0."), "podIP %s" % st.get("podIP"))
        cs = st["containerStatuses"][0]
        expect(cs["ready"] and cs["started"] and cs["containerID"].startswith("nodelet://"), "container %s" % cs)
        for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled"):
            expect(condition(p, t) == "True", "condition %s" % t)
        expect(fake.get("pods", "elsewhere", "default").get("status", {}).get("phase") in (None, "Pending"),
               "another node's pod was touched")
        expect(all("elsewhere" not in x["metadata"]["name"] for x in n.pod_list()["items"]),
               "another node's pod runs here")
        if shutil.which("kubectl"):
            r = subprocess.run(["kubectl", "--kubeconfig", admin, "wait", "--for=condition=Ready", "pod/web",
                                "--timeout=30s"], capture_output=True, text=True, timeout=60)
            expect(r.returncode == 0, "kubectl wait: %s %s" % (r.stdout, r.stderr))
        else:
            print("kubectl not installed: skipping the kubectl check", flush=True)

        # Status only on change: no PATCH while nothing changes.
        time.sleep(1)
        before = len(fake.requests(method="PATCH", resource="pods", subresource="status"))
        time.sleep(3)
        after = len(fake.requests(method="PATCH", resource="pods", subresource="status"))
        expect(after == before, "status written %d times while nothing changed" % (after - before))
        patches = fake.requests(method="PATCH", resource="pods", subresource="status")
        expect(all(x["status"] == 200 for x in patches), "status patches failed: %s" %
               [(x["status"]) for x in patches])
        expect(all(x["user"] == "system:node:testnode" for x in patches), "patches as the node")

        # Mirror pods: a static pod gets its read-only copy in the API (annotation config.mirror = its hash, owned
        # by the Node), carrying the static pod's status; the copy is never run as a second pod.
        n.add("static.yaml", STATIC_POD)
        mirror = fake.wait_for("pods", "static-testnode", "default",
                               lambda o: o and o.get("status", {}).get("phase") == "Running", 60)
        ann = mirror["metadata"]["annotations"]
        expect(ann.get("kubernetes.io/config.mirror") == ann.get("kubernetes.io/config.hash") and
               ann.get("kubernetes.io/config.source") == "file", "mirror annotations %s" % ann)
        owner = mirror["metadata"]["ownerReferences"]
        expect(len(owner) == 1 and owner[0]["kind"] == "Node" and owner[0]["uid"] == node["metadata"]["uid"],
               "mirror owner %s" % owner)
        expect(mirror["spec"]["nodeName"] == "testnode", "mirror nodeName")
        expect(sum(1 for x in n.pod_list()["items"] if x["metadata"]["name"] == "static-testnode") == 1,
               "the mirror pod runs as a second pod")
        # Deleted by someone: created again (a new uid).
        fake.delete("pods", "static-testnode", "default", grace=30)
        again = fake.wait_for("pods", "static-testnode", "default",
                              lambda o: o and o["metadata"]["uid"] != mirror["metadata"]["uid"] and
                              not o["metadata"].get("deletionTimestamp"), 30)
        fake.wait_for("pods", "static-testnode", "default",
                      lambda o: o and o["metadata"]["uid"] == again["metadata"]["uid"] and
                      o.get("status", {}).get("phase") == "Running", 30)
        # The manifest changed: the mirror is replaced with the new hash.
        n.add("static.yaml", STATIC_POD.replace("sleep 1000", "sleep 2000"))
        changed = fake.wait_for("pods", "static-testnode", "default",
                                lambda o: o and o["metadata"]["annotations"]["kubernetes.io/config.mirror"] !=
                                ann["kubernetes.io/config.mirror"] and
                                o.get("status", {}).get("phase") == "Running", 60)
        expect(changed["metadata"]["annotations"]["kubernetes.io/config.mirror"] ==
               changed["metadata"]["annotations"]["kubernetes.io/config.hash"], "replaced mirror hash")
        # The manifest removed: the mirror pod goes.
        n.remove("static.yaml")
        fake.wait_for("pods", "static-testnode", "default", lambda o: o is None, 60)

        # Deletion: graceful stop, then the kubelet's DELETE with grace 0 ends it.
        uid = p["metadata"]["uid"]
        fake.delete("pods", "web", "default", grace=30)
        fake.wait_for("pods", "web", "default", lambda o: o is None, 60)
        # (The fake logs a request after answering it: wait for the entry.)
        dels = n.wait(lambda: [x for x in fake.requests(method="DELETE", resource="pods")
                               if x.get("user") == "system:node:testnode" and x.get("name") == "web"], 10,
                      "the node's DELETE in the log")
        expect(dels[-1]["status"] == 200, "final DELETE by the node: %s" % dels)
        expect(dels[-1]["name"] == "web", "DELETE of %s" % dels[-1]["name"])
        n.wait(lambda: not n.pod_list()["items"], 30, "the pod gone from the node")
        expect(uid not in " ".join(os.listdir(os.path.join(n.state, "sandboxes")) if os.path.isdir(
            os.path.join(n.state, "sandboxes")) else []), "sandbox removed")
        print("PASS test-cluster", flush=True)
    except Exception:
        failed = True
        print("FAIL\n%s" % traceback.format_exc(), flush=True)
        print("---- daemon log (tail) ----\n" + "\n".join(n.log().splitlines()[-80:]), flush=True)
    finally:
        try:
            n.close()
        finally:
            if fake:
                fake.stop()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
