"""What Route 53 would answer now for a (name, type), health included: GET /_world/resolve.

The dev guide's failover rules (health-checks-how-route-53-chooses-records, and the Failover element
of the API reference's ResourceRecordSet): the PRIMARY while it is healthy; else the SECONDARY while
it is healthy; when both are unhealthy, the PRIMARY. A record is healthy when its health check (if it
has one) is healthy and, for an alias with EvaluateTargetHealth, when its alias target is healthy
too: a check and EvaluateTargetHealth on one alias record must both be healthy (dev guide, "What
happens when you associate a health check with an alias record", dns-failover-complex-configs).
An alias target in the same hosted zone is judged by that record's own answer; any other target (an
ELB, say) by POST /_world/targets (healthy unless set). Records without a health check and without
target evaluation are healthy."""
import threading

from moto.route53.models import route53_backends

from . import control, health

_TARGETS = {}  # lower-case fqdn of an alias target -> healthy
_LOCK = threading.Lock()


def _fqdn(name):
    name = (name or "").lower()
    return name if name.endswith(".") else name + "."


def set_target(dns_name, healthy):
    with _LOCK:
        _TARGETS[_fqdn(dns_name)] = bool(healthy)


def targets():
    with _LOCK:
        return dict(_TARGETS)


def _zone(zone_id):
    zone_id = (zone_id or "").replace("/hostedzone/", "")
    for account in list(route53_backends.keys()):
        for region in list(route53_backends[account].keys()):
            backend = route53_backends[account][region]
            if zone_id in backend.zones:
                return backend.zones[zone_id]
    return None


def _check_healthy(hc_id):
    st = health._STATE.get(hc_id)
    if st is None:
        return True  # never looked at: a new check is healthy until Route 53 has data
    if st["deleted"]:
        return False
    return health.overall(st)


def _record_healthy(zone, rs, rtype, depth):
    ok = True
    if rs.health_check_id:
        ok = _check_healthy(rs.health_check_id)
    alias = rs.alias_target
    if alias and alias.get("EvaluateTargetHealth") in (True, "true", "True"):
        target = _fqdn(alias.get("DNSName"))
        if (alias.get("HostedZoneId") or "").replace("/hostedzone/", "") == zone.id and depth < 8:
            ok = ok and _resolve(zone, target, rtype, depth + 1)["healthy"]
        else:
            with _LOCK:
                ok = ok and _TARGETS.get(target, True)
    return ok


def _describe(rs):
    if rs.alias_target:
        return [f"alias {_fqdn(rs.alias_target.get('DNSName'))}"]
    return [v["Value"] if isinstance(v, dict) else v for v in rs.records or []]


def _resolve(zone, name, rtype, depth=0):
    name = _fqdn(name)
    group = [rs for rs in zone.rrsets if _fqdn(rs.name) == name and rs.type == rtype]
    rows = [{"setIdentifier": rs.set_identifier, "failover": rs.failover,
             "healthCheckId": rs.health_check_id, "answer": _describe(rs),
             "healthy": _record_healthy(zone, rs, rtype, depth)} for rs in group]
    out = {"name": name, "type": rtype, "records": rows, "role": None, "setIdentifier": None,
           "answer": None, "healthy": False}
    if not rows:
        return out
    by_role = {r["failover"]: r for r in rows if r["failover"]}
    if by_role:
        primary, secondary = by_role.get("PRIMARY"), by_role.get("SECONDARY")
        if primary and primary["healthy"]:
            pick = primary
        elif secondary and secondary["healthy"]:
            pick = secondary
        else:
            pick = primary or secondary  # both unhealthy: Route 53 answers with the primary
    else:
        pick = next((r for r in rows if r["healthy"]), rows[0])
    out.update(role=pick["failover"], setIdentifier=pick["setIdentifier"], answer=pick["answer"],
               healthy=pick["healthy"])
    return out


def resolve(zone_id, name, rtype):
    """{"role": "PRIMARY" | "SECONDARY" | None, "answer": [...], "healthy": bool, "records": [...]};
    None when the zone does not exist."""
    with control.STATE_LOCK:
        zone = _zone(zone_id)
        if zone is None:
            return None
        return _resolve(zone, name, rtype)
