# SPDX-License-Identifier: Apache-2.0
"""Helpers shared by the cluster-mode daemon tests (test-cluster.py, test-outage.py)."""

import ctypes
import os

from daemon_harness import Failure

CLONE_NEWNET = 0x40000000


def expect(cond, what):
    if not cond:
        raise Failure(what)


def enter_netns(name):
    """This whole process joins the daemon's network namespace: the fake API server then listens on the loopback
    the daemon sees, and nothing is reachable outside."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open("/run/netns/" + name, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns")
    finally:
        os.close(fd)


def pod(name, node, script, grace=2, ready_file=False):
    c = {"name": "c", "image": "docker.io/library/busybox:latest", "imagePullPolicy": "IfNotPresent",
         "command": ["sh", "-c", script]}
    if ready_file:
        c["readinessProbe"] = {"exec": {"command": ["true"]}, "periodSeconds": 1}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
            # No service account token volume yet (ConfigMaps, Secrets and TokenRequest come next).
            "spec": {"nodeName": node, "terminationGracePeriodSeconds": grace, "automountServiceAccountToken": False,
                     "containers": [c]}}


def condition(p, t):
    for c in (p or {}).get("status", {}).get("conditions", []):
        if c["type"] == t:
            return c["status"]
    return None
