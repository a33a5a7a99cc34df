#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The nodelet daemon end to end, as root: static pods from a manifest directory run in real namespaces, cgroups
and overlayfs, on the default CNI network (nodelet-bridge + nodelet-ipam, inside a network namespace of the test),
with probes, restarts, init containers, volumes, termination, and a restart of the daemon itself.

usage: test-daemon.py BUILD_DIR SOURCE_DIR [TEST...]     (exit 77 when not root)
Every check fails when its feature is broken; there are no timing assertions, only lower bounds where the kubelet
promises to wait (back-off, grace periods)."""

import calendar
import json
import os
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon_harness import Failure, Node  # noqa: E402

BUSYBOX = "docker.io/library/busybox:latest"


def pod_yaml(name, containers, extra_spec="", init="", volumes="", restart="Always", grace=2, meta=""):
    text = ("apiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\n%s"
            "spec:\n  restartPolicy: %s\n  terminationGracePeriodSeconds: %d\n%s" % (name, meta, restart, grace,
                                                                                     extra_spec))
    if init:
        text += "  initContainers:\n" + init
    text += "  containers:\n" + containers
    if volumes:
        text += "  volumes:\n" + volumes
    return text


def container(name, script, extra=""):
    return ("  - name: %s\n    image: %s\n    imagePullPolicy: IfNotPresent\n    command: [\"sh\", \"-c\", %s]\n%s"
            % (name, BUSYBOX, json.dumps(script), extra))


def ts(s):
    return calendar.timegm(time.strptime(s, "%Y-%m-%dT%H:%M:%SZ"))


def expect(cond, what):
    if not cond:
        raise Failure(what)


# ---------------------------------------------------------------------------------------------------------------

def test_example_pod(n):
    """examples/pods/web.yaml: Running and Ready, serves on its pod IP; /pods is a v1.PodList."""
    with open(os.path.join(n.source, "examples/pods/web.yaml")) as f:
        n.add("web.yaml", f.read())
    n.wait(lambda: n.condition("web", "Ready") == "True", 60, "web Ready")
    p = n.pod("web")
    st = p["status"]
    expect(st["phase"] == "Running", "phase %s" % st["phase"])
    ip = st["podIP"]
    expect(ip.startswith("10.251.0."), "podIP %s outside --pod-cidr" % ip)
    body = n.http("http://%s:8080/" % ip)
    expect(body and body.startswith("hello from web-testnode"), "httpd answered %r" % body)
    cs = st["containerStatuses"][0]
    expect(cs["ready"] and cs["started"] and cs["restartCount"] == 0, "container status %s" % cs)
    expect(cs["containerID"].startswith("nodelet://"), "containerID %s" % cs["containerID"])
    expect(cs["imageID"].startswith("docker.io/library/busybox@sha256:"), "imageID %s" % cs["imageID"])
    expect(st["qosClass"] == "Burstable", "qosClass %s" % st["qosClass"])
    types = [c["type"] for c in st["conditions"]]
    for t in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"):
        expect(t in types, "condition %s missing: %s" % (t, types))
    ann = p["metadata"]["annotations"]
    expect(ann["kubernetes.io/config.source"] == "file", "config.source annotation")
    expect(ann["kubernetes.io/config.hash"] == p["metadata"]["uid"], "config.hash annotation")
    validate_pod_list(n.pod_list())
    metrics = n.http("http://127.0.0.1:10255/metrics")
    expect("kubelet_running_pods 1" in metrics, "metrics: running pods")
    expect("prober_probe_total{probe_type=\"Readiness\",result=\"successful\"}" in metrics, "metrics: probes")
    logs = n.container_logs("web", "httpd")
    expect(logs is not None, "containerLogs answered")
    # The default network nodelet wrote keeps its IPAM leases next to the CNI cache; DEL releases the lease.
    with open(os.path.join(n.cni_conf, "10-nodelet.conflist")) as f:
        conflist = json.load(f)
    expect(conflist["plugins"][0]["type"] == "nodelet-bridge", "default conflist %s" % conflist)
    lease = os.path.join(n.cni_cache, "networks", "nodelet", ip)
    expect(os.path.exists(lease), "lease %s" % lease)
    n.remove_and_wait("web.yaml", "web")
    n.wait(lambda: not os.path.exists(lease), 30, "lease released")


def test_crashloop(n):
    """CrashLoopBackOff: the first restart is immediate, then 10 s doubling, capped by maxContainerRestartPeriod
    (4 s here); the waiting reason and message are the kubelet's."""
    n.add("crash.yaml", pod_yaml("crash", container("c", "echo out; sleep 1; exit 3")))
    seen = {}

    def progressed():
        cs = n.container_status("crash", "c")
        if cs and "waiting" in cs["state"] and cs["state"]["waiting"].get("reason") == "CrashLoopBackOff":
            seen["msg"] = cs["state"]["waiting"].get("message", "")
        return cs and cs["restartCount"] >= 3 and seen
    n.wait(progressed, 60, "3 restarts with CrashLoopBackOff")
    expect("back-off 4s restarting failed container=c pod=crash-testnode_default(" in seen["msg"],
           "back-off message %r" % seen["msg"])
    cs = n.container_status("crash", "c")
    last = cs["lastState"]["terminated"]
    expect(last["exitCode"] == 3 and last["reason"] == "Error", "lastState %s" % last)
    # Lower bound only: from the 3rd restart on, the back-off is the cap (4 s): the instance that runs started at least
    # that long after the previous one finished (timestamps have second precision, hence 3).
    def running_after_backoff():
        c = n.container_status("crash", "c")
        if c and c["restartCount"] >= 3 and "running" in c["state"] and "terminated" in c["lastState"]:
            return c
        return None
    c = n.wait(running_after_backoff, 60, "a restart after the back-off")
    gap = ts(c["state"]["running"]["startedAt"]) - ts(c["lastState"]["terminated"]["finishedAt"])
    expect(gap >= 3, "restarted %ds after the exit, back-off is 4s" % gap)
    n.remove_and_wait("crash.yaml", "crash")


def test_restart_policies(n):
    """OnFailure: exit 0 → Succeeded, no restart; exit 1 → restarted. Never: exit 1 → Failed."""
    n.add("ok.yaml", pod_yaml("ok", container("c", "exit 0"), restart="OnFailure"))
    n.add("fail.yaml", pod_yaml("fail", container("c", "exit 1"), restart="OnFailure"))
    n.add("never.yaml", pod_yaml("never", container("c", "exit 1"), restart="Never"))
    n.wait(lambda: n.phase("ok") == "Succeeded", 60, "ok Succeeded")
    n.wait(lambda: n.phase("never") == "Failed", 60, "never Failed")
    n.wait(lambda: (n.container_status("fail", "c") or {}).get("restartCount", 0) >= 1, 60, "fail restarted")
    cs = n.container_status("ok", "c")
    expect(cs["restartCount"] == 0 and cs["state"]["terminated"]["reason"] == "Completed", "ok status %s" % cs)
    cs = n.container_status("never", "c")
    expect(cs["restartCount"] == 0 and cs["state"]["terminated"]["exitCode"] == 1, "never status %s" % cs)
    expect(n.condition("ok", "Ready") == "False", "a succeeded pod is not Ready")
    for f, p in (("ok.yaml", "ok"), ("fail.yaml", "fail"), ("never.yaml", "never")):
        n.remove_and_wait(f, p)


def test_liveness(n):
    """A failing liveness probe kills and restarts the container; lastState records the kill."""
    c = container("c", "touch /tmp/healthy; sleep 2; rm /tmp/healthy; exec sleep 1000",
                  "    livenessProbe:\n      exec:\n        command: [\"cat\", \"/tmp/healthy\"]\n"
                  "      periodSeconds: 1\n      failureThreshold: 1\n")
    n.add("live.yaml", pod_yaml("live", c, grace=1))
    n.wait(lambda: (n.container_status("live", "c") or {}).get("restartCount", 0) >= 1, 60, "liveness restart")
    last = n.container_status("live", "c")["lastState"]["terminated"]
    expect(last["exitCode"] == 137 and last["reason"] == "Error", "lastState after liveness kill: %s" % last)
    expect("failed liveness probe" in n.log(), "daemon log names the liveness failure")
    n.remove_and_wait("live.yaml", "live")


def test_readiness(n):
    """Readiness starts as failure and follows the probe both ways."""
    c = container("c", "exec sleep 1000",
                  "    readinessProbe:\n      exec:\n        command: [\"cat\", \"/tmp/ready\"]\n"
                  "      periodSeconds: 1\n")
    n.add("ready.yaml", pod_yaml("ready", c))
    n.wait(lambda: n.phase("ready") == "Running", 60, "ready Running")
    expect(n.condition("ready", "Ready") == "False", "not Ready before the probe succeeds")
    cid = n.container_status("ready", "c")["containerID"]
    expect(n.ctl_exec(cid, "touch", "/tmp/ready").returncode == 0, "exec touch")
    n.wait(lambda: n.condition("ready", "Ready") == "True", 30, "Ready True")
    expect(n.ctl_exec(cid, "rm", "/tmp/ready").returncode == 0, "exec rm")
    n.wait(lambda: n.condition("ready", "Ready") == "False", 30, "Ready False again")
    expect(n.container_status("ready", "c")["restartCount"] == 0, "readiness never restarts")
    n.remove_and_wait("ready.yaml", "ready")


def test_startup_probe(n):
    """The startup probe gates liveness: an always-failing liveness probe does nothing until startup succeeded."""
    c = container("c", "exec sleep 1000",
                  "    startupProbe:\n      exec:\n        command: [\"cat\", \"/tmp/started\"]\n"
                  "      periodSeconds: 1\n      failureThreshold: 600\n"
                  "    livenessProbe:\n      exec:\n        command: [\"false\"]\n"
                  "      periodSeconds: 1\n      failureThreshold: 1\n")
    n.add("startup.yaml", pod_yaml("startup", c, grace=1))
    n.wait(lambda: n.phase("startup") == "Running", 60, "startup Running")
    time.sleep(3)
    cs = n.container_status("startup", "c")
    expect(cs["restartCount"] == 0 and not cs["started"], "liveness ran before startup: %s" % cs)
    expect(n.ctl_exec(cs["containerID"], "touch", "/tmp/started").returncode == 0, "exec touch")
    n.wait(lambda: n.container_status("startup", "c")["restartCount"] >= 1, 60, "liveness restart after startup")
    n.remove_and_wait("startup.yaml", "startup")


def test_init_containers(n):
    """Init containers run in order before the app containers; a failing one blocks the pod (restartPolicy Never:
    the pod fails and the app container never starts)."""
    vol = "  - name: shared\n    emptyDir: {}\n"
    mount = "    volumeMounts:\n    - name: shared\n      mountPath: /shared\n"
    init = (container("one", "echo 1 >> /shared/order", mount) +
            container("two", "echo 2 >> /shared/order", mount))
    app = container("app", "cat /shared/order; exec sleep 1000", mount)
    n.add("init.yaml", pod_yaml("init", app, init=init, volumes=vol))
    n.wait(lambda: n.phase("init") == "Running" and n.condition("init", "Initialized") == "True", 60, "init Running")
    for name in ("one", "two"):
        t = n.container_status("init", name, init=True)["state"]["terminated"]
        expect(t["exitCode"] == 0 and t["reason"] == "Completed", "init %s: %s" % (name, t))
    n.wait(lambda: n.container_logs("init", "app") == "1\n2\n", 30, "app sees init output in order")
    n.remove_and_wait("init.yaml", "init")

    init = container("bad", "exit 7") + container("never-runs", "exit 0")
    n.add("initfail.yaml", pod_yaml("initfail", container("app", "sleep 1000"), init=init, restart="Never"))
    n.wait(lambda: n.phase("initfail") == "Failed", 60, "initfail Failed")
    st = n.pod("initfail")["status"]
    expect(st["initContainerStatuses"][0]["state"]["terminated"]["exitCode"] == 7, "bad init exit code")
    expect("waiting" in st["initContainerStatuses"][1]["state"], "second init container never ran")
    expect("waiting" in st["containerStatuses"][0]["state"], "app container never ran")
    n.remove_and_wait("initfail.yaml", "initfail")


def test_termination_grace(n):
    """A container ignoring SIGTERM is killed after terminationGracePeriodSeconds, not before."""
    c = container("c", "trap '' TERM; while true; do sleep 1; done")
    n.add("grace.yaml", pod_yaml("grace", c, grace=3))
    n.wait(lambda: n.phase("grace") == "Running", 60, "grace Running")
    t0 = time.monotonic()
    n.remove_and_wait("grace.yaml", "grace")
    expect(time.monotonic() - t0 >= 2.9, "pod removed %.1fs after the manifest, grace is 3s" % (time.monotonic() - t0))


def test_oom(n):
    """A container over its memory limit is OOM-killed and reported as OOMKilled."""
    c = container("c", "head -c 200m /dev/zero | tail",
                  "    resources:\n      limits:\n        memory: 16Mi\n")
    n.add("oom.yaml", pod_yaml("oom", c, restart="Never"))
    n.wait(lambda: n.phase("oom") == "Failed", 60, "oom Failed")
    t = n.container_status("oom", "c")["state"]["terminated"]
    expect(t["reason"] == "OOMKilled", "terminated %s" % t)
    n.remove_and_wait("oom.yaml", "oom")


def test_volumes(n):
    """emptyDir medium Memory is a tmpfs of sizeLimit; a subPath that escapes its volume through a symlink is
    refused (CVE-2017-1002101 class)."""
    c = container("c", "grep ' /cache ' /proc/mounts; exec sleep 1000",
                  "    volumeMounts:\n    - name: cache\n      mountPath: /cache\n")
    vol = "  - name: cache\n    emptyDir:\n      medium: Memory\n      sizeLimit: 8Mi\n"
    n.add("mem.yaml", pod_yaml("mem", c, volumes=vol))
    n.wait(lambda: "tmpfs" in (n.container_logs("mem", "c") or ""), 60, "emptyDir tmpfs line")
    line = n.container_logs("mem", "c")
    expect("size=8192k" in line, "tmpfs size: %r" % line)
    n.remove_and_wait("mem.yaml", "mem")

    vol = "  - name: data\n    emptyDir: {}\n"
    init = container("mklink", "ln -s / /data/escape",
                     "    volumeMounts:\n    - name: data\n      mountPath: /data\n")
    app = container("app", "ls /x; sleep 1000",
                    "    volumeMounts:\n    - name: data\n      mountPath: /x\n      subPath: escape\n")
    n.add("subpath.yaml", pod_yaml("subpath", app, init=init, volumes=vol))

    def refused():
        cs = n.container_status("subpath", "app")
        w = (cs or {}).get("state", {}).get("waiting", {})
        return w.get("reason") == "CreateContainerConfigError" and w
    w = n.wait(refused, 60, "subPath escape refused")
    expect("escape" in w.get("message", ""), "message names the escape: %r" % w.get("message"))
    n.remove_and_wait("subpath.yaml", "subpath")


def test_bad_manifest(n):
    """A bad manifest is reported with its file and field, and no other pod is affected."""
    n.add("good.yaml", pod_yaml("good", container("c", "exec sleep 1000")))
    n.wait(lambda: n.phase("good") == "Running", 60, "good Running")
    n.add("bad.yaml", pod_yaml("bad", container("c", "sleep 1"), restart="Sometimes"))
    n.add("broken.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: broken\n")
    n.wait(lambda: "restartPolicy" in n.log() and "broken.yaml" in n.log(), 30, "errors logged")
    expect(n.pod("bad") is None, "bad pod must not run")
    time.sleep(1)
    expect(n.phase("good") == "Running" and n.container_status("good", "c")["restartCount"] == 0,
           "good pod unaffected")
    n.remove("bad.yaml")
    n.remove("broken.yaml")
    # A pod-level failure (a hostPath that is not there) is a status reason, retried with back-off, not in a loop.
    vol = "  - name: missing\n    hostPath:\n      path: /nonexistent-nodelet-test\n      type: Directory\n"
    n.add("mount.yaml", pod_yaml("mount", container("c", "sleep 1000",
                                                   "    volumeMounts:\n    - name: missing\n      mountPath: /m\n"),
                                 volumes=vol, grace=1))
    n.wait(lambda: (n.pod("mount") or {}).get("status", {}).get("reason") == "FailedMount", 30, "FailedMount reason")
    time.sleep(3)
    attempts = n.log().count("hostPath type check failed")
    expect(attempts <= 6, "the failing setup was retried %d times in ~3 s: no back-off" % attempts)
    expect(n.phase("good") == "Running", "good pod unaffected")
    n.remove_and_wait("mount.yaml", "mount")
    n.remove_and_wait("good.yaml", "good")


def test_daemon_restart(n):
    """Restarting the daemon restarts no container: same IDs, same restart counts, still Ready."""
    # A daemon without --drain: SIGTERM leaves the pods running.
    n.stop()
    n.start(drain=False)
    with open(os.path.join(n.source, "examples/pods/web.yaml")) as f:
        n.add("web.yaml", f.read())
    n.add("crash.yaml", pod_yaml("crash", container("c", "sleep 1; exit 1")))
    n.wait(lambda: n.condition("web", "Ready") == "True", 60, "web Ready")
    n.wait(lambda: (n.container_status("crash", "c") or {}).get("restartCount", 0) >= 1, 60, "crash restarted")
    before = n.container_status("web", "httpd")
    before_crash = n.container_status("crash", "c")
    ip = n.pod("web")["status"]["podIP"]
    n.stop()
    time.sleep(2)  # the crash container exits while no daemon runs
    body = n.http("http://%s:8080/" % ip)
    expect(body and "hello" in body, "web kept serving while the daemon was down")
    n.start(drain=True)
    n.wait(lambda: n.condition("web", "Ready") == "True", 60, "web Ready after restart")
    after = n.container_status("web", "httpd")
    expect(after["containerID"] == before["containerID"], "container ID changed: %s → %s" %
           (before["containerID"], after["containerID"]))
    expect(after["restartCount"] == before["restartCount"], "restartCount changed")
    expect(n.pod("web")["status"]["podIP"] == ip, "pod IP changed")
    crash = n.container_status("crash", "c")
    expect(crash["restartCount"] >= before_crash["restartCount"], "crash restart count kept: %s" % crash)
    # It exited while the daemon was down: handled as if seen live (restarted, with back-off).
    n.wait(lambda: n.container_status("crash", "c")["restartCount"] > before_crash["restartCount"], 60,
           "crash restarted after the daemon restart")
    n.remove_and_wait("web.yaml", "web")
    n.remove_and_wait("crash.yaml", "crash")


def test_sidecars_and_hooks(n):
    """A sidecar (init container with restartPolicy Always) starts before the app containers and is stopped after
    them; preStop runs before the stop signal; a failing postStart kills its container (PostStartHookError)."""
    out = os.path.join(n.tmp, "hooks")
    os.makedirs(out, exist_ok=True)
    vol = "  - name: out\n    hostPath:\n      path: %s\n      type: Directory\n" % out
    mount = "    volumeMounts:\n    - name: out\n      mountPath: /out\n"
    side = container("side", "echo side-start >> /out/log; trap 'echo side-term >> /out/log; exit 0' TERM; "
                     "while true; do sleep 1; done", "    restartPolicy: Always\n" + mount)
    app = container("app", "echo app-start >> /out/log; trap 'echo app-term >> /out/log; exit 0' TERM; "
                    "while true; do sleep 1; done",
                    mount + "    lifecycle:\n      preStop:\n        exec:\n"
                    "          command: [\"sh\", \"-c\", \"echo app-prestop >> /out/log\"]\n")
    n.add("side.yaml", pod_yaml("side", app, init=side, volumes=vol, grace=10))
    n.wait(lambda: n.phase("side") == "Running" and n.condition("side", "Ready") == "True", 60, "side Ready")
    n.remove_and_wait("side.yaml", "side")
    with open(os.path.join(out, "log")) as f:
        lines = f.read().split()
    expect(lines == ["side-start", "app-start", "app-prestop", "app-term", "side-term"], "order: %s" % lines)

    bad = container("c", "exec sleep 1000", "    lifecycle:\n      postStart:\n        exec:\n"
                    "          command: [\"sh\", \"-c\", \"exit 1\"]\n")
    n.add("poststart.yaml", pod_yaml("poststart", bad, restart="Never", grace=1))

    def killed():
        cs = n.container_status("poststart", "c")
        t = (cs or {}).get("state", {}).get("terminated")
        return t and t
    t = n.wait(killed, 60, "postStart failure kills the container")
    expect(t["reason"] == "PostStartHookError", "terminated %s" % t)
    n.remove_and_wait("poststart.yaml", "poststart")


def test_deadline_and_host_network(n):
    """activeDeadlineSeconds fails the pod with DeadlineExceeded; a hostNetwork pod gets the node's IP and no CNI."""
    n.add("deadline.yaml", pod_yaml("deadline", container("c", "exec sleep 1000"), grace=1,
                                    extra_spec="  activeDeadlineSeconds: 2\n"))
    n.wait(lambda: n.phase("deadline") == "Failed", 60, "deadline Failed")
    st = n.pod("deadline")["status"]
    expect(st.get("reason") == "DeadlineExceeded", "status reason %s" % st.get("reason"))
    n.remove_and_wait("deadline.yaml", "deadline")

    n.add("hostnet.yaml", pod_yaml("hostnet", container("c", "cat /proc/net/dev; exec sleep 1000"), grace=1,
                                   extra_spec="  hostNetwork: true\n"))
    n.wait(lambda: n.phase("hostnet") == "Running", 60, "hostnet Running")
    st = n.pod("hostnet")["status"]
    expect(st["podIP"] == st["hostIP"], "hostNetwork pod IP %s, host %s" % (st["podIP"], st["hostIP"]))
    n.wait(lambda: "nodelet0" in (n.container_logs("hostnet", "c") or ""), 30, "host links visible in the pod")
    n.remove_and_wait("hostnet.yaml", "hostnet")


def test_downward_api(n):
    """env from fieldRef/resourceFieldRef with $(VAR) expansion; a downwardAPI volume with labels."""
    c = container("c", "echo $POD_NAME $NS $POD_IP $MEM $GREETING; cat /info/labels; echo; exec sleep 1000",
                  "    env:\n    - name: POD_NAME\n      valueFrom:\n        fieldRef:\n"
                  "          fieldPath: metadata.name\n"
                  "    - name: NS\n      valueFrom:\n        fieldRef:\n          fieldPath: metadata.namespace\n"
                  "    - name: POD_IP\n      valueFrom:\n        fieldRef:\n          fieldPath: status.podIP\n"
                  "    - name: MEM\n      valueFrom:\n        resourceFieldRef:\n"
                  "          resource: limits.memory\n          divisor: 1Mi\n"
                  "    - name: GREETING\n      value: hi-$(POD_NAME)\n"
                  "    resources:\n      limits:\n        memory: 64Mi\n"
                  "    volumeMounts:\n    - name: info\n      mountPath: /info\n")
    vol = ("  - name: info\n    downwardAPI:\n      items:\n      - path: labels\n"
           "        fieldRef:\n          fieldPath: metadata.labels\n")
    n.add("downward.yaml", pod_yaml("downward", c, volumes=vol, grace=1, meta="  labels:\n    app: x\n"))
    n.wait(lambda: n.phase("downward") == "Running", 60, "downward Running")
    ip = n.pod("downward")["status"]["podIP"]
    want = "downward-testnode default %s 64 hi-downward-testnode\napp=\"x\"\n" % ip
    n.wait(lambda: n.container_logs("downward", "c") == want, 30, "downward output %r" % want)
    n.remove_and_wait("downward.yaml", "downward")


def test_security_context(n):
    """runAsUser/runAsGroup/supplementalGroups/fsGroup reach the process; readOnlyRootFilesystem; runAsNonRoot
    refuses an image that runs as root (CreateContainerConfigError, the kubelet's message)."""
    c = container("c", "id -u; id -g; id -G; touch /x 2>/dev/null && echo writable || echo read-only; "
                  "grep CapEff /proc/self/status; exec sleep 1000",
                  "    securityContext:\n      runAsUser: 1000\n      runAsGroup: 1000\n"
                  "      readOnlyRootFilesystem: true\n      allowPrivilegeEscalation: false\n"
                  "      capabilities:\n        drop: [\"ALL\"]\n")
    n.add("sec.yaml", pod_yaml("sec", c, grace=1,
                               extra_spec="  securityContext:\n    supplementalGroups: [1001]\n    fsGroup: 2000\n"))
    n.wait(lambda: "CapEff" in (n.container_logs("sec", "c") or ""), 60, "sec output")
    out = n.container_logs("sec", "c").split("\n")
    expect(out[0] == "1000" and out[1] == "1000", "uid/gid %s" % out[:2])
    groups = out[2].split()
    expect("1001" in groups and "2000" in groups, "groups %s" % groups)
    expect(out[3] == "read-only", "rootfs %s" % out[3])
    expect(out[4].split()[-1] == "0000000000000000", "capabilities %s" % out[4])
    n.remove_and_wait("sec.yaml", "sec")

    c = container("c", "exec sleep 1000", "    securityContext:\n      runAsNonRoot: true\n")
    n.add("nonroot.yaml", pod_yaml("nonroot", c, grace=1))

    def refused():
        w = ((n.container_status("nonroot", "c") or {}).get("state", {})).get("waiting", {})
        return w.get("reason") == "CreateContainerConfigError" and w
    w = n.wait(refused, 60, "runAsNonRoot refused")
    expect("runAsNonRoot and image will run as root" in w.get("message", ""), "message %r" % w.get("message"))
    n.remove_and_wait("nonroot.yaml", "nonroot")


def test_container_logs(n):
    """/containerLogs: tailLines, timestamps, previous, follow (ends when the container exits)."""
    c = container("c", "for i in 1 2 3 4 5; do echo line$i; done; sleep 1; exit 1")
    n.add("logs.yaml", pod_yaml("logs", c, grace=1))
    n.wait(lambda: (n.container_status("logs", "c") or {}).get("restartCount", 0) >= 1, 60, "logs restarted")
    # The restarted instance writes its five lines within milliseconds: wait for all of them before slicing.
    n.wait(lambda: n.container_logs("logs", "c") == "line1\nline2\nline3\nline4\nline5\n", 30, "the current log")
    expect(n.container_logs("logs", "c", "?tailLines=2") in ("line4\nline5\n",), "tailLines=2: %r" %
           n.container_logs("logs", "c", "?tailLines=2"))
    prev = n.container_logs("logs", "c", "?previous=true")
    expect(prev == "line1\nline2\nline3\nline4\nline5\n", "previous: %r" % prev)
    ts_out = n.container_logs("logs", "c", "?timestamps=true&tailLines=1")
    expect(ts_out and ts_out.split(" ", 1)[1] == "line5\n" and ts_out[4] == "-" and "T" in ts_out.split()[0],
           "timestamps: %r" % ts_out)
    n.remove_and_wait("logs.yaml", "logs")

    c = container("c", "echo first; sleep 2; echo second; exec sleep 1000")
    n.add("follow.yaml", pod_yaml("follow", c, grace=1))
    n.wait(lambda: n.phase("follow") == "Running", 60, "follow Running")
    r = n.sh("curl -sk --max-time 6 'https://127.0.0.1:10250/containerLogs/default/follow-testnode/c?follow=true'",
             check=False, timeout=15)
    expect("first\nsecond\n" in r.stdout, "follow streamed %r" % r.stdout)
    n.remove_and_wait("follow.yaml", "follow")


# ---- /pods schema: field names and types of v1.Pod status as the Kubernetes OpenAPI defines them ----

TIME = "time"
STATUS_SCHEMA = {
    "phase": str, "conditions": [{"type": str, "status": str, "lastProbeTime": (TIME, None),
                                  "lastTransitionTime": (TIME, None), "reason": str, "message": str}],
    "message": str, "reason": str, "nominatedNodeName": str, "hostIP": str, "hostIPs": [{"ip": str}],
    "podIP": str, "podIPs": [{"ip": str}], "startTime": TIME, "qosClass": str,
    "initContainerStatuses": ["CS"], "containerStatuses": ["CS"], "ephemeralContainerStatuses": ["CS"],
}
STATE = {"waiting": {"reason": str, "message": str}, "running": {"startedAt": TIME},
         "terminated": {"exitCode": int, "signal": int, "reason": str, "message": str, "startedAt": (TIME, None),
                        "finishedAt": (TIME, None), "containerID": str}}
CS = {"name": str, "state": STATE, "lastState": STATE, "ready": bool, "restartCount": int, "image": str,
      "imageID": str, "containerID": str, "started": bool}


def check(value, schema, path):
    if schema == "CS":
        schema = CS
    if isinstance(schema, tuple):
        if value is None and None in schema:
            return
        schema = schema[0]
    if schema == TIME:
        expect(isinstance(value, str), "%s: expected a timestamp" % path)
        time.strptime(value, "%Y-%m-%dT%H:%M:%SZ")
        return
    if isinstance(schema, dict):
        expect(isinstance(value, dict), "%s: expected an object" % path)
        for k, v in value.items():
            expect(k in schema, "%s.%s: not a field of the Kubernetes type" % (path, k))
            check(v, schema[k], path + "." + k)
        return
    if isinstance(schema, list):
        expect(isinstance(value, list), "%s: expected an array" % path)
        for i, v in enumerate(value):
            check(v, schema[0], "%s[%d]" % (path, i))
        return
    expect(isinstance(value, schema) and not (schema is int and isinstance(value, bool)),
           "%s: expected %s, got %r" % (path, schema.__name__, value))


def validate_pod_list(pl):
    expect(pl.get("kind") == "PodList" and pl.get("apiVersion") == "v1", "PodList kind/apiVersion")
    expect(isinstance(pl.get("metadata"), dict), "PodList metadata")
    for i, p in enumerate(pl["items"]):
        for k in ("metadata", "spec", "status"):
            expect(isinstance(p.get(k), dict), "items[%d].%s" % (i, k))
        check(p["status"], STATUS_SCHEMA, "items[%d].status" % i)
        md = p["metadata"]
        for k in ("name", "namespace", "uid"):
            expect(isinstance(md.get(k), str), "items[%d].metadata.%s" % (i, k))
        # What the capture of a real API server says about the same fields (types only).
        expect(isinstance(p["spec"].get("containers"), list), "items[%d].spec.containers" % i)


TESTS = [test_example_pod, test_restart_policies, test_crashloop, test_liveness, test_readiness, test_startup_probe,
         test_init_containers, test_termination_grace, test_oom, test_volumes, test_bad_manifest,
         test_sidecars_and_hooks, test_deadline_and_host_network, test_downward_api, test_security_context,
         test_container_logs, test_daemon_restart]


def main():
    if os.geteuid() != 0:
        print("SKIP: needs root")
        return 77
    build, source = sys.argv[1], sys.argv[2]
    only = sys.argv[3:]
    n = Node(build, source)
    failed = 0
    try:
        try:
            n.start()
        except Failure:
            print("---- daemon log ----\n" + n.log(), flush=True)
            raise
        for t in TESTS:
            if only and t.__name__ not in only:
                continue
            t0 = time.monotonic()
            try:
                t(n)
                print("PASS %s (%.1fs)" % (t.__name__, time.monotonic() - t0), flush=True)
            except Exception:
                failed += 1
                print("FAIL %s\n%s" % (t.__name__, traceback.format_exc()), flush=True)
                print("---- daemon log (tail) ----\n" + "\n".join(n.log().splitlines()[-60:]), flush=True)
                # Start the next test from a clean directory.
                for f in os.listdir(n.pods_dir):
                    os.unlink(os.path.join(n.pods_dir, f))
                try:
                    if not n.proc:
                        n.start()
                    n.wait(lambda: not n.pod_list()["items"], 120, "all pods gone")
                except Exception as e:
                    print("cleanup between tests failed: %s" % e)
    finally:
        n.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
