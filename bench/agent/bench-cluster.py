#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The daemon in cluster mode against issue 14's targets, with the in-tree fake kube-apiserver (tests/apiserver) in
this process and the daemon as tests/agent/daemon_harness.py runs it (its own network namespace, which this process
joins, so the fake's 127.0.0.1 is the daemon's). As root; everything is removed at the end, also after a failure.

usage: bench-cluster.py BUILD_DIR [--single N] [--pods N] [--others N] [--window S] [--json FILE]

What is measured:
- the kernel floor: `unshare -pnimuf /bin/true`, median of 20 (tells machines apart).
- end-to-end pod start: from just before the pod is created in the API (fake.create, what a POST does) to the
  moment the fake stores a status with condition Ready=True written by the node (what a watching client sees: the
  fake notifies its watchers on that write). Pods one at a time, --single of them, each after the previous one was
  deleted and torn down on the node; p50/p99/max. Target p99 ≤ 300 ms.
- steady-state API requests per minute with --pods (110) running pods: the fake's request log over --window seconds,
  after every pod was Ready and a settle time, by verb and resource. Target: ≤ the kubelet's, i.e. 6 Lease renewals
  a minute plus status only on change (and the node status every 5 min; watches re-established every 5-10 min).
- memory while the cluster holds --others (9,890) more pods on other nodes: the daemon's VmRSS/Pss before and after
  they are created (and their watch events sent to... nobody: the daemon watches its own node's pods only)."""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

SOURCE = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(SOURCE, "tests", "agent"))
sys.path.insert(0, os.path.join(SOURCE, "tests", "apiserver"))
from daemon_harness import Node  # noqa: E402
from test_cluster_util import condition, enter_netns  # noqa: E402

SLEEPER = "trap 'exit 0' TERM; sleep 1000000 & wait"


def pod(name, node):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
            "spec": {"nodeName": node, "terminationGracePeriodSeconds": 5, "automountServiceAccountToken": False,
                     "containers": [{"name": "c", "image": "docker.io/library/busybox:latest",
                                     "imagePullPolicy": "IfNotPresent", "command": ["sh", "-c", SLEEPER]}]}}


def percentile(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, max(0, int(-(-p * len(v) // 100)) - 1))]


def smaps(pid):
    v = {}
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            k, _, rest = line.partition(":")
            if rest.strip().endswith("kB"):
                v[k] = int(rest.split()[0])
    return {"pss_kib": v["Pss"], "rss_kib": v["Rss"], "private_dirty_kib": v["Private_Dirty"]}


def floor():
    times = []
    for _ in range(20):
        t = time.monotonic()
        subprocess.run(["unshare", "-pnimuf", "/bin/true"], check=True)
        times.append((time.monotonic() - t) * 1000)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--single", type=int, default=40)
    ap.add_argument("--pods", type=int, default=110)
    ap.add_argument("--others", type=int, default=9890)
    ap.add_argument("--window", type=float, default=60.0)
    ap.add_argument("--json")
    a = ap.parse_args()
    if os.geteuid() != 0:
        print("bench-cluster: needs root", file=sys.stderr)
        return 1
    from fake_apiserver import FakeAPIServer

    res = {"floor_ms": floor()}
    print("kernel floor `unshare -pnimuf /bin/true`: median %.2f ms" % res["floor_ms"], flush=True)
    n = Node(a.build, SOURCE, pod_cidr="10.251.0.0/23")
    fake = None
    try:
        enter_netns(n.ns)
        fake = FakeAPIServer(tls_dir=os.path.join(n.tmp, "apiserver"), history_limit=200000)
        fake.start()
        cert, key = fake.issue_client_cert("system:node:testnode", ["system:nodes"])
        kc = fake.write_kubeconfig(os.path.join(n.tmp, "kubelet.conf"), cert, key)
        # The kubelet part only (kube-proxy is another client of its own): no Services here.
        n.start(extra=["--kubeconfig", kc, "--v", "2", "--disable-proxy"])
        n.wait(lambda: "Pod source \"api\" synced" in n.log(), 30, "the API pod source to sync")
        fake.wait_for("nodes", "testnode", None, lambda o: o and condition(o, "Ready") == "True", 30)
        # Warm-up: the first pod pays for the image's first use.
        fake.create(pod("warm", "testnode"))
        fake.wait_for("pods", "warm", "default", lambda o: condition(o, "Ready") == "True", 60)
        fake.delete("pods", "warm", "default", grace=0)
        fake.wait_for("pods", "warm", "default", lambda o: o is None, 60)

        # ---- end-to-end start, one at a time ----
        lat = []
        for i in range(a.single):
            name = "single-%d" % i
            t0 = time.monotonic()
            fake.create(pod(name, "testnode"))
            fake.wait_for("pods", name, "default", lambda o: condition(o, "Ready") == "True", 60)
            lat.append((time.monotonic() - t0) * 1000)
            fake.delete("pods", name, "default", grace=0)
            fake.wait_for("pods", name, "default", lambda o: o is None, 60)
            # One at a time on a quiet node: the previous pod torn down (containers, network, sandbox) first.
            n.wait(lambda: not [p for p in n.pod_list()["items"] if p["metadata"]["name"] == name], 60,
                   "%s gone from the node" % name)
            time.sleep(0.2)
        res["start_ms"] = {"p50": percentile(lat, 50), "p99": percentile(lat, 99), "max": max(lat),
                           "n": len(lat), "all": [round(x, 1) for x in lat]}
        print("API pod start (created → Ready written), %d pods one at a time: p50 %.0f ms, p99 %.0f ms, max %.0f "
              "ms; slowest %s" % (len(lat), res["start_ms"]["p50"], res["start_ms"]["p99"], max(lat),
                                   " ".join("%.0f" % x for x in sorted(lat)[-4:])), flush=True)

        # ---- steady state with --pods running ----
        t0 = time.monotonic()
        for i in range(a.pods):
            fake.create(pod("p-%d" % i, "testnode"))
        for i in range(a.pods):
            fake.wait_for("pods", "p-%d" % i, "default", lambda o: condition(o, "Ready") == "True", 300)
        print("%d pods Ready in the API %.1f s after their creation" % (a.pods, time.monotonic() - t0), flush=True)
        # Settle: the last statuses, and the Events of all those starts (sent one at a time, like the kubelet's
        # broadcaster): wait for 10 s without a write.
        t_settle = time.monotonic()
        while time.monotonic() - t_settle < 600:
            mark = len(fake.requests())
            time.sleep(10)
            if not [r for r in fake.requests(since=mark) if r.get("method") in ("POST", "PATCH") and
                    r.get("resource") in ("events", "pods")]:
                break
        print("  (settled %.0f s after the last pod was Ready)" % (time.monotonic() - t_settle), flush=True)
        since = len(fake.requests())
        time.sleep(a.window)
        reqs = fake.requests(since=since)
        per_min = 60.0 / a.window
        kinds = {}
        for r in reqs:
            k = "%s %s%s" % (r.get("method"), r.get("resource") or r.get("path"),
                             "/" + r["subresource"] if r.get("subresource") else "")
            if r.get("watch"):
                k += " (watch)"
            kinds[k] = kinds.get(k, 0) + 1
        res["requests_per_min"] = len(reqs) * per_min
        res["requests_by_kind_per_min"] = {k: v * per_min for k, v in sorted(kinds.items())}
        print("steady state with %d pods: %.1f API requests/min over %.0f s: %s" %
              (a.pods, len(reqs) * per_min, a.window,
               ", ".join("%s %.1f" % (k, v) for k, v in res["requests_by_kind_per_min"].items())), flush=True)

        # ---- memory with the cluster's other pods ----
        pid = n.proc.pid
        before = smaps(pid)
        t0 = time.monotonic()
        for i in range(a.others):
            fake.create(pod("other-%d" % i, "node-%d" % (i % 100)))
        time.sleep(10)
        after = smaps(pid)
        res["memory_kib"] = {"before": before, "after": after, "others": a.others}
        print("daemon memory with %d pods of its own: Pss %d KiB / Rss %d KiB; after %d pods of other nodes were "
              "created (%.1f s): Pss %d KiB / Rss %d KiB" %
              (a.pods, before["pss_kib"], before["rss_kib"], a.others, time.monotonic() - t0, after["pss_kib"],
               after["rss_kib"]), flush=True)
        lists = [r for r in fake.requests(resource="pods", method="GET") if not r.get("name")]
        res["pod_lists_use_field_selector"] = all("spec.nodeName" in (r.get("query") or "") for r in lists)
        print("every pods list/watch of the node carries fieldSelector=spec.nodeName: %s" %
              res["pod_lists_use_field_selector"], flush=True)
        if a.json:
            with open(a.json, "w") as f:
                json.dump(res, f, indent=1)
    finally:
        try:
            n.close()
        finally:
            if fake:
                fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
