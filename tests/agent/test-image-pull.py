#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The daemon pulls images from a registry (agent/image-pull.h): Debian's docker-registry runs on 127.0.0.1 inside
the daemon's network namespace, filled by skopeo from the busybox fixture (an image the daemon does not have).

- a static pod with IfNotPresent and an image only in the registry becomes Running; the image is in the store and
  the kubelet's Pulling / "Successfully pulled image" events are recorded (logged: standalone);
- imagePullPolicy Always pulls again (the same image) and runs;
- an image the registry does not have: ErrImagePull with containerd's "failed to pull and unpack image" and the
  registry's reason, then ImagePullBackOff "Back-off pulling image";
- Never with a missing image stays ErrImageNeverPull without asking the registry;
- cluster mode (tests/apiserver/fake_apiserver.py), the registry with htpasswd basic auth: a pod with a
  kubernetes.io/dockerconfigjson imagePullSecret runs, with Pulling and Pulled Events in the API; a pod without it
  (imagePullPolicy Always, the image is on the node already) gets ErrImagePull with the registry's 401 and a Failed
  Event: another pod's credentials are never used.

usage: test-image-pull.py BUILD_DIR SOURCE_DIR      (exit 77 when not root or the registry tools are missing)"""

import base64
import ctypes
import json
import os
import shutil
import subprocess
import sys
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "apiserver"))
from daemon_harness import Failure, Node  # noqa: E402

PORT = 5000  # inside the daemon's own network namespace: nothing else listens there
REG = "127.0.0.1:%d" % PORT


def expect(cond, what):
    if not cond:
        raise Failure(what)


def pod_yaml(name, image, policy):
    return ("apiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\n  namespace: default\nspec:\n"
            "  terminationGracePeriodSeconds: 1\n  containers:\n  - name: c\n    image: %s\n"
            "    imagePullPolicy: %s\n    command: [\"sh\", \"-c\", \"cat /hello.txt; sleep 3600\"]\n"
            % (name, image, policy))


def waiting(node, pod):
    cs = node.container_status(pod, "c")
    return (cs or {}).get("state", {}).get("waiting") or {}


def running(node, pod):
    cs = node.container_status(pod, "c")
    return cs if cs and "running" in cs.get("state", {}) else None


def b64(s):
    return base64.b64encode(s.encode()).decode()


def enter_netns(name):
    """This process joins the daemon's network namespace: the fake API server listens on the loopback it sees."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open("/run/netns/" + name, os.O_RDONLY)
    try:
        if libc.setns(fd, 0x40000000) != 0:  # CLONE_NEWNET
            raise OSError(ctypes.get_errno(), "setns")
    finally:
        os.close(fd)


def start_registry(node, tmp, auth=""):
    cfg = os.path.join(tmp, "registry.yml")
    with open(cfg, "w") as f:
        f.write("version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s/store\n"
                "http:\n  addr: %s\n%s" % (tmp, REG, auth))
    log = open(os.path.join(tmp, "registry.log"), "w")
    proc = subprocess.Popen(["nsenter", "--net=/run/netns/" + node.ns, "docker-registry", "serve", cfg],
                            stdout=log, stderr=log)
    log.close()
    node.wait(lambda: node.sh("curl -s --max-time 1 http://%s/v2/" % REG, check=False).returncode == 0, 30,
              "the registry")
    return proc


def make_image(source, path, variant):
    """An image unlike the preloaded busybox (--variant: its own first layer), for the registry only."""
    subprocess.run(["/usr/bin/python3", os.path.join(source, "tests/fixtures/make-busybox-image.py"), path,
                    "--variant", variant], check=True, stdout=subprocess.DEVNULL)


def push(node, archive, ref, creds=None):
    args = ["nsenter", "--net=/run/netns/" + node.ns, "skopeo", "copy", "-q", "--dest-tls-verify=false"]
    if creds:
        args += ["--dest-creds", creds]
    subprocess.run(args + ["oci-archive:" + archive, "docker://" + ref], check=True, timeout=120)


def standalone(build, source):
    node = Node(build, source)
    registry = None
    try:
        regtmp = os.path.join(node.tmp, "registry")
        os.makedirs(regtmp)
        registry = start_registry(node, regtmp)
        archive = os.path.join(regtmp, "pulled.tar")
        make_image(source, archive, "image-pull-test")
        push(node, archive, "%s/test/pulled:1" % REG)
        node.start()

        # ---- IfNotPresent, image only in the registry ----
        image = "%s/test/pulled:1" % REG
        node.add("pulled.yaml", pod_yaml("pulled", image, "IfNotPresent"))
        cs = node.wait(lambda: running(node, "pulled"), 90, "pod pulled to run")
        expect(cs.get("image") == image, "status image %r" % cs.get("image"))
        expect(cs.get("imageID", "").startswith(REG + "/test/pulled@sha256:"), "imageID %r" % cs.get("imageID"))
        r = subprocess.run([node.ctl, "images", "--root-dir", node.root, "inspect", image], capture_output=True,
                           text=True)
        expect(r.returncode == 0 and json.loads(r.stdout)["id"].startswith("sha256:"),
               "the pulled image is not in the store: %s" % r.stderr)
        log = node.log()
        expect('Pulling image \\"%s\\"' % image in log or 'Pulling image "%s"' % image in log,
               "no Pulling event in the log")
        expect("Successfully pulled image" in log, "no Successfully pulled event in the log")
        print([line for line in log.splitlines() if "Successfully pulled" in line][0])
        expect(not os.listdir(node.state) or not [f for f in os.listdir(node.state) if f.startswith("nodelet-pull-")],
               "credential directories left behind in the state dir")

        # ---- Always: pulls again (layers present), runs ----
        before = log.count("Pulling image")
        node.add("always.yaml", pod_yaml("always", image, "Always"))
        node.wait(lambda: running(node, "always"), 60, "pod always to run")
        expect(node.log().count("Pulling image") > before, "imagePullPolicy Always did not pull")

        # ---- a missing image: ErrImagePull, then ImagePullBackOff ----
        missing = "%s/test/missing:1" % REG
        node.add("missing.yaml", pod_yaml("missing", missing, "IfNotPresent"))
        w = node.wait(lambda: waiting(node, "missing").get("reason") == "ErrImagePull" and waiting(node, "missing"),
                      60, "ErrImagePull")
        msg = w.get("message", "")
        print("ErrImagePull: %s" % msg)
        expect(msg.startswith('failed to pull and unpack image "%s": ' % missing), "ErrImagePull message %r" % msg)
        expect("manifest unknown" in msg.lower() or "404" in msg, "the registry's reason is missing: %r" % msg)
        w = node.wait(lambda: waiting(node, "missing").get("reason") == "ImagePullBackOff" and waiting(node, "missing"),
                      30, "ImagePullBackOff")
        expect(w.get("message") == 'Back-off pulling image "%s"' % missing, "ImagePullBackOff message %r" % w)
        expect(node.phase("missing") == "Pending", "phase %r" % node.phase("missing"))

        # ---- Never: no pull ----
        never = "%s/test/never:1" % REG
        node.add("never.yaml", pod_yaml("never", never, "Never"))
        w = node.wait(lambda: waiting(node, "never").get("reason") == "ErrImageNeverPull" and waiting(node, "never"),
                      30, "ErrImageNeverPull")
        expect('Pulling image \\"%s\\"' % never not in node.log() and 'Pulling image "%s"' % never not in node.log(),
               "pull policy Never pulled")
        print("ok: standalone", flush=True)
        return 0
    except Exception:
        print("FAIL\n%s" % traceback.format_exc(), flush=True)
        print("---- daemon log (tail) ----\n%s" % node.log()[-6000:], flush=True)
        return 1
    finally:
        if registry:
            registry.kill()
            registry.wait()
        node.close()


def api_waiting(o):
    for c in (o or {}).get("status", {}).get("containerStatuses", []):
        return c.get("state", {}).get("waiting") or {}
    return {}


def api_running(o):
    return o and o.get("status", {}).get("phase") == "Running" and all(
        c.get("state", {}).get("running") for c in o["status"].get("containerStatuses", []))


def cluster(build, source):
    from fake_apiserver import FakeAPIServer

    node = Node(build, source)
    registry = fake = None
    try:
        regtmp = os.path.join(node.tmp, "registry")
        os.makedirs(regtmp)
        r = subprocess.run(["htpasswd", "-Bbn", "alice", "s3cret"], capture_output=True, text=True, check=True)
        with open(os.path.join(regtmp, "htpasswd"), "w") as f:
            f.write(r.stdout)
        registry = start_registry(node, regtmp, "auth:\n  htpasswd:\n    realm: test\n    path: %s/htpasswd\n" % regtmp)
        archive = os.path.join(regtmp, "private.tar")
        make_image(source, archive, "image-pull-private")
        image = "%s/private/app:1" % REG
        push(node, archive, image, "alice:s3cret")

        enter_netns(node.ns)
        fake = FakeAPIServer(tls_dir=os.path.join(node.tmp, "apiserver"))
        fake.start()
        cert, key = fake.issue_client_cert("system:node:testnode", ["system:nodes"])
        kubeconfig = fake.write_kubeconfig(os.path.join(node.tmp, "kubelet.conf"), cert, key)
        config = {"auths": {REG: {"auth": b64("alice:s3cret")}}}
        fake.create({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "regcred", "namespace": "default"},
                     "type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": b64(json.dumps(config))}})
        node.start(extra=["--kubeconfig", kubeconfig])

        def pod(name, policy, secrets):
            spec = {"nodeName": "testnode", "terminationGracePeriodSeconds": 1, "automountServiceAccountToken": False,
                    "containers": [{"name": "c", "image": image, "imagePullPolicy": policy,
                                    "command": ["sh", "-c", "sleep 3600"]}]}
            if secrets:
                spec["imagePullSecrets"] = [{"name": "missing-secret"}, {"name": "regcred"}]
            fake.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
                         "spec": spec})

        pod("private", "IfNotPresent", True)
        fake.wait_for("pods", "private", "default", api_running, 90)

        def events(name, reason):
            return [e.get("message", e.get("note", "")) for e in fake.list("events", "default")
                    if e.get("involvedObject", e.get("regarding", {})).get("name") == name and e["reason"] == reason]

        node.wait(lambda: events("private", "Pulled"), 20, "the Pulled event")
        expect(events("private", "Pulling") == ['Pulling image "%s"' % image],
               "Pulling events: %s" % events("private", "Pulling"))
        pulled = events("private", "Pulled")
        expect(pulled[0].startswith('Successfully pulled image "%s" in ' % image) and "including waiting" in pulled[0],
               "Pulled event: %s" % pulled)

        # Always, without the secret: the image is on the node, but this pod must not get it through regcred.
        pod("nosecret", "Always", False)
        w = fake.wait_for("pods", "nosecret", "default", lambda o: api_waiting(o).get("reason") == "ErrImagePull", 60)
        msg = api_waiting(w).get("message", "")
        print("ErrImagePull without credentials: %s" % msg, flush=True)
        expect(msg.startswith('failed to pull and unpack image "%s": ' % image) and "401" in msg,
               "ErrImagePull message without credentials: %r" % msg)
        failed = 'Failed to pull image "%s": ' % image
        node.wait(lambda: any(m.startswith(failed) for m in events("nosecret", "Failed")), 20, "the Failed event")
        for name in ("private", "nosecret"):
            fake.delete("pods", name, "default", grace=1)
        for name in ("private", "nosecret"):
            fake.wait_for("pods", name, "default", lambda o: o is None, 60)
        expect(not [f for f in os.listdir(node.state) if f.startswith("nodelet-pull-")],
               "credential directories left behind in the state dir")
        node.stop()
        expect("Sanitizer" not in node.log(), "sanitizer report in the daemon log")
        print("ok: cluster", flush=True)
        return 0
    except Exception:
        print("FAIL\n%s" % traceback.format_exc(), flush=True)
        print("---- daemon log (tail) ----\n%s" % node.log()[-6000:], flush=True)
        return 1
    finally:
        if registry:
            registry.kill()
            registry.wait()
        try:
            node.close()
        finally:
            if fake:
                fake.stop()


def main():
    if os.geteuid() != 0:
        print("SKIP: needs root")
        return 77
    for tool in ("docker-registry", "skopeo", "htpasswd", "nsenter", "curl"):
        if not shutil.which(tool):
            print("SKIP: %s missing (scripts/install-deps.sh installs it)" % tool)
            return 77
    build, source = sys.argv[1], sys.argv[2]
    # The cluster part joins the daemon's network namespace (for good): it comes last.
    return standalone(build, source) or cluster(build, source)


if __name__ == "__main__":
    sys.exit(main())
