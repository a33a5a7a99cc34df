#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""nodelet with an API server (tests/apiserver/fake_apiserver.py, checked against real kube-apiserver responses):
a pod bound to the node in the API runs, its status is written back (Running, Ready, the kubelet's shape) only when
it changes, kubectl sees it Ready, and deleting it in the API stops it gracefully and ends with the kubelet's final
DELETE (grace 0, uid precondition). Pods of other nodes are never run.

usage: test-cluster.py BUILD_DIR SOURCE_DIR      (exit 77 when not root)"""

import ctypes
import os
import shutil
import subprocess
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "apiserver"))
from daemon_harness import Failure, Node  # noqa: E402

CLONE_NEWNET = 0x40000000


def expect(cond, what):
    if not cond:
        raise Failure(what)


def enter_netns(name):
    """This whole process joins the daemon's network namespace: the fake API server then listens on the loopback
    the daemon sees, and nothing is reachable outside."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open("/run/netns/" + name, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns")
    finally:
        os.close(fd)


def pod(name, node, script, grace=2, ready_file=False):
    c = {"name": "c", "image": "docker.io/library/busybox:latest", "imagePullPolicy": "IfNotPresent",
         "command": ["sh", "-c", script]}
    if ready_file:
        c["readinessProbe"] = {"exec": {"command": ["true"]}, "periodSeconds": 1}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
            # No service account token volume yet (ConfigMaps, Secrets and TokenRequest come next).
            "spec": {"nodeName": node, "terminationGracePeriodSeconds": grace, "automountServiceAccountToken": False,
                     "containers": [c]}}


def condition(p, t):
    for c in (p or {}).get("status", {}).get("conditions", []):
        if c["type"] == t:
            return c["status"]
    return None


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

        # Deletion: graceful stop, then the kubelet's DELETE with grace 0 ends it.
        uid = p["metadata"]["uid"]
        fake.delete("pods", "web", "default", grace=30)
        fake.wait_for("pods", "web", "default", lambda o: o is None, 60)
        # (The fake logs a request after answering it: wait for the entry.)
        dels = n.wait(lambda: [x for x in fake.requests(method="DELETE", resource="pods")
                               if x.get("user") == "system:node:testnode"], 10, "the node's DELETE in the log")
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
