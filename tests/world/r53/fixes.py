"""Patches to moto 5.2.5's Route 53 handlers, each reproducing documented Route 53 behaviour.

Errors subclass moto.route53.exceptions.Route53ClientError: moto picks the HTTP status and the XML
error shape from that module (a plain moto.core exception becomes an empty HTTP 500)."""
import bisect
import ipaddress
import random
import string
import time

import botocore.session
import moto.route53.urls as r53_urls
from moto.core.responses import ActionResult, EmptyResult
from moto.core.utils import utcnow
from moto.route53 import exceptions as r53_exc
from moto.route53.models import HealthCheck, RecordSet
from moto.route53.responses import Route53

from . import addresses, control, health

Err = r53_exc.Route53ClientError
NoSuchHealthCheck = r53_exc.NoSuchHealthCheck
HC_TYPES = ["HTTP", "HTTPS", "HTTP_STR_MATCH", "HTTPS_STR_MATCH", "TCP", "CALCULATED",
            "CLOUDWATCH_METRIC", "RECOVERY_CONTROL"]
RR_TYPES = ["SOA", "A", "TXT", "NS", "CNAME", "MX", "NAPTR", "PTR", "SRV", "SPF", "AAAA", "CAA",
            "DS", "TLSA", "SSHFP", "SVCB", "HTTPS"]
_CHANGES = {}  # change id -> monotonic submit time


class InvalidInput(Err):
    def __init__(self, message):
        super().__init__("InvalidInput", message)


class InvalidChangeBatch(Err):
    def __init__(self, messages):
        # Real Route 53 lists every problem of the batch as "[msg1, msg2]" in a standard ErrorResponse
        # (aws-sdk-kotlin#1435) and applies none of the batch.
        super().__init__("InvalidChangeBatch", "[" + ", ".join(messages) + "]")


class HealthCheckAlreadyExists(Err):
    def __init__(self, ref, deleted):
        why = "was used by a health check that has been deleted" if deleted else \
            "is already used by a health check with different settings"
        super().__init__("HealthCheckAlreadyExists",
                         f"The CallerReference '{ref}' {why}.")


class HostedZoneAlreadyExists(Err):
    def __init__(self, name, ref):
        super().__init__("HostedZoneAlreadyExists",
                         f"A hosted zone has already been created with the specified caller reference '{ref}'.")


class HealthCheckVersionMismatch(Err):
    def __init__(self):
        super().__init__("HealthCheckVersionMismatch",
                         "The value of HealthCheckVersion in the request doesn't match the value of "
                         "HealthCheckVersion in the health check.")


class NoSuchChange(Err):
    def __init__(self, change_id):
        super().__init__("NoSuchChange", f"A change with the specified change ID {change_id} does not exist.")


def _range_error(field, value, lo=None, hi=None):
    # AWS model validation wording ("1 validation error detected: ...").
    if lo is not None and value < lo:
        bound = f"greater than or equal to {lo}"
    elif hi is not None and value > hi:
        bound = f"less than or equal to {hi}"
    else:
        return None
    return InvalidInput(f"1 validation error detected: Value '{value}' at '{field}' failed to "
                        f"satisfy constraint: Member must have value {bound}")


def _enum_error(value, allowed):
    return InvalidInput(f"Invalid XML ; cvc-enumeration-valid: Value '{value}' is not facet-valid "
                        f"with respect to enumeration '[{', '.join(allowed)}]'. It must be a value "
                        "from the enumeration.")


def new_change():
    """Route 53 returns a unique change id, PENDING until the change reaches every server."""
    cid = "C" + "".join(random.choices(string.ascii_uppercase + string.digits, k=13))
    _CHANGES[cid] = time.monotonic()
    return {"Id": f"/change/{cid}", "Status": "PENDING", "SubmittedAt": utcnow()}


def _change_info(cid):
    cid = cid.replace("/change/", "")
    if cid not in _CHANGES:
        raise NoSuchChange(cid)
    done = time.monotonic() - _CHANGES[cid] >= control.SETTINGS["change_delay"]
    return {"Id": f"/change/{cid}", "Status": "INSYNC" if done else "PENDING", "SubmittedAt": utcnow()}


# ---------------------------------------------------------------- health checks

def _hc_config(cfg, backend=None):
    """Validate a HealthCheckConfig (API reference constraints) and fill in documented defaults."""
    t = cfg.get("Type")
    if t not in HC_TYPES:
        raise _enum_error(t, HC_TYPES)
    c = {"Type": t}
    if t == "CALCULATED":
        return _calculated_config(cfg, c, backend)
    if t in health.ENDPOINT_TYPES:
        # Port: 1-65535; default 80 for HTTP*, 443 for HTTPS*; TCP requires a port.
        port = cfg.get("Port")
        if port is None:
            if t == "TCP":
                raise InvalidInput("Invalid parameter : Port is required for health checks of type TCP")
            port = 443 if t.startswith("HTTPS") else 80
        e = _range_error("healthCheckConfig.port", int(port), 1, 65535)
        if e:
            raise e
        c["Port"] = int(port)
        # RequestInterval: dev guide, "every 30 seconds or every 10 seconds"; it cannot be changed later.
        ri = 30 if cfg.get("RequestInterval") is None else int(cfg["RequestInterval"])
        e = _range_error("healthCheckConfig.requestInterval", ri, 10, 30)
        if e:
            raise e
        if ri not in (10, 30):
            raise InvalidInput(f"Invalid parameter : RequestInterval {ri} is not supported; specify 10 or 30")
        c["RequestInterval"] = ri
        ip, fqdn = cfg.get("IPAddress"), cfg.get("FullyQualifiedDomainName")
        if not ip and not fqdn:
            raise InvalidInput("Invalid parameter : Either IPAddress or FullyQualifiedDomainName must be specified")
        if ip is not None:
            _check_ip(ip)
        c["IPAddress"], c["FullyQualifiedDomainName"] = ip, fqdn
    ft = cfg.get("FailureThreshold")
    ft = 3 if ft is None else int(ft)
    # FailureThreshold: 1-10, default 3.
    e = _range_error("healthCheckConfig.failureThreshold", ft, 1, 10)
    if e:
        raise e
    c["FailureThreshold"] = ft
    _check_path_and_string(t, cfg.get("ResourcePath"), cfg.get("SearchString"))
    c["ResourcePath"], c["SearchString"] = cfg.get("ResourcePath"), cfg.get("SearchString")
    c["Regions"] = _check_regions(cfg.get("Regions"))
    for k in ("Inverted", "Disabled", "MeasureLatency", "EnableSNI"):
        c[k] = bool(cfg.get(k) or False)
    c["HealthThreshold"] = cfg.get("HealthThreshold")
    c["ChildHealthChecks"] = sorted(cfg.get("ChildHealthChecks") or []) or None
    c.update(_signal_config(t, cfg))
    return c


# AlarmIdentifier.Region: the CloudWatchRegion enum of the Route 53 service model.
_MODEL = botocore.session.get_session().get_service_model("route53")
CLOUDWATCH_REGIONS = list(_MODEL.shape_for("AlarmIdentifier").members["Region"].enum)
INSUFFICIENT_DATA_STATUSES = list(_MODEL.shape_for("InsufficientDataHealthStatus").enum)


def _signal_config(t, cfg):
    """AlarmIdentifier, InsufficientDataHealthStatus and RoutingControlArn (API reference,
    HealthCheckConfig): required by CLOUDWATCH_METRIC and RECOVERY_CONTROL respectively."""
    alarm, status = cfg.get("AlarmIdentifier"), cfg.get("InsufficientDataHealthStatus")
    arn = cfg.get("RoutingControlArn")
    if t == "CLOUDWATCH_METRIC" and not alarm:
        raise InvalidInput("Invalid parameter : AlarmIdentifier is required for health checks of type CLOUDWATCH_METRIC")
    if alarm is not None:
        _check_alarm(alarm)
    if status is not None and status not in INSUFFICIENT_DATA_STATUSES:
        raise _enum_error(status, INSUFFICIENT_DATA_STATUSES)
    if t == "RECOVERY_CONTROL" and not arn:
        raise InvalidInput("Invalid parameter : RoutingControlArn is required for health checks of type RECOVERY_CONTROL")
    _check_length("healthCheckConfig.routingControlArn", arn, 255)
    return {"AlarmIdentifier": {"Region": alarm["Region"], "Name": alarm["Name"]} if alarm else None,
            "InsufficientDataHealthStatus": status, "RoutingControlArn": arn}


def _check_alarm(alarm):
    # AlarmIdentifier: Region (CloudWatchRegion enum, required) and Name (1-256 characters, required).
    region, name = alarm.get("Region"), alarm.get("Name")
    if region not in CLOUDWATCH_REGIONS:
        raise _enum_error(region, CLOUDWATCH_REGIONS)
    if not name:
        raise InvalidInput("Invalid parameter : AlarmIdentifier.Name is required")
    _check_length("healthCheckConfig.alarmIdentifier.name", name, 256)


def _set_signal(hc, c):
    hc.alarm_identifier = c.get("AlarmIdentifier")
    hc.insufficient_data_health_status = c.get("InsufficientDataHealthStatus")
    hc.routing_control_arn = c.get("RoutingControlArn")


def _health_check_config(self):
    """moto's HealthCheck.health_check_config, plus the settings of CLOUDWATCH_METRIC and
    RECOVERY_CONTROL checks; those types have no endpoint, so no IPAddress, Port, RequestInterval,
    FailureThreshold or MeasureLatency are echoed for them."""
    config = _orig_hc_config(self)
    if self.type_ in ("CLOUDWATCH_METRIC", "RECOVERY_CONTROL"):
        for k in ("IPAddress", "Port", "RequestInterval", "FailureThreshold", "MeasureLatency",
                  "ResourcePath", "FullyQualifiedDomainName", "SearchString", "EnableSNI", "Regions"):
            config.pop(k, None)
    if getattr(self, "alarm_identifier", None):
        config["AlarmIdentifier"] = self.alarm_identifier
    if getattr(self, "insufficient_data_health_status", None):
        config["InsufficientDataHealthStatus"] = self.insufficient_data_health_status
    if getattr(self, "routing_control_arn", None):
        config["RoutingControlArn"] = self.routing_control_arn
    return config


def _check_children(children, threshold, backend, own_id=None):
    """CALCULATED (API reference): HealthThreshold 0-256; ChildHealthChecks at most 256 ids of at
    most 64 characters. A child must be an existing health check (Route 53 answers InvalidInput;
    the exact wording is not documented) and not the check itself. The API reference documents no
    rule against a calculated child, so one is accepted (health.py evaluates it, cycles unhealthy)."""
    if threshold is not None and (e := _range_error("healthCheckConfig.healthThreshold", int(threshold), 0, 256)):
        raise e
    children = list(children or [])
    if len(children) > 256:
        raise InvalidInput("1 validation error detected: Value at 'healthCheckConfig.childHealthChecks' "
                           "failed to satisfy constraint: Member must have length less than or equal to 256")
    for child in children:
        _check_length("healthCheckConfig.childHealthChecks.member", child, 64)
        if child == own_id:
            raise InvalidInput(f"Invalid parameter : a calculated health check cannot be its own child ({child})")
        if backend is not None and child not in backend.health_checks:
            raise InvalidInput(f"Invalid parameter : child health check {child} does not exist")


def _calculated_config(cfg, c, backend):
    children = cfg.get("ChildHealthChecks") or []
    threshold = cfg.get("HealthThreshold")
    _check_children(children, threshold, backend)
    c["HealthThreshold"] = None if threshold is None else int(threshold)
    c["ChildHealthChecks"] = sorted(children) or None
    for k in ("Inverted", "Disabled"):
        c[k] = bool(cfg.get(k) or False)
    return c


def _check_ip(ip):
    # IPAddress: an IPv4 or IPv6 address (API reference pattern).
    try:
        ipaddress.ip_address(ip)
    except ValueError:
        raise InvalidInput(f"Invalid IP address '{ip}'") from None
    # API reference constraint: no health checks of local, private, non-routable or multicast addresses
    # (RFC 5735, RFC 6598, RFC 5156; RFC 1918 is part of RFC 5735's list).
    refused = addresses.refusal(ip)
    if refused:
        raise InvalidInput(refused)


def _check_path_and_string(t, path, search):
    # ResourcePath: starts with '/', at most 255 characters.
    if path is not None:
        if len(path) > 255:
            raise InvalidInput("1 validation error detected: Value at 'healthCheckConfig.resourcePath' "
                               "failed to satisfy constraint: Member must have length less than or equal to 255")
        if not path.startswith("/"):
            raise InvalidInput(f"Invalid parameter : ResourcePath '{path}' must begin with a slash (/)")
    # SearchString: at most 255 characters; required for HTTP_STR_MATCH and HTTPS_STR_MATCH.
    if search is not None and len(search) > 255:
        raise InvalidInput("1 validation error detected: Value at 'healthCheckConfig.searchString' "
                           "failed to satisfy constraint: Member must have length less than or equal to 255")
    if t and t.endswith("_STR_MATCH") and not search:
        raise InvalidInput(f"Invalid parameter : SearchString is required for health checks of type {t}")


def _check_regions(regions):
    # Regions: values of the HealthCheckRegion enum; at least three when specified.
    if not regions:
        return None
    for r in regions:
        if r not in health.DEFAULT_REGIONS:
            raise _enum_error(r, health.DEFAULT_REGIONS)
    if len(set(regions)) < 3:
        raise InvalidInput("Invalid parameter : You must specify at least 3 regions for a health check")
    return sorted(set(regions))


def create_health_check(self):
    ref = self._get_param("CallerReference")
    backend = self.backend
    config = _hc_config(self._get_param("HealthCheckConfig") or {}, backend)
    # CallerReference (API reference): the same reference and settings return the existing check;
    # different settings, or the reference of a deleted check, give HealthCheckAlreadyExists.
    for hc in backend.health_checks.values():
        if hc.caller_reference == ref:
            if health._STATE.get(hc.id, {}).get("config") == config:
                return ActionResult({"HealthCheck": hc})
            raise HealthCheckAlreadyExists(ref, deleted=False)
    if ref in getattr(backend, "r53_deleted_refs", set()):
        raise HealthCheckAlreadyExists(ref, deleted=True)
    result = _orig["create_health_check"](self)
    hc = result.result["HealthCheck"]
    if "Port" in config:
        hc.port = config["Port"]
    if "FailureThreshold" in config:
        hc.failure_threshold = config["FailureThreshold"]
    hc.set_regions(config.get("Regions"))
    if config["Type"] == "CALCULATED":
        hc.health_threshold = config["HealthThreshold"]
        hc.set_children(config["ChildHealthChecks"] or [])
    _set_signal(hc, config)
    health.track(hc, config, self.current_account)
    result.result["Location"] = f"https://route53.amazonaws.com/2013-04-01/healthcheck/{hc.id}"
    return result


RESETTABLE = {"FullyQualifiedDomainName": "fqdn", "Regions": "regions", "ResourcePath": "resource_path",
              "ChildHealthChecks": "children"}


def update_health_check(self):
    hc_id = self._get_param("HealthCheckId")
    hc = self.backend.get_health_check(hc_id)
    version = self._get_param("HealthCheckVersion")
    # HealthCheckVersion (API reference): must match the current version, else HealthCheckVersionMismatch.
    if version is not None and int(version) != hc.health_check_version:
        raise HealthCheckVersionMismatch()
    port, ft = self._get_param("Port"), self._get_param("FailureThreshold")
    if port is not None and (e := _range_error("port", int(port), 1, 65535)):
        raise e
    if ft is not None and (e := _range_error("failureThreshold", int(ft), 1, 10)):
        raise e
    if self._get_param("IPAddress"):
        _check_ip(self._get_param("IPAddress"))
    _check_path_and_string(None, self._get_param("ResourcePath"), self._get_param("SearchString"))
    _check_regions(self._get_param("Regions"))
    if self._get_param("HealthThreshold") is not None or self._get_param("ChildHealthChecks") is not None:
        if hc.type_ != "CALCULATED":
            raise InvalidInput("Invalid parameter : HealthThreshold and ChildHealthChecks apply only to "
                               "CALCULATED health checks")
        _check_children(self._get_param("ChildHealthChecks"), self._get_param("HealthThreshold"),
                        self.backend, hc.id)
    reset = self._get_param("ResetElements") or []
    for element in reset:
        if element not in RESETTABLE:
            raise _enum_error(element, list(RESETTABLE))
    # AlarmIdentifier and InsufficientDataHealthStatus can be updated (UpdateHealthCheck request);
    # RoutingControlArn and Type cannot.
    alarm, status = self._get_param("AlarmIdentifier"), self._get_param("InsufficientDataHealthStatus")
    if alarm is not None:
        _check_alarm(alarm)
    if status is not None and status not in INSUFFICIENT_DATA_STATUSES:
        raise _enum_error(status, INSUFFICIENT_DATA_STATUSES)
    kept = {"regions": hc.regions, "children": hc.children}
    result = _orig["update_health_check"](self)
    # Elements missing from an UpdateHealthCheck request keep their values (moto clears these two).
    if self._get_param("Regions") is None:
        hc.regions = kept["regions"]
    if self._get_param("ChildHealthChecks") is None:
        hc.children = kept["children"]
    # ResetElements (API reference): reset the listed elements to their default values.
    for element in reset:
        setattr(hc, RESETTABLE[element], None)
    if alarm is not None:
        hc.alarm_identifier = {"Region": alarm["Region"], "Name": alarm["Name"]}
    if status is not None:
        hc.insufficient_data_health_status = status
    # HealthCheckVersion increments with every update (API reference).
    hc.health_check_version += 1
    st = health._STATE.get(hc.id)
    if st:
        st["config"] = dict(st["config"], **{k: v for k, v in hc.health_check_config.items()
                                              if k in st["config"]})
        if alarm is not None or status is not None:
            st["config"].update(AlarmIdentifier=getattr(hc, "alarm_identifier", None),
                                InsufficientDataHealthStatus=getattr(hc, "insufficient_data_health_status", None))
    return result


def delete_health_check(self):
    hc_id = self._get_param("HealthCheckId")
    backend = self.backend
    # DeleteHealthCheck of an unknown id: NoSuchHealthCheck (API reference errors).
    hc = backend.get_health_check(hc_id)
    backend.health_checks.pop(hc_id)
    # The CallerReference of a deleted check stays taken (HealthCheckAlreadyExists).
    if not hasattr(backend, "r53_deleted_refs"):
        backend.r53_deleted_refs = set()
    backend.r53_deleted_refs.add(hc.caller_reference)
    health.untrack(hc_id)
    return EmptyResult()


def list_health_checks(self):
    # Marker / MaxItems paging (API reference): NextMarker is the id of the first check of the next page.
    checks = self.backend.list_health_checks()
    marker = self._get_param("Marker")
    max_items = int(self._get_param("MaxItems") or 100)
    ids = [hc.id for hc in checks]
    start = ids.index(marker) if marker in ids else 0
    page = checks[start:start + max_items]
    truncated = start + max_items < len(checks)
    return ActionResult({"HealthChecks": page, "Marker": marker, "IsTruncated": truncated,
                         "NextMarker": checks[start + max_items].id if truncated else None,
                         "MaxItems": max_items})


def get_health_check_status(self):
    hc_id = self._get_param("HealthCheckId")
    hc = self.backend.get_health_check(hc_id)
    if hc.type_ == "CALCULATED":
        # API reference, GetHealthCheckStatus: "You can't use GetHealthCheckStatus to get the status
        # of a calculated health check" (its status is in the console and CloudWatch).
        raise InvalidInput(f"Invalid parameter : health check {hc_id} is a calculated health check; "
                           "GetHealthCheckStatus does not report calculated health checks")
    if hc.id not in health._STATE:
        health.track(hc, {}, self.current_account)
    # Per-checker observations from real probes (see health.py).
    return ActionResult({"HealthCheckObservations": health.observations(hc.id)})


def get_health_check_last_failure_reason(self):
    hc_id = self._get_param("HealthCheckId")
    hc = self.backend.get_health_check(hc_id)
    if hc.type_ == "CALCULATED":
        raise InvalidInput(f"Invalid parameter : health check {hc_id} is a calculated health check; "
                           "it has no checkers and no failure reasons")
    if hc.id not in health._STATE:
        health.track(hc, {}, self.current_account)
    return ActionResult({"HealthCheckObservations": health.last_failures(hc.id)})


def get_health_check_count(self):
    return ActionResult({"HealthCheckCount": len(self.backend.health_checks)})


def _check_tag_target(self):
    # Change/ListTagsForResource on an unknown health check: NoSuchHealthCheck (API reference errors).
    if self._get_param("ResourceType") == "healthcheck":
        self.backend.get_health_check(self._get_param("ResourceId"))


def _check_length(field, value, limit):
    # AWS model validation wording for a string longer than the member's maximum length.
    if value is not None and len(value) > limit:
        raise InvalidInput(f"1 validation error detected: Value '{value}' at '{field}' failed to satisfy "
                           f"constraint: Member must have length less than or equal to {limit}")


def _check_tag_lengths(self):
    # Tag (API reference): Key at most 128 characters, Value at most 256.
    for i, tag in enumerate(self._get_param("AddTags") or [], start=1):
        _check_length(f"addTags.{i}.member.key", tag.get("Key"), 128)
        _check_length(f"addTags.{i}.member.value", tag.get("Value"), 256)


def change_tags_for_resource(self):
    _check_tag_target(self)
    _check_tag_lengths(self)
    return _orig["change_tags_for_resource"](self)


def list_tags_for_resource(self):
    _check_tag_target(self)
    return _orig["list_tags_for_resource"](self)


# ---------------------------------------------------------------- hosted zones and changes

def create_hosted_zone(self):
    ref = self._get_param("CallerReference")
    # CreateHostedZone: a reused CallerReference gives HostedZoneAlreadyExists (API reference).
    for zone in self.backend.zones.values():
        if zone.caller_reference == ref:
            raise HostedZoneAlreadyExists(zone.name, ref)
    result = _orig["create_hosted_zone"](self)
    zone = result.result["HostedZone"]
    for rr in zone.rrsets:
        # The SOA record holds plain rdata (moto stores a Python dict repr).
        rr.records = [v["Value"] if isinstance(v, dict) else v for v in rr.records]
        rr.name = _fqdn(rr.name)
    result.result["ChangeInfo"] = new_change()
    return result


def delete_hosted_zone(self):
    result = _orig["delete_hosted_zone"](self)
    result.result["ChangeInfo"] = new_change()
    return result


def get_change(self):
    return ActionResult({"ChangeInfo": _change_info(self._get_param("Id"))})


def _labels_reversed(name):
    # ListHostedZonesByName / ListResourceRecordSets: sort by name with the labels reversed.
    return ".".join(reversed(_fqdn(name).rstrip(".").split(".")))


def list_hosted_zones_by_name(self):
    dns_name, zone_id = self._get_param("DNSName"), self._get_param("HostedZoneId")
    if zone_id and not dns_name:
        raise InvalidInput("The input is not valid")  # hostedzoneid requires dnsname
    max_items = int(self._get_param("MaxItems") or 100)
    zones = sorted(self.backend.zones.values(), key=lambda z: (_labels_reversed(z.name), z.resource_id))
    if dns_name:
        # Start at the first zone whose reversed name is >= DNSName (and id >= HostedZoneId).
        start = (_labels_reversed(dns_name), (zone_id or "").replace("/hostedzone/", ""))
        zones = [z for z in zones if (_labels_reversed(z.name), z.resource_id) >= start]
    page, rest = zones[:max_items], zones[max_items:]
    return ActionResult({"HostedZones": page, "DNSName": dns_name, "HostedZoneId": zone_id,
                         "IsTruncated": bool(rest), "MaxItems": max_items,
                         "NextDNSName": rest[0].name if rest else None,
                         "NextHostedZoneId": rest[0].resource_id if rest else None})


# ---------------------------------------------------------------- record sets

def _fqdn(name):
    name = (name or "").lower()
    return name if name.endswith(".") else name + "."


def _key(rr):
    return (rr["Name"], rr["Type"], rr.get("SetIdentifier"))


def _describe(rr):
    s = f"[name='{rr['Name']}', type='{rr['Type']}'"
    if rr.get("SetIdentifier") is not None:
        s += f", set-identifier='{rr['SetIdentifier']}'"
    return s + "]"


def _from_recordset(rs):
    alias = rs.alias_target
    return _norm({"Name": rs.name, "Type": rs.type, "SetIdentifier": rs.set_identifier,
                  "TTL": rs.ttl, "ResourceRecords": [{"Value": v} for v in rs.records or []],
                  "AliasTarget": alias, "HealthCheckId": rs.health_check_id, "Failover": rs.failover,
                  "Weight": rs.weight, "Region": rs.region, "GeoLocation": rs.geo_location,
                  "MultiValueAnswer": rs.multi_value_answer})


def _norm(r):
    alias = r.get("AliasTarget")
    if alias:
        alias = {"HostedZoneId": alias.get("HostedZoneId"), "DNSName": _fqdn(alias.get("DNSName")),
                 "EvaluateTargetHealth": bool(alias.get("EvaluateTargetHealth"))}
    records = [x["Value"] if isinstance(x, dict) else x for x in r.get("ResourceRecords") or []]
    return {"Name": _fqdn(r.get("Name")), "Type": r.get("Type"), "SetIdentifier": r.get("SetIdentifier"),
            "TTL": None if r.get("TTL") is None else int(r["TTL"]), "ResourceRecords": records or None,
            "AliasTarget": alias or None, "HealthCheckId": r.get("HealthCheckId"),
            "Failover": r.get("Failover"), "Weight": r.get("Weight"), "Region": r.get("Region"),
            "GeoLocation": r.get("GeoLocation"), "MultiValueAnswer": r.get("MultiValueAnswer")}


def _same_values(a, b):
    # DELETE: "you must specify all the same values that you specified when you created it".
    a, b = dict(a), dict(b)
    a["ResourceRecords"] = sorted(a["ResourceRecords"] or [])
    b["ResourceRecords"] = sorted(b["ResourceRecords"] or [])
    return a == b


def _where(action, rr):
    return (f"in Change with [Action={action}, Name={rr['Name']}, Type={rr['Type']}, "
            f"SetIdentifier={rr.get('SetIdentifier') or 'null'}]")


def _validate_change(action, rr, zone, backend):
    """Per-change checks. Returns InvalidChangeBatch messages; raises for InvalidInput/NoSuch*."""
    if action not in ("CREATE", "DELETE", "UPSERT"):
        raise _enum_error(action, ["CREATE", "DELETE", "UPSERT"])
    if rr["Type"] not in RR_TYPES:
        raise _enum_error(rr["Type"], RR_TYPES)
    has_alias, has_values = rr["AliasTarget"] is not None, rr["TTL"] is not None or rr["ResourceRecords"]
    # Exactly one of AliasTarget or (TTL and ResourceRecords) (real InvalidInput wording).
    if has_alias and has_values:
        raise InvalidInput("Invalid request: Expected exactly one of [AliasTarget, all of [TTL, and "
                           f"ResourceRecords], or TrafficPolicyInstanceId], but found more than one {_where(action, rr)}")
    if not has_alias and (rr["TTL"] is None or not rr["ResourceRecords"]):
        raise InvalidInput("Invalid request: Expected exactly one of [AliasTarget, all of [TTL, and "
                           f"ResourceRecords], or TrafficPolicyInstanceId], but found none {_where(action, rr)}")
    if rr["TTL"] is not None and (e := _range_error("changeBatch.changes.member.resourceRecordSet.tTL",
                                                    rr["TTL"], 0, 2147483647)):
        raise e
    if rr["Failover"] is not None:
        if rr["Failover"] not in ("PRIMARY", "SECONDARY"):
            raise _enum_error(rr["Failover"], ["PRIMARY", "SECONDARY"])
        # A failover record needs a SetIdentifier (real InvalidInput wording).
        if rr["SetIdentifier"] is None:
            raise InvalidInput(f"Invalid request: Missing field 'SetIdentifier' {_where(action, rr)}")
    # HealthCheckId must name an existing health check (ChangeResourceRecordSets error NoSuchHealthCheck).
    if rr["HealthCheckId"] is not None and rr["HealthCheckId"] not in backend.health_checks:
        raise NoSuchHealthCheck(rr["HealthCheckId"])
    msgs = []
    zone_name = _fqdn(zone.name)
    if rr["Name"] != zone_name and not rr["Name"].endswith("." + zone_name):
        # Real wording for a name outside the zone.
        msgs.append(f"RRSet with DNS name {rr['Name']} is not permitted in zone {zone_name}")
    if action == "DELETE":
        return msgs
    for v in rr["ResourceRecords"] or []:
        if rr["Type"] == "A" and not _is_ip(v, 4):
            msgs.append("Invalid Resource Record: FATAL problem: ARRDATAIllegalIPv4Address "
                        f"(Value is not a valid IPv4 address) encountered with '{v}'")
        if rr["Type"] == "AAAA" and not _is_ip(v, 6):
            msgs.append("Invalid Resource Record: FATAL problem: AAAARRDATAIllegalIPv6Address "
                        f"(Value is not a valid IPv6 address) encountered with '{v}'")
    if rr["Failover"] == "PRIMARY" and not has_alias and rr["HealthCheckId"] is None:
        # Real InvalidChangeBatch text (quoted in kubernetes-sigs/external-dns#2362).
        msgs.append("A non-alias primary ResourceRecordSet must have an associated health check. No changes made.")
    if rr["Type"] == "CNAME" and rr["Name"] == zone_name:
        msgs.append(f"RRSet of type CNAME with DNS name {rr['Name']} is not permitted at apex in zone {zone_name}")
    return msgs


def _is_ip(v, version):
    try:
        return ipaddress.ip_address(v).version == version
    except ValueError:
        return False


def _consistency(at_name, touched, zone_name):
    """Checks on the resulting zone for every (name, type) the batch touched; `at_name`: the rows of
    the resulting zone by name, for every touched name."""
    msgs = []
    for name, rtype in sorted(touched):
        group = [r for r in at_name[name] if r["Type"] == rtype]
        simple = [r for r in group if r["SetIdentifier"] is None]
        routed = [r for r in group if r["SetIdentifier"] is not None]
        if simple and routed:
            # Routing-policy sets and a simple set can't share a name and type.
            msgs.append(f"RRSet with DNS name {name}, type {rtype} cannot be created as other RRSets "
                        "exist with the same name and type.")
        failover = [r for r in routed if r["Failover"]]
        if failover and len(failover) != len(routed):
            msgs.append(f"RRSet with DNS name {name}, type {rtype} mixes failover and non-failover "
                        "record sets, which is not permitted.")
        for role in ("PRIMARY", "SECONDARY"):
            same = [r for r in failover if r["Failover"] == role]
            if len(same) > 1:
                # A failover name/type has at most one PRIMARY and one SECONDARY.
                msgs.append(f"RRSet with DNS name {name}, type {rtype}, SetIdentifier "
                            f"{same[1]['SetIdentifier']} cannot be created because a {role} failover "
                            "RRSet with the same name and type already exists.")
        if rtype != "CNAME" and any(r["Type"] == "CNAME" for r in at_name[name]) \
                or rtype == "CNAME" and any(r["Type"] != "CNAME" for r in at_name[name]):
            msgs.append(f"RRSet of type CNAME with DNS name {name} is not permitted because a conflicting "
                        f"RRSet with the same DNS name already exists in zone {zone_name}")
    return msgs


def _groups(at_name, touched):
    """The sets of each touched (name, type), in list order, from the zone's rows by name."""
    return {(name, rtype): sorted((r for r in at_name[name] if r["Type"] == rtype), key=_sort_key)
            for name, rtype in touched}


def answer_of(group):
    """What a resolver would get for one (name, type) from its sets, health aside: a simple record's
    values; for failover sets the PRIMARY's, else the SECONDARY's; for other routing policies any
    set's. None when nothing answers."""
    group = sorted(group, key=lambda r: {"PRIMARY": 0, "SECONDARY": 1}.get(r["Failover"], 2))
    if not group:
        return None
    r = group[0]
    return [f"alias {r['AliasTarget']['DNSName']}"] if r["AliasTarget"] else list(r["ResourceRecords"] or [])


def answer_gaps(before, after):
    """refuse_answer_gaps (a test knob, off by default): a (name, type) that had a failover PRIMARY
    before the batch must still have a PRIMARY after it. Route 53 itself accepts a lone failover
    record and the DELETE of a whole pair (nothing in its documentation refuses them, and
    CloudFormation writes the two records of a pair in separate calls); with the knob on, a test
    sees any intermediate state of a takeover that would drop the primary answer refused.
    `before`, `after`: the groups of the touched (name, type)s before and after the batch."""
    if not control.SETTINGS.get("refuse_answer_gaps"):
        return []
    msgs = []
    for (name, rtype), group in sorted(after.items()):
        def primary(g):
            return any(r["Failover"] == "PRIMARY" for r in g)
        if primary(before[(name, rtype)]) and not primary(group):
            left = "no record" if answer_of(group) is None else "only a SECONDARY"
            msgs.append(f"refuse_answer_gaps: the batch would leave the failover name {name} type "
                        f"{rtype} with {left} (no PRIMARY)")
    return msgs


class _ZoneIndex:
    """A zone's record sets as the handlers read them, kept between calls (10,000-record benchmarks
    would otherwise convert and sort the whole zone on every call): rows by key, moto's objects by
    key, keys by name, and the keys in list order. Rebuilt when zone.rrsets is not the list it was
    built from (moto itself adds the SOA and NS records of a new zone)."""

    def __init__(self, rrsets):
        self.rows, self.objs, self.by_name = {}, {}, {}
        for rs in rrsets:
            r = _from_recordset(rs)
            self._add(_key(r), r, rs)
        self.order = sorted((_sort_key(r), k) for k, r in self.rows.items())
        self.src, self.n = rrsets, len(rrsets)

    def _add(self, key, row, obj):
        self.rows[key], self.objs[key] = row, obj
        self.by_name.setdefault(key[0], set()).add(key)

    def apply(self, sets, changed):
        """Take the batch's result: `sets` (every row after it), `changed` (keys it created, replaced
        or deleted). Returns the new zone.rrsets list."""
        for key in changed:
            if key in self.rows:
                old = self.rows.pop(key)
                del self.objs[key]
                self.by_name[key[0]].discard(key)
                i = bisect.bisect_left(self.order, (_sort_key(old), key))
                del self.order[i]
            if key in sets:
                obj = _to_recordset(sets[key])
                row = _from_recordset(obj)  # as a later call would read it back
                self._add(key, row, obj)
                bisect.insort(self.order, (_sort_key(row), key))
        self.src = list(self.objs.values())
        self.n = len(self.src)
        return self.src

    def at_names(self, sets, names, changed):
        """The rows of `sets` (a state of this zone differing from the index by `changed` keys) whose
        name is one of `names`: {name: [row]}."""
        out = {}
        for name in names:
            # Record sets already in the zone first (in list order), then the batch's new ones in
            # batch order, as a zone that appends would hold them.
            old = sorted(self.by_name.get(name, ()), key=lambda k: _sort_key(self.rows[k]))
            new = [k for k in changed if k[0] == name and k not in self.rows]
            out[name] = [sets[k] for k in old + new if k in sets]
        return out


def _index(zone):
    idx = getattr(zone, "_world_index", None)
    if idx is None or idx.src is not zone.rrsets or idx.n != len(zone.rrsets):
        idx = _ZoneIndex(zone.rrsets)
        zone._world_index = idx
    return idx


def change_resource_record_sets(self):
    backend = self.backend
    zone = backend.get_hosted_zone(self._get_param("HostedZoneId"))
    changes = self._get_param("ChangeBatch.Changes") or []
    # ChangeBatch.Comment (API reference): at most 256 characters.
    _check_length("changeBatch.comment", self._get_param("ChangeBatch.Comment"), 256)
    idx = _index(zone)
    before = idx.rows
    sets = dict(before)
    msgs, touched, changed = [], set(), {}  # changed: an ordered set of keys
    for change in changes:
        action, rr = change.get("Action"), _norm(change.get("ResourceRecordSet") or {})
        msgs += _validate_change(action, rr, zone, backend)
        key, current = _key(rr), sets.get(_key(rr))
        touched.add(key[:2])
        # Record sets are identified by (name, type, SetIdentifier) - nothing else.
        if action == "CREATE" and current is not None:
            msgs.append(f"Tried to create resource record set {_describe(rr)} but it already exists")
        elif action == "DELETE" and current is None:
            msgs.append(f"Tried to delete resource record set {_describe(rr)} but it was not found")
        elif action == "DELETE" and not _same_values(current, rr):
            msgs.append(f"Tried to delete resource record set {_describe(rr)} but the values provided "
                        "do not match the current values")
        elif action == "DELETE":
            del sets[key]
            changed[key] = None
        else:
            sets[key] = rr  # CREATE, or UPSERT which replaces
            changed[key] = None
    names = {name for name, _ in touched}
    at_after = idx.at_names(sets, names, changed)
    msgs += _consistency(at_after, touched, _fqdn(zone.name))
    after = _groups(at_after, touched)
    msgs += answer_gaps(_groups(idx.at_names(before, names, ()), touched), after)
    if msgs:
        # A batch is all-or-nothing: any error rejects the whole ChangeBatch.
        raise InvalidChangeBatch(msgs)
    zone.rrsets = idx.apply(sets, changed)
    info = new_change()
    now = time.time()
    control.record_answers([
        {"time": now, "change": info["Id"].replace("/change/", ""), "name": name, "type": rtype,
         "sets": [{"SetIdentifier": r["SetIdentifier"], "Failover": r["Failover"],
                   "Values": r["ResourceRecords"], "HealthCheckId": r["HealthCheckId"]} for r in group],
         "answer": answer_of(group)}
        for (name, rtype), group in sorted(after.items())])
    return ActionResult({"ChangeInfo": info})


def _to_recordset(r):
    kwargs = {k: v for k, v in r.items() if v is not None}
    kwargs["ResourceRecords"] = r["ResourceRecords"] or []
    return RecordSet(kwargs)


def _sort_key(r):
    return (_labels_reversed(r["Name"]), r["Type"], r["SetIdentifier"] or "")


def list_resource_record_sets(self):
    zone = self.backend.get_hosted_zone(self._get_param("HostedZoneId"))
    name, rtype = self._get_param("StartRecordName"), self._get_param("StartRecordType")
    ident = self._get_param("StartRecordIdentifier")
    if (rtype and not name) or (ident and not rtype):
        raise InvalidInput("The input is not valid")
    max_items = int(self._get_param("MaxItems") or 300)
    idx = _index(zone)
    first = 0
    if name:
        # Start at StartRecordName/StartRecordType/StartRecordIdentifier (inclusive), in list order.
        first = bisect.bisect_left(idx.order, ((_labels_reversed(name), rtype or "", ident or ""),))
    keys = [k for _, k in idx.order[first:first + max_items + 1]]
    page, rest = keys[:max_items], keys[max_items:]
    nxt = idx.rows[rest[0]] if rest else None
    return ActionResult({
        "ResourceRecordSets": [idx.objs[k] for k in page], "IsTruncated": bool(rest),
        "NextRecordName": nxt["Name"] if nxt else None, "NextRecordType": nxt["Type"] if nxt else None,
        # NextRecordIdentifier is returned for record sets that have a routing policy.
        "NextRecordIdentifier": nxt["SetIdentifier"] if nxt else None, "MaxItems": max_items})


_PATCHES = [create_health_check, update_health_check, delete_health_check, list_health_checks,
            get_health_check_status, get_health_check_last_failure_reason, get_health_check_count,
            change_tags_for_resource, list_tags_for_resource, create_hosted_zone, delete_hosted_zone,
            get_change, list_hosted_zones_by_name, change_resource_record_sets, list_resource_record_sets]
_orig = {}


def _zone_ids_start_with_z():
    """Route 53 hosted zone ids start with "Z" (the CRD's pattern checks it); moto 5.2.5 draws all
    characters at random."""
    from moto.route53 import models as r53_models

    generate = r53_models.HostedZoneIdentifier.generate

    def zone_id(self, existing_ids=None, tags=None):
        zid = generate(self, existing_ids=existing_ids, tags=tags)
        return zid if zid.startswith("Z") else "Z" + zid[1:]

    r53_models.HostedZoneIdentifier.generate = zone_id


_orig_hc_config = HealthCheck.health_check_config.fget


def apply():
    _zone_ids_start_with_z()
    HealthCheck.health_check_config = property(_health_check_config)
    for fn in _PATCHES:
        _orig[fn.__name__] = getattr(Route53, fn.__name__, None)
        setattr(Route53, fn.__name__, fn)
    # Operations moto 5.2.5 does not route at all.
    r53_urls.url_paths[r"{0}/(?P<api_version>[\d_-]+)/healthcheck/(?P<health_check_id>[^/]+)/lastfailurereason$"] = Route53.dispatch
    r53_urls.url_paths[r"{0}/(?P<api_version>[\d_-]+)/healthcheckcount$"] = Route53.dispatch
