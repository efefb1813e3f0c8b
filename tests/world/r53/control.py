"""Knobs, per-operation counters, quota (token bucket) and fault injection, plus the /_world/ API.

Everything here sits in front of moto as WSGI middleware, so the AWS SDK never sees it unless a
quota or a fault is configured."""
import json
import random
import re
import threading
import time
import uuid

import botocore.session

from . import addresses

# One lock serialises moto's (unsynchronised) Route 53 state and the health checker's view of it.
STATE_LOCK = threading.RLock()
_LOCK = threading.Lock()

SETTINGS = {"hc_scale": 1.0, "change_delay": 2.0, "quota": None, "faults": None}
COUNTERS = {"requests": {}, "throttled": {}, "faults": {}}
_BUCKETS = {}  # key (None = global, else operation) -> [tokens, last_refill]

XMLNS = "https://route53.amazonaws.com/doc/2013-04-01/"
# HTTP status of the fault codes a test may inject.
FAULT_STATUS = {"InternalError": 500, "ServiceUnavailable": 503, "PriorRequestNotComplete": 400,
                "Throttling": 400}


def _operation_table():
    """(method, regex, OperationName) for every Route 53 operation, from botocore's service model."""
    model = botocore.session.get_session().get_service_model("route53")
    table = []
    for name in model.operation_names:
        http = model.operation_model(name).http
        uri = http["requestUri"].split("?")[0].rstrip("/")
        pattern = re.sub(r"\{[^}]+\+\}", ".+", uri)
        pattern = re.sub(r"\{[^}]+\}", "[^/]+", pattern)
        table.append((http["method"], re.compile("^" + pattern + "/?$"), name))
    return table


_OPS = _operation_table()


def operation_name(method, path):
    for m, rx, name in _OPS:
        if m == method and rx.match(path):
            return name
    return "Unknown"


def configure(cfg):
    """Apply a partial settings update (the body of POST /_world/config)."""
    with _LOCK:
        for key in ("hc_scale", "change_delay"):
            if cfg.get(key) is not None:
                SETTINGS[key] = float(cfg[key])
        for key in ("quota", "faults"):
            if key in cfg:
                SETTINGS[key] = cfg[key] or None
        if "quota" in cfg:
            _BUCKETS.clear()


# The last requests, for tests that must tell who wrote what and when: (unix time, operation, access
# key id from the SigV4 Authorization header). Bounded.
REQUEST_LOG = []
_REQUEST_LOG_MAX = 20000
_AKID = re.compile(r"Credential=([^/,\s]+)/")


def _log_request(op, environ):
    m = _AKID.search(environ.get("HTTP_AUTHORIZATION", ""))
    with _LOCK:
        REQUEST_LOG.append({"time": time.time(), "operation": op, "access_key": m.group(1) if m else ""})
        del REQUEST_LOG[:-_REQUEST_LOG_MAX]


def _count(kind, op):
    with _LOCK:
        COUNTERS[kind][op] = COUNTERS[kind].get(op, 0) + 1


def _take(key, rate, burst, now):
    tokens, last = _BUCKETS.get(key, (float(burst), now))
    tokens = min(float(burst), tokens + (now - last) * float(rate))
    if tokens < 1.0:
        _BUCKETS[key] = (tokens, now)
        return False
    _BUCKETS[key] = (tokens - 1.0, now)
    return True


def _admit(op):
    """Token buckets: the per-operation one (if configured), then the account-wide one."""
    with _LOCK:
        quota = SETTINGS["quota"]
        if not quota:
            return True
        now = time.monotonic()
        per_op = (quota.get("per_operation") or {}).get(op)
        if per_op and not _take(op, per_op.get("rate", 5), per_op.get("burst", 5), now):
            return False
        if quota.get("rate") is not None:
            return _take(None, quota["rate"], quota.get("burst", quota["rate"]), now)
        return True


def _error(start_response, status, code, message):
    kind = "Receiver" if status >= 500 else "Sender"
    request_id = str(uuid.uuid4())
    body = (f'<?xml version="1.0"?>\n<ErrorResponse xmlns="{XMLNS}"><Error><Type>{kind}</Type>'
            f"<Code>{code}</Code><Message>{message}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>").encode()
    reason = {400: "Bad Request", 500: "Internal Server Error", 503: "Service Unavailable"}
    start_response(f"{status} {reason.get(status, 'Error')}",
                   [("Content-Type", "text/xml"), ("Content-Length", str(len(body))),
                    ("x-amzn-RequestId", request_id)])
    return [body]


def _json(start_response, obj, status="200 OK"):
    body = json.dumps(obj, default=str).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def _fault_left(faults):
    """faults.remaining (optional): how many more faults to inject; counts down."""
    with _LOCK:
        left = faults.get("remaining")
        if left is None:
            return True
        if left <= 0:
            return False
        faults["remaining"] = left - 1
        return True


def _commit_and_drop_answer(app, environ):
    """faults.after_commit: the request is carried out, then its answer is replaced by the fault
    (a committed write whose answer was lost, e.g. a connection reset after Route 53 acted)."""
    with STATE_LOCK:
        list(app(environ, lambda status, headers, exc_info=None: (lambda data: None)))


class Middleware:
    """WSGI wrapper: /_world/ control API, counters, quota and faults; the rest goes to moto."""

    def __init__(self, app, health):
        self.app = app
        self.health = health

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path.startswith("/_world/"):
            return self.control(method, path, environ, start_response)
        op = operation_name(method, path)
        _count("requests", op)
        _log_request(op, environ)
        if not _admit(op):
            # Route 53 answers a rate-limited request with HTTP 400 and code Throttling.
            _count("throttled", op)
            return _error(start_response, 400, "Throttling", "Rate exceeded")
        faults = SETTINGS["faults"]
        if faults and (not faults.get("operations") or op in faults["operations"]):
            if faults.get("latency_ms"):
                time.sleep(float(faults["latency_ms"]) / 1000.0)
            if random.random() < float(faults.get("error_rate") or 0) and _fault_left(faults):
                _count("faults", op)
                if faults.get("after_commit"):
                    _commit_and_drop_answer(self.app, environ)
                code = faults.get("code") or "InternalError"
                msg = "We encountered an internal error. Please try again."
                if code == "PriorRequestNotComplete":
                    msg = "The request was rejected because Route 53 was still processing a prior request."
                return _error(start_response, FAULT_STATUS.get(code, 500), code, msg)
        with STATE_LOCK:
            return list(self.app(environ, start_response))

    def control(self, method, path, environ, start_response):
        body = {}
        if method in ("POST", "PUT"):
            length = int(environ.get("CONTENT_LENGTH") or 0)
            raw = environ["wsgi.input"].read(length) if length else b""
            body = json.loads(raw or b"{}")
        if path == "/_world/counters" and method == "GET":
            with _LOCK:
                return _json(start_response, COUNTERS)
        if path == "/_world/counters/reset" and method == "POST":
            with _LOCK:
                for v in COUNTERS.values():
                    v.clear()
            return _json(start_response, {"ok": True})
        if path == "/_world/requests" and method == "GET":
            # [{"time": unix seconds, "operation": "ChangeResourceRecordSets", "access_key": "AKID"}, ...]
            with _LOCK:
                return _json(start_response, list(REQUEST_LOG))
        if path == "/_world/requests/reset" and method == "POST":
            with _LOCK:
                REQUEST_LOG.clear()
            return _json(start_response, {"ok": True})
        if path == "/_world/config":
            if method == "POST":
                configure(body)
            return _json(start_response, SETTINGS)
        if path == "/_world/healthchecks" and method == "GET":
            with STATE_LOCK:
                return _json(start_response, self.health.describe_all())
        if path == "/_world/routes" and method in ("GET", "PUT", "POST"):
            # PUT replaces the routing table, POST merges into it; both return the whole table.
            if method == "GET":
                return _json(start_response, {"routes": addresses.routes()})
            try:
                table = addresses.set_routes(body, merge=method == "POST")
            except addresses.RouteError as e:
                return _json(start_response, {"error": str(e)}, "400 Bad Request")
            return _json(start_response, {"routes": table})
        if path == "/_world/checkers" and method == "POST":
            # {"id": hc_id, "failing_regions": ["us-east-1", ...]}  ([] clears the override)
            self.health.force_failing(body["id"], body.get("failing_regions") or [])
            return _json(start_response, {"ok": True})
        return _json(start_response, {"error": f"no such control endpoint {method} {path}"},
                     "404 Not Found")
