#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Full disk (issue 13): the root dir and the state dir each on a small tmpfs, filled by image imports, by a
container's log and by filler files; every failure must name ENOSPC, leave nothing half-done, and everything must work
again once space is freed.

  import      images (each with a layer of its own) imported until the root fs is full: the failing import exits
              non-zero naming "No space left on device" and the image; the store verifies like after a crash (every
              blob hashes to its name, nothing unreferenced, tmp/ empty after the next command); the images imported
              before still run; after `images rm` of one the same import succeeds.
  log         `run -d IMAGE sh -c 'yes xxxxxxxx'` fills the root fs with its CRI log: the shim does not crash or spin
              (its CPU time over a few seconds stays far below a busy loop's), every complete log line is a valid
              CRI record, logging resumes once space is freed, and stop and rm work on the full disk.
  create      `run` with the state fs full, and with the root fs full: exits non-zero naming ENOSPC, leaves no
              container directory, cgroup, mount or process; works once the filler is removed.

Reuses crash-harness.py's store and host checks (Harness.verify_store, Harness.check_host) and its cleanup, which
unmounts everything below the test's temp dir and removes it, also after a failure.

Usage: test-full-disk.py BUILD_DIR. Needs root (exit 77 otherwise).
"""

import errno
import importlib.util
import os
import re
import signal
import subprocess
import sys
import time

_spec = importlib.util.spec_from_file_location(
    "crash_harness", os.path.join(os.path.dirname(os.path.abspath(__file__)), "crash-harness.py"))
ch = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ch)
Failure, sh, log = ch.Failure, ch.sh, ch.log

ENOSPC = "No space left on device"
ROOT_SIZE = "24m"
STATE_SIZE = "4m"
STATE_INODES = 4000
CRI_RECORD = re.compile(rb"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (stdout|stderr) [PF] ")
CLK_TCK = os.sysconf("SC_CLK_TCK")


class FullDisk(ch.Harness):
    def __init__(self, build):
        super().__init__(build, seed=0, iterations=0)
        self.tag = "disk%d" % os.getpid()
        self.cgparent = "nodelet-disk-%d" % os.getpid()
        self.fixtures_dir = os.path.join(self.tmp, "fixtures")  # outside the small file systems
        self.layer_sigs = {}
        self.images = {}  # image id -> ref, what the store must hold
        self.tmpfs = []  # the small file systems this test mounted
        self.cleaning = False

    def mount_tmpfs(self, path, size, inodes=None):
        os.makedirs(path)
        opts = "size=%s,mode=0755" % size + (",nr_inodes=%d" % inodes if inodes else "")
        sh(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", path])
        self.tmpfs.append(path)

    def our_mounts(self):
        """Mounts the runtime left (check_host); cleanup() takes the test's own tmpfs mounts too."""
        return [m for m in super().our_mounts() if self.cleaning or m not in self.tmpfs]

    def cleanup(self):
        self.cleaning = True
        super().cleanup()

    @staticmethod
    def free_bytes(path):
        st = os.statvfs(path)
        return st.f_bavail * st.f_frsize

    def fill(self, path, name="filler"):
        """Fills the file system of PATH with one file (dd stops at ENOSPC); returns its path."""
        f = os.path.join(path, name)
        subprocess.run(["dd", "if=/dev/zero", "of=" + f, "bs=64k"], capture_output=True)
        if self.free_bytes(path) > 64 * 1024:
            raise Failure("could not fill %s: %d bytes still free" % (path, self.free_bytes(path)))
        return f

    def fixture(self, i):
        tar = os.path.join(self.fixtures_dir, "v%d.tar" % i)
        ref = "disk.test/v%d:1" % i
        if not os.path.exists(tar):
            # uncompressed: the blob and its unpacked layer each take the size of busybox
            sh(["/usr/bin/python3", os.path.join(self.source, "tests", "fixtures", "make-busybox-image.py"), tar,
                "--ref", ref, "--plain", "--variant", "full-disk %d" % i])
        return {"tar": tar, "ref": ref, "name": "v%d" % i}

    def import_(self, fx):
        return sh(self.import_args(fx), check=False)

    def record_layers(self):
        layers = os.path.join(self.images_dir(), "layers")
        for l in os.listdir(layers):
            if l not in self.layer_sigs:
                self.layer_sigs[l] = ch.tree_signature(os.path.join(layers, l))

    def run_rm(self, ref, *cmd):
        return sh(self.n_args("run", "--rm", "--name", self.name(), ref, *cmd), check=False)

    @staticmethod
    def assert_enospc(what, p, *names):
        if p.returncode == 0:
            raise Failure("%s succeeded on a full disk: %s" % (what, p.stdout.strip()))
        if p.returncode < 0 or p.returncode >= 128 or "Sanitizer" in p.stderr:
            raise Failure("%s crashed (exit %d): %s" % (what, p.returncode, p.stderr[-2000:]))
        if ENOSPC not in p.stderr:
            raise Failure("%s: the error does not name ENOSPC: %s" % (what, p.stderr.strip()))
        for n in names:
            if n not in p.stderr:
                raise Failure("%s: the error does not name %s: %s" % (what, n, p.stderr.strip()))
        log("  %s: exit %d: %s" % (what, p.returncode, p.stderr.strip().splitlines()[-1]))

    # ---- 1: imports fill the root fs ----

    def test_import(self):
        log("import until the root fs is full")
        failed = None
        for i in range(40):
            fx = self.fixture(i)
            p = self.import_(fx)
            if p.returncode != 0:
                failed = (fx, p)
                break
            self.images[p.stdout.strip()] = self.norm_ref(fx["ref"])
            self.record_layers()
        if not failed:
            raise Failure("40 imports fit in %s" % ROOT_SIZE)
        fx, p = failed
        if not self.images:
            raise Failure("the first import already failed: %s" % p.stderr.strip())
        log("  %d images imported, %d bytes free" % (len(self.images), self.free_bytes(self.root)))
        self.assert_enospc("import of %s" % fx["name"], p, fx["tar"])
        sh([self.ctl, "images", "--root-dir", self.root, "ls"])  # "the next command" cleans what a crash left
        self.verify_store("after the failed import", self.images)
        # an image imported before still runs (the root fs has room for a container only once space is freed)
        first_id, first_ref = next(iter(self.images.items()))
        sh([self.ctl, "images", "--root-dir", self.root, "rm", first_ref])
        del self.images[first_id]
        p = self.import_(fx)
        if p.returncode != 0:
            raise Failure("import of %s after freeing space: exit %d: %s" % (fx["name"], p.returncode,
                                                                           p.stderr.strip()))
        self.images[p.stdout.strip()] = self.norm_ref(fx["ref"])
        self.record_layers()
        self.verify_store("after the import that followed `images rm`", self.images)
        return fx

    # ---- 3: create/run on a full disk ----

    def test_create(self, ref):
        log("run with the state fs full")
        filler = self.fill(self.state)
        p = self.run_rm(ref, "true")
        self.assert_enospc("run with the state fs full", p)
        self.wait_quiet()
        self.check_host("run with the state fs full")
        os.unlink(filler)
        p = self.run_rm(ref, "cat", "/variant")
        if p.returncode != 0 or not p.stdout.startswith("full-disk"):
            raise Failure("run after freeing the state fs: exit %d: %s %s" % (p.returncode, p.stdout, p.stderr))
        self.check_host("run after freeing the state fs")

        log("run with the state fs full, the seccomp filter cached")
        filler = self.fill(self.state)
        p = self.run_rm(ref, "true")
        self.assert_enospc("run with the state fs full (filter cached)", p)
        self.wait_quiet()
        self.check_host("run with the state fs full (filter cached)")
        os.unlink(filler)

        log("run with no inode left on the state fs")
        fillers = os.path.join(self.state, "inodes")
        os.mkdir(fillers)
        try:
            for i in range(STATE_INODES):
                open(os.path.join(fillers, str(i)), "w").close()
        except OSError as e:
            if e.errno != errno.ENOSPC:
                raise
        p = self.run_rm(ref, "true")
        self.assert_enospc("run with no inode left on the state fs", p)
        self.wait_quiet()
        self.check_host("run with no inode left on the state fs")
        sh(["rm", "-rf", fillers])
        p = self.run_rm(ref, "cat", "/variant")
        if p.returncode != 0 or not p.stdout.startswith("full-disk"):
            raise Failure("run after freeing inodes: exit %d: %s %s" % (p.returncode, p.stdout, p.stderr))
        self.check_host("run after freeing inodes")

        log("stop and rm with the state fs full")
        cid = self.name()
        sh(self.n_args("run", "-d", "--name", cid, ref, *self.TERMINABLE))
        filler = self.fill(self.state)
        p = sh(self.n_args("stop", "-t", "10", cid), check=False)
        if p.returncode != 0:
            raise Failure("stop with the state fs full: exit %d: %s" % (p.returncode, p.stderr.strip()))
        # the shim reserved the space for the exit record at start: the exit status is not lost ("unknown")
        row = [l.split() for l in sh(self.n_args("ps", "-a")).stdout.splitlines() if l.split()[:1] == [cid]]
        if not row or row[0][1:3] != ["exited", "0"]:
            raise Failure("stopped with the state fs full, ps -a shows %s (expected exited 0)" % row)
        p = sh(self.n_args("rm", "-f", cid), check=False)
        if p.returncode != 0:
            raise Failure("rm -f with the state fs full: exit %d: %s" % (p.returncode, p.stderr.strip()))
        self.wait_quiet()
        self.check_host("stop and rm with the state fs full")
        os.unlink(filler)

        log("run with the root fs full")
        filler = self.fill(self.root)
        p = self.run_rm(ref, "sh", "-c", "echo written > /new-file && cat /new-file")
        self.assert_enospc("run writing its rootfs with the root fs full", p)
        self.wait_quiet()
        self.check_host("run with the root fs full")
        os.unlink(filler)
        p = self.run_rm(ref, "sh", "-c", "echo written > /new-file && cat /new-file")
        if p.returncode != 0 or p.stdout != "written\n":
            raise Failure("run after freeing the root fs: exit %d: %r %s" % (p.returncode, p.stdout, p.stderr))
        self.check_host("run after freeing the root fs")

    # ---- 2: a container's log fills the root fs ----

    @staticmethod
    def cpu_ticks(pid):
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime

    def check_log(self, path, what):
        """Every complete line is a CRI record; only the last may be cut (no newline). Returns the record count."""
        with open(path, "rb") as f:
            data = f.read()
        lines = data.split(b"\n")
        for n, line in enumerate(lines[:-1]):
            if not CRI_RECORD.match(line):
                raise Failure("%s: line %d of %s is not a CRI record: %r" % (what, n + 1, path, line[:200]))
        return len(lines) - 1

    def test_log(self, ref):
        log("a container's log fills the root fs")
        # a reserve to free later, then the writer gets the rest
        reserve = os.path.join(self.root, "reserve")
        sh(["dd", "if=/dev/zero", "of=" + reserve, "bs=64k", "count=16"])
        cid = self.name()
        sh(self.n_args("run", "-d", "--name", cid, ref, "sh", "-c", "yes xxxxxxxx"))
        logf = os.path.join(self.root, "containers", cid, "container.log")
        end = time.monotonic() + ch.WAIT_BOUND
        while self.free_bytes(self.root) > 64 * 1024 and time.monotonic() < end:
            time.sleep(0.1)
        if self.free_bytes(self.root) > 64 * 1024:
            raise Failure("the log did not fill the root fs: %d bytes free" % self.free_bytes(self.root))
        shim = self.shim_of(cid)
        if not shim:
            raise Failure("the shim of %s is gone once the disk is full" % cid)
        # behaviour, not speed: a writer retrying every line at ENOSPC keeps a CPU busy while `yes` runs
        time.sleep(0.5)
        t0, c0 = time.monotonic(), self.cpu_ticks(shim)
        time.sleep(3)
        t1, c1 = time.monotonic(), self.cpu_ticks(shim)
        busy = (c1 - c0) / CLK_TCK / (t1 - t0)
        log("  shim %d: %.0f%% of a CPU while the disk is full" % (shim, busy * 100))
        if busy > 0.2:
            raise Failure("the shim spins on a full disk: %.0f%% of a CPU over %.1f s" % (busy * 100, t1 - t0))
        size_full = os.path.getsize(logf)
        n = self.check_log(logf, "log on a full disk")
        log("  %d records, %d bytes when the disk filled" % (n, size_full))
        sh(self.n_args("logs", "--tail", "3", cid))
        # space freed: logging resumes (the writer retries), and what it writes after the gap is whole records
        os.unlink(reserve)
        end = time.monotonic() + ch.WAIT_BOUND
        while os.path.getsize(logf) <= size_full and time.monotonic() < end:
            time.sleep(0.1)
        if os.path.getsize(logf) <= size_full:
            raise Failure("logging did not resume after 1 MiB was freed (log stays at %d bytes)" % size_full)
        p = sh(self.n_args("stop", "-t", "1", cid), check=False)
        if p.returncode != 0:
            raise Failure("stop on a full disk: exit %d: %s" % (p.returncode, p.stderr.strip()))
        if self.check_log(logf, "log after space was freed") <= n:
            raise Failure("no new record after space was freed")
        p = sh(self.n_args("rm", cid), check=False)
        if p.returncode != 0:
            raise Failure("rm on a full disk: exit %d: %s" % (p.returncode, p.stderr.strip()))
        self.wait_quiet()
        self.check_host("after the log filled the disk")

    def run(self):
        os.makedirs(self.fixtures_dir)
        self.mount_tmpfs(self.root, ROOT_SIZE)
        self.mount_tmpfs(self.state, STATE_SIZE, STATE_INODES)
        fx = self.test_import()
        self.test_create(fx["ref"])
        self.test_log(fx["ref"])
        self.verify_store("at the end", self.images)


def main():
    if os.geteuid() != 0:
        print("SKIP: needs root")
        return ch.SKIP
    build = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("NODELET_BUILD_DIR")
    if not build:
        print("usage: test-full-disk.py BUILD_DIR (or $NODELET_BUILD_DIR)", file=sys.stderr)
        return 2
    if not os.path.exists("/bin/busybox"):
        print("SKIP: /bin/busybox (busybox-static) missing")
        return ch.SKIP
    os.environ.setdefault("ASAN_OPTIONS", "detect_leaks=0")
    h = FullDisk(build)
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, lambda *_: sys.exit(1))
    try:
        h.run()
    except Failure as e:
        log("FAIL: %s" % e)
        return 1
    finally:
        h.cleanup()
    log("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
