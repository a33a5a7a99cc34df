#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The kubelet API's authentication and authorization on the secure port (10250), with the kubelet's semantics,
against the fake kube-apiserver's TokenReview and SubjectAccessReview (tests/apiserver/fake_apiserver.py):

- anonymous enabled + AlwaysAllow: requests without credentials pass;
- anonymous off + webhook authn/authz + a client CA: no credentials → 401; a client certificate of the CA → SAR →
  200 for an admin, 403 with the kubelet's message for a user without rights; a certificate of another CA or one
  without the client-auth key usage → 401; a bearer token → TokenReview then SAR, and a second request within the
  TTLs uses the caches (no new review); an unknown token → 401; the read-only port stays open;
- /stats/summary: the running pod with its container's memory working set and CPU time, the kubelet's field names,
  usageNanoCores from two samples;
- the webhooks failing: a new token → 401, an uncached authorization → 500, cached answers still work, never a
  crash.

usage: test-kubelet-auth.py BUILD_DIR SOURCE_DIR      (exit 77 when not root)"""

import json
import os
import subprocess
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "apiserver"))
from daemon_harness import Failure, Node  # noqa: E402

CLONE_NEWNET = 0x40000000
URL = "https://127.0.0.1:10250"


def expect(cond, what):
    if not cond:
        raise Failure(what)


def enter_netns(name):
    """The whole test joins the daemon's network namespace: the fake API server listens on the loopback the daemon
    sees, and curl reaches the daemon there."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open("/run/netns/" + name, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns")
    finally:
        os.close(fd)


def curl(path, cert=None, key=None, token=None, url=URL):
    """(status, body) of a GET; the server certificate is the daemon's self-signed one."""
    args = ["curl", "-sk", "--max-time", "10", "-o", "-", "-w", "\n%{http_code}"]
    if cert:
        args += ["--cert", cert, "--key", key]
    if token:
        args += ["-H", "Authorization: Bearer " + token]
    r = subprocess.run(args + [url + path], capture_output=True, text=True, timeout=20)
    if r.returncode != 0:
        raise Failure("curl %s: exit %d %s" % (path, r.returncode, r.stderr.strip()))
    body, _, code = r.stdout.rpartition("\n")
    return int(code), body


def write_config(n, auth):
    with open(n.config, "w") as f:
        f.write("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"
                "podLogsDir: %s\nfileCheckFrequency: 1s\nreadOnlyPort: 10255\nhealthzPort: 10248\n%s"
                % (n.logs, auth))


def reviews(fake, resource):
    return [x for x in fake.requests(method="POST", resource=resource) if x.get("status") == 201]


def pod(name, node, script):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
            "spec": {"nodeName": node, "terminationGracePeriodSeconds": 2, "automountServiceAccountToken": False,
                     "containers": [{"name": "c", "image": "docker.io/library/busybox:latest",
                                     "imagePullPolicy": "IfNotPresent", "command": ["sh", "-c", script]}]}}


def check_summary(s):
    """The field names of the kubelet's stats/v1alpha1 Summary that nodelet fills."""
    node = s["node"]
    for k in ("nodeName", "startTime", "cpu", "memory", "network", "fs", "runtime", "rlimit"):
        expect(k in node, "node.%s missing: %s" % (k, sorted(node)))
    expect(node["nodeName"] == "testnode", "nodeName %s" % node["nodeName"])
    expect("imageFs" in node["runtime"], "node.runtime.imageFs missing")
    for k in ("time", "usageCoreNanoSeconds"):
        expect(k in node["cpu"], "node.cpu.%s missing" % k)
    for k in ("time", "usageBytes", "workingSetBytes", "rssBytes", "pageFaults", "majorPageFaults", "availableBytes"):
        expect(k in node["memory"], "node.memory.%s missing" % k)
    for k in ("availableBytes", "capacityBytes", "usedBytes"):
        expect(k in node["fs"] and k in node["runtime"]["imageFs"], "node fs %s missing" % k)
    for k in ("maxpid", "curproc"):
        expect(node["rlimit"].get(k, 0) > 0, "node.rlimit.%s: %s" % (k, node["rlimit"]))
    for p in s["pods"]:
        for k in ("podRef", "startTime", "containers", "cpu", "memory", "network", "volume", "ephemeral-storage"):
            expect(k in p, "pod.%s missing: %s" % (k, sorted(p)))
        for c in p["containers"]:
            for k in ("name", "startTime", "cpu", "memory", "rootfs", "logs"):
                expect(k in c, "container.%s missing: %s" % (k, sorted(c)))
            for k in ("time", "usageCoreNanoSeconds"):
                expect(k in c["cpu"], "container cpu.%s missing" % k)
            for k in ("time", "usageBytes", "workingSetBytes", "rssBytes", "pageFaults", "majorPageFaults"):
                expect(k in c["memory"], "container memory.%s missing" % k)


def find_pod(summary, name):
    for p in summary["pods"]:
        if p["podRef"]["name"] == name and p["podRef"]["namespace"] == "default":
            return p
    return None


def main():
    if os.geteuid() != 0:
        print("SKIP: needs root")
        return 77
    build, source = sys.argv[1], sys.argv[2]
    from fake_apiserver import ApiError, FakeAPIServer

    n = Node(build, source)
    fake = None
    failed = False
    try:
        enter_netns(n.ns)
        fake = FakeAPIServer(tls_dir=os.path.join(n.tmp, "apiserver"))
        fake.start()
        cert, key = fake.issue_client_cert("system:node:testnode", ["system:nodes"])
        kubeconfig = fake.write_kubeconfig(os.path.join(n.tmp, "kubelet.conf"), cert, key)

        # 1. Anonymous + AlwaysAllow (the flag defaults): no credentials needed.
        write_config(n, "authentication:\n  anonymous:\n    enabled: true\n  webhook:\n    enabled: false\n"
                        "authorization:\n  mode: AlwaysAllow\n")
        n.start(extra=["--kubeconfig", kubeconfig])
        code, body = curl("/pods")
        expect(code == 200 and json.loads(body)["kind"] == "PodList", "anonymous + AlwaysAllow: %d %s" % (code, body))
        n.stop()

        # 2. The v1beta1 defaults: anonymous off, webhook authentication and authorization, plus a client CA.
        write_config(n, "authentication:\n  anonymous:\n    enabled: false\n  webhook:\n    enabled: true\n"
                        "  x509:\n    clientCAFile: %s\nauthorization:\n  mode: Webhook\n" % fake.ca_path)
        n.start(extra=["--kubeconfig", kubeconfig])
        # A static pod (the file source: the same pipeline as API pods, and independent of the API pod source)
        # that holds ~4 MB in a shell variable and burns a little CPU.
        n.add("web.json", json.dumps(pod("web", "testnode", "x=$(head -c 4000000 /dev/zero | tr '\\0' x); "
                                                            "while :; do i=0; while [ $i -lt 20000 ]; do "
                                                            "i=$((i+1)); done; sleep 0.2; done")))
        n.wait(lambda: n.phase("web") == "Running", 60, "web Running")

        code, body = curl("/pods")
        expect(code == 401 and body.strip() == "Unauthorized", "no credentials: %d %r" % (code, body))
        code, body = curl("/nonexistent")
        expect(code == 401, "no credentials on an unknown path: %d" % code)
        code, _ = curl("/pods", url="http://127.0.0.1:10255")
        expect(code == 200, "the read-only port stays unauthenticated: %d" % code)

        # x509: the admin (system:masters) is allowed by the SubjectAccessReview...
        fake.clear_requests()
        code, body = curl("/pods", fake.admin_cert, fake.admin_key)
        expect(code == 200 and json.loads(body)["kind"] == "PodList", "admin certificate: %d %s" % (code, body[:200]))
        sar = fake.reviews[-1]
        expect(sar["user"] == "admin" and "system:masters" in sar["groups"] and
               "system:authenticated" in sar["groups"], "SAR user %s" % sar)
        expect(sar["attributes"] == {"namespace": "", "verb": "get", "group": "", "resource": "nodes",
                                     "subresource": "proxy", "name": "testnode"}, "SAR attributes %s" % sar)
        expect(not reviews(fake, "tokenreviews"), "a certificate needs no TokenReview")
        # ... and a user without rights is not, with the kubelet's message.
        alice_cert, alice_key = fake.issue_client_cert("alice", ["devs"])
        code, body = curl("/pods", alice_cert, alice_key)
        expect(code == 403 and body == "Forbidden (user=alice, verb=get, resource=nodes, subresource=proxy)",
               "alice: %d %r" % (code, body))
        code, body = curl("/stats/summary", alice_cert, alice_key)
        expect(code == 403 and "subresource=stats" in body, "alice stats: %d %r" % (code, body))
        # (alice's denials are cached for cacheUnauthorizedTTL: the stats reader is another user)
        carol_cert, carol_key = fake.issue_client_cert("carol", ["monitoring"])
        fake.grant("monitoring", "", ["nodes/stats"], ["get"])
        # A foreign CA and a certificate without client-auth usage do not authenticate.
        other = os.path.join(n.tmp, "other")
        os.makedirs(other)
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-days", "2", "-subj", "/O=system:masters/CN=mallory", "-keyout",
                        os.path.join(other, "k.pem"), "-out", os.path.join(other, "c.pem")],
                       check=True, capture_output=True)
        code, _ = curl("/pods", os.path.join(other, "c.pem"), os.path.join(other, "k.pem"))
        expect(code == 401, "self-signed certificate: %d" % code)
        code, _ = curl("/pods", fake.server_cert, fake.server_key)
        expect(code == 401, "server-auth-only certificate: %d" % code)

        # Bearer tokens: a TokenReview, then a SubjectAccessReview; the second request uses both caches.
        fake.add_token("admintoken-0123456789", "tokenadmin", "uid-1", ["system:masters"])
        fake.clear_requests()
        n_sar = len(fake.reviews)
        code, body = curl("/pods", token="admintoken-0123456789")
        expect(code == 200, "admin token: %d %s" % (code, body[:200]))
        expect(len(reviews(fake, "tokenreviews")) == 1, "one TokenReview: %s" % fake.requests())
        expect(len(fake.reviews) == n_sar + 1 and fake.reviews[-1]["user"] == "tokenadmin", "one SAR")
        expect(all(x["user"] == "system:node:testnode" for x in fake.requests(method="POST")),
               "reviews sent as the node")
        code, _ = curl("/pods", token="admintoken-0123456789")
        expect(code == 200, "admin token again: %d" % code)
        expect(len(reviews(fake, "tokenreviews")) == 1, "the TokenReview was not cached")
        expect(len(fake.reviews) == n_sar + 1, "the SubjectAccessReview was not cached")
        # A different subresource is a different SAR; the token answer is still cached.
        code, _ = curl("/metrics", token="admintoken-0123456789")
        expect(code == 200 and len(fake.reviews) == n_sar + 2 and fake.reviews[-1]["attributes"]["subresource"] ==
               "metrics", "metrics SAR: %d %s" % (code, fake.reviews[-1]))
        expect(len(reviews(fake, "tokenreviews")) == 1, "token cache across paths")
        # A denial is cached too (cacheUnauthorizedTTL).
        fake.add_token("bobtoken-0123456789", "bob", "uid-2", ["devs"])
        for _ in range(2):
            code, body = curl("/pods", token="bobtoken-0123456789")
            expect(code == 403 and body == "Forbidden (user=bob, verb=get, resource=nodes, subresource=proxy)",
                   "bob: %d %r" % (code, body))
        expect(len([r for r in fake.reviews if r["user"] == "bob"]) == 1, "the denial was not cached")
        # Unknown token: 401 after its TokenReview.
        before = len(reviews(fake, "tokenreviews"))
        code, body = curl("/pods", token="nosuchtoken")
        expect(code == 401 and body.strip() == "Unauthorized", "unknown token: %d %r" % (code, body))
        expect(len(reviews(fake, "tokenreviews")) == before + 1, "unknown token reviewed")

        # /stats/summary for a group granted nodes/stats.
        def summary():
            c, b = curl("/stats/summary", carol_cert, carol_key)
            expect(c == 200, "stats/summary: %d %s" % (c, b[:300]))
            return json.loads(b)

        s = summary()
        check_summary(s)
        p = find_pod(s, "web-testnode")
        expect(p is not None, "pod web not in the summary: %s" % [x["podRef"] for x in s["pods"]])
        c = p["containers"][0]
        expect(c["name"] == "c", "container %s" % c["name"])
        expect(c["memory"]["workingSetBytes"] > 1000000, "working set %s" % c["memory"])
        expect(c["cpu"]["usageCoreNanoSeconds"] > 0, "cpu %s" % c["cpu"])
        expect(p["memory"]["workingSetBytes"] >= c["memory"]["workingSetBytes"], "pod memory %s" % p["memory"])
        expect(s["node"]["memory"]["workingSetBytes"] > 0, "node memory %s" % s["node"]["memory"])
        # usageNanoCores from two samples at least a second apart
        time.sleep(1.5)
        s = summary()
        c = find_pod(s, "web-testnode")["containers"][0]
        expect(c["cpu"].get("usageNanoCores", 0) > 0, "usageNanoCores: %s" % c["cpu"])
        expect("usageNanoCores" in s["node"]["cpu"], "node usageNanoCores: %s" % s["node"]["cpu"])

        # The webhooks failing (the API server answers 503): a token not seen before is refused (401), an
        # authorization not cached is an error (500, like the kubelet), cached answers still work, nothing crashes.
        def unavailable(doc):
            raise ApiError(503, "ServiceUnavailable", "the fake is unavailable", {})

        fake._token_review = fake._access_review = unavailable
        code, _ = curl("/pods", token="another-token-0123456789")
        expect(code == 401, "failing TokenReview: %d" % code)
        code, body = curl("/spec/", token="admintoken-0123456789")
        expect(code == 500 and body == "Authorization error (user=tokenadmin, verb=get, resource=nodes, "
               "subresource=spec)", "failing SubjectAccessReview: %d %r" % (code, body))
        code, _ = curl("/pods", token="admintoken-0123456789")
        expect(code == 200, "cached answers while the webhooks fail: %d" % code)
        expect(n.healthz() == "ok", "healthz after webhook failures")
        log = n.log()
        expect("TokenReview failed" in log and "SubjectAccessReview for user tokenadmin" in log,
               "the webhook failures are logged")
        # A request parked on a review when the daemon exits is handed back cleanly (sanitizer builds: no leak).
        fake._token_review = lambda doc: time.sleep(3) or unavailable(doc)
        parked = subprocess.Popen(["curl", "-sk", "--max-time", "10", "-H", "Authorization: Bearer slow-token",
                                   URL + "/pods"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        rc = n.stop()
        parked.wait(15)
        expect(rc == 0, "daemon exit status %s" % rc)
        log = n.log()
        expect("Sanitizer" not in log and "runtime error:" not in log, "sanitizer reports in the log")
        print("PASS test-kubelet-auth", flush=True)
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
