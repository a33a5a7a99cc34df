#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Writes the seed inputs of the fuzz targets added for issue 13 into corpus/<target>/seed-*: small, hand-made
examples of each format (valid ones, so that fuzzing starts deep inside the parsers). Campaigns add to the corpora
and minimise them with -merge=1 (tests/fuzz/campaign.sh); re-running this only rewrites the seed-* files."""

import gzip
import io
import json
import os
import re
import struct
import sys
import tarfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
HEX = "a" * 64


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def registry():
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + HEX, "size": 528,
         "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
        {"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "digest": "sha256:" + "b" * 64,
         "size": 1, "platform": {"os": "linux", "architecture": "amd64"}}]}
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + HEX,
                           "size": 100},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": "sha256:" + HEX,
                            "size": 1000}]}
    write("registry", "index", 'Bearer realm="https://auth.example.com/token",service="registry.example.com",'
          'scope="repository:team/app:pull"\n' + json.dumps(index))
    write("registry", "manifest", "linux/arm64/v8\n" + json.dumps(manifest))
    write("registry", "config-json", "registry.example.com:5000/team/app\n" + json.dumps(
        {"auths": {"registry.example.com:5000": {"auth": "dXNlcjpwYXNz"},
                   "https://index.docker.io/v1/": {"username": "u", "password": "p"},
                   "registry.example.com/team": {"auth": "YTpi"}}}))
    write("registry", "dockercfg", 'Basic realm="reg \\"x\\""\n' + json.dumps(
        {"registry.example.com": {"auth": "dXNlcjpwYXNz", "email": "a@b"}}))


def tar_bytes(entries, fmt=tarfile.GNU_FORMAT):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        for name, kind, arg in entries:
            ti = tarfile.TarInfo(name)
            ti.mtime = 1700000000
            if kind == "dir":
                ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                t.addfile(ti)
            elif kind == "file":
                ti.size, ti.mode = len(arg), 0o644
                t.addfile(ti, io.BytesIO(arg))
            elif kind == "sym":
                ti.type, ti.linkname = tarfile.SYMTYPE, arg
                t.addfile(ti)
            elif kind == "link":
                ti.type, ti.linkname = tarfile.LNKTYPE, arg
                t.addfile(ti)
            elif kind == "fifo":
                ti.type = tarfile.FIFOTYPE
                t.addfile(ti)
            elif kind == "pax":
                ti.size, ti.pax_headers = len(b"x"), arg
                t.addfile(ti, io.BytesIO(b"x"))
    return buf.getvalue()


def layer():
    base = tar_bytes([("etc", "dir", None), ("etc/hostname", "file", b"node\n"), ("bin", "dir", None),
                      ("bin/sh", "file", b"#!x\n"), ("bin/ash", "link", "bin/sh"), ("usr/bin", "sym", "../bin"),
                      ("run/fifo", "fifo", None)])
    write("layer", "base.tar", base)
    write("layer", "base.tar.gz", gzip.compress(base, 9, mtime=0))
    upper = tar_bytes([("etc/.wh.hostname", "file", b""), ("bin/.wh..wh..opq", "file", b""),
                       ("./var/./lib/", "dir", None), ("var/lib/x", "pax", {"SCHILY.xattr.user.k": "v"})],
                      fmt=tarfile.PAX_FORMAT)
    write("layer", "whiteouts.tar", upper)
    write("layer", "escape.tar", tar_bytes([("../x", "file", b"x"), ("/abs", "file", b"x"), ("l", "sym", "/etc"),
                                            ("l/passwd", "file", b"x")]))


def kubeconfig():
    write("kubeconfig", "full", """#context-b
apiVersion: v1
kind: Config
current-context: context-a
clusters:
- name: prod
  cluster:
    server: https://127.0.0.1:6443/
    certificate-authority-data: Q0EgREFUQQo=
    tls-server-name: api
- name: other
  cluster: {server: "https://10.0.0.1", certificate-authority: ca.crt, insecure-skip-tls-verify: true}
users:
- name: node
  user: {client-certificate: certs/node.crt, client-key: /etc/key.pem, token: abc, tokenFile: tok}
- name: data
  user: {client-certificate-data: Q0VSVAo=, client-key-data: S0VZCg==}
- name: plugin
  user: {exec: {command: x}}
contexts:
- {name: context-a, context: {cluster: prod, user: node, namespace: kube-system}}
- {name: context-b, context: {cluster: other, user: data}}
- {name: context-c, context: {cluster: prod, user: plugin}}
""")
    write("kubeconfig", "json", json.dumps({"apiVersion": "v1", "kind": "Config", "current-context": "c", "clusters": [
        {"name": "k", "cluster": {"server": "https://[::1]:6443"}}], "contexts": [
        {"name": "c", "context": {"cluster": "k"}}], "users": []}))


def config():
    with open(os.path.join(SRC, "systemd", "config.yaml"), "rb") as f:
        write("config", "systemd-config.yaml", f.read())
    write("config", "full.yaml", """#10m
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
staticPodPath: /etc/nodelet/manifests
syncFrequency: 1m30s
maxPods: 50
podPidsLimit: -1
cgroupDriver: systemd
clusterDNS: [10.96.0.10]
clusterDomain: cluster.local
featureGates: {GracefulNodeShutdown: true, Foo: false}
evictionHard: {memory.available: 100Mi, nodefs.available: "10%"}
evictionSoft: {memory.available: 200Mi}
evictionSoftGracePeriod: {memory.available: 1m}
systemReserved: {cpu: 100m, memory: 1Gi}
kubeReserved: {cpu: "0.5", ephemeral-storage: 1G}
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true, cacheTTL: 2m}
  x509: {clientCAFile: /etc/ca.crt}
authorization: {mode: Webhook, webhook: {cacheAuthorizedTTL: 5m, cacheUnauthorizedTTL: 30s}}
containerLogMaxSize: 10Mi
containerLogMaxFiles: 5
imageGCHighThresholdPercent: 85
logging: {verbosity: 4}
registerWithTaints: [{key: a, value: b, effect: NoSchedule}]
cpuManagerPolicy: none
""")


def informer():
    pod = lambda name, rv, uid: {"metadata": {"name": name, "namespace": "default", "uid": uid,
                                              "resourceVersion": rv}, "spec": {"nodeName": "node1"}}
    page1 = {"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "10", "continue": "tok"},
             "items": [pod("a", "5", "u1"), pod("b", "6", "u2")]}
    page2 = {"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "10"},
             "items": [pod("c", "7", "u3")]}
    watch = [{"type": "ADDED", "object": dict(pod("d", "11", "u4"), kind="Pod")},
             {"type": "MODIFIED", "object": pod("a", "12", "u1")},
             {"type": "DELETED", "object": pod("b", "13", "u2")},
             {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "14"}}},
             {"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old"}}]
    relist = {"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "20"},
              "items": [pod("a", "12", "u1-new")]}
    sep = "\n\f\n"
    write("informer", "list-watch", "\x07" + sep.join([json.dumps(page1), json.dumps(page2),
                                                       "\n".join(json.dumps(w) for w in watch),
                                                       json.dumps(relist), "HTTP 500\ninternal error",
                                                       "HTTP 410\ngone"]))
    write("informer", "expired-continue", "\x01" + sep.join([json.dumps(page1), "HTTP 410\nexpired continue",
                                                             json.dumps(page2), "garbage\n{}"]))


def ws_frame(opcode, payload, fin=True, mask=b"\x01\x02\x03\x04"):
    b = bytearray([(0x80 if fin else 0) | opcode])
    n = len(payload)
    if n < 126:
        b.append(0x80 | n)
    elif n < 65536:
        b += bytes([0x80 | 126]) + struct.pack(">H", n)
    else:
        b += bytes([0x80 | 127]) + struct.pack(">Q", n)
    b += mask + bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
    return bytes(b)


def websocket():
    write("websocket", "session", b"".join([
        ws_frame(2, b"\x00ls -l\n"), ws_frame(1, b"AGxz", fin=False), ws_frame(9, b"ping"),
        ws_frame(0, b"IC1s", fin=True), ws_frame(2, b"\x04" + b"x" * 300), ws_frame(8, b"\x03\xe8bye")]))
    write("websocket", "handshake", b"dGhlIHNhbXBsZSBub25jZQ==\n" + ws_frame(2, b"\x01", mask=b"\0\0\0\0"))
    write("websocket", "protocols", b"v4.channel.k8s.io, base64.channel.k8s.io,v5.channel.k8s.io\n" +
          ws_frame(10, b"") + ws_frame(8, b""))


def spdy_dictionary():
    with open(os.path.join(SRC, "common", "spdy.c")) as f:
        src = f.read()
    words = re.search(r"dictionary_words\[\] = \{(.*?)\};", src, re.S).group(1)
    tail = re.search(r"dictionary_tail\[\] =(.*?);", src, re.S).group(1)
    d = b"".join(struct.pack(">I", len(w)) + w.encode() for w in re.findall(r'"([^"]*)"', words))
    return d + "".join(re.findall(r'"([^"]*)"', tail)).encode()


def spdy():
    z = zlib.compressobj(zdict=spdy_dictionary())

    def block(headers):
        raw = struct.pack(">I", len(headers)) + b"".join(
            struct.pack(">I", len(k)) + k.encode() + struct.pack(">I", len(v)) + v.encode() for k, v in headers)
        return z.compress(raw) + z.flush(zlib.Z_SYNC_FLUSH)

    def control(type_, flags, payload):
        return struct.pack(">HHI", 0x8003, type_, flags << 24 | len(payload)) + payload

    def data(sid, flags, payload):
        return struct.pack(">II", sid, flags << 24 | len(payload)) + payload

    def syn(sid, headers, flags=0):
        return control(1, flags, struct.pack(">IIH", sid, 0, 0) + block(headers))

    frames = [syn(1, [("streamtype", "error")]), syn(3, [("streamtype", "stdin")]),
              syn(5, [("streamtype", "stdout"), ("port", "8080\x009090")]), data(3, 0, b"echo hi\n"),
              control(6, 0, struct.pack(">I", 1)), control(4, 0, struct.pack(">II", 1, 0x01000004) + b"\0\0\0\x10"),
              control(9, 0, struct.pack(">II", 3, 1000)), control(8, 0, struct.pack(">I", 3) + block([("x", "y")])),
              data(3, 1, b""), control(3, 0, struct.pack(">II", 5, 5)), data(7, 0, b"unknown"),
              control(7, 0, struct.pack(">II", 5, 0))]
    write("spdy", "exec-session", b"".join(frames))
    z = zlib.compressobj(zdict=spdy_dictionary())
    write("spdy", "port-forward", b"".join([syn(1, [("streamtype", "data"), ("port", "80"), ("requestid", "0")]),
                                            data(1, 0, b"GET / HTTP/1.1\r\n\r\n"),
                                            syn(1, [("streamtype", "error")], flags=1)]))


def http():
    write("http", "get-pods", b"GET /pods?x=1&follow=true HTTP/1.1\r\nHost: 127.0.0.1\r\n"
          b"Authorization: Bearer abc.def\r\nAccept: application/json, */*\r\n\r\n")
    write("http", "post-body", b"POST /run/ns/pod/c?cmd=ls HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
          b"Authorization: bearer  \r\n\r\nhello")
    write("http", "chunked", b"PUT /stats/summary HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
          b"3\r\nabc\r\n0\r\n\r\nGET /%2e%2e/metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    write("http", "upgrade", b"GET /exec/ns/pod/c?command=ls&stdout=1 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
          b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
          b"Sec-WebSocket-Protocol: v5.channel.k8s.io\r\n\r\n")


for gen in (registry, layer, kubeconfig, config, informer, websocket, spdy, http):
    gen()
