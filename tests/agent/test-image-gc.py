#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Image garbage collection in the daemon (agent/image-gc.h): the image store sits on a small tmpfs mounted by the
test; five distinct images are imported one after the other (old1 is the least recently used), one of them run by a
static pod. The thresholds are computed from the measured usage so that the high threshold is exceeded and reaching
the low one takes the two oldest unused images but not a third:

- old1 and old2 are removed (least recently used first), old3 and old4 stay, and so does the running pod's image;
- the usage of the file system ends at or below the low threshold;
- the daemon's log says what it did (usage, images removed, bytes freed).

usage: test-image-gc.py BUILD_DIR SOURCE_DIR      (exit 77 when not root)"""

import os
import subprocess
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from daemon_harness import Failure, Node  # noqa: E402

TMPFS_SIZE = 48 * 1024 * 1024


def expect(cond, what):
    if not cond:
        raise Failure(what)


def usage(path):
    st = os.statvfs(path)
    return st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize


def images(node):
    r = subprocess.run([node.ctl, "images", "--root-dir", node.root, "ls"], capture_output=True, text=True,
                       timeout=30)
    if r.returncode != 0:
        raise Failure("nodeletctl images ls: %s" % r.stderr.strip())
    return {line.split()[0] for line in r.stdout.splitlines()[1:] if line.strip()}


def main():
    if os.geteuid() != 0:
        print("not root: skipped")
        return 77
    build, source = sys.argv[1], sys.argv[2]
    node = Node(build, source)
    try:
        store = os.path.join(node.root, "images")
        # No preloaded busybox here: the store holds only the test's images (a preloaded image would be pinned).
        subprocess.run(["rm", "-rf", store], check=True)
        os.makedirs(store)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%d,mode=0700" % TMPFS_SIZE, "nodelet-gc-test", store],
                       check=True)
        names = ["run", "old1", "old2", "old3", "old4"]
        cost = {}
        for name in names:
            tar = os.path.join(node.tmp, name + ".tar")
            subprocess.run(["/usr/bin/python3", os.path.join(source, "tests/fixtures/make-busybox-image.py"), tar,
                            "--variant", name, "--ref", "example.com/%s:1" % name], check=True,
                           stdout=subprocess.DEVNULL)
            before = usage(store)[1]
            subprocess.run([node.ctl, "images", "--root-dir", node.root, "import", "--quiet", tar], check=True,
                           stdout=subprocess.DEVNULL)
            cost[name] = before - usage(store)[1]
            os.unlink(tar)
            time.sleep(0.05)  # distinct times: old1 is the least recently used
        expect(images(node) == {"example.com/" + n for n in names}, "imported: %s" % images(node))

        capacity, available = usage(store)
        used_pct = 100 - available * 100 // capacity
        # amount to free = capacity × (100 - low) / 100 - available: more than old1 frees, less than old1 + old2.
        low = 100 - (available + cost["old1"] + cost["old2"] // 2) * 100 // capacity
        high = used_pct - 1
        amount = capacity * (100 - low) // 100 - available
        expect(low < high and cost["old1"] < amount <= cost["old1"] + cost["old2"],
               "cannot pick thresholds: usage %d%%, costs %s, capacity %d" % (used_pct, cost, capacity))
        with open(node.config, "a") as f:
            f.write("imageGCHighThresholdPercent: %d\nimageGCLowThresholdPercent: %d\nimageMinimumGCAge: 1s\n"
                    % (high, low))
        node.add("run.yaml", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: run\n  namespace: default\nspec:\n"
                 "  terminationGracePeriodSeconds: 1\n  containers:\n  - name: c\n    image: example.com/run:1\n"
                 "    imagePullPolicy: Never\n    command: [\"sleep\", \"3600\"]\n")
        time.sleep(1.2)  # every image older than imageMinimumGCAge
        node.start()
        node.wait(lambda: "running" in ((node.container_status("run", "c") or {}).get("state") or {}), 60,
                  "pod run to be Running")
        node.wait(lambda: "example.com/old2" not in images(node), 60, "old2 to be collected")
        left = images(node)
        expect(left == {"example.com/run", "example.com/old3", "example.com/old4"},
               "after the collection: %s (want run, old3, old4)" % sorted(left))
        capacity, available = usage(store)
        expect(100 - available * 100 // capacity <= low,
               "usage %d%% is above the low threshold %d%%" % (100 - available * 100 // capacity, low))
        log = node.log()
        expect("Image garbage collection: disk usage on the image file system is" in log and "removed 2 images" in log,
               "no collection in the log")
        expect("Failed to garbage collect" not in log, "the collection reported a failure")
        # The running pod still runs.
        expect("running" in (node.container_status("run", "c") or {}).get("state", {}),
               "the pod stopped running")
        print("ok: old1 and old2 collected, usage %d%% <= %d%%" % (100 - available * 100 // capacity, low))
        return 0
    except Exception:
        traceback.print_exc()
        print("---- daemon log (tail) ----")
        print(node.log()[-6000:])
        return 1
    finally:
        node.close()


if __name__ == "__main__":
    sys.exit(main())
