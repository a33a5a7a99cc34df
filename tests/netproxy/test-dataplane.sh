#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# netproxy data plane, end to end (issue 6): `nodeletctl proxy sync --watch` runs inside a "node" network
# namespace; servers, a pod-like client and an "external" client are further namespaces the test creates. The
# service CIDR is routed to a dummy link inside the node namespace, so nothing here touches the host's nftables or
# routing, and a packet no rule catches is discarded there (not black-holed before the forward hook).
set -u

[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
for p in nft python3 curl ip; do command -v $p >/dev/null || { echo "SKIP: $p missing"; exit 77; }; done

BUILD=${NODELET_BUILD_DIR:?}
CTL=$BUILD/agent/nodeletctl
HERE=$(cd "$(dirname "$0")" && pwd)
ID=np$$
NODE=$ID-node
PIDS=()
TMP=$(mktemp -d /tmp/test-netproxy.XXXXXX)
FAILED=0

cleanup() {
        for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
        for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
        for n in node s1 s2 s3 cl ext; do ip netns del "$ID-$n" 2>/dev/null; done
        rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail() { echo "FAIL: $*"; FAILED=1; }
ok() { echo "ok: $*"; }
in_ns() { local n=$1; shift; ip netns exec "$ID-$n" "$@"; }
# wait_for SECONDS CMD...: retries until CMD succeeds
wait_for() {
        local t=$(($1 * 10)); shift
        while [ $t -gt 0 ]; do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; t=$((t - 1)); done
        return 1
}

set -e
ip netns add "$NODE"
in_ns node ip link set lo up
in_ns node sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
# the service CIDR goes to a dummy link: unhandled VIP traffic dies there, after the forward hook. Kernels without
# the dummy driver get the same behaviour from a bridge without ports (it discards what it is given).
in_ns node ip link add svc0 type dummy 2>/dev/null || in_ns node ip link add svc0 type bridge
in_ns node ip link set svc0 up
in_ns node ip route add 10.96.0.0/16 dev svc0
in_ns node ip -6 route add fd00:96::/112 dev svc0
# pods: one routed veth each (10.244.K.2 behind node 10.244.K.1), inside the cluster CIDR 10.244.0.0/16
k=0
for n in s1 s2 s3 cl; do
        k=$((k + 1))
        ip netns add "$ID-$n"
        ip link add "$ID$n" type veth peer name eth0 netns "$ID-$n"
        ip link set "$ID$n" netns "$NODE"
        in_ns node ip addr add 10.244.$k.1/24 dev "$ID$n"
        in_ns node ip addr add fd00:244:$k::1/64 dev "$ID$n" nodad
        in_ns node ip link set "$ID$n" up
        in_ns "$n" ip link set lo up
        in_ns "$n" ip addr add 10.244.$k.2/24 dev eth0
        in_ns "$n" ip addr add fd00:244:$k::2/64 dev eth0 nodad
        in_ns "$n" ip link set eth0 up
        in_ns "$n" ip route add default via 10.244.$k.1
        in_ns "$n" ip -6 route add default via fd00:244:$k::1
done
ip netns add "$ID-ext"
ip link add "${ID}ext" type veth peer name eth0 netns "$ID-ext"
ip link set "${ID}ext" netns "$NODE"
in_ns node ip addr add 192.168.77.1/24 dev "${ID}ext"
in_ns node ip link set "${ID}ext" up
in_ns ext ip link set lo up
in_ns ext ip addr add 192.168.77.2/24 dev eth0
in_ns ext ip link set eth0 up
in_ns ext ip route add default via 192.168.77.1
# another table in the node: netproxy must never touch it
in_ns node nft add table ip other
in_ns node nft add chain ip other keep

for n in s1 s2 s3; do
        # started with ip netns exec directly (not through a function) so that $! is the server itself
        ip netns exec "$ID-$n" python3 "$HERE/np-server.py" $n 8080 5353 &
        PIDS+=($!)
done
set +e

M=$TMP/manifests
mkdir -p "$M"
svc() { # name clusterIP port extra-spec-yaml
        cat <<EOT
apiVersion: v1
kind: Service
metadata: {name: $1, namespace: default}
spec:
  clusterIP: $2
  ports: [{name: http, port: $3, targetPort: http, protocol: ${PROTO:-TCP}${NODEPORT:+, nodePort: $NODEPORT}}]
$4
EOT
}
slice() { # name service port family addresses(space separated, name:addr[:node])
        local name=$1 svcname=$2 port=$3 fam=$4; shift 4
        echo "apiVersion: discovery.k8s.io/v1"
        echo "kind: EndpointSlice"
        echo "metadata: {name: $name, namespace: default, labels: {kubernetes.io/service-name: $svcname}}"
        echo "addressType: $fam"
        echo "ports: [{name: http, port: $port, protocol: ${PROTO:-TCP}}]"
        echo "endpoints:"
        for a in "$@"; do
                echo "- addresses: [\"${a%%@*}\"]"
                echo "  conditions: {ready: true}"
                case $a in *@*) echo "  nodeName: ${a#*@}" ;; esac
        done
}
ALL="10.244.1.2@node2 10.244.2.2@node2 10.244.3.2@node2"
{ NODEPORT=30080 svc web 10.96.0.10 80 "  type: NodePort"; echo ---; slice web-1 web 8080 IPv4 $ALL; } >"$M/web.yaml"
svc empty 10.96.0.11 80 "" >"$M/empty.yaml"
{ svc sticky 10.96.0.12 80 "  sessionAffinity: ClientIP"; echo ---; slice sticky-1 sticky 8080 IPv4 $ALL; } >"$M/sticky.yaml"
{ PROTO=UDP svc dns 10.96.0.13 53 ""; echo ---; PROTO=UDP slice dns-1 dns 5353 IPv4 10.244.1.2; } >"$M/dns.yaml"
{ svc hair 10.96.0.14 80 ""; echo ---; slice hair-1 hair 8080 IPv4 10.244.1.2; } >"$M/hair.yaml"
{ NODEPORT=30081 svc local 10.96.0.15 80 "  type: LoadBalancer
  externalTrafficPolicy: Local
  healthCheckNodePort: 32100"; echo ---; slice local-1 local 8080 IPv4 10.244.2.2@node1 10.244.3.2@node2; } \
        >"$M/local.yaml"
{ NODEPORT=30082 svc remote 10.96.0.18 80 "  type: NodePort
  externalTrafficPolicy: Local"; echo ---; slice remote-1 remote 8080 IPv4 10.244.3.2@node2; } >"$M/remote.yaml"
# load balancers with loadBalancerSourceRanges: the external client is allowed on one, not on the other
{ svc lb 10.96.0.16 80 "  type: LoadBalancer
  loadBalancerSourceRanges: [192.168.77.2/32]
status: {loadBalancer: {ingress: [{ip: 203.0.113.10}]}}"; echo ---; slice lb-1 lb 8080 IPv4 10.244.3.2; } >"$M/lb.yaml"
{ svc lbdeny 10.96.0.17 80 "  type: LoadBalancer
  loadBalancerSourceRanges: [10.99.0.0/16]
status: {loadBalancer: {ingress: [{ip: 203.0.113.11}]}}"; echo ---; slice lbdeny-1 lbdeny 8080 IPv4 10.244.3.2; } \
        >"$M/lbdeny.yaml"
{ svc web6 fd00:96::10 80 "  ipFamilies: [IPv6]"; echo ---; slice web6-1 web6 8080 IPv6 fd00:244:1::2 fd00:244:2::2; } >"$M/web6.yaml"
# a bad object is reported and skipped; the others are still programmed
printf 'apiVersion: v1\nkind: Service\nmetadata: {name: broken, namespace: default}\nspec:\n  ports: [{port: 70000}]\n' >"$M/broken.yaml"

ip netns exec "$NODE" "$CTL" proxy sync --watch "$M" --verify-interval 1 -v --cluster-cidr 10.244.0.0/16,fd00:244::/32 \
        --service-cidr 10.96.0.0/16,fd00:96::/112 --hostname-override node1 ${NP_DEBUG:+--debug} \
        --nodeport-addresses 192.168.77.1/32 >"$TMP/watch.log" 2>&1 &
WATCH=$!
PIDS+=($WATCH)
has_frontend() { in_ns node nft list map ip nodelet frontends | grep -q "$1"; }
wait_for 10 has_frontend 10.96.0.10 || { cat "$TMP/watch.log"; fail "initial sync did not happen"; exit 1; }
for n in s1 s2 s3; do wait_for 10 in_ns $n bash -c 'exec 3<>/dev/tcp/127.0.0.1/8080'; done # servers up
grep -q 'Service default/broken: spec.ports\[0\].port' "$TMP/watch.log" && ok "bad object reported with name and field" ||
        fail "bad object not reported: $(cat "$TMP/watch.log")"

[ -n "${NP_DEBUG_PAUSE:-}" ] && { echo "paused: $ID"; sleep "$NP_DEBUG_PAUSE"; }
get() { in_ns "$1" curl -sS --max-time 5 "http://$2/" 2>/dev/null; }

# 1. ClusterIP backed by three server namespaces: all three get traffic
seen=""
for i in $(seq 1 60); do seen="$seen $(get cl 10.96.0.10:80 | cut -d' ' -f1)"; done
for s in s1 s2 s3; do
        case "$seen" in *"$s"*) ;; *) fail "ClusterIP: $s never received traffic ($seen)" ;; esac
done
case "$seen" in *s1*s*) ok "ClusterIP load-balances over s1 s2 s3" ;; esac

# 2. NodePort from the external namespace through the node address; policy Cluster masquerades
r=$(get ext 192.168.77.1:30080)
case "$r" in s1\ 10.244.1.1 | s2\ 10.244.2.1 | s3\ 10.244.3.1) ok "NodePort reached from outside, masqueraded ($r)" ;; *) fail "NodePort: got '$r'" ;; esac

# 3. no endpoints: refused at once (curl exit 7), not a timeout (28)
in_ns cl curl -sS --max-time 5 http://10.96.0.11:80/ >/dev/null 2>&1
rc=$?
[ $rc = 7 ] && ok "Service without endpoints refuses connections" || fail "no-endpoint Service: curl exit $rc"
# undefined port of a live ClusterIP: refused too; unallocated VIP in the service CIDR: dropped (timeout)
in_ns cl curl -sS --max-time 5 http://10.96.0.10:81/ >/dev/null 2>&1
rc=$?
[ $rc = 7 ] && ok "undefined port of a ClusterIP is rejected" || fail "undefined port: curl exit $rc"
in_ns cl curl -sS --max-time 2 http://10.96.0.99:80/ >/dev/null 2>&1
rc=$?
[ $rc = 28 ] && ok "unallocated service IP is dropped" || fail "unallocated VIP: curl exit $rc"

# 4. session affinity pins a client
seen=$(for i in $(seq 1 20); do get cl 10.96.0.12:80 | cut -d' ' -f1; done | sort -u)
[ "$(echo "$seen" | wc -l)" = 1 ] && [ -n "$seen" ] && ok "ClientIP affinity pins the client to $seen" ||
        fail "affinity: served by $(echo $seen)"

# 4b. the pin survives an endpoint change of the same Service (the pinned endpoint stays)
pinned=$(echo "$seen" | head -1)
keep=""
for e in $ALL; do
        n=s${e:7:1}
        [ "$n" = "$pinned" ] || [ -z "$keep" ] && keep="$keep $e"
done
before=$(grep -c "synced (" "$TMP/watch.log")
{ svc sticky 10.96.0.12 80 "  sessionAffinity: ClientIP"; echo ---; slice sticky-1 sticky 8080 IPv4 $keep; } \
        >"$TMP/sticky.yaml"
mv "$TMP/sticky.yaml" "$M/sticky.yaml"
wait_for 10 sh -c "[ \$(grep -c 'synced (' $TMP/watch.log) -gt $before ]"
seen2=$(for i in $(seq 1 10); do get cl 10.96.0.12:80 | cut -d' ' -f1; done | sort -u)
[ "$seen2" = "$pinned" ] && ok "affinity pin kept across an endpoint change ($keep)" ||
        fail "affinity after endpoint change: served by $(echo $seen2), pinned $pinned"

# 5. externalTrafficPolicy Local keeps the client source address
r=$(get ext 192.168.77.1:30081)
[ "$r" = "s2 192.168.77.2" ] && ok "externalTrafficPolicy Local preserves the source ($r)" || fail "ETP Local: got '$r'"

# 5a. ... but pods still reach all endpoints through that external address (kube-proxy's short-circuit)
seen=$(for i in $(seq 1 30); do get cl 192.168.77.1:30081 | cut -d' ' -f1; done | sort -u | tr '\n' ' ')
[ "$seen" = "s2 s3 " ] && ok "pods reach all endpoints of a Local-policy Service's external address" ||
        fail "short-circuit: pods reached '$seen'"
for i in $(seq 1 10); do
        r=$(get ext 192.168.77.1:30081)
        [ "$r" = "s2 192.168.77.2" ] || { fail "ETP Local from outside reached '$r'"; break; }
done

# 5a'. no local endpoint: outside clients are dropped (not refused), pods are still served
in_ns ext curl -sS --max-time 2 http://192.168.77.1:30082/ >/dev/null 2>&1
rc=$?
[ $rc = 28 ] && ok "Local policy without local endpoints drops outside traffic" || fail "Local, none local: curl exit $rc"
r=$(get cl 192.168.77.1:30082)
[ "${r%% *}" = s3 ] || fail "Local, none local, from a pod: got '$r'"

# 5b. healthCheckNodePort reports the local endpoints (200 while there are some)
r=$(in_ns ext curl -sS --max-time 5 -w ' %{http_code}' http://192.168.77.1:32100/ 2>&1)
case "$r" in *'"localEndpoints":1'*' 200') ok "healthCheckNodePort answers ($r)" ;; *) fail "healthCheckNodePort: got '$r'" ;; esac

# 5c. loadBalancerSourceRanges: allowed source gets through, others are dropped before DNAT
r=$(get ext 203.0.113.10:80)
[ "$r" = "s3 10.244.3.1" ] && ok "load balancer IP reachable from an allowed range ($r)" || fail "LB allowed: got '$r'"
in_ns ext curl -sS --max-time 2 http://203.0.113.11:80/ >/dev/null 2>&1
rc=$?
[ $rc = 28 ] && ok "load balancer IP dropped for a source outside loadBalancerSourceRanges" || fail "LB deny: curl exit $rc"

# 6. hairpin: an endpoint reaching itself through its Service
r=$(get s1 10.96.0.14:80)
[ "$r" = "s1 10.244.1.1" ] && ok "hairpin works ($r)" || fail "hairpin: got '$r'"

# 7. IPv6 ClusterIP
r=$(get cl "[fd00:96::10]:80")
case "$r" in s[12]\ fd00:244:4::2) ok "IPv6 ClusterIP ($r)" ;; *) fail "IPv6 ClusterIP: got '$r'" ;; esac

# 8. UDP across an endpoint change, same client port: the stale conntrack entry must go
r=$(in_ns cl python3 "$HERE/np-udp-client.py" 10.96.0.13 53 40053)
[ "${r%% *}" = s1 ] || fail "UDP before the change: got '$r'"
{ PROTO=UDP svc dns 10.96.0.13 53 ""; echo ---; PROTO=UDP slice dns-1 dns 5353 IPv4 10.244.2.2; } >"$TMP/dns.yaml"
mv "$TMP/dns.yaml" "$M/dns.yaml"
wait_for 10 sh -c "ip netns exec $NODE nft list map ip nodelet ep-udp | grep -q 10.244.2.2"
r=$(in_ns cl python3 "$HERE/np-udp-client.py" 10.96.0.13 53 40053)
[ "${r%% *}" = s2 ] && ok "UDP follows the endpoint change ($r)" || fail "UDP after the change: got '$r'"

# 9. a flushed table is repaired at the next verification
in_ns node nft flush table ip nodelet
wait_for 15 sh -c "ip netns exec $NODE nft list chain ip nodelet services | grep -q vmap" &&
        ok "flushed table repaired" || fail "flushed table not repaired"
r=$(get cl 10.96.0.14:80)
[ "${r%% *}" = s1 ] || fail "after repair: got '$r'"

kill $WATCH
wait $WATCH 2>/dev/null
grep -q "netproxy_repairs_total 1" "$TMP/watch.log" && ok "metrics count the repair" || fail "metrics: $(tail -30 "$TMP/watch.log")"

# 10. the listed ruleset round-trips through nft -f
for fam in ip ip6; do
        # affinity entries carry their remaining lifetime, which moves on: compare without it
        in_ns node nft list table $fam nodelet | sed 's/ expires [0-9hms]*//' >"$TMP/$fam.nft"
        in_ns node nft delete table $fam nodelet
        in_ns node nft -f "$TMP/$fam.nft" || fail "nft -f of the listed $fam table"
        in_ns node nft list table $fam nodelet | sed 's/ expires [0-9hms]*//' | diff -u "$TMP/$fam.nft" - && ok "$fam ruleset round-trips" ||
                fail "$fam ruleset differs after reload"
done

# 11. cleanup removes everything nodelet created, and nothing else
in_ns node "$CTL" proxy cleanup || fail "cleanup failed"
in_ns node nft list tables | grep -q nodelet && fail "cleanup left: $(in_ns node nft list tables)"
in_ns node nft list tables | grep -q "ip other" && ok "cleanup removed our tables only" || fail "cleanup touched table other"

[ $FAILED = 0 ] && echo PASS
exit $FAILED
