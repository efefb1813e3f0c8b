"""Local Route 53 double: moto's Route 53 (in-process, so the patches in r53/ apply) behind a small
WSGI shim with real loopback health checks, request counters, optional quota/fault injection and a
/_world/ control API. See tests/world/README.md, section "Route 53 double".

  python r53_server.py --host 127.0.0.1 --port 0 --port-file FILE [--hc-scale S] [--change-delay SEC]
      [--metric-period SEC]

Env knobs (CLI flags win): R53_HC_SCALE, R53_CHANGE_DELAY, R53_METRIC_PERIOD, R53_QUOTA_RATE,
R53_QUOTA_BURST, R53_CLOUDWATCH_QUOTA_RATE, R53_CLOUDWATCH_QUOTA_BURST, R53_FAULT_ERROR_RATE,
R53_FAULT_LATENCY_MS."""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from moto.moto_server.werkzeug_app import (  # noqa: E402
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server  # noqa: E402

from r53 import control, fixes, health, metrics  # noqa: E402


def env_float(name):
    v = os.environ.get(name)
    return float(v) if v not in (None, "") else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--hc-scale", type=float, default=env_float("R53_HC_SCALE"))
    ap.add_argument("--change-delay", type=float, default=env_float("R53_CHANGE_DELAY"))
    ap.add_argument("--metric-period", type=float, default=env_float("R53_METRIC_PERIOD"),
                    help="seconds between two datapoints of a check's CloudWatch metrics (default 60 x hc-scale)")
    a = ap.parse_args()

    cfg = {"hc_scale": a.hc_scale, "change_delay": a.change_delay, "metric_period": a.metric_period}
    rate, burst = env_float("R53_QUOTA_RATE"), env_float("R53_QUOTA_BURST")
    if rate is not None:
        cfg["quota"] = {"rate": rate, "burst": burst if burst is not None else rate}
    rate, burst = env_float("R53_CLOUDWATCH_QUOTA_RATE"), env_float("R53_CLOUDWATCH_QUOTA_BURST")
    if rate is not None:
        cfg["cloudwatch_quota"] = {"rate": rate, "burst": burst if burst is not None else rate}
    err, lat = env_float("R53_FAULT_ERROR_RATE"), env_float("R53_FAULT_LATENCY_MS")
    if err or lat:
        cfg["faults"] = {"error_rate": err or 0.0, "latency_ms": lat or 0.0}
    control.configure(cfg)

    fixes.apply()
    app = control.Middleware(DomainDispatcherApplication(create_backend_app), health)
    server = make_server(a.host, a.port, app, threaded=True, request_handler=MotoRequestHandler)
    health.start()
    metrics.start()
    port = server.server_address[1]
    if a.port_file:
        with open(a.port_file + ".tmp", "w") as f:
            f.write(str(port))
        os.replace(a.port_file + ".tmp", a.port_file)
    print(f"r53 double listening on {a.host}:{port} settings={control.SETTINGS}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
