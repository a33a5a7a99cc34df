#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The node controller (agent/node.h) against the fake kube-apiserver (tests/apiserver/fake_apiserver.py), run in
this process so the test can read what nodelet sent, change objects behind its back and take the server away.
test-node-driver runs a NodeController on a loop with kubelet flags; short periods (status every 300 ms, report
every 4 s, a 4 s Lease renewed every second) keep it quick. Bounds on request counts are loose on purpose: they
separate "none" from "some" and "bounded" from "a hot loop", never a timing.

usage: test-node.py DRIVER SOURCE_DIR"""

import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time

DRIVER, SOURCE = sys.argv[1], sys.argv[2]
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(SOURCE, "tests", "apiserver"))
import fake_apiserver  # noqa: E402

CAPTURES = os.environ.get("NODELET_K8S_CAPTURES") or os.path.join(SOURCE, "..", "shared", "k8s-api-v1.26")
LEASES = "leases.coordination.k8s.io"
NET_MSG = ("container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network "
           "plugin returns error: cni plugin not initialized")
failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)
        print("FAIL: " + msg, flush=True)
    return cond


def host_tree(root, mem_avail_kb=4000000):
    files = {
        "proc/meminfo": "MemTotal:        8140216 kB\nMemFree:         1000000 kB\nMemAvailable:    %d kB\n" % mem_avail_kb,
        "proc/loadavg": "0.10 0.20 0.30 1/345 6789\n",
        "proc/sys/kernel/pid_max": "4194304\n",
        "proc/sys/kernel/threads-max": "100000\n",
        "proc/sys/kernel/random/boot_id": "7e1b3c52-9f0a-4d8e-a6b1-2c3d4e5f6a7b\n",
        "etc/machine-id": "0f5d4e8a9b2c4d6e8f1a2b3c4d5e6f70\n",
        "etc/os-release": 'NAME="Test"\nPRETTY_NAME="Test OS 12 (node)"\nID=test\n',
        "sys/class/dmi/id/product_uuid": "4c4c4544-0042-3510-8052-b4c04f4e3332\n",
        "sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages": "0\n",
    }
    for rel, content in files.items():
        p = os.path.join(root, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p + ".tmp", "w") as f:
            f.write(content)
        os.replace(p + ".tmp", p)


class Driver:
    def __init__(self, args, env):
        self.p = subprocess.Popen([DRIVER] + args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  env=dict(os.environ, **env), text=True, bufsize=1)
        self.events = queue.Queue()
        self.seen = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            try:
                self.events.put(json.loads(line))
            except ValueError:
                self.events.put({"event": "garbage", "line": line})
        self.events.put({"event": "exit"})

    def wait(self, name, pred=lambda e: True, timeout=20):
        for e in self.seen:
            if e["event"] == name and pred(e):
                self.seen.remove(e)
                return e
        deadline = time.monotonic() + timeout
        while True:
            try:
                e = self.events.get(timeout=max(0.05, deadline - time.monotonic()))
            except queue.Empty:
                raise TimeoutError("driver: no %s event in %d s" % (name, timeout))
            if e["event"] == "exit":
                raise RuntimeError("driver exited (code %s)" % self.p.poll())
            if e["event"] == name and pred(e):
                return e
            self.seen.append(e)

    def cmd(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()

    def stats(self):
        self.cmd("stats")
        return self.wait("stats")

    def stop(self):
        if self.p.poll() is None:
            try:
                self.cmd("quit")
                self.p.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                self.p.kill()
                self.p.wait()


def cond(node, type_):
    for c in (node or {}).get("status", {}).get("conditions", []):
        if c.get("type") == type_:
            return c
    return {}


def main():
    tmp = tempfile.mkdtemp(prefix="test-node.")
    fake = fake_apiserver.FakeAPIServer(tls_dir=os.path.join(tmp, "tls"))
    bodies = []  # (verb, path-ish, body) of what nodelet wrote

    orig_patch, orig_update, orig_create = fake._patch, fake._update, fake._create

    def rec_patch(r, ns, name, sub, ctype, body, user, params):
        bodies.append(("PATCH", r.name, name, sub, ctype, json.loads(body)))
        return orig_patch(r, ns, name, sub, ctype, body, user, params)

    def rec_update(r, ns, name, sub, obj, user, *a, **kw):
        if not kw.get("from_patch"):
            bodies.append(("PUT", r.name, name, sub, None, json.loads(json.dumps(obj))))
        return orig_update(r, ns, name, sub, obj, user, *a, **kw)

    def rec_create(r, obj, ns, user, *a, **kw):
        bodies.append(("POST", r.name, (obj.get("metadata") or {}).get("name"), None, None,
                       json.loads(json.dumps(obj))))
        return orig_create(r, obj, ns, user, *a, **kw)

    fake._patch, fake._update, fake._create = rec_patch, rec_update, rec_create
    fake.test_down = False
    orig_dispatch = fake_apiserver.Handler._dispatch

    def dispatch(self, method):
        if self.fake.test_down:
            self.close_connection = True  # no answer at all, like a server that went away
            return None
        return orig_dispatch(self, method)

    fake_apiserver.Handler._dispatch = dispatch
    drivers = []
    try:
        fake.start()
        host = os.path.join(tmp, "host")
        host_tree(host)
        root = os.path.join(tmp, "root")
        os.makedirs(root)
        config = os.path.join(tmp, "config.yaml")
        with open(config, "w") as f:
            f.write("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"
                    "nodeStatusUpdateFrequency: 300ms\nnodeStatusReportFrequency: 4s\nnodeLeaseDurationSeconds: 4\n")

        # status.images from the image store (importing needs root for the layers' ownership)
        image_tar = None
        if os.geteuid() == 0 and os.path.exists("/bin/busybox"):
            image_tar = os.path.join(tmp, "busybox.tar")
            subprocess.run(["/usr/bin/python3", os.path.join(SOURCE, "tests/fixtures/make-busybox-image.py"),
                            image_tar, "--ref", "docker.io/library/busybox:1.36"], check=True,
                           stdout=subprocess.DEVNULL)
        else:
            print("not root or no busybox: status.images not checked", flush=True)

        def start(node, *extra, ready=False):
            cert, key = fake.issue_client_cert("system:node:" + node, ["system:nodes"], name="node-" + node)
            kc = fake.write_kubeconfig(os.path.join(tmp, node + ".kubeconfig"), cert, key)
            env = {"NODE_DRIVER_HOST_ROOT": host}
            if ready:
                env["NODE_DRIVER_READY"] = "1"
            if image_tar and node == "node-a":
                env["NODE_DRIVER_IMAGE_TAR"] = image_tar
            d = Driver(["--kubeconfig", kc, "--config", config, "--hostname-override", node, "--root-dir", root,
                        "--node-ip", "127.0.0.1"] + list(extra), env)
            drivers.append(d)
            return d

        # ---- registration: the capture's shape ----
        d = start("node-a", "--node-labels=example.com/role=web", "--register-with-taints=dedicated=gpu:NoSchedule",
                  "--pod-cidr=10.244.1.0/24")
        reg = d.wait("registered")
        node = fake.get("nodes", "node-a")
        uid = node["metadata"]["uid"]
        check(reg["uid"] == uid, "registered uid %s != %s" % (reg["uid"], uid))
        posts = [b for b in bodies if b[0] == "POST" and b[1] == "nodes"]
        check(len(posts) == 1, "one Node POST, got %d" % len(posts))
        body = posts[0][5]
        labels = body["metadata"]["labels"]
        check(labels == {"beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux",
                         "kubernetes.io/arch": "amd64", "kubernetes.io/hostname": "node-a",
                         "kubernetes.io/os": "linux", "example.com/role": "web"}, "labels: %s" % labels)
        check(body["metadata"]["annotations"] == {"volumes.kubernetes.io/controller-managed-attach-detach": "true"},
              "annotations: %s" % body["metadata"].get("annotations"))
        check(body["spec"].get("taints") == [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}],
              "taints: %s" % body["spec"])
        check(body["spec"].get("podCIDR") == "10.244.1.0/24" and body["spec"].get("podCIDRs") == ["10.244.1.0/24"],
              "podCIDR: %s" % body["spec"])
        st = body["status"]
        check(st["capacity"] == {"cpu": st["capacity"]["cpu"], "ephemeral-storage": st["capacity"]["ephemeral-storage"],
                                 "hugepages-2Mi": "0", "memory": "8140216Ki", "pods": "110"},
              "capacity: %s" % st["capacity"])
        check(st["allocatable"]["memory"] == "8037816Ki" and st["allocatable"]["pods"] == "110" and
              st["allocatable"]["hugepages-2Mi"] == "0", "allocatable: %s" % st["allocatable"])
        check([c["type"] for c in st["conditions"]] == ["MemoryPressure", "DiskPressure", "PIDPressure", "Ready"],
              "condition order: %s" % st["conditions"])
        reasons = {c["type"]: (c["status"], c["reason"], c["message"]) for c in st["conditions"]}
        check(reasons["MemoryPressure"] == ("False", "KubeletHasSufficientMemory",
                                            "kubelet has sufficient memory available"), "memory: %s" % (reasons,))
        check(reasons["DiskPressure"] == ("False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure") or
              reasons["DiskPressure"][1] == "KubeletHasDiskPressure", "disk: %s" % (reasons,))
        check(reasons["PIDPressure"] == ("False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
              "pid: %s" % (reasons,))
        check(reasons["Ready"][:2] == ("False", "KubeletNotReady"), "not ready at first: %s" % (reasons,))
        check(st["addresses"] == [{"type": "InternalIP", "address": "127.0.0.1"},
                                  {"type": "Hostname", "address": "node-a"}], "addresses: %s" % st["addresses"])
        check(st["daemonEndpoints"] == {"kubeletEndpoint": {"Port": 10250}}, "daemonEndpoints: %s" % st)
        ni = st["nodeInfo"]
        check(ni["machineID"] == "0f5d4e8a9b2c4d6e8f1a2b3c4d5e6f70" and
              ni["systemUUID"] == "4c4c4544-0042-3510-8052-b4c04f4e3332" and
              ni["bootID"] == "7e1b3c52-9f0a-4d8e-a6b1-2c3d4e5f6a7b" and ni["osImage"] == "Test OS 12 (node)" and
              ni["containerRuntimeVersion"].startswith("nodelet://") and ni["kubeletVersion"] == "v1.26.1+nodelet" and
              ni["operatingSystem"] == "linux" and ni["architecture"] == "amd64" and ni["kernelVersion"] ==
              os.uname().release, "nodeInfo: %s" % ni)
        if image_tar:
            imgs = st.get("images", [])
            check(len(imgs) == 1 and imgs[0]["sizeBytes"] > 0 and
                  imgs[0]["names"][0].startswith("docker.io/library/busybox@sha256:") and
                  imgs[0]["names"][1:] == ["docker.io/library/busybox:1.36"], "images: %s" % imgs)
            st = dict(st)
            del st["images"]  # not in the capture (its node had none)
        capture = os.path.join(CAPTURES, "02-node-create.request.json")
        if os.path.exists(capture):
            with open(capture) as f:
                real = json.load(f)
            check(set(real["metadata"]["labels"]) <= set(labels), "labels missing vs the kubelet's")
            check(set(real["status"]) == set(st), "status keys %s vs %s" % (sorted(st), sorted(real["status"])))
            check(set(real["status"]["nodeInfo"]) == set(ni), "nodeInfo keys")
            check(set(real["status"]["capacity"]) == set(st["capacity"]), "capacity keys")
            check(set(real["status"]["allocatable"]) == set(st["allocatable"]), "allocatable keys")
            check([set(c) for c in real["status"]["conditions"]] == [set(c) for c in st["conditions"]],
                  "condition keys")
        check(d.wait("pod_cidrs")["cidrs"] == ["10.244.1.0/24"], "pod_cidrs callback")

        # ---- the Lease: created with the owner, renewed with PUT and the resourceVersion ----
        lease = fake.wait_for(LEASES, "node-a", "kube-node-lease", lambda o: o is not None)
        check(lease["spec"]["holderIdentity"] == "node-a" and lease["spec"]["leaseDurationSeconds"] == 4,
              "lease spec: %s" % lease["spec"])
        check(lease["metadata"].get("ownerReferences") == [{"apiVersion": "v1", "kind": "Node", "name": "node-a",
                                                            "uid": uid}], "lease owner: %s" % lease["metadata"])
        rt = lease["spec"]["renewTime"]
        check(len(rt) == 27 and rt.endswith("Z") and rt[19] == ".", "renewTime is RFC 3339 micro: %s" % rt)
        fake.wait_for(LEASES, "node-a", "kube-node-lease", lambda o: o["spec"]["renewTime"] != rt, timeout=10)
        puts = [b for b in bodies if b[0] == "PUT" and b[1] == "leases"]
        check(puts and puts[0][5]["metadata"].get("resourceVersion") and
              "managedFields" not in puts[0][5]["metadata"], "renew PUT carries the resourceVersion")
        # someone else changes the Lease: the stale PUT gets 409, then GET and a PUT that works
        mark = len(fake.requests())
        bumped = fake.patch(LEASES, "node-a", {"metadata": {"annotations": {"test": "bump"}}},
                            namespace="kube-node-lease")
        # a renewal after the patch that kept its annotation was based on a fresh read
        fake.wait_for(LEASES, "node-a", "kube-node-lease", lambda o: o["spec"]["renewTime"] >
                      bumped["spec"]["renewTime"] and o["metadata"].get("annotations", {}).get("test") == "bump",
                      timeout=10)
        # (the log entry is written after the answer: wait for it)
        for _ in range(50):
            seq = [(e["method"], e["status"]) for e in fake.requests(since=mark)
                   if e["path"].endswith("/leases/node-a")]
            if ("PUT", 409) in seq and len(seq) >= seq.index(("PUT", 409)) + 3:
                break
            time.sleep(0.1)
        check(("PUT", 409) in seq and seq.index(("PUT", 409)) < len(seq) - 2 and
              seq[seq.index(("PUT", 409)) + 1] == ("GET", 200) and seq[seq.index(("PUT", 409)) + 2] == ("PUT", 200),
              "conflict → GET → PUT: %s" % seq)

        # ---- status: Ready flips at once, nothing while unchanged, the periodic report ----
        before = fake.get("nodes", "node-a")
        d.cmd("notready " + NET_MSG)
        n = fake.wait_for("nodes", "node-a", None, lambda o: cond(o, "Ready").get("message") == NET_MSG)
        check(cond(n, "Ready")["reason"] == "KubeletNotReady", "not ready reason")
        d.cmd("ready")
        n = fake.wait_for("nodes", "node-a", None, lambda o: cond(o, "Ready").get("status") == "True")
        check(cond(n, "Ready")["reason"] == "KubeletReady" and
              cond(n, "Ready")["message"] == "kubelet is posting ready status", "ready: %s" % cond(n, "Ready"))
        check(cond(n, "Ready")["lastTransitionTime"] >= cond(before, "Ready")["lastTransitionTime"], "transition")
        check(cond(n, "MemoryPressure")["lastTransitionTime"] == cond(before, "MemoryPressure")["lastTransitionTime"],
              "no transition without a flip")
        patches = [b for b in bodies if b[0] == "PATCH" and b[1] == "nodes" and b[3] == "status"]
        check(patches and all(p[4] == "application/strategic-merge-patch+json" for p in patches), "patch type")
        last = patches[-1][5]["status"]
        check(last.get("$setElementOrder/conditions") == [{"type": t} for t in
                                                           ("MemoryPressure", "DiskPressure", "PIDPressure", "Ready")],
              "setElementOrder: %s" % last)
        check(set(last) <= {"$setElementOrder/conditions", "conditions"}, "only conditions changed: %s" % last)
        ready_patch = [c for c in last["conditions"] if c["type"] == "Ready"][0]
        check(ready_patch["status"] == "True" and ready_patch["reason"] == "KubeletReady", "ready patch")

        # unchanged: status is built every 300 ms but not sent until the 4 s report
        s0 = d.stats()
        mark = len(fake.requests())
        report_mark = len(bodies)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if any(b[0] == "PATCH" and b[3] == "status" for b in bodies[report_mark:]):
                break
            time.sleep(0.1)
        s1 = d.stats()
        report = [b for b in bodies[report_mark:] if b[0] == "PATCH" and b[3] == "status"]
        check(len(report) == 1, "exactly one report PATCH, got %d" % len(report))
        check(s1["status_builds"] - s0["status_builds"] >= 3,
              "status built repeatedly meanwhile (%d)" % (s1["status_builds"] - s0["status_builds"]))
        if report:
            conds = report[0][5]["status"].get("conditions", [])
            check(conds and all(set(c) == {"type", "lastHeartbeatTime"} for c in conds),
                  "the report only moves heartbeats: %s" % report[0][5])
        check(all(e["path"] != "/api/v1/nodes/node-a/status" or e["method"] != "GET"
                  for e in fake.requests(since=mark)), "no GET of the node per update")

        # a change is sent before the report is due: memory pressure from the host's meminfo
        host_tree(host, mem_avail_kb=50000)
        n = fake.wait_for("nodes", "node-a", None, lambda o: cond(o, "MemoryPressure").get("status") == "True",
                          timeout=10)
        check(cond(n, "MemoryPressure")["reason"] == "KubeletHasInsufficientMemory" and
              cond(n, "MemoryPressure")["message"] == "kubelet has insufficient memory available",
              "memory pressure: %s" % cond(n, "MemoryPressure"))
        host_tree(host)
        fake.wait_for("nodes", "node-a", None, lambda o: cond(o, "MemoryPressure").get("status") == "False")

        # ---- AlreadyExists → reconcile the kubelet's labels, keep the others ----
        fake.create({"apiVersion": "v1", "kind": "Node", "metadata": {
            "name": "node-b", "labels": {"kubernetes.io/os": "windows", "keep": "me",
                                         "beta.kubernetes.io/arch": "amd64"}}})
        uid_b = fake.get("nodes", "node-b")["metadata"]["uid"]
        db = start("node-b", "--node-labels=only-at-first=yes", ready=True)
        check(db.wait("registered")["uid"] == uid_b, "node-b registered as the existing node")
        nb = fake.get("nodes", "node-b")
        lb = nb["metadata"]["labels"]
        check(lb.get("kubernetes.io/os") == "linux" and lb.get("kubernetes.io/hostname") == "node-b" and
              lb.get("kubernetes.io/arch") == "amd64" and lb.get("keep") == "me" and "only-at-first" not in lb,
              "reconciled labels: %s" % lb)
        check(nb["metadata"].get("annotations", {}).get("volumes.kubernetes.io/controller-managed-attach-detach") ==
              "true", "reconciled annotation")
        # (The fake logs a request after answering it: wait for the third entry.)
        for _ in range(100):
            seq = [(e["method"], e["path"], e["status"]) for e in fake.requests(user="system:node:node-b")
                   if e["path"].startswith("/api/v1/nodes") and not e.get("watch") and "fieldSelector" not in e["query"]]
            if len(seq) >= 3:
                break
            time.sleep(0.1)
        check(seq[:3] == [("POST", "/api/v1/nodes", 409), ("GET", "/api/v1/nodes/node-b", 200),
                          ("PATCH", "/api/v1/nodes/node-b", 200)], "reconcile requests: %s" % seq)
        fake.wait_for("nodes", "node-b", None, lambda o: cond(o, "Ready").get("status") == "True")
        db.stop()

        # ---- the Node deleted on the server → registered again, the Lease follows the new owner ----
        fake.delete("nodes", "node-a")
        reg2 = d.wait("registered", lambda e: e["uid"] != uid)
        n = fake.wait_for("nodes", "node-a", None, lambda o: o is not None)
        check(n["metadata"]["uid"] == reg2["uid"], "re-registered uid")
        fake.wait_for(LEASES, "node-a", "kube-node-lease",
                      lambda o: o["metadata"]["ownerReferences"][0]["uid"] == reg2["uid"], timeout=10)
        check(d.stats()["reregistrations"] == 1, "one re-registration")

        # ---- the API server away for a while: bounded retries, then recovery ----
        time.sleep(1)
        s0 = d.stats()
        # stop() ends watches and refuses new connections; connections kept alive are cut here too
        fake.test_down = True
        fake.stop(remove_tls_dir=False)
        down = time.monotonic()
        time.sleep(6)
        s1 = d.stats()
        sent = sum(s1[k] - s0[k] for k in ("registrations", "status_patches", "lease_creates", "lease_gets",
                                           "lease_renewals"))
        # lease: ~6 attempts (backoff to 7 s, each with the client's 2 quick retries); status: one PATCH per 300 ms
        # period at most once the report is due (the kubelet's cadence). A hot loop would be thousands.
        print("outage: %d requests in 6 s, %d failures" % (sent, s1["failures"] - s0["failures"]), flush=True)
        check(1 <= sent <= 6 / 0.3 + 20, "requests while the server was down: %d" % sent)
        check(s1["failures"] > s0["failures"], "failures reported while down")
        lease = fake.get(LEASES, "node-a", "kube-node-lease")
        fake.test_down = False
        fake.start()
        up_rv = lease["metadata"]["resourceVersion"]
        fake.wait_for(LEASES, "node-a", "kube-node-lease", lambda o: o["metadata"]["resourceVersion"] != up_rv,
                      timeout=30)
        mark = len(fake.requests())
        fake.wait_for("nodes", "node-a", None, lambda o: len([e for e in fake.requests(since=mark)
                                                              if e["method"] == "PATCH" and e["status"] == 200]) > 0,
                      timeout=30)
        check(d.stats()["registered"], "still registered after the outage (%.0f s)" % (time.monotonic() - down))
        errors = [e for e in d.seen if e["event"] == "error"]
        check(errors and all(e["message"] for e in errors), "errors reported with messages")
    except (TimeoutError, RuntimeError, KeyError, IndexError) as e:
        check(False, "%s: %s" % (type(e).__name__, e))
    finally:
        for d in drivers:
            d.stop()
        fake.stop(remove_tls_dir=False)
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print("%d failure(s)" % len(failures))
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
