#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Registry pull + unpack (issue 11): nodelet against skopeo copy + umoci unpack (and podman pull when installed),
side by side in one run, fresh stores each time, alternating order, with the kernel floor of starting anything.

    bench/runtime/bench-pull.py NODELETCTL [--runs N] [--mb 102] [--layers 6]

As root. Starts Debian's docker-registry on 127.0.0.1 with a temporary storage directory, pushes an image of
incompressible random data in LAYERS gzip layers (skopeo), then times per run:
  - nodelet:      nodeletctl images pull (fresh store)
  - skopeo+umoci: skopeo copy docker://… oci:DIR + umoci unpack (fresh directories)
  - podman:       podman pull into a fresh --root (only when podman is installed)
  - nodelet, 5/6 present: a second image sharing all but one layer, pulled into a store that has the first
  - floor:        unshare -pnimuf /bin/true
Peak RSS of the nodelet CLI is reported for this image and for a 1-layer image of 1 MB: streamed pulls keep it flat.
Prints a Markdown table for docs/BENCHMARKS.md."""

import argparse
import gzip
import hashlib
import io
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time

MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def blob(layout, data):
    h = hashlib.sha256(data).hexdigest()
    with open(f"{layout}/blobs/sha256/{h}", "wb") as f:
        f.write(data)
    return h


def make_layer(i, size, seed):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
        info = tarfile.TarInfo(f"data/layer{i}-{seed}.bin")
        info.size = size
        info.mtime = 1700000000
        t.addfile(info, io.BytesIO(os.urandom(size)))
    tar = raw.getvalue()
    return gzip.compress(tar, compresslevel=1, mtime=0), hashlib.sha256(tar).hexdigest()


def make_image(layout, layers, tag):
    """layers: list of (gz bytes, diff hex). Writes an OCI layout with one image tagged tag."""
    os.makedirs(f"{layout}/blobs/sha256", exist_ok=True)
    with open(f"{layout}/oci-layout", "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    descs = [{"mediaType": MT_LAYER, "digest": "sha256:" + blob(layout, gz), "size": len(gz)} for gz, _ in layers]
    cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/true"]},
                      "rootfs": {"type": "layers", "diff_ids": ["sha256:" + d for _, d in layers]}}).encode()
    man = json.dumps({"schemaVersion": 2, "mediaType": MT_MANIFEST,
                      "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                 "digest": "sha256:" + blob(layout, cfg), "size": len(cfg)},
                      "layers": descs}).encode()
    mh = blob(layout, man)
    idx_path = f"{layout}/index.json"
    idx = json.load(open(idx_path)) if os.path.exists(idx_path) else {"schemaVersion": 2, "manifests": []}
    idx["manifests"].append({"mediaType": MT_MANIFEST, "digest": "sha256:" + mh, "size": len(man),
                             "annotations": {"org.opencontainers.image.ref.name": tag}})
    with open(idx_path, "w") as f:
        json.dump(idx, f)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def timed(args, env=None):
    """Wall time and peak RSS (KiB) of one command."""
    t0 = time.perf_counter()
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, ru = os.wait4(p.pid, 0)
    dt = time.perf_counter() - t0
    err = p.stderr.read().decode()
    p.stderr.close()
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: exit {p.returncode}: {err.strip()}")
    return dt, ru.ru_maxrss


def drop(path):
    shutil.rmtree(path, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("nodeletctl")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--mb", type=int, default=102)
    ap.add_argument("--layers", type=int, default=6)
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench-pull: needs root")
    for tool in ("docker-registry", "skopeo", "umoci", "unshare", "/usr/bin/time"):
        if not shutil.which(tool):
            sys.exit(f"bench-pull: {tool} missing (scripts/install-deps.sh)")
    podman = shutil.which("podman")
    if not podman:
        print("bench-pull: podman not installed (apt-get install podman): its row is left out", file=sys.stderr)
    tmp = tempfile.mkdtemp(prefix="nodelet-bench-pull.")
    reg_proc = None
    try:
        size = a.mb * 1000 * 1000 // a.layers
        print(f"building {a.layers} layers of {size / 1e6:.1f} MB random data ...", file=sys.stderr)
        layers = [make_layer(i, size, "a") for i in range(a.layers)]
        make_image(f"{tmp}/layout", layers, "big")
        # Shares all but the last layer with "big": what an application update looks like.
        make_image(f"{tmp}/layout", layers[:-1] + [make_layer(a.layers - 1, size, "b")], "update")
        make_image(f"{tmp}/layout", [make_layer(0, 1000 * 1000, "small")], "small")
        del layers
        port = free_port()
        with open(f"{tmp}/reg.yml", "w") as f:
            f.write(f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {tmp}/store\n"
                    f"http:\n  addr: 127.0.0.1:{port}\n")
        reg_proc = subprocess.Popen(["docker-registry", "serve", f"{tmp}/reg.yml"], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        reg = f"127.0.0.1:{port}"
        for tag in ("big", "update", "small"):
            subprocess.run(["skopeo", "copy", "-q", "--dest-tls-verify=false", f"oci:{tmp}/layout:{tag}",
                            f"docker://{reg}/bench/img:{tag}"], check=True)
        ctl = [a.nodeletctl, "images"]

        def ours():
            drop(f"{tmp}/n")
            return timed(ctl + ["--root-dir", f"{tmp}/n", "pull", "-q", f"{reg}/bench/img:big"])

        def anchor():
            drop(f"{tmp}/oci")
            drop(f"{tmp}/bundle")
            t1, _ = timed(["skopeo", "copy", "-q", "--src-tls-verify=false", f"docker://{reg}/bench/img:big",
                           f"oci:{tmp}/oci:big"])
            t2, _ = timed(["umoci", "unpack", "--image", f"{tmp}/oci:big", f"{tmp}/bundle"])
            return t1 + t2, 0

        def pod():
            drop(f"{tmp}/podman")
            return timed([podman, "--root", f"{tmp}/podman/root", "--runroot", f"{tmp}/podman/run", "pull", "-q",
                          "--tls-verify=false", f"docker://{reg}/bench/img:big"])

        def update():
            drop(f"{tmp}/u")
            timed(ctl + ["--root-dir", f"{tmp}/u", "pull", "-q", f"{reg}/bench/img:big"])
            return timed(ctl + ["--root-dir", f"{tmp}/u", "pull", "-q", f"{reg}/bench/img:update"])

        def floor():
            return timed(["unshare", "-pnimuf", "/bin/true"])

        cases = [("nodelet", ours), ("skopeo copy + umoci unpack", anchor)]
        if podman:
            cases.append(("podman pull", pod))
        results = {name: [] for name, _ in cases}
        results["nodelet, 5 of 6 layers present"] = []
        results["floor: unshare -pnimuf /bin/true"] = []
        for run in range(a.runs):
            order = cases if run % 2 == 0 else list(reversed(cases))
            for name, fn in order:
                subprocess.run(["sync"], check=True)
                results[name].append(fn()[0])
            results["nodelet, 5 of 6 layers present"].append(update()[0])
            results["floor: unshare -pnimuf /bin/true"].append(floor()[0])
        def peak_rss(tag):
            # Through GNU time: a child's ru_maxrss seen from here would include this Python process's own peak
            # (exec records the hiwater mark of the memory it replaces, and subprocess uses vfork).
            drop(f"{tmp}/s")
            p = subprocess.run(["/usr/bin/time", "-f", "%M", *ctl, "--root-dir", f"{tmp}/s", "pull", "-q",
                                f"{reg}/bench/img:{tag}"], capture_output=True, text=True, check=True)
            return int(p.stderr.strip().splitlines()[-1])

        big_rss, small_rss = peak_rss("big"), peak_rss("small")

        best_anchor = min(statistics.median(results[n]) for n, _ in cases if n != "nodelet")
        print(f"\n{a.mb} MB in {a.layers} gzip layers of random data, {a.runs} runs each, alternating order\n")
        print("| pull + unpack | median | min | max | vs the faster anchor |")
        print("|---|---|---|---|---|")
        for name, ts in results.items():
            med = statistics.median(ts)
            print(f"| {name} | {med * 1000:.0f} ms | {min(ts) * 1000:.0f} ms | {max(ts) * 1000:.0f} ms | "
                  f"{med / best_anchor:.2f}× |")
        print(f"\nnodelet CLI peak RSS: {big_rss / 1024:.1f} MiB for this image, {small_rss / 1024:.1f} MiB for a "
              "1 MB one-layer image")
    finally:
        if reg_proc:
            reg_proc.kill()
            reg_proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


main()
