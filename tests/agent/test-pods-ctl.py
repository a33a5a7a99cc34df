#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""nodeletctl pods|ps|logs|exec on the daemon's pods, as root: a daemon (tests/agent/daemon_harness.py: its own
network namespace and directories) runs a two-container pod whose second container exits once and is restarted;
the verbs must find the pod by name, manifest name and UID prefix, pick the container with -c (and refuse to guess
between two), show the instance before the newest with --previous, pass exec's exit code on, keep the container-ID
forms working, list pods while the daemon is down, and answer --help without touching anything.

usage: test-pods-ctl.py BUILD_DIR SOURCE_DIR     (exit 77 when not root)"""

import json
import os
import re
import subprocess
import sys
import tempfile
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon_harness import Failure, Node  # noqa: E402

# "crash" exits 1 the first time and runs the second time (the emptyDir survives the restart), so the newest
# instance and the previous one have known, different logs, and nothing changes while the test reads them.
DUO = """apiVersion: v1
kind: Pod
metadata:
  name: duo
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: docker.io/library/busybox:latest
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "echo app-hello; echo app-err >&2; exec sleep 3600"]
  - name: crash
    image: docker.io/library/busybox:latest
    imagePullPolicy: IfNotPresent
    command:
    - sh
    - -c
    - if [ -e /data/ran ]; then echo second-run; exec sleep 3600; fi; touch /data/ran; echo first-run; exit 1
    volumeMounts:
    - name: data
      mountPath: /data
  volumes:
  - name: data
    emptyDir: {}
"""


def expect(cond, what):
    if not cond:
        raise Failure(what)


class Ctl:
    def __init__(self, n):
        self.n = n

    def run(self, *args, glob=True, state=None, root=None):
        """Global options before the verb (crictl's habit) or, with glob=False, after it."""
        state = state or self.n.state
        root = root or self.n.root
        opts = ["--root-dir", root, "--state-dir", state]
        argv = [self.n.ctl] + (opts + list(args) if glob else [args[0]] + opts + list(args[1:]))
        return subprocess.run(argv, capture_output=True, text=True, timeout=60)

    def ok(self, *args, **kw):
        r = self.run(*args, **kw)
        if r.returncode != 0:
            raise Failure("nodeletctl %s: exit %d: %s" % (" ".join(args), r.returncode, r.stderr.strip()))
        return r.stdout


def wait_running(n):
    def ready():
        app, crash = n.container_status("duo", "app"), n.container_status("duo", "crash")
        return (app and crash and "running" in app["state"] and "running" in crash["state"] and
                crash["restartCount"] == 1)
    n.wait(ready, 90, "duo: app running, crash restarted once and running")


def check_pods(n, ctl, uid):
    out = ctl.ok("pods")
    lines = out.splitlines()
    expect(lines[0].split()[:3] == ["POD", "ID", "CREATED"], "pods header: %r" % lines[0])
    rows = [line for line in lines[1:] if "duo-testnode" in line]
    expect(len(rows) == 1, "pods lists duo once: %r" % out)
    f = rows[0].split()
    expect(uid.startswith(f[0]) and len(f[0]) == 13, "POD ID is the abbreviated UID: %r" % rows[0])
    expect("Ready" in f and "default" in f and f[-1] == "2/2" and f[-2] == "0",
           "pods row (state, namespace, attempt, containers): %r" % rows[0])
    expect(ctl.ok("pods", "-q").split() == [uid], "pods -q: %r" % ctl.ok("pods", "-q"))
    expect(uid in ctl.ok("pods", "--no-trunc"), "pods --no-trunc shows the whole UID")
    j = json.loads(ctl.ok("pods", "-o", "json"))
    items = [p for p in j["items"] if p["id"] == uid]
    expect(len(items) == 1, "pods -o json: %r" % j)
    p = items[0]
    expect(p["metadata"]["name"] == "duo-testnode" and p["metadata"]["namespace"] == "default" and
           p["state"] == "SANDBOX_READY", "pods -o json item: %r" % p)
    newest = sorted((c["name"], c["attempt"], c["state"]) for c in p["containers"] if c["newest"])
    expect(newest == [("app", 0, "CONTAINER_RUNNING"), ("crash", 1, "CONTAINER_RUNNING")],
           "pods -o json containers: %r" % p["containers"])
    # Filters: unanchored regular expressions on name and namespace, like crictl.
    expect(ctl.ok("pods", "-q", "--name", "^duo-") .split() == [uid], "--name ^duo- matches")
    expect(ctl.ok("pods", "-q", "--name", "nomatch").split() == [], "--name nomatch filters it out")
    expect(ctl.ok("pods", "-q", "--namespace", "default").split() == [uid], "--namespace default")
    expect(ctl.ok("pods", "-q", "--namespace", "kube-system").split() == [], "--namespace kube-system")
    r = ctl.run("pods", "--name", "(")
    expect(r.returncode == 2 and "--name (" in r.stderr, "bad regex: %d %r" % (r.returncode, r.stderr))


def table(out):
    """Rows of a table as dicts, cut at the header's column starts (values such as "5s ago" have spaces)."""
    lines = out.splitlines()
    starts = [m.start() for m in re.finditer(r"\S+", lines[0])]
    names = lines[0].split()
    rows = []
    for line in lines[1:]:
        cut = starts + [None]
        rows.append({names[k]: line[cut[k]:cut[k + 1]].strip() for k in range(len(names))})
    return names, rows


def check_ps(n, ctl):
    app_id = n.container_status("duo", "app")["containerID"].split("://", 1)[1]
    crash_id = n.container_status("duo", "crash")["containerID"].split("://", 1)[1]
    names, rows = table(ctl.ok("ps", glob=False))
    expect(names[:2] == ["CONTAINER", "STATE"] and names[-4:] == ["NAME", "ATTEMPT", "POD", "COMMAND"],
           "ps header: %r" % names)
    byid = {r["CONTAINER"]: r for r in rows}
    expect(app_id in byid and crash_id in byid, "ps lists both running containers: %r" % rows)
    for cid, name, attempt in ((app_id, "app", "0"), (crash_id, "crash", "1")):
        r = byid[cid]
        expect(r["STATE"] == "running" and (r["NAME"], r["ATTEMPT"], r["POD"]) == (name, attempt, "duo-testnode"),
               "ps row of %s: %r" % (name, r))
    _, rows = table(ctl.ok("ps", "-a"))
    expect(any(r["CONTAINER"] not in (app_id, crash_id) and r["STATE"] == "exited" and r["EXIT"] == "1" and
               (r["NAME"], r["ATTEMPT"], r["POD"]) == ("crash", "0", "duo-testnode") for r in rows),
           "ps -a shows the exited first instance of crash: %r" % rows)
    return app_id


def check_logs(n, ctl, uid, app_id):
    r = ctl.run("logs", "duo", "-c", "app")
    expect(r.returncode == 0 and r.stdout == "app-hello\n" and r.stderr == "app-err\n",
           "logs duo -c app (manifest name): %d %r %r" % (r.returncode, r.stdout, r.stderr))
    expect(ctl.ok("logs", "duo-testnode", "-c", "crash") == "second-run\n", "logs of the newest instance")
    expect(ctl.ok("logs", "--previous", "duo", "-c", "crash") == "first-run\n", "logs --previous")
    expect(ctl.ok("logs", "-p", "-c", "crash", uid[:8]) == "first-run\n", "logs -p by UID prefix")
    out = ctl.ok("logs", "--timestamps", "-c", "crash", "duo")
    expect(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z second-run\n", out), "logs --timestamps: %r" % out)
    r = ctl.run("logs", "--tail", "1", "-n", "default", "duo", "-c", "app")
    expect(r.returncode == 0 and r.stdout == "" and r.stderr == "app-err\n", "logs --tail 1 -n default: %r" % (r,))
    # The container-ID form keeps working.
    expect(ctl.ok("logs", app_id, glob=False) == "app-hello\n", "logs CONTAINER-ID")
    # No previous instance of app; no container "nope"; two containers and no -c: kubectl's errors.
    r = ctl.run("logs", "-p", "duo", "-c", "app")
    expect(r.returncode == 1 and 'previous terminated container "app" in pod "duo-testnode" not found' in r.stderr,
           "logs -p without a previous instance: %d %r" % (r.returncode, r.stderr))
    r = ctl.run("logs", "duo", "-c", "nope")
    expect(r.returncode == 1 and "container nope is not valid for pod duo-testnode" in r.stderr and
           "[app crash]" in r.stderr, "logs -c nope: %d %r" % (r.returncode, r.stderr))
    r = ctl.run("logs", "duo")
    expect(r.returncode == 1 and r.stdout == "" and
           "a container name must be specified for pod duo-testnode" in r.stderr and "[app crash]" in r.stderr,
           "logs without -c: %d %r" % (r.returncode, r.stderr))
    r = ctl.run("logs", "nosuchpod")
    expect(r.returncode == 1 and "container nosuchpod: not found, and no pod is called that" in r.stderr,
           "logs of a missing pod: %r" % r.stderr)
    r = ctl.run("logs", "nosuchpod", "-c", "app")
    expect(r.returncode == 1 and "pod nosuchpod: not found" in r.stderr, "logs -c of a missing pod: %r" % r.stderr)
    r = ctl.run("logs", "-n", "kube-system", "duo", "-c", "app")
    expect(r.returncode == 1 and "not found in namespace kube-system" in r.stderr, "logs -n: %r" % r.stderr)


def check_exec(n, ctl, app_id):
    r = ctl.run("exec", "duo", "-c", "app", "--", "sh", "-c", "exit 3")
    expect(r.returncode == 3, "exec duo -c app -- sh -c 'exit 3': %d %r" % (r.returncode, r.stderr))
    r = ctl.run("exec", "-c", "crash", "duo-testnode", "--", "sh", "-c", "cat /data/ran && hostname")
    expect(r.returncode == 0 and r.stdout == "duo-testnode\n", "exec in crash: %d %r %r" % (r.returncode, r.stdout,
                                                                                               r.stderr))
    r = ctl.run("exec", "-e", "V=x", "duo", "-c", "app", "sh", "-c", "echo $V; echo e >&2; exit 5")
    expect(r.returncode == 5 and r.stdout == "x\n" and r.stderr == "e\n", "exec -e, no --: %r" % (r,))
    r = ctl.run("exec", "duo", "--", "true")
    expect(r.returncode == 1 and "a container name must be specified for pod duo-testnode" in r.stderr,
           "exec without -c: %d %r" % (r.returncode, r.stderr))
    # The container-ID form, whose command's own options are its own.
    r = ctl.run("exec", app_id, "sh", "-c", "exit 4", glob=False)
    expect(r.returncode == 4, "exec CONTAINER-ID sh -c 'exit 4': %d %r" % (r.returncode, r.stderr))


def check_help(n, ctl):
    """--help prints usage on stdout and exits 0 without acting: no state dir is made, no command runs."""
    with tempfile.TemporaryDirectory(prefix="nodelet-help.") as tmp:
        state = os.path.join(tmp, "state")
        for argv in (["pods", "--help"], ["ps", "--help"], ["logs", "--help"], ["logs", "duo", "-c", "app", "--help"],
                     ["exec", "--help"], ["exec", "duo", "-c", "app", "--help", "--", "true"], ["--help"]):
            r = ctl.run(*argv, state=state)
            expect(r.returncode == 0 and r.stdout.startswith("usage: nodeletctl"),
                   "%s: %d %r %r" % (argv, r.returncode, r.stdout, r.stderr))
            expect(not os.path.exists(state), "%s created the state dir" % argv)
    r = ctl.run("exec", "duo", "-c", "app", "--help", "--", "touch", "/helped")
    expect(r.returncode == 0, "exec --help: %d" % r.returncode)
    r = ctl.run("exec", "duo", "-c", "app", "--", "test", "-e", "/helped")
    expect(r.returncode == 1, "exec --help ran the command")


def check_daemon_down(n, ctl, uid):
    """The pods keep running without the daemon (SIGKILL: no drain), and `pods` reads them from the state dir."""
    n.kill()
    rows = [line for line in ctl.ok("pods").splitlines() if uid[:13] in line]
    expect(len(rows) == 1 and "Ready" in rows[0].split(), "pods while the daemon is down: %r" % rows)
    expect(ctl.ok("logs", "duo", "-c", "crash") == "second-run\n", "logs while the daemon is down")
    n.start()


def main():
    if os.geteuid() != 0:
        print("SKIP: needs root")
        return 77
    n = Node(sys.argv[1], sys.argv[2])
    ctl = Ctl(n)
    try:
        n.start()
        n.add("duo.yaml", DUO)
        wait_running(n)
        uid = n.pod("duo")["metadata"]["uid"]
        check_pods(n, ctl, uid)
        app_id = check_ps(n, ctl)
        check_logs(n, ctl, uid, app_id)
        check_exec(n, ctl, app_id)
        check_help(n, ctl)
        check_daemon_down(n, ctl, uid)
        n.remove_and_wait("duo.yaml", "duo")
        n.wait(lambda: ctl.ok("pods", "-q").split() == [], 60, "pods -q empty after the pod's removal")
        print("ok")
        return 0
    except Exception:
        traceback.print_exc()
        print("---- daemon log (tail) ----\n" + "\n".join(n.log().splitlines()[-60:]), flush=True)
        return 1
    finally:
        n.close()


if __name__ == "__main__":
    sys.exit(main())
