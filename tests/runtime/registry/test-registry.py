#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""`nodeletctl images pull` against real registries on 127.0.0.1: Debian's docker-registry (distribution) populated
with Debian's skopeo from the busybox fixture, over plain HTTP and over TLS with htpasswd basic auth, plus a small
proxy of our own in front of the plain one for what a well-behaved registry never does (bearer-token auth, a
connection cut in the middle of a blob, schema 1 and HTML answers).

    test-registry.py NODELETCTL FIXTURE-SCRIPT PULL-COALESCE

Needs root (the pulled image is run, layers keep their ownership); exits 77 when root, docker-registry, skopeo,
htpasswd or openssl are missing. Everything lives in one temporary directory; the processes it starts are killed by
PID and the directory removed, also on failure."""

import base64
import hashlib
import http.client
import http.server
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time

CTL, FIXTURE, COALESCE = sys.argv[1], sys.argv[2], sys.argv[3]
HOST_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
OTHER_ARCH = "arm64" if HOST_ARCH != "arm64" else "amd64"
MT_INDEX = "application/vnd.oci.image.index.v1+json"
MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def skip(why):
    print(f"SKIP: {why}")
    sys.exit(77)


if os.geteuid() != 0:
    skip("needs root")
for tool in ("docker-registry", "skopeo", "htpasswd", "openssl", "busybox"):
    if not shutil.which(tool):
        skip(f"{tool} missing (scripts/install-deps.sh installs it)")

tmp = tempfile.mkdtemp(prefix="nodelet-registry-test.")
procs = []
failures = []


def fail(msg):
    failures.append(msg)
    print(f"FAIL: {msg}", file=sys.stderr)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(*args, check=True, env=None, timeout=120):
    p = subprocess.run(args, capture_output=True, text=True, env=env, timeout=timeout)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: exit {p.returncode}: {p.stderr.strip()}")
    return p


def ctl(*args, root="root", check=False):
    return run(CTL, "images", "--root-dir", f"{tmp}/{root}", *args, check=check)


def wait_port(port):
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


def start_registry(name, extra=""):
    port = free_port()
    cfg = f"{tmp}/{name}.yml"
    with open(cfg, "w") as f:
        f.write(f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {tmp}/{name}-store\n"
                f"  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n{extra}")
    log = open(f"{tmp}/{name}.log", "w")
    procs.append(subprocess.Popen(["docker-registry", "serve", cfg], stdout=log, stderr=log))
    wait_port(port)
    return port


def oci_layout_of(archive, dest):
    """An oci-archive tar → a layout directory; returns (manifest digest, config digest)."""
    os.makedirs(dest, exist_ok=True)
    with tarfile.open(archive) as t:
        t.extractall(dest)
    with open(f"{dest}/index.json") as f:
        desc = json.load(f)["manifests"][0]
    hexd = desc["digest"].split(":")[1]
    with open(f"{dest}/blobs/sha256/{hexd}") as f:
        m = json.load(f)
    return desc, m["config"]["digest"]


def image_id(root, ref):
    p = ctl("inspect", ref, root=root)
    return json.loads(p.stdout)["id"] if p.returncode == 0 else None


def store_empty_of(root, hexes):
    """None of these blobs are in the store, nor half-written anywhere below it."""
    found = []
    for dirpath, _, files in os.walk(f"{tmp}/{root}/images"):
        for f in files:
            if any(f.startswith(h) for h in hexes):
                found.append(os.path.join(dirpath, f))
    return found


# ---- a proxy in front of the plain registry: bearer auth, cuts, bad answers ----

class Proxy(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, upstream):
        super().__init__(("127.0.0.1", 0), ProxyHandler)
        self.upstream = upstream
        self.mode = "pass"
        self.cut_digest = None
        self.blob_requests = []  # (digest, Range header)
        self.manifest_requests = []
        self.token_requests = []
        self.token = "tok-" + base64.b16encode(os.urandom(8)).decode()


class ProxyHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, code, body, ctype="application/json", headers=()):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        srv = self.server
        port = srv.server_address[1]
        if self.path.startswith("/token"):
            srv.token_requests.append(self.path)
            auth = self.headers.get("Authorization", "")
            if auth != "Basic " + base64.b64encode(b"tokuser:tokpass").decode():
                return self.send(401, json.dumps({"details": "incorrect username or password"}).encode())
            return self.send(200, json.dumps({"token": srv.token}).encode())
        if srv.mode == "bearer" and self.headers.get("Authorization") != f"Bearer {srv.token}":
            chal = f'Bearer realm="http://127.0.0.1:{port}/token",service="test-registry"'
            body = {"errors": [{"code": "UNAUTHORIZED", "message": "bearer token required"}]}
            return self.send(401, json.dumps(body).encode(), headers=[("WWW-Authenticate", chal)])
        if srv.mode == "schema1" and "/manifests/" in self.path:
            body = json.dumps({"schemaVersion": 1, "name": "x", "tag": "1", "fsLayers": []}).encode()
            return self.send(200, body, "application/vnd.docker.distribution.manifest.v1+prettyjws")
        if srv.mode == "html" and "/manifests/" in self.path:
            return self.send(200, b"<html><body>Sign in to continue</body></html>", "text/html; charset=utf-8")
        if "/manifests/" in self.path:
            srv.manifest_requests.append(self.path)
        if "/blobs/" in self.path:
            srv.blob_requests.append((self.path.rsplit("/", 1)[1], self.headers.get("Range")))
        c = http.client.HTTPConnection("127.0.0.1", srv.upstream, timeout=30)
        hdrs = {k: v for k, v in self.headers.items() if k.lower() in ("accept", "range")}
        c.request("GET", self.path, headers=hdrs)
        r = c.getresponse()
        body = r.read()
        cut = srv.mode == "cut" and self.path.endswith(f"/blobs/{srv.cut_digest}") and not self.headers.get("Range")
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() in ("content-type", "docker-content-digest", "content-range", "accept-ranges",
                             "www-authenticate", "content-length"):
                self.send_header(k, v)
        self.end_headers()
        if cut:
            # Half the blob, then the connection drops: the client keeps what it got and asks for the rest.
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(body)


def main():
    # ---- images: busybox, a variant of it for the "other" platform, one to corrupt ----
    run("/usr/bin/python3", FIXTURE, f"{tmp}/bb.tar", "--whiteout")
    run("/usr/bin/python3", FIXTURE, f"{tmp}/other.tar", "--variant", OTHER_ARCH)
    run("/usr/bin/python3", FIXTURE, f"{tmp}/corrupt.tar", "--variant", "corrupt-me")
    bb_desc, bb_config = oci_layout_of(f"{tmp}/bb.tar", f"{tmp}/multi")
    other_desc, other_config = oci_layout_of(f"{tmp}/other.tar", f"{tmp}/multi")
    # A two-platform index over both manifests (one layout holds both sets of blobs), for skopeo copy --all.
    entries = [(other_desc, OTHER_ARCH), (bb_desc, HOST_ARCH)]
    index = {"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": [
        {"mediaType": MT_MANIFEST, "digest": d["digest"], "size": d["size"],
         "platform": {"os": "linux", "architecture": arch}} for d, arch in entries]}
    raw = json.dumps(index).encode()
    ihex = hashlib.sha256(raw).hexdigest()
    with open(f"{tmp}/multi/blobs/sha256/{ihex}", "wb") as f:
        f.write(raw)
    with open(f"{tmp}/multi/index.json", "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [{"mediaType": MT_INDEX, "digest": f"sha256:{ihex}",
                   "size": len(raw), "annotations": {"org.opencontainers.image.ref.name": "multi"}}]}, f)

    plain = start_registry("plain")
    reg = f"127.0.0.1:{plain}"
    copy = ["skopeo", "copy", "-q", "--dest-tls-verify=false"]
    run(*copy, f"oci-archive:{tmp}/bb.tar", f"docker://{reg}/test/busybox:1")
    run(*copy, "--all", f"oci:{tmp}/multi:multi", f"docker://{reg}/test/multi:1")
    run(*copy, f"oci-archive:{tmp}/corrupt.tar", f"docker://{reg}/test/corrupt:1")

    # ---- plain HTTP on loopback: by tag, by digest, and run it ----
    p = ctl("pull", f"{reg}/test/busybox:1")
    if p.returncode != 0 or image_id("root", f"{reg}/test/busybox:1") != bb_config:
        fail(f"pull by tag: {p.returncode} {p.stderr.strip()}")
    if "Layer sha256:" not in p.stdout:
        fail(f"pull by tag: no per-layer progress lines when stdout is not a terminal: {p.stdout!r}")
    p = ctl("pull", f"{reg}/test/busybox@{bb_desc['digest']}", root="root2")
    if p.returncode != 0 or image_id("root2", f"{reg}/test/busybox@{bb_desc['digest']}") != bb_config:
        fail(f"pull by digest: {p.returncode} {p.stderr.strip()}")
    p = ctl("pull", f"{reg}/test/busybox:1")
    if p.returncode != 0 or p.stdout.count("already present") != 2:
        fail(f"second pull: layers in the store must not be downloaded again: {p.stdout!r} {p.stderr.strip()}")
    state = f"{tmp}/state"
    r = run(CTL, "run", "--root-dir", f"{tmp}/root", "--state-dir", state, "--cgroup-parent",
            f"nodelet-registry-test-{os.getpid()}", "--rm", f"{reg}/test/busybox:1", "cat", "/hello.txt", check=False)
    if r.returncode != 0:
        fail(f"run the pulled image: {r.returncode} {r.stderr.strip()}")

    # ---- multi-platform index: the host's platform by default, --platform picks the other ----
    p = ctl("pull", f"{reg}/test/multi:1", root="multi-default")
    if p.returncode != 0 or image_id("multi-default", f"{reg}/test/multi:1") != bb_config:
        fail(f"multi-arch default platform (linux/{HOST_ARCH}): {p.returncode} {p.stderr.strip()}")
    p = ctl("pull", "--platform", f"linux/{OTHER_ARCH}", f"{reg}/test/multi:1", root="multi-other")
    if p.returncode != 0 or image_id("multi-other", f"{reg}/test/multi:1") != other_config:
        fail(f"multi-arch --platform linux/{OTHER_ARCH}: {p.returncode} {p.stderr.strip()}")
    p = ctl("pull", "--platform", "linux/s390x", f"{reg}/test/multi:1", root="multi-none")
    if p.returncode == 0 or "no manifest for platform linux/s390x" not in p.stderr:
        fail(f"multi-arch without a matching platform must fail clearly: {p.stderr.strip()}")
    p = ctl("pull", "--help", root="help")
    if p.returncode != 0 or "pull REF" not in p.stdout or os.path.exists(f"{tmp}/help"):
        fail(f"--help must print the usage and do nothing: {p.returncode} {p.stdout!r}")

    # ---- a corrupted blob in the registry's storage: digest mismatch, nothing stored ----
    _, corrupt_config = oci_layout_of(f"{tmp}/corrupt.tar", f"{tmp}/corrupt")
    with open(f"{tmp}/corrupt/index.json") as f:
        mhex = json.load(f)["manifests"][0]["digest"].split(":")[1]
    with open(f"{tmp}/corrupt/blobs/sha256/{mhex}") as f:
        lhex = json.load(f)["layers"][0]["digest"].split(":")[1]
    data = f"{tmp}/plain-store/docker/registry/v2/blobs/sha256/{lhex[:2]}/{lhex}/data"
    with open(data, "r+b") as f:
        f.seek(os.path.getsize(data) // 2)
        b = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([b[0] ^ 0xFF]))
    p = ctl("pull", f"{reg}/test/corrupt:1", root="corrupt")
    if p.returncode == 0 or "digest mismatch" not in p.stderr or f"{reg}/test/corrupt:1" not in p.stderr:
        fail(f"corrupted blob: expected a digest mismatch naming the image: {p.stderr.strip()}")
    left = store_empty_of("corrupt", [lhex, mhex, corrupt_config.split(":")[1]])
    if left or image_id("corrupt", f"{reg}/test/corrupt:1"):
        fail(f"corrupted blob: something was stored: {left}")
    partial = f"{tmp}/corrupt/images/partial"
    staged = os.listdir(partial) if os.path.isdir(partial) else []
    if staged:
        fail(f"corrupted blob: staging left behind: {staged}")

    # ---- TLS + htpasswd basic auth ----
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
        "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", f"{tmp}/tls.key", "-out", f"{tmp}/tls.crt")
    with open(f"{tmp}/htpasswd", "w") as f:
        f.write(run("htpasswd", "-Bbn", "alice", "s3cret").stdout)
    tls = start_registry("tls", f"  tls:\n    certificate: {tmp}/tls.crt\n    key: {tmp}/tls.key\n"
                                f"auth:\n  htpasswd:\n    realm: test\n    path: {tmp}/htpasswd\n")
    treg = f"127.0.0.1:{tls}"
    run(*copy, "--dest-creds", "alice:s3cret", f"oci-archive:{tmp}/bb.tar", f"docker://{treg}/secure/bb:1")
    p = ctl("pull", "--tls-verify=false", "--creds", "alice:wrong", f"{treg}/secure/bb:1", root="tls")
    if p.returncode == 0 or "HTTP 401" not in p.stderr or "authentication required" not in p.stderr:
        fail(f"wrong credentials: expected HTTP 401 with the registry's message: {p.stderr.strip()}")
    p = ctl("pull", "--creds", "alice:s3cret", f"{treg}/secure/bb:1", root="tls")
    if p.returncode == 0 or "certificate" not in p.stderr:
        fail(f"self-signed certificate without --tls-verify=false must fail: {p.stderr.strip()}")
    with open(f"{tmp}/auth.json", "w") as f:
        json.dump({"auths": {f"https://{treg}/v1/": {"auth": base64.b64encode(b"alice:s3cret").decode()}}}, f)
    p = ctl("pull", "--tls-verify=false", "--authfile", f"{tmp}/auth.json", f"{treg}/secure/bb:1", root="tls")
    if p.returncode != 0 or image_id("tls", f"{treg}/secure/bb:1") != bb_config:
        fail(f"TLS + basic auth from --authfile: {p.returncode} {p.stderr.strip()}")

    # ---- the proxy: bearer tokens, an interrupted download resumed with Range, refused answers ----
    proxy = Proxy(plain)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    preg = f"127.0.0.1:{proxy.server_address[1]}"
    try:
        proxy.mode = "bearer"
        p = ctl("pull", "--creds", "tokuser:wrong", f"{preg}/test/busybox:1", root="bearer")
        if p.returncode == 0 or "incorrect username or password" not in p.stderr:
            fail(f"bearer with wrong credentials: expected the token server's message: {p.stderr.strip()}")
        p = ctl("pull", "--creds", "tokuser:tokpass", f"{preg}/test/busybox:1", root="bearer")
        if p.returncode != 0 or image_id("bearer", f"{preg}/test/busybox:1") != bb_config:
            fail(f"bearer token flow: {p.returncode} {p.stderr.strip()}")
        if not any("scope=repository%3Atest%2Fbusybox%3Apull" in t and "service=test-registry" in t
                   for t in proxy.token_requests):
            fail(f"token request without service and scope: {proxy.token_requests}")

        # One ImagePuller, three callers of the same image, one cancelled: one pull on the wire, same result.
        proxy.mode = "pass"
        proxy.manifest_requests.clear()
        proxy.blob_requests.clear()
        r = run(COALESCE, f"{tmp}/coalesce", f"{preg}/test/busybox:1", check=False)
        ids = r.stdout.split()
        if r.returncode != 0 or ids != [bb_config, bb_config]:
            fail(f"coalesced pulls: {r.returncode} {r.stdout!r} {r.stderr.strip()}")
        blobs = [d for d, _ in proxy.blob_requests]
        if len(proxy.manifest_requests) != 1 or len(blobs) != len(set(blobs)):
            fail(f"coalesced pulls reached the registry more than once: {proxy.manifest_requests} {blobs}")

        proxy.mode = "cut"
        with open(f"{tmp}/multi/blobs/sha256/{bb_desc['digest'].split(':')[1]}") as f:
            big = max(json.load(f)["layers"], key=lambda l: l["size"])
        proxy.cut_digest = big["digest"]
        p = ctl("pull", f"{preg}/test/busybox:1", root="resume")
        if p.returncode == 0:
            fail("cut connection: the first pull must fail")
        part = f"{tmp}/resume/images/partial/{big['digest'].split(':')[1]}.part"
        if not os.path.exists(part) or os.path.getsize(part) == 0:
            fail("cut connection: the partial download was not kept")
        got = os.path.getsize(part) if os.path.exists(part) else 0
        proxy.blob_requests.clear()
        p = ctl("pull", f"{preg}/test/busybox:1", root="resume")
        if p.returncode != 0 or image_id("resume", f"{preg}/test/busybox:1") != bb_config:
            fail(f"resume: {p.returncode} {p.stderr.strip()}")
        ranges = [rg for d, rg in proxy.blob_requests if d == big["digest"]]
        if ranges != [f"bytes={got}-"]:
            fail(f"resume: expected one request with Range bytes={got}-, got {ranges}")
        if os.path.exists(part):
            fail("resume: the partial file is still there after the pull")

        proxy.mode = "schema1"
        p = ctl("pull", f"{preg}/test/busybox:1", root="bad")
        if p.returncode == 0 or "schema 1" not in p.stderr:
            fail(f"schema 1 must be refused clearly: {p.stderr.strip()}")
        proxy.mode = "html"
        p = ctl("pull", f"{preg}/test/busybox:1", root="bad")
        if p.returncode == 0 or "text/html" not in p.stderr:
            fail(f"an HTML answer must be refused clearly: {p.stderr.strip()}")
        if image_id("bad", f"{preg}/test/busybox:1"):
            fail("refused manifests stored an image")
    finally:
        proxy.shutdown()
        proxy.server_close()


try:
    main()
except Exception as e:  # noqa: BLE001 - any setup failure is a test failure, after cleanup
    fail(f"{type(e).__name__}: {e}")
finally:
    for pr in procs:
        pr.kill()
        pr.wait()
    shutil.rmtree(tmp, ignore_errors=True)
    cg = f"nodelet-registry-test-{os.getpid()}"
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

if failures:
    print(f"{len(failures)} failure(s)", file=sys.stderr)
    sys.exit(1)
print("ok")
