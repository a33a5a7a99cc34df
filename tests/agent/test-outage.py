#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""nodelet when the API server goes away (issue 14, item 8): pods keep running and restarting, probes continue, the
daemon does not spin while disconnected, and after the API server is back every status change made meanwhile is
written, a pod created during the outage runs, and the expired watch history (410) is handled by a relist.

usage: test-outage.py BUILD_DIR SOURCE_DIR      (exit 77 when not root)"""

import os
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "apiserver"))
from daemon_harness import Node  # noqa: E402
from test_cluster_util import condition, enter_netns, expect, pod  # noqa: E402

OUTAGE_SECONDS = 12


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def restarts(p):
    cs = (p or {}).get("status", {}).get("containerStatuses") or [{}]
    return cs[0].get("restartCount", 0)


def local_pod(n, name):
    """An API pod as the node's /pods shows it (API pods keep their name)."""
    return next((p for p in n.pod_list()["items"] if p["metadata"]["name"] == name), None)


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
        n.start(extra=["--kubeconfig", kubeconfig])
        fake.create(pod("steady", "testnode", "trap 'exit 0' TERM; sleep 1000 & wait", ready_file=True))
        # Exits every 2 s: restarts (with the harness's 4 s back-off cap) keep changing its status.
        fake.create(pod("flappy", "testnode", "sleep 2; exit 1"))
        fake.wait_for("pods", "steady", "default", lambda o: o and condition(o, "Ready") == "True", 60)
        fake.wait_for("pods", "flappy", "default", lambda o: restarts(o) >= 1, 60)

        # The API server goes away; its state stays (stop() keeps it, start() serves it again on the same port).
        fake.stop(remove_tls_dir=False)
        pid = n.proc.pid
        cpu0, t0 = cpu_seconds(pid), time.monotonic()
        local0 = n.wait(lambda: local_pod(n, "flappy"), 5, "flappy in /pods")
        # While it is away: a pod is created for this node and the watch history is compacted, so the informers'
        # resourceVersion is too old when they come back (410 → relist).
        fake.create(pod("late", "testnode", "trap 'exit 0' TERM; sleep 1000 & wait"))
        fake.compact()
        time.sleep(OUTAGE_SECONDS)
        cpu = cpu_seconds(pid) - cpu0
        wall = time.monotonic() - t0
        print("daemon CPU while the API server was away: %.2f s in %.1f s" % (cpu, wall), flush=True)
        # No busy loop: retries back off (a spinning client burns a whole core).
        expect(cpu < 0.25 * wall, "daemon used %.2f s of CPU in %.1f s without an API server" % (cpu, wall))
        expect(n.healthz() == "ok", "healthz during the outage")
        local = local_pod(n, "flappy")
        expect(local and restarts(local) > restarts(local0), "flappy kept restarting: %s" % local)
        expect(condition(local_pod(n, "steady"), "Ready") == "True", "steady stayed Ready (probes continue)")

        # Back: the status changes made meanwhile are written, the pod created meanwhile runs.
        since = len(fake.requests())
        fake.start()
        want = restarts(local)
        fake.wait_for("pods", "flappy", "default", lambda o: restarts(o) >= want, 90)
        fake.wait_for("pods", "late", "default", lambda o: o and o.get("status", {}).get("phase") == "Running", 90)
        # The pods watch came back with a resourceVersion older than the compacted history: 410, then a relist.
        lists = n.wait(lambda: [x for x in fake.requests(since=since, resource="pods", method="GET")
                                if not x.get("watch") and not x.get("name")], 10, "a relist of the pods")
        expect(lists, "no relist of the pods after the 410")
        # And the daemon still drains (stops every pod and exits) after all that.
        n.stop(timeout=60)
        print("PASS test-outage", flush=True)
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
