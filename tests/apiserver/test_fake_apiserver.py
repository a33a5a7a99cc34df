#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The fake apiserver proven against the real one: every exchange of ../shared/k8s-api-v1.26/ that the fake can
reproduce is sent again, in the capture's order and with the same identities and bodies, and the answer must have
the real one's status code, Content-Type and JSON shape (same keys recursively, same types; values that differ by
nature - uids, timestamps, resourceVersions, generated names - are not compared, but carried over: a uid the real
server returned and a later request reused is replaced by the fake's). Then the real kubectl drives the fake.

usage: test_fake_apiserver.py [SOURCE_DIR]   (captures: $NODELET_K8S_CAPTURES or SOURCE_DIR/../shared/k8s-api-v1.26)"""

import http.client
import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, HERE)
import fake_apiserver  # noqa: E402

SOURCE = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..")
CAPTURES = os.environ.get("NODELET_K8S_CAPTURES") or os.path.join(SOURCE, "..", "shared", "k8s-api-v1.26")
IGNORED_KEYS = {"managedFields"}  # the fake does not track field managers
failures = []
checks = 0


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg, flush=True)


def check(cond, msg):
    global checks
    checks += 1
    if not cond:
        fail(msg)
    return cond


# ---- shape comparison ----

def kind_of(v):
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if v is None:
        return "null"
    return type(v).__name__


def _identity(e):
    if isinstance(e, dict):
        if isinstance(e.get("metadata"), dict) and isinstance(e["metadata"].get("name"), str):
            return ("metadata.name", e["metadata"]["name"])
        for k in ("name", "type", "key"):
            if isinstance(e.get(k), str):
                return (k, e[k])
    return None


def shape_diff(real, ours, path="", free=(), subset_lists=False):
    """Differences in shape between real and ours. free: paths (dotted, list indices as []) whose maps may have
    different keys (labels, annotations set by controllers the fake does not run)."""
    out = []
    if kind_of(real) != kind_of(ours):
        return ["%s: %s in the capture, %s from the fake" % (path or ".", kind_of(real), kind_of(ours))]
    if isinstance(real, dict):
        rk = set(real) - IGNORED_KEYS
        ok = set(ours) - IGNORED_KEYS
        if path not in free:
            for k in sorted(rk - ok):
                out.append("%s.%s: missing in the fake's answer" % (path, k))
            for k in sorted(ok - rk):
                out.append("%s.%s: not in the capture" % (path, k))
        for k in sorted(rk & ok):
            out += shape_diff(real[k], ours[k], "%s.%s" % (path, k), free, subset_lists)
    elif isinstance(real, list) and real and ours:
        ids = {_identity(e): e for e in real}
        for i, e in enumerate(ours):
            ident = _identity(e)
            if ident in ids and ident is not None:
                out += shape_diff(ids[ident], e, path + "[]", free, subset_lists)
            elif i < len(real) and not subset_lists:
                out += shape_diff(real[i], e, path + "[]", free, subset_lists)
            elif not subset_lists:
                out += shape_diff(real[0], e, path + "[]", free, subset_lists)
        if not subset_lists and len(real) != len(ours):
            out.append("%s: %d elements in the capture, %d from the fake" % (path, len(real), len(ours)))
    elif isinstance(real, list) and len(real) != len(ours):
        out.append("%s: %d elements in the capture, %d from the fake" % (path, len(real), len(ours)))
    return out


# ---- captures and the client ----

def capture(name):
    with open(os.path.join(CAPTURES, name), "rb") as f:
        return f.read()


class Client:
    def __init__(self, fake, cert=None, key=None, token=None):
        self.fake = fake
        self.ctx = ssl.create_default_context(cafile=fake.ca_path)
        if cert:
            self.ctx.load_cert_chain(cert, key)
        self.token = token

    def request(self, method, path, body=None, ctype=None, timeout=15):
        conn = http.client.HTTPSConnection("127.0.0.1", self.fake.port, context=self.ctx, timeout=timeout)
        headers = {"Accept": "application/json", "User-Agent": "test-fake-apiserver/1.0"}
        if self.token:
            headers["Authorization"] = "Bearer " + self.token
        if body is not None:
            headers["Content-Type"] = ctype or "application/json"
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, resp.headers, data
        finally:
            conn.close()

    def watch_lines(self, path, out, done):
        conn = http.client.HTTPSConnection("127.0.0.1", self.fake.port, context=self.ctx, timeout=30)
        conn.request("GET", path, headers={"Accept": "application/json"})
        resp = conn.getresponse()
        out.append(("status", resp.status, resp.headers.get("Content-Type")))
        while True:
            line = resp.readline()
            if not line:
                break
            out.append(("line", line))
        conn.close()
        done.set()


class Replay:
    def __init__(self, fake, ids):
        self.fake = fake
        self.ids = ids  # identity name -> Client
        self.subst = {}  # value in the captures -> the fake's value

    def learn(self, real, ours):
        """Remember uids, resourceVersions and generated names the real server gave, with the fake's values."""
        if isinstance(real, dict) and isinstance(ours, dict):
            for k in ("uid", "resourceVersion", "continue"):
                if isinstance(real.get(k), str) and isinstance(ours.get(k), str) and real[k] != ours[k]:
                    self.subst[real[k]] = ours[k]
            if real.get("generateName") and isinstance(ours.get("name"), str):
                self.subst[real["name"]] = ours["name"]
            for k in set(real) & set(ours):
                self.learn(real[k], ours[k])
        elif isinstance(real, list) and isinstance(ours, list):
            for a, b in zip(real, ours):
                self.learn(a, b)

    def apply(self, text, quoted=True):
        """Carry the fake's values over: whole JSON strings in bodies; in paths only long values (uids, generated
        names, tokens), so that a short resourceVersion never matches inside something else."""
        for a in sorted(self.subst, key=len, reverse=True):
            if quoted:
                text = text.replace('"%s"' % a, '"%s"' % self.subst[a])
            elif len(a) >= 8:
                text = text.replace(a, self.subst[a])
        return text

    def step(self, ident, method, path, capture_name, status, request=None, ctype=None, free=(), body=None,
             subset_lists=False, headers=None):
        if request:
            body = self.apply(capture(request).decode())
        path = self.apply(path, quoted=False)
        code, hdrs, data = self.ids[ident].request(method, path, body.encode() if isinstance(body, str) else body,
                                                   ctype)
        what = "%s %s %s (%s)" % (ident, method, path, capture_name)
        check(code == status, "%s: status %d, the capture has %d: %s" % (what, code, status, data[:300]))
        check(hdrs.get("Content-Type") == "application/json", "%s: Content-Type %s" % (what,
                                                                                      hdrs.get("Content-Type")))
        try:
            ours = json.loads(data)
        except ValueError:
            fail("%s: not JSON: %r" % (what, data[:200]))
            return None, hdrs
        if capture_name:
            real = json.loads(capture(capture_name))
            diffs = shape_diff(real, ours, "", set(free), subset_lists)
            check(not diffs, "%s: shape differs:\n  %s" % (what, "\n  ".join(diffs)))
            self.learn(real, ours)
        for k, v in (headers or {}).items():
            check(hdrs.get(k) == v, "%s: header %s is %r, the capture has %r" % (what, k, hdrs.get(k), v))
        return ours, hdrs


def watch_async(client, path):
    out, done = [], threading.Event()
    t = threading.Thread(target=client.watch_lines, args=(path, out, done), daemon=True)
    t.start()
    return out, done


def compare_watch(replay, out, capture_name, what):
    real = [json.loads(line) for line in capture(capture_name).splitlines() if line.strip()]
    check(out and out[0][1] == 200 and out[0][2] == "application/json", "%s: watch answered %s" % (what, out[:1]))
    ours = [json.loads(x[1]) for x in out[1:]]
    check([e["type"] for e in ours] == [e["type"] for e in real],
          "%s: event types %s, the capture has %s" % (what, [e["type"] for e in ours], [e["type"] for e in real]))
    for r, o in zip(real, ours):
        diffs = shape_diff(r, o, "", set(), False)
        check(not diffs, "%s: %s event shape differs:\n  %s" % (what, r["type"], "\n  ".join(diffs)))
    check(all(x[1].endswith(b"\n") and b"\n" not in x[1][:-1] for x in out[1:]),
          "%s: events must be one compact JSON per line" % what)
    return ours


# ---- the replay, section by section ----

def replay_sections(tmp):
    fake = fake_apiserver.FakeAPIServer(tls_dir=os.path.join(tmp, "pki-a")).start()
    try:
        ncert, nkey = fake.issue_client_cert("system:node:node1", ["system:nodes"], name="node1")
        ids = {"node1": Client(fake, ncert, nkey), "admin": Client(fake, fake.admin_cert, fake.admin_key),
               "anonymous": Client(fake), "badtoken": Client(fake, token="wrong-token")}
        rp = Replay(fake, ids)
        nosniff = {"X-Content-Type-Options": "nosniff"}

        # 00: authentication and generic errors
        code, _, data = ids["anonymous"].request("GET", "/api/v1/nodes")
        check(code == 401 and json.loads(data)["reason"] == "Unauthorized", "anonymous off: 401, got %d" % code)
        fake.anonymous = True
        rp.step("anonymous", "GET", "/api/v1/nodes", "00-anonymous-list-nodes.response.json", 403, headers=nosniff)
        rp.step("anonymous", "GET", "/version", "00-anonymous-version.response.json", 200)
        fake.anonymous = False
        _, h = rp.step("badtoken", "GET", "/api/v1/nodes", "00-bad-token-list-nodes.response.json", 401)
        check("X-Kubernetes-Pf-Flowschema-Uid" not in h, "401 carries no X-Kubernetes-Pf-* headers")
        rp.step("node1", "GET", "/api/v1/namespaces/default/nosuchresources", "00-not-found-path.response.json", 403)
        rp.step("admin", "GET", "/api/v1/namespaces/default/nosuchresources", "00-not-found-path-admin.response.json",
                404)
        rp.step("node1", "PATCH", "/api/v1/nodes/node1/status", "00-patch-wrong-content-type.response.json", 415,
                request="00-patch-wrong-content-type.request.json")

        # 01: discovery (the fake serves a subset of the groups and resources; those it serves have the same shape)
        rp.step("node1", "GET", "/api", "01-api.response.json", 200)
        rp.step("node1", "GET", "/api/v1", "01-api-v1.response.json", 200, subset_lists=True)
        rp.step("node1", "GET", "/apis", "01-apis.response.json", 200, subset_lists=True)
        rp.step("node1", "GET", "/apis/coordination.k8s.io/v1", "01-apis-coordination-v1.response.json", 200)
        rp.step("node1", "GET", "/apis/discovery.k8s.io/v1", "01-apis-discovery-v1.response.json", 200)
        rp.step("node1", "GET", "/version", "01-version.response.json", 200)

        # 02: node registration; kube-controller-manager's ttl annotation is not added by the fake
        node_free = {".metadata.annotations"}
        rp.step("node1", "POST", "/api/v1/nodes", "02-node-create.response.json", 201,
                request="02-node-create.request.json")
        rp.step("node1", "POST", "/api/v1/nodes", "02-node-create-again.response.json", 409,
                request="02-node-create-again.request.json")
        before = fake.get("nodes", "node1")
        node, _ = rp.step("node1", "PATCH", "/api/v1/nodes/node1/status", "02-node-status-patch.response.json", 200,
                          request="02-node-status-patch.request.json", ctype="application/strategic-merge-patch+json",
                          free=node_free)
        conds = {c["type"]: c for c in node["status"]["conditions"]}
        old = {c["type"]: c for c in before["status"]["conditions"]}
        check(conds["Ready"]["lastHeartbeatTime"] == "2026-11-23T08:01:38Z" and
              conds["Ready"]["lastTransitionTime"] == old["Ready"]["lastTransitionTime"] and
              conds["MemoryPressure"] == old["MemoryPressure"] and
              [c["type"] for c in node["status"]["conditions"]] == ["MemoryPressure", "DiskPressure", "PIDPressure",
                                                                    "Ready"],
              "strategic merge by type with $setElementOrder changed exactly Ready.lastHeartbeatTime")
        rp.step("node1", "GET", "/api/v1/nodes/node1", "02-node-get.response.json", 200, free=node_free)
        rp.step("node1", "POST", "/api/v1/nodes", "02-node-create-other-node.response.json", 403,
                request="02-node-create-other-node.request.json")
        rp.step("node1", "GET", "/api/v1/nodes?fieldSelector=metadata.name%3Dnode1&limit=500",
                "02-node-list-by-name.response.json", 200, free={".items[].metadata.annotations"})

        # 03: the node's Lease
        lp = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"
        rp.step("node1", "POST", lp, "03-lease-create.response.json", 201, request="03-lease-create.request.json")
        rp.step("node1", "PUT", lp + "/node1", "03-lease-renew.response.json", 200,
                request="03-lease-renew.request.json")
        rp.step("node1", "PUT", lp + "/node1", "03-lease-renew-stale.response.json", 409,
                request="03-lease-renew-stale.request.json")
        rp.step("node1", "POST", lp, "03-lease-create-other-node.response.json", 403,
                request="03-lease-create-other-node.request.json")
        rp.step("node1", "GET", lp + "/node1", "03-lease-get.response.json", 200)
        rp.step("node1", "GET", lp + "/node3", "03-lease-get-other-node.response.json", 403, headers=nosniff)

        # 04: objects created by the admin, with the server's defaults
        for f, path in (("04-configmap-create", "configmaps"), ("04-secret-create", "secrets"),
                        ("04-configmap-unrelated-create", "configmaps"), ("04-secret-unrelated-create", "secrets"),
                        ("04-pod-basic-create", "pods"), ("04-pod-init-create", "pods"),
                        ("04-pod-config-create", "pods")):
            rp.step("admin", "POST", "/api/v1/namespaces/default/" + path, f + ".response.json", 201,
                    request=f + ".request.json")

        # 05: LIST + WATCH as node1 while the admin creates, patches and deletes a pod and node1 confirms
        lst, _ = rp.step("node1", "GET", "/api/v1/pods?fieldSelector=spec.nodeName%3Dnode1&limit=500",
                         "05-pods-list-node1.response.json", 200)
        wpath = ("/api/v1/pods?allowWatchBookmarks=true&fieldSelector=spec.nodeName%%3Dnode1&resourceVersion=%s"
                 "&timeoutSeconds=2&watch=true" % lst["metadata"]["resourceVersion"])
        out, done = watch_async(ids["node1"], wpath)
        time.sleep(0.2)
        rp.step("admin", "POST", "/api/v1/namespaces/default/pods", "05-watched-pod-create.response.json", 201,
                request="05-watched-pod-create.request.json")
        rp.step("admin", "PATCH", "/api/v1/namespaces/default/pods/watched", "05-watched-pod-label-patch.response.json",
                200, request="05-watched-pod-label-patch.request.json", ctype="application/merge-patch+json")
        rp.step("admin", "DELETE", "/api/v1/namespaces/default/pods/watched?gracePeriodSeconds=30",
                "05-watched-pod-delete-grace30.response.json", 200)
        check(fake.get("pods", "watched", "default") is not None, "a pod deleted with grace 30 stays")
        rp.step("node1", "DELETE", "/api/v1/namespaces/default/pods/watched",
                "05-watched-pod-delete-final.response.json", 200, request="05-watched-pod-delete-final.request.json")
        check(done.wait(10), "the watch ends at timeoutSeconds")
        compare_watch(rp, out, "05-pods-watch-node1.jsonl", "05 pods watch")
        out, done = watch_async(ids["node1"], "/api/v1/pods?allowWatchBookmarks=true&fieldSelector=spec.nodeName%%3D"
                                "node1&resourceVersion=%d&timeoutSeconds=1&watch=true" % fake.rv)
        check(done.wait(10) and len(out) == 1, "a quiet watch sends nothing, not even a bookmark: %s" % out[1:])
        out, done = watch_async(ids["node1"], "/api/v1/pods?allowWatchBookmarks=true&fieldSelector=spec.nodeName%3D"
                                "node1&resourceVersion=1&timeoutSeconds=1&watch=true")
        check(done.wait(10), "the rv=1 watch ends")
        types = [json.loads(x[1])["type"] for x in out[1:]]
        check("ADDED" in types and "DELETED" in types and "ERROR" not in types,
              "resourceVersion=1 on a young server replays the history: %s" % types)
        fake.compact()
        out, done = watch_async(ids["node1"], "/api/v1/pods?allowWatchBookmarks=true&fieldSelector=spec.nodeName%3D"
                                "node1&resourceVersion=1&timeoutSeconds=20&watch=true")
        check(done.wait(5), "a too-old watch is closed at once")
        compare_watch(rp, out, "05-pods-watch-too-old.jsonl", "too-old watch")

        # 06: pod status as node1
        sp = "/api/v1/namespaces/default/pods/basic/status"
        smp = "application/strategic-merge-patch+json"
        warning = '299 - "unknown field \\"status.hostIPs\\""'
        rp.step("node1", "PATCH", sp + "?fieldValidation=Strict", "06-pod-status-patch-strict.response.json", 422,
                request="06-pod-status-patch-strict.request.json", ctype=smp)
        st, _ = rp.step("admin", "GET", "/api/v1/namespaces/default/pods/basic", None, 200)
        check(st["status"]["phase"] == "Pending", "a rejected strict patch changes nothing")
        rp.step("node1", "PATCH", sp, "06-pod-status-patch.response.json", 200,
                request="06-pod-status-patch.request.json", ctype=smp, headers={"Warning": warning})
        rp.step("node1", "PATCH", sp, "06-pod-status-patch-wrong-uid.response.json", 422,
                request="06-pod-status-patch-wrong-uid.request.json", ctype=smp, headers={"Warning": warning})
        rp.step("admin", "POST", "/api/v1/namespaces/default/pods", "06-pod-on-node2-create.response.json", 201,
                request="06-pod-on-node2-create.request.json")
        rp.step("node1", "PATCH", "/api/v1/namespaces/default/pods/on-node2/status",
                "06-pod-status-patch-other-node.response.json", 403,
                request="06-pod-status-patch-other-node.request.json", ctype=smp)
        rp.step("node1", "GET", "/api/v1/namespaces/default/pods/on-node2", "06-pod-get-other-node.response.json", 200)
        pod, _ = rp.step("node1", "GET", "/api/v1/namespaces/default/pods/basic", "06-pod-get.response.json", 200)
        check("hostIPs" not in pod["status"] and pod["status"]["phase"] == "Running" and
              pod["spec"]["containers"][0]["image"] == "busybox:1.36", "status patch: status only, unknown dropped")

        # 07: deletion flow
        pp = "/api/v1/namespaces/default/pods/"
        rp.step("admin", "DELETE", pp + "with-init", "07-pod-delete-grace30.response.json", 200,
                request="07-pod-delete-grace30.request.json")
        rp.step("node1", "DELETE", pp + "with-init", "07-pod-delete-final.response.json", 200,
                request="07-pod-delete-final.request.json")
        rp.step("node1", "GET", pp + "with-init", "07-pod-get-after-delete.response.json", 404)
        rp.step("node1", "DELETE", pp + "basic", "07-pod-delete-wrong-uid.response.json", 409,
                request="07-pod-delete-wrong-uid.request.json")
        rp.step("node1", "DELETE", pp + "with-init", "07-pod-delete-again.response.json", 404,
                request="07-pod-delete-again.request.json")
        rp.step("node1", "DELETE", pp + "on-node2", "07-pod-delete-other-node.response.json", 403,
                request="07-pod-delete-other-node.request.json")

        # 08: ConfigMaps, Secrets and TokenRequest as node1 (the Node authorizer's graph)
        ns = "/api/v1/namespaces/default/"
        rp.step("node1", "GET", ns + "configmaps/app-config", "08-configmap-get.response.json", 200)
        rp.step("node1", "GET", ns + "secrets/app-secret", "08-secret-get.response.json", 200)
        rp.step("node1", "GET", ns + "configmaps/kube-root-ca.crt", "08-configmap-kube-root-ca-get.response.json", 200)
        for f, path in (("08-configmap-get-unrelated", "configmaps/unrelated-config"),
                        ("08-secret-get-unrelated", "secrets/unrelated-secret"),
                        ("08-configmap-get-missing", "configmaps/does-not-exist"), ("08-configmap-list", "configmaps"),
                        ("08-configmap-list-by-name-unrelated",
                         "configmaps?fieldSelector=metadata.name%3Dunrelated-config&limit=500")):
            rp.step("node1", "GET", ns + path, f + ".response.json", 403, headers=nosniff)
        rp.step("node1", "GET", ns + "configmaps?fieldSelector=metadata.name%3Dapp-config&limit=500",
                "08-configmap-list-by-name.response.json", 200)
        tok, _ = rp.step("node1", "POST", ns + "serviceaccounts/default/token", "08-token-request.response.json",
                         201, request="08-token-request.request.json")
        check(tok["status"]["token"].count(".") == 2, "TokenRequest returns a JWT-shaped token")
        rp.step("node1", "POST", ns + "serviceaccounts/default/token", "08-token-request-unbound.response.json", 403,
                request="08-token-request-unbound.request.json")
        rp.step("node1", "POST", ns + "serviceaccounts/default/token", "08-token-request-other-node.response.json",
                403, request="08-token-request-other-node.request.json")

        # 09: events
        ev1 = "/apis/events.k8s.io/v1/namespaces/default/events"
        rp.step("node1", "POST", ns + "events", "09-event-create-corev1.response.json", 201,
                request="09-event-create-corev1.request.json")
        rp.step("node1", "PATCH", ns + "events/basic.18ea9e05f6ff7547", "09-event-patch-corev1.response.json", 200,
                request="09-event-patch-corev1.request.json", ctype=smp)
        rp.step("node1", "POST", ev1, "09-event-create-eventsv1.response.json", 403,
                request="09-event-create-eventsv1.request.json")
        rp.step("node1", "GET", ns + "events/basic.18ea9e05f6ff7547", "09-event-get-forbidden.response.json", 403)
        rp.step("admin", "POST", ev1, "09-event-create-eventsv1-admin.response.json", 201,
                request="09-event-create-eventsv1-admin.request.json")
        rp.step("admin", "GET", ns + "events/basic.18ea9e08247bb11f", "09-event-eventsv1-read-as-corev1.response.json",
                200)
        rp.step("admin", "GET", ev1 + "/basic.18ea9e05f6ff7547", "09-event-corev1-read-as-eventsv1.response.json",
                200)

        # 10: CSRs: created, approved through the approval subresource, signed with the fake's CA
        cp = "/apis/certificates.k8s.io/v1/certificatesigningrequests"
        rp.step("admin", "POST", cp, "10-csr-create.response.json", 201, request="10-csr-create.request.json")
        rp.step("node1", "POST", cp, "10-csr-node1-create.response.json", 201,
                request="10-csr-node1-create.request.json")
        rp.step("node1", "GET", cp + "/csr-7k8fx", "10-csr-node1-get-pending.response.json", 200)
        body = json.loads(capture("10-csr-node1-create.request.json"))
        body["metadata"] = {"name": "node1-rotation-json-approval"}
        rp.step("node1", "POST", cp, None, 201, body=json.dumps(body))
        rp.subst["27365950-b752-4f36-9c6f-208c3f407107"] = fake.get(
            "certificatesigningrequests.certificates.k8s.io", "node1-rotation-json-approval")["metadata"]["uid"]
        rp.subst["482"] = "%s" % fake.get("certificatesigningrequests.certificates.k8s.io",
                                              "node1-rotation-json-approval")["metadata"]["resourceVersion"]
        rp.step("admin", "PUT", cp + "/node1-rotation-json-approval/approval",
                "10-csr-approval-put-json.response.json", 200, request="10-csr-approval-put-json.request.json")
        fake.approve_csr(rp.apply("csr-7k8fx", quoted=False))
        rp.step("node1", "GET", cp + "/csr-7k8fx", "10-csr-node1-get-approved.response.json", 200)
        fake.sign_csr(rp.apply("csr-7k8fx", quoted=False))
        csr, _ = rp.step("node1", "GET", cp + "/csr-7k8fx", "10-csr-node1-get-issued.response.json", 200)
        import base64
        pem = base64.b64decode(csr["status"]["certificate"])
        subj = subprocess.run(["openssl", "x509", "-noout", "-subject", "-issuer"], input=pem,
                              stdout=subprocess.PIPE).stdout.decode()
        check("system:node:node1" in subj and "O = system:nodes" in subj and "fake-apiserver-ca" in subj,
              "the issued certificate keeps the CSR's subject and is signed by the fake's CA: %s" % subj)

        # 11: Service, EndpointSlice (no controller in the fake: the test writes the slice)
        rp.step("admin", "POST", ns + "services", "11-service-create.response.json", 201,
                request="11-service-create.request.json")
        rp.step("admin", "POST", ns + "pods", "11-pod-web-create.response.json", 201,
                request="11-pod-web-create.request.json")
        rp.step("node1", "PATCH", ns + "pods/web-1/status", "11-pod-web-status-patch.response.json", 200,
                request="11-pod-web-status-patch.request.json", ctype=smp)
        real_slice = json.loads(capture("11-endpointslice-list.response.json"))["items"][0]
        real_slice = {k: v for k, v in real_slice.items()}
        real_slice["metadata"] = {k: v for k, v in real_slice["metadata"].items()
                                  if k in ("generateName", "labels", "annotations", "ownerReferences")}
        real_slice.update(kind="EndpointSlice", apiVersion="discovery.k8s.io/v1")
        rp.step("admin", "POST", "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices", None, 201,
                body=rp.apply(json.dumps(real_slice)))
        rp.step("admin", "GET", "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices?labelSelector="
                "kubernetes.io%2Fservice-name%3Dweb", "11-endpointslice-list.response.json", 200)
        rp.step("node1", "GET", "/api/v1/services?limit=500", "11-services-list-node1.response.json", 200)
        rp.step("node1", "GET", "/apis/discovery.k8s.io/v1/endpointslices?limit=500",
                "11-endpointslice-list-node1.response.json", 403, headers=nosniff)
        rp.step("admin", "DELETE", ns + "pods/web-1?gracePeriodSeconds=30", "11-pod-web-delete-grace30.response.json",
                200)

        # the request log
        log = fake.requests(user="system:node:node1", verb="patch", resource="pods", subresource="status")
        check(len(log) == 5 and all(e["method"] == "PATCH" for e in log) and log[-1]["status"] == 200,
              "request log records node1's pod status patches: %s" % [(e["path"], e["status"]) for e in log])
    finally:
        fake.stop()


def replay_section12(tmp):
    """Sections 12 and 13 were taken on a fresh control plane: a fresh fake."""
    fake = fake_apiserver.FakeAPIServer(tls_dir=os.path.join(tmp, "pki-b")).start()
    try:
        ncert, nkey = fake.issue_client_cert("system:node:node1", ["system:nodes"], name="node1")
        ids = {"node1": Client(fake, ncert, nkey), "admin": Client(fake, fake.admin_cert, fake.admin_key)}
        rp = Replay(fake, ids)
        ns = "/api/v1/namespaces/default/"
        rp.step("node1", "POST", "/api/v1/nodes", "13-node-create.response.json", 201,
                request="13-node-create.request.json")
        rp.step("node1", "PATCH", "/api/v1/nodes/node1/status", "13-node-status-patch.response.json", 200,
                request="13-node-status-patch.request.json", ctype="application/strategic-merge-patch+json",
                free={".metadata"})  # kube-controller-manager's ttl annotation
        rp.step("admin", "POST", ns + "pods", "13-pod-web-create.response.json", 201,
                request="13-pod-web-create.request.json")
        rp.step("node1", "PATCH", ns + "pods/web/status", "13-pod-web-status-patch.response.json", 200,
                request="13-pod-web-status-patch.request.json", ctype="application/strategic-merge-patch+json")
        # No kubelet listens on the node's address: the real server's 500 (proxying itself is tested with nodelet
        # in tests/agent/test-streaming.py).
        code, _, data = ids["admin"].request("GET", ns + "pods/web/log")
        with open(os.path.join(CAPTURES, "13-pod-log-kubelet-down.response.json")) as f:
            want = json.load(f)
        check(code == 500 and json.loads(data) == want, "pods/log with the kubelet down: %s %s" % (code, data))
        rp.step("admin", "POST", ns + "services", "12-service-headless-create.response.json", 201,
                request="12-service-headless-create.request.json")
        rp.step("admin", "POST", ns + "services", "12-service-nodeport-create.response.json", 201,
                request="12-service-nodeport-create.request.json")
        # the other Services of the capture's set-up, from their captured specs
        for page in ("12-services-list-page1.response.json", "12-services-list-page2.response.json",
                     "12-services-list-page3.response.json"):
            for item in json.loads(capture(page))["items"]:
                if item["metadata"]["name"] in ("api", "cache", "db", "metrics", "queue"):
                    spec = {"selector": item["spec"]["selector"],
                            "ports": [{k: v for k, v in p.items() if k != "protocol"} for p in item["spec"]["ports"]]}
                    fake.create({"apiVersion": "v1", "kind": "Service", "spec": spec,
                                 "metadata": {"name": item["metadata"]["name"], "namespace": "default"}})
        p1, _ = rp.step("node1", "GET", "/api/v1/services?limit=3", "12-services-list-page1.response.json", 200)
        check([i["metadata"]["name"] for i in p1["items"]] == ["api", "api-headless", "cache"] and
              p1["metadata"]["remainingItemCount"] == 5, "page 1: key order, remainingItemCount")
        p2, _ = rp.step("node1", "GET", "/api/v1/services?limit=3&continue=" + p1["metadata"]["continue"],
                        "12-services-list-page2.response.json", 200)
        p3, _ = rp.step("node1", "GET", "/api/v1/services?limit=3&continue=" + p2["metadata"]["continue"],
                        "12-services-list-page3.response.json", 200)
        check(p3["metadata"]["resourceVersion"] == p1["metadata"]["resourceVersion"],
              "every page carries the first page's resourceVersion")
        rp.step("node1", "GET", "/api/v1/services?limit=3&resourceVersion=0", "12-services-list-rv0-limit3.response."
                "json", 200)
        rp.step("node1", "GET", "/api/v1/services?limit=3&continue=not-a-valid-token",
                "12-services-list-continue-garbled.response.json", 400)
        rp.step("node1", "GET", "/api/v1/services?limit=3&continue=%s&resourceVersion=%s" % (
            p1["metadata"]["continue"], p1["metadata"]["resourceVersion"]),
            "12-services-list-continue-with-rv.response.json", 400)
        rp.step("node1", "GET", "/apis/discovery.k8s.io/v1/endpointslices?limit=3",
                "12-endpointslices-list-node1-forbidden.response.json", 403)
        out, done = watch_async(ids["node1"], "/api/v1/services?allowWatchBookmarks=true&resourceVersion=%s"
                                "&timeoutSeconds=2&watch=true" % p1["metadata"]["resourceVersion"])
        time.sleep(0.2)
        rp.step("admin", "POST", ns + "services", "12-watched-service-create.response.json", 201,
                request="12-watched-service-create.request.json")
        rp.step("admin", "PATCH", ns + "services/temp", "12-watched-service-label-patch.response.json", 200,
                request="12-watched-service-label-patch.request.json", ctype="application/merge-patch+json")
        rp.step("admin", "DELETE", ns + "services/temp", "12-watched-service-delete.response.json", 200)
        check(done.wait(10), "the service watch ends")
        # the capture got two bookmarks in 5 s; the fake sends one before the deadline
        real = [json.loads(x) for x in capture("12-services-watch-bookmark.jsonl").splitlines()]
        ours = [json.loads(x[1]) for x in out[1:]]
        check([e["type"] for e in ours] == ["ADDED", "MODIFIED", "DELETED", "BOOKMARK"],
              "service watch events: %s" % [e["type"] for e in ours])
        for r, o in zip(real, ours):
            check(not shape_diff(r, o), "service watch %s shape: %s" % (r["type"], shape_diff(r, o)))
        check(ours[-1]["object"]["metadata"]["resourceVersion"] == ours[-2]["object"]["metadata"]["resourceVersion"],
              "the bookmark carries the resourceVersion of the last Service event")
        fake.compact()
        exp, _ = rp.step("node1", "GET", "/api/v1/services?limit=3&continue=" + p1["metadata"]["continue"],
                         "12-services-list-continue-expired.response.json", 410)
        rp.step("node1", "GET", "/api/v1/services?limit=3&continue=" + exp["metadata"]["continue"],
                "12-services-list-continue-inconsistent.response.json", 200)
    finally:
        fake.stop()


def semantics(tmp):
    """What the captures do not show directly: json-patch, finalizers, label/field selectors on watches, bootstrap
    tokens, static tokens, TLS with a foreign client certificate, subprocess mode."""
    fake = fake_apiserver.FakeAPIServer(tls_dir=os.path.join(tmp, "pki-c")).start()
    try:
        admin = Client(fake, fake.admin_cert, fake.admin_key)
        cm = fake.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"a": "1"}},
                          "data": {"k": "v"}})
        code, _, data = admin.request("PATCH", "/api/v1/namespaces/default/configmaps/c", json.dumps(
            [{"op": "replace", "path": "/data/k", "value": "w"}, {"op": "add", "path": "/data/n", "value": "x"}]),
            "application/json-patch+json")
        check(code == 200 and json.loads(data)["data"] == {"k": "w", "n": "x"}, "json patch: %s" % data[:200])
        out, done = watch_async(admin, "/api/v1/namespaces/default/configmaps?labelSelector=a%%3D1&watch=1&"
                                "resourceVersion=%s&timeoutSeconds=2" % cm["metadata"]["resourceVersion"])
        time.sleep(0.2)
        fake.patch("configmaps", "c", {"metadata": {"labels": {"a": "2"}}}, "default")
        fake.patch("configmaps", "c", {"metadata": {"labels": {"a": "1"}}}, "default")
        check(done.wait(5), "watch ended")
        types = [json.loads(x[1])["type"] for x in out[1:]]
        check(types == ["MODIFIED", "DELETED", "ADDED"], "a watch with a label selector sees objects leave and "
                                                         "enter: %s" % types)
        fake.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "f", "finalizers": ["x/y"]}})
        fake.delete("configmaps", "f", "default")
        check(fake.get("configmaps", "f", "default")["metadata"].get("deletionTimestamp"), "finalizers hold deletes")
        fake.patch("configmaps", "f", {"metadata": {"finalizers": None}}, "default")
        check(fake.get("configmaps", "f", "default") is None, "the last finalizer removed deletes the object")
        # tokens
        fake.add_token("static-token", "system:kube-proxy", "uid-1", [])
        code, _, _ = Client(fake, token="static-token").request("GET", "/apis/discovery.k8s.io/v1/endpointslices")
        check(code == 200, "the kube-proxy identity may list EndpointSlices (%d)" % code)
        fake.add_bootstrap_token("abcdef", "0123456789abcdef")
        boot = Client(fake, token="abcdef.0123456789abcdef")
        body = json.loads(capture("10-csr-node1-create.request.json")) if os.path.isdir(CAPTURES) else None
        if body:
            code, _, data = boot.request("POST", "/apis/certificates.k8s.io/v1/certificatesigningrequests",
                                         json.dumps(body))
            csr = json.loads(data)
            check(code == 201 and csr["spec"]["username"] == "system:bootstrap:abcdef" and
                  "system:bootstrappers" in csr["spec"]["groups"], "bootstrap token creates CSRs: %s" % data[:300])
            fake.auto_approve = fake.auto_sign = True
            fake.patch("certificatesigningrequests.certificates.k8s.io", csr["metadata"]["name"],
                       {"metadata": {"labels": {"touch": "1"}}})
            got = fake.wait_for("certificatesigningrequests.certificates.k8s.io", csr["metadata"]["name"],
                                predicate=lambda o: bool(o and o["status"].get("certificate")), timeout=10)
            check(got["status"]["conditions"][0]["reason"] == "AutoApproved", "auto-approve and auto-sign")
        code, _, _ = boot.request("GET", "/api/v1/nodes")
        check(code == 403, "a bootstrap token may not list nodes (%d)" % code)
        # a client certificate from another CA does not get in
        other = tempfile.mkdtemp(dir=tmp)
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-days", "1", "-subj", "/O=system:masters/CN=evil", "-keyout", other + "/k",
                        "-out", other + "/c"], check=True, stderr=subprocess.DEVNULL)
        try:
            code, _, _ = Client(fake, other + "/c", other + "/k").request("GET", "/api/v1/nodes")
            check(code == 401, "foreign certificate: %d" % code)
        except (ssl.SSLError, OSError):
            check(True, "")
        for _ in range(50):  # the server thread logs the failed handshake after the client saw it fail
            if any(e["method"] == "TLS" for e in fake.requests()):
                break
            time.sleep(0.1)
        check(any(e["method"] == "TLS" for e in fake.requests()), "the failed handshake is in the request log")
    finally:
        fake.stop()


def subprocess_mode(tmp):
    d = os.path.join(tmp, "cli")
    state = os.path.join(tmp, "state.json")
    proc = subprocess.Popen(["/usr/bin/python3", os.path.join(HERE, "fake_apiserver.py"), "--port", "0",
                             "--tls-dir", d, "--state-file", state, "--node", "node1"], stdout=subprocess.PIPE)
    try:
        info = json.loads(proc.stdout.readline())
        check(info["url"].startswith("https://127.0.0.1:") and os.path.exists(info["ca"]) and
              os.path.exists(info["nodes"]["node1"]["kubeconfig"]), "the CLI prints its URL, CA and kubeconfigs")
        fake = type("F", (), {"port": info["port"], "ca_path": info["ca"]})
        admin = Client(fake, info["admin_cert"], info["admin_key"])
        code, _, _ = admin.request("POST", "/api/v1/namespaces/default/configmaps",
                                   json.dumps({"metadata": {"name": "persisted"}, "data": {"a": "b"}}))
        code2, _, data = admin.request("GET", "/fake/requests")
        check(code == 201 and code2 == 200 and json.loads(data)[-1]["status"] == 201, "/fake/requests")
    finally:
        proc.terminate()
        proc.wait(10)
    with open(state) as f:
        names = [o["metadata"]["name"] for o in json.load(f)["objects"]]
    check("persisted" in names, "--state-file keeps the objects at exit")


def kubectl(tmp):
    exe = shutil.which("kubectl")
    if not exe:
        print("kubectl not found: skipping the kubectl part", flush=True)
        return
    fake = fake_apiserver.FakeAPIServer(tls_dir=os.path.join(tmp, "pki-k")).start()
    try:
        adm = fake.write_kubeconfig(os.path.join(tmp, "admin.kubeconfig"), fake.admin_cert, fake.admin_key)
        ncert, nkey = fake.issue_client_cert("system:node:node1", ["system:nodes"], name="node1")
        nk = fake.write_kubeconfig(os.path.join(tmp, "node1.kubeconfig"), ncert, nkey)
        env = dict(os.environ, KUBECONFIG=adm, HOME=tmp)

        def run(*args, kubeconfig=adm, stdin=None):
            r = subprocess.run([exe, "--kubeconfig", kubeconfig] + list(args), input=stdin, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=env, timeout=30)
            return r.returncode, r.stdout.decode(), r.stderr.decode()

        rc, out, err = run("create", "-f", "-", kubeconfig=nk, stdin=json.dumps({
            "apiVersion": "v1", "kind": "Node", "metadata": {"name": "node1"}}).encode())
        check(rc == 0, "kubectl create node as node1: %s" % err)
        rc, out, err = run("get", "nodes")
        check(rc == 0 and "node1" in out, "kubectl get nodes: %s %s" % (out, err))
        pod = ("apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  labels: {app: web}\nspec:\n  nodeName: node1\n"
               "  containers:\n  - name: web\n    image: busybox:1.36\n")
        rc, out, err = run("apply", "-f", "-", stdin=pod.encode())
        check(rc == 0 and "pod/web created" in out, "kubectl apply: %s %s" % (out, err))
        rc, out, err = run("apply", "-f", "-", stdin=pod.replace("app: web", "app: web2").encode())
        check(rc == 0 and "configured" in out, "kubectl apply of a change: %s %s" % (out, err))
        rc, out, err = run("get", "pod", "web", "-o", "json")
        obj = json.loads(out) if rc == 0 else {}
        check(obj.get("metadata", {}).get("labels") == {"app": "web2"} and obj["spec"]["restartPolicy"] == "Always",
              "kubectl get pod -o json: %s" % err)
        wait = subprocess.Popen([exe, "--kubeconfig", adm, "wait", "--for=condition=Ready", "pod/web",
                                 "--timeout=15s"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        time.sleep(0.5)
        rc, out, err = run("patch", "pod", "web", "--subresource=status", "--type=strategic", "-p", json.dumps(
            {"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}), kubeconfig=nk)
        check(rc == 0, "node1 patches the pod status with kubectl: %s" % err)
        out, err = wait.communicate(timeout=30)
        check(wait.returncode == 0 and b"condition met" in out, "kubectl wait --for=condition=Ready: %s %s" % (
            out, err))
        rc, out, err = run("delete", "pod", "web", "--wait=false")
        check(rc == 0 and fake.get("pods", "web", "default")["metadata"].get("deletionTimestamp"),
              "kubectl delete: graceful: %s" % err)
    finally:
        fake.stop()


def main():
    tmp = tempfile.mkdtemp(prefix="test-fake-apiserver.")
    try:
        start = time.monotonic()
        if os.path.isdir(CAPTURES):
            replay_sections(tmp)
            replay_section12(tmp)
        else:
            print("captures not found at %s: skipping the replay" % CAPTURES, flush=True)
        semantics(tmp)
        subprocess_mode(tmp)
        kubectl(tmp)
        print("%d checks, %d failures, %.1f s" % (checks, len(failures), time.monotonic() - start))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
