#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Start-up with N Services x EPS endpoints already in the API server (issue 14, Benchmarks): how long the daemon
takes until its ruleset is committed, and its peak RSS, side by side in the same run with `nft -f` of the
equivalent shared-map ruleset (bench/netproxy/gen.py nft-shared) and the kernel floor (`unshare -pnimuf /bin/true`).
Targets: <= 1/2 of the nft -f time, daemon peak RSS <= 50 MiB. As root; use a Release build.

usage: bench-services.py BUILD_DIR [--services N (10000)] [--endpoints EPS (10)] [--runs R (3)]

- The fake kube-apiserver (tests/apiserver/fake_apiserver.py) runs in this process, in the daemon's network
  namespace, pre-loaded with the Services (namespace "bench", ClusterIPs 10.96.0.0/16 + i + 1, port 80) and one
  EndpointSlice each (EPS ready endpoints on other nodes), the objects gen.py writes for the netproxy benchmark.
- The daemon runs as tests/agent/daemon_harness.py runs it, with the kube-proxy identity (--proxy-kubeconfig), and
  lists both collections in pages of 500. The Services and EndpointSlices come from a PageServer in this process
  (pages pre-rendered, served from memory as a real API server serves them from its watch cache: the Python fake
  takes ~10 s for the 40 pages on a loaded machine, which is not nodelet's time); --fake-run adds one run served by
  the fake. Reported: from the daemon's start (spawn) and from its first list request to the log line
  "Services: ruleset committed" (polled every 10 ms: that is the resolution), and VmHWM of the daemon process
  (which also runs the pod manager, the node controller and the HTTP servers), and the daemon's CPU time (utime +
  stime) at that point: what the start-up cost nodelet itself, whatever the fake's speed.
- nft -f: the shared-map ruleset in a fresh network namespace, wall time and peak RSS (/usr/bin/time)."""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

SOURCE = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(SOURCE, "tests", "agent"))
sys.path.insert(0, os.path.join(SOURCE, "tests", "apiserver"))
from daemon_harness import Node  # noqa: E402

GEN = os.path.join(SOURCE, "bench", "netproxy", "gen.py")
CLUSTER_CIDR = "10.64.0.0/10"  # gen.py's


def floor():
    t = []
    for _ in range(11):
        s = time.monotonic()
        subprocess.run(["unshare", "-pnimuf", "/bin/true"], check=True)
        t.append(time.monotonic() - s)
    return statistics.median(t)


def nft_f(path, runs):
    walls, rss = [], []
    for i in range(runs):
        ns = "nbsvc%d-%d" % (os.getpid(), i)
        subprocess.run(["ip", "netns", "add", ns], check=True)
        try:
            with tempfile.NamedTemporaryFile(mode="r") as out:
                subprocess.run(["/usr/bin/time", "-f", "%e %M", "-o", out.name, "ip", "netns", "exec", ns, "nft",
                                "-f", path], check=True)
                w, r = out.read().split()
                walls.append(float(w))
                rss.append(int(r))
        finally:
            subprocess.run(["ip", "netns", "del", ns])
    return statistics.median(walls), statistics.median(rss) // 1024


def enter_netns(name):
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open("/run/netns/" + name, os.O_RDONLY)
    try:
        if libc.setns(fd, 0x40000000) != 0:
            raise OSError(ctypes.get_errno(), "setns")
    finally:
        os.close(fd)


class PageServer:
    """What a real kube-apiserver does for these lists much faster than the Python fake: pages served from memory
    (its watch cache), here pre-rendered once, and watches that stay open without events. Only the two collections
    the proxy lists; the daemon's proxy identity (--proxy-kubeconfig) points here, everything else goes to the fake.
    Items carry no kind/apiVersion, like a real list's."""

    def __init__(self, objects, cert, key, page=500):
        import http.server
        import socketserver
        import ssl
        import threading

        def render(items, kind, api_version):
            pages = []
            for i in range(0, max(len(items), 1), page):
                chunk = []
                for j, o in enumerate(items[i:i + page]):
                    o = dict(o)
                    o.pop("kind", None)
                    o.pop("apiVersion", None)
                    md = dict(o.get("metadata") or {})
                    md.setdefault("uid", "uid-%s-%d" % (kind, i + j))
                    md.setdefault("resourceVersion", "1000")
                    o["metadata"] = md
                    chunk.append(o)
                meta = {"resourceVersion": "1000"}
                if i + page < len(items):
                    meta["continue"] = str(i + page)
                pages.append(json.dumps({"kind": kind, "apiVersion": api_version, "metadata": meta,
                                         "items": chunk}).encode())
            return pages

        self.pages = {
            "/api/v1/services": render([o for o in objects if o.get("kind") == "Service"], "ServiceList", "v1"),
            "/apis/discovery.k8s.io/v1/endpointslices": render(
                [o for o in objects if o.get("kind") == "EndpointSlice"], "EndpointSliceList", "discovery.k8s.io/v1"),
        }
        self.page = page
        self.lists = []  # (time, path) of every page served
        srv = self
        self.stopping = threading.Event()

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                import urllib.parse
                u = urllib.parse.urlparse(self.path)
                q = dict(urllib.parse.parse_qsl(u.query))
                pages = srv.pages.get(u.path)
                if pages is None:
                    body = b'{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}'
                    self.send_response(404)
                elif q.get("watch") in ("true", "1"):
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    self.wfile.flush()
                    srv.stopping.wait(float(q.get("timeoutSeconds", "300")))
                    self.close_connection = True
                    return
                else:
                    srv.lists.append((time.time(), u.path))
                    body = pages[int(q.get("continue") or 0) // srv.page]
                    self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)

        class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True

        self.server = S(("127.0.0.1", 0), H)
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()


def status_mib(pid, field):
    """A memory line of /proc/PID/status ("VmHWM", "RssAnon"), in MiB."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return None


def vmhwm(pid):
    v = status_mib(pid, "VmHWM")
    return None if v is None else int(v)


def daemon_run(build, fake_factory, n_svc, eps, objects=None):
    """objects: serve the Services and EndpointSlices from a PageServer (pre-rendered pages) instead of the fake."""
    n = Node(build, SOURCE)
    fake = pager = None
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    try:
        enter_netns(n.ns)
        fake = fake_factory(n)
        cert, key = fake.issue_client_cert("system:node:testnode", ["system:nodes"])
        kc = fake.write_kubeconfig(os.path.join(n.tmp, "kubelet.conf"), cert, key)
        pcert, pkey = fake.issue_client_cert("system:kube-proxy", [], name="kube-proxy")
        pkc = fake.write_kubeconfig(os.path.join(n.tmp, "proxy.conf"), pcert, pkey)
        if objects is not None:
            pager = PageServer(objects, fake.server_cert, fake.server_key)
            with open(pkc) as f:
                text = f.read()
            with open(pkc, "w") as f:
                f.write(text.replace(fake.url, "https://127.0.0.1:%d" % pager.port))
        since = len(fake.requests())
        t0 = time.time()
        n.start(extra=["--kubeconfig", kc, "--proxy-kubeconfig", pkc, "--cluster-cidr", CLUSTER_CIDR,
                       "--service-cluster-ip-range", "10.96.0.0/16", "--v", "0"])
        line = n.wait(lambda: [x for x in n.log().splitlines() if "Services: ruleset committed" in x], 600,
                      "the ruleset to be committed")[0]
        t1 = time.time()
        if pager is not None:
            lists = [{"time": t} for t, _ in pager.lists]
        else:
            lists = [x for x in fake.requests(since=since) if x.get("verb") == "list" and
                     x.get("resource") in ("services", "endpointslices")]
        first_list = min(x["time"] for x in lists)
        rss = vmhwm(n.proc.pid)
        anon = status_mib(n.proc.pid, "RssAnon")  # what stays after the sync (the batch is gone by then)
        with open("/proc/%d/stat" % n.proc.pid) as f:
            st = f.read().rsplit(")", 1)[1].split()
        cpu = (int(st[11]) + int(st[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
        pages = len(lists)
        n.stop()
        return {"from_start": t1 - t0, "from_first_list": t1 - first_list, "rss_mib": rss, "pages": pages, "cpu": cpu,
                "anon_mib": anon, "line": line.strip()}
    finally:
        try:
            n.close()
        finally:
            if pager:
                pager.stop()
            if fake:
                fake.stop(remove_tls_dir=False)
            # back to our own namespace for the next run's nft -f and Node
            import ctypes
            ctypes.CDLL(None, use_errno=True).setns(home, 0x40000000)
            os.close(home)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--services", type=int, default=10000)
    ap.add_argument("--endpoints", type=int, default=10)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--fake-run", action="store_true", help="also one run with the pages served by the Python fake")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root")
    from fake_apiserver import FakeAPIServer

    tmp = tempfile.mkdtemp(prefix="bench-services.")
    shared = os.path.join(tmp, "shared.nft")
    with open(shared, "w") as f:
        subprocess.run(["/usr/bin/python3", GEN, "nft-shared", str(a.services), str(a.endpoints)], stdout=f,
                       check=True)
    # The same objects as the netproxy benchmark's (one List; kept in this process, not in the daemon).
    subprocess.run(["/usr/bin/python3", GEN, "list", os.path.join(tmp, "objects.json"), str(a.services),
                    str(a.endpoints)], check=True)
    with open(os.path.join(tmp, "objects.json")) as f:
        objects = json.load(f)["items"]

    def make_fake(n, load=True):
        s = time.monotonic()
        fake = FakeAPIServer(tls_dir=os.path.join(n.tmp, "apiserver"))
        fake.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bench"}})
        for o in objects if load else ():
            fake.create(o)
        fake.start()
        print("  (fake apiserver loaded with %d objects in %.1f s)" % (len(objects), time.monotonic() - s),
              flush=True)
        return fake

    print("machine: %d cores, %s, load average %s" % (os.cpu_count(), os.uname().release,
                                                       " ".join(open("/proc/loadavg").read().split()[:3])))
    print("kernel floor: unshare -pnimuf /bin/true %.1f ms (median of 11)" % (floor() * 1000))
    runs = []
    nw, nr = nft_f(shared, 1)  # warm-up of nft and the kernel's nftables code
    for r in range(a.runs):
        # Pages served from memory (as a real API server's watch cache serves them): the headline number.
        runs.append(daemon_run(a.build, lambda n: make_fake(n, load=False), a.services, a.endpoints, objects))
        print("  run %d (pages from memory): %.3f s from start, %.3f s from the first list, %d list pages, daemon "
              "CPU %.2f s, peak RSS %d MiB, anonymous RSS after the sync %.1f MiB" % (
                  r + 1, runs[-1]["from_start"], runs[-1]["from_first_list"], runs[-1]["pages"], runs[-1]["cpu"],
                  runs[-1]["rss_mib"], runs[-1]["anon_mib"]), flush=True)
    print("  daemon: %s" % runs[-1]["line"])
    if a.fake_run:
        f = daemon_run(a.build, make_fake, a.services, a.endpoints)
        print("  for reference, pages from the Python fake apiserver: %.3f s from start, %.3f s from the first list, "
              "daemon CPU %.2f s, peak RSS %d MiB" % (f["from_start"], f["from_first_list"], f["cpu"], f["rss_mib"]),
              flush=True)
    nw, nr = nft_f(shared, a.runs)
    fs = statistics.median(x["from_start"] for x in runs)
    fl = statistics.median(x["from_first_list"] for x in runs)
    rss = max(x["rss_mib"] for x in runs)
    print()
    print("| %d Services x %d endpoints | nodelet: start -> committed | first list -> committed | daemon peak RSS |"
          " nft -f shared-map (wall / peak RSS) | ratio (first list / start) |" % (a.services, a.endpoints))
    print("|---|---|---|---|---|---|")
    print("| median of %d | %.3f s | %.3f s | %d MiB (max) | %.3f s / %d MiB | %.2f / %.2f |" % (
        a.runs, fs, fl, rss, nw, nr, fl / nw, fs / nw))
    subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()
