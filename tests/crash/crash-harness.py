#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Crash consistency (issue 13): kill -9 at a random point of every operation, then check that the next run
converges.

For each scenario the operation is first run uninterrupted a few times to measure how long it takes; then, per
iteration, it is started again and SIGKILLed after a delay drawn uniformly over that duration (a seeded RNG: the
seed is printed, NODELET_CRASH_SEED=... reproduces a run), the recovery a user or the daemon would run follows
(the same import again, `rm -f` of the container, CNI DEL then ADD, proxy sync again) and the harness checks that
nothing is left half-done:

  images      import of the busybox fixture and of a two-layer docker-archive (and `images rm` before it), killed;
              recovery: the same import. Every blob under blobs/ hashes to its name, every referenced blob and
              layer exists, layer trees equal those of a clean import, nothing unreferenced, tmp/ empty.
  run-d       `nodeletctl run -d` killed (create + start); recovery `rm -f`.
  run-d-shim  `run -d` with the shim killed instead; recovery `rm -f`.
  stop        `nodeletctl stop` killed; recovery `rm -f`.
  rm          `nodeletctl rm -f` of a running container killed; recovery `rm -f` again.
  run-rm      foreground `run --rm` killed; recovery: none (its watcher must remove the container by itself).
  run-rm-shim foreground `run --rm` with the shim killed; recovery: none.
  cni         nodelet-bridge (+ in-process nodelet-ipam) ADD killed, recovery DEL + ADD; then DEL killed, recovery
              DEL. Checked in a host netns and pod netns the test creates: leases = the live attachments, one
              enslaved veth per live attachment, masquerade rules only for live attachments, pod interface present
              exactly when attached.
  proxy       `nodeletctl proxy sync` of a few hundred Services killed, starting from an empty, a different or
              the same ruleset; recovery: sync again. The netns's ruleset must equal a clean sync's, nothing else.

After every container and image iteration: no mount below the test's directory, no cgroup below the test's
cgroup parent, no process running from the test's directories (shims, run --rm watchers), no container left.

Usage: crash-harness.py BUILD_DIR [--iterations N] [--seed S] [--scenario NAME]...
  N defaults to $NODELET_CRASH_ITERATIONS or 5; S to $NODELET_CRASH_SEED or a random seed.
Needs root (exit 77 otherwise). Everything lives under a temp dir, a cgroup parent and netns named after this
process, all removed on exit, also on failure. Processes are killed only by the PIDs this harness started.
"""

import argparse
import atexit
import ctypes
import hashlib
import json
import os
import random
import signal
import stat
import statistics
import subprocess
import sys
import tempfile
import time

SKIP = 77
CLONE_NEWNET = 0x40000000
SCENARIOS = ["images", "run-d", "run-d-shim", "stop", "rm", "run-rm", "run-rm-shim", "cni", "proxy"]
WAIT_BOUND = 60.0  # seconds: a bound against hanging while polling for convergence, not a timing assertion
libc = ctypes.CDLL(None, use_errno=True)


class Failure(Exception):
    pass


def log(msg):
    print(msg, flush=True)


def in_netns(path):
    """preexec_fn: run the child in the network namespace at PATH (the harness itself stays where it is)."""
    def enter():
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        if libc.setns(fd, CLONE_NEWNET) != 0:
            os._exit(126)
        os.close(fd)
    return enter


def sh(cmd, check=True, netns=None, env=None, input=None, timeout=120):
    p = subprocess.run(cmd, capture_output=True, text=True, input=input, env=env, timeout=timeout,
                       preexec_fn=in_netns(netns) if netns else None)
    if check and p.returncode != 0:
        raise Failure("%s: exit %d: %s%s" % (" ".join(cmd), p.returncode, p.stdout[-2000:], p.stderr[-2000:]))
    return p


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def tree_signature(root):
    """What a layer directory holds: type, mode, owner, size, content hash, link target, device, xattrs."""
    sig = {}
    for d, dirs, files in os.walk(root):
        for name in dirs + files:
            p = os.path.join(d, name)
            st = os.lstat(p)
            e = [stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid]
            if stat.S_ISREG(st.st_mode):
                e += [st.st_size, sha256_file(p)]
            elif stat.S_ISLNK(st.st_mode):
                e.append(os.readlink(p))
            elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                e.append(st.st_rdev)
            try:
                e.append(sorted((k, os.getxattr(p, k, follow_symlinks=False).hex())
                                for k in os.listxattr(p, follow_symlinks=False)))
            except OSError:
                pass
            sig[os.path.relpath(p, root)] = e
    return sig


def nft_normalized(netns, what=("ruleset",)):
    """`nft -j list ...` without handles, metainfo and element order (hash sets list in hash order)."""
    out = sh(["nft", "-j", "list"] + list(what), netns=netns).stdout
    items = [i for i in json.loads(out)["nftables"] if "metainfo" not in i]

    def strip(v):
        if isinstance(v, dict):
            return {k: strip(x) for k, x in v.items() if k != "handle"}
        if isinstance(v, list):
            return [strip(x) for x in v]
        return v
    items = [strip(i) for i in items]
    for i in items:
        for k in ("set", "map"):
            if k in i and "elem" in i[k]:
                i[k]["elem"] = sorted(i[k]["elem"], key=lambda x: json.dumps(x, sort_keys=True))
    return sorted(items, key=lambda x: json.dumps(x, sort_keys=True))


class Harness:
    def __init__(self, build, seed, iterations):
        self.build = os.path.abspath(build)
        self.ctl = os.path.join(self.build, "agent", "nodeletctl")
        self.cni_bin = os.path.join(self.build, "cni")
        self.source = os.environ.get("NODELET_SOURCE_DIR") or os.path.dirname(os.path.dirname(
            os.path.dirname(os.path.abspath(__file__))))
        self.rng = random.Random(seed)
        self.iterations = iterations
        self.tag = "crash%d" % os.getpid()
        self.tmp = tempfile.mkdtemp(prefix="nodelet-crash.")
        self.root = os.path.join(self.tmp, "root")
        self.state = os.path.join(self.tmp, "state")
        self.cgparent = "nodelet-crash-%d" % os.getpid()
        self.netns = []  # names under /run/netns this harness created
        self.children = set()  # Popen objects still running
        self.durations = {}
        self.stats = {}
        self.n = 0  # container names are unique per harness run

    # ---- resources and cleanup ----

    def netns_add(self, suffix):
        name = "%s-%s" % (self.tag, suffix)
        sh(["ip", "netns", "add", name])
        self.netns.append(name)
        sh(["ip", "link", "set", "lo", "up"], netns=self.nspath(name))
        return name

    @staticmethod
    def nspath(name):
        return "/run/netns/" + name

    def cgroup_dirs(self):
        """Our cgroup parent in every hierarchy, below this process's own cgroup (as nodeletctl resolves it)."""
        dirs = []
        with open("/proc/self/cgroup") as f:
            for line in f:
                _, ctrls, path = line.rstrip("\n").split(":", 2)
                if ctrls.startswith("name="):
                    continue
                for c in ctrls.split(",") if ctrls else [""]:
                    d = os.path.normpath("/sys/fs/cgroup/%s/%s/%s" % (c, path, self.cgparent))
                    if d not in dirs:
                        dirs.append(d)
        return dirs

    def cleanup(self):
        for p in list(self.children):
            if p.poll() is None:
                os.kill(p.pid, signal.SIGKILL)
                p.wait()
        self.children.clear()
        # containers first (their shims and processes), then whatever runs from our directories
        cdir = os.path.join(self.state, "containers")
        if os.path.isdir(cdir):
            for cid in os.listdir(cdir):
                subprocess.run(self.n_args("rm", "-f", cid), capture_output=True, timeout=60)
        for pid in self.our_processes():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for d in self.cgroup_dirs():
            for sub, _, _ in sorted(os.walk(d), key=lambda x: -len(x[0])) if os.path.isdir(d) else []:
                try:
                    os.rmdir(sub)
                except OSError:
                    pass
        for m in reversed(self.our_mounts()):
            subprocess.run(["umount", "-l", m], capture_output=True)
        for name in self.netns:
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
        self.netns = []
        if os.path.isdir(self.tmp):
            subprocess.run(["rm", "-rf", "--one-file-system", self.tmp], capture_output=True)

    def reset(self):
        """After a failure: remove what the failed iteration left, so that the next scenario starts clean."""
        cdir = os.path.join(self.state, "containers")
        for cid in os.listdir(cdir) if os.path.isdir(cdir) else []:
            subprocess.run(self.n_args("rm", "-f", cid), capture_output=True, timeout=60)
        for pid in self.our_processes():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.wait_quiet()
        for d in self.cgroup_dirs():
            for sub, _, _ in sorted(os.walk(d), key=lambda x: -len(x[0])) if os.path.isdir(d) else []:
                if sub != d:
                    try:
                        os.rmdir(sub)
                    except OSError:
                        pass
        for d in (os.path.join(self.state, "containers"), os.path.join(self.root, "containers")):
            for x in os.listdir(d) if os.path.isdir(d) else []:
                subprocess.run(["rm", "-rf", "--one-file-system", os.path.join(d, x)], capture_output=True)
        users = os.path.join(self.root, "images", "users")
        for img in os.listdir(users) if os.path.isdir(users) else []:
            for x in os.listdir(os.path.join(users, img)):
                os.unlink(os.path.join(users, img, x))

    # ---- observation ----

    def our_processes(self):
        """Live (not zombie) processes started from our directories: shims, `run --rm` watchers, plugins."""
        found = []
        for e in os.listdir("/proc"):
            if not e.isdigit() or int(e) == os.getpid():
                continue
            try:
                with open("/proc/%s/cmdline" % e, "rb") as f:
                    cmd = f.read()
                with open("/proc/%s/stat" % e) as f:
                    st = f.read().rsplit(")", 1)[1].split()[0]
                with open("/proc/%s/cgroup" % e) as f:
                    cg = f.read()
            except OSError:
                continue
            if st in ("Z", "X"):
                continue
            if self.tmp.encode() in cmd or ("/%s/" % self.cgparent) in cg:
                found.append(int(e))
        return found

    def our_mounts(self):
        out = []
        with open("/proc/self/mountinfo") as f:
            for line in f:
                mp = line.split()[4]
                if mp == self.tmp or mp.startswith(self.tmp + "/"):
                    out.append(mp)
        return out

    def leaked_cgroups(self):
        out = []
        for d in self.cgroup_dirs():
            if os.path.isdir(d):
                out += [os.path.join(d, x) for x in os.listdir(d) if os.path.isdir(os.path.join(d, x))]
        return out

    def wait_quiet(self):
        """Waits (bounded) until nothing runs from our directories any more: a killed `run --rm`'s watcher, or a
        shim finishing its exit record, may still be at work."""
        end = time.monotonic() + WAIT_BOUND
        while self.our_processes() and time.monotonic() < end:
            time.sleep(0.02)

    def check_host(self, what, containers=()):
        """No running orphan, mount, cgroup or container (other than CONTAINERS) is left."""
        problems = []
        procs = self.our_processes()
        if procs:
            desc = []
            for pid in procs:
                try:
                    with open("/proc/%d/cmdline" % pid, "rb") as f:
                        desc.append("%d %s" % (pid, f.read().replace(b"\0", b" ").decode(errors="replace")))
                except OSError:
                    pass
            if desc:
                problems.append("processes left running: " + "; ".join(desc))
        if self.our_mounts():
            problems.append("mounts left: %s" % self.our_mounts())
        cg = [c for c in self.leaked_cgroups() if os.path.basename(c) not in containers]
        if cg:
            problems.append("cgroups left: %s" % cg)
        for d in (os.path.join(self.state, "containers"), os.path.join(self.root, "containers")):
            left = sorted(set(os.listdir(d)) - set(containers)) if os.path.isdir(d) else []
            if left:
                problems.append("container directories left in %s: %s" % (d, left))
        users = os.path.join(self.root, "images", "users")
        for img in os.listdir(users) if os.path.isdir(users) else []:
            left = sorted(set(os.listdir(os.path.join(users, img))) - set(containers))
            if left:
                problems.append("image user records left for %s: %s" % (img, left))
        if problems:
            raise Failure("%s: %s" % (what, "; ".join(problems)))

    # ---- running and killing ----

    def n_args(self, verb, *args):
        return [self.ctl, verb, "--root-dir", self.root, "--state-dir", self.state, "--cgroup-parent",
                self.cgparent] + list(args)

    def spawn(self, cmd, netns=None, env=None, stdin=None):
        p = subprocess.Popen(cmd, stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                             preexec_fn=in_netns(netns) if netns else None)
        self.children.add(p)
        if stdin is not None:
            # small inputs (CNI configs): written at once, never blocks
            try:
                p.stdin.write(stdin.encode())
                p.stdin.close()
            except BrokenPipeError:
                pass
        return p

    def finish(self, p):
        p.stdin = None  # written and closed by spawn()
        out, err = p.communicate(timeout=120)
        self.children.discard(p)
        return p.returncode, out.decode(errors="replace"), err.decode(errors="replace")

    def measure(self, key, once, runs=3):
        """The median of ONCE() (which runs the operation to completion and returns how long the operation proper
        took), the range of the kill delays."""
        if key not in self.durations:
            self.durations[key] = statistics.median(once() for _ in range(runs))
            log("  %s: uninterrupted %.1f ms" % (key, self.durations[key] * 1000))
        return self.durations[key]

    @staticmethod
    def timed(cmd, netns=None):
        t0 = time.monotonic()
        sh(cmd, netns=netns)
        return time.monotonic() - t0

    def kill_at(self, key, p, delay, target=None):
        """SIGKILLs P (or the pid TARGET() returns, polled from DELAY on) after DELAY seconds; records whether the
        kill landed mid-operation. Returns (exit code, stdout, stderr) of P."""
        end = time.monotonic() + delay
        while time.monotonic() < end and p.poll() is None:
            time.sleep(min(0.0005, max(0.0, end - time.monotonic())))
        killed = False
        if target is None:
            if p.poll() is None:
                os.kill(p.pid, signal.SIGKILL)
                killed = True
        else:
            while True:
                pid = target()
                if pid:
                    try:
                        os.kill(pid, signal.SIGKILL)
                        killed = True
                    except ProcessLookupError:
                        pass
                    break
                if p.poll() is not None and not target():
                    break
                time.sleep(0.0005)
        s = self.stats.setdefault(key, [0, 0])
        s[0 if killed else 1] += 1
        return self.finish(p)

    def delay(self, key):
        return self.rng.uniform(0, self.durations[key])

    # ---- images ----

    def images_dir(self):
        return os.path.join(self.root, "images")

    def import_args(self, fx):
        return [self.ctl, "images", "--root-dir", self.root, "import", fx["tar"], "--ref", fx["ref"], "--quiet"]

    def rm_image_args(self, fx):
        return [self.ctl, "images", "--root-dir", self.root, "rm", fx["ref"]]

    def verify_store(self, what, expect):
        """EXPECT: {image id: ref}. The store holds exactly these images, every blob verifies, every layer is
        complete, and nothing unreferenced or staged is left."""
        d = self.images_dir()
        problems = []
        blobs = os.path.join(d, "blobs", "sha256")
        for b in os.listdir(blobs):
            if sha256_file(os.path.join(blobs, b)) != b:
                problems.append("blob %s does not hash to its name" % b)
        with open(os.path.join(d, "index.json")) as f:
            index = json.load(f)["images"]
        if set(index) != set(expect):
            problems.append("index holds %s, expected %s" % (sorted(index), sorted(expect)))
        live_blobs, live_layers = set(), set()
        for iid, entry in index.items():
            if iid in expect and expect[iid] not in entry.get("refs", []):
                problems.append("image %s lost its reference %s" % (iid, expect[iid]))
            mhex = entry["manifest"].split(":", 1)[1]
            live_blobs.add(mhex)
            try:
                with open(os.path.join(blobs, mhex)) as f:
                    m = json.load(f)
                chex = m["config"]["digest"].split(":", 1)[1]
                live_blobs.add(chex)
                live_blobs.update(l["digest"].split(":", 1)[1] for l in m["layers"])
                with open(os.path.join(blobs, chex)) as f:
                    cfg = json.load(f)
            except (OSError, ValueError, KeyError) as e:
                problems.append("image %s: %s" % (iid, e))
                continue
            for diff in cfg["rootfs"]["diff_ids"]:
                live_layers.add(diff.split(":", 1)[1])
        for b in sorted(live_blobs - set(os.listdir(blobs))):
            problems.append("referenced blob %s missing" % b)
        layers = os.path.join(d, "layers")
        on_disk = set(os.listdir(layers))
        for l in sorted(live_layers - on_disk):
            problems.append("referenced layer %s missing" % l)
        for l in sorted(live_layers & on_disk):
            if tree_signature(os.path.join(layers, l)) != self.layer_sigs.get(l):
                problems.append("layer %s differs from a clean unpack" % l)
        if on_disk - live_layers:
            problems.append("unreferenced layers left: %s" % sorted(on_disk - live_layers))
        if set(os.listdir(blobs)) - live_blobs:
            problems.append("unreferenced blobs left: %s" % sorted(set(os.listdir(blobs)) - live_blobs))
        staged = os.listdir(os.path.join(d, "tmp"))
        if staged:
            problems.append("staging left in tmp/: %s" % staged)
        p = sh([self.ctl, "images", "--root-dir", self.root, "ls"], check=False)
        if p.returncode != 0:
            problems.append("images ls: exit %d: %s" % (p.returncode, p.stderr.strip()))
        if problems:
            raise Failure("%s: %s" % (what, "; ".join(problems)))

    def setup_images(self):
        fixture = os.path.join(self.source, "tests", "fixtures", "make-busybox-image.py")
        self.fixtures = []
        for name, extra in (("busybox", ["--ref", "crash.test/busybox:1"]),
                            ("multi", ["--ref", "crash.test/multi:1", "--format", "docker-archive", "--whiteout",
                                       "--variant", "crash", "--zstd"])):
            tar = os.path.join(self.tmp, name + ".tar")
            sh(["/usr/bin/python3", fixture, tar] + extra)
            self.fixtures.append({"name": name, "tar": tar, "ref": extra[1]})
        # a clean import of each gives the ids and the layer trees every later unpack must equal
        self.layer_sigs = {}
        for fx in self.fixtures:
            fx["id"] = sh(self.import_args(fx)).stdout.strip()
        layers = os.path.join(self.images_dir(), "layers")
        for l in os.listdir(layers):
            self.layer_sigs[l] = tree_signature(os.path.join(layers, l))
        self.verify_store("clean import", {fx["id"]: self.norm_ref(fx["ref"]) for fx in self.fixtures})

    @staticmethod
    def norm_ref(ref):
        return ref if "/" in ref.split(":")[0] else "docker.io/library/" + ref

    def scenario_images(self, i):
        fx = self.fixtures[i % len(self.fixtures)]
        others = {f["id"]: self.norm_ref(f["ref"]) for f in self.fixtures if f is not fx}
        key_rm, key_imp = "images rm " + fx["name"], "images import " + fx["name"]

        def rm_once():
            dt = self.timed(self.rm_image_args(fx))
            sh(self.import_args(fx))
            return dt

        def import_once():
            sh(self.rm_image_args(fx))
            return self.timed(self.import_args(fx))
        self.measure(key_rm, rm_once)
        self.measure(key_imp, import_once)
        # `images rm` killed; whatever it left, the import that follows must not be confused by it
        d = self.delay(key_rm)
        self.kill_at(key_rm, self.spawn(self.rm_image_args(fx)), d)
        sh(self.rm_image_args(fx), check=False)  # the recovery of an rm: rm again (absent: an error, fine)
        d = self.delay(key_imp)
        self.kill_at(key_imp, self.spawn(self.import_args(fx)), d)
        rc, out, err = self.finish(self.spawn(self.import_args(fx)))
        if rc != 0:
            raise Failure("import after a kill at %.2f ms: exit %d: %s" % (d * 1000, rc, err.strip()))
        if out.strip() != fx["id"]:
            raise Failure("import after a kill gave id %s, expected %s" % (out.strip(), fx["id"]))
        expect = dict(others)
        expect[fx["id"]] = self.norm_ref(fx["ref"])
        self.verify_store("after import killed at %.2f ms" % (d * 1000), expect)
        self.check_host("images")

    # ---- containers ----

    def name(self):
        self.n += 1
        return "c%d" % self.n

    def shim_of(self, cid):
        want = ("%s/containers/%s" % (self.state, cid)).encode()
        for e in os.listdir("/proc"):
            if not e.isdigit():
                continue
            try:
                with open("/proc/%s/comm" % e) as f:
                    if f.read().strip() != "nodelet-shim":
                        continue
                with open("/proc/%s/cmdline" % e, "rb") as f:
                    if want in f.read().split(b"\0"):
                        return int(e)
            except OSError:
                continue
        return None

    def run_d(self, cid, *cmd):
        return self.n_args("run", "-d", "--name", cid, "crash.test/busybox:1", *(cmd or ("sleep", "600")))

    def converge_rm(self, what, cid):
        """The user's recovery: `rm -f` (a container that never came to exist: "not found", fine)."""
        rc, out, err = self.finish(self.spawn(self.n_args("rm", "-f", cid)))
        if rc != 0 and "not found" not in err:
            raise Failure("%s: rm -f %s: exit %d: %s" % (what, cid, rc, err.strip()))
        self.wait_quiet()
        self.check_host(what)

    def measure_run_d(self):
        def once():
            cid = self.name()
            dt = self.timed(self.run_d(cid))
            sh(self.n_args("rm", "-f", cid))
            return dt
        return self.measure("run -d", once)

    def scenario_run_d(self, i):
        self.measure_run_d()
        cid, d = self.name(), self.delay("run -d")
        self.kill_at("run -d", self.spawn(self.run_d(cid)), d)
        self.converge_rm("run -d killed at %.2f ms" % (d * 1000), cid)

    def scenario_run_d_shim(self, i):
        self.measure_run_d()
        cid, d = self.name(), self.delay("run -d")
        self.kill_at("run -d (shim)", self.spawn(self.run_d(cid)), d, target=lambda: self.shim_of(cid))
        self.converge_rm("run -d, shim killed at %.2f ms" % (d * 1000), cid)

    # a pid 1 that exits on SIGTERM, so that `stop` does the whole signal-wait-exit sequence quickly
    TERMINABLE = ("sh", "-c", "trap 'exit 0' TERM; sleep 600 & wait")

    def scenario_stop(self, i):
        def once():
            cid = self.name()
            sh(self.run_d(cid, *self.TERMINABLE))
            t0 = time.monotonic()
            sh(self.n_args("stop", "-t", "10", cid))
            dt = time.monotonic() - t0
            sh(self.n_args("rm", "-f", cid))
            return dt
        self.measure("stop", once)
        cid = self.name()
        sh(self.run_d(cid, *self.TERMINABLE))
        d = self.delay("stop")
        self.kill_at("stop", self.spawn(self.n_args("stop", "-t", "10", cid)), d)
        self.converge_rm("stop killed at %.2f ms" % (d * 1000), cid)

    def scenario_rm(self, i):
        def once():
            cid = self.name()
            sh(self.run_d(cid))
            t0 = time.monotonic()
            sh(self.n_args("rm", "-f", cid))
            return time.monotonic() - t0
        self.measure("rm -f", once)
        cid = self.name()
        sh(self.run_d(cid))
        d = self.delay("rm -f")
        self.kill_at("rm -f", self.spawn(self.n_args("rm", "-f", cid)), d)
        self.converge_rm("rm -f killed at %.2f ms" % (d * 1000), cid)

    def run_rm(self, cid):
        return self.n_args("run", "--rm", "--name", cid, "crash.test/busybox:1", "sleep", "0.2")

    def scenario_run_rm(self, i, shim=False):
        self.measure("run --rm", lambda: self.timed(self.run_rm(self.name())))
        cid, d = self.name(), self.delay("run --rm")
        self.kill_at("run --rm" + (" (shim)" if shim else ""), self.spawn(self.run_rm(cid)), d,
                     target=(lambda: self.shim_of(cid)) if shim else None)
        # no recovery command: the watcher of the killed run (or the run itself, for a killed shim) cleans up
        self.wait_quiet()
        self.check_host("run --rm, %s killed at %.2f ms" % ("shim" if shim else "nodeletctl", d * 1000))

    def scenario_run_rm_shim(self, i):
        self.scenario_run_rm(i, shim=True)

    # ---- CNI ----

    def setup_cni(self):
        self.host_ns = self.netns_add("host")
        self.pod_ns = {k: self.netns_add(k) for k in ("stable", "pod")}
        self.network = self.tag
        self.bridge = "br" + self.tag[-10:]
        self.ipam_dir = os.path.join(self.tmp, "ipam")
        self.cni_conf = json.dumps({
            "cniVersion": "1.0.0", "name": self.network, "type": "nodelet-bridge", "bridge": self.bridge,
            "isGateway": True, "ipMasq": True,
            "ipam": {"type": "nodelet-ipam", "dataDir": self.ipam_dir, "ranges": [[{"subnet": "10.231.7.0/24"}]]}})
        self.cni_live = {}  # container id -> pod netns name
        self.cni(self.cni_add_args("stable-0", "stable"), "ADD stable-0")
        self.cni_live["stable-0"] = "stable"
        self.verify_cni("setup")

    def cni_env(self, cmd, cid, ns):
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "CNI_COMMAND": cmd, "CNI_CONTAINERID": cid,
               "CNI_NETNS": self.nspath(self.pod_ns[ns]), "CNI_IFNAME": "eth0", "CNI_PATH": self.cni_bin}
        return env

    def cni_add_args(self, cid, ns):
        return ("ADD", cid, ns)

    def cni_spawn(self, args):
        cmd, cid, ns = args
        return self.spawn([os.path.join(self.cni_bin, "nodelet-bridge")], netns=self.nspath(self.host_ns),
                          env=self.cni_env(cmd, cid, ns), stdin=self.cni_conf)

    def cni(self, args, what):
        rc, out, err = self.finish(self.cni_spawn(args))
        if rc != 0:
            raise Failure("%s: exit %d: %s %s" % (what, rc, out.strip(), err.strip()))
        return out

    def verify_cni(self, what):
        problems = []
        # leases: exactly the live attachments
        ldir = os.path.join(self.ipam_dir, self.network)
        leases = {}
        for f in os.listdir(ldir) if os.path.isdir(ldir) else []:
            if f == "lock" or f.startswith("last_reserved_ip"):
                continue
            with open(os.path.join(ldir, f)) as fh:
                leases[(fh.read().splitlines() or [""])[0].strip()] = f
        if set(leases) != set(self.cni_live):
            problems.append("IPAM leases %s, live attachments %s" % (sorted(leases), sorted(self.cni_live)))
        # host side: the bridge and one enslaved veth per live attachment, nothing else
        links = json.loads(sh(["ip", "-j", "-d", "link", "show"], netns=self.nspath(self.host_ns)).stdout)
        veths = [l for l in links if l.get("linkinfo", {}).get("info_kind") == "veth"]
        other = [l["ifname"] for l in links if l not in veths and l["ifname"] not in ("lo", self.bridge)]
        if len(veths) != len(self.cni_live):
            problems.append("%d host veths (%s) for %d live attachments" % (
                len(veths), [v["ifname"] for v in veths], len(self.cni_live)))
        if other:
            problems.append("unexpected host links %s" % other)
        for v in veths:
            if v.get("master") != self.bridge:
                problems.append("veth %s not on the bridge" % v["ifname"])
        # pod side: eth0 with the leased address exactly where attached
        for ns in self.pod_ns:
            live = [c for c, n in self.cni_live.items() if n == ns]
            addrs = json.loads(sh(["ip", "-j", "addr", "show"], netns=self.nspath(self.pod_ns[ns])).stdout)
            eth0 = [a for a in addrs if a["ifname"] == "eth0"]
            if not live and eth0:
                problems.append("pod netns %s still has eth0" % ns)
            if live:
                have = {x["local"] for a in eth0 for x in a.get("addr_info", [])}
                if not eth0 or leases.get(live[0]) not in have:
                    problems.append("pod netns %s: eth0 %s does not carry lease %s" % (ns, sorted(have),
                                                                                       leases.get(live[0])))
        # masquerade rules: only for live attachments, only in our own table
        rules = nft_normalized(self.nspath(self.host_ns))
        tables = {(i["table"]["family"], i["table"]["name"]) for i in rules if "table" in i}
        if tables - {("ip", "nodelet-cni"), ("ip6", "nodelet-cni")}:
            problems.append("unexpected nft tables %s" % sorted(tables))
        masq = sorted(i["rule"].get("comment", "") for i in rules if "rule" in i)
        want = sorted("%s %s eth0" % (self.network, c) for c in self.cni_live)
        if masq != want:
            problems.append("masquerade rules %s, expected %s" % (masq, want))
        if problems:
            raise Failure("cni %s: %s" % (what, "; ".join(problems)))

    def scenario_cni(self, i):
        cid = "pod-%d" % i

        def timed_cni(args):
            t0 = time.monotonic()
            self.cni(args, " ".join(args[:2]))
            return time.monotonic() - t0

        def add_once():
            dt = timed_cni(("ADD", "m", "pod"))
            timed_cni(("DEL", "m", "pod"))
            return dt

        def del_once():
            timed_cni(("ADD", "m", "pod"))
            return timed_cni(("DEL", "m", "pod"))
        self.measure("cni ADD", add_once)
        self.measure("cni DEL", del_once)
        d = self.delay("cni ADD")
        self.kill_at("cni ADD", self.cni_spawn(("ADD", cid, "pod")), d)
        what = "ADD killed at %.2f ms" % (d * 1000)
        # the runtime's recovery of a failed sandbox set-up: tear down, then set up again
        self.cni(("DEL", cid, "pod"), what + ": DEL")
        self.cni(("ADD", cid, "pod"), what + ": ADD again")
        self.cni_live[cid] = "pod"
        self.verify_cni(what)
        d = self.delay("cni DEL")
        self.kill_at("cni DEL", self.cni_spawn(("DEL", cid, "pod")), d)
        what = "DEL killed at %.2f ms" % (d * 1000)
        self.cni(("DEL", cid, "pod"), what + ": DEL again")
        del self.cni_live[cid]
        self.verify_cni(what)

    # ---- proxy ----

    def gen_services(self, path, n, variant):
        r = random.Random(variant)
        items = []
        for k in range(n):
            proto = r.choice(["TCP", "UDP"])
            spec = {"type": r.choice(["ClusterIP", "NodePort"]), "clusterIPs": ["10.96.%d.%d" % (k // 250, k % 250 + 1)],
                    "ports": [{"name": "p", "protocol": proto, "port": r.choice([53, 80, 443, 8080])}]}
            if spec["type"] == "NodePort":
                spec["ports"][0]["nodePort"] = 30000 + k
            if r.random() < 0.2:
                spec["sessionAffinity"] = "ClientIP"
            items.append({"kind": "Service", "metadata": {"name": "s%d" % k, "namespace": "crash"}, "spec": spec})
            eps = [{"addresses": ["10.244.%d.%d" % (r.randrange(8), r.randrange(1, 250))], "nodeName": "node1",
                    "conditions": {"ready": r.random() < 0.9}} for _ in range(r.randrange(0, 4))]
            items.append({"kind": "EndpointSlice", "addressType": "IPv4",
                          "metadata": {"name": "s%d-a" % k, "namespace": "crash",
                                       "labels": {"kubernetes.io/service-name": "s%d" % k}},
                          "endpoints": eps, "ports": [{"name": "p", "protocol": proto, "port": 9000 + k % 7}]})
        with open(path, "w") as f:
            json.dump({"kind": "List", "items": items}, f)

    PROXY_OPTS = ["--cluster-cidr", "10.244.0.0/16", "--service-cidr", "10.96.0.0/16", "--hostname-override", "node1",
                  "--nodeport-addresses", "127.0.0.0/8"]

    def sync_args(self, path):
        return [self.ctl, "proxy", "sync"] + self.PROXY_OPTS + [path]

    def setup_proxy(self):
        self.svc = {"full": os.path.join(self.tmp, "services.json"), "other": os.path.join(self.tmp, "other.json")}
        self.gen_services(self.svc["full"], 300, 1)
        self.gen_services(self.svc["other"], 200, 2)
        ref_ns = self.netns_add("proxy-ref")
        self.proxy_ns = self.netns_add("proxy")
        sh(self.sync_args(self.svc["full"]), netns=self.nspath(ref_ns))
        self.proxy_ref = nft_normalized(self.nspath(ref_ns))
        if len(self.proxy_ref) < 50:
            raise Failure("proxy: a clean sync programmed only %d objects" % len(self.proxy_ref))

    def scenario_proxy(self, i):
        ns = self.nspath(self.proxy_ns)

        def once():
            sh([self.ctl, "proxy", "cleanup"], netns=ns)
            return self.timed(self.sync_args(self.svc["full"]), netns=ns)
        self.measure("proxy sync", once)
        start = ["empty", "other", "full"][i % 3]
        sh([self.ctl, "proxy", "cleanup"], netns=ns)
        if start != "empty":
            sh(self.sync_args(self.svc[start]), netns=ns)
        d = self.delay("proxy sync")
        self.kill_at("proxy sync", self.spawn(self.sync_args(self.svc["full"]), netns=ns), d)
        what = "proxy sync from %s killed at %.2f ms" % (start, d * 1000)
        sh(self.sync_args(self.svc["full"]), netns=ns)
        got = nft_normalized(ns)
        if got != self.proxy_ref:
            extra = [x for x in got if x not in self.proxy_ref][:3]
            missing = [x for x in self.proxy_ref if x not in got][:3]
            raise Failure("%s: ruleset differs from a clean sync: extra %s, missing %s" % (what, extra, missing))

    # ---- driver ----

    def run(self, scenarios):
        """Round robin over the scenarios (iteration i of each, then i + 1), so that a run cut short has tested every
        scenario about equally; a scenario that failed is dropped after its leftovers are removed."""
        failures = []
        setup = {"cni": self.setup_cni, "proxy": self.setup_proxy}
        os.makedirs(self.root)
        os.makedirs(self.state)
        self.setup_images()  # the containers need the image too
        for sc in scenarios:
            if sc in setup:
                setup[sc]()
        live = list(scenarios)
        self.done = {sc: 0 for sc in scenarios}
        t0 = time.monotonic()
        for i in range(self.iterations):
            for sc in list(live):
                try:
                    getattr(self, "scenario_" + sc.replace("-", "_"))(i)
                    self.done[sc] += 1
                except Failure as e:
                    failures.append("%s iteration %d: %s" % (sc, i, e))
                    log("FAIL: %s iteration %d: %s" % (sc, i, e))
                    live.remove(sc)
                    self.reset()
            if (i + 1) % 10 == 0 or i + 1 == self.iterations:
                log("%d of %d iterations of each scenario in %.0f s" % (i + 1, self.iterations,
                                                                     time.monotonic() - t0))
        return failures

    def report(self):
        log("iterations passed per scenario: " + ", ".join("%s %d" % kv for kv in getattr(self, "done", {}).items()))
        log("kills that landed mid-operation / operations that finished before the kill:")
        for k in sorted(self.stats):
            log("  %-24s %4d / %d" % (k, self.stats[k][0], self.stats[k][1]))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("build_dir", nargs="?", default=os.environ.get("NODELET_BUILD_DIR"))
    ap.add_argument("--iterations", type=int, default=int(os.environ.get("NODELET_CRASH_ITERATIONS", "5")))
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--scenario", action="append", choices=SCENARIOS)
    a = ap.parse_args()
    if os.geteuid() != 0:
        print("SKIP: needs root")
        return SKIP
    if not a.build_dir:
        print("usage: crash-harness.py BUILD_DIR (or $NODELET_BUILD_DIR)", file=sys.stderr)
        return 2
    for tool in ("ip", "nft"):
        if subprocess.run(["sh", "-c", "command -v " + tool], capture_output=True).returncode != 0:
            print("SKIP: %s missing" % tool)
            return SKIP
    if not os.path.exists("/bin/busybox"):
        print("SKIP: /bin/busybox (busybox-static) missing")
        return SKIP
    seed = a.seed if a.seed is not None else int(os.environ.get("NODELET_CRASH_SEED") or
                                                 random.SystemRandom().randrange(1 << 32))
    scenarios = a.scenario or (os.environ.get("NODELET_CRASH_SCENARIOS", "").split() or SCENARIOS)
    log("seed %d (NODELET_CRASH_SEED=%d reproduces this run), %d iterations per scenario" % (
        seed, seed, a.iterations))
    # Killed processes report no leaks, and leaks are other tests' business: an exit code of LeakSanitizer must not
    # look like a failed recovery here.
    os.environ.setdefault("ASAN_OPTIONS", "detect_leaks=0")
    h = Harness(a.build_dir, seed, a.iterations)
    atexit.register(h.cleanup)
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, lambda *_: sys.exit(1))
    try:
        failures = h.run(scenarios)
    finally:
        h.report()
        h.cleanup()
    if failures:
        log("%d scenario(s) failed (seed %d):" % (len(failures), seed))
        for f in failures:
            log("  " + f)
        return 1
    log("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
