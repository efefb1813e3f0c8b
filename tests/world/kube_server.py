#!/usr/bin/env python3
"""A real Kubernetes control plane on loopback: etcd, kube-apiserver and (optionally) kube-controller-manager.

The binaries are the ones `scripts/localenv install` builds from their Go modules (tests/world/kubebuild).
This launcher only generates the cluster's PKI, picks free loopback ports, starts and supervises the
processes, and offers a small control API for tests (faults the real server gives for free):

  GET  /_world/status                     pids, ports, start-up figures
  GET  /_world/stats                      {"requests": {"PATCH failoverrecords/status": 3, ...}} since the
                                          last reset or API server (re)start, from its apiserver_request_total
  POST /_world/stats/reset
  POST /_world/apiserver/stop|start|restart|pause|resume   (pause = SIGSTOP: connections hang, nothing answers)
  POST /_world/etcd/compact               compact etcd at its current revision (older resourceVersions → 410)
  POST /_world/serviceaccount-kubeconfig  {"namespace": NS, "name": SA, "seconds": N} → kubeconfig text with
                                          a bound token minted by the TokenRequest API (RBAC of that SA only)

It writes DIR/kubeconfig (cluster-admin via a client certificate) and, once /readyz answers, the control
port to --port-file. Children die with the launcher (PR_SET_PDEATHSIG), so SIGKILL of the launcher leaves
nothing behind.
"""
from __future__ import annotations

import argparse
import base64
import ctypes
import datetime
import ipaddress
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

SA_ISSUER = "https://kubernetes.default.svc.cluster.local"
SERVICE_CIDR = "10.96.0.0/16"
# The controllers a test needs: namespace deletion, garbage collection, service-account tokens and the
# root CA ConfigMap. No kubelet runs here, so nothing that schedules or runs Pods is started.
KCM_CONTROLLERS = (
    "namespace-controller,garbage-collector-controller,serviceaccount-controller,"
    "serviceaccount-token-controller,root-ca-certificate-publisher-controller,"
    "clusterrole-aggregation-controller,ttl-after-finished-controller"
)


def log(msg: str) -> None:
    print(f"kube_server: {msg}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    os.setpgrp()


# --- PKI -------------------------------------------------------------------------------------------------
def _write(path: str, data: bytes, mode: int = 0o600) -> None:
    with open(path + ".tmp", "wb") as f:
        f.write(data)
    os.chmod(path + ".tmp", mode)
    os.replace(path + ".tmp", path)


def _pem_key(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _cert(subject: x509.Name, pub, issuer: x509.Name, signer, *, ca=False, sans=None, client=False):
    now = datetime.datetime.now(datetime.timezone.utc)
    b = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(pub)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=3650 if ca else 365))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        b = b.add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True
        )
    else:
        b = b.add_extension(
            x509.KeyUsage(True, False, True, False, False, False, False, False, False), critical=True
        )
        usage = x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH if client else x509.oid.ExtendedKeyUsageOID.SERVER_AUTH
        b = b.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return b.sign(signer, hashes.SHA256())


def make_pki(pki: str) -> None:
    """CA, API server serving cert, client certs for the admin and the controller manager, SA key pair.
    Kept across restarts of the same world (tests restart the API server against the same etcd)."""
    if os.path.exists(os.path.join(pki, "done")):
        return
    os.makedirs(pki, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "route53-failover-operator-test-ca")])
    ca = _cert(ca_name, ca_key.public_key(), ca_name, ca_key, ca=True)
    _write(f"{pki}/ca.key", _pem_key(ca_key))
    _write(f"{pki}/ca.crt", ca.public_bytes(serialization.Encoding.PEM), 0o644)

    def leaf(name: str, cn: str, orgs=(), sans=None, client=False):
        key = ec.generate_private_key(ec.SECP256R1())
        attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs]
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
        cert = _cert(x509.Name(attrs), key.public_key(), ca_name, ca_key, sans=sans, client=client)
        _write(f"{pki}/{name}.key", _pem_key(key))
        _write(f"{pki}/{name}.crt", cert.public_bytes(serialization.Encoding.PEM), 0o644)

    dns = ["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
           "kubernetes.default.svc.cluster.local"]
    sans = [x509.DNSName(d) for d in dns] + [
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("10.96.0.1")),
    ]
    leaf("apiserver", "kube-apiserver", sans=sans)
    leaf("admin", "kubernetes-admin", orgs=("system:masters",), client=True)
    leaf("controller-manager", "system:kube-controller-manager", client=True)
    sa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _write(f"{pki}/sa.key", _pem_key(sa))
    _write(
        f"{pki}/sa.pub",
        sa.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
        0o644,
    )
    _write(f"{pki}/done", b"")


def b64file(path: str) -> str:
    with open(path, "rb") as f:
        return base64.b64encode(f.read()).decode()


def kubeconfig(server: str, ca: str, user: dict, name: str) -> str:
    cfg = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "local", "cluster": {"server": server, "certificate-authority-data": b64file(ca)}}],
        "users": [{"name": name, "user": user}],
        "contexts": [{"name": name, "context": {"cluster": "local", "user": name, "namespace": "default"}}],
        "current-context": name,
    }
    return json.dumps(cfg, indent=2) + "\n"


# --- the control plane -----------------------------------------------------------------------------------
class ControlPlane:
    def __init__(self, args):
        self.args = args
        self.dir = os.path.abspath(args.dir)
        self.pki = os.path.join(self.dir, "pki")
        self.bin = os.path.abspath(args.bin)
        self.procs: dict[str, subprocess.Popen] = {}
        self.figures: dict[str, float] = {}
        self.lock = threading.Lock()
        self.baseline: dict[str, float] = {}
        make_pki(self.pki)
        self.etcd_port = free_port()
        self.etcd_peer = free_port()
        self.api_port = args.apiserver_port or free_port()
        self.server = f"https://127.0.0.1:{self.api_port}"
        self.admin_kubeconfig = os.path.join(self.dir, "kubeconfig")
        _write(
            self.admin_kubeconfig,
            kubeconfig(self.server, f"{self.pki}/ca.crt",
                       {"client-certificate-data": b64file(f"{self.pki}/admin.crt"),
                        "client-key-data": b64file(f"{self.pki}/admin.key")}, "admin").encode(),
        )
        _write(
            os.path.join(self.dir, "controller-manager.kubeconfig"),
            kubeconfig(self.server, f"{self.pki}/ca.crt",
                       {"client-certificate-data": b64file(f"{self.pki}/controller-manager.crt"),
                        "client-key-data": b64file(f"{self.pki}/controller-manager.key")},
                       "system:kube-controller-manager").encode(),
        )
        self.ctx = ssl.create_default_context(cafile=f"{self.pki}/ca.crt")
        self.ctx.load_cert_chain(f"{self.pki}/admin.crt", f"{self.pki}/admin.key")

    # processes
    def _spawn(self, name: str, argv: list[str]) -> None:
        logf = open(os.path.join(self.dir, f"{name}.log"), "ab")
        self.procs[name] = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf, preexec_fn=_die_with_parent
        )

    def _stop(self, name: str) -> None:
        p = self.procs.pop(name, None)
        if p and p.poll() is None:
            try:
                p.send_signal(signal.SIGCONT)
                p.terminate()
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def start_etcd(self) -> None:
        url = f"http://127.0.0.1:{self.etcd_port}"
        peer = f"http://127.0.0.1:{self.etcd_peer}"
        self._spawn("etcd", [
            f"{self.bin}/etcd", "--name", "world", "--data-dir", os.path.join(self.dir, "etcd"),
            "--listen-client-urls", url, "--advertise-client-urls", url,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
            "--initial-cluster", f"world={peer}", "--unsafe-no-fsync",
            "--quota-backend-bytes", str(2 * 1024**3), "--log-level", "warn",
        ])
        self._wait(lambda: self._etcd("/v3/maintenance/status", {}) is not None, "etcd", 60)

    def apiserver_argv(self) -> list[str]:
        p = self.pki
        return [
            f"{self.bin}/kube-apiserver",
            "--etcd-servers", f"http://127.0.0.1:{self.etcd_port}",
            "--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1",
            "--secure-port", str(self.api_port),
            "--cert-dir", os.path.join(self.dir, "apiserver-certs"),
            "--tls-cert-file", f"{p}/apiserver.crt", "--tls-private-key-file", f"{p}/apiserver.key",
            "--client-ca-file", f"{p}/ca.crt",
            "--service-account-issuer", SA_ISSUER,
            "--service-account-key-file", f"{p}/sa.pub",
            "--service-account-signing-key-file", f"{p}/sa.key",
            "--service-cluster-ip-range", SERVICE_CIDR,
            "--authorization-mode", "RBAC",
            # The default admission chain of 1.35 (ValidatingAdmissionPolicy, PodSecurity, ServiceAccount,
            # ResourceQuota, ...) plus NodeRestriction as kubeadm sets it.
            "--enable-admission-plugins", "NodeRestriction",
            "--allow-privileged=false",
            "--profiling=false",
            "--v", "1",
        ] + self.args.apiserver_arg

    def start_apiserver(self) -> None:
        t0 = time.monotonic()
        self._spawn("apiserver", self.apiserver_argv())
        self._wait(self._ready, "kube-apiserver /readyz", 120)
        self.baseline = {}  # a new process counts from zero
        self.figures["apiserver_ready_seconds"] = round(time.monotonic() - t0, 2)
        log(f"kube-apiserver ready in {self.figures['apiserver_ready_seconds']} s on {self.server}")

    def start_controller_manager(self) -> None:
        p = self.pki
        port = free_port()
        self._spawn("controller-manager", [
            f"{self.bin}/kube-controller-manager",
            "--kubeconfig", os.path.join(self.dir, "controller-manager.kubeconfig"),
            "--authentication-kubeconfig", os.path.join(self.dir, "controller-manager.kubeconfig"),
            "--authorization-kubeconfig", os.path.join(self.dir, "controller-manager.kubeconfig"),
            "--bind-address", "127.0.0.1", "--secure-port", str(port),
            "--service-account-private-key-file", f"{p}/sa.key", "--root-ca-file", f"{p}/ca.crt",
            "--use-service-account-credentials=true", "--leader-elect=false",
            "--controllers", KCM_CONTROLLERS, "--v", "1",
        ])
        insecure = ssl.create_default_context()
        insecure.check_hostname = False
        insecure.verify_mode = ssl.CERT_NONE  # its own self-signed serving certificate

        def healthy() -> bool:
            with urllib.request.urlopen(f"https://127.0.0.1:{port}/healthz", context=insecure, timeout=2) as r:
                return r.status == 200

        self._wait(healthy, "kube-controller-manager /healthz", 60)

    def _wait(self, probe, what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, p in self.procs.items():
                if p.poll() is not None:
                    tail = open(os.path.join(self.dir, f"{name}.log"), "rb").read()[-4000:].decode(errors="replace")
                    raise SystemExit(f"{name} exited ({p.returncode}):\n{tail}")
            try:
                if probe():
                    return
            except Exception:
                pass
            time.sleep(0.1)
        raise SystemExit(f"{what} not ready within {timeout}s")

    # API access as admin
    def api(self, method: str, path: str, body=None, timeout=10):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.server + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, context=self.ctx, timeout=timeout) as r:
            return r.status, r.read()

    def _ready(self) -> bool:
        status, _ = self.api("GET", "/readyz", timeout=2)
        return status == 200

    def _etcd(self, path: str, body: dict):
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.etcd_port}{path}", data=json.dumps(body).encode(), method="POST"
        )
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return json.loads(r.read())
        except OSError:
            return None

    def compact(self) -> int:
        rng = self._etcd("/v3/kv/range", {"key": base64.b64encode(b"/").decode(), "limit": 1})
        rev = int(rng["header"]["revision"])
        self._etcd("/v3/kv/compaction", {"revision": rev, "physical": True})
        return rev

    def apply_crds(self) -> None:
        for crd in self.args.crd:
            subprocess.run(
                [self.args.kubectl, "--kubeconfig", self.admin_kubeconfig, "apply", "--server-side",
                 "--field-manager", "localenv", "-f", crd],
                check=True, stdout=subprocess.DEVNULL,
            )
            subprocess.run(
                [self.args.kubectl, "--kubeconfig", self.admin_kubeconfig, "wait", "--for=condition=Established",
                 "--timeout=60s", "-f", crd],
                check=True, stdout=subprocess.DEVNULL,
            )

    def sa_kubeconfig(self, namespace: str, name: str, seconds: int) -> str:
        status, body = self.api(
            "POST", f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token",
            {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
             "spec": {"expirationSeconds": seconds}},
        )
        token = json.loads(body)["status"]["token"]
        return kubeconfig(self.server, f"{self.pki}/ca.crt", {"token": token},
                          f"system:serviceaccount:{namespace}:{name}")

    def request_counts(self) -> dict[str, float]:
        _, body = self.api("GET", "/metrics", timeout=10)
        counts: dict[str, float] = {}
        for line in body.decode().splitlines():
            if not line.startswith("apiserver_request_total{"):
                continue
            labels_text, value = line[len("apiserver_request_total{"):].rsplit("} ", 1)
            labels = dict(
                part.split("=", 1) for part in labels_text.split('",') if "=" in part
            )
            labels = {k: v.strip('"') for k, v in labels.items()}
            key = f"{labels.get('verb', '')} {labels.get('resource', '')}"
            if labels.get("subresource"):
                key += "/" + labels["subresource"]
            counts[key] = counts.get(key, 0) + float(value)
        return counts

    def stats(self) -> dict:
        now = self.request_counts()
        delta = {k: int(v - self.baseline.get(k, 0)) for k, v in now.items()}
        return {"requests": {k: v for k, v in sorted(delta.items()) if v}}

    def shutdown(self) -> None:
        for name in ("controller-manager", "apiserver", "etcd"):
            self._stop(name)


def serve_control(cp: ControlPlane, host: str, port: int, port_file: str) -> None:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt, *a):
            pass

        def _send(self, code: int, obj, ctype="application/json"):
            data = obj.encode() if isinstance(obj, str) else json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path == "/_world/status":
                self._send(200, {
                    "server": cp.server, "kubeconfig": cp.admin_kubeconfig, "figures": cp.figures,
                    "pids": {n: p.pid for n, p in cp.procs.items() if p.poll() is None},
                    "etcd": f"http://127.0.0.1:{cp.etcd_port}",
                })
            elif self.path == "/_world/stats":
                self._send(200, cp.stats())
            else:
                self._send(404, {"error": self.path})

        def do_POST(self):
            n = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(n) or b"{}") if n else {}
            try:
                with cp.lock:
                    self._post(body)
            except Exception as e:  # reported to the test, never swallowed
                self._send(500, {"error": repr(e)})

        def _post(self, body):
            p = self.path
            if p == "/_world/stats/reset":
                cp.baseline = cp.request_counts()
                self._send(200, {})
            elif p == "/_world/apiserver/stop":
                cp._stop("apiserver")
                self._send(200, {})
            elif p == "/_world/apiserver/start":
                if "apiserver" not in cp.procs:
                    cp.start_apiserver()
                self._send(200, cp.figures)
            elif p == "/_world/apiserver/restart":
                cp._stop("apiserver")
                cp.start_apiserver()
                self._send(200, cp.figures)
            elif p == "/_world/apiserver/pause":
                cp.procs["apiserver"].send_signal(signal.SIGSTOP)
                self._send(200, {})
            elif p == "/_world/apiserver/resume":
                cp.procs["apiserver"].send_signal(signal.SIGCONT)
                self._send(200, {})
            elif p == "/_world/etcd/compact":
                self._send(200, {"revision": cp.compact()})
            elif p == "/_world/serviceaccount-kubeconfig":
                text = cp.sa_kubeconfig(body["namespace"], body["name"], int(body.get("seconds", 3600)))
                self._send(200, text, "application/yaml")
            else:
                self._send(404, {"error": p})

    # One thread on purpose: PR_SET_PDEATHSIG fires when the *thread* that forked a child exits, so
    # every process (re)started by a control call must be forked by this long-lived main thread.
    httpd = HTTPServer((host, port), Handler)
    _write(port_file, str(httpd.server_address[1]).encode(), 0o644)
    httpd.serve_forever()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="control API port (0 = any)")
    ap.add_argument("--port-file", required=True, help="written with the control port once /readyz answers")
    ap.add_argument("--dir", required=True, help="state: PKI, etcd data, logs, kubeconfig")
    ap.add_argument("--bin", required=True, help="folder with etcd, kube-apiserver, kube-controller-manager")
    ap.add_argument("--kubectl", default="kubectl")
    ap.add_argument("--crd", action="append", default=[], help="apply and wait Established (repeatable)")
    ap.add_argument("--controller-manager", action="store_true", help="also run kube-controller-manager")
    ap.add_argument("--apiserver-port", type=int, default=0)
    ap.add_argument("--apiserver-arg", action="append", default=[], help="extra kube-apiserver flag")
    args = ap.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    cp = ControlPlane(args)

    def bye(*_):
        cp.shutdown()
        sys.exit(0)

    signal.signal(signal.SIGTERM, bye)
    signal.signal(signal.SIGINT, bye)
    t0 = time.monotonic()
    try:
        cp.start_etcd()
        cp.figures["etcd_ready_seconds"] = round(time.monotonic() - t0, 2)
        cp.start_apiserver()
        if args.controller_manager:
            cp.start_controller_manager()
        cp.apply_crds()
    except BaseException:
        cp.shutdown()
        raise
    cp.figures["up_seconds"] = round(time.monotonic() - t0, 2)
    log(f"control plane up in {cp.figures['up_seconds']} s: {json.dumps(cp.figures)}")
    serve_control(cp, args.host, args.port, args.port_file)


if __name__ == "__main__":
    main()
