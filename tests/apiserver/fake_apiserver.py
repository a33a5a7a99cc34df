#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""A fake kube-apiserver (v1.26 semantics) for nodelet's cluster-mode tests. Python standard library plus the
`openssl` command line tool; nothing is copied from Kubernetes, the behaviour follows the real server's answers
recorded in /work/shared/k8s-api-v1.26/ (tests/apiserver/test_fake_apiserver.py replays them against this fake).

Run it:
    fake_apiserver.py --port 0 --tls-dir DIR [--state-file FILE] [--node node1] [--token-file F] [--anonymous]
                      [--bootstrap-token abcdef.0123456789abcdef] [--auto-approve] [--auto-sign] [--san IP]
It prints one JSON line on stdout ({"url", "port", "ca", "admin_kubeconfig", "admin_cert", "admin_key", "nodes"})
and serves until SIGTERM/SIGINT; with --state-file the objects are loaded at start and written back at exit.
Subprocess users (C or shell tests, benchmarks) drive it with the admin credentials and the /fake/ endpoints:
    GET  /fake/requests[?since=N]   the request log (JSON list), N = index of the first entry wanted
    POST /fake/requests/clear       forget the log
    POST /fake/compact              drop the watch history: older resourceVersions and continue tokens get 410
    POST /fake/close-watches        end every open watch stream (clients must re-watch)
    POST /fake/csr/<name>/approve   approve a CSR (as `kubectl certificate approve` would)
    POST /fake/csr/<name>/deny[?reason=R&message=M]  deny it (the Denied condition, as `kubectl certificate deny`)
    POST /fake/csr/<name>/sign      issue the certificate of an approved CSR with the fake's CA

Import it:
    fake = FakeAPIServer(tls_dir=None, port=0)    # tls_dir None: a temporary directory removed by stop()
    fake.start(); fake.url; fake.ca_path
    cert, key = fake.issue_client_cert("system:node:node1", ["system:nodes"])
    fake.write_kubeconfig(path, cert=cert, key=key) / fake.add_token(token, user, uid, groups)
    fake.create(obj) / get(resource, name, ns) / list(resource, ns) / update(obj) / patch(resource, name, patch,
        ns, patch_type) / delete(resource, name, ns, grace=None) / wait_for(resource, name, ns, predicate, timeout)
    fake.approve_csr(name) / fake.deny_csr(name, reason, message) / fake.sign_csr(name, seconds=None) / fake.compact() / fake.close_watches()
    fake.requests(**filters) / fake.clear_requests() / fake.stop()
Resources are named as in URLs: "pods", "nodes", "leases.coordination.k8s.io", "endpointslices.discovery.k8s.io",
"certificatesigningrequests.certificates.k8s.io", "events" ...

Implemented: HTTPS with client certificates (CN = user, O = groups) and bearer tokens (static token file,
bootstrap tokens, tokens issued by TokenRequest); discovery; Node, Pod, Service, Endpoints, EndpointSlice, Lease,
ConfigMap, Secret, ServiceAccount (+token), Namespace, Event (core/v1 and events.k8s.io/v1, one storage),
CertificateSigningRequest (+approval, +status); create/get/list/watch/update/patch/delete with resourceVersion,
label and field selectors, limit/continue, bookmarks, 410 for compacted history, merge / strategic merge / JSON
patch, status subresources, preconditions, graceful pod deletion, finalizers, field validation warnings; the Node
authorizer and NodeRestriction admission as the captures show them; Table output for kubectl get; TokenReview
and SubjectAccessReview (answered by this fake's own authenticator and authorizer; fake.reviews lists the SARs).

TODO (not implemented yet; the stubs answer 501 NotImplemented):
  - nodes/proxy (pods/log, exec, attach and portforward are proxied to the kubelet API, upgrades included, as
    kube-apiserver-kubelet-client; fake.kubelet_host overrides the node's InternalIP)
  - server-side apply (application/apply-patch+yaml), protobuf bodies, deletecollection, dry runs
  - controllers: no scheduler, no endpointslice controller, no garbage collector (propagationPolicy is ignored)
Known differences: an expired or foreign client certificate fails the TLS handshake (the real server answers
401); validation of object contents is minimal; pod spec updates are not restricted."""

import argparse
import base64
import bisect
import copy
import datetime
import decimal
import hashlib
import hmac
import http.server
import json
import os
import random
import re
import shutil
import signal
import socket
import socketserver
import ssl
import string
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid

VERSION_INFO = {
    "major": "1",
    "minor": "26",
    "gitVersion": "v1.26.1",
    "gitCommit": "8f94681cd294aa8cfd3407b8191f6c70214973a4",
    "gitTreeState": "archive",
    "buildDate": "2023-01-18T15:51:25Z",
    "goVersion": "go1.19.8",
    "compiler": "gc",
    "platform": "linux/amd64",
}

ISSUER = "https://kubernetes.default.svc"
ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
WATCH_HISTORY_LIMIT = 500000


# ---------------------------------------------------------------------------------------------------------------
# small helpers


def now_ts(t=None):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() if t is None else t))


def now_micro():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_ts(s):
    try:
        return datetime.datetime.strptime(s[:19], "%Y-%m-%dT%H:%M:%S").replace(
            tzinfo=datetime.timezone.utc).timestamp()
    except (TypeError, ValueError):
        return None


def compact(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def rand_suffix(n=5):
    # Same alphabet as the real name generator: no vowels, no confusable digits.
    return "".join(random.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(n))


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def go_value(v):
    """fmt.Sprintf("%v") of what Go's JSON decoder makes of v (map[string]interface{} etc.): the real server quotes
    a patch that way in strict validation errors."""
    if isinstance(v, dict):
        return "map[" + " ".join("%s:%s" % (k, go_value(v[k])) for k in sorted(v)) + "]"
    if isinstance(v, list):
        return "[" + " ".join(go_value(x) for x in v) + "]"
    if v is None:
        return "<nil>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        # JSON numbers are float64 in Go; %v prints them like %g with the shortest precision (1e+06, 3607, 0.5)
        f = float(v)
        if f == 0:
            return "0"
        sign, digits, exp = decimal.Decimal(repr(f)).normalize().as_tuple()
        x = len(digits) + exp - 1
        text = "".join(map(str, digits))
        neg = "-" if sign else ""
        if x < -4 or x >= 6:
            mant = text[0] + ("." + text[1:] if len(text) > 1 else "")
            return "%s%se%s%02d" % (neg, mant, "-" if x < 0 else "+", abs(x))
        return neg + format(abs(decimal.Decimal(repr(f)).normalize()), "f")
    return str(v)


def deep_get(obj, path, default=None):
    for part in path:
        if not isinstance(obj, dict) or part not in obj:
            return default
        obj = obj[part]
    return obj


# ---------------------------------------------------------------------------------------------------------------
# API errors: always a Status whose code repeats the HTTP status


class ApiError(Exception):
    def __init__(self, code, reason, message, details=None, headers=(), metadata=None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.headers = list(headers)
        self.metadata = metadata or {}

    def status(self):
        st = {"kind": "Status", "apiVersion": "v1", "metadata": self.metadata, "status": "Failure",
              "message": self.message}
        if self.reason:
            st["reason"] = self.reason
        if self.details is not None:
            st["details"] = self.details
        st["code"] = self.code
        return st


def qualified(res, group):
    return res if not group else "%s.%s" % (res, group)


def details_of(res, group, name=None, uid=None):
    d = {}
    if name:
        d["name"] = name
    if group:
        d["group"] = group
    d["kind"] = res
    if uid:
        d["uid"] = uid
    return d


def err_not_found(res, group, name):
    return ApiError(404, "NotFound", '%s "%s" not found' % (qualified(res, group), name),
                    details_of(res, group, name))


def err_already_exists(res, group, name):
    return ApiError(409, "AlreadyExists", '%s "%s" already exists' % (qualified(res, group), name),
                    details_of(res, group, name))


def err_conflict(res, group, name, why="the object has been modified; please apply your changes to the latest "
                 "version and try again"):
    return ApiError(409, "Conflict", 'Operation cannot be fulfilled on %s "%s": %s' % (
        qualified(res, group), name, why), details_of(res, group, name))


def err_bad_request(message):
    return ApiError(400, "BadRequest", message)


def err_invalid(kind, name, causes, group=""):
    """causes: [(field, message)]."""
    if len(causes) == 1:
        text = "%s: %s" % causes[0]
    else:
        text = "[" + ", ".join("%s: %s" % c for c in causes) + "]"
    det = {"name": name}
    if group:
        det["group"] = group
    det["kind"] = kind
    det["causes"] = [{"reason": "FieldValueInvalid" if m.startswith("Invalid value") else "FieldValueRequired",
                      "message": m, "field": f} for f, m in causes]
    return ApiError(422, "Invalid", '%s "%s" is invalid: %s' % (kind, name, text), det)


def err_forbidden_authz(user, verb, res, group, name, ns, reason="", sub=""):
    target = '%s "%s"' % (qualified(res, group), name) if name else qualified(res, group)
    scope = 'in the namespace "%s"' % ns if ns else "at the cluster scope"
    msg = '%s is forbidden: User "%s" cannot %s resource "%s" in API group "%s" %s' % (
        target, user, verb, res + ("/" + sub if sub else ""), group, scope)
    if reason:
        msg += ": " + reason
    return ApiError(403, "Forbidden", msg, details_of(res, group, name),
                    headers=[("X-Content-Type-Options", "nosniff")])


def err_forbidden_admission(res, group, name, reason):
    target = '%s "%s"' % (qualified(res, group), name) if name else qualified(res, group)
    return ApiError(403, "Forbidden", "%s is forbidden: %s" % (target, reason), details_of(res, group, name))


def err_unauthorized():
    return ApiError(401, "Unauthorized", "Unauthorized")


def err_not_implemented(what):
    return ApiError(501, "NotImplemented", "%s is not implemented by the fake apiserver" % what, {})


class Expired(ApiError):
    def __init__(self, message, metadata=None):
        super().__init__(410, "Expired", message, None, metadata=metadata)


# ---------------------------------------------------------------------------------------------------------------
# resources served


class Res:
    def __init__(self, name, kind, group="", version="v1", namespaced=True, verbs=ALL_VERBS, short=(), subs=None,
                 store=None, categories=(), return_deleted=False, generation=False, create_on_update=False):
        self.name = name
        self.kind = kind
        self.group = group
        self.version = version
        self.namespaced = namespaced
        self.verbs = list(verbs)
        self.short = list(short)
        self.subs = subs or {}  # subresource -> (kind, verbs, group, version)
        self.key = qualified(name, group)
        self.store = store or self.key
        self.categories = list(categories)
        self.return_deleted = return_deleted
        self.generation = generation
        self.create_on_update = create_on_update

    @property
    def api_version(self):
        return "%s/%s" % (self.group, self.version) if self.group else self.version

    def discovery(self):
        out = []
        e = {"name": self.name, "singularName": "", "namespaced": self.namespaced, "kind": self.kind,
             "verbs": self.verbs}
        if self.short:
            e["shortNames"] = self.short
        if self.categories:
            e["categories"] = self.categories
        h = hashlib.sha256(("%s/%s/%s" % (self.group, self.version, self.kind)).encode()).digest()[:8]
        e["storageVersionHash"] = base64.b64encode(h).decode()
        out.append(e)
        for sub, (kind, verbs, grp, ver) in sorted(self.subs.items()):
            s = {"name": "%s/%s" % (self.name, sub), "singularName": "", "namespaced": self.namespaced, "kind": kind}
            if grp is not None:
                s["group"] = grp
                s["version"] = ver
            s["verbs"] = verbs
            out.append(s)
        return out


STATUS_SUB = ("__same__", ["get", "patch", "update"], None, None)
RESOURCES = [
    Res("configmaps", "ConfigMap", short=["cm"]),
    Res("endpoints", "Endpoints", short=["ep"]),
    Res("events", "Event", short=["ev"], create_on_update=True),
    Res("namespaces", "Namespace", namespaced=False, verbs=[v for v in ALL_VERBS if v != "deletecollection"],
        short=["ns"], subs={"status": STATUS_SUB, "finalize": ("Namespace", ["update"], None, None)},
        return_deleted=True),
    Res("nodes", "Node", namespaced=False, short=["no"],
        subs={"status": STATUS_SUB,
              "proxy": ("NodeProxyOptions", ["create", "delete", "get", "patch", "update"], None, None)}),
    Res("pods", "Pod", short=["po"], categories=["all"], return_deleted=True,
        subs={"status": STATUS_SUB, "log": ("Pod", ["get"], None, None),
              "exec": ("PodExecOptions", ["create", "get"], None, None),
              "attach": ("PodAttachOptions", ["create", "get"], None, None),
              "portforward": ("PodPortForwardOptions", ["create", "get"], None, None),
              "binding": ("Binding", ["create"], None, None),
              "eviction": ("Eviction", ["create"], "policy", "v1"),
              "ephemeralcontainers": ("Pod", ["get", "patch", "update"], None, None)}),
    Res("secrets", "Secret"),
    Res("serviceaccounts", "ServiceAccount", short=["sa"],
        subs={"token": ("TokenRequest", ["create"], "authentication.k8s.io", "v1")}),
    Res("services", "Service", short=["svc"], categories=["all"], return_deleted=True, subs={"status": STATUS_SUB}),
    Res("leases", "Lease", group="coordination.k8s.io", create_on_update=True),
    Res("endpointslices", "EndpointSlice", group="discovery.k8s.io", generation=True),
    Res("events", "Event", group="events.k8s.io", short=["ev"], store="events", create_on_update=True),
    Res("certificatesigningrequests", "CertificateSigningRequest", group="certificates.k8s.io", namespaced=False,
        short=["csr"], subs={"status": STATUS_SUB,
                             "approval": ("CertificateSigningRequest", ["get", "patch", "update"], None, None)}),
    Res("tokenreviews", "TokenReview", group="authentication.k8s.io", namespaced=False, verbs=["create"]),
    Res("subjectaccessreviews", "SubjectAccessReview", group="authorization.k8s.io", namespaced=False,
        verbs=["create"]),
]
for _r in RESOURCES:
    for _s, _v in list(_r.subs.items()):
        if _v[0] == "__same__":
            _r.subs[_s] = (_r.kind, _v[1], None, None)
BY_KEY = {r.key: r for r in RESOURCES}
BY_GV = {}
for _r in RESOURCES:
    BY_GV.setdefault((_r.group, _r.version), {})[_r.name] = _r
GROUP_ORDER = ["events.k8s.io", "authentication.k8s.io", "authorization.k8s.io", "certificates.k8s.io",
               "coordination.k8s.io", "discovery.k8s.io"]

# What the watch cache sends as the object of a BOOKMARK: an empty object of the kind, Go zero values included.
BOOKMARK_BODIES = {
    "Pod": {"spec": {"containers": None}, "status": {}},
    "Service": {"spec": {}, "status": {"loadBalancer": {}}},
    "Node": {"spec": {}, "status": {"daemonEndpoints": {"kubeletEndpoint": {"Port": 0}},
                                    "nodeInfo": {k: "" for k in ("machineID", "systemUUID", "bootID",
                                                                 "kernelVersion", "osImage",
                                                                 "containerRuntimeVersion", "kubeletVersion",
                                                                 "kubeProxyVersion", "operatingSystem",
                                                                 "architecture")}}},
    "Lease": {"spec": {}},
    "EndpointSlice": {"addressType": "", "endpoints": None, "ports": None},
    "CertificateSigningRequest": {"spec": {"request": None, "signerName": ""}, "status": {}},
    "Namespace": {"spec": {}, "status": {}},
}

# ---------------------------------------------------------------------------------------------------------------
# field validation: the fields v1.26 knows where nodelet writes (anything else is an "unknown field")

_COND = {"type": None, "status": None, "lastProbeTime": None, "lastTransitionTime": None, "reason": None,
         "message": None}
_CSTATUS = {k: None for k in ("name", "state", "lastState", "ready", "restartCount", "image", "imageID",
                              "containerID", "started")}
_META = {k: None for k in ("name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
                           "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels",
                           "annotations", "ownerReferences", "finalizers", "managedFields")}
SCHEMAS = {
    "Pod": {"kind": None, "apiVersion": None, "metadata": _META, "spec": None,
            "status": {"phase": None, "conditions": [_COND], "message": None, "reason": None,
                       "nominatedNodeName": None, "hostIP": None, "podIP": None, "podIPs": [{"ip": None}],
                       "startTime": None, "initContainerStatuses": [_CSTATUS], "containerStatuses": [_CSTATUS],
                       "qosClass": None, "ephemeralContainerStatuses": [_CSTATUS]}},
    "Node": {"kind": None, "apiVersion": None, "metadata": _META,
             "spec": {k: None for k in ("podCIDR", "podCIDRs", "providerID", "unschedulable", "taints",
                                        "configSource", "externalID")},
             "status": {"capacity": None, "allocatable": None, "phase": None,
                        "conditions": [dict(_COND, lastHeartbeatTime=None)],
                        "addresses": [{"type": None, "address": None}],
                        "daemonEndpoints": {"kubeletEndpoint": {"Port": None}},
                        "nodeInfo": {k: None for k in BOOKMARK_BODIES["Node"]["status"]["nodeInfo"]},
                        "images": None, "volumesInUse": None, "volumesAttached": None, "config": None}},
    "Lease": {"kind": None, "apiVersion": None, "metadata": _META,
              "spec": {k: None for k in ("holderIdentity", "leaseDurationSeconds", "acquireTime", "renewTime",
                                         "leaseTransitions")}},
}


def unknown_fields(obj, schema, path=""):
    """Paths of fields of obj that schema does not know (directives of strategic merge patches are skipped)."""
    out = []
    if schema is None or obj is None:
        return out
    if isinstance(schema, list):
        if isinstance(obj, list):
            for i, item in enumerate(obj):
                out += unknown_fields(item, schema[0], "%s[%d]" % (path, i))
        return out
    if not isinstance(obj, dict):
        return out
    for k, v in obj.items():
        if k.startswith("$"):
            continue
        p = k if not path else path + "." + k
        if k not in schema:
            out.append(p)
        else:
            out += unknown_fields(v, schema[k], p)
    return out


def drop_fields(obj, paths):
    for p in paths:
        parts = re.findall(r"([^.\[\]]+)|\[(\d+)\]", p)
        cur = obj
        for i, (name, idx) in enumerate(parts):
            last = i == len(parts) - 1
            key = int(idx) if idx else name
            try:
                if last:
                    del cur[key]
                else:
                    cur = cur[key]
            except (KeyError, IndexError, TypeError):
                break


# ---------------------------------------------------------------------------------------------------------------
# patches


def merge_patch(target, patch):
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def _merge_key(path):
    """The patchMergeKey of a list field, from its path (list indices left out); None = atomic list, replaced."""
    name = path[-1] if path else ""
    parent = path[:-1]
    if name == "conditions":
        return "type"
    if name in ("containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses", "containers",
                "initContainers", "ephemeralContainers", "volumes", "env", "imagePullSecrets"):
        return "name"
    if name == "volumeMounts":
        return "mountPath"
    if name in ("podIPs", "hostIPs"):
        return "ip"
    if name == "ownerReferences":
        return "uid"
    if name == "ports":
        if parent and parent[-1] in ("containers", "initContainers", "ephemeralContainers"):
            return "containerPort"
        if parent == ("spec",):
            return "port"
    if name == "addresses" and parent == ("status",):
        return "type"
    if name == "hostAliases":
        return "ip"
    return None


_PRIMITIVE_MERGE = {"finalizers"}


def _strip_directives(v):
    if isinstance(v, dict):
        return {k: _strip_directives(x) for k, x in v.items() if not k.startswith("$")}
    if isinstance(v, list):
        return [_strip_directives(x) for x in v]
    return v


def strategic_merge(orig, patch, path=()):
    """Strategic merge patch as the kubelet uses it: maps merged, null deletes, lists merged by their merge key,
    $patch (replace/delete/merge), $setElementOrder/<list>, $deleteFromPrimitiveList/<list>, $retainKeys."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return _strip_directives(patch)
    out = copy.deepcopy(orig) if isinstance(orig, dict) else {}
    for k, v in patch.items():
        if k.startswith("$"):
            continue
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict):
            if v.get("$patch") == "delete":
                out.pop(k, None)
            else:
                out[k] = strategic_merge(out.get(k), v, path + (k,))
        elif isinstance(v, list):
            out[k] = _merge_list(out.get(k), v, path + (k,))
        else:
            out[k] = v
    for k, v in patch.items():
        if k.startswith("$deleteFromPrimitiveList/"):
            f = k.split("/", 1)[1]
            if isinstance(out.get(f), list):
                out[f] = [x for x in out[f] if x not in v]
    for k, v in patch.items():
        if k.startswith("$setElementOrder/"):
            f = k.split("/", 1)[1]
            mk = _merge_key(path + (f,))
            if isinstance(out.get(f), list) and isinstance(v, list):
                if mk:
                    order = [e.get(mk) for e in v if isinstance(e, dict)]
                    keyf = (lambda e: e.get(mk) if isinstance(e, dict) else None)
                else:
                    order = list(v)
                    keyf = (lambda e: e)
                listed = [e for e in out[f] if keyf(e) in order]
                listed.sort(key=lambda e: order.index(keyf(e)))
                out[f] = listed + [e for e in out[f] if keyf(e) not in order]
    if "$retainKeys" in patch and isinstance(patch["$retainKeys"], list):
        out = {k: v for k, v in out.items() if k in patch["$retainKeys"]}
    return out


def _merge_list(orig, patch, path):
    name = path[-1]
    if name in _PRIMITIVE_MERGE:
        base = list(orig) if isinstance(orig, list) else []
        return base + [x for x in patch if x not in base]
    mk = _merge_key(path)
    if not mk or not isinstance(orig, list):
        return [_strip_directives(x) for x in patch if not (isinstance(x, dict) and "$patch" in x)]
    if any(isinstance(x, dict) and x.get("$patch") == "replace" for x in patch):
        return [_strip_directives(x) for x in patch if not (isinstance(x, dict) and "$patch" in x)]
    out = copy.deepcopy(orig)
    for item in patch:
        if not isinstance(item, dict):
            out.append(item)
            continue
        key = item.get(mk)
        idx = next((i for i, e in enumerate(out) if isinstance(e, dict) and e.get(mk) == key), None)
        if item.get("$patch") == "delete":
            if idx is not None:
                del out[idx]
        elif idx is None:
            out.append(_strip_directives(item))
        else:
            out[idx] = strategic_merge(out[idx], item, path)
    return out


def _pointer(p):
    if p == "":
        return []
    if not p.startswith("/"):
        raise err_bad_request('json patch: invalid pointer "%s"' % p)
    return [x.replace("~1", "/").replace("~0", "~") for x in p[1:].split("/")]


def json_patch(doc, ops):
    """RFC 6902 JSON patch."""
    if not isinstance(ops, list):
        raise err_bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    doc = copy.deepcopy(doc)

    def parent_of(parts):
        cur = doc
        for p in parts[:-1]:
            cur = cur[int(p)] if isinstance(cur, list) else cur[p]
        return cur

    def get(parts):
        cur = doc
        for p in parts:
            cur = cur[int(p)] if isinstance(cur, list) else cur[p]
        return cur

    def remove(parts):
        par = parent_of(parts)
        if isinstance(par, list):
            return par.pop(int(parts[-1]))
        return par.pop(parts[-1])

    def add(parts, value):
        nonlocal doc
        if not parts:
            doc = value
            return
        par = parent_of(parts)
        if isinstance(par, list):
            if parts[-1] == "-":
                par.append(value)
            else:
                par.insert(int(parts[-1]), value)
        else:
            par[parts[-1]] = value

    for op in ops:
        try:
            kind = op["op"]
            path = _pointer(op["path"])
            if kind == "add":
                add(path, copy.deepcopy(op["value"]))
            elif kind == "remove":
                remove(path)
            elif kind == "replace":
                remove(path)
                add(path, copy.deepcopy(op["value"]))
            elif kind == "move":
                add(path, remove(_pointer(op["from"])))
            elif kind == "copy":
                add(path, copy.deepcopy(get(_pointer(op["from"]))))
            elif kind == "test":
                if get(path) != op["value"]:
                    raise ApiError(422, "Invalid", "the server rejected our request due to an error in our request",
                                   {})
            else:
                raise err_bad_request('Unexpected kind: %s' % kind)
        except (KeyError, IndexError, ValueError, TypeError):
            raise ApiError(422, "Invalid", "the server rejected our request due to an error in our request: "
                           "doc is missing path: \"%s\"" % op.get("path"), {})
    return doc


# ---------------------------------------------------------------------------------------------------------------
# selectors


def _split_top(s):
    out, depth, cur = [], 0, ""
    for ch in s:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur)
    return out


def parse_label_selector(s):
    reqs = []
    for part in _split_top(s or ""):
        part = part.strip()
        m = re.match(r"^([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)$", part)
        if m:
            reqs.append((m.group(1), m.group(2), {v.strip() for v in m.group(3).split(",") if v.strip()}))
            continue
        m = re.match(r"^([\w./-]+)\s*(==|!=|=)\s*([\w./-]*)$", part)
        if m:
            reqs.append((m.group(1), "!=" if m.group(2) == "!=" else "=", m.group(3)))
            continue
        m = re.match(r"^(!?)\s*([\w./-]+)$", part)
        if m:
            reqs.append((m.group(2), "!" if m.group(1) else "exists", None))
            continue
        raise err_bad_request("unable to parse requirement: found '%s', expected: identifier" % part)
    return reqs


def labels_match(reqs, labels):
    labels = labels or {}
    for key, op, val in reqs:
        have = key in labels
        if op == "=" and labels.get(key) != val:
            return False
        if op == "!=" and have and labels[key] == val:
            return False
        if op == "in" and (not have or labels[key] not in val):
            return False
        if op == "notin" and have and labels[key] in val:
            return False
        if op == "exists" and not have:
            return False
        if op == "!" and have:
            return False
    return True


FIELD_LABELS = {
    "Pod": {"spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName", "status.phase",
            "status.podIP", "status.nominatedNodeName", "spec.hostNetwork"},
    "Event": {"involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
              "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath", "reason",
              "reportingComponent", "source", "type"},
    "Secret": {"type"},
    "Node": {"spec.unschedulable"},
    "Namespace": {"status.phase"},
    "CertificateSigningRequest": {"spec.signerName"},
}


def parse_field_selector(s, kind):
    reqs = []
    for part in (s or "").split(","):
        part = part.strip()
        if not part:
            continue
        m = re.match(r"^([\w.]+)\s*(==|!=|=)\s*(.*)$", part)
        if not m:
            raise err_bad_request('invalid selector: \'%s\'; can\'t understand \'%s\'' % (s, part))
        field, op, val = m.group(1), m.group(2), m.group(3)
        if field not in ("metadata.name", "metadata.namespace") and field not in FIELD_LABELS.get(kind, ()):
            raise err_bad_request('"%s" is not a known field selector: only "metadata.name", "metadata.namespace"'
                                  % field)
        reqs.append((field, "!=" if op == "!=" else "=", val))
    return reqs


def field_value(obj, field):
    if field == "source" and obj.get("kind", "Event") == "Event":
        return deep_get(obj, ["source", "component"], "") or ""
    if field == "spec.hostNetwork":
        return "true" if deep_get(obj, ["spec", "hostNetwork"]) else "false"
    if field == "spec.unschedulable":
        return "true" if deep_get(obj, ["spec", "unschedulable"]) else "false"
    v = deep_get(obj, field.split("."), "")
    return "" if v is None else str(v)


def fields_match(reqs, obj):
    for field, op, val in reqs:
        have = field_value(obj, field)
        if (op == "=") != (have == val):
            return False
    return True


# ---------------------------------------------------------------------------------------------------------------
# continue tokens: unpadded base64url of {"v":"meta.k8s.io/v1","rv":N,"start":"<key after the last item>\u0000"}


def encode_continue(rv, last_key):
    return b64url(json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": last_key + "\u0000"},
                             separators=(",", ":")).encode())


def decode_continue(token):
    alphabet = set(string.ascii_letters + string.digits + "-_")
    for i, ch in enumerate(token):
        if ch not in alphabet:
            raise err_bad_request("invalid continue token: continue key is not valid: illegal base64 data at input "
                                  "byte %d" % i)
    if len(token) % 4 == 1:
        raise err_bad_request("invalid continue token: continue key is not valid: illegal base64 data at input "
                              "byte %d" % (len(token) - 1))
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if data.get("v") != "meta.k8s.io/v1":
            raise ValueError("server does not recognize this encoding")
        return int(data["rv"]), str(data["start"])
    except ApiError:
        raise
    except Exception as e:
        raise err_bad_request("invalid continue token: continue key is not valid: %s" % e)


# ---------------------------------------------------------------------------------------------------------------
# defaults applied on create (what the real server and its admission plugins add, see the 04-* captures)


def _default_container(c):
    c.setdefault("resources", {})
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    if "imagePullPolicy" not in c:
        image = c.get("image", "")
        tagged = "@" in image or ":" in image.rsplit("/", 1)[-1]
        c["imagePullPolicy"] = "Always" if not tagged or image.endswith(":latest") else "IfNotPresent"
    for p in c.get("ports") or []:
        p.setdefault("protocol", "TCP")
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        pr = c.get(probe)
        if isinstance(pr, dict):
            if isinstance(pr.get("httpGet"), dict):
                pr["httpGet"].setdefault("scheme", "HTTP")
            pr.setdefault("timeoutSeconds", 1)
            pr.setdefault("periodSeconds", 10)
            pr.setdefault("successThreshold", 1)
            pr.setdefault("failureThreshold", 3)
    for e in c.get("env") or []:
        vf = e.get("valueFrom") or {}
        if isinstance(vf.get("fieldRef"), dict):
            vf["fieldRef"].setdefault("apiVersion", "v1")
        if isinstance(vf.get("resourceFieldRef"), dict):
            vf["resourceFieldRef"].setdefault("divisor", "0")
    res = c["resources"]
    if isinstance(res.get("limits"), dict):
        req = res.setdefault("requests", {})
        for k, v in res["limits"].items():
            req.setdefault(k, v)


def _qos(spec):
    cs = (spec.get("containers") or []) + (spec.get("initContainers") or [])
    any_set = False
    guaranteed = True
    for c in cs:
        res = c.get("resources") or {}
        req, lim = res.get("requests") or {}, res.get("limits") or {}
        if req or lim:
            any_set = True
        for r in ("cpu", "memory"):
            if r not in lim or req.get(r, lim.get(r)) != lim.get(r):
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def default_pod(pod):
    spec = pod.setdefault("spec", {})
    for c in (spec.get("initContainers") or []) + (spec.get("containers") or []):
        _default_container(c)
    for v in spec.get("volumes") or []:
        for src in ("configMap", "secret", "downwardAPI", "projected"):
            if isinstance(v.get(src), dict):
                v[src].setdefault("defaultMode", 420)
        if isinstance(v.get("downwardAPI"), dict):
            for it in v["downwardAPI"].get("items") or []:
                if isinstance(it.get("fieldRef"), dict):
                    it["fieldRef"].setdefault("apiVersion", "v1")
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    sa = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
    spec["serviceAccountName"] = sa
    spec["serviceAccount"] = sa
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    tol = spec.setdefault("tolerations", [])
    for key in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"):
        if not any(t.get("key") == key for t in tol):
            tol.append({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300})
    spec.setdefault("priority", 0)
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    # The ServiceAccount admission plugin: the kube-api-access projected volume, mounted in every container.
    mount_path = "/var/run/secrets/kubernetes.io/serviceaccount"
    all_cs = (spec.get("initContainers") or []) + (spec.get("containers") or [])
    if spec.get("automountServiceAccountToken") is not False and not any(
            m.get("mountPath") == mount_path for c in all_cs for m in c.get("volumeMounts") or []):
        name = "kube-api-access-" + rand_suffix()
        spec.setdefault("volumes", []).append({"name": name, "projected": {"sources": [
            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
            {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1",
                                                                           "fieldPath": "metadata.namespace"}}]}}],
            "defaultMode": 420}})
        for c in all_cs:
            c.setdefault("volumeMounts", []).append({"name": name, "readOnly": True, "mountPath": mount_path})
    pod["status"] = {"phase": "Pending", "qosClass": _qos(spec)}


def pod_references(pod):
    """(configmaps, secrets, pvcs, serviceaccount) a pod uses: the edges of the Node authorizer's graph."""
    cms, secrets, pvcs = set(), set(), set()
    spec = pod.get("spec") or {}
    for v in spec.get("volumes") or []:
        if isinstance(v.get("configMap"), dict):
            cms.add(v["configMap"].get("name"))
        if isinstance(v.get("secret"), dict):
            secrets.add(v["secret"].get("secretName"))
        if isinstance(v.get("persistentVolumeClaim"), dict):
            pvcs.add(v["persistentVolumeClaim"].get("claimName"))
        for src in deep_get(v, ["projected", "sources"], []) or []:
            if isinstance(src.get("configMap"), dict):
                cms.add(src["configMap"].get("name"))
            if isinstance(src.get("secret"), dict):
                secrets.add(src["secret"].get("name"))
        for k in ("csi", "cephfs", "rbd", "iscsi", "flexVolume", "azureFile", "scaleIO", "storageos"):
            ref = deep_get(v, [k, "nodePublishSecretRef"]) or deep_get(v, [k, "secretRef"])
            if isinstance(ref, dict) and ref.get("name"):
                secrets.add(ref["name"])
    for c in (spec.get("initContainers") or []) + (spec.get("containers") or []) + \
            (spec.get("ephemeralContainers") or []):
        for e in c.get("env") or []:
            vf = e.get("valueFrom") or {}
            if isinstance(vf.get("configMapKeyRef"), dict):
                cms.add(vf["configMapKeyRef"].get("name"))
            if isinstance(vf.get("secretKeyRef"), dict):
                secrets.add(vf["secretKeyRef"].get("name"))
        for ef in c.get("envFrom") or []:
            if isinstance(ef.get("configMapRef"), dict):
                cms.add(ef["configMapRef"].get("name"))
            if isinstance(ef.get("secretRef"), dict):
                secrets.add(ef["secretRef"].get("name"))
    for s in spec.get("imagePullSecrets") or []:
        secrets.add(s.get("name"))
    return cms, secrets, pvcs, spec.get("serviceAccountName") or "default"


def event_to_v1(ev):
    """core/v1 Event (the storage form) -> events.k8s.io/v1."""
    out = {"kind": "Event", "apiVersion": "events.k8s.io/v1", "metadata": ev.get("metadata", {}),
           "eventTime": ev.get("eventTime")}
    if ev.get("series"):
        out["series"] = ev["series"]
    for src, dst in (("reportingComponent", "reportingController"), ("reportingInstance", "reportingInstance"),
                     ("action", "action"), ("reason", "reason"), ("involvedObject", "regarding"),
                     ("related", "related"), ("message", "note"), ("type", "type")):
        if ev.get(src) not in (None, ""):
            out[dst] = ev[src]
    out["deprecatedSource"] = ev.get("source") or {}
    out["deprecatedFirstTimestamp"] = ev.get("firstTimestamp")
    out["deprecatedLastTimestamp"] = ev.get("lastTimestamp")
    if ev.get("count"):
        out["deprecatedCount"] = ev["count"]
    return out


def event_from_v1(ev):
    out = {"kind": "Event", "apiVersion": "v1", "metadata": ev.get("metadata", {}),
           "involvedObject": ev.get("regarding") or {}}
    for src, dst in (("reason", "reason"), ("note", "message")):
        if ev.get(src) not in (None, ""):
            out[dst] = ev[src]
    out["source"] = ev.get("deprecatedSource") or {}
    out["firstTimestamp"] = ev.get("deprecatedFirstTimestamp")
    out["lastTimestamp"] = ev.get("deprecatedLastTimestamp")
    if ev.get("deprecatedCount"):
        out["count"] = ev["deprecatedCount"]
    if ev.get("type"):
        out["type"] = ev["type"]
    out["eventTime"] = ev.get("eventTime")
    for src, dst in (("series", "series"), ("related", "related"), ("action", "action"),
                     ("reportingController", "reportingComponent"), ("reportingInstance", "reportingInstance")):
        if ev.get(src) not in (None, ""):
            out[dst] = ev[src]
    return out


# ---------------------------------------------------------------------------------------------------------------
# users and authorization


class User:
    def __init__(self, name, groups=(), uid=""):
        self.name = name
        self.groups = list(groups)
        self.uid = uid

    @property
    def node(self):
        """The node name when this is a node's identity (system:node:<name> in system:nodes)."""
        if self.name.startswith("system:node:") and "system:nodes" in self.groups:
            return self.name[len("system:node:"):]
        return None

    def __repr__(self):
        return "User(%s, %s)" % (self.name, self.groups)


ANONYMOUS = User("system:anonymous", ["system:unauthenticated"])

# (group, resources, verbs): what the Node authorizer lets a node do outside its graph checks (v1.26 node rules).
NODE_RULES = [
    ("", {"nodes"}, {"create", "get", "list", "watch", "update", "patch", "delete"}),
    ("", {"nodes/status"}, {"get", "patch", "update"}),
    ("", {"events"}, {"create", "patch", "update"}),
    ("", {"pods"}, {"get", "list", "watch", "create", "delete"}),
    ("", {"pods/status"}, {"get", "patch", "update"}),
    ("", {"pods/eviction"}, {"create"}),
    ("", {"services"}, {"get", "list", "watch"}),
    ("", {"endpoints"}, {"get"}),
    ("", {"persistentvolumeclaims/status"}, {"get", "patch", "update"}),
    ("certificates.k8s.io", {"certificatesigningrequests"}, {"create", "get", "list", "watch"}),
    ("authentication.k8s.io", {"tokenreviews"}, {"create"}),
    ("authorization.k8s.io", {"subjectaccessreviews", "localsubjectaccessreviews"}, {"create"}),
]
# system:node-proxier (the kube-proxy identity, user system:kube-proxy)
PROXIER_RULES = [
    ("", {"endpoints", "services"}, {"list", "watch"}),
    ("", {"nodes"}, {"get", "list", "watch"}),
    ("", {"events"}, {"create", "patch", "update"}),
    ("events.k8s.io", {"events"}, {"create", "patch", "update"}),
    ("discovery.k8s.io", {"endpointslices"}, {"list", "watch"}),
]
# system:node-bootstrapper (group system:bootstrappers)
BOOTSTRAP_RULES = [("certificates.k8s.io", {"certificatesigningrequests"}, {"create", "get", "list", "watch"})]
PUBLIC_PATHS = {"/version", "/version/", "/healthz", "/livez", "/readyz"}


def rules_allow(rules, group, resource, verb):
    return any(g == group and resource in rs and (verb in vs or "*" in vs) for g, rs, vs in rules)


# ---------------------------------------------------------------------------------------------------------------
# the object store


class HistEvent:
    __slots__ = ("rv", "store", "type", "obj", "old")

    def __init__(self, rv, store, type_, obj, old):
        self.rv = rv
        self.store = store
        self.type = type_
        self.obj = obj
        self.old = old


class FakeAPIServer:
    def __init__(self, tls_dir=None, port=0, host="127.0.0.1", anonymous=False, state_file=None,
                 service_cidr="10.96.0.0/16", extra_sans=(), auto_approve=False, auto_sign=False,
                 bookmark_interval=60.0, history_limit=WATCH_HISTORY_LIMIT):
        self._own_tls_dir = tls_dir is None
        self.tls_dir = tls_dir or tempfile.mkdtemp(prefix="fake-apiserver.")
        os.makedirs(self.tls_dir, exist_ok=True)
        self.host = host
        self.port = port
        self.anonymous = anonymous
        self.state_file = state_file
        self.auto_approve = auto_approve
        self.auto_sign = auto_sign
        self.bookmark_interval = bookmark_interval
        self.history_limit = history_limit
        self.extra_sans = list(extra_sans)
        net = service_cidr.split("/")[0].split(".")
        self._svc_prefix = "%s.%s" % (net[0], net[1])
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)
        self.rv = 100
        self.objects = {}  # store -> {(ns, name): obj}
        self.history = []  # HistEvent, increasing rv
        self._history_rvs = []  # their rvs, for bisect
        self._used_ips = set()
        self._used_node_ports = set()
        self.compacted_rv = 0  # watches and continue tokens older than this are expired
        self.last_event_rv = {}  # store -> rv of its last event
        self.watch_epoch = 0  # bumped by close_watches()
        self.tokens = {}  # bearer token -> User
        self.reviews = []  # SubjectAccessReviews answered: user, groups, allowed, attributes
        self.grants = []  # (subject, group, resources, verbs) added by tests
        self._log = []
        self._stopping = False
        self._conns = set()  # open client connections: stop() cuts them, kept-alive ones included
        self._server = None
        self._thread = None
        self._openssl_lock = threading.Lock()
        # Held through a whole sign_csr(): the CSR controller's timers (one per CSR write) and the tests may race to
        # sign the same CSR; the first issues the certificate, the others find it there (like the real signer,
        # which never issues twice).
        self._csr_sign_lock = threading.Lock()
        self._jwt_key = os.urandom(32)
        self._node_port_next = 30000 + random.randrange(2000)
        self._setup_pki()
        self._bootstrap_objects()
        if state_file and os.path.exists(state_file):
            self._load_state(state_file)

    # ---- PKI (openssl ca: arbitrary start/end dates, subjects kept as requested) ----

    def _openssl(self, *args, env=None):
        r = subprocess.run(["openssl"] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=dict(os.environ, **(env or {})))
        if r.returncode != 0:
            raise RuntimeError("openssl %s: %s" % (args[0], r.stderr.decode(errors="replace").strip()))
        return r.stdout

    def _setup_pki(self):
        d = self.tls_dir
        self.ca_path = os.path.join(d, "ca.crt")
        self.ca_key_path = os.path.join(d, "ca.key")
        cadir = os.path.join(d, "ca-db")
        os.makedirs(os.path.join(cadir, "new"), exist_ok=True)
        for name, content in (("index.txt", ""), ("serial", "%016X\n" % random.getrandbits(63))):
            p = os.path.join(cadir, name)
            if not os.path.exists(p):
                with open(p, "w") as f:
                    f.write(content)
        self._ca_conf = os.path.join(cadir, "openssl.cnf")
        with open(self._ca_conf, "w") as f:
            f.write("[ca]\ndefault_ca = fake\n[fake]\ndir = %s\ndatabase = $dir/index.txt\nnew_certs_dir = $dir/new\n"
                    "serial = $dir/serial\ndefault_md = sha256\npolicy = any\nunique_subject = no\n"
                    "email_in_dn = no\ncopy_extensions = none\n"
                    "[any]\ncommonName = optional\norganizationName = optional\norganizationalUnitName = optional\n"
                    "[client]\nbasicConstraints = critical,CA:FALSE\nkeyUsage = critical,digitalSignature,"
                    "keyEncipherment\nextendedKeyUsage = clientAuth\n"
                    "[server]\nbasicConstraints = critical,CA:FALSE\nkeyUsage = critical,digitalSignature,"
                    "keyEncipherment\nextendedKeyUsage = serverAuth\nsubjectAltName = ${ENV::FAKE_SAN}\n" % cadir)
        if not (os.path.exists(self.ca_path) and os.path.exists(self.ca_key_path)):
            self._openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                          "-days", "3650", "-subj", "/CN=fake-apiserver-ca", "-keyout", self.ca_key_path,
                          "-out", self.ca_path)
        with open(self.ca_path) as f:
            self.ca_pem = f.read()
        self.server_cert, self.server_key = self._issue("kube-apiserver", [], "server", name="apiserver",
                                                        seconds=3650 * 86400)
        self.admin_cert, self.admin_key = self.issue_client_cert("admin", ["system:masters"], name="admin")

    def _sign_csr_file(self, csr_path, out_path, ext, seconds, backdate=0):
        start = time.gmtime(time.time() - backdate)
        end = time.gmtime(min(time.time() + seconds, self._ca_not_after()))
        san = ",".join(["IP:127.0.0.1", "DNS:localhost", "DNS:kubernetes", "DNS:kubernetes.default",
                        "DNS:kubernetes.default.svc", "IP:%s.0.1" % self._svc_prefix] +
                       ["IP:" + s if re.match(r"^[\d.:]+$", s) else "DNS:" + s for s in self.extra_sans])
        with self._openssl_lock:
            self._openssl("ca", "-batch", "-config", self._ca_conf, "-notext", "-preserveDN", "-cert", self.ca_path,
                          "-keyfile", self.ca_key_path, "-startdate", time.strftime("%Y%m%d%H%M%SZ", start),
                          "-enddate", time.strftime("%Y%m%d%H%M%SZ", end), "-extensions", ext,
                          "-in", csr_path, "-out", out_path, env={"FAKE_SAN": san})

    def _ca_not_after(self):
        out = self._openssl("x509", "-in", self.ca_path, "-noout", "-enddate").decode().strip()
        return time.mktime(time.strptime(out.split("=", 1)[1].replace(" GMT", ""), "%b %d %H:%M:%S %Y")) - \
            time.timezone

    def _issue(self, cn, groups, ext, name=None, seconds=365 * 86400, backdate=300):
        name = name or re.sub(r"[^A-Za-z0-9_.-]", "_", cn)
        key = os.path.join(self.tls_dir, name + ".key")
        crt = os.path.join(self.tls_dir, name + ".crt")
        csr = os.path.join(self.tls_dir, name + ".csr")
        subj = "".join("/O=%s" % g for g in groups) + "/CN=%s" % cn
        self._openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                      "-subj", subj, "-keyout", key, "-out", csr)
        self._sign_csr_file(csr, crt, ext, seconds, backdate)
        os.unlink(csr)
        return crt, key

    def issue_client_cert(self, cn, groups=(), name=None, seconds=365 * 86400, backdate=300):
        """A client certificate signed by the fake's CA (CN = user, one O per group): (cert path, key path)."""
        return self._issue(cn, list(groups), "client", name=name, seconds=seconds, backdate=backdate)

    def write_kubeconfig(self, path, cert=None, key=None, token=None, ca=True):
        user = {}
        if cert:
            user["client-certificate"] = cert
            user["client-key"] = key
        if token:
            user["token"] = token
        cluster = {"server": self.url}
        if ca:
            cluster["certificate-authority"] = self.ca_path
        else:
            cluster["insecure-skip-tls-verify"] = True
        cfg = {"apiVersion": "v1", "kind": "Config", "clusters": [{"name": "fake", "cluster": cluster}],
               "users": [{"name": "user", "user": user}],
               "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "user"}}],
               "current-context": "fake"}
        with open(path, "w") as f:
            json.dump(cfg, f, indent=2)  # JSON is YAML
        return path

    # ---- tokens ----

    def add_token(self, token, user, uid="", groups=()):
        self.tokens[token] = User(user, list(groups), uid)

    def load_token_file(self, path):
        """Static token file: token,user,uid,"group1,group2" per line."""
        import csv
        with open(path) as f:
            for row in csv.reader(f):
                if len(row) >= 3 and not row[0].startswith("#"):
                    groups = row[3].split(",") if len(row) > 3 and row[3] else []
                    self.add_token(row[0].strip(), row[1].strip(), row[2].strip(), groups)

    def add_bootstrap_token(self, token_id, secret, extra_groups=(), expiration=None):
        """A bootstrap token (kube-system/bootstrap-token-<id>) usable for authentication."""
        data = {"token-id": token_id, "token-secret": secret, "usage-bootstrap-authentication": "true",
                "usage-bootstrap-signing": "true"}
        if extra_groups:
            data["auth-extra-groups"] = ",".join(extra_groups)
        if expiration:
            data["expiration"] = expiration
        self.create({"apiVersion": "v1", "kind": "Secret", "type": "bootstrap.kubernetes.io/token",
                     "metadata": {"name": "bootstrap-token-" + token_id, "namespace": "kube-system"},
                     "stringData": data})

    def _bootstrap_user(self, token):
        m = re.match(r"^([a-z0-9]{6})\.([a-z0-9]{16})$", token)
        if not m:
            return None
        sec = self.objects.get("secrets", {}).get(("kube-system", "bootstrap-token-" + m.group(1)))
        if not sec or sec.get("type") != "bootstrap.kubernetes.io/token":
            return None
        data = {k: base64.b64decode(v).decode(errors="replace") for k, v in (sec.get("data") or {}).items()}
        if data.get("token-secret") != m.group(2) or data.get("usage-bootstrap-authentication") != "true":
            return None
        exp = parse_ts(data.get("expiration"))
        if exp is not None and exp < time.time():
            return None
        groups = ["system:bootstrappers"] + [g for g in data.get("auth-extra-groups", "").split(",") if g]
        return User("system:bootstrap:" + m.group(1), groups)

    def authenticate(self, handler):
        auth = handler.headers.get("Authorization")
        if auth:
            if not auth.startswith("Bearer "):
                raise err_unauthorized()
            token = auth[7:].strip()
            with self.lock:
                u = self.tokens.get(token) or self._bootstrap_user(token)
            if not u:
                raise err_unauthorized()
            return User(u.name, u.groups + ["system:authenticated"], u.uid)
        try:
            cert = handler.connection.getpeercert()
        except (AttributeError, ValueError):
            cert = None
        if cert and cert.get("subject"):
            cn, orgs = None, []
            for rdn in cert["subject"]:
                for k, v in rdn:
                    if k == "commonName":
                        cn = v
                    elif k == "organizationName":
                        orgs.append(v)
            if cn:
                return User(cn, orgs + ["system:authenticated"])
        if self.anonymous:
            return ANONYMOUS
        raise err_unauthorized()

    def grant(self, subject, group, resources, verbs):
        """RBAC for tests: let a user or group (subject) use verbs on resources ("pods", "pods/status") of a group."""
        self.grants.append((subject, group, set(resources), set(verbs)))

    # ---- start / stop ----

    @property
    def url(self):
        return "https://%s:%d" % (self.host, self.port)

    def start(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.server_cert, self.server_key)
        ctx.load_verify_locations(self.ca_path)
        ctx.verify_mode = ssl.CERT_OPTIONAL
        ctx.set_alpn_protocols(["http/1.1"])
        fake = self

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True
            allow_reuse_address = True
            request_queue_size = 128

            def get_request(self):
                sock, addr = self.socket.accept()
                return ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

            def handle_error(self, request, client_address):
                pass  # a client going away mid-response is normal here

        class Bound(Handler):
            pass

        Bound.fake = fake
        self._stopping = False
        self._server = Server((self.host, self.port), Bound)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                        daemon=True)
        self._thread.start()
        self._fix_kubernetes_service()
        return self

    def stop(self, remove_tls_dir=True):
        """Stop serving (open watches end). The state stays: start() again serves it on the same port."""
        if self._server:
            with self.cond:
                self._stopping = True
                self.cond.notify_all()
            self._server.shutdown()
            self._server.server_close()
            # A stopped server is gone for its clients too: kept-alive connections would go on being served.
            with self.lock:
                conns = list(self._conns)
            for c in conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self._server = None
            self._thread.join(5)
        if self.state_file:
            self._save_state(self.state_file)
        if remove_tls_dir and self._own_tls_dir:
            shutil.rmtree(self.tls_dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ---- state file ----

    def _save_state(self, path):
        with self.lock:
            objs = [o for store in self.objects.values() for o in store.values()]
            data = {"resourceVersion": self.rv, "objects": objs}
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(data, f)
        os.replace(tmp, path)

    def _load_state(self, path):
        with open(path) as f:
            data = json.load(f)
        with self.lock:
            for o in data.get("objects", []):
                r = self._res_for_obj(o)
                m = o["metadata"]
                self.objects.setdefault(r.store, {})[(m.get("namespace", ""), m["name"])] = o
            self.rv = max(self.rv, int(data.get("resourceVersion", 0)))
            self.compacted_rv = self.rv

    def _res_for_obj(self, obj):
        api = obj.get("apiVersion", "v1")
        group, _, version = api.rpartition("/")
        for r in RESOURCES:
            if r.kind == obj.get("kind") and r.group == group:
                return r
        raise ValueError("unknown kind %s %s" % (api, obj.get("kind")))

    # ---- the store (callers hold self.lock) ----

    def _next_rv(self):
        self.rv += 1
        return self.rv

    def _record(self, store, type_, obj, old):
        self.history.append(HistEvent(self.rv, store, type_, obj, old))
        self._history_rvs.append(self.rv)
        self.last_event_rv[store] = self.rv
        if len(self.history) > self.history_limit:
            drop = len(self.history) - self.history_limit
            self.compacted_rv = self.history[drop - 1].rv
            del self.history[:drop]
            del self._history_rvs[:drop]
        self.cond.notify_all()

    def _put(self, r, obj, old=None):
        """Store obj (a new dict, never changed afterwards) with a new resourceVersion; ADDED or MODIFIED."""
        m = obj["metadata"]
        m["resourceVersion"] = str(self._next_rv())
        key = (m.get("namespace", ""), m["name"])
        self.objects.setdefault(r.store, {})[key] = obj
        self._record(r.store, "MODIFIED" if old is not None else "ADDED", obj, old)
        self._after_write(r, obj)
        return obj

    def _remove(self, r, obj):
        final = copy.deepcopy(obj)
        final["metadata"]["resourceVersion"] = str(self._next_rv())
        m = final["metadata"]
        del self.objects[r.store][(m.get("namespace", ""), m["name"])]
        if r.kind == "Service":
            self._used_ips.discard(deep_get(obj, ["spec", "clusterIP"]))
            for p in deep_get(obj, ["spec", "ports"], []) or []:
                self._used_node_ports.discard(p.get("nodePort"))
        self._record(r.store, "DELETED", final, obj)
        return final

    def _snapshot(self, store, rv):
        """The objects of a store as they were at resourceVersion rv."""
        cur = dict(self.objects.get(store, {}))
        if rv >= self.rv:
            return cur
        if rv < self.compacted_rv:
            raise Expired("too old resource version: %d (%d)" % (rv, self.compacted_rv))
        i = bisect.bisect_right(self._history_rvs, rv)
        for e in reversed(self.history[i:]):
            if e.store != store:
                continue
            m = e.obj["metadata"]
            key = (m.get("namespace", ""), m["name"])
            if e.type == "ADDED":
                cur.pop(key, None)
            else:
                cur[key] = e.old
        return cur

    def _lookup(self, r, ns, name):
        return self.objects.get(r.store, {}).get((ns or "", name))

    def _bootstrap_objects(self):
        with self.lock:
            for ns in ("default", "kube-system", "kube-public", "kube-node-lease"):
                self._create(BY_KEY["namespaces"], {"apiVersion": "v1", "kind": "Namespace",
                                                    "metadata": {"name": ns}}, None, ADMIN)
                self._create(BY_KEY["serviceaccounts"], {"apiVersion": "v1", "kind": "ServiceAccount",
                                                         "metadata": {"name": "default", "namespace": ns}}, ns, ADMIN)
                self._create(BY_KEY["configmaps"], {
                    "apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "kube-root-ca.crt", "namespace": ns, "annotations": {
                        "kubernetes.io/description": "CA bundle of the fake apiserver (the cluster's root CA)."}},
                    "data": {"ca.crt": self.ca_pem}}, ns, ADMIN)
            self._create(BY_KEY["services"], {
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": "kubernetes", "namespace": "default",
                             "labels": {"component": "apiserver", "provider": "kubernetes"}},
                "spec": {"clusterIP": self._svc_prefix + ".0.1", "ports": [
                    {"name": "https", "protocol": "TCP", "port": 443, "targetPort": 6443}]}}, "default", ADMIN)

    def _fix_kubernetes_service(self):
        with self.lock:
            r = BY_KEY["services"]
            svc = self._lookup(r, "default", "kubernetes")
            if svc and svc["spec"]["ports"][0].get("targetPort") != self.port:
                new = copy.deepcopy(svc)
                new["spec"]["ports"][0]["targetPort"] = self.port
                self._put(r, new, svc)

    # ---- controllers the tests may turn on ----

    def _after_write(self, r, obj):
        if r.key != "certificatesigningrequests.certificates.k8s.io":
            return
        if self.auto_approve or self.auto_sign:
            name = obj["metadata"]["name"]
            threading.Timer(0.05, self._csr_controller, args=(name,)).start()

    def _csr_controller(self, name):
        try:
            with self.lock:
                csr = self._lookup(BY_KEY["certificatesigningrequests.certificates.k8s.io"], "", name)
                if not csr:
                    return
                conds = deep_get(csr, ["status", "conditions"], []) or []
                approved = any(c.get("type") == "Approved" for c in conds)
                denied = any(c.get("type") in ("Denied", "Failed") for c in conds)
                signer = deep_get(csr, ["spec", "signerName"], "")
            if self.auto_approve and not approved and not denied and \
                    signer == "kubernetes.io/kube-apiserver-client-kubelet":
                self.approve_csr(name, reason="AutoApproved",
                                 message="Auto approving kubelet client certificate after SubjectAccessReview.")
                approved = True
            if self.auto_sign and approved and not denied and not deep_get(csr, ["status", "certificate"]) and \
                    signer in ("kubernetes.io/kube-apiserver-client-kubelet", "kubernetes.io/kubelet-serving",
                               "kubernetes.io/kube-apiserver-client"):
                self.sign_csr(name)
        except Exception as e:  # a controller error must not kill the server
            print("fake-apiserver: csr controller: %s" % e, file=sys.stderr)

    def approve_csr(self, name, reason="KubectlApprove", message="This CSR was approved by kubectl certificate "
                    "approve."):
        r = BY_KEY["certificatesigningrequests.certificates.k8s.io"]
        with self.lock:
            csr = self._lookup(r, "", name)
            if not csr:
                raise err_not_found(r.name, r.group, name)
            conds = copy.deepcopy(deep_get(csr, ["status", "conditions"], []) or [])
            if not any(c.get("type") == "Approved" for c in conds):
                t = now_ts()
                conds.append({"type": "Approved", "status": "True", "reason": reason, "message": message,
                              "lastUpdateTime": t, "lastTransitionTime": t})
                # the approval subresource's rules: a denied CSR cannot be approved (422)
                new = self._merge_for_subresource(r, "approval", csr, {"status": {"conditions": conds}})
                self._put(r, new, csr)
            return copy.deepcopy(self._lookup(r, "", name))

    def deny_csr(self, name, reason="KubectlDeny", message="This CSR was denied by kubectl certificate deny."):
        """Add the Denied condition through the approval subresource's rules (as `kubectl certificate deny` does):
        refused (422) for an approved CSR, a no-op for one already denied."""
        r = BY_KEY["certificatesigningrequests.certificates.k8s.io"]
        with self.lock:
            csr = self._lookup(r, "", name)
            if not csr:
                raise err_not_found(r.name, r.group, name)
            conds = copy.deepcopy(deep_get(csr, ["status", "conditions"], []) or [])
            if not any(c.get("type") == "Denied" for c in conds):
                t = now_ts()
                conds.append({"type": "Denied", "status": "True", "reason": reason, "message": message,
                              "lastUpdateTime": t, "lastTransitionTime": t})
                new = self._merge_for_subresource(r, "approval", csr, {"status": {"conditions": conds}})
                self._put(r, new, csr)
            return copy.deepcopy(self._lookup(r, "", name))

    def sign_csr(self, name, seconds=None):
        """Issue the certificate of CSR name with the fake's CA (status.certificate: base64 of the PEM). Lifetime:
        seconds, else spec.expirationSeconds, else a year; notBefore backdated 5 minutes like the real signer.
        Idempotent: a CSR that already has its certificate is returned as it is. A denied or failed CSR is not
        signed (409)."""
        with self._csr_sign_lock:
            return self._sign_csr_locked(name, seconds)

    def _sign_csr_locked(self, name, seconds):
        r = BY_KEY["certificatesigningrequests.certificates.k8s.io"]
        with self.lock:
            csr = self._lookup(r, "", name)
            if not csr:
                raise err_not_found(r.name, r.group, name)
            if deep_get(csr, ["status", "certificate"]):
                return copy.deepcopy(csr)
            conds = deep_get(csr, ["status", "conditions"], []) or []
            if any(c.get("type") in ("Denied", "Failed") for c in conds):
                raise ApiError(409, "Conflict", "certificatesigningrequests.certificates.k8s.io \"%s\" is denied or "
                               "failed: no certificate is issued" % name)
            req = base64.b64decode(csr["spec"]["request"])
            seconds = seconds or deep_get(csr, ["spec", "expirationSeconds"]) or 365 * 86400
            usages = deep_get(csr, ["spec", "usages"], []) or []
        d = tempfile.mkdtemp(dir=self.tls_dir)
        try:
            with open(os.path.join(d, "req.csr"), "wb") as f:
                f.write(req)
            self._sign_csr_file(os.path.join(d, "req.csr"), os.path.join(d, "out.crt"),
                                "server" if "server auth" in usages else "client", seconds, 300)
            with open(os.path.join(d, "out.crt"), "rb") as f:
                pem = f.read()
            pem = pem[pem.index(b"-----BEGIN"):]
        finally:
            shutil.rmtree(d, ignore_errors=True)
        with self.lock:
            csr = self._lookup(r, "", name)
            new = copy.deepcopy(csr)
            new.setdefault("status", {})["certificate"] = base64.b64encode(pem).decode()
            self._put(r, new, csr)
            return copy.deepcopy(new)

    def compact(self):
        """Forget the watch history: watches from an older resourceVersion and old continue tokens get 410."""
        with self.lock:
            self.history = []
            self._history_rvs = []
            self.compacted_rv = self.rv

    def close_watches(self):
        with self.cond:
            self.watch_epoch += 1
            self.cond.notify_all()

    # ---- in-process object API (as system:masters, no admission) ----

    def _res(self, resource):
        if resource in BY_KEY:
            return BY_KEY[resource]
        raise KeyError("unknown resource %s" % resource)

    def create(self, obj, namespace=None):
        r = self._res_for_obj(obj)
        ns = namespace or obj.get("metadata", {}).get("namespace") or ("default" if r.namespaced else None)
        with self.lock:
            return copy.deepcopy(self._external(r, self._create(r, copy.deepcopy(obj), ns, ADMIN)))

    def get(self, resource, name, namespace=None):
        r = self._res(resource)
        with self.lock:
            o = self._lookup(r, namespace if r.namespaced else None, name)
            return copy.deepcopy(self._external(r, o)) if o else None

    def list(self, resource, namespace=None):
        r = self._res(resource)
        with self.lock:
            return [copy.deepcopy(self._external(r, o)) for (ns, _), o in sorted(self.objects.get(r.store, {}).items())
                    if namespace is None or ns == namespace]

    def update(self, obj, subresource=None):
        r = self._res_for_obj(obj)
        m = obj["metadata"]
        with self.lock:
            return copy.deepcopy(self._external(r, self._update(r, m.get("namespace"), m["name"], subresource,
                                                                copy.deepcopy(obj), ADMIN)))

    def patch(self, resource, name, patch, namespace=None, patch_type="merge", subresource=None):
        r = self._res(resource)
        ctype = {"merge": "application/merge-patch+json", "strategic": "application/strategic-merge-patch+json",
                 "json": "application/json-patch+json"}[patch_type]
        with self.lock:
            obj, _ = self._patch(r, namespace, name, subresource, ctype, json.dumps(patch).encode(), ADMIN, {})
            return copy.deepcopy(obj)

    def delete(self, resource, name, namespace=None, grace=None, uid=None):
        r = self._res(resource)
        opts = {}
        if grace is not None:
            opts["gracePeriodSeconds"] = grace
        if uid:
            opts["preconditions"] = {"uid": uid}
        with self.lock:
            return copy.deepcopy(self._delete(r, namespace, name, opts, ADMIN))

    def wait_for(self, resource, name, namespace=None, predicate=lambda o: o is not None, timeout=10.0):
        """Block until predicate(object or None) holds; returns the object (a copy). Raises TimeoutError."""
        r = self._res(resource)
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                o = self._lookup(r, namespace if r.namespaced else None, name)
                o = copy.deepcopy(self._external(r, o)) if o else None
                if predicate(o):
                    return o
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("%s %s/%s: condition not met in %.1f s" % (resource, namespace, name,
                                                                                  timeout))
                self.cond.wait(min(left, 0.5))

    # ---- request log ----

    def _log_request(self, entry):
        with self.lock:
            entry["index"] = len(self._log)
            self._log.append(entry)

    def requests(self, since=0, **filters):
        """The request log: dicts with time, method, path, query, verb, resource, subresource, namespace, name,
        user, groups, user_agent, content_type, status (and watch: True for watches). filters: field=value."""
        with self.lock:
            out = [dict(e) for e in self._log[since:]]
        return [e for e in out if all(e.get(k) == v for k, v in filters.items())]

    def clear_requests(self):
        with self.lock:
            self._log = []

    # ---- conversions between storage and what a client sees ----

    def _external(self, r, obj):
        if obj is None:
            return None
        if r.group == "events.k8s.io":
            return event_to_v1(obj)
        return obj

    # ---- the verbs (callers hold self.lock) ----

    def _generate_name(self, r, ns, prefix):
        for _ in range(20):
            name = prefix + rand_suffix()
            if not self._lookup(r, ns, name):
                return name
        raise ApiError(500, "InternalError", "could not generate a unique name", {})

    def _create(self, r, obj, ns, user, warnings=None, strict=False):
        if not isinstance(obj, dict):
            raise err_bad_request("the body of the request was in an unknown format - accepted media types "
                                  "include: application/json, application/yaml, application/vnd.kubernetes.protobuf")
        if obj.get("kind") not in (None, r.kind) or obj.get("apiVersion") not in (None, r.api_version):
            raise err_bad_request("the API version in the data (%s) does not match the expected API version (%s)" % (
                obj.get("apiVersion"), r.api_version))
        if r.group == "events.k8s.io":
            obj = event_from_v1(obj)
        m = obj.setdefault("metadata", {})
        if r.namespaced:
            if m.get("namespace") and ns and m["namespace"] != ns:
                raise err_bad_request("the namespace of the provided object does not match the namespace sent on "
                                      "the request")
            ns = ns or m.get("namespace") or "default"
            m["namespace"] = ns
        else:
            m.pop("namespace", None)
            ns = None
        if not m.get("name"):
            if m.get("generateName"):
                m["name"] = self._generate_name(r, ns, m["generateName"])
            else:
                raise err_invalid(r.kind, "", [("metadata.name", "Required value: name or generateName is "
                                                                 "required")], r.group)
        if self._lookup(r, ns, m["name"]):
            raise err_already_exists(r.name, r.group, m["name"])
        self._validate_fields(r, obj, warnings, strict)
        for k in ("uid", "resourceVersion", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
                  "managedFields", "selfLink"):
            m.pop(k, None)
        m["uid"] = str(uuid.uuid4())
        m["creationTimestamp"] = now_ts()
        if r.generation:
            m["generation"] = 1
        self._defaults(r, obj, user)
        obj = self._ordered(r, obj)
        return self._put(r, obj)

    def _ordered(self, r, obj):
        """kind, apiVersion, metadata first, metadata fields in the server's order."""
        out = {"kind": r.kind if r.group != "events.k8s.io" else "Event",
               "apiVersion": r.api_version if r.group != "events.k8s.io" else "v1"}
        order = ["name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
                 "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations",
                 "ownerReferences", "finalizers"]
        m = obj.get("metadata", {})
        out["metadata"] = {k: m[k] for k in order if k in m and m[k] not in (None, [], {})}
        for k, v in obj.items():
            if k not in ("kind", "apiVersion", "metadata"):
                out[k] = v
        return out

    def _defaults(self, r, obj, user):
        if r.kind == "Pod":
            default_pod(obj)
        elif r.kind == "Node":
            spec = obj.setdefault("spec", {})
            taints = spec.setdefault("taints", [])
            if not any(t.get("key") == "node.kubernetes.io/not-ready" for t in taints):
                taints.append({"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"})
            st = obj.setdefault("status", {})
            st.setdefault("daemonEndpoints", {"kubeletEndpoint": {"Port": 0}})
            st.setdefault("nodeInfo", dict(BOOKMARK_BODIES["Node"]["status"]["nodeInfo"]))
        elif r.kind == "Service":
            self._default_service(obj)
        elif r.kind == "Secret":
            sd = obj.pop("stringData", None) or {}
            if sd:
                data = obj.setdefault("data", {})
                for k, v in sd.items():
                    data[k] = base64.b64encode(v.encode()).decode()
            obj.setdefault("type", "Opaque")
        elif r.kind == "Namespace":
            obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = obj["metadata"]["name"]
            obj["spec"] = {"finalizers": ["kubernetes"]}
            obj["status"] = {"phase": "Active"}
        elif r.kind == "EndpointSlice":
            for p in obj.get("ports") or []:
                p.setdefault("protocol", "TCP")
            obj.setdefault("endpoints", None)
            obj.setdefault("ports", None)
        elif r.kind == "CertificateSigningRequest":
            spec = obj.setdefault("spec", {})
            spec["username"] = user.name
            spec["groups"] = list(user.groups)
            if user.uid:
                spec["uid"] = user.uid
            obj["status"] = {}

    def _default_service(self, obj):
        spec = obj.setdefault("spec", {})
        stype = spec.setdefault("type", "ClusterIP")
        for p in spec.get("ports") or []:
            p.setdefault("protocol", "TCP")
            if stype != "ExternalName":
                p.setdefault("targetPort", p.get("port"))
            if stype in ("NodePort", "LoadBalancer") and not p.get("nodePort"):
                p["nodePort"] = self._alloc_node_port()
            if p.get("nodePort"):
                self._used_node_ports.add(p["nodePort"])
        if stype != "ExternalName":
            if not spec.get("clusterIP"):
                spec["clusterIP"] = self._alloc_cluster_ip()
            spec["clusterIPs"] = [spec["clusterIP"]]
            self._used_ips.add(spec["clusterIP"])
            spec.setdefault("sessionAffinity", "None")
            spec.setdefault("ipFamilies", ["IPv4"])
            spec.setdefault("ipFamilyPolicy", "SingleStack")
            spec.setdefault("internalTrafficPolicy", "Cluster")
            if stype in ("NodePort", "LoadBalancer"):
                spec.setdefault("externalTrafficPolicy", "Cluster")
        else:
            spec.setdefault("sessionAffinity", "None")
        obj["status"] = {"loadBalancer": {}}

    def _alloc_cluster_ip(self):
        for _ in range(100000):
            ip = "%s.%d.%d" % (self._svc_prefix, random.randrange(256), random.randrange(1, 255))
            if ip not in self._used_ips and not ip.endswith(".0.1"):
                return ip
        raise ApiError(500, "InternalError", "no ClusterIP left", {})

    def _alloc_node_port(self):
        for _ in range(2768):
            self._node_port_next = 30000 + (self._node_port_next - 30000 + 1) % 2768
            if self._node_port_next not in self._used_node_ports:
                return self._node_port_next
        raise ApiError(500, "InternalError", "no NodePort left", {})

    def _validate_fields(self, r, obj, warnings, strict, is_patch_body=None):
        schema = SCHEMAS.get(r.kind)
        if not schema:
            return
        unknown = unknown_fields(obj, schema)
        if not unknown:
            return
        if strict:
            if is_patch_body is not None:
                text = "strict decoding error: " + ", ".join('unknown field "%s"' % u for u in unknown)
                msg = 'Invalid value: "%s": %s' % (go_value(is_patch_body), text)
                raise ApiError(422, "Invalid", ' "" is invalid: patch: ' + msg,
                               {"causes": [{"reason": "FieldValueInvalid", "message": msg, "field": "patch"}]})
            raise err_bad_request("strict decoding error: " + ", ".join('unknown field "%s"' % u for u in unknown))
        if warnings is not None:
            warnings.extend('unknown field "%s"' % u for u in unknown)
        drop_fields(obj, unknown)

    def _update(self, r, ns, name, sub, obj, user, warnings=None, strict=False, from_patch=False):
        if not isinstance(obj, dict):
            raise err_bad_request("the body of the request was in an unknown format")
        if r.group == "events.k8s.io" and not from_patch:
            obj = event_from_v1(obj)
        m = obj.setdefault("metadata", {})
        if m.get("name") and m["name"] != name:
            raise err_bad_request("the name of the object (%s) does not match the name on the URL (%s)" % (
                m["name"], name))
        if r.namespaced and m.get("namespace") and m["namespace"] != ns:
            raise err_bad_request("the namespace of the provided object does not match the namespace sent on the "
                                  "request")
        old = self._lookup(r, ns, name)
        if old is None:
            if r.create_on_update and not sub and not from_patch:
                m["name"] = name
                return self._create(r, obj, ns, user, warnings, strict)
            raise err_not_found(r.name, r.group, name)
        self._validate_fields(r, obj, warnings, strict)
        if m.get("uid") and m["uid"] != old["metadata"]["uid"]:
            if from_patch:
                msg = 'Invalid value: "%s": field is immutable' % m["uid"]
                # the real server lists this cause twice (update validation and status validation)
                raise err_invalid(r.kind, name, [("metadata.uid", msg), ("metadata.uid", msg)])
            raise ApiError(409, "Conflict", 'Operation cannot be fulfilled on %s "%s": Precondition failed: UID in '
                           'precondition: %s, UID in object meta: %s' % (qualified(r.name, r.group), name,
                                                                           old["metadata"]["uid"], m["uid"]),
                           details_of(r.name, r.group, name))
        if m.get("resourceVersion") and m["resourceVersion"] != old["metadata"]["resourceVersion"]:
            raise err_conflict(r.name, r.group, name)
        new = self._merge_for_subresource(r, sub, old, obj)
        nm = new["metadata"]
        for k in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation",
                  "generateName"):
            if k in old["metadata"]:
                nm[k] = old["metadata"][k]
            else:
                nm.pop(k, None)
        nm["name"] = name
        if r.namespaced:
            nm["namespace"] = ns
        nm.pop("managedFields", None)
        if r.kind == "Secret" and "stringData" in new:
            sd = new.pop("stringData") or {}
            for k, v in sd.items():
                new.setdefault("data", {})[k] = base64.b64encode(v.encode()).decode()
        new = self._ordered(r, new)
        if self._same(old, new):
            return old  # a no-op write keeps the resourceVersion and sends no event
        if r.generation and self._spec_changed(old, new):
            new["metadata"]["generation"] = old["metadata"].get("generation", 1) + 1
        if old["metadata"].get("deletionTimestamp") and not new["metadata"].get("finalizers") and \
                old["metadata"].get("finalizers"):
            stored = self._put(r, new, old)
            return self._remove(r, stored)
        return self._put(r, new, old)

    @staticmethod
    def _same(a, b):
        a = dict(a, metadata={k: v for k, v in a["metadata"].items() if k != "resourceVersion"})
        b = dict(b, metadata={k: v for k, v in b["metadata"].items() if k != "resourceVersion"})
        return a == b

    @staticmethod
    def _spec_changed(a, b):
        return {k: v for k, v in a.items() if k != "metadata"} != {k: v for k, v in b.items() if k != "metadata"}

    def _merge_for_subresource(self, r, sub, old, obj):
        new = copy.deepcopy(obj)
        if sub == "status":
            # the status subresource changes status only (metadata labels/annotations are not taken either)
            out = copy.deepcopy(old)
            if "status" in new:
                out["status"] = new["status"]
            else:
                out.pop("status", None)
            return out
        if sub == "approval":
            out = copy.deepcopy(old)
            conds = copy.deepcopy(deep_get(new, ["status", "conditions"], []) or [])
            for c in conds:
                if c.get("type") not in ("Approved", "Denied", "Failed"):
                    raise err_invalid(r.kind, old["metadata"]["name"], [
                        ("status.conditions[0].type", 'Unsupported value: "%s"' % c.get("type"))], r.group)
                if not c.get("lastTransitionTime"):
                    c["lastTransitionTime"] = now_ts()
            types = {c.get("type") for c in conds}
            if "Approved" in types and "Denied" in types:
                raise err_invalid(r.kind, old["metadata"]["name"], [
                    ("status.conditions", 'Invalid value: "Denied": Approved and Denied conditions are mutually '
                                          'exclusive')], r.group)
            out.setdefault("status", {})["conditions"] = conds
            return out
        if sub:
            raise err_not_implemented("%s/%s update" % (r.name, sub))
        if r.kind in ("Pod", "Node", "Service", "CertificateSigningRequest", "Namespace"):
            # the main resource ignores status changes
            if "status" in old:
                new["status"] = copy.deepcopy(old["status"])
            else:
                new.pop("status", None)
        if r.kind == "CertificateSigningRequest":
            new["spec"] = copy.deepcopy(old["spec"])
        return new

    def _patch(self, r, ns, name, sub, ctype, body, user, params):
        warnings = []
        ctype = (ctype or "").split(";")[0].strip()
        if ctype not in ("application/merge-patch+json", "application/strategic-merge-patch+json",
                         "application/json-patch+json"):
            if ctype == "application/apply-patch+yaml":
                raise err_not_implemented("server-side apply")
            raise ApiError(415, "UnsupportedMediaType", "415: Unsupported Media Type", {})
        try:
            patch = json.loads(body or b"null")
        except ValueError as e:
            raise err_bad_request("error decoding patch: %s" % e)
        old = self._lookup(r, ns, name)
        if old is None:
            raise err_not_found(r.name, r.group, name)
        strict = params.get("fieldValidation") == "Strict"
        ignore = params.get("fieldValidation") == "Ignore"
        cur = self._external(r, copy.deepcopy(old))
        if ctype == "application/json-patch+json":
            new = json_patch(cur, patch)
        else:
            if not isinstance(patch, dict):
                raise err_bad_request("json: cannot unmarshal %s into Go value of type map[string]interface {}" %
                                      type(patch).__name__)
            if SCHEMAS.get(r.kind):
                unknown = unknown_fields(patch, SCHEMAS[r.kind])
                if unknown and strict:
                    self._validate_fields(r, copy.deepcopy(patch), None, True, is_patch_body=patch)
                if unknown and not ignore:
                    warnings.extend('unknown field "%s"' % u for u in unknown)
                drop_fields(patch, unknown)
            if ctype == "application/merge-patch+json":
                new = merge_patch(cur, patch)
            else:
                if r.group not in ("", "coordination.k8s.io", "discovery.k8s.io", "events.k8s.io",
                                   "certificates.k8s.io"):
                    raise ApiError(415, "UnsupportedMediaType", "415: Unsupported Media Type", {})
                new = strategic_merge(cur, patch)
        if r.group == "events.k8s.io":
            new = event_from_v1(new)
        try:
            stored = self._update(r, ns, name, sub, new, user, None, False, from_patch=True)
        except ApiError as e:
            e.headers += [("Warning", '299 - "%s"' % w.replace('"', '\\"')) for w in warnings]
            raise
        return self._external(r, stored), warnings

    def _delete(self, r, ns, name, opts, user):
        obj = self._lookup(r, ns, name)
        if obj is None:
            raise err_not_found(r.name, r.group, name)
        pre = opts.get("preconditions") or {}
        m = obj["metadata"]
        if pre.get("uid") and pre["uid"] != m["uid"]:
            raise ApiError(409, "Conflict", 'Operation cannot be fulfilled on %s "%s": the UID in the precondition '
                           '(%s) does not match the UID in record (%s). The object might have been deleted and then '
                           'recreated' % (r.kind, name, pre["uid"], m["uid"]), {"name": name, "kind": r.kind})
        if pre.get("resourceVersion") and pre["resourceVersion"] != m["resourceVersion"]:
            raise ApiError(409, "Conflict", 'Operation cannot be fulfilled on %s "%s": the ResourceVersion in the '
                           'precondition (%s) does not match the ResourceVersion in record (%s). The object might '
                           'have been modified' % (r.kind, name, pre["resourceVersion"], m["resourceVersion"]),
                           {"name": name, "kind": r.kind})
        grace = opts.get("gracePeriodSeconds")
        if r.kind == "Pod":
            # graceful deletion: the pod stays, with deletionTimestamp, until its node deletes it with grace 0
            if grace is None:
                grace = deep_get(obj, ["spec", "terminationGracePeriodSeconds"], 30)
            grace = int(grace)
            if not deep_get(obj, ["spec", "nodeName"]) or deep_get(obj, ["status", "phase"]) in ("Succeeded",
                                                                                                  "Failed"):
                grace = 0
            cur_grace = m.get("deletionGracePeriodSeconds")
            if cur_grace is None or grace < cur_grace:
                new = copy.deepcopy(obj)
                new["metadata"]["deletionTimestamp"] = now_ts(time.time() + grace)
                new["metadata"]["deletionGracePeriodSeconds"] = grace
                obj = self._put(r, self._ordered(r, new), obj)
            if grace > 0 or obj["metadata"].get("finalizers"):
                return self._external(r, obj)
            return self._external(r, self._remove(r, obj))
        if m.get("finalizers"):
            if not m.get("deletionTimestamp"):
                new = copy.deepcopy(obj)
                new["metadata"]["deletionTimestamp"] = now_ts()
                new["metadata"]["deletionGracePeriodSeconds"] = 0
                obj = self._put(r, self._ordered(r, new), obj)
            return self._external(r, obj)
        final = self._remove(r, obj)
        if r.return_deleted:
            return self._external(r, final)
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                "details": details_of(r.name, r.group, name, m["uid"])}

    # ---- authorization and admission ----

    def authorize(self, user, verb, r_name, group, sub, ns, name, path):
        """None when allowed, else the ApiError."""
        if "system:masters" in user.groups:
            return None
        if r_name is None:  # non-resource URL
            if path in PUBLIC_PATHS or (user is not ANONYMOUS and not path.startswith("/fake")):
                return None
            return ApiError(403, "Forbidden", 'forbidden: User "%s" cannot %s path "%s"' % (
                user.name, verb, path), {}, headers=[("X-Content-Type-Options", "nosniff")])
        full = r_name + ("/" + sub if sub else "")
        for subject, g, resources, verbs in self.grants:
            if (subject == user.name or subject in user.groups) and g == group and \
                    (full in resources or "*" in resources) and (verb in verbs or "*" in verbs):
                return None
        node = user.node
        if node is not None:
            reason = self._node_authorize(node, verb, r_name, group, sub, ns, name)
            if reason is None:
                return None
            return err_forbidden_authz(user.name, verb, r_name, group, name, ns, reason, sub)
        if user.name == "system:kube-proxy" and rules_allow(PROXIER_RULES, group, full, verb):
            return None
        if "system:bootstrappers" in user.groups and rules_allow(BOOTSTRAP_RULES, group, full, verb):
            return None
        return err_forbidden_authz(user.name, verb, r_name, group, name, ns, "", sub)

    def _node_authorize(self, node, verb, res, group, sub, ns, name):
        if group == "" and res in ("configmaps", "secrets", "persistentvolumeclaims", "persistentvolumes") \
                and not sub:
            if verb not in ("get", "list", "watch"):
                return "can only read resources of this type"
            if not name:
                return "No Object name found"
            if not self._node_references(node, res, ns, name):
                return "no relationship found between node '%s' and this object" % node
            return None
        if group == "" and res == "serviceaccounts" and sub == "token":
            if verb != "create":
                return "can only create tokens for individual service accounts"
            if not self._node_references(node, res, ns, name):
                return "no relationship found between node '%s' and this object" % node
            return None
        if group == "coordination.k8s.io" and res == "leases":
            if verb not in ("get", "create", "update", "patch", "delete"):
                return "can only get, create, update, patch, or delete a node lease"
            if ns != "kube-node-lease" or (verb != "create" and name != node):
                return "can only access node lease with the same name as the requesting node"
            return None
        if rules_allow(NODE_RULES, group, res + ("/" + sub if sub else ""), verb):
            return None
        return ""

    def _node_references(self, node, res, ns, name):
        for pod in self.objects.get("pods", {}).values():
            if deep_get(pod, ["spec", "nodeName"]) != node or pod["metadata"]["namespace"] != ns:
                continue
            cms, secrets, pvcs, sa = pod_references(pod)
            if (res == "configmaps" and name in cms) or (res == "secrets" and name in secrets) or \
                    (res == "persistentvolumeclaims" and name in pvcs) or (res == "serviceaccounts" and name == sa):
                return True
        return False

    def admit(self, user, verb, r, sub, ns, name, body):
        """NodeRestriction: what a node may change, once the authorizer let the request through."""
        node = user.node
        if node is None:
            return
        if r.kind == "Node" and verb in ("create", "update", "patch", "delete"):
            target = name or (body or {}).get("metadata", {}).get("name", "")
            if target != node:
                raise err_forbidden_admission(r.name, r.group, target, 'node "%s" is not allowed to modify node '
                                                                        '"%s"' % (node, target))
        elif r.kind == "Pod" and not sub and verb == "create":
            meta = (body or {}).get("metadata") or {}
            pname = meta.get("name", "")
            if "kubernetes.io/config.mirror" not in (meta.get("annotations") or {}):
                raise err_forbidden_admission(r.name, r.group, pname, 'pod does not have "kubernetes.io/config.'
                                              'mirror" annotation, node "%s" can only create mirror pods' % node)
            if deep_get(body, ["spec", "nodeName"]) != node:
                raise err_forbidden_admission(r.name, r.group, pname, 'node "%s" can only create pods with '
                                              'spec.nodeName set to itself' % node)
            cms, secrets, pvcs, _ = pod_references(body)
            if cms or secrets or pvcs:
                raise err_forbidden_admission(r.name, r.group, pname, 'node "%s" can not create pods that use '
                                              'secrets, configmaps, or persistent volume claims' % node)
        elif r.kind == "Pod" and verb in ("delete", "update", "patch") and sub in (None, "status", "eviction"):
            pod = self._lookup(r, ns, name)
            if pod is None:
                raise err_not_found(r.name, r.group, name)
            if deep_get(pod, ["spec", "nodeName"]) != node:
                what = {"delete": "delete pods", "status": "update pod status for pods",
                        "eviction": "evict pods"}.get(sub or verb, "update pods")
                raise err_forbidden_admission(r.name, r.group, name, 'node "%s" can only %s with spec.nodeName set '
                                                                      'to itself' % (node, what))
        elif r.kind == "Pod" and verb == "create" and sub == "eviction":
            pod = self._lookup(r, ns, name)
            if pod is not None and deep_get(pod, ["spec", "nodeName"]) != node:
                raise err_forbidden_admission(r.name, r.group, name, 'node "%s" can only evict pods with '
                                                                      'spec.nodeName set to itself' % node)
        elif r.kind == "Lease" and verb in ("create", "update", "patch", "delete"):
            target = name or (body or {}).get("metadata", {}).get("name", "")
            if target != node or ns != "kube-node-lease":
                raise err_forbidden_admission(r.name, r.group, target, "can only access node lease with the same "
                                                                        "name as the requesting node")
        elif r.kind == "ServiceAccount" and sub == "token":
            ref = deep_get(body, ["spec", "boundObjectRef"])
            if not ref:
                raise err_forbidden_admission(r.name, r.group, name, "node requested token not bound to a pod")
            if ref.get("kind") != "Pod":
                raise err_forbidden_admission(r.name, r.group, name, "node requested token bound to an object "
                                                                      "other than a pod")
            pod = self._lookup(BY_KEY["pods"], ns, ref.get("name"))
            if pod is None:
                raise err_not_found("pods", "", ref.get("name"))
            if deep_get(pod, ["spec", "nodeName"]) != node:
                raise err_forbidden_admission(r.name, r.group, name, "node requested token bound to a pod "
                                                                      "scheduled on a different node")
            if ref.get("uid") and ref["uid"] != pod["metadata"]["uid"]:
                raise err_forbidden_admission(r.name, r.group, name, "the UID in the bound object reference (%s) "
                                              "does not match the UID in record. The object might have been deleted "
                                              "and then recreated" % ref["uid"])

    # ---- TokenReview and SubjectAccessReview (what a kubelet's webhook authn/authz asks) ----

    def _token_review(self, doc):
        """authentication.k8s.io/v1 TokenReview: the tokens this fake accepts itself (static, bootstrap,
        TokenRequest-issued) authenticate; others get the real server's answer for an invalid token."""
        spec = doc.get("spec") or {}
        token = spec.get("token") or ""
        with self.lock:
            u = (self.tokens.get(token) or self._bootstrap_user(token)) if token else None
        out = {"kind": "TokenReview", "apiVersion": "authentication.k8s.io/v1",
               "metadata": {"creationTimestamp": None}, "spec": spec}
        if u is None:
            out["status"] = {"user": {}, "error": "[invalid bearer token, token lookup failed]"}
            return out
        user = {"username": u.name, "groups": u.groups + ["system:authenticated"]}
        if u.uid:
            user["uid"] = u.uid
        out["status"] = {"authenticated": True, "user": user,
                         "audiences": spec.get("audiences") or ["https://kubernetes.default.svc.cluster.local"]}
        return out

    def _access_review(self, doc):
        """authorization.k8s.io/v1 SubjectAccessReview, answered by this fake's authorizer (system:masters, the
        grants of grant(), the Node authorizer's rules, the kube-proxy and bootstrapper roles)."""
        spec = doc.get("spec") or {}
        user = User(spec.get("user") or "", spec.get("groups") or [], spec.get("uid") or "")
        ra, nra = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
        if ra:
            err = self.authorize(user, ra.get("verb") or "", ra.get("resource") or "", ra.get("group") or "",
                                 ra.get("subresource") or None, ra.get("namespace") or None, ra.get("name") or None,
                                 "")
        elif nra:
            err = self.authorize(user, nra.get("verb") or "", None, None, None, None, None, nra.get("path") or "")
        else:
            raise ApiError(422, "Invalid", "SubjectAccessReview.authorization.k8s.io \"\" is invalid: "
                           "spec.resourceAttributes: Invalid value: \"null\": exactly one of "
                           "nonResourceAttributes or resourceAttributes must be specified", {})
        status = {"allowed": err is None}
        if err is None:
            status["reason"] = "allowed by the fake apiserver's rules"
        elif user.name and err.message:
            status["reason"] = err.message
        with self.lock:
            self.reviews.append({"user": user.name, "groups": list(user.groups), "allowed": err is None,
                                 "attributes": ra or nra})
        return {"kind": "SubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
                "metadata": {"creationTimestamp": None}, "spec": spec, "status": status}

    # ---- subresources with their own logic ----

    def _token_request(self, ns, name, body, user):
        r = BY_KEY["serviceaccounts"]
        sa = self._lookup(r, ns, name)
        if sa is None:
            raise err_not_found(r.name, r.group, name)
        spec = (body or {}).get("spec") or {}
        exp = int(spec.get("expirationSeconds") or 3600)
        if exp < 600:
            raise err_invalid("TokenRequest", name, [("spec.expirationSeconds", 'Invalid value: %d: may not '
                                                      'specify a duration less than 10 minutes' % exp)],
                              "authentication.k8s.io")
        audiences = spec.get("audiences") or [ISSUER]
        now = int(time.time())
        # kubelet-style 3607 s tokens are extended to a year (--service-account-extend-token-expiration)
        jwt_exp = now + (365 * 86400 if exp == 3607 else exp)
        claims = {"aud": audiences, "exp": jwt_exp, "iat": now, "iss": ISSUER,
                  "kubernetes.io": {"namespace": ns, "serviceaccount": {"name": name, "uid": sa["metadata"]["uid"]}},
                  "nbf": now, "sub": "system:serviceaccount:%s:%s" % (ns, name)}
        ref = spec.get("boundObjectRef")
        if ref:
            pod = self._lookup(BY_KEY["pods"], ns, ref.get("name")) if ref.get("kind") == "Pod" else None
            if ref.get("kind") == "Pod" and pod is None:
                raise err_not_found("pods", "", ref.get("name"))
            if pod is not None:
                claims["kubernetes.io"]["pod"] = {"name": ref["name"], "uid": pod["metadata"]["uid"]}
            if exp == 3607:
                claims["kubernetes.io"]["warnafter"] = now + exp
        header = b64url(json.dumps({"alg": "HS256", "kid": "fake-apiserver"}, separators=(",", ":")).encode())
        payload = b64url(json.dumps(claims, separators=(",", ":")).encode())
        sig = b64url(hmac.new(self._jwt_key, (header + "." + payload).encode(), hashlib.sha256).digest())
        token = "%s.%s.%s" % (header, payload, sig)
        self.tokens[token] = User("system:serviceaccount:%s:%s" % (ns, name),
                                  ["system:serviceaccounts", "system:serviceaccounts:" + ns])
        out_spec = {"audiences": audiences, "expirationSeconds": exp}
        if ref:
            out_spec["boundObjectRef"] = ref
        return {"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
                "metadata": {"name": name, "namespace": ns, "creationTimestamp": now_ts(now)},
                "spec": out_spec, "status": {"token": token, "expirationTimestamp": now_ts(now + exp)}}

    def _binding(self, ns, name, body):
        r = BY_KEY["pods"]
        pod = self._lookup(r, ns, name)
        if pod is None:
            raise err_not_found(r.name, r.group, name)
        target = deep_get(body, ["target", "name"])
        if deep_get(pod, ["spec", "nodeName"]):
            raise err_conflict(r.name, r.group, name, "pod %s is already assigned to node \"%s\"" % (
                name, pod["spec"]["nodeName"]))
        new = copy.deepcopy(pod)
        new["spec"]["nodeName"] = target
        conds = new.setdefault("status", {}).setdefault("conditions", [])
        conds.append({"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                      "lastTransitionTime": now_ts()})
        self._put(r, new, pod)
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}


ADMIN = User("system:admin", ["system:masters", "system:authenticated"])


# ---------------------------------------------------------------------------------------------------------------
# HTTP


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-apiserver"
    timeout = 600
    fake = None

    def log_message(self, fmt, *args):
        pass

    def setup(self):
        super().setup()
        with self.fake.lock:
            self.fake._conns.add(self.connection)
        try:
            self.connection.settimeout(10)
            self.connection.do_handshake()
            self.connection.settimeout(self.timeout)
            self._tls_ok = True
        except (ssl.SSLError, OSError) as e:
            self._tls_ok = False
            self.fake._log_request({"time": time.time(), "method": "TLS", "path": "", "query": "", "user": None,
                                    "groups": [], "status": 0, "error": str(e)})

    def handle(self):
        if self._tls_ok:
            try:
                super().handle()
            except (ssl.SSLError, OSError):
                pass

    def finish(self):
        with self.fake.lock:
            self.fake._conns.discard(self.connection)
        try:
            super().finish()
        except (ssl.SSLError, OSError):
            pass

    # ---- output ----

    def _head(self, code, headers, pf=True):
        self.send_response_only(code)
        self.send_header("Audit-Id", str(uuid.uuid4()))
        self.send_header("Cache-Control", "no-cache, private")
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Date", self.date_time_string())
        if pf:
            self.send_header("X-Kubernetes-Pf-Flowschema-Uid", "f1e2d3c4-0000-4000-8000-000000000001")
            self.send_header("X-Kubernetes-Pf-Prioritylevel-Uid", "f1e2d3c4-0000-4000-8000-000000000002")

    def _send(self, code, body, headers=(), ctype="application/json", pf=True):
        data = body if isinstance(body, bytes) else compact(body).encode()
        hdrs = [("Content-Type", ctype)] + list(headers)
        # like the real server: small bodies with Content-Length, larger ones chunked
        if len(data) <= 2048:
            self._head(code, hdrs + [("Content-Length", str(len(data)))], pf)
            self.end_headers()
            self.wfile.write(data)
        else:
            self._head(code, hdrs + [("Transfer-Encoding", "chunked")], pf)
            self.end_headers()
            for i in range(0, len(data), 65536):
                part = data[i:i + 65536]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()
        self._status = code

    def _send_error(self, e):
        self._send(e.code, e.status(), e.headers, pf=e.code != 401)

    def _chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    # ---- input ----

    def _body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_PATCH(self):
        self._dispatch("PATCH")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def _dispatch(self, method):
        fake = self.fake
        url = urllib.parse.urlsplit(self.path)
        params = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query, keep_blank_values=True).items()}
        entry = {"time": time.time(), "method": method, "path": url.path, "query": url.query, "params": params,
                 "user": None, "groups": [], "verb": None, "resource": None, "subresource": None,
                 "namespace": None, "name": None, "user_agent": self.headers.get("User-Agent"),
                 "content_type": self.headers.get("Content-Type"), "status": None}
        self._status = None
        try:
            body = self._body() if method in ("POST", "PUT", "PATCH", "DELETE") else b""
        except (ValueError, OSError):
            self.close_connection = True
            return
        try:  # which client certificate (tests of certificate rotation): the serial, as hex
            pc = self.connection.getpeercert()
            entry["cert_serial"] = pc.get("serialNumber") if pc else None
        except (AttributeError, ValueError):
            entry["cert_serial"] = None
        try:
            user = fake.authenticate(self)
            entry["user"] = user.name
            entry["groups"] = user.groups
            self._route(method, url.path, params, body, user, entry)
        except ApiError as e:
            self._send_error(e)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            self.close_connection = True
        except Exception as e:  # a bug in the fake: answer 500 rather than hang the client
            import traceback
            traceback.print_exc()
            try:
                self._send_error(ApiError(500, "InternalError", "fake apiserver: %s" % e, {}))
            except OSError:
                pass
        entry["status"] = self._status
        if not entry.get("logged"):
            fake._log_request(entry)

    def _route(self, method, path, params, body, user, entry):
        fake = self.fake
        parts = [p for p in path.split("/") if p]
        verb_for_nonres = "get" if method == "GET" else method.lower()
        if path in ("/healthz", "/livez", "/readyz") or path == "/version" or path == "/version/" or \
                path in ("/api", "/api/", "/apis", "/apis/") or path.startswith("/fake/") or \
                (len(parts) == 2 and parts[0] == "apis") or (len(parts) == 2 and parts[0] == "api") or \
                (len(parts) == 3 and parts[0] == "apis" and parts[2] == "v1" and "/" not in parts[1] and
                 (parts[1], "v1") in BY_GV) or path.startswith("/openapi"):
            err = fake.authorize(user, verb_for_nonres, None, None, None, None, None, path.rstrip("/") or "/")
            if err:
                raise err
            return self._non_resource(method, path, parts, params)
        # /api/v1/... or /apis/<group>/<version>/...
        if parts[:2] == ["api", "v1"]:
            group, version, rest = "", "v1", parts[2:]
        elif len(parts) >= 3 and parts[0] == "apis":
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            if user is ANONYMOUS:
                raise fake.authorize(user, "get", None, None, None, None, None, path) or \
                    ApiError(404, "NotFound", "the server could not find the requested resource", {})
            raise ApiError(404, "NotFound", "the server could not find the requested resource", {})
        ns = None
        if len(rest) >= 3 and rest[0] == "namespaces":
            ns, rest = rest[1], rest[2:]
        res_name = rest[0] if rest else ""
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if len(rest) > 3 and not (res_name in ("pods", "nodes", "services") and sub == "proxy"):
            raise ApiError(404, "NotFound", "the server could not find the requested resource", {})
        is_watch = params.get("watch") in ("1", "true", "True")
        if method == "GET":
            verb = "get" if name else ("watch" if is_watch else "list")
        else:
            verb = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete" if name else
                    "deletecollection"}[method]
        sel_name = None
        if verb in ("list", "watch"):
            m = re.search(r"(?:^|,)metadata\.name==?([^,]+)", params.get("fieldSelector", ""))
            sel_name = m.group(1) if m else None
        entry.update(verb=verb, resource=res_name, subresource=sub, namespace=ns, name=name or sel_name)
        if is_watch:
            entry["watch"] = True
        err = fake.authorize(user, verb, res_name, group, sub, ns, name or sel_name, path)
        if err:
            raise err
        r = BY_GV.get((group, version), {}).get(res_name)
        if r is None or (sub and sub not in r.subs) or (r.namespaced and name and ns is None and
                                                         res_name != "namespaces") or \
                (not r.namespaced and ns is not None):
            raise ApiError(404, "NotFound", "the server could not find the requested resource", {})
        if r.name in ("tokenreviews", "subjectaccessreviews") and method == "POST" and not sub:
            doc = json.loads(body or b"{}")
            review = fake._token_review(doc) if r.name == "tokenreviews" else fake._access_review(doc)
            return self._send(201, review)
        if res_name == "pods" and sub in ("log", "exec", "attach", "portforward") and name:
            return self._proxy_to_kubelet(ns, name, sub, method, entry)
        if sub in ("log", "exec", "attach", "portforward", "proxy") or r.name in ("tokenreviews",
                                                                                   "subjectaccessreviews"):
            raise err_not_implemented("%s%s" % (r.name, "/" + sub if sub else ""))
        if verb not in r.verbs and not sub:
            raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested "
                           "resource", {})
        if r.namespaced and ns is not None:
            ns_obj = fake.objects.get("namespaces", {}).get(("", ns))
            if verb == "create" and ns_obj is None:
                raise err_not_found("namespaces", "", ns)
        if verb == "get":
            return self._get(r, ns, name, sub, params)
        if verb == "list":
            return self._list(r, ns, params)
        if verb == "watch":
            return self._watch(r, ns, params, entry)
        if verb == "deletecollection":
            raise err_not_implemented("deletecollection")
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        if verb in ("create", "update") and body and ctype not in ("application/json", "", "application/yaml"):
            raise ApiError(415, "UnsupportedMediaType", "415: Unsupported Media Type", {})
        doc = None
        if verb != "patch" and body:
            try:
                doc = json.loads(body)
            except ValueError as e:
                raise err_bad_request("couldn't get version/kind; json parse error: %s" % e)
        strict = params.get("fieldValidation") == "Strict"
        with fake.lock:
            fake.admit(user, verb, r, sub, ns, name, doc)
            warnings = []
            if verb == "create":
                if sub == "token":
                    return self._send(201, fake._token_request(ns, name, doc, user))
                if sub == "binding":
                    return self._send(201, fake._binding(ns, name, doc))
                if sub == "eviction":
                    return self._send(201, self._evict(r, ns, name, doc, user))
                if sub:
                    raise err_not_implemented("%s/%s create" % (r.name, sub))
                obj = fake._create(r, doc, ns, user, warnings, strict)
                return self._send(201, fake._external(r, obj), self._warn(warnings))
            if verb == "update":
                obj = fake._update(r, ns, name, sub, doc, user, warnings, strict)
                return self._send(200, fake._external(r, obj), self._warn(warnings))
            if verb == "patch":
                obj, warnings = fake._patch(r, ns, name, sub, self.headers.get("Content-Type"), body, user, params)
                return self._send(200, obj, self._warn(warnings))
            if verb == "delete":
                opts = dict(doc or {})
                if "gracePeriodSeconds" in params:
                    opts["gracePeriodSeconds"] = int(params["gracePeriodSeconds"])
                out = fake._delete(r, ns, name, opts, user)
                return self._send(200, out)
        raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource",
                       {})

    # ---- pods/log, exec, attach, portforward: proxied to the node's kubelet API ----

    def _proxy_to_kubelet(self, ns, name, sub, method, entry):
        """Like the real server: the kubelet URL from the pod's node (InternalIP or fake.kubelet_host, and
        daemonEndpoints.kubeletEndpoint.Port), kubectl's stdin/stdout/stderr/tty turned into the kubelet's
        input/output/error/tty, the request sent as the user kube-apiserver-kubelet-client with a client certificate
        of the fake's CA, then bytes piped both ways: the kubelet's answer (101 and the upgraded stream, a log
        stream, or an error) reaches the client unchanged."""
        import select
        import socket
        fake = self.fake
        pod = fake.objects.get("pods", {}).get((ns, name))
        if pod is None:
            raise err_not_found("pods", "", name)
        node_name = deep_get(pod, ["spec", "nodeName"])
        if not node_name:
            raise err_bad_request("pod %s does not have a host assigned" % name)
        node = fake.objects.get("nodes", {}).get(("", node_name)) or {}
        port = deep_get(node, ["status", "daemonEndpoints", "kubeletEndpoint", "Port"]) or 10250
        host = getattr(fake, "kubelet_host", None)
        if not host:
            ips = [a["address"] for a in deep_get(node, ["status", "addresses"], []) if a.get("type") == "InternalIP"]
            host = ips[0] if ips else "127.0.0.1"
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query, keep_blank_values=True)
        containers = [c["name"] for c in deep_get(pod, ["spec", "containers"], [])]
        out = []
        if sub != "portforward":
            container = (q.get("container") or [""])[-1]
            if not container:
                if len(containers) != 1:
                    raise err_bad_request("a container name must be specified for pod %s, choose one of: [%s]" %
                                          (name, " ".join(containers)))
                container = containers[0]
            kpath = "/%s/%s/%s/%s" % ({"log": "containerLogs"}.get(sub, sub), ns, name, container)
        else:
            kpath = "/portForward/%s/%s" % (ns, name)
        if sub in ("exec", "attach"):
            for k_in, k_out in (("stdin", "input"), ("stdout", "output"), ("stderr", "error"), ("tty", "tty")):
                if (q.get(k_in) or ["false"])[-1] in ("true", "1"):
                    out.append((k_out, "1"))
            for c in q.get("command", []):
                out.append(("command", c))
        elif sub == "portforward":
            for p in q.get("ports", []):
                out.extend(("port", x) for x in p.split(","))
        else:
            out.extend((k, v[-1]) for k, v in q.items() if k != "container")
        if not fake.__dict__.get("_kubelet_client"):
            fake._kubelet_client = fake.issue_client_cert("kube-apiserver-kubelet-client", ["system:masters"],
                                                          name="kubelet-client")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE  # the kubelet's self-signed serving certificate, as without
        ctx.load_cert_chain(*fake._kubelet_client)  # --kubelet-certificate-authority
        try:
            raw = socket.create_connection((host, port), timeout=10)
            backend = ctx.wrap_socket(raw)
        except OSError as e:
            # The real server's words (captures 13-pod-log-kubelet-down, 13-exec-websocket-kubelet-down): a Status
            # 500 without reason or details.
            why = "dial tcp %s:%d: connect: %s" % (host, port, "connection refused" if isinstance(
                e, ConnectionRefusedError) else (e.strerror or str(e)).lower())
            if sub == "log":
                raise ApiError(500, "", 'Get "https://%s:%d%s%s": %s' % (
                    host, port, kpath, ("?" + urllib.parse.urlencode(out)) if out else "", why))
            raise ApiError(500, "", "error dialing backend: " + why)
        upgrade = "upgrade" in self.headers.get("Connection", "").lower()
        head = ["%s %s%s HTTP/1.1" % (method, kpath, ("?" + urllib.parse.urlencode(out)) if out else ""),
                "Host: %s:%d" % (host, port)]
        for k, v in self.headers.items():
            if k.lower() in ("host", "authorization", "content-length", "transfer-encoding", "accept-encoding") or \
                    (not upgrade and k.lower() == "connection"):
                continue
            head.append("%s: %s" % (k, v))
        if not upgrade:
            head.append("Connection: close")
        backend.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        entry["proxied"] = "https://%s:%d%s" % (host, port, kpath)
        self.close_connection = True
        client = self.connection
        socks = {client: backend, backend: client}
        for s in socks:
            s.settimeout(30)
        first = True
        try:
            while True:
                ready = [s for s in socks if isinstance(s, ssl.SSLSocket) and s.pending()]
                if not ready:
                    ready, _, _ = select.select(list(socks), [], [], 600)
                    if not ready:
                        break
                done = False
                for s in ready:
                    try:
                        data = s.recv(65536)
                    except (socket.timeout, ssl.SSLWantReadError):
                        continue
                    except (OSError, ssl.SSLError):
                        data = b""
                    if not data:
                        done = True
                        break
                    if s is backend and first:
                        first = False
                        m = re.match(rb"HTTP/1\.[01] (\d+)", data)
                        self._status = int(m.group(1)) if m else 502
                    socks[s].sendall(data)
                if done:
                    break
        finally:
            try:
                backend.close()
            except OSError:
                pass

    @staticmethod
    def _warn(warnings):
        return [("Warning", '299 - "%s"' % w.replace('"', '\\"')) for w in warnings]

    def _evict(self, r, ns, name, doc, user):
        opts = (doc or {}).get("deleteOptions") or {}
        self.fake._delete(r, ns, name, opts, user)
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}

    # ---- non-resource endpoints ----

    def _non_resource(self, method, path, parts, params):
        fake = self.fake
        if path in ("/healthz", "/livez", "/readyz"):
            return self._send(200, b"ok", ctype="text/plain; charset=utf-8")
        if path.rstrip("/") == "/version":
            return self._send(200, VERSION_INFO)
        if path.rstrip("/") == "/api":
            return self._send(200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": "%s:%d" % (fake.host, fake.port)}]})
        if path.rstrip("/") == "/api/v1":
            res = [e for r in sorted(BY_GV[("", "v1")].values(), key=lambda r: r.name) for e in r.discovery()]
            return self._send(200, {"kind": "APIResourceList", "groupVersion": "v1", "resources": res})
        if path.rstrip("/") == "/apis":
            return self._send(200, {"kind": "APIGroupList", "apiVersion": "v1",
                                    "groups": [self._group(g) for g in GROUP_ORDER]})
        if len(parts) == 2 and parts[0] == "apis":
            if parts[1] not in GROUP_ORDER:
                raise ApiError(404, "NotFound", "the server could not find the requested resource", {})
            return self._send(200, dict({"kind": "APIGroup", "apiVersion": "v1"}, **self._group(parts[1])))
        if len(parts) == 3 and parts[0] == "apis":
            res = [e for r in sorted(BY_GV[(parts[1], parts[2])].values(), key=lambda r: r.name)
                   for e in r.discovery()]
            return self._send(200, {"kind": "APIResourceList", "apiVersion": "v1",
                                    "groupVersion": "%s/%s" % (parts[1], parts[2]), "resources": res})
        if path.startswith("/fake/"):
            return self._control(method, parts[1:], params)
        if path.rstrip("/") == "/openapi/v3":
            # kubectl reads it to learn that PATCH takes fieldValidation (server-side validation, no v2 download)
            gvs = ["api/v1"] + ["apis/%s/v1" % g for g in GROUP_ORDER]
            return self._send(200, {"paths": {gv: {"serverRelativeURL": "/openapi/v3/%s?hash=%s" % (
                gv, hashlib.sha256(gv.encode()).hexdigest()[:32].upper())} for gv in gvs}})
        if path.startswith("/openapi/v3/"):
            return self._send(200, self._openapi_v3(path[len("/openapi/v3/"):].strip("/")))
        raise ApiError(404, "NotFound", "the server could not find the requested resource", {})

    @staticmethod
    def _openapi_v3(gv):
        """A minimal OpenAPI v3 document of a group version: the PATCH operation of each resource and its query
        parameters, which is what kubectl looks at."""
        bits = gv.split("/")
        group, version = ("", "v1") if bits[0] == "api" else (bits[1], bits[2])
        if (group, version) not in BY_GV:
            raise ApiError(404, "NotFound", "the server could not find the requested resource", {})
        paths = {}
        for r in BY_GV[(group, version)].values():
            if "patch" not in r.verbs:
                continue
            base = "/" + gv + ("/namespaces/{namespace}/" if r.namespaced else "/") + r.name + "/{name}"
            params = [{"name": n, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
                      for n in ("dryRun", "fieldManager", "fieldValidation", "force")]
            paths[base] = {"patch": {"operationId": "patch" + r.kind, "parameters": params,
                                     "responses": {"200": {"description": "OK"}},
                                     "x-kubernetes-action": "patch",
                                     "x-kubernetes-group-version-kind": {"group": r.group, "version": r.version,
                                                                         "kind": r.kind}}}
        return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": VERSION_INFO["gitVersion"]},
                "paths": paths, "components": {"schemas": {}}}

    @staticmethod
    def _group(g):
        gv = {"groupVersion": g + "/v1", "version": "v1"}
        return {"name": g, "versions": [gv], "preferredVersion": gv}

    def _control(self, method, parts, params):
        fake = self.fake
        if parts == ["requests"] and method == "GET":
            return self._send(200, fake.requests(since=int(params.get("since", 0))))
        if parts == ["requests", "clear"] and method == "POST":
            fake.clear_requests()
            return self._send(200, {})
        if parts == ["compact"] and method == "POST":
            fake.compact()
            return self._send(200, {"resourceVersion": str(fake.rv)})
        if parts == ["close-watches"] and method == "POST":
            fake.close_watches()
            return self._send(200, {})
        if len(parts) == 3 and parts[0] == "csr" and method == "POST":
            if parts[2] == "approve":
                return self._send(200, fake.approve_csr(parts[1]))
            if parts[2] == "deny":
                return self._send(200, fake.deny_csr(parts[1], params.get("reason", "KubectlDeny"),
                                                     params.get("message", "This CSR was denied by kubectl "
                                                                           "certificate deny.")))
            if parts[2] == "sign":
                secs = params.get("seconds")
                return self._send(200, fake.sign_csr(parts[1], int(secs) if secs else None))
        raise ApiError(404, "NotFound", "the server could not find the requested resource", {})

    # ---- reads ----

    def _get(self, r, ns, name, sub, params):
        fake = self.fake
        with fake.lock:
            obj = fake._lookup(r, ns, name)
            if obj is None:
                raise err_not_found(r.name, r.group, name)
            obj = fake._external(r, obj)
            if self._wants_table():
                return self._send(200, self._table(r, [obj]))
            return self._send(200, obj)

    def _selectors(self, r, params):
        labels = parse_label_selector(params.get("labelSelector", ""))
        fields = parse_field_selector(params.get("fieldSelector", ""), r.kind)
        return labels, fields

    def _match(self, r, obj, labels, fields):
        return labels_match(labels, obj["metadata"].get("labels")) and fields_match(fields, obj)

    def _list(self, r, ns, params):
        fake = self.fake
        labels, fields = self._selectors(r, params)
        cont = params.get("continue", "")
        rv_param = params.get("resourceVersion", "")
        match = params.get("resourceVersionMatch", "")
        limit = int(params.get("limit") or 0)
        if limit < 0:
            limit = 0
        if cont and rv_param:
            raise err_bad_request("specifying resource version is not allowed when using continue")
        with fake.lock:
            start = ""
            if cont:
                rv, start = decode_continue(cont)
                if rv == -1:
                    rv = fake.rv
                elif rv < fake.compacted_rv:
                    raise Expired("The provided continue parameter is too old to display a consistent list result. "
                                  "You can start a new list without the continue parameter, or use the continue "
                                  "token in this response to retrieve the remainder of the results. Continuing with "
                                  "the provided token results in an inconsistent list - objects that were created, "
                                  "modified, or deleted between the time the first chunk was returned and now may "
                                  "show up in the list.",
                                  metadata={"continue": b64url(json.dumps(
                                      {"v": "meta.k8s.io/v1", "rv": -1, "start": start},
                                      separators=(",", ":")).encode())})
                objs = fake._snapshot(r.store, rv)
            elif rv_param == "0" and not match:
                # served from the "watch cache": no paging, no order
                rv = fake.rv
                limit = 0
                objs = dict(fake.objects.get(r.store, {}))
            elif rv_param and (match == "Exact" or (limit and not match)):
                rv = int(rv_param)
                objs = fake._snapshot(r.store, rv)
            else:
                rv = fake.rv
                objs = dict(fake.objects.get(r.store, {}))
            items = []
            for (ons, oname), o in objs.items():
                if ns is not None and ons != ns:
                    continue
                if not self._match(r, o, labels, fields):
                    continue
                key = oname if (ns is not None or not r.namespaced) else "%s/%s" % (ons, oname)
                items.append((key, o))
            if not (rv_param == "0" and not match):
                items.sort(key=lambda kv: kv[0])
            if start:
                items = [kv for kv in items if kv[0] >= start]
            meta = {"resourceVersion": str(rv)}
            if limit and len(items) > limit:
                meta["continue"] = encode_continue(rv, items[limit - 1][0])
                if not labels and not fields:
                    meta["remainingItemCount"] = len(items) - limit
                items = items[:limit]
            out_items = []
            for _, o in items:
                e = dict(fake._external(r, o))
                e.pop("kind", None)
                e.pop("apiVersion", None)
                out_items.append(e)
            body = {"kind": r.kind + "List", "apiVersion": r.api_version, "metadata": meta, "items": out_items}
            if self._wants_table():
                body = self._table(r, [fake._external(r, o) for _, o in items], meta)
            data = compact(body).encode()
        self._send(200, data)

    # ---- watch ----

    def _watch(self, r, ns, params, entry):
        fake = self.fake
        labels, fields = self._selectors(r, params)
        rv_param = params.get("resourceVersion", "")
        bookmarks = params.get("allowWatchBookmarks") in ("1", "true", "True")
        timeout = params.get("timeoutSeconds")
        timeout = float(timeout) if timeout else float(random.randint(1800, 3600))
        started = time.monotonic()
        deadline = started + timeout
        bookmark_at = started + max(timeout - 2.0, timeout * 0.75)
        next_periodic = started + fake.bookmark_interval if fake.bookmark_interval else None

        def visible(o):
            return o is not None and (ns is None or o["metadata"].get("namespace") == ns) and \
                self._match(r, o, labels, fields)

        def line(type_, obj):
            return (compact({"type": type_, "object": fake._external(r, obj)}) + "\n").encode()

        initial = []
        with fake.lock:
            epoch = fake.watch_epoch
            error = None
            if rv_param in ("", "0"):
                start_rv = fake.rv
                for key in sorted(fake.objects.get(r.store, {})):
                    o = fake.objects[r.store][key]
                    if visible(o):
                        initial.append(line("ADDED", o))
            else:
                try:
                    start_rv = int(rv_param)
                except ValueError:
                    raise err_bad_request('resourceVersion: Invalid value: "%s": must be a number' % rv_param)
                if start_rv < fake.compacted_rv:
                    error = compact({"type": "ERROR", "object": Expired(
                        "too old resource version: %d (%d)" % (start_rv, fake.compacted_rv)).status()}) + "\n"
            pos_rv = start_rv
        self._head(200, [("Content-Type", "application/json"), ("Transfer-Encoding", "chunked")])
        self.end_headers()
        self._status = 200
        entry["status"] = 200
        entry["logged"] = True
        fake._log_request(entry)
        try:
            if error:
                self._chunk(error.encode())
                return self._end_chunks()
            for data in initial:
                self._chunk(data)
            sent_rv = start_rv
            bookmark_sent = False
            while True:
                out = []
                with fake.cond:
                    while True:
                        if fake._stopping or fake.watch_epoch != epoch:
                            return self._end_chunks()
                        now = time.monotonic()
                        if now >= deadline:
                            return self._end_chunks()
                        if fake.history and fake.history[-1].rv > pos_rv:
                            break
                        due = bookmarks and fake.last_event_rv.get(r.store, 0) > start_rv and (
                            (not bookmark_sent and now >= bookmark_at) or
                            (next_periodic is not None and now >= next_periodic))
                        if due:
                            break
                        wake = min(deadline, bookmark_at if not bookmark_sent else deadline,
                                   next_periodic or deadline)
                        fake.cond.wait(max(0.01, min(wake - now, 1.0)))
                    if fake.history and pos_rv < fake.compacted_rv:
                        # the history this watch still needed is gone: end it, the client re-watches and gets 410
                        return self._end_chunks()
                    i = bisect.bisect_right(fake._history_rvs, pos_rv)
                    for e in fake.history[i:]:
                        pos_rv = e.rv
                        if e.store != r.store:
                            continue
                        old_vis = visible(e.old) if e.type != "ADDED" else False
                        new_vis = visible(e.obj)
                        if e.type == "ADDED" and new_vis:
                            out.append(line("ADDED", e.obj))
                        elif e.type == "DELETED" and old_vis:
                            out.append(line("DELETED", e.obj))
                        elif e.type == "MODIFIED":
                            if old_vis and new_vis:
                                out.append(line("MODIFIED", e.obj))
                            elif new_vis:
                                out.append(line("ADDED", e.obj))
                            elif old_vis:
                                out.append(line("DELETED", e.obj))
                        sent_rv = e.rv if e.store == r.store else sent_rv
                    now = time.monotonic()
                    if bookmarks and fake.last_event_rv.get(r.store, 0) > start_rv and (
                            (not bookmark_sent and now >= bookmark_at) or
                            (next_periodic is not None and now >= next_periodic)):
                        bm = {"kind": r.kind, "apiVersion": r.api_version,
                              "metadata": {"resourceVersion": str(fake.last_event_rv.get(r.store, sent_rv)),
                                           "creationTimestamp": None}}
                        bm.update(copy.deepcopy(BOOKMARK_BODIES.get(r.kind, {})))
                        out.append((compact({"type": "BOOKMARK", "object": bm}) + "\n").encode())
                        if now >= bookmark_at:
                            bookmark_sent = True
                        if next_periodic is not None:
                            next_periodic = now + fake.bookmark_interval
                for data in out:
                    self._chunk(data)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            self.close_connection = True

    def _end_chunks(self):
        try:
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:
            self.close_connection = True

    # ---- server-side printing for kubectl get (Accept: ...;as=Table) ----

    def _wants_table(self):
        return "as=Table" in (self.headers.get("Accept") or "")

    def _table(self, r, objs, meta=None):
        def age(o):
            t = parse_ts(o["metadata"].get("creationTimestamp"))
            s = int(time.time() - t) if t else 0
            return "%ds" % s if s < 120 else ("%dm" % (s // 60) if s < 7200 else "%dh" % (s // 3600))

        cols = [("Name", "string", "name")]
        if r.kind == "Pod":
            cols += [("Ready", "string", ""), ("Status", "string", ""), ("Restarts", "string", ""),
                     ("Age", "string", "")]
        elif r.kind == "Node":
            cols += [("Status", "string", ""), ("Roles", "string", ""), ("Age", "string", ""),
                     ("Version", "string", "")]
        else:
            cols += [("Age", "string", "")]
        rows = []
        for o in objs:
            name = o["metadata"]["name"]
            if r.kind == "Pod":
                cs = deep_get(o, ["status", "containerStatuses"], []) or []
                ready = "%d/%d" % (sum(1 for c in cs if c.get("ready")), len(deep_get(o, ["spec", "containers"], [])))
                status = deep_get(o, ["status", "phase"], "")
                if o["metadata"].get("deletionTimestamp"):
                    status = "Terminating"
                cells = [name, ready, status, str(sum(c.get("restartCount", 0) for c in cs)), age(o)]
            elif r.kind == "Node":
                conds = deep_get(o, ["status", "conditions"], []) or []
                ready = next((c.get("status") for c in conds if c.get("type") == "Ready"), "Unknown")
                cells = [name, "Ready" if ready == "True" else "NotReady", "<none>", age(o),
                         deep_get(o, ["status", "nodeInfo", "kubeletVersion"], "")]
            else:
                cells = [name, age(o)]
            pom = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"]}
            rows.append({"cells": cells, "object": pom})
        return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": dict(meta or {
            "resourceVersion": str(self.fake.rv)}),
            "columnDefinitions": [{"name": n, "type": t, "format": f, "description": "", "priority": 0}
                                  for n, t, f in cols], "rows": rows}


# ---------------------------------------------------------------------------------------------------------------
# command line


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--tls-dir", required=True)
    ap.add_argument("--state-file")
    ap.add_argument("--anonymous", action="store_true", help="anonymous requests are system:anonymous, not 401")
    ap.add_argument("--token-file", help="static token file: token,user,uid,\"group1,group2\"")
    ap.add_argument("--bootstrap-token", action="append", default=[], help="<id>.<secret>")
    ap.add_argument("--node", action="append", default=[], help="issue a client certificate and kubeconfig")
    ap.add_argument("--san", action="append", default=[], help="extra IP or DNS name in the serving certificate")
    ap.add_argument("--auto-approve", action="store_true", help="approve kubelet client CSRs like kcm does")
    ap.add_argument("--auto-sign", action="store_true", help="sign approved kubelet CSRs like kcm does")
    ap.add_argument("--bookmark-interval", type=float, default=60.0)
    args = ap.parse_args()
    fake = FakeAPIServer(tls_dir=args.tls_dir, port=args.port, host=args.host, anonymous=args.anonymous,
                         state_file=args.state_file, extra_sans=args.san, auto_approve=args.auto_approve,
                         auto_sign=args.auto_sign, bookmark_interval=args.bookmark_interval)
    if args.token_file:
        fake.load_token_file(args.token_file)
    for bt in args.bootstrap_token:
        tid, secret = bt.split(".", 1)
        fake.add_bootstrap_token(tid, secret)
    fake.start()
    info = {"url": fake.url, "port": fake.port, "ca": fake.ca_path, "admin_cert": fake.admin_cert,
            "admin_key": fake.admin_key,
            "admin_kubeconfig": fake.write_kubeconfig(os.path.join(args.tls_dir, "admin.kubeconfig"),
                                                      fake.admin_cert, fake.admin_key), "nodes": {}}
    for node in args.node:
        cert, key = fake.issue_client_cert("system:node:" + node, ["system:nodes"], name="node-" + node)
        info["nodes"][node] = {"cert": cert, "key": key, "kubeconfig": fake.write_kubeconfig(
            os.path.join(args.tls_dir, "node-%s.kubeconfig" % node), cert, key)}
    print(json.dumps(info), flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: done.set())
    signal.signal(signal.SIGINT, lambda *a: done.set())
    while not done.wait(1.0):
        pass
    fake.stop(remove_tls_dir=False)


if __name__ == "__main__":
    main()
