"""Real health checking behind GetHealthCheckStatus, through the routing table: a check of a public
endpoint connects to the loopback backend its route names (PUT /_world/routes, r53/addresses.py), and nothing else.

One probe per RequestInterval x hc_scale (timed from the previous response, as the API reference
describes RequestInterval) feeds every checker region; each region keeps its own thresholded state,
so a test can force single regions to fail (POST /_world/checkers)."""
import http.client
import ipaddress
import socket
import ssl
import threading
import time
from datetime import datetime, timezone

from moto.core import DEFAULT_ACCOUNT_ID

from . import addresses, control

# HealthCheckRegion enum; the API reference: if you don't specify Regions, Route 53 uses all of them.
DEFAULT_REGIONS = ["us-east-1", "us-west-1", "us-west-2", "eu-west-1", "ap-southeast-1",
                   "ap-southeast-2", "ap-northeast-1", "sa-east-1"]
ENDPOINT_TYPES = {"HTTP", "HTTPS", "HTTP_STR_MATCH", "HTTPS_STR_MATCH", "TCP"}
# Checks that follow a signal instead of probing: a CloudWatch alarm, an ARC routing control.
SIGNAL_TYPES = {"CLOUDWATCH_METRIC", "RECOVERY_CONTROL"}
_STATE = {}    # hc id -> dict (kept after deletion, flagged "deleted")
_FORCED = {}   # hc id -> set of regions forced to report failure


def _now():
    return datetime.now(timezone.utc)


def _checker_ip(region):
    return f"127.0.1.{DEFAULT_REGIONS.index(region) + 1}"


def track(hc, config, account=DEFAULT_ACCOUNT_ID):
    """Register a new health check (called under control.STATE_LOCK). `account`: the moto account
    that owns it, whose CloudWatch gets its metrics (metrics.py)."""
    _STATE[hc.id] = {"hc": hc, "config": config, "deleted": False, "next_due": 0.0,
                     "inflight": False, "probes": 0, "regions": {}, "account": account}


def untrack(hc_id):
    if hc_id in _STATE:
        _STATE[hc_id]["deleted"] = True


def force_failing(hc_id, regions):
    with control.STATE_LOCK:
        _FORCED[hc_id] = set(regions)


def _regions(st):
    return st["hc"].regions or DEFAULT_REGIONS


def _region_state(st, region):
    # A new check is healthy until Route 53 has enough data (dev guide, "How Route 53 determines...").
    return st["regions"].setdefault(region, {"healthy": True, "streak": 0, "detail": "No data yet",
                                             "checked": _now(), "last_failure": None})


def _reported(st, region):
    hc = st["hc"]
    if hc.disabled:
        # API reference: after you disable a health check, Route 53 considers it always healthy.
        return True, "Health check is disabled"
    if hc.type_ in SIGNAL_TYPES:
        healthy, detail = st.get("signal") or evaluate_signal(st, time.monotonic())
        return healthy != bool(hc.inverted), detail
    r = _region_state(st, region)
    # API reference, Inverted: consider a health check unhealthy when it would be healthy, and vice versa.
    return r["healthy"] != bool(hc.inverted), r["detail"]


def _alarm_state(st):
    """The state of the check's CloudWatch alarm in moto's CloudWatch (its account, the alarm's
    region); INSUFFICIENT_DATA when there is no such alarm."""
    from moto.cloudwatch.models import cloudwatch_backends

    alarm = getattr(st["hc"], "alarm_identifier", None) or {}
    region, name = alarm.get("Region"), alarm.get("Name")
    try:
        found = cloudwatch_backends[st["account"]][region].alarms.get(name)
    except KeyError:  # a region moto has no CloudWatch backend for
        found = None
    return found.state_value if found is not None else "INSUFFICIENT_DATA"


def evaluate_signal(st, now):
    """(healthy, detail) of a CLOUDWATCH_METRIC or RECOVERY_CONTROL check at monotonic time `now`,
    before Inverted (called under control.STATE_LOCK). Stored in st["signal"].

    CLOUDWATCH_METRIC (API reference, HealthCheckConfig.Type): OK is healthy, ALARM unhealthy,
    INSUFFICIENT_DATA as InsufficientDataHealthStatus says (LastKnownStatus: the status from the last
    time the alarm had enough data, healthy for a new check). Route 53 sees an alarm state change
    only after control.alarm_delay() seconds: the state it uses is the newest one that has lasted that
    long. RECOVERY_CONTROL: healthy while the routing control is On (control.ROUTING_CONTROLS, set by
    PUT /_world/routing-controls; a routing control is Off until set, as ARC creates them)."""
    hc = st["hc"]
    if hc.type_ == "RECOVERY_CONTROL":
        arn = getattr(hc, "routing_control_arn", None)
        state = control.ROUTING_CONTROLS.get(arn, "Off")
        result = (state == "On", f"Routing control state is {state.upper()}")
    else:
        seen = _alarm_state(st)
        history = st.setdefault("alarm_history", [])
        if not history or history[-1][1] != seen:
            history.append((now, seen))
        delay = control.alarm_delay()
        visible = [state for at, state in history if now - at >= delay]
        # Before any state has lasted the delay, Route 53 has no data from the alarm yet.
        state = visible[-1] if visible else "INSUFFICIENT_DATA"
        del history[:max(0, len(visible) - 1)]  # keep the visible state and newer ones
        if state in ("OK", "ALARM"):
            st["last_known"] = state == "OK"
            result = (state == "OK", f"CloudWatch alarm state is {state}")
        else:
            mode = getattr(hc, "insufficient_data_health_status", None) or "LastKnownStatus"
            healthy = {"Healthy": True, "Unhealthy": False}.get(mode, st.get("last_known", True))
            result = (healthy, f"CloudWatch alarm state is INSUFFICIENT_DATA (InsufficientDataHealthStatus {mode})")
    st["signal"] = result
    return result


def observations(hc_id):
    st = _STATE[hc_id]
    out = []
    for region in _regions(st):
        ok, detail = _reported(st, region)
        out.append({"Region": region, "IPAddress": _checker_ip(region),
                    "StatusReport": {"Status": f"{'Success' if ok else 'Failure'}: {detail}",
                                     "CheckedTime": _region_state(st, region)["checked"]}})
    return out


def last_failures(hc_id):
    st = _STATE[hc_id]
    out = []
    for region in _regions(st):
        lf = _region_state(st, region)["last_failure"]
        if lf:
            out.append({"Region": region, "IPAddress": _checker_ip(region),
                        "StatusReport": {"Status": f"Failure: {lf[0]}", "CheckedTime": lf[1]}})
    return out


def healthy_children(st, depth=0):
    """A CALCULATED check's children that Route 53 considers healthy (a child that does not exist
    any more counts as unhealthy; a cycle through calculated checks too)."""
    count = 0
    for child in st["hc"].children or []:
        cst = _STATE.get(child)
        if cst is not None and not cst["deleted"] and depth < 8 and overall(cst, depth + 1):
            count += 1
    return count


def overall(st, depth=0):
    hc = st["hc"]
    if hc.type_ == "CALCULATED":
        if hc.disabled:
            # API reference, Disabled: a disabled calculated check stops aggregating and is healthy.
            return True
        # API reference, HealthThreshold: healthy when at least this many children are healthy;
        # 0 is always healthy, more than the number of children always unhealthy. Inverted applies.
        threshold = int(hc.health_threshold or 0)
        return (healthy_children(st, depth) >= threshold) != bool(hc.inverted)
    # Dev guide: if more than 18% of health checkers report healthy, Route 53 considers it healthy.
    regions = _regions(st)
    healthy = sum(1 for r in regions if _reported(st, r)[0])
    return healthy > 0.18 * len(regions)


def percentage_healthy(st):
    """Share of checkers reporting healthy (Inverted and Disabled applied), in percent."""
    regions = _regions(st)
    return 100.0 * sum(1 for r in regions if _reported(st, r)[0]) / len(regions)


def describe_all():
    out = []
    for hc_id, st in _STATE.items():
        hc = st["hc"]
        if hc.type_ == "CALCULATED":
            out.append({"id": hc_id, "CallerReference": hc.caller_reference, "config": st["config"],
                        "version": hc.health_check_version, "deleted": st["deleted"],
                        "healthy": overall(st), "status": "Healthy" if overall(st) else "Unhealthy",
                        "children": list(hc.children or []),
                        "threshold": int(hc.health_threshold or 0),
                        "healthy_children": healthy_children(st), "probes": 0, "observations": []})
            continue
        out.append({"id": hc_id, "CallerReference": hc.caller_reference, "config": st["config"],
                    "version": hc.health_check_version, "deleted": st["deleted"],
                    "healthy": overall(st), "status": "Healthy" if overall(st) else "Unhealthy",
                    "probes": st["probes"],
                    "observations": [o["StatusReport"]["Status"] for o in observations(hc_id)]})
    return out


def probe(hc):
    """Probe once; returns (ok, detail). Only the loopback target of a route is ever contacted: an
    endpoint without a route is unreachable, with no DNS lookup and no packet sent."""
    if not hc.ip_address and not hc.fqdn:
        return False, "No IPAddress or FullyQualifiedDomainName to check"
    # API reference, FullyQualifiedDomainName: with IPAddress, Route 53 checks that address (the FQDN
    # only goes into the Host header / SNI); without it, the address the FQDN resolves to. The double
    # does no DNS: a route for the FQDN stands in for its resolution.
    endpoint = hc.ip_address or hc.fqdn
    port = int(hc.port)
    target = addresses.lookup(endpoint, port)
    if target is None:
        return False, (f"No route to {endpoint} port {port} in the local world's routing table "
                       "(PUT /_world/routes); nothing was sent")
    ip, tport = target
    if not ipaddress.ip_address(ip).is_loopback:  # routes only ever hold loopback targets
        return False, f"Not probed: route target {ip} is not a loopback address (no packet sent)"
    resolved = f"Resolved IP: {hc.ip_address or ip}"
    try:
        if hc.type_ == "TCP":
            # Dev guide: TCP checks must establish a connection within ten seconds.
            socket.create_connection((ip, tport), timeout=10).close()
            return True, f"TCP connection established. {resolved}"
        return _probe_http(hc, ip, tport, port, resolved)
    except (OSError, http.client.HTTPException) as e:
        return False, f"{type(e).__name__}: {e}. {resolved}"


def _probe_http(hc, ip, tport, port, resolved):
    """HTTP(S) probe connected to the loopback target ip:tport, with the headers Route 53 would send
    to the endpoint's own address and port."""
    https = hc.type_.startswith("HTTPS")
    host = hc.fqdn or hc.ip_address
    if ":" in host:
        host = f"[{host}]"
    if port not in (80, 443):
        host += f":{port}"  # API reference: the Host header gets ":port" for other ports
    # Dev guide: connect within four seconds, then a 2xx/3xx status within two seconds.
    conn = http.client.HTTPConnection(ip, tport, timeout=4)
    try:
        conn.sock = socket.create_connection((ip, tport), timeout=4)
        if https:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE  # Route 53 does not validate SSL/TLS certificates
            # EnableSNI: send FullyQualifiedDomainName in the client_hello.
            sni = hc.fqdn if hc.enable_sni and hc.fqdn else None
            conn.sock = ctx.wrap_socket(conn.sock, server_hostname=sni)
        conn.sock.settimeout(2)
        conn.request("GET", hc.resource_path or "/", headers={"Host": host,
                                                              "User-Agent": "Amazon-Route53-Health-Check-Service"})
        resp = conn.getresponse()
        # Dev guide: the search string must appear entirely within the first 5,120 bytes.
        body = resp.read(5120)
        status = f"HTTP Status Code {resp.status}, {resp.reason}. {resolved}"
        if not 200 <= resp.status < 400:
            return False, status
        if hc.type_.endswith("_STR_MATCH"):
            if hc.search_string.encode() not in body:
                return False, f"String-matching: search string not found in the first 5120 bytes. {status}"
        return True, status
    finally:
        conn.close()


def _run_probe(hc_id):
    with control.STATE_LOCK:
        st = _STATE[hc_id]
        hc = st["hc"]
    try:
        ok, detail = probe(hc)
    except Exception as e:  # noqa: BLE001 - a probe bug must not stop the checker
        ok, detail = False, f"probe error {e!r}"
    now = _now()
    with control.STATE_LOCK:
        st["probes"] += 1
        threshold = int(hc.failure_threshold or 3)
        for region in _regions(st):
            r_ok, r_detail = ok, detail
            if region in _FORCED.get(hc_id, ()):
                r_ok, r_detail = False, "Forced failure for this checker (/_world/checkers)"
            r = _region_state(st, region)
            r["checked"] = now
            r["detail"] = r_detail
            if not r_ok:
                r["last_failure"] = (r_detail, now)
            # Dev guide, FailureThreshold: consecutive checks an endpoint must pass or fail to change state.
            if r_ok == r["healthy"]:
                r["streak"] = 0
            else:
                r["streak"] += 1
                if r["streak"] >= threshold:
                    r["healthy"], r["streak"] = r_ok, 0
        interval = float(hc.request_interval or 30) * control.SETTINGS["hc_scale"]
        st["next_due"] = time.monotonic() + interval
        st["inflight"] = False


def checker_loop():
    while True:
        time.sleep(0.05)
        now = time.monotonic()
        with control.STATE_LOCK:
            due = []
            for hc_id, st in _STATE.items():
                hc = st["hc"]
                if not st["deleted"] and hc.type_ in SIGNAL_TYPES:
                    evaluate_signal(st, now)
                if st["deleted"] or st["inflight"] or hc.disabled or hc.type_ not in ENDPOINT_TYPES:
                    continue
                if now >= st["next_due"]:
                    st["inflight"] = True
                    due.append(hc_id)
        for hc_id in due:
            threading.Thread(target=_run_probe, args=(hc_id,), daemon=True).start()


def start():
    threading.Thread(target=checker_loop, daemon=True, name="r53-health-checker").start()
