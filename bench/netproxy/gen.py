#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# Generators for the netproxy benchmark (docs/BENCHMARKS.md):
#   gen.py manifests DIR N EPS        N Services x EPS endpoints as JSON List files (100 Services per file)
#   gen.py list FILE N EPS            the same as one JSON List file (14 MB at 10k x 10)
#   gen.py nft-kube-proxy N EPS       the same as an nft ruleset in kube-proxy's nftables-mode layout
#                                     (per-Service and per-endpoint chains, numgen vmaps; pkg/proxy/nftables)
#   gen.py nft-shared N EPS           the same as a "shared map" ruleset (one endpoint map keyed by
#                                     VIP . port . bucket, one dispatch chain per endpoint count), for nft -f
#   gen.py change-shared N EPS I      nft -f input changing one endpoint of Service I in the shared-map ruleset
# Service i: ClusterIP 10.96.0.0/16 + i + 1, port 80 -> 8080; endpoint j: 10.128.0.0 + i*EPS + j.
import ipaddress
import json
import os
import sys

PER_FILE = 100
CLUSTER_CIDR = "10.64.0.0/10"


def vip(i):
    return str(ipaddress.IPv4Address("10.96.0.0") + i + 1)


def ep(i, j, eps):
    return str(ipaddress.IPv4Address("10.128.0.0") + i * eps + j)


def service(i):
    return {"kind": "Service", "apiVersion": "v1",
            "metadata": {"name": "svc-%d" % i, "namespace": "bench"},
            "spec": {"type": "ClusterIP", "clusterIP": vip(i), "clusterIPs": [vip(i)],
                     "ports": [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080}]}}


def endpoint_slice(i, eps, gen=0):
    endpoints = [{"addresses": [ep(i, j, eps)], "conditions": {"ready": True}, "nodeName": "node-%d" % (j % 50)}
                 for j in range(eps)]
    if gen:
        endpoints[-1]["addresses"] = [str(ipaddress.IPv4Address(ep(i, eps - 1, eps)) + (1 << 20))]
    return {"kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1",
            "metadata": {"name": "svc-%d-abcde" % i, "namespace": "bench",
                         "labels": {"kubernetes.io/service-name": "svc-%d" % i}},
            "addressType": "IPv4", "endpoints": endpoints,
            "ports": [{"name": "http", "protocol": "TCP", "port": 8080}]}


def manifests(d, n, eps):
    os.makedirs(d, exist_ok=True)
    for f in range(0, n, PER_FILE):
        items = []
        for i in range(f, min(n, f + PER_FILE)):
            items += [service(i), endpoint_slice(i, eps)]
        with open(os.path.join(d, "svc-%06d.json" % f), "w") as out:
            json.dump({"kind": "List", "apiVersion": "v1", "items": items}, out)


def one_list(path, n, eps):
    items = []
    for i in range(n):
        items += [service(i), endpoint_slice(i, eps)]
    with open(path, "w") as out:
        json.dump({"kind": "List", "apiVersion": "v1", "items": items}, out)


def kube_proxy(n, eps):
    w = sys.stdout.write
    w("table ip kube-proxy {\n")
    w("  map service-ips { type ipv4_addr . inet_proto . inet_service : verdict; }\n")
    w("  set cluster-ips { type ipv4_addr; }\n")
    w("  chain mark-for-masquerade { meta mark set mark or 0x4000; }\n")
    w("  chain masquerading { meta mark & 0x4000 == 0 return; meta mark set mark xor 0x4000; masquerade fully-random; }\n")
    w("  chain services { ip daddr . meta l4proto . th dport vmap @service-ips; }\n")
    w("  chain nat-prerouting { type nat hook prerouting priority dstnat; jump services; }\n")
    w("  chain nat-output { type nat hook output priority -100; jump services; }\n")
    w("  chain nat-postrouting { type nat hook postrouting priority srcnat; jump masquerading; }\n")
    for i in range(n):
        sc = "service-%08X-bench/svc-%d/tcp/http" % (i, i)
        eplist = []
        for j in range(eps):
            a = ep(i, j, eps)
            ec = "endpoint-%08X-bench/svc-%d/tcp/http__%s/8080" % (i * eps + j, i, a)
            eplist.append(ec)
            w('  chain %s { ip saddr %s jump mark-for-masquerade; meta l4proto tcp dnat to %s:8080; }\n' % (ec, a, a))
        vm = ", ".join("%d : goto %s" % (j, c) for j, c in enumerate(eplist))
        w("  chain %s { ip daddr %s tcp dport 80 ip saddr != %s jump mark-for-masquerade; "
          "numgen random mod %d vmap { %s }; }\n" % (sc, vip(i), CLUSTER_CIDR, eps, vm))
    w("}\n")
    for i in range(n):
        sc = "service-%08X-bench/svc-%d/tcp/http" % (i, i)
        w("add element ip kube-proxy service-ips { %s . tcp . 80 : goto %s }\n" % (vip(i), sc))
        w("add element ip kube-proxy cluster-ips { %s }\n" % vip(i))


def shared(n, eps):
    w = sys.stdout.write
    w("table ip shared {\n")
    w("  map frontends { type ipv4_addr . inet_proto . inet_service : verdict; }\n")
    w("  map endpoints { typeof ip daddr . tcp dport . numgen random mod 1 : ip daddr . tcp dport; }\n")
    w("  set cluster-ips { type ipv4_addr; }\n")
    w("  chain lb-%d { meta l4proto tcp dnat ip to ip daddr . tcp dport . numgen random mod %d map @endpoints; }\n"
      % (eps, eps))
    w("  chain services { ip saddr != %s ip daddr @cluster-ips meta mark set mark or 0x4000; "
      "ip daddr . meta l4proto . th dport vmap @frontends; }\n" % CLUSTER_CIDR)
    w("  chain nat-prerouting { type nat hook prerouting priority dstnat; jump services; }\n")
    w("  chain nat-output { type nat hook output priority -100; jump services; }\n")
    w("}\n")
    for i in range(n):
        w("add element ip shared frontends { %s . tcp . 80 : goto lb-%d }\n" % (vip(i), eps))
        w("add element ip shared cluster-ips { %s }\n" % vip(i))
        w("add element ip shared endpoints { %s }\n" %
          ", ".join("%s . 80 . %d : %s . 8080" % (vip(i), j, ep(i, j, eps)) for j in range(eps)))


def change_shared(n, eps, i):
    j = eps - 1
    new = str(ipaddress.IPv4Address(ep(i, j, eps)) + (1 << 20))
    print("delete element ip shared endpoints { %s . 80 . %d }" % (vip(i), j))
    print("add element ip shared endpoints { %s . 80 . %d : %s . 8080 }" % (vip(i), j, new))


def main():
    cmd = sys.argv[1]
    if cmd == "manifests":
        manifests(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif cmd == "list":
        one_list(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif cmd == "nft-kube-proxy":
        kube_proxy(int(sys.argv[2]), int(sys.argv[3]))
    elif cmd == "nft-shared":
        shared(int(sys.argv[2]), int(sys.argv[3]))
    elif cmd == "change-shared":
        change_shared(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
    elif cmd == "slice":
        # one EndpointSlice (as a List file) with its last endpoint moved: the --watch change
        i, eps = int(sys.argv[2]), int(sys.argv[3])
        json.dump({"kind": "List", "apiVersion": "v1", "items": [endpoint_slice(i, eps, gen=1)]}, sys.stdout)
    else:
        sys.exit("unknown command " + cmd)


main()
