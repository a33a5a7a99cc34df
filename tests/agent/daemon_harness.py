# SPDX-License-Identifier: Apache-2.0
"""A nodelet daemon under test: its own network namespace (the pod bridge, the pods' veths and the HTTP endpoints
live there, nothing touches the host's network), its own root/state/log/CNI directories in a temporary directory,
the busybox fixture image preloaded, and helpers to read /pods and wait for conditions. Used by the agent's
integration tests and by bench/agent. Everything it creates is removed by close(), also after failures."""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time


class Failure(Exception):
    pass


class Node:
    def __init__(self, build_dir, source_dir, pod_cidr="10.251.0.0/24", max_restart="4s", extra_config=""):
        self.build = build_dir
        self.source = source_dir
        self.nodelet = os.path.join(build_dir, "agent", "nodelet")
        self.ctl = os.path.join(build_dir, "agent", "nodeletctl")
        self.tmp = tempfile.mkdtemp(prefix="nodelet-daemon.")
        self.ns = "nlt%d" % os.getpid()
        self.root = os.path.join(self.tmp, "root")
        self.state = os.path.join(self.tmp, "state")
        self.pods_dir = os.path.join(self.tmp, "pods")
        self.logs = os.path.join(self.tmp, "logs")
        self.cni_conf = os.path.join(self.tmp, "cni")
        self.cni_cache = os.path.join(self.tmp, "cni-cache")
        self.pod_cidr = pod_cidr
        self.proc = None
        self.log_path = os.path.join(self.tmp, "daemon.log")
        self.cgroup = "nodelet-test-%d" % os.getpid()
        os.makedirs(os.path.join(self.root, "images", "preload"))
        os.makedirs(self.pods_dir)
        image = os.path.join(self.root, "images", "preload", "busybox.tar")
        subprocess.run(["/usr/bin/python3", os.path.join(source_dir, "tests/fixtures/make-busybox-image.py"), image,
                        "--ref", "docker.io/library/busybox:latest"], check=True, stdout=subprocess.DEVNULL)
        self.config = os.path.join(self.tmp, "config.yaml")
        with open(self.config, "w") as f:
            f.write("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"
                    "podLogsDir: %s\nfileCheckFrequency: 1s\nreadOnlyPort: 10255\nhealthzPort: 10248\n"
                    "authentication:\n  anonymous:\n    enabled: true\n  webhook:\n    enabled: false\n"
                    "authorization:\n  mode: AlwaysAllow\n"
                    "crashLoopBackOff:\n  maxContainerRestartPeriod: %s\n%s" % (self.logs, max_restart, extra_config))
        subprocess.run(["ip", "netns", "add", self.ns], check=True)
        self.sh("ip link set lo up")

    # ---- process ----

    def start(self, drain=True, extra=()):
        if self.proc:
            raise Failure("daemon already running")
        # nsenter, not `ip netns exec`: that one remounts /sys in a new mount namespace, hiding the cgroup mounts.
        args = ["nsenter", "--net=/run/netns/" + self.ns, self.nodelet, "--config", self.config, "--root-dir", self.root,
                "--state-dir", self.state, "--pod-manifest-path", self.pods_dir, "--cni-conf-dir", self.cni_conf,
                "--cni-bin-dir", os.path.join(self.build, "cni"), "--cni-cache-dir", self.cni_cache,
                "--pod-cidr", self.pod_cidr, "--cgroup-root", self.cgroup, "--hostname-override", "testnode",
                "--port", "10250", "--cert-dir", os.path.join(self.tmp, "pki"), "--v", "4"]
        if drain:
            args.append("--drain")
        args += list(extra)
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.wait(lambda: self.healthz() == "ok", 30, "healthz")

    def stop(self, timeout=120):
        """SIGTERM: with --drain the daemon stops every pod first."""
        if not self.proc:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
            self.proc = None
            raise Failure("daemon did not exit within %ds" % timeout)
        self.proc = None
        return rc

    def kill(self):
        if self.proc:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def log(self):
        try:
            with open(self.log_path) as f:
                return f.read()
        except OSError:
            return ""

    # ---- network namespace helpers ----

    def sh(self, cmd, check=True, timeout=30):
        r = subprocess.run(["ip", "netns", "exec", self.ns, "sh", "-c", cmd], capture_output=True, text=True,
                           timeout=timeout)
        if check and r.returncode != 0:
            raise Failure("%s: exit %d: %s" % (cmd, r.returncode, r.stderr.strip()))
        return r

    def http(self, url, timeout=5):
        r = self.sh("curl -s --max-time %d %s" % (timeout, url), check=False, timeout=timeout + 5)
        return r.stdout if r.returncode == 0 else None

    def healthz(self):
        return self.http("http://127.0.0.1:10248/healthz", 2)

    def pod_list(self):
        text = self.http("http://127.0.0.1:10255/pods")
        if text is None:
            raise Failure("GET /pods failed")
        return json.loads(text)

    def pod(self, name):
        full = name + "-testnode"
        for p in self.pod_list()["items"]:
            if p["metadata"]["name"] == full:
                return p
        return None

    def container_status(self, pod, container, init=False):
        p = self.pod(pod)
        if not p:
            return None
        key = "initContainerStatuses" if init else "containerStatuses"
        for c in p.get("status", {}).get(key, []):
            if c["name"] == container:
                return c
        return None

    def condition(self, pod, ctype):
        p = self.pod(pod)
        for c in (p or {}).get("status", {}).get("conditions", []):
            if c["type"] == ctype:
                return c["status"]
        return None

    def phase(self, pod):
        p = self.pod(pod)
        return p["status"]["phase"] if p else None

    def wait(self, pred, timeout, what):
        deadline = time.monotonic() + timeout
        last_exc = None
        while time.monotonic() < deadline:
            if self.proc and self.proc.poll() is not None:
                raise Failure("daemon exited (%s) while waiting for %s" % (self.proc.returncode, what))
            try:
                v = pred()
                if v:
                    return v
            except Failure as e:
                last_exc = e
            time.sleep(0.1)
        raise Failure("timed out after %ss waiting for %s%s" % (timeout, what,
                                                                 (" (last error: %s)" % last_exc) if last_exc else ""))

    # ---- manifests ----

    def add(self, fname, text):
        tmp = os.path.join(self.pods_dir, "." + fname + ".tmp")
        with open(tmp, "w") as f:
            f.write(text)
        os.rename(tmp, os.path.join(self.pods_dir, fname))

    def remove(self, fname):
        os.unlink(os.path.join(self.pods_dir, fname))

    def remove_and_wait(self, fname, pod, timeout=60):
        self.remove(fname)
        self.wait(lambda: self.pod(pod) is None, timeout, "pod %s to be removed" % pod)

    def ctl_exec(self, container_id, *cmd):
        cid = container_id.split("://", 1)[-1]
        return subprocess.run([self.ctl, "exec", "--root-dir", self.root, "--state-dir", self.state, cid] + list(cmd),
                              capture_output=True, text=True, timeout=30)

    def container_logs(self, pod, container, query=""):
        return self.http("'https://127.0.0.1:10250/containerLogs/default/%s-testnode/%s%s' -k" % (pod, container, query))

    # ---- teardown ----

    def close(self):
        try:
            if self.proc:
                self.stop()
            # Anything left (a failed test, a crashed daemon): a draining daemon with no manifests removes it.
            if os.path.isdir(os.path.join(self.state, "containers")) and os.listdir(os.path.join(self.state,
                                                                                               "containers")):
                for f in os.listdir(self.pods_dir):
                    os.unlink(os.path.join(self.pods_dir, f))
                try:
                    self.start(drain=True)
                    time.sleep(1)
                    self.stop()
                except Failure:
                    self.kill()
        finally:
            self.kill()
            for cid in (os.listdir(os.path.join(self.state, "containers"))
                        if os.path.isdir(os.path.join(self.state, "containers")) else []):
                subprocess.run([self.ctl, "rm", "-f", "--root-dir", self.root, "--state-dir", self.state, cid],
                               capture_output=True)
            with open("/proc/self/mountinfo") as f:
                mounts = [line.split()[4] for line in f if line.split()[4].startswith(self.tmp + "/")]
            for m in sorted(mounts, key=len, reverse=True):
                subprocess.run(["umount", "-l", m], capture_output=True)
            subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)
            remove_cgroups(self.cgroup)
            shutil.rmtree(self.tmp, ignore_errors=True)


def remove_cgroups(name):
    """Our cgroup base below our own cgroup in every hierarchy, deepest first."""
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            if ctrls.startswith("name="):
                continue
            roots = ["/sys/fs/cgroup/unified" if not ctrls and os.path.isdir("/sys/fs/cgroup/unified")
                     else "/sys/fs/cgroup"] if not ctrls else ["/sys/fs/cgroup/" + c for c in ctrls.split(",")]
            for root in roots:
                base = root + path.rstrip("/") + "/" + name
                if not os.path.isdir(base):
                    continue
                for d, _, _ in sorted(os.walk(base), key=lambda x: -len(x[0])):
                    try:
                        os.rmdir(d)
                    except OSError:
                        pass
