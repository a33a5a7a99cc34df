#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Services from the API server (issue 14 item 5): nodelet in cluster mode against the fake kube-apiserver
(tests/apiserver/fake_apiserver.py) programs netproxy from its Service and EndpointSlice informers.

In the daemon's network namespace (daemon_harness.Node), with the Service CIDR routed to a port-less sink link and
a node address on another one:
- without --proxy-kubeconfig the Node authorizer's 403 on endpointslices is reported once and retried with backoff
  (a bounded number of list requests), nothing is programmed;
- --disable-proxy: no request for Services or EndpointSlices, no nodelet table;
- with the kube-proxy identity: a Service (kubectl create -f when kubectl is installed) + EndpointSlice pointing at
  a pod nodelet runs is reachable at its ClusterIP and at its NodePort; the endpoint removed → connection refused
  (REJECT), back → reachable; a Service labelled service.kubernetes.io/service-proxy-name is not programmed; a
  Service with an invalid port is reported once with namespace/name and field while a good one is served.

usage: test-services.py BUILD_DIR SOURCE_DIR      (exit 77 when not root)"""

import json
import os
import shutil
import subprocess
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "apiserver"))
from daemon_harness import Failure, Node  # noqa: E402

NODE_IP = "192.168.240.1"
SERVICE_CIDR = "10.96.0.0/16"  # the fake's default
HTTPD = ("mkdir -p /www && echo \"hello from $(hostname)\" > /www/index.html; "
         "httpd -f -p 8080 -h /www & pid=$!; trap 'kill $pid; exit 0' TERM; wait")


def expect(cond, what):
    if not cond:
        raise Failure(what)


def enter_netns(name):
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open("/run/netns/" + name, os.O_RDONLY)
    try:
        if libc.setns(fd, 0x40000000) != 0:  # CLONE_NEWNET
            raise OSError(ctypes.get_errno(), "setns")
    finally:
        os.close(fd)


def web_pod():
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "default"},
            "spec": {"nodeName": "testnode", "terminationGracePeriodSeconds": 1, "automountServiceAccountToken": False,
                     "containers": [{"name": "httpd", "image": "docker.io/library/busybox:latest",
                                     "imagePullPolicy": "IfNotPresent", "command": ["sh", "-c", HTTPD],
                                     "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1}}]}}


def service(name, port=80, node_port=False, labels=None):
    s = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "default"},
         "spec": {"type": "NodePort" if node_port else "ClusterIP",
                  "ports": [{"protocol": "TCP", "port": port, "targetPort": 8080}]}}
    if labels:
        s["metadata"]["labels"] = labels
    return s


def slice_for(svc, ips):
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": svc + "-abcde", "namespace": "default",
                         "labels": {"kubernetes.io/service-name": svc}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": [ip], "conditions": {"ready": True}, "nodeName": "testnode"} for ip in ips],
            "ports": [{"name": "", "protocol": "TCP", "port": 8080}]}


def curl(n, url):
    """(exit code, body) of curl from the node's namespace: 0 answered, 7 refused, 28 timed out."""
    r = n.sh("curl -s --max-time 3 %s" % url, check=False, timeout=10)
    return r.returncode, r.stdout


def nft_table(n):
    r = n.sh("nft list table ip nodelet", check=False)
    return r.stdout if r.returncode == 0 else None


def list_requests(fake, resource, since=0):
    return [x for x in fake.requests(since=since) if x.get("resource") == resource and x.get("verb") == "list"]


def main():
    if os.geteuid() != 0:
        print("SKIP: needs root")
        return 77
    if not shutil.which("nft") or not shutil.which("curl"):
        print("SKIP: needs nft and curl")
        return 77
    build, source = sys.argv[1], sys.argv[2]
    from fake_apiserver import FakeAPIServer

    n = Node(build, source)
    fake = None
    failed = False
    try:
        enter_netns(n.ns)
        # The Service CIDR goes to a sink (a port-less bridge where there is no dummy driver): connect() needs a
        # route before the output hook DNATs; unprogrammed VIPs die there. The node's address lives on another one.
        n.sh("(ip link add svc0 type dummy || ip link add svc0 type bridge) && ip link set svc0 up && "
             "ip route add %s dev svc0" % SERVICE_CIDR)
        n.sh("(ip link add node0 type dummy || ip link add node0 type bridge) && ip link set node0 up && "
             "ip addr add %s/24 dev node0" % NODE_IP)
        fake = FakeAPIServer(tls_dir=os.path.join(n.tmp, "apiserver"))
        fake.start()
        cert, key = fake.issue_client_cert("system:node:testnode", ["system:nodes"])
        kubeconfig = fake.write_kubeconfig(os.path.join(n.tmp, "kubelet.conf"), cert, key)
        pcert, pkey = fake.issue_client_cert("system:kube-proxy", [], name="kube-proxy")
        proxy_conf = fake.write_kubeconfig(os.path.join(n.tmp, "proxy.conf"), pcert, pkey)
        admin = fake.write_kubeconfig(os.path.join(n.tmp, "admin.conf"), fake.admin_cert, fake.admin_key)
        flags = ["--kubeconfig", kubeconfig, "--node-ip", NODE_IP, "--cluster-cidr", n.pod_cidr,
                 "--service-cluster-ip-range", SERVICE_CIDR]

        # 1. The node's own credentials: 403 on endpointslices, said once, retried with backoff (no hot loop).
        n.start(extra=flags)
        n.wait(lambda: "may not list endpointslices" in n.log(), 20, "the 403 to be reported")
        since = len(fake.requests())
        time.sleep(5)
        lists = list_requests(fake, "endpointslices", since)
        expect(len(lists) <= 4, "%d endpointslices lists in 5 s after a 403" % len(lists))
        expect(all(x["status"] == 403 and x["user"] == "system:node:testnode" for x in lists), "lists %s" % lists)
        expect(n.log().count("may not list endpointslices") == 1, "the 403 reported more than once")
        expect(nft_table(n) is None, "rules programmed without the EndpointSlices")
        print("403 without --proxy-kubeconfig: reported once, %d lists in 5 s" % len(lists), flush=True)
        n.stop()

        # 2. --disable-proxy: neither informer, no table.
        since = len(fake.requests())
        n.start(extra=flags + ["--proxy-kubeconfig", proxy_conf, "--disable-proxy"])
        n.wait(lambda: "Pod source \"api\" synced" in n.log(), 30, "the API pod source to sync")
        time.sleep(2)
        expect(not [x for x in fake.requests(since=since) if x.get("resource") in ("services", "endpointslices")],
               "Services or EndpointSlices requested with --disable-proxy")
        expect(nft_table(n) is None, "a nodelet table with --disable-proxy")
        n.stop()

        # 3. The kube-proxy identity: a pod behind a Service.
        log_start = len(n.log())
        since = len(fake.requests())
        n.start(extra=flags + ["--proxy-kubeconfig", proxy_conf])
        n.wait(lambda: "Services: ruleset committed" in n.log()[log_start:], 30, "the first commit")
        lists = list_requests(fake, "endpointslices", since)
        expect(lists and all(x["user"] == "system:kube-proxy" and x["status"] == 200 for x in lists),
               "endpointslices listed as %s" % [(x["user"], x["status"]) for x in lists])
        expect("!service.kubernetes.io/service-proxy-name" in lists[0]["params"].get("labelSelector", ""),
               "kube-proxy's label selector: %s" % lists[0]["params"])
        fake.create(web_pod())
        p = fake.wait_for("pods", "web", "default", lambda o: o and any(
            c["type"] == "Ready" and c["status"] == "True" for c in o.get("status", {}).get("conditions", [])), 60)
        pod_ip = p["status"]["podIP"]

        if os.path.exists("/usr/bin/kubectl"):
            path = os.path.join(n.tmp, "web-svc.json")
            with open(path, "w") as f:
                json.dump(service("web", node_port=True), f)
            r = subprocess.run(["/usr/bin/kubectl", "--kubeconfig", admin, "create", "-f", path],
                               capture_output=True, text=True, timeout=60)
            expect(r.returncode == 0, "kubectl create: %s %s" % (r.stdout, r.stderr))
        else:
            print("kubectl not installed: Service created through the fake directly", flush=True)
            fake.create(service("web", node_port=True))
        svc = fake.get("services", "web", "default")
        vip, node_port = svc["spec"]["clusterIP"], svc["spec"]["ports"][0]["nodePort"]
        fake.create(slice_for("web", [pod_ip]))
        body = n.wait(lambda: curl(n, "http://%s/" % vip)[1], 20, "the ClusterIP %s to answer" % vip)
        expect(body.startswith("hello from web"), "ClusterIP answered %r" % body)
        body = n.wait(lambda: curl(n, "http://%s:%d/" % (NODE_IP, node_port))[1], 20, "the NodePort to answer")
        expect(body.startswith("hello from web"), "NodePort answered %r" % body)
        print("ClusterIP %s and NodePort %s:%d reach the pod %s" % (vip, NODE_IP, node_port, pod_ip), flush=True)

        # The endpoint goes: refused (REJECT, not a timeout); it comes back: served again.
        fake.patch("endpointslices.discovery.k8s.io", "web-abcde", {"endpoints": []}, "default")
        n.wait(lambda: curl(n, "http://%s/" % vip)[0] == 7, 20, "connection refused without endpoints")
        fake.patch("endpointslices.discovery.k8s.io", "web-abcde", {"endpoints": slice_for("web", [pod_ip])[
            "endpoints"]}, "default")
        n.wait(lambda: curl(n, "http://%s/" % vip)[1], 20, "the ClusterIP to answer again")

        # Another proxy's Service, a bad one and a good one: only the good one is programmed.
        other = fake.create(service("other", labels={"service.kubernetes.io/service-proxy-name": "elsewhere"}))
        fake.create(slice_for("other", [pod_ip]))
        fake.create(service("bad"))
        # The fake validates little: the invalid port is written into the stored object.
        fake.patch("services", "bad", {"spec": {"ports": [{"port": 70000, "protocol": "TCP", "targetPort": 8080}]}},
                   "default")
        fake.create(slice_for("bad", [pod_ip]))
        good = fake.create(service("good", port=81))
        fake.create(slice_for("good", [pod_ip]))
        n.wait(lambda: curl(n, "http://%s:81/" % good["spec"]["clusterIP"])[1], 20, "the good Service to answer")
        n.wait(lambda: "Service default/bad: spec.ports[0].port" in n.log()[log_start:], 10, "the bad Service reported")
        table = nft_table(n) or ""
        expect(good["spec"]["clusterIP"] in table and vip in table, "programmed VIPs missing")
        expect(other["spec"]["clusterIP"] not in table, "another proxy's Service programmed")
        expect(curl(n, "http://%s/" % other["spec"]["clusterIP"])[0] != 0, "another proxy's Service answered")
        # Once per resourceVersion: an unrelated change (a full relist would be the same) does not repeat it.
        fake.close_watches()
        fake.patch("services", "good", {"metadata": {"labels": {"touched": "yes"}}}, "default")
        time.sleep(3)
        expect(n.log()[log_start:].count("Service default/bad: spec.ports[0].port") == 1,
               "the bad Service reported more than once")
        print("service-proxy-name skipped, bad Service reported once, good one served", flush=True)
        n.stop()
        print("PASS test-services", flush=True)
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
