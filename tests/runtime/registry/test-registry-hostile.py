#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""`nodeletctl images pull` against hostile registries (issue 11, "Bad input"): a fake registry of our own on
127.0.0.1 (Python http.server, one instance per case) serving a small valid image, except for one thing:

  stall        the layer blob stops halfway and the connection stays open      → "stalled" (--stall-timeout 2)
  redirect     the manifest redirects to itself                                 → bounded redirects
  big-manifest a 100 MB manifest with its Content-Length                        → refused at the headers
  big-chunked  a manifest without a length that never ends                      → refused at the 4 MiB limit
  endless-blob the layer blob without a length that never ends                  → more than the descriptor's size
  long-blob    the layer blob with a Content-Length beyond the descriptor's size → refused at the headers
  html-json    an HTML page served as an OCI manifest (JSON media type)         → not JSON
  auth-*       WWW-Authenticate challenges that make no sense                   → says so

Each pull must fail within a bounded time with a message naming the image and the problem, store nothing (no blob,
no image, no staging, no lock left), and the pulls' peak memory stays far below the 100 MB they were offered.

    test-registry-hostile.py NODELETCTL

Runs as any user (the pulls fail before anything is unpacked). Servers and the temporary directory are removed at
the end, also on failure."""

import gzip
import hashlib
import http.server
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time

CTL = sys.argv[1]
tmp = tempfile.mkdtemp(prefix="nodelet-registry-hostile.")
servers = []
failures = []


def fail(msg):
    failures.append(msg)
    print(f"FAIL: {msg}", file=sys.stderr)


def make_image():
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
        data = os.urandom(256 * 1024)  # incompressible: the blob is big enough to be cut in the middle
        info = tarfile.TarInfo("data.bin")
        info.size = len(data)
        info.mtime = 1700000000
        t.addfile(info, io.BytesIO(data))
    layer = gzip.compress(raw.getvalue(), mtime=0)
    diff = hashlib.sha256(raw.getvalue()).hexdigest()
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/true"]},
                         "rootfs": {"type": "layers", "diff_ids": ["sha256:" + diff]}}).encode()
    blobs = {"sha256:" + hashlib.sha256(b).hexdigest(): b for b in (layer, config)}
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": "sha256:" + hashlib.sha256(config).hexdigest(), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": "sha256:" + hashlib.sha256(layer).hexdigest(), "size": len(layer)}]}).encode()
    return manifest, blobs, "sha256:" + hashlib.sha256(layer).hexdigest()


MANIFEST, BLOBS, LAYER = make_image()
MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


class Fake(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, mode):
        super().__init__(("127.0.0.1", 0), Handler)
        self.mode = mode
        self.sent = 0  # body bytes written by the endless answers
        self.stop = threading.Event()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, code, body, ctype="application/json", headers=()):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def stream(self, length=None, ctype="application/octet-stream"):
        """Zeros until the client goes away (or length is reached, when given, which it never is here)."""
        srv = self.server
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        if length is not None:
            self.send_header("Content-Length", str(length))
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        chunk = b"\0" * 65536
        try:
            while not srv.stop.is_set() and srv.sent < 300 * 1000 * 1000:
                self.wfile.write(chunk)
                srv.sent += len(chunk)
        except OSError:
            pass

    def do_GET(self):
        srv, mode, path = self.server, self.server.mode, self.path
        if mode.startswith("auth-"):
            chal = {"auth-empty-realm": 'Bearer realm=""',
                    "auth-file-realm": 'Bearer realm="file:///etc/passwd",service="x"',
                    "auth-garbage": ',,,=="unterminated',
                    "auth-unknown": 'Negotiate abc',
                    }[mode]
            body = json.dumps({"errors": [{"code": "UNAUTHORIZED", "message": "who are you"}]}).encode()
            return self.answer(401, body, headers=[("WWW-Authenticate", chal)])
        if path == "/v2/":
            return self.answer(200, b"{}")
        if "/manifests/" in path:
            if mode == "redirect":
                return self.answer(302, b"", headers=[("Location", path)])
            if mode == "big-manifest":
                return self.stream(100 * 1000 * 1000, MT_MANIFEST)
            if mode == "big-chunked":
                return self.stream(None, MT_MANIFEST)
            if mode == "html-json":
                return self.answer(200, b"<html><body>Please sign in</body></html>", MT_MANIFEST)
            return self.answer(200, MANIFEST, MT_MANIFEST)
        digest = path.rsplit("/", 1)[1]
        if "/blobs/" in path and digest in BLOBS:
            body = BLOBS[digest]
            if digest == LAYER and mode == "stall":
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                srv.stop.wait(60)  # silence, connection open
                return
            if digest == LAYER and mode == "endless-blob":
                return self.stream(None)
            if digest == LAYER and mode == "long-blob":
                return self.stream(len(body) * 1000)
            return self.answer(200, body, "application/octet-stream")
        return self.answer(404, json.dumps({"errors": [{"code": "BLOB_UNKNOWN", "message": "no"}]}).encode())


CASES = [
    ("stall", ["stalled", "no data from the registry for 2 s", "layer " + LAYER]),
    ("redirect", ["redirect"]),
    ("big-manifest", ["larger than the limit of 4194304 bytes"]),
    ("big-chunked", ["larger than the limit of 4194304 bytes"]),
    ("endless-blob", ["more than the descriptor's"]),
    ("long-blob", ["more than the descriptor's"]),
    ("html-json", ["manifest of tag '1'"]),
    ("auth-empty-realm", ["no usable realm"]),
    ("auth-file-realm", ["no usable realm"]),
    ("auth-garbage", ["unsupported authentication scheme ',,,==\"unterminated'"]),
    ("auth-unknown", ["cannot parse WWW-Authenticate 'Negotiate abc'"]),
]


def stored(root):
    """Anything a failed pull must not leave: blobs, index entries, staging, locks, verified hand-offs."""
    left = []
    for dirpath, _, files in os.walk(f"{root}/images"):
        for f in files:
            p = os.path.join(dirpath, f)
            rel = os.path.relpath(p, f"{root}/images")
            if rel.startswith("blobs/") or f.endswith((".lock", ".verified")) or "/pull-" in "/" + rel:
                left.append(rel)
            # A .part of the stalled blob is kept on purpose: the next pull resumes it with Range.
    return left


def main():
    for mode, expect in CASES:
        srv = Fake(mode)
        servers.append(srv)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        ref = f"127.0.0.1:{srv.server_address[1]}/hostile/{mode}:1"
        root = f"{tmp}/{mode}"
        t0 = time.monotonic()
        # stderr to a file, waited for with wait4(): the pull's own peak RSS, not this process's.
        with open(f"{tmp}/{mode}.err", "w+") as ef:
            p = subprocess.Popen([CTL, "images", "--root-dir", root, "pull", "-q", "--stall-timeout", "2", ref],
                                 stdout=subprocess.DEVNULL, stderr=ef)
            timer = threading.Timer(60, p.kill)
            timer.start()
            _, status, ru = os.wait4(p.pid, 0)
            timer.cancel()
            p.returncode = os.waitstatus_to_exitcode(status)
            srv.stop.set()
            ef.seek(0)
            err = ef.read().strip()
        took = time.monotonic() - t0
        if p.returncode == -9:
            fail(f"{mode}: the pull did not end within 60 s")
        # Generous (sanitizer builds double the baseline), and still far below the 100 MB offered.
        if ru.ru_maxrss > 90 * 1024:
            fail(f"{mode}: peak memory of the pull {ru.ru_maxrss} KiB: a big answer was held in memory")
        if p.returncode == 0:
            fail(f"{mode}: the pull succeeded")
        if ref not in err or not all(x in err for x in expect):
            fail(f"{mode}: the message must name the image and say {expect}: {err!r}")
        left = stored(root)
        if left:
            fail(f"{mode}: something was stored: {left}")
        if mode.startswith("big") and srv.sent > 50 * 1000 * 1000:
            fail(f"{mode}: the client read {srv.sent} bytes of a refused manifest")
        print(f"{mode}: {took:.1f} s: {err}")


try:
    main()
except Exception as e:  # noqa: BLE001 - any setup failure is a test failure, after cleanup
    fail(f"{type(e).__name__}: {e}")
finally:
    for s in servers:
        s.stop.set()
        s.shutdown()
        s.server_close()
    shutil.rmtree(tmp, ignore_errors=True)

if failures:
    print(f"{len(failures)} failure(s)", file=sys.stderr)
    sys.exit(1)
print("ok")
