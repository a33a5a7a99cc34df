#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""TLS bootstrap end to end (agent/bootstrap.h): nodelet against the fake kube-apiserver (tests/apiserver) holding a
bootstrap token, with the kube-controller-manager's client CSR approver turned on.

1. A bootstrap kubeconfig with the wrong CA: a clear error in the log, retried (no crash), nothing registered and
   no CSR created; the pending key is kept in <cert-dir>/kubelet-client.key.tmp (0600). Then a token the server
   rejects: the 401 is reported and retried the same way.
2. The right CA, and --kubeconfig holding an expired client certificate: the daemon falls back to the bootstrap,
   its CSR (signer kube-apiserver-client-kubelet, CN system:node:testnode, O system:nodes, the kept key) is approved
   and signed with a short lifetime; the files land in cert-dir with the right modes, the kubeconfig is rewritten,
   and the node registers as system:node:testnode. The short-lived certificate is rotated at once (a second CSR,
   sent with the node's own credentials) and the Lease keeps being renewed after the first certificate expired.
3. serverTLSBootstrap: a kubelet-serving CSR (server auth, SANs), approved and signed here, and the kubelet API on
   :10250 then serves that certificate.

usage: test-bootstrap.py BUILD_DIR SOURCE_DIR      (exit 77 when not root)"""

import ctypes
import json
import os
import re
import socket
import ssl
import stat
import subprocess
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "apiserver"))
from daemon_harness import Failure, Node  # noqa: E402

CLONE_NEWNET = 0x40000000
TOKEN_ID, TOKEN_SECRET = "abcdef", "0123456789abcdef"
CSR = "certificatesigningrequests.certificates.k8s.io"


def expect(cond, what):
    if not cond:
        raise Failure(what)


def enter_netns(name):
    """The fake API server listens on the loopback of the daemon's network namespace: nothing leaves it."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open("/run/netns/" + name, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns")
    finally:
        os.close(fd)


def openssl(*args, data=None):
    r = subprocess.run(["openssl"] + list(args), input=data, capture_output=True, timeout=30)
    if r.returncode != 0:
        raise Failure("openssl %s: %s" % (" ".join(args), r.stderr.decode(errors="replace")))
    return r.stdout


def csrs(fake, signer=None):
    return [c for c in fake.list(CSR) if signer is None or c["spec"]["signerName"] == signer]


def cert_dates(pem):
    out = openssl("x509", "-noout", "-startdate", "-enddate", data=pem).decode()
    vals = dict(line.split("=", 1) for line in out.strip().splitlines())
    conv = lambda s: time.mktime(time.strptime(s.replace(" GMT", ""), "%b %d %H:%M:%S %Y")) - time.timezone  # noqa
    return conv(vals["notBefore"]), conv(vals["notAfter"])


def write_bootstrap_kubeconfig(path, server, ca_path, token=TOKEN_ID + "." + TOKEN_SECRET):
    cfg = {"apiVersion": "v1", "kind": "Config",
           "clusters": [{"name": "c", "cluster": {"server": server, "certificate-authority": ca_path}}],
           "users": [{"name": "kubelet-bootstrap", "user": {"token": token}}],
           "contexts": [{"name": "bootstrap", "context": {"cluster": "c", "user": "kubelet-bootstrap"}}],
           "current-context": "bootstrap"}
    with open(path, "w") as f:
        json.dump(cfg, f)


def serving_cert_der(port=10250):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        with ctx.wrap_socket(s) as t:
            return t.getpeercert(binary_form=True)


def main():
    if os.geteuid() != 0:
        print("SKIP: needs root")
        return 77
    build, source = sys.argv[1], sys.argv[2]
    from fake_apiserver import FakeAPIServer

    n = Node(build, source)
    fake = None
    failed = False
    try:
        enter_netns(n.ns)
        fake = FakeAPIServer(tls_dir=os.path.join(n.tmp, "apiserver"), auto_approve=True)
        fake.start()
        fake.add_bootstrap_token(TOKEN_ID, TOKEN_SECRET)
        pki = os.path.join(n.tmp, "pki")
        kubeconfig = os.path.join(n.tmp, "kubelet.conf")
        bootstrap = os.path.join(n.tmp, "bootstrap-kubelet.conf")
        flags = ["--kubeconfig", kubeconfig, "--bootstrap-kubeconfig", bootstrap, "--rotate-certificates",
                 "--rotate-server-certificates"]

        # 1. The wrong CA: an error naming the TLS failure, retried, the daemon alive, nothing in the API.
        other_ca = os.path.join(n.tmp, "other-ca.crt")
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                "-subj", "/CN=not-the-cluster-ca", "-keyout", os.path.join(n.tmp, "other-ca.key"), "-out", other_ca)
        write_bootstrap_kubeconfig(bootstrap, fake.url, other_ca)
        n.start(extra=flags)
        n.wait(lambda: len(re.findall(r"Failed to obtain the client certificate for node testnode", n.log())) >= 2,
               30, "two failed bootstrap attempts in the log")
        line = [x for x in n.log().splitlines() if "Failed to obtain the client certificate" in x][0]
        print("error logged: %s" % line, flush=True)
        expect("CertificateSigningRequest" in line and fake.url in line and "retrying in" in line,
               "the error says what failed where: %s" % line)
        expect(n.healthz() == "ok", "daemon healthy while bootstrapping")
        expect(fake.get("nodes", "testnode") is None, "a node registered without credentials")
        expect(not csrs(fake), "a CSR was created through a server that was not verified")
        expect(not os.path.exists(kubeconfig), "kubeconfig written without a certificate")
        key_tmp = os.path.join(pki, "kubelet-client.key.tmp")
        expect(os.path.exists(key_tmp), "the pending key is kept in %s" % key_tmp)
        expect(stat.S_IMODE(os.stat(key_tmp).st_mode) == 0o600, "key.tmp mode %o" % os.stat(key_tmp).st_mode)
        with open(key_tmp, "rb") as f:
            pending_pub = openssl("pkey", "-pubout", data=f.read())
        # A token the server does not know: 401, said so, retried (the bootstrap kubeconfig is read per attempt).
        write_bootstrap_kubeconfig(bootstrap, fake.url, fake.ca_path, token="abcdef.ffffffffffffffff")
        n.wait(lambda: "the server rejected the credentials" in n.log(), 60, "the 401 reported")
        expect(not csrs(fake) and fake.get("nodes", "testnode") is None, "nothing created with a rejected token")
        expect(n.healthz() == "ok", "daemon healthy after the 401")
        # A denied CSR (the approval subresource's Denied condition): reported with the CSR's name and the
        # approver's reason, retried with backoff (a new CSR), no crash.
        fake.auto_approve = False
        write_bootstrap_kubeconfig(bootstrap, fake.url, fake.ca_path)
        denied = n.wait(lambda: csrs(fake), 60, "a CSR after the right credentials")[0]["metadata"]["name"]
        fake.deny_csr(denied, "TestDenied", "not this node today")
        n.wait(lambda: "CertificateSigningRequest %s: denied: TestDenied: not this node today" % denied in n.log(),
               30, "the denial reported")
        line = [x for x in n.log().splitlines() if "denied: TestDenied" in x][0]
        print("denial logged: %s" % line, flush=True)
        expect("retrying in" in line, "the denial is retried: %s" % line)
        n.wait(lambda: [c for c in csrs(fake) if c["metadata"]["name"] != denied], 60, "a new CSR after the denial")
        expect(n.healthz() == "ok", "daemon healthy after the denial")
        try:
            fake.sign_csr(denied)
            expect(False, "the fake signed a denied CSR")
        except Exception as e:  # the fake's ApiError 409
            expect("denied" in str(e), "signing a denied CSR: %s" % e)
        rc = n.stop()
        for c in csrs(fake):
            fake.delete(CSR, c["metadata"]["name"])
        fake.auto_approve = True
        expect(rc == 0, "daemon exit code %s" % rc)

        # 2. The right CA; --kubeconfig holds an expired client certificate: falls back to the bootstrap.
        write_bootstrap_kubeconfig(bootstrap, fake.url, fake.ca_path)
        old_cert, old_key = fake.issue_client_cert("system:node:testnode", ["system:nodes"], name="expired",
                                                   seconds=1, backdate=300)
        fake.write_kubeconfig(kubeconfig, old_cert, old_key)
        time.sleep(1.5)
        fake.clear_requests()
        n.start(extra=flags)
        first = n.wait(lambda: csrs(fake, "kubernetes.io/kube-apiserver-client-kubelet"), 30, "the bootstrap CSR")[0]
        expect("expired" in n.log(), "the expired certificate is reported")
        spec = first["spec"]
        expect(spec["usages"] == ["digital signature", "client auth"], "usages %s" % spec["usages"])
        expect(first["metadata"]["name"].startswith("csr-"), "generateName csr-: %s" % first["metadata"]["name"])
        expect(spec["username"] == "system:bootstrap:" + TOKEN_ID, "CSR created as %s" % spec["username"])
        import base64
        req = base64.b64decode(spec["request"])
        subj = openssl("req", "-noout", "-subject", "-nameopt", "RFC2253", data=req).decode()
        expect("CN=system:node:testnode" in subj and "O=system:nodes" in subj, "CSR subject %s" % subj)
        expect(openssl("req", "-noout", "-pubkey", data=req) == pending_pub,
               "the CSR reuses the key kept in kubelet-client.key.tmp")
        # Approved by the fake's approver; signed here, valid for 20 s (notBefore backdated 5 minutes like the
        # real signer, so client-go's 70-90 % deadline has passed: the certificate is rotated at once).
        fake.wait_for(CSR, first["metadata"]["name"], None,
                      lambda o: any(c["type"] == "Approved" for c in o.get("status", {}).get("conditions", [])), 10)
        signed = fake.sign_csr(first["metadata"]["name"], seconds=20)
        fake.auto_sign = True  # the rotation's CSR is approved and signed (a year) by the fake
        first_pem = base64.b64decode(signed["status"]["certificate"])
        _, first_expiry = cert_dates(first_pem)

        node = fake.wait_for("nodes", "testnode", None, lambda o: o is not None, 30)
        # (The fake logs a request after answering it: wait for the entry.)
        creates = n.wait(lambda: fake.requests(method="POST", resource="nodes"), 10, "the node's POST in the log")
        expect(creates and creates[0]["user"] == "system:node:testnode", "node registered as %s" %
               [c["user"] for c in creates])
        expect("system:nodes" in creates[0]["groups"], "groups %s" % creates[0]["groups"])
        print("node %s registered with the bootstrapped credentials" % node["metadata"]["name"], flush=True)

        current = os.path.join(pki, "kubelet-client-current.pem")
        expect(os.path.islink(current), "%s is a symlink" % current)
        target = os.path.realpath(current)
        expect(re.match(r"kubelet-client-\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d\.pem$", os.path.basename(target)),
               "target %s" % target)
        expect(stat.S_IMODE(os.stat(target).st_mode) == 0o600, "cert+key file mode")
        expect(stat.S_IMODE(os.stat(kubeconfig).st_mode) == 0o600, "kubeconfig mode")
        with open(kubeconfig) as f:
            kc_text = f.read()
        expect(current in kc_text and "certificate-authority-data" in kc_text and fake.url in kc_text,
               "kubeconfig written: %s" % kc_text)
        expect(not os.path.exists(key_tmp), "key.tmp removed once the certificate was written")

        # Rotation: a second client CSR, created with the node's own credentials, and the files follow it.
        second = n.wait(lambda: [c for c in csrs(fake, "kubernetes.io/kube-apiserver-client-kubelet")
                                 if c["metadata"]["name"] != first["metadata"]["name"] and
                                 c.get("status", {}).get("certificate")], 30, "the rotation's CSR, issued")[0]
        expect(second["spec"]["username"] == "system:node:testnode", "rotation CSR as %s" %
               second["spec"]["username"])
        # Compared by public key: the fake's approver may sign a CSR twice (two controller runs racing), the key of
        # each CSR is its own.
        second_pub = openssl("req", "-noout", "-pubkey", data=base64.b64decode(second["spec"]["request"]))

        def current_is_second():
            with open(current, "rb") as f:
                return openssl("x509", "-noout", "-pubkey", data=f.read()) == second_pub
        n.wait(current_is_second, 30, "kubelet-client-current.pem to hold the rotated certificate")
        n.wait(lambda: "uses the new client certificate" in n.log(), 10, "the API client to switch")
        # Every client follows the rotation at once: the watches are re-established and events are written with
        # the new certificate (a pod whose image may not be pulled gives events).
        serial = openssl("x509", "-noout", "-serial", data=base64.b64decode(second["status"]["certificate"]))
        serial = serial.decode().strip().split("=", 1)[1].upper()
        n.wait(lambda: [r for r in fake.requests(method="GET") if r.get("watch") and r["resource"] == "pods" and
                        (r.get("cert_serial") or "").upper() == serial], 30, "the pods watch with the new certificate")
        fake.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "noimage", "namespace": "default"},
                     "spec": {"nodeName": "testnode", "containers": [{"name": "c", "image": "example.invalid/none:1",
                                                                      "imagePullPolicy": "Never"}]}})
        n.wait(lambda: [r for r in fake.requests(method="POST", resource="events")
                        if (r.get("cert_serial") or "").upper() == serial], 60, "an Event written with the new "
               "certificate")
        print("watch and events use the rotated certificate (serial %s)" % serial, flush=True)

        # After the first certificate expired, the Lease is still renewed (new connections use the new one).
        while time.time() < first_expiry + 1:
            time.sleep(0.5)
        t0 = time.time()
        renewed = n.wait(lambda: [r for r in fake.requests(method="PUT", resource="leases")
                                  if r["time"] > t0 and r["status"] == 200], 30,
                         "a Lease renewal after the first certificate expired")
        expect(renewed[0]["user"] == "system:node:testnode", "renewed as %s" % renewed[0]["user"])
        tls_errors = [r for r in fake.requests(method="TLS") if r["time"] > t0]
        expect(not tls_errors, "TLS handshakes failed after the rotation: %s" % tls_errors)

        # 3. serverTLSBootstrap: approve and sign the kubelet-serving CSR; :10250 then serves that certificate.
        serving = n.wait(lambda: csrs(fake, "kubernetes.io/kubelet-serving"), 30, "the serving CSR")[0]
        expect(serving["spec"]["usages"] == ["digital signature", "server auth"],
               "serving usages %s" % serving["spec"]["usages"])
        expect(serving["spec"]["username"] == "system:node:testnode", "serving CSR as %s" %
               serving["spec"]["username"])
        sreq = base64.b64decode(serving["spec"]["request"])
        text = openssl("req", "-noout", "-text", data=sreq).decode()
        expect("DNS:testnode" in text, "serving CSR SANs: %s" % text)
        fake.approve_csr(serving["metadata"]["name"])
        fake.sign_csr(serving["metadata"]["name"])
        serving_pub = openssl("req", "-noout", "-pubkey", data=sreq)
        n.wait(lambda: openssl("x509", "-inform", "DER", "-noout", "-pubkey", data=serving_cert_der()) == serving_pub,
               30, ":10250 to serve the certificate issued for the serving CSR")
        der = serving_cert_der()
        issuer = openssl("x509", "-inform", "DER", "-noout", "-issuer", "-subject", data=der).decode()
        expect("fake-apiserver-ca" in issuer and "system:node:testnode" in issuer, "served: %s" % issuer)
        expect(os.path.islink(os.path.join(pki, "kubelet-server-current.pem")), "kubelet-server-current.pem")
        # The read-only endpoints keep working over the new certificate.
        expect(n.http("https://127.0.0.1:10250/healthz -k") == "ok", "/healthz over the issued certificate")
        rc = n.stop()
        expect(rc == 0, "daemon exit code %s" % rc)
        expect("ERROR: AddressSanitizer" not in n.log(), "sanitizer report")
        print("PASS test-bootstrap", flush=True)
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
