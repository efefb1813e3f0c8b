"""Benchmark driver for scripts/bench: starts its own Route 53 double and real Kubernetes control plane
(kube-apiserver + etcd), a loopback backend and the operator (as the chart's ServiceAccount), creates N
FailoverRecords, and prints what it measured."""
import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV_PY = os.path.join(ROOT, ".localenv", "venv", "bin", "python")
KUBECTL = os.path.join(ROOT, ".localenv", "bin", "kubectl")


def start(script, work, *args):
    port_file = os.path.join(work, script + ".port")
    log = open(os.path.join(work, script + ".log"), "w")
    p = subprocess.Popen([VENV_PY, os.path.join(ROOT, "tests", "world", script), "--host", "127.0.0.1",
                          "--port", "0", "--port-file", port_file, *args], stdout=log, stderr=log)
    for _ in range(600):
        if os.path.exists(port_file):
            return p, int(open(port_file).read())
        if p.poll() is not None:
            sys.exit(f"{script} exited: see {log.name}")
        time.sleep(0.1)
    sys.exit(f"{script} did not start")


def http(port, path, body=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method="POST" if body is not None else "GET",
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read() or b"null")


def kubectl(kubeconfig, *args, stdin=None):
    return subprocess.run([KUBECTL, *args], input=stdin, capture_output=True, text=True, check=True,
                          env={**os.environ, "KUBECONFIG": kubeconfig}).stdout


def rss_kib(pid, field):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


CLOUDWATCH = ("GetMetricData", "ListMetrics", "PutMetricData")
# The double's health-check time scale (--hc-scale): a 10 s request interval takes 0.5 s, a metric minute 3 s.
HC_SCALE = 0.05


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def metric(port, name):
    """The value of an unlabelled metric on the operator's admin endpoint, or None."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            for line in r.read().decode().splitlines():
                if line.startswith(name + " "):
                    return float(line.split()[1])
    except OSError:
        return None
    return None


def cpu_seconds(pid):
    """User + system CPU time of a process."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def shown_args(argv):
    """The command line as scripts/bench takes it (without the wrapper's --binary, or --out)."""
    out, skip = [], False
    for x in argv:
        if skip:
            skip = False
        elif x in ("--binary", "--out"):
            skip = True
        elif not x.startswith(("--binary=", "--out=")):
            out.append(x)
    return out


def revision():
    """The commit the operator was built from, "+changes" when its sources differ from it."""
    def git(*args):
        return subprocess.run(["git", "-C", ROOT, *args], capture_output=True, text=True).stdout.strip()
    rev = git("rev-parse", "--short", "HEAD") or "unknown"
    return rev + ("+changes" if git("status", "--porcelain", "--", "src", "Cargo.toml", "Cargo.lock") else "")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--records", type=int, default=50)
    ap.add_argument("--quota", type=float, default=5.0, help="emulated account quota, requests/s (0: none)")
    ap.add_argument("--operator-rate", type=float, default=4.0)
    ap.add_argument("--resync", type=float, default=60.0, help="operator resync interval, seconds")
    ap.add_argument("--steady", type=float, default=None,
                    help="seconds of steady state to observe (default: 1.5 resync intervals)")
    ap.add_argument("--checks", choices=("owned", "shared"), default="owned",
                    help="owned: one health check of its own per record (CreateHealthCheck-bound); "
                         "shared: every primary uses one existing check (existingHealthCheckId), to measure "
                         "reads, writes, restart and memory at thousands of records without the create floor")
    ap.add_argument("--out", default=None,
                    help="also write the figures as JSON to this file (bench/results/*.json feed the README's table: "
                         "scripts/bench-table)")
    ap.add_argument("--health-poll", type=float, default=30.0,
                    help="operator --health-poll-interval, seconds (the status lag after a flip is bounded by it "
                         "plus CloudWatch's one-minute period, 3 s in this scaled world)")
    a = ap.parse_args()
    if a.steady is None:
        a.steady = 1.5 * a.resync

    work = tempfile.mkdtemp(prefix="bench-")
    # Every figure printed is also kept here, for --out.
    release = "/release/" in a.binary
    fig = {"command": " ".join(["scripts/bench", *shown_args(sys.argv[1:])] + (["--release"] if release else [])),
           "date": time.strftime("%Y-%m-%d", time.gmtime()), "records": a.records, "checks": a.checks,
           "quota": a.quota, "operator_rate": a.operator_rate, "resync_s": a.resync, "health_poll_s": a.health_poll,
           "build": "release" if release else "debug", "revision": revision(),
           "load_at_start": os.getloadavg()[0]}
    if a.checks == "shared":
        print("checks                          one existing check shared by every primary: the double probes 1 check, "
              "not one per record (the create floor and the probing cost of N checks are not measured)")
    procs = []
    stopping = []
    try:
        r53, r53_port = start("r53_server.py", work, "--hc-scale", str(HC_SCALE), "--change-delay", "1")
        procs.append(r53)
        cluster = os.path.join(work, "cluster")
        kubeconfig = os.path.join(cluster, "kubeconfig")
        kube, kube_port = start("kube_server.py", work, "--dir", cluster,
                                "--bin", os.path.join(ROOT, ".localenv", "kube-bin"), "--kubectl", KUBECTL,
                                "--crd", os.path.join(ROOT, "crds", "failoverrecord.yaml"))
        procs.append(kube)
        print(f"control plane                   {http(kube_port, '/_world/status')['figures']}")
        # The operator runs as the chart's ServiceAccount with the chart's RBAC.
        import yaml
        rendered = os.path.join(ROOT, "deploy", "rendered", "route53-failover-operator.yaml")
        rbac = [d for d in yaml.safe_load_all(open(rendered)) if d and d["kind"] in
                ("ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")]
        kubectl(kubeconfig, "create", "namespace", "route53-failover-operator")
        kubectl(kubeconfig, "apply", "--server-side", "-f", "-", stdin=yaml.safe_dump_all(rbac))
        sa_kubeconfig = os.path.join(work, "operator.kubeconfig")
        with open(sa_kubeconfig, "w") as f:
            req = urllib.request.Request(
                f"http://127.0.0.1:{kube_port}/_world/serviceaccount-kubeconfig", method="POST",
                data=json.dumps({"namespace": "route53-failover-operator",
                                 "name": "rfo-route53-failover-operator", "seconds": 86400}).encode(),
                headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=30) as r:
                f.write(r.read().decode())
        backend, backend_port = start("backend.py", work)
        procs.append(backend)
        import boto3
        client = boto3.client("route53", endpoint_url=f"http://127.0.0.1:{r53_port}", region_name="us-east-1",
                              aws_access_key_id="testing", aws_secret_access_key="testing")
        client.create_hosted_zone(Name="bench.test", CallerReference="bench")
        # Health checks point at a public address the double routes to the loopback backend.
        http(r53_port, "/_world/routes", {"routes": {"52.94.76.10": "127.0.0.1"}})
        if a.quota > 0:
            http(r53_port, "/_world/config", {"quota": {"rate": a.quota, "burst": a.quota}})
        env = {**os.environ, "KUBECONFIG": sa_kubeconfig, "AWS_ENDPOINT_URL_ROUTE_53": f"http://127.0.0.1:{r53_port}",
               "AWS_ENDPOINT_URL_CLOUDWATCH": f"http://127.0.0.1:{r53_port}",
               "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1",
               "AWS_EC2_METADATA_DISABLED": "true",
               # As the image sets it (Dockerfile): glibc's malloc with at most two arenas.
               "MALLOC_ARENA_MAX": os.environ.get("MALLOC_ARENA_MAX", "2")}
        admin_port = free_port()
        op_log = open(os.path.join(work, "operator.log"), "w")

        def start_operator():
            return subprocess.Popen([a.binary, "run", "--admin-address", f"127.0.0.1:{admin_port}",
                                     "--no-leader-election",
                                     "--owner-id", "bench", "--health-poll-interval", f"{a.health_poll:g}s",
                                     # The double publishes HealthCheckStatus once per scaled minute.
                                     "--health-metric-period", f"{60 * HC_SCALE:g}s", "--resync-interval", f"{a.resync:g}s",
                                     "--change-poll-interval", "1s", "--route53-rate", str(a.operator_rate),
                                     "--route53-burst", str(max(a.operator_rate, 1))],
                                    env=env, stdout=op_log, stderr=op_log)

        op = start_operator()
        procs.append(op)
        time.sleep(1)
        shared = None
        if a.checks == "shared":
            shared = client.create_health_check(CallerReference="bench-shared", HealthCheckConfig={
                "Type": "TCP", "IPAddress": "52.94.76.10", "Port": backend_port, "RequestInterval": 10,
                "FailureThreshold": 1})["HealthCheck"]["Id"]
        http(r53_port, "/_world/counters/reset", {})
        http(kube_port, "/_world/stats/reset", {})
        docs = []
        for i in range(a.records):
            check = (f"existingHealthCheckId: {shared}" if shared else
                     f"healthCheck: {{type: TCP, ipAddress: 52.94.76.10, port: {backend_port}, requestInterval: 10, failureThreshold: 1}}")
            docs.append(f"""apiVersion: route53.failover.io/v1alpha1
kind: FailoverRecord
metadata: {{name: r{i}, namespace: default}}
spec:
  hostedZone: {{name: bench.test}}
  name: r{i}.bench.test
  type: A
  primary:
    values: ["192.0.2.{i % 250 + 1}"]
    {check}
  secondary:
    values: ["198.51.100.{i % 250 + 1}"]
""")
        # One watch on the objects (not a listing per poll: at thousands of objects that listing would
        # load the API server and this machine more than the operator does): the first status of every
        # object (wall clock, to compare with the double's commit times of the records), and each
        # object's latest Ready status and activeRole.
        first_status, latest = {}, {}

        def read_watch():
            # The API server ends a watch after a while: kubectl then exits, and the watch is started again.
            while not stopping:
                watch = subprocess.Popen([KUBECTL, "get", "frec", "--watch", "-o",
                                          'jsonpath={.metadata.name}|{.status.observedGeneration}|'
                                          '{.status.conditions[?(@.type=="Ready")].status}|{.status.activeRole}{"\\n"}'],
                                         stdout=subprocess.PIPE, text=True,
                                         env={**os.environ, "KUBECONFIG": kubeconfig})
                procs.append(watch)
                for line in watch.stdout:
                    parts = line.rstrip("\n").split("|")
                    if len(parts) != 4:
                        continue
                    name, generation, ready, role = parts
                    if generation and name not in first_status:
                        first_status[name] = time.time()
                    latest[name] = (ready, role)
                watch.wait()
                procs.remove(watch)

        import threading
        threading.Thread(target=read_watch, daemon=True).start()
        t0 = time.monotonic()
        for at in range(0, len(docs), 500):
            kubectl(kubeconfig, "apply", "--server-side", "-f", "-", stdin="---\n".join(docs[at:at + 500]))

        def all_ready():
            return sum(1 for ready, _ in list(latest.values()) if ready == "True") == a.records

        ready_at = None
        while time.monotonic() - t0 < 3600:
            if all_ready():
                ready_at = time.monotonic() - t0
                break
            time.sleep(2)
        counters = http(r53_port, "/_world/counters")
        stats = http(kube_port, "/_world/stats")
        committed = {}
        for e in http(r53_port, "/_world/answers"):
            committed.setdefault(e["name"].rstrip(".").split(".")[0], e["time"])
        lags = sorted(first_status[k] - t for k, t in committed.items() if k in first_status)
        # Let the last changes settle and the first resync after creation begin, then observe.
        time.sleep(min(a.resync, 5))
        http(r53_port, "/_world/counters/reset", {})
        http(kube_port, "/_world/stats/reset", {})
        cpu0 = cpu_seconds(op.pid)
        time.sleep(a.steady)
        cpu1 = cpu_seconds(op.pid)
        steady = http(r53_port, "/_world/counters")
        steady_k8s = http(kube_port, "/_world/stats")
        n = a.records
        reqs = counters["requests"]
        total = sum(reqs.values())
        writes = sum(v for k, v in steady["requests"].items()
                     if k in ("ChangeResourceRecordSets", "CreateHealthCheck", "UpdateHealthCheck", "DeleteHealthCheck"))
        patches = sum(v for k, v in stats["requests"].items() if k.split(" ")[0] in ("PATCH", "APPLY") and k.endswith("failoverrecords/status"))
        steady_patches = sum(v for k, v in steady_k8s["requests"].items()
                             if k.split(" ")[0] in ("PATCH", "APPLY") and k.endswith("failoverrecords/status"))
        throttled = sum(counters.get('throttled', {}).values())
        # The operator's own budget bounds the time to Ready too: its Route 53 requests at --operator-rate.
        r53_total = sum(v for k, v in reqs.items() if k not in CLOUDWATCH)
        budget_floor = r53_total / a.operator_rate
        fig.update(ready_s=ready_at, requests=reqs, requests_per_record=total / n, throttled=throttled,
                   status_patches_per_record=patches / n, route53_requests=r53_total, budget_floor_s=budget_floor)
        print(f"records                         {n}")
        print(f"emulated quota                  {a.quota or 'none'} req/s; operator budget {a.operator_rate} req/s")
        print(f"time to all Ready               {ready_at:.1f} s" if ready_at else "time to all Ready               TIMEOUT")
        if lags:
            def pct(q):
                return lags[min(len(lags) - 1, int(q * len(lags)))]
            fig["first_status"] = {"p50_s": pct(0.5), "p95_s": pct(0.95), "max_s": lags[-1], "objects": len(lags)}
            print(f"records written → first status  p50 {pct(0.5):.1f} s, p95 {pct(0.95):.1f} s, max {lags[-1]:.1f} s "
                  f"({len(lags)} objects; a watch sees the status, the double's commit time of the records)")
        print(f"operator budget floor           {budget_floor:.1f} s ({r53_total} Route 53 requests "
              f"at {a.operator_rate:g}/s)")
        print(f"Route 53 requests to Ready      {total} ({total / n:.2f} per record)")
        for k in sorted(reqs):
            print(f"  {k:<30}{reqs[k]:>6}  ({reqs[k] / n:.2f}/record)")
        print(f"throttled by the quota          {throttled}")
        print(f"status patches to Ready         {patches} ({patches / n:.2f} per record)")
        # CloudWatch (health) requests are counted by the same double: they are not Route 53 reads.
        steady_reads = sum(v for k, v in steady["requests"].items() if k not in CLOUDWATCH) - writes
        resyncs = a.steady / a.resync
        reads_per_resync = steady_reads / n / resyncs
        print(f"steady state ({a.steady:.0f} s, resync {a.resync:g} s): Route 53 writes {writes}, Route 53 reads {steady_reads} "
              f"({reads_per_resync:.4f} per record per resync), status patches {steady_patches}")
        for k in sorted(steady["requests"]):
            print(f"  {k:<30}{steady['requests'][k]:>6}")
        # Health reads: GetMetricData calls per poll, per 500 checks read (the goal: at most 1).
        checks = 1 if shared else n
        polls = a.steady / a.health_poll
        gmd = steady["requests"].get("GetMetricData", 0)
        per500 = gmd / polls / max(1, -(-checks // 500))
        print(f"health reads                    GetMetricData {gmd} in {a.steady:.0f} s for {checks} checks: "
              f"{per500:.2f} calls per poll per 500 checks (goal <= 1)")
        cpu_resync = (cpu1 - cpu0) / resyncs
        print(f"CPU per resync                  {cpu_resync:.2f} s ({cpu_resync / n * 1000:.2f} ms per record)")
        rss, peak = rss_kib(op.pid, 'VmRSS') / 1024, rss_kib(op.pid, 'VmHWM') / 1024
        print(f"operator memory                 RSS {rss:.1f} MiB, peak {peak:.1f} MiB")
        fig["steady"] = {"seconds": a.steady, "writes": writes, "reads": steady_reads,
                         "reads_per_record_per_resync": reads_per_resync, "status_patches": steady_patches,
                         "requests": steady["requests"], "health_reads_per_poll_per_500_checks": per500}
        fig.update(cpu_per_resync_s=cpu_resync, rss_mib=rss, peak_rss_mib=peak)
        # Restart with every record in sync: time until each object has been reconciled once.
        op.terminate()
        op.wait(timeout=30)
        procs.remove(op)
        http(r53_port, "/_world/counters/reset", {})
        t_restart = time.monotonic()
        op = start_operator()
        procs.append(op)
        first_pass = None
        while time.monotonic() - t_restart < 1800:
            done = metric(admin_port, "route53_failover_reconciles_total")
            if done is not None and done >= n:
                first_pass = time.monotonic() - t_restart
                break
            time.sleep(0.5)
        time.sleep(2)
        after_restart = http(r53_port, "/_world/counters")["requests"]
        r_writes = sum(v for k, v in after_restart.items()
                       if k in ("ChangeResourceRecordSets", "CreateHealthCheck", "UpdateHealthCheck",
                                "DeleteHealthCheck", "ChangeTagsForResource"))
        r_reads = sum(v for k, v in after_restart.items() if k not in CLOUDWATCH) - r_writes
        print(f"restart, first pass             {first_pass or float('nan'):.1f} s; Route 53 writes {r_writes}, "
              f"reads {r_reads} ({', '.join(f'{k} {v}' for k, v in sorted(after_restart.items()))})")
        restart_rss = rss_kib(op.pid, 'VmRSS') / 1024
        print(f"memory after the restart        RSS {restart_rss:.1f} MiB (every object reconciled once since the start)")
        fig["restart"] = {"first_pass_s": first_pass, "writes": r_writes, "reads": r_reads, "rss_mib": restart_rss}
        # Quota floor of the creates: CreateHealthCheck's bucket (burst 50, then 0.5/s), one check per record.
        floor = max(0, n - 50) / 0.5 if a.checks == "owned" else 0.0
        print(f"CreateHealthCheck quota floor   {floor:.1f} s (burst 50, then 0.5/s)")
        fig["floor_s"] = floor
        # A real health flip: every primary checks the same backend. Route 53's own flip (the double's
        # GetHealthCheckStatus) against the time the last object's status shows the secondary.
        ids = [shared] if shared else [h["Id"] for h in client.list_health_checks()["HealthChecks"]]
        backend.kill()
        backend.wait()
        t_kill = time.monotonic()
        r53_flip = status_flip = None
        while time.monotonic() - t_kill < 600 and status_flip is None:
            if r53_flip is None:
                obs = client.get_health_check_status(HealthCheckId=ids[0])["HealthCheckObservations"]
                if obs and all(not o["StatusReport"]["Status"].startswith("Success") for o in obs):
                    r53_flip = time.monotonic() - t_kill
            if sum(1 for _, role in list(latest.values()) if role == "Secondary") == a.records:
                status_flip = time.monotonic() - t_kill
            time.sleep(0.5)
        print(f"health flip                     Route 53 {r53_flip or float('nan'):.1f} s, all statuses {status_flip or float('nan'):.1f} s after the backend died "
              f"(health poll {a.health_poll:g} s)")
        # The goal: FailureThreshold (1) x RequestInterval (10 s, scaled) + 10 s.
        fig["flip"] = {"route53_s": r53_flip, "status_s": status_flip, "goal_s": 1 * 10 * HC_SCALE + 10}
        after = http(r53_port, "/_world/counters")["requests"]
        fig["load_at_end"] = os.getloadavg()[0]
        if a.out:
            os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
            with open(a.out, "w") as f:
                json.dump(fig, f, indent=1, sort_keys=True)
                f.write("\n")
            print(f"figures written to {a.out}")
        print(f"health reads after all Ready   GetMetricData {after.get('GetMetricData', 0)}, GetHealthCheckStatus {after.get('GetHealthCheckStatus', 0)} (bench's own probe included)")
    finally:
        stopping.append(True)
        for p in reversed(procs):
            p.kill()
            p.wait()


if __name__ == "__main__":
    main()
