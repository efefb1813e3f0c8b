"""The CloudWatch metrics Route 53 publishes for its health checks, put into moto's CloudWatch backend
in-process, so GetMetricData against the double's port (CloudWatch requests reach moto's CloudWatch
through the same DomainDispatcherApplication) reads them.

Route 53 publishes, in us-east-1 only, namespace AWS/Route53, dimension HealthCheckId=<id>, once a
minute: HealthCheckStatus (1 healthy / 0 unhealthy, Route 53's overall judgement) and
HealthCheckPercentageHealthy (percentage of checkers that consider the endpoint healthy). The double
publishes one datapoint of each per check every control.metric_period() seconds (60 x hc_scale unless
metric_period is set), timestamped when it is published, for every live endpoint check (probed, or
disabled and so always healthy). A deleted check publishes no more; its past datapoints stay."""
import threading
import time
from datetime import timedelta

from moto.cloudwatch.models import cloudwatch_backends
from moto.core.utils import utcnow

from . import control, health

NAMESPACE = "AWS/Route53"
REGION = "us-east-1"  # Route 53 publishes its metrics to us-east-1 only
# Datapoints older than this (wall-clock seconds) are dropped, so a long-running world stays small and
# GetMetricData fast (moto scans every datapoint per query). CloudWatch keeps 1-minute data 15 days.
RETENTION_SECONDS = 3 * 3600
_LAST = {}   # hc id -> monotonic time of its last datapoint (first: when the publisher saw the check)
_PRUNED = [0.0]  # monotonic time of the last pruning


def publishes(st):
    """Live endpoint checks (probed ones, and disabled ones, which Route 53 considers healthy) and
    live CALCULATED, CLOUDWATCH_METRIC and RECOVERY_CONTROL checks (health.overall, health.evaluate_signal)."""
    return not st["deleted"] and (st["hc"].type_ in health.ENDPOINT_TYPES | health.SIGNAL_TYPES
                                  or st["hc"].type_ == "CALCULATED")


def datapoints(st, timestamp):
    """The metrics of one check at `timestamp`, in put_metric_data's shape: HealthCheckStatus and
    HealthCheckPercentageHealthy of an endpoint check; HealthCheckStatus and
    ChildHealthCheckHealthyCount of a calculated one (the dev guide's metrics for each kind)."""
    dims = [{"Name": "HealthCheckId", "Value": st["hc"].id}]
    if st["hc"].type_ == "CALCULATED":
        return [
            {"MetricName": "HealthCheckStatus", "Dimensions": dims, "Timestamp": timestamp,
             "Value": 1.0 if health.overall(st) else 0.0, "Unit": "None"},
            {"MetricName": "ChildHealthCheckHealthyCount", "Dimensions": dims, "Timestamp": timestamp,
             "Value": float(health.healthy_children(st)), "Unit": "Count"},
        ]
    return [
        {"MetricName": "HealthCheckStatus", "Dimensions": dims, "Timestamp": timestamp,
         "Value": 1.0 if health.overall(st) else 0.0, "Unit": "None"},
        {"MetricName": "HealthCheckPercentageHealthy", "Dimensions": dims, "Timestamp": timestamp,
         "Value": health.percentage_healthy(st), "Unit": "Percent"},
    ]


def tick(now):
    """Publish for every check whose period has elapsed (under control.STATE_LOCK: moto's CloudWatch
    state is read by requests under the same lock)."""
    with control.STATE_LOCK:
        period = control.metric_period()
        by_account = {}
        stamp = utcnow()  # naive UTC, as moto stores timestamps
        for hc_id, st in list(health._STATE.items()):
            if not publishes(st):
                _LAST.pop(hc_id, None)
                continue
            last = _LAST.setdefault(hc_id, now)
            if now - last < period:
                continue
            # Keep the cadence; after a stall (or a shorter period) start again from now.
            _LAST[hc_id] = last + period if now - last < 2 * period else now
            by_account.setdefault(st["account"], []).extend(datapoints(st, stamp))
        for account, data in by_account.items():
            cloudwatch_backends[account][REGION].put_metric_data(NAMESPACE, data)
        if now - _PRUNED[0] > 60:
            _PRUNED[0] = now
            prune(stamp - timedelta(seconds=RETENTION_SECONDS))


def prune(cutoff):
    for account in {st["account"] for st in health._STATE.values()}:
        backend = cloudwatch_backends[account][REGION]
        backend.metric_data[:] = [md for md in backend.metric_data
                                  if md.namespace != NAMESPACE or md.timestamp >= cutoff]


def publisher_loop():
    while True:
        time.sleep(0.05)
        try:
            tick(time.monotonic())
        except Exception as e:  # noqa: BLE001 - a publishing bug must not stop the publisher
            print(f"metrics publisher error: {e!r}", flush=True)
            time.sleep(1)


def start():
    threading.Thread(target=publisher_loop, daemon=True, name="r53-metrics-publisher").start()
