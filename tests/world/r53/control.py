"""Knobs, per-operation counters, quota (token bucket) and fault injection, plus the /_world/ API.

Everything here sits in front of moto as WSGI middleware, so the AWS SDK never sees it unless a
quota or a fault is configured. CloudWatch requests (the AWS/Route53 health-check metrics, see
metrics.py) reach moto's CloudWatch backend through the same port: they are counted and logged by
their CloudWatch operation name, and have their own optional quota (cloudwatch_quota), never
Route 53's."""
import io
import json
import random
import re
import threading
import time
import uuid
from urllib.parse import parse_qs

import botocore.session

from . import addresses

# One lock serialises moto's (unsynchronised) Route 53 state and the health checker's view of it.
STATE_LOCK = threading.RLock()
_LOCK = threading.Lock()

# metric_period None: 60 x hc_scale (Route 53 publishes its health-check metrics once a minute).
# refuse_answer_gaps: not Route 53 behaviour, an assertion aid (see fixes.answer_gaps).
SETTINGS = {"hc_scale": 1.0, "change_delay": 2.0, "quota": None, "faults": None,
            "metric_period": None, "cloudwatch_quota": None, "refuse_answer_gaps": False}
COUNTERS = {"requests": {}, "throttled": {}, "faults": {}}
# (service, key) -> (tokens, last_refill); key None = the service's account bucket, else an operation.
_BUCKETS = {}

XMLNS = "https://route53.amazonaws.com/doc/2013-04-01/"
CW_XMLNS = "http://monitoring.amazonaws.com/doc/2010-08-01/"
# CloudWatch's Smithy service name: the X-Amz-Target prefix (awsJson1_0) and the rpc-v2-cbor path.
CW_SERVICE = "GraniteServiceVersion20100801"
_CW_CBOR_PATH = re.compile(r"^/service/" + CW_SERVICE + r"/operation/([A-Za-z0-9]+)$")
_SCOPE = re.compile(r"Credential=[^/,\s]+/[^/]+/[^/]+/([^/]+)/aws4_request")
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


def cloudwatch_operation(environ):
    """(OperationName, protocol) when the request is for CloudWatch, else None.

    aws-sdk-cloudwatch 1.x (1.80 here) and boto3 before it switched speak the query protocol: POST /
    with a form body `Action=GetMetricData&Version=2010-08-01&...`, signed for `monitoring`. Newer
    clients send awsJson1_0 (`X-Amz-Target: GraniteServiceVersion20100801.<Op>`) or rpc-v2-cbor
    (`POST /service/GraniteServiceVersion20100801/operation/<Op>`). All three are named here; the
    body of a query request is read and put back for moto."""
    path = environ.get("PATH_INFO", "")
    m = _CW_CBOR_PATH.match(path)
    if m:
        return m.group(1), "rpc-v2-cbor"
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target.startswith(CW_SERVICE + "."):
        return target.split(".", 1)[1], "json"
    if path not in ("", "/") or environ.get("REQUEST_METHOD") != "POST":
        return None  # every Route 53 operation has a /2013-04-01/... path
    scope = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(raw)
    form = parse_qs(raw.decode("utf-8", "replace"))
    if (scope and scope.group(1) == "monitoring") or form.get("Version") == ["2010-08-01"]:
        return (form.get("Action") or ["Unknown"])[0], "query"
    return None


def metric_period():
    """Seconds between two datapoints of a health check's metrics (metric_period, else 60 x hc_scale)."""
    period = SETTINGS["metric_period"]
    return period if period is not None else 60.0 * SETTINGS["hc_scale"]


def configure(cfg):
    """Apply a partial settings update (the body of POST /_world/config)."""
    period = cfg.get("metric_period")
    if period is not None and float(period) <= 0:  # refused before anything changes
        raise ValueError("metric_period must be > 0 seconds (or null)")
    with _LOCK:
        for key in ("hc_scale", "change_delay"):
            if cfg.get(key) is not None:
                SETTINGS[key] = float(cfg[key])
        if "refuse_answer_gaps" in cfg:
            SETTINGS["refuse_answer_gaps"] = bool(cfg["refuse_answer_gaps"])
        if "metric_period" in cfg:  # null: back to 60 x hc_scale
            SETTINGS["metric_period"] = float(period) if period is not None else None
        for key in ("quota", "faults", "cloudwatch_quota"):
            if key in cfg:
                SETTINGS[key] = cfg[key] or None
        for key, service in (("quota", "route53"), ("cloudwatch_quota", "cloudwatch")):
            if key in cfg:
                for bucket in [b for b in _BUCKETS if b[0] == service]:
                    del _BUCKETS[bucket]


# What each (name, type) a committed ChangeResourceRecordSets touched would be answered with after it
# (see fixes.answer_of), in commit order: GET /_world/answers. Bounded.
ANSWERS = []
_ANSWERS_MAX = 20000


def record_answers(entries):
    with _LOCK:
        ANSWERS.extend(entries)
        del ANSWERS[:-_ANSWERS_MAX]


# The last requests, for tests that must tell who wrote what and when: (unix time, operation, access
# key id from the SigV4 Authorization header). Bounded.
REQUEST_LOG = []
_REQUEST_LOG_MAX = 20000
_AKID = re.compile(r"Credential=([^/,\s]+)/")


def _log_request(op, environ, service="route53", extra=None):
    m = _AKID.search(environ.get("HTTP_AUTHORIZATION", ""))
    with _LOCK:
        REQUEST_LOG.append({"time": time.time(), "operation": op, "access_key": m.group(1) if m else "",
                            "service": service, **(extra or {})})
        del REQUEST_LOG[:-_REQUEST_LOG_MAX]


_ISSUED_KEY = re.compile(rb"<AccessKeyId>([^<]+)</AccessKeyId>")


def _sts(app, environ, start_response):
    """An STS request through moto. AssumeRole is logged with what it asked for and what it got:
    `role_arn`, `external_id` (null when none was passed) and `issued_key`, the access key id of
    the credentials moto returned, so a test can tell which role signed a later request."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(raw)
    form = parse_qs(raw.decode("utf-8", "replace"))
    action = (form.get("Action") or ["Unknown"])[0]
    with STATE_LOCK:
        body = list(app(environ, start_response))
    extra = {"action": action}
    if action == "AssumeRole":
        issued = _ISSUED_KEY.search(b"".join(body))
        extra.update({"role_arn": (form.get("RoleArn") or [None])[0],
                      "external_id": (form.get("ExternalId") or [None])[0],
                      "issued_key": issued.group(1).decode() if issued else None})
    _log_request("STS", environ, "sts", extra)
    return body


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


def _admit(op, service="route53"):
    """Token buckets: the per-operation one (if configured), then the account-wide one. Route 53
    requests use `quota`; CloudWatch requests use `cloudwatch_quota` (CloudWatch's limits are its own,
    e.g. GetMetricData 50 TPS), so they never take Route 53's tokens."""
    with _LOCK:
        quota = SETTINGS["quota" if service == "route53" else "cloudwatch_quota"]
        if not quota:
            return True
        now = time.monotonic()
        per_op = (quota.get("per_operation") or {}).get(op)
        if per_op and not _take((service, op), per_op.get("rate", 5), per_op.get("burst", 5), now):
            return False
        if quota.get("rate") is not None:
            return _take((service, None), quota["rate"], quota.get("burst", quota["rate"]), now)
        return True


def _error(start_response, status, code, message, xmlns=XMLNS):
    kind = "Receiver" if status >= 500 else "Sender"
    request_id = str(uuid.uuid4())
    body = (f'<?xml version="1.0"?>\n<ErrorResponse xmlns="{xmlns}"><Error><Type>{kind}</Type>'
            f"<Code>{code}</Code><Message>{message}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>").encode()
    reason = {400: "Bad Request", 500: "Internal Server Error", 503: "Service Unavailable"}
    start_response(f"{status} {reason.get(status, 'Error')}",
                   [("Content-Type", "text/xml"), ("Content-Length", str(len(body))),
                    ("x-amzn-RequestId", request_id)])
    return [body]


def _cw_error(start_response, protocol, status, code, message):
    """A CloudWatch error in the request's protocol: query gets the ErrorResponse XML; awsJson1_0
    gets `{"__type", "message"}` plus `x-amzn-query-error` (CloudWatch is awsQueryCompatible)."""
    if protocol == "query":
        return _error(start_response, status, code, message, CW_XMLNS)
    kind = "Receiver" if status >= 500 else "Sender"
    body = json.dumps({"__type": code, "message": message}).encode()
    start_response(f"{status} Error", [("Content-Type", "application/x-amz-json-1.0"),
                                       ("Content-Length", str(len(body))),
                                       ("x-amzn-query-error", f"{code};{kind}"),
                                       ("x-amzn-RequestId", str(uuid.uuid4()))])
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
        cw = cloudwatch_operation(environ)
        if cw:
            return self.cloudwatch(cw[0], cw[1], environ, start_response)
        if "/sts/aws4_request" in environ.get("HTTP_AUTHORIZATION", ""):
            # STS (AssumeRole for --assume-role-arn): logged, never counted against Route 53's quota.
            return _sts(self.app, environ, start_response)
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

    def cloudwatch(self, op, protocol, environ, start_response):
        """A CloudWatch request: counted and logged by name, its own quota, faults only when `faults`
        names the operation (a Route 53 fault setting leaves CloudWatch alone), then moto."""
        _count("requests", op)
        _log_request(op, environ, "cloudwatch")
        if not _admit(op, "cloudwatch"):
            _count("throttled", op)
            return _cw_error(start_response, protocol, 400, "Throttling", "Rate exceeded")
        faults = SETTINGS["faults"]
        if faults and op in (faults.get("operations") or ()):
            if faults.get("latency_ms"):
                time.sleep(float(faults["latency_ms"]) / 1000.0)
            if random.random() < float(faults.get("error_rate") or 0) and _fault_left(faults):
                _count("faults", op)
                if faults.get("after_commit"):
                    _commit_and_drop_answer(self.app, environ)
                code = faults.get("code") or "InternalError"
                return _cw_error(start_response, protocol, FAULT_STATUS.get(code, 500), code,
                                 "We encountered an internal error. Please try again.")
        if protocol == "rpc-v2-cbor":
            # moto 5.2.5 has no CBOR codec; aws-sdk-cloudwatch 1.80 sends the query protocol.
            return _cw_error(start_response, "json", 400, "UnsupportedProtocol",
                             "The local double speaks CloudWatch's query and JSON protocols, not rpc-v2-cbor")
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
            # [{"time": unix seconds, "operation": "ChangeResourceRecordSets", "access_key": "AKID"}, ...];
            # STS requests add "action" and, for AssumeRole, "role_arn", "external_id", "issued_key".
            with _LOCK:
                return _json(start_response, list(REQUEST_LOG))
        if path == "/_world/requests/reset" and method == "POST":
            with _LOCK:
                REQUEST_LOG.clear()
            return _json(start_response, {"ok": True})
        if path == "/_world/answers" and method == "GET":
            # [{"time", "change", "name", "type", "sets": [...], "answer": [...] | null}, ...]
            with _LOCK:
                return _json(start_response, list(ANSWERS))
        if path == "/_world/answers/reset" and method == "POST":
            with _LOCK:
                ANSWERS.clear()
            return _json(start_response, {"ok": True})
        if path == "/_world/config":
            if method == "POST":
                try:
                    configure(body)
                except (TypeError, ValueError) as e:
                    return _json(start_response, {"error": str(e)}, "400 Bad Request")
            return _json(start_response, dict(SETTINGS, metric_period_effective=metric_period()))
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
        if path == "/_world/resolve" and method == "GET":
            # ?zone=ZONEID&name=app.example.com&type=A: the record Route 53 would answer with now.
            from . import resolve
            q = parse_qs(environ.get("QUERY_STRING", ""))
            zone, name = (q.get("zone") or [""])[0], (q.get("name") or [""])[0]
            rtype = (q.get("type") or ["A"])[0]
            out = resolve.resolve(zone, name, rtype)
            if out is None:
                return _json(start_response, {"error": f"no hosted zone {zone}"}, "404 Not Found")
            return _json(start_response, out)
        if path == "/_world/targets" and method in ("GET", "POST"):
            # POST {"dnsName": "lb.elb.amazonaws.com", "healthy": false}: an alias target's health.
            from . import resolve
            if method == "POST":
                resolve.set_target(body["dnsName"], body.get("healthy", True))
            return _json(start_response, {"targets": resolve.targets()})
        if path == "/_world/checkers" and method == "POST":
            # {"id": hc_id, "failing_regions": ["us-east-1", ...]}  ([] clears the override)
            self.health.force_failing(body["id"], body.get("failing_regions") or [])
            return _json(start_response, {"ok": True})
        return _json(start_response, {"error": f"no such control endpoint {method} {path}"},
                     "404 Not Found")
