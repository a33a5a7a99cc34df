#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The daemon against the issue's targets: pod start latency (one at a time, bursts of 30 and 110), memory of the
daemon and its shims with 30 and 110 running pods, CPU with 30 idle pods and with 30 HTTP or exec readiness probes
per second. As root; the daemon runs as tests/agent/daemon_harness.py runs it (its own network namespace, state and
cgroups below ours, the busybox fixture preloaded), and everything is removed at the end, also after a failure.

usage: bench-daemon.py BUILD_DIR [--quick] [--only PARTS] [--window S] [--cni default|bridge-only] [--json FILE]
  PARTS: comma-separated of floor,single,burst,memory,cpu (memory is measured after each burst, so it needs burst)

What is measured (docs/BENCHMARKS.md, "Daemon (agent)", has the results and the reading):
- start latency, watcher side: from just before the manifest's rename() into the manifest directory to the first
  GET /pods (read-only port, kept-alive connection from this process, which joins the test's network namespace)
  showing the pod Running with every container running and started. /pods is polled every --poll-single ms for
  single pods and every --poll-burst ms in bursts: that is the resolution, plus one /pods request.
- start latency, daemon side: kubelet_pod_start_sli_duration_seconds from /metrics (sum and count before and after
  each single pod; the mean over a burst). The daemon measures from the moment it accepted the pod (after inotify
  and parsing) to the sync that saw all containers running, before /pods could show it.
- memory: Pss of /proc/PID/smaps_rollup of the daemon and of every nodelet-shim (the daemon's children named so),
  with Rss, Private (Clean + Dirty) and Private_Dirty: the daemon's Pss and Private depend on how many other
  processes map the same libraries at that moment; Private_Dirty (heap, stacks) does not. The containers' own
  processes (sleep) are the workload and are not counted.
- CPU over --window seconds, as % of one core: "all" is cpuacct.usage of a cgroup this script moves itself into
  before starting the daemon (so: the daemon's threads, its shims, CNI plugins, the containers, the exec probes'
  helpers and commands, and this script, which sleeps during the window), whatever else the machine runs. Its
  parts: the daemon's utime+stime (all threads), its reaped children's (cutime+cstime: exec helpers and the exec
  probes' commands, which are its children), every shim's utime+stime, the pods' cgroups (cpuacct.usage of the
  daemon's cgroup base: the containers and, again, the exec probes' commands). Also the whole machine (/proc/stat,
  all but idle and iowait), raw and minus the same measure with the daemon running no pods: meaningful only when
  nothing else runs.
- the kernel floor: `unshare -pnimuf /bin/true`, wall time of spawn+wait from this process, median of 20."""

import argparse
import ctypes
import http.client
import json
import os
import statistics
import subprocess
import sys
import time

SOURCE = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(SOURCE, "tests", "agent"))
from daemon_harness import Failure, Node  # noqa: E402

BUSYBOX = "docker.io/library/busybox:latest"
CLONE_NEWNET = 0x40000000
TICK = os.sysconf("SC_CLK_TCK")

# PID 1 of a pid namespace ignores SIGTERM without a handler: trap it, so removal does not wait for the grace period.
SLEEPER = "trap 'exit 0' TERM; sleep 1000000 & wait"
HTTPD = "mkdir -p /tmp/www && echo ok > /tmp/www/index.html && httpd -f -p 8080 -h /tmp/www & trap 'exit 0' TERM; wait"
READY_FILE = "touch /tmp/ready; " + SLEEPER


def pod_yaml(name, script, probe=""):
    return ("apiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\nspec:\n  terminationGracePeriodSeconds: 5\n"
            "  containers:\n  - name: c\n    image: %s\n    imagePullPolicy: IfNotPresent\n"
            "    command: [\"sh\", \"-c\", %s]\n%s" % (name, BUSYBOX, json.dumps(script), probe))


HTTP_PROBE = "    readinessProbe:\n      httpGet:\n        path: /\n        port: 8080\n      periodSeconds: 1\n"
EXEC_PROBE = "    readinessProbe:\n      exec:\n        command: [\"cat\", \"/tmp/ready\"]\n      periodSeconds: 1\n"


def percentile(values, p):
    """Nearest rank: with 30 values p99 is the maximum, said so in the output."""
    v = sorted(values)
    return v[min(len(v) - 1, max(0, int(-(-p * len(v) // 100)) - 1))]


def setns(fd):
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "setns")


class CpuacctCgroup:
    """A cpuacct cgroup below ours that this process (and so the daemon and everything it starts) moves into: its
    cpuacct.usage is the CPU of the daemon, its shims, CNI plugins, containers and exec'd probes, whatever else the
    machine runs. The daemon's own cgroup base (--cgroup-root) ends up below it."""

    def __init__(self):
        self.dir = self.parent = None
        mnt = path = None
        with open("/proc/self/cgroup") as f:
            for line in f:
                _, ctrls, p = line.rstrip("\n").split(":", 2)
                if "cpuacct" in ctrls.split(","):
                    path = p
        with open("/proc/self/mountinfo") as f:
            for line in f:
                pre, _, post = line.partition(" - ")
                fstype, _, opts = post.split()[:3]
                if fstype == "cgroup" and "cpuacct" in opts.split(","):
                    mnt = pre.split()[4]
        if mnt is None or path is None:
            raise Failure("no cgroup v1 cpuacct hierarchy")
        self.parent = mnt + path.rstrip("/")
        self.dir = "%s/nodelet-bench-%d" % (self.parent, os.getpid())
        os.mkdir(self.dir)
        with open(self.dir + "/cgroup.procs", "w") as f:
            f.write(str(os.getpid()))

    def usage(self):
        with open(self.dir + "/cpuacct.usage") as f:
            return int(f.read()) / 1e9

    def close(self):
        with open(self.parent + "/cgroup.procs", "w") as f:
            f.write(str(os.getpid()))
        try:
            os.rmdir(self.dir)
        except OSError as e:
            print("bench-daemon: cannot remove %s: %s" % (self.dir, e), file=sys.stderr)


class Bench:
    def __init__(self, args):
        self.args = args
        self.node = None
        self.conn = None
        self.host_ns = os.open("/proc/self/ns/net", os.O_RDONLY)
        self.results = {}

    # ---- the daemon's endpoints, from inside its network namespace ----

    def get(self, path):
        for attempt in range(2):
            try:
                if not self.conn:
                    self.conn = http.client.HTTPConnection("127.0.0.1", 10255, timeout=30)
                self.conn.request("GET", path)
                r = self.conn.getresponse()
                body = r.read()
                if r.status != 200:
                    raise Failure("GET %s: %d" % (path, r.status))
                return body
            except (OSError, http.client.HTTPException):
                if self.conn:
                    self.conn.close()
                self.conn = None
                if attempt:
                    raise
        return None

    def pods(self):
        return json.loads(self.get("/pods"))["items"]

    def metrics(self):
        out = {}
        for line in self.get("/metrics").decode().splitlines():
            if line and not line.startswith("#"):
                k, _, v = line.rpartition(" ")
                out[k] = float(v)
        return out

    def sli(self):
        m = self.metrics()
        return m["kubelet_pod_start_sli_duration_seconds_sum"], m["kubelet_pod_start_sli_duration_seconds_count"]

    @staticmethod
    def started(p):
        st = p.get("status", {})
        cs = st.get("containerStatuses", [])
        return (st.get("phase") == "Running" and cs and
                all("running" in c.get("state", {}) and c.get("started") for c in cs))

    @staticmethod
    def ready(p):
        return any(c["type"] == "Ready" and c["status"] == "True" for c in p.get("status", {}).get("conditions", []))

    def check_daemon(self):
        if self.node.proc.poll() is not None:
            raise Failure("daemon exited (%s)" % self.node.proc.returncode)

    def wait_pods(self, names, t0, poll, pred, timeout):
        """Polls /pods until pred holds for every name; returns {name: seconds after t0 when first seen}."""
        seen = {}
        want = {n + "-testnode": n for n in names}
        deadline = time.monotonic() + timeout
        while len(seen) < len(want):
            now = time.monotonic()
            if now > deadline:
                raise Failure("timed out: %d of %d pods" % (len(seen), len(want)))
            for p in self.pods():
                n = want.get(p["metadata"]["name"])
                if n and n not in seen and pred(p):
                    seen[n] = now - t0
            if len(seen) < len(want):
                self.check_daemon()
                time.sleep(poll)
        return seen

    def wait_gone(self, timeout=120):
        deadline = time.monotonic() + timeout
        while self.pods() or self.shims():
            if time.monotonic() > deadline:
                raise Failure("pods not removed after %ds" % timeout)
            self.check_daemon()
            time.sleep(0.1)

    def remove_all(self):
        for f in os.listdir(self.node.pods_dir):
            os.unlink(os.path.join(self.node.pods_dir, f))
        self.wait_gone()

    def add_many(self, prefix, count, script, probe=""):
        texts = [("%s%03d" % (prefix, i), pod_yaml("%s%03d" % (prefix, i), script, probe)) for i in range(count)]
        t0 = time.monotonic()
        for name, text in texts:
            self.node.add(name + ".yaml", text)
        return [n for n, _ in texts], t0

    # ---- processes ----

    def shims(self):
        """The daemon's children named nodelet-shim (one per running container)."""
        daemon = self.node.proc.pid
        out = []
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % d) as f:
                    s = f.read()
            except OSError:
                continue
            comm = s[s.index("(") + 1:s.rindex(")")]
            ppid = int(s[s.rindex(")") + 2:].split()[1])
            if ppid == daemon and comm == "nodelet-shim":
                out.append(int(d))
        return out

    @staticmethod
    def smaps(pid):
        """smaps_rollup in KiB: Pss, Rss, Private (Private_Clean + Private_Dirty: what only this process maps at the
        moment, library pages included when nobody else maps them) and Private_Dirty (heap, stacks, written data)."""
        v = {}
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                k, _, rest = line.partition(":")
                if rest.strip().endswith("kB"):
                    v[k] = int(rest.split()[0])
        return {"pss": v["Pss"], "rss": v["Rss"], "private": v["Private_Clean"] + v["Private_Dirty"],
                "dirty": v["Private_Dirty"]}

    @staticmethod
    def proc_times(pid):
        """(utime+stime, cutime+cstime) in seconds."""
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
        fields = s[s.rindex(")") + 2:].split()
        return (int(fields[11]) + int(fields[12])) / TICK, (int(fields[13]) + int(fields[14])) / TICK

    @staticmethod
    def machine_busy():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        # user nice system idle iowait irq softirq steal ...: everything but idle and iowait
        return (sum(v[:8]) - v[3] - v[4]) / TICK

    def cgroup_usage(self):
        """cpuacct.usage (s) of the daemon's cgroup base: every container and every exec'd probe command."""
        try:
            with open(os.path.join(self.cgroup.dir, self.node.cgroup, "cpuacct.usage")) as f:
                return int(f.read()) / 1e9
        except FileNotFoundError:
            return 0.0

    def cpu_sample(self):
        shims = {pid: self.proc_times(pid)[0] for pid in self.shims()}
        own, children = self.proc_times(self.node.proc.pid)
        return {"t": time.monotonic(), "machine": self.machine_busy(), "daemon": own, "children": children,
                "shims": shims, "cgroup": self.cgroup_usage(), "all": self.cgroup.usage(), "load": os.getloadavg()[0]}

    def cpu_window(self, seconds):
        a = self.cpu_sample()
        time.sleep(seconds)
        b = self.cpu_sample()
        wall = b["t"] - a["t"]
        common = set(a["shims"]) & set(b["shims"])
        pct = lambda x: 100.0 * x / wall  # noqa: E731
        return {"wall": wall, "machine": pct(b["machine"] - a["machine"]), "daemon": pct(b["daemon"] - a["daemon"]),
                "children": pct(b["children"] - a["children"]),
                "shims": pct(sum(b["shims"][p] - a["shims"][p] for p in common)), "nshims": len(common),
                "cgroup": pct(b["cgroup"] - a["cgroup"]), "all": pct(b["all"] - a["all"]),
                "load": (a["load"] + b["load"]) / 2}

    # ---- the parts ----

    def floor(self):
        times = []
        for _ in range(20):
            t = time.monotonic()
            subprocess.run(["unshare", "-pnimuf", "/bin/true"], check=True)
            times.append((time.monotonic() - t) * 1000)
        self.results["floor_ms"] = statistics.median(times)
        print("kernel floor `unshare -pnimuf /bin/true`: median %.2f ms of 20 (min %.2f, max %.2f)" %
              (statistics.median(times), min(times), max(times)), flush=True)

    def single(self):
        n = self.args.single
        poll = self.args.poll_single / 1000
        watcher, daemon = [], []
        for i in range(n + 1):  # the first is a warm-up, not counted
            name = "single%03d" % i
            s0, c0 = self.sli()
            t0 = time.monotonic()
            self.node.add(name + ".yaml", pod_yaml(name, SLEEPER))
            seen = self.wait_pods([name], t0, poll, self.started, 60)
            s1, c1 = self.sli()
            if c1 != c0 + 1:
                raise Failure("SLI count went from %d to %d" % (c0, c1))
            if i:
                watcher.append(seen[name] * 1000)
                daemon.append((s1 - s0) * 1000)
            self.node.remove(name + ".yaml")
            self.wait_gone()
            time.sleep(self.args.settle)
        res = {}
        for what, v in (("watcher", watcher), ("daemon", daemon)):
            res[what] = {"p50": statistics.median(v), "p99": percentile(v, 99), "max": max(v), "min": min(v),
                         "mean": statistics.mean(v), "all": v}
        self.results["single"] = res
        print("\nsingle pod, %d sequential pods (after one warm-up), manifest rename -> all containers started; "
              "/pods polled every %.0f ms; p99 is the nearest rank (with 30 pods: the maximum)\n" % (n,
                                                                                                   poll * 1000))
        print("| measure | p50 ms | p99 ms | max ms | min ms | mean ms |\n|---|---|---|---|---|---|")
        for what, label in (("watcher", "watcher: rename -> /pods shows started"),
                            ("daemon", "daemon SLI (kubelet_pod_start_sli_duration_seconds)")):
            r = res[what]
            print("| %s | %.1f | %.1f | %.1f | %.1f | %.1f |" % (label, r["p50"], r["p99"], r["max"], r["min"],
                                                                  r["mean"]))
        sys.stdout.flush()

    def burst(self, count, measure_memory):
        s0, c0 = self.sli()
        names, t0 = self.add_many("b%d-" % count, count, SLEEPER)
        seen = self.wait_pods(names, t0, self.args.poll_burst / 1000, self.started, 300)
        s1, c1 = self.sli()
        v = sorted(seen.values())
        res = {"first": v[0], "p50": statistics.median(v), "last": v[-1],
               "sli_mean": (s1 - s0) / (c1 - c0) if c1 > c0 else float("nan"), "sli_count": c1 - c0}
        self.results["burst%d" % count] = res
        print("\nburst of %d: first %.2f s, median %.2f s, all Running %.2f s after the first rename "
              "(daemon SLI mean %.2f s over %d pods; /pods polled every %d ms)" %
              (count, res["first"], res["p50"], res["last"], res["sli_mean"], res["sli_count"],
               self.args.poll_burst), flush=True)
        if measure_memory:
            time.sleep(self.args.settle_memory)
            self.memory(count)
        return names

    def memory(self, count):
        shims = self.shims()
        if len(shims) != count:
            raise Failure("%d shims for %d pods" % (len(shims), count))
        d = self.smaps(self.node.proc.pid)
        sh = [self.smaps(p) for p in shims]
        res = {"daemon": d["pss"], "daemon_rss": d["rss"], "daemon_private": d["private"], "daemon_dirty": d["dirty"],
               "shims": sum(x["pss"] for x in sh), "shims_private": sum(x["private"] for x in sh)}
        res["per_shim"] = res["shims"] / count
        res["total"] = res["daemon"] + res["shims"]
        self.results["memory%d" % count] = res
        mib = lambda k: res[k] / 1024  # noqa: E731
        print("memory with %d running pods: daemon PSS %.1f MiB (RSS %.1f, private %.1f, private dirty %.1f), %d shims "
              "PSS %.1f MiB (%.0f KiB each; private %.1f MiB), total PSS %.1f MiB" %
              (count, mib("daemon"), mib("daemon_rss"), mib("daemon_private"), mib("daemon_dirty"), count,
               mib("shims"), res["per_shim"], mib("shims_private"), mib("total")), flush=True)

    def cpu(self, label, prefix, count, script, probe):
        if count:
            names, t0 = self.add_many(prefix, count, script, probe)
            self.wait_pods(names, t0, 0.2, self.ready if probe else self.started, 300)
            time.sleep(self.args.settle)
        r = self.cpu_window(self.args.window)
        r["pods"] = count
        self.results["cpu_" + label] = r
        if count:
            self.remove_all()
        return r

    def print_cpu(self):
        base = self.results.get("cpu_baseline")
        print("\nCPU, %% of one core over %d s windows (machine: /proc/stat busy minus the no-pod baseline)\n" %
              self.args.window)
        print("| pods | all (bench cgroup) | daemon | daemon's reaped children | shims | pods' cgroups | machine | "
              "machine - baseline | 1-min load avg |\n|---|---|---|---|---|---|---|---|---|")
        for label, text in (("baseline", "daemon, no pods (baseline)"), ("idle", "30 idle pods"),
                            ("http", "30 pods, HTTP readiness probe every 1 s"),
                            ("exec", "30 pods, exec readiness probe `cat /tmp/ready` every 1 s")):
            r = self.results.get("cpu_" + label)
            if not r:
                continue
            print("| %s | %.2f | %.2f | %.2f | %.2f (%d) | %.2f | %.2f | %s | %.2f |" %
                  (text, r["all"], r["daemon"], r["children"], r["shims"], r["nshims"], r["cgroup"], r["machine"],
                   "%.2f" % (r["machine"] - base["machine"]) if base else "-", r["load"]))
        sys.stdout.flush()

    def bridge_only(self):
        """The daemon's default conflist without the chained portmap and bandwidth plugins (the Debian reference
        plugins, chained when installed): an operator's conflist, which the daemon never overwrites."""
        self.node.stop()
        path = os.path.join(self.node.cni_conf, "10-nodelet.conflist")
        with open(path) as f:
            conf = json.load(f)
        conf["plugins"] = [p for p in conf["plugins"] if p["type"] not in ("portmap", "bandwidth")]
        with open(path + ".tmp", "w") as f:
            json.dump(conf, f, indent=2)
        os.rename(path + ".tmp", path)

    def run(self):
        a = self.args
        parts = set(a.only.split(",")) if a.only else {"floor", "single", "burst", "memory", "cpu"}
        print("bench-daemon: %s, load average %.2f %.2f %.2f" % (time.strftime("%Y-%m-%d %H:%M:%S UTC",
                                                                                time.gmtime()), *os.getloadavg()))
        if "floor" in parts:
            self.floor()
        self.cgroup = CpuacctCgroup()
        try:
            self.node = Node(a.build_dir, SOURCE, pod_cidr="10.251.0.0/24")
        except BaseException:
            self.cgroup.close()
            raise
        ns = os.open("/run/netns/" + self.node.ns, os.O_RDONLY)
        try:
            setns(ns)
            # The harness's --v 4 first; a later --v wins.
            extra = ["--max-pods", "120", "--v", str(a.v)]
            self.node.start(drain=True, extra=extra)
            if a.cni == "bridge-only":
                self.bridge_only()
                self.node.start(drain=True, extra=extra)
            with open(os.path.join(self.node.cni_conf, "10-nodelet.conflist")) as f:
                plugins = [p["type"] for p in json.load(f)["plugins"]]
            self.results["cni_chain"] = plugins
            print("CNI chain: %s" % " -> ".join(plugins), flush=True)
            if "single" in parts:
                self.single()
            if "burst" in parts:
                self.burst(30, "memory" in parts)
                self.remove_all()
                if not a.quick:
                    time.sleep(a.settle)
                    self.burst(110, "memory" in parts)
                    self.remove_all()
            if "cpu" in parts:
                time.sleep(a.settle)
                self.cpu("baseline", "", 0, "", "")
                self.cpu("idle", "idle", 30, SLEEPER, "")
                self.cpu("http", "http", 30, HTTPD, HTTP_PROBE)
                self.cpu("exec", "exec", 30, READY_FILE, EXEC_PROBE)
                self.print_cpu()
        finally:
            if self.conn:
                self.conn.close()
            setns(self.host_ns)
            os.close(ns)
            try:
                self.node.close()
            finally:
                self.cgroup.close()
        print("\nend: load average %.2f %.2f %.2f" % os.getloadavg())
        if a.json:
            with open(a.json, "w") as f:
                json.dump(self.results, f, indent=1)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("build_dir")
    p.add_argument("--quick", action="store_true", help="5 single pods, no burst of 110, 5 s CPU windows")
    p.add_argument("--only", help="comma-separated parts: floor,single,burst,memory,cpu")
    p.add_argument("--single", type=int, help="sequential pods (default 30, quick 5)")
    p.add_argument("--window", type=int, help="CPU window in seconds (default 30, quick 5)")
    p.add_argument("--poll-single", type=float, default=2, help="ms between /pods polls for single pods")
    p.add_argument("--poll-burst", type=float, default=20, help="ms between /pods polls in bursts")
    p.add_argument("--settle", type=float, default=1, help="seconds of quiet after a removal or a start")
    p.add_argument("--settle-memory", type=float, default=3, help="seconds after a burst before reading PSS")
    p.add_argument("--v", type=int, default=0, help="the daemon's --v (0: its default, no debug log)")
    p.add_argument("--cni", choices=("default", "bridge-only"), default="default",
                   help="the daemon's default CNI chain, or without portmap and bandwidth")
    p.add_argument("--json", help="also write the results as JSON")
    a = p.parse_args()
    if os.geteuid() != 0:
        print("bench-daemon: needs root", file=sys.stderr)
        return 77
    if a.single is None:
        a.single = 5 if a.quick else 30
    if a.window is None:
        a.window = 5 if a.quick else 30
    a.build_dir = os.path.abspath(a.build_dir)
    try:
        Bench(a).run()
    except Failure as e:
        print("bench-daemon: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
