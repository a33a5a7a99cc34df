#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Registry hosts, node credentials and shared blobs, against Debian's docker-registry on 127.0.0.1 (filled by skopeo)
and small proxies of our own in front of it that count requests:

- hosts.toml (containerd's hosts directory, --registry-config-dir): a mirror that fails (HTTP 500) hands the pull to
  the next host, with the mirror named in a warning; a working mirror serves the whole pull while the upstream is
  unreachable; a mirror without the "resolve" capability is not asked for tags; a plain http:// server named in the
  file is used for a registry name that has no HTTPS anywhere;
- node credentials (--node-authfile, the daemon's <root-dir>/config.json): used when --authfile has no entry for the
  registry, not when it has one (the pod's secrets first);
- two `nodeletctl images pull` processes pulling two different images that share their base layer at the same time
  (the proxy holds that layer back for a moment so they overlap) download that layer once.

    test-registry-mirrors.py NODELETCTL FIXTURE-SCRIPT

Needs root (layers keep their ownership); exits 77 without root, docker-registry or skopeo. Everything lives in one
temporary directory; the registry is killed by PID and the directory removed, also on failure."""

import base64
import http.client
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

CTL, FIXTURE = sys.argv[1], sys.argv[2]


def skip(why):
    print(f"SKIP: {why}")
    sys.exit(77)


if os.geteuid() != 0:
    skip("needs root")
for tool in ("docker-registry", "skopeo", "busybox"):
    if not shutil.which(tool):
        skip(f"{tool} missing (scripts/install-deps.sh installs it)")

tmp = tempfile.mkdtemp(prefix="nodelet-registry-mirrors.")
procs = []
failures = []


def fail(msg):
    failures.append(msg)
    print(f"FAIL: {msg}", file=sys.stderr)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(*args, check=True, timeout=120):
    p = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: exit {p.returncode}: {p.stderr.strip()}")
    return p


def ctl_cmd(root, *args):
    return [CTL, "images", "--root-dir", f"{tmp}/{root}", "pull", "--registry-config-dir", f"{tmp}/certs.d", *args]


def ctl(root, *args):
    return run(*ctl_cmd(root, *args), check=False)


def image_id(root, ref):
    p = run(CTL, "images", "--root-dir", f"{tmp}/{root}", "inspect", ref, check=False)
    return json.loads(p.stdout)["id"] if p.returncode == 0 else None


def hosts_toml(registry, text):
    os.makedirs(f"{tmp}/certs.d/{registry}", exist_ok=True)
    with open(f"{tmp}/certs.d/{registry}/hosts.toml", "w") as f:
        f.write(text)


def start_registry():
    port = free_port()
    with open(f"{tmp}/reg.yml", "w") as f:
        f.write(f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {tmp}/store\n"
                f"http:\n  addr: 127.0.0.1:{port}\n")
    log = open(f"{tmp}/reg.log", "w")
    procs.append(subprocess.Popen(["docker-registry", "serve", f"{tmp}/reg.yml"], stdout=log, stderr=log))
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return port
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("docker-registry does not listen")


class Proxy(http.server.ThreadingHTTPServer):
    """Forwards GETs to the registry and records them. mode "fail": HTTP 500 for everything; "basic": wants
    Basic user:pw; hold: a blob digest whose answer waits hold_sec (so that two pulls overlap)."""
    daemon_threads = True

    def __init__(self, upstream):
        super().__init__(("127.0.0.1", 0), Handler)
        self.upstream = upstream
        self.mode = "pass"
        self.hold = None
        self.hold_sec = 1.5
        self.requests = []
        self.lock = threading.Lock()

    @property
    def addr(self):
        return f"127.0.0.1:{self.server_address[1]}"


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, code, body, headers=()):
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        srv = self.server
        with srv.lock:
            srv.requests.append(self.path)
        if srv.mode == "fail":
            body = {"errors": [{"code": "UNAVAILABLE", "message": "mirror is down for maintenance"}]}
            return self.send(500, json.dumps(body).encode())
        if srv.mode == "basic" and self.headers.get("Authorization") != "Basic " + base64.b64encode(
                b"node:nodepw").decode():
            body = {"errors": [{"code": "UNAUTHORIZED", "message": "node credentials required"}]}
            return self.send(401, json.dumps(body).encode(), [("WWW-Authenticate", 'Basic realm="test"')])
        if srv.hold and self.path.endswith(f"/blobs/{srv.hold}"):
            time.sleep(srv.hold_sec)
        c = http.client.HTTPConnection("127.0.0.1", srv.upstream, timeout=30)
        c.request("GET", self.path, headers={k: v for k, v in self.headers.items() if k.lower() in ("accept", "range")})
        r = c.getresponse()
        body = r.read()
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() in ("content-type", "docker-content-digest", "content-range", "content-length"):
                self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)


def start_proxy(upstream):
    p = Proxy(upstream)
    threading.Thread(target=p.serve_forever, daemon=True).start()
    return p


def layers_of(archive):
    """[layer digests] of an oci-archive tar."""
    import tarfile
    with tarfile.open(archive) as t:
        idx = json.load(t.extractfile("index.json"))
        m = json.load(t.extractfile("blobs/sha256/" + idx["manifests"][0]["digest"].split(":")[1]))
    return [l["digest"] for l in m["layers"]], m["config"]["digest"]


def main():
    run("/usr/bin/python3", FIXTURE, f"{tmp}/base.tar")
    run("/usr/bin/python3", FIXTURE, f"{tmp}/two.tar", "--whiteout")
    base_layers, base_config = layers_of(f"{tmp}/base.tar")
    two_layers, two_config = layers_of(f"{tmp}/two.tar")
    shared = base_layers[0]
    if two_layers[0] != shared or base_config == two_config:
        raise RuntimeError("fixture images do not share their base layer")
    port = start_registry()
    reg = f"127.0.0.1:{port}"
    for name, archive in (("base", "base.tar"), ("two", "two.tar")):
        run("skopeo", "copy", "-q", "--dest-tls-verify=false", f"oci-archive:{tmp}/{archive}",
            f"docker://{reg}/test/{name}:1")
    broken, good = start_proxy(port), start_proxy(port)
    broken.mode = "fail"
    dead = free_port()  # nothing listens there

    # ---- a failing mirror first, then the upstream ----
    hosts_toml(reg, f'server = "http://{reg}"\n\n[host."http://{broken.addr}"]\n'
                    f'  capabilities = ["pull", "resolve"]\n')
    p = ctl("m1", f"{reg}/test/base:1")
    if p.returncode != 0 or image_id("m1", f"{reg}/test/base:1") != base_config:
        fail(f"failing mirror, then upstream: {p.returncode} {p.stderr.strip()}")
    if not broken.requests:
        fail("the mirror was not asked first")
    if f"http://{broken.addr}" not in p.stderr or "mirror is down for maintenance" not in p.stderr:
        fail(f"the fallback must be logged with the mirror and its reason: {p.stderr.strip()!r}")
    p = ctl("m1b", "-q", f"{reg}/test/base:1")
    if p.returncode != 0 or "mirror is down" not in p.stderr:
        fail(f"--quiet still logs the fallback (the daemon's children run with it): {p.stderr.strip()!r}")

    # ---- a working mirror serves everything; the upstream is unreachable ----
    hosts_toml(reg, f'server = "http://127.0.0.1:{dead}"\n[host."http://{good.addr}"]\n')
    p = ctl("m2", f"{reg}/test/two:1")
    if p.returncode != 0 or image_id("m2", f"{reg}/test/two:1") != two_config:
        fail(f"pull through a mirror: {p.returncode} {p.stderr.strip()}")
    if not any("/blobs/" in r for r in good.requests) or not any("/manifests/1" in r for r in good.requests):
        fail(f"the mirror did not serve the pull: {good.requests}")

    # ---- all hosts fail: the message names the image, the last host's reason and the mirror's ----
    hosts_toml(reg, f'server = "http://127.0.0.1:{dead}"\n[host."http://{broken.addr}"]\n')
    p = ctl("m3", f"{reg}/test/base:1")
    if p.returncode == 0 or f"{reg}/test/base:1" not in p.stderr or "tried first" not in p.stderr \
            or "mirror is down" not in p.stderr:
        fail(f"every host failing: expected the upstream's error and the mirror's: {p.stderr.strip()}")

    # ---- a pull-only mirror is not asked to resolve a tag, but serves a pull by digest ----
    broken.requests.clear()
    hosts_toml(reg, f'server = "http://{reg}"\n[host."http://{broken.addr}"]\n  capabilities = ["pull"]\n')
    p = ctl("m4", f"{reg}/test/base:1")
    if p.returncode != 0 or broken.requests:
        fail(f"pull-only mirror asked for a tag: {broken.requests} {p.stderr.strip()}")

    # ---- a registry name with no HTTPS anywhere, plain HTTP because hosts.toml says so ----
    hosts_toml("plain.registry.test", f'server = "http://{reg}"\n')
    p = ctl("m5", "plain.registry.test/test/base:1")
    if p.returncode != 0 or image_id("m5", "plain.registry.test/test/base:1") != base_config:
        fail(f"http:// server from hosts.toml: {p.returncode} {p.stderr.strip()}")
    shutil.rmtree(f"{tmp}/certs.d")

    # ---- node credentials: used when the pod's have no entry, never over them ----
    good.mode = "basic"
    node = f"{tmp}/node-config.json"
    with open(node, "w") as f:
        json.dump({"auths": {good.addr: {"auth": base64.b64encode(b"node:nodepw").decode()}}}, f)
    pod_other = f"{tmp}/pod-other.json"
    with open(pod_other, "w") as f:
        json.dump({"auths": {"elsewhere.example": {"auth": base64.b64encode(b"x:y").decode()}}}, f)
    pod_wrong = f"{tmp}/pod-wrong.json"
    with open(pod_wrong, "w") as f:
        json.dump({"auths": {good.addr: {"auth": base64.b64encode(b"pod:wrong").decode()}}}, f)
    p = ctl("n0", f"{good.addr}/test/base:1")
    if p.returncode == 0 or "node credentials required" not in p.stderr:
        fail(f"without credentials the proxy must refuse: {p.returncode} {p.stderr.strip()}")
    p = ctl("n1", "--node-authfile", node, "--authfile", pod_other, f"{good.addr}/test/base:1")
    if p.returncode != 0 or image_id("n1", f"{good.addr}/test/base:1") != base_config:
        fail(f"node credentials for a registry the pod's secrets lack: {p.returncode} {p.stderr.strip()}")
    p = ctl("n2", "--node-authfile", node, "--authfile", pod_wrong, f"{good.addr}/test/base:1")
    if p.returncode == 0 or "node credentials required" not in p.stderr:
        fail(f"the pod's credentials come first: {p.returncode} {p.stderr.strip()}")
    with open(f"{tmp}/garbage.json", "w") as f:
        f.write("not json")
    p = ctl("n3", "--node-authfile", f"{tmp}/garbage.json", f"{reg}/test/base:1")
    if p.returncode != 0 or "Ignoring --node-authfile" not in p.stderr:
        fail(f"a broken node credentials file is skipped with a warning: {p.returncode} {p.stderr.strip()}")
    good.mode = "pass"

    # ---- two processes, two images, one shared layer: downloaded once ----
    good.requests.clear()
    good.hold = shared
    a = subprocess.Popen(ctl_cmd("shared", "-q", f"{good.addr}/test/base:1"), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    b = subprocess.Popen(ctl_cmd("shared", "-q", f"{good.addr}/test/two:1"), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    outs = [x.communicate(timeout=120) for x in (a, b)]
    good.hold = None
    if a.returncode != 0 or b.returncode != 0:
        fail(f"concurrent pulls: {a.returncode} {b.returncode} {outs}")
    if [o.strip() for o, _ in outs] != [base_config, two_config]:
        fail(f"concurrent pulls: wrong images {outs}")
    gets = [r for r in good.requests if r.endswith(f"/blobs/{shared}")]
    if len(gets) != 1:
        fail(f"the shared layer was downloaded {len(gets)} times: {good.requests}")
    if not any(r.endswith(f"/blobs/{two_layers[1]}") for r in good.requests):
        fail("the second image's own layer was not downloaded")
    left = [f for f in os.listdir(f"{tmp}/shared/images/partial") if not f.startswith(".")]
    if left:
        fail(f"concurrent pulls left files in partial/: {left}")
    r = run(CTL, "run", "--root-dir", f"{tmp}/shared", "--state-dir", f"{tmp}/state", "--cgroup-parent",
            f"nodelet-registry-mirrors-{os.getpid()}", "--rm", f"{good.addr}/test/two:1", "cat", "/hello.txt",
            check=False)
    if r.returncode != 0:
        fail(f"run the image with the shared layer: {r.returncode} {r.stderr.strip()}")
    for x in (broken, good):
        x.shutdown()
        x.server_close()


def remove_cgroup():
    cg = f"nodelet-registry-mirrors-{os.getpid()}"
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, ctrls, path = line.strip().split(":", 2)
            if ctrls.startswith("name="):
                continue
            for c in (ctrls.split(",") if ctrls else [""]):
                d = f"/sys/fs/cgroup/{c}{path}/{cg}".replace("//", "/")
                if os.path.isdir(d):
                    for dirpath, _, _ in sorted(os.walk(d), key=lambda x: -len(x[0])):
                        try:
                            os.rmdir(dirpath)
                        except OSError:
                            pass


try:
    main()
except Exception as e:  # noqa: BLE001 - any setup failure is a test failure, after cleanup
    fail(f"{type(e).__name__}: {e}")
finally:
    for pr in procs:
        pr.kill()
        pr.wait()
    shutil.rmtree(tmp, ignore_errors=True)
    remove_cgroup()

if failures:
    print(f"{len(failures)} failure(s)", file=sys.stderr)
    sys.exit(1)
print("ok")
