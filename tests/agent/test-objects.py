#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""ConfigMaps, Secrets and service account tokens end to end: nodelet with the fake kube-apiserver
(tests/apiserver/fake_apiserver.py). A pod with the DEFAULT service account projection (kube-api-access-*, added by
the fake's ServiceAccount admission), a configMap volume, a secret volume, env from configMapKeyRef/secretKeyRef and
envFrom becomes Running; the files and the environment inside the container are right; the token is a JWT the fake
issued through TokenRequest bound to the pod; the secret volume is a tmpfs; a ConfigMap update reaches the mounted
file atomically (..data swapped, the old directory removed); a missing ConfigMap is FailedMount with the kubelet's
message until it is created, then the pod runs.

usage: test-objects.py BUILD_DIR SOURCE_DIR      (exit 77 when not root)"""

import base64
import ctypes
import json
import os
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "apiserver"))
from daemon_harness import Failure, Node  # noqa: E402

CLONE_NEWNET = 0x40000000
SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


def expect(cond, what):
    if not cond:
        raise Failure(what)


def enter_netns(name):
    """Join the daemon's network namespace: the fake API server listens on the loopback the daemon sees."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open("/run/netns/" + name, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns")
    finally:
        os.close(fd)


def b64(s):
    return base64.b64encode(s.encode()).decode()


def running(o):
    return o and o.get("status", {}).get("phase") == "Running" and all(
        c.get("state", {}).get("running") for c in o["status"].get("containerStatuses", []))


def main():
    if os.geteuid() != 0:
        print("SKIP: needs root")
        return 77
    build, source = sys.argv[1], sys.argv[2]
    from fake_apiserver import FakeAPIServer

    n = Node(build, source)
    fake = None
    failed = False
    try:
        enter_netns(n.ns)
        fake = FakeAPIServer(tls_dir=os.path.join(n.tmp, "apiserver"))
        fake.start()
        cert, key = fake.issue_client_cert("system:node:testnode", ["system:nodes"])
        kubeconfig = fake.write_kubeconfig(os.path.join(n.tmp, "kubelet.conf"), cert, key)
        # The objects the real controllers create exist in the fake from the start: the default ServiceAccount and
        # the kube-root-ca.crt ConfigMap of every namespace.
        expect(fake.get("serviceaccounts", "default", "default"), "the default ServiceAccount")
        expect(fake.get("configmaps", "kube-root-ca.crt", "default"), "the kube-root-ca.crt ConfigMap")
        fake.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": "default"},
                     "data": {"app.conf": "version=1\n", "mode": "fast", "bad key": "skipped"}})
        fake.create({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds", "namespace": "default"},
                     "type": "Opaque", "data": {"password": b64("s3cret"), "user": b64("admin")}})
        n.start(extra=["--kubeconfig", kubeconfig])
        n.wait(lambda: "Pod source \"api\" synced" in n.log(), 30, "the API pod source to sync")

        script = "trap 'exit 0' TERM; sleep 1000 & wait"
        fake.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "objs", "namespace": "default"},
                     "spec": {"nodeName": "testnode", "terminationGracePeriodSeconds": 2,
                              "containers": [{
                                  "name": "c", "image": "docker.io/library/busybox:latest",
                                  "imagePullPolicy": "IfNotPresent", "command": ["sh", "-c", script],
                                  "env": [{"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "settings",
                                                                                            "key": "mode"}}},
                                          {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "creds",
                                                                                       "key": "password"}}}],
                                  "envFrom": [{"prefix": "CM_", "configMapRef": {"name": "settings"}},
                                              {"secretRef": {"name": "creds"}}],
                                  "volumeMounts": [{"name": "cfg", "mountPath": "/etc/cfg"},
                                                   {"name": "sec", "mountPath": "/etc/sec"}]}],
                              "volumes": [{"name": "cfg", "configMap": {"name": "settings"}},
                                          {"name": "sec", "secret": {"secretName": "creds", "defaultMode": 0o400}}]}})
        p = fake.wait_for("pods", "objs", "default", running, 90)
        vols = [v["name"] for v in p["spec"]["volumes"]]
        expect(any(v.startswith("kube-api-access-") for v in vols), "the default token volume: %s" % vols)
        cid = p["status"]["containerStatuses"][0]["containerID"]

        def sh(cmd):
            r = n.ctl_exec(cid, "sh", "-c", cmd)
            if r.returncode != 0:
                raise Failure("exec %s: exit %d: %s %s" % (cmd, r.returncode, r.stdout, r.stderr))
            return r.stdout

        # Files.
        expect(sh("cat /etc/cfg/app.conf") == "version=1\n", "configMap file")
        expect(sh("cat /etc/cfg/mode") == "fast", "configMap key mode")
        expect(sh("cat /etc/sec/password") == "s3cret", "secret file")
        expect(sh("stat -L -c %a /etc/sec/password").strip() == "400", "secret defaultMode")
        expect(sh("readlink /etc/cfg/app.conf").strip() == "..data/app.conf", "the per-key link")
        # Env: valueFrom, envFrom with a prefix, the invalid key left out.
        env = dict(line.split("=", 1) for line in sh("env").splitlines() if "=" in line)
        expect(env.get("MODE") == "fast" and env.get("PW") == "s3cret", "env valueFrom: %s" % env)
        expect(env.get("CM_mode") == "fast" and env.get("user") == "admin" and env.get("password") == "s3cret",
               "envFrom: %s" % env)
        expect(not any("bad" in k for k in env), "an invalid envFrom key was set: %s" % env)
        # The secret lives on a tmpfs (the container's view of the bind mount).
        mi = [line for line in sh("cat /proc/self/mountinfo").splitlines() if line.split()[4] == "/etc/sec"]
        expect(mi and " - tmpfs " in mi[-1], "secret volume mount: %s" % mi)

        # The default projection: token (a JWT the fake issued, bound to the pod), ca.crt, namespace.
        token = sh("cat %s/token" % SA_DIR)
        expect(token.count(".") == 2 and token in fake.tokens, "token %r is not one the fake issued" % token[:40])
        claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
        expect(claims["kubernetes.io"]["pod"]["uid"] == p["metadata"]["uid"], "token bound to %s" % claims)
        expect(claims["sub"] == "system:serviceaccount:default:default", "token subject %s" % claims["sub"])
        expect(sh("cat %s/namespace" % SA_DIR) == "default", "namespace file")
        expect(sh("cat %s/ca.crt" % SA_DIR) == fake.ca_pem, "ca.crt file")
        trs = fake.requests(method="POST", resource="serviceaccounts", subresource="token")
        expect(trs and trs[0]["name"] == "default" and trs[0]["user"] == "system:node:testnode" and
               trs[0]["status"] in (200, 201), "TokenRequest: %s" % trs)
        # Objects are watched one by one (fieldSelector=metadata.name), never listed namespace-wide.
        cm_watches = fake.requests(method="GET", resource="configmaps")
        expect(cm_watches and all("metadata.name" in (x.get("query") or "") for x in cm_watches),
               "configmap requests %s" % [x.get("query") for x in cm_watches])

        # A ConfigMap update reaches the file atomically: a new ..data target, the old directory gone.
        old = sh("readlink /etc/cfg/..data").strip()
        cm = fake.get("configmaps", "settings", "default")
        cm["data"]["app.conf"] = "version=2\n"
        fake.update(cm)
        n.wait(lambda: sh("cat /etc/cfg/app.conf") == "version=2\n", 30, "the updated configMap file")
        new = sh("readlink /etc/cfg/..data").strip()
        expect(new != old and new.startswith("..") and old.startswith(".."), "..data %s -> %s" % (old, new))
        expect(sh("test -e /etc/cfg/%s && echo yes || echo no" % old).strip() == "no", "old %s still there" % old)

        # A missing ConfigMap: FailedMount with the kubelet's message, then Running once it exists.
        fake.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "late", "namespace": "default"},
                     "spec": {"nodeName": "testnode", "terminationGracePeriodSeconds": 2, "containers": [{
                         "name": "c", "image": "docker.io/library/busybox:latest", "imagePullPolicy": "IfNotPresent",
                         "command": ["sh", "-c", script], "volumeMounts": [{"name": "x", "mountPath": "/x"}]}],
                         "volumes": [{"name": "x", "configMap": {"name": "later"}}]}})
        want = 'MountVolume.SetUp failed for volume "x" : configmap "later" not found'
        late = fake.wait_for("pods", "late", "default",
                             lambda o: o and want in (o.get("status", {}).get("message") or ""), 60)
        expect(late["status"].get("reason") == "FailedMount", "status %s" % late["status"])
        expect(late["status"]["phase"] == "Pending", "phase %s" % late["status"]["phase"])
        fake.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "later", "namespace": "default"},
                     "data": {"k": "v"}})
        late = fake.wait_for("pods", "late", "default", running, 60)
        lcid = late["status"]["containerStatuses"][0]["containerID"]
        r = n.ctl_exec(lcid, "cat", "/x/k")
        expect(r.returncode == 0 and r.stdout == "v", "late pod file: %s %s" % (r.stdout, r.stderr))

        # Deleting the pods releases their objects: the per-object watches end.
        for name in ("objs", "late"):
            fake.delete("pods", name, "default", grace=2)
        for name in ("objs", "late"):
            fake.wait_for("pods", name, "default", lambda o: o is None, 60)
        # A clean exit: no sanitizer report (leaks of cached objects or tokens) in a sanitizer build.
        n.stop()
        expect("Sanitizer" not in n.log(), "sanitizer report in the daemon log")
        print("PASS test-objects", flush=True)
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
