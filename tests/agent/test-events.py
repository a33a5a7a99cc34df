#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Events (core/v1) from nodelet to the API server (tests/apiserver/fake_apiserver.py), the kubelet's way: a pod from
the API gets Pulled/Created/Started with the right involvedObject (kind, namespace, name, uid, apiVersion,
resourceVersion, fieldPath spec.containers{name}) and source; a crash-looping container gets BackOff counted on one
Event by PATCH (not a POST per restart); a failing liveness probe gives Unhealthy and Killing; the node gets
Starting, NodeHasSufficientMemory and NodeReady; `kubectl get events` lists them (when kubectl is installed).

usage: test-events.py BUILD_DIR SOURCE_DIR      (exit 77 when not root)"""

import json
import os
import shutil
import subprocess
import sys
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
    """Join the daemon's network namespace: the fake API server listens on the loopback the daemon sees."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open("/run/netns/" + name, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns")
    finally:
        os.close(fd)


def pod(name, script, restart="Always", liveness=None):
    c = {"name": "c", "image": "docker.io/library/busybox:latest", "imagePullPolicy": "IfNotPresent",
         "command": ["sh", "-c", script]}
    if liveness:
        c["livenessProbe"] = liveness
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
            "spec": {"nodeName": "testnode", "terminationGracePeriodSeconds": 1, "automountServiceAccountToken": False,
                     "restartPolicy": restart, "containers": [c]}}


def events_of(fake, name, reason=None):
    return [e for e in fake.list("events", "default")
            if e["involvedObject"].get("name") == name and (reason is None or e["reason"] == reason)]


def main():
    if os.geteuid() != 0:
        print("SKIP: needs root")
        return 77
    build, source = sys.argv[1], sys.argv[2]
    from fake_apiserver import FakeAPIServer

    n = Node(build, source, max_restart="2s")
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

        # The node's events: Starting, the pressure conditions' first status, Ready once it flips.
        n.wait(lambda: events_of(fake, "testnode", "NodeReady"), 30, "NodeReady")
        for reason in ("Starting", "NodeHasSufficientMemory", "NodeHasNoDiskPressure", "NodeHasSufficientPID"):
            evs = events_of(fake, "testnode", reason)
            expect(len(evs) == 1, "node event %s: %s" % (reason, evs))
        ready = events_of(fake, "testnode", "NodeReady")[0]
        expect(ready["involvedObject"] == {"kind": "Node", "name": "testnode", "uid": "testnode"},
               "node reference %s" % ready["involvedObject"])
        expect(ready["message"] == "Node testnode status is now: NodeReady", "message %r" % ready["message"])
        expect(ready["metadata"]["namespace"] == "default", "node events live in default")

        # A pod from the API: Pulled, Created, Started against its container, in this order.
        created = fake.create(pod("web", "trap 'exit 0' TERM; sleep 1000 & wait"))
        n.wait(lambda: events_of(fake, "web", "Started"), 60, "Started")
        evs = sorted(events_of(fake, "web"), key=lambda e: e["metadata"]["name"])
        reasons = [e["reason"] for e in evs]
        expect(reasons[:3] == ["Pulled", "Created", "Started"], "events of web: %s" % reasons)
        pulled, made, started = evs[:3]
        expect(pulled["message"] == 'Container image "docker.io/library/busybox:latest" already present on machine',
               "Pulled message %r" % pulled["message"])
        expect(made["message"] == "Created container c", "Created message %r" % made["message"])
        expect(started["message"] == "Started container c", "Started message %r" % started["message"])
        io = started["involvedObject"]
        expect(io["kind"] == "Pod" and io["namespace"] == "default" and io["name"] == "web" and
               io["uid"] == created["metadata"]["uid"] and io["apiVersion"] == "v1" and
               io.get("resourceVersion") and io["fieldPath"] == "spec.containers{c}", "involvedObject %s" % io)
        expect(started["source"] == {"component": "kubelet", "host": "testnode"}, "source %s" % started["source"])
        expect(started["reportingComponent"] == "kubelet" and started["reportingInstance"] == "testnode",
               "reporting %s" % started)
        expect(started["type"] == "Normal" and started["count"] == 1, "type/count %s" % started)
        expect(started["metadata"]["name"].startswith("web."), "name %s" % started["metadata"]["name"])
        posts = fake.requests(method="POST", resource="events")
        expect(posts and all(p["user"] == "system:node:testnode" and p["status"] == 201 for p in posts),
               "event POSTs %s" % [(p["user"], p["status"]) for p in posts])

        # A crash loop: BackOff counted on one Event by PATCH.
        fake.create(pod("crash", "exit 3"))
        backoff = n.wait(lambda: [e for e in events_of(fake, "crash", "BackOff") if e["count"] >= 3], 90,
                         "BackOff counted 3 times")[0]
        expect(backoff["type"] == "Warning", "BackOff type %s" % backoff["type"])
        expect(backoff["message"].startswith("Back-off restarting failed container c in pod crash_default("),
               "BackOff message %r" % backoff["message"])
        expect(len(events_of(fake, "crash", "BackOff")) == 1, "one BackOff Event")
        name = backoff["metadata"]["name"]
        creates = [r for r in fake.requests(method="POST", resource="events") if r.get("status") == 201]
        patches = [r for r in fake.requests(method="PATCH", resource="events", name=name)]
        expect(len(patches) >= 2 and all(p["status"] == 200 for p in patches),
               "BackOff PATCHes %s" % [(p["status"], p.get("content_type")) for p in patches])
        expect(all("strategic-merge-patch" in (p.get("content_type") or "") for p in patches),
               "patch type %s" % [p.get("content_type") for p in patches])
        started_crash = events_of(fake, "crash", "Started")
        expect(len(started_crash) == 1 and started_crash[0]["count"] >= 3, "Started counted %s" % started_crash)
        expect(len(creates) < 30, "too many event POSTs: %d" % len(creates))

        # A failing liveness probe: Unhealthy, then Killing with the kubelet's message.
        fake.create(pod("live", "trap 'exit 0' TERM; sleep 1000 & wait",
                        liveness={"exec": {"command": ["cat", "/nonexistent"]}, "periodSeconds": 1,
                                  "failureThreshold": 2}))
        kill = n.wait(lambda: events_of(fake, "live", "Killing"), 60, "Killing")[0]
        expect(kill["message"] == "Container c failed liveness probe, will be restarted",
               "Killing message %r" % kill["message"])
        unhealthy = events_of(fake, "live", "Unhealthy")
        expect(unhealthy and unhealthy[0]["type"] == "Warning" and
               unhealthy[0]["message"].startswith("Liveness probe failed: "), "Unhealthy %s" % unhealthy)
        expect(unhealthy[0]["involvedObject"]["fieldPath"] == "spec.containers{c}", "Unhealthy fieldPath")

        if shutil.which("kubectl"):
            r = subprocess.run(["kubectl", "--kubeconfig", admin, "get", "events", "-n", "default", "-o", "json"],
                               capture_output=True, text=True, timeout=60)
            expect(r.returncode == 0, "kubectl get events: %s" % r.stderr)
            items = json.loads(r.stdout)["items"]
            got = {(e["involvedObject"]["name"], e["reason"]) for e in items}
            for want in (("web", "Started"), ("crash", "BackOff"), ("live", "Unhealthy"), ("testnode", "NodeReady")):
                expect(want in got, "kubectl get events lacks %s" % (want,))
            r = subprocess.run(["kubectl", "--kubeconfig", admin, "get", "events", "-n", "default"],
                               capture_output=True, text=True, timeout=60)
            expect(r.returncode == 0 and "web." in r.stdout, "kubectl get events (table): %s %s" %
                   (r.stdout, r.stderr))
        else:
            print("kubectl not installed: skipping the kubectl check", flush=True)
        for p in ("web", "crash", "live"):
            fake.delete("pods", p, "default", grace=1)
        for p in ("web", "crash", "live"):
            fake.wait_for("pods", p, "default", lambda o: o is None, 60)
        print("PASS test-events", flush=True)
    except Exception:
        failed = True
        print("FAIL\n%s" % traceback.format_exc(), flush=True)
        if fake:
            for e in fake.list("events", "default"):
                print("event %s %s x%s: %s" % (e["involvedObject"].get("name"), e["reason"], e.get("count"),
                                               e["message"]), flush=True)
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
