"""Addresses Route 53 will not health-check, and the double's routing table.

SPECIAL_USE is the one table of networks the double refuses in CreateHealthCheck/UpdateHealthCheck
IPAddress (API reference, HealthCheckConfig.IPAddress: "Route 53 can't check the health of endpoints
for which the IP address is in local, private, non-routable, or multicast ranges", pointing at
RFC 5735, RFC 6598 and RFC 5156). It matches SPECIAL_USE_NETWORKS in src/desired.rs.

ROUTES maps public endpoints to loopback backends: the double never sends a packet anywhere else
(see tests/world/README.md, "Routing table")."""
import ipaddress
import threading

# (network, kind); more specific networks first, so the kind named is the most precise one.
SPECIAL_USE = [(ipaddress.ip_network(n), kind) for n, kind in [
    ("0.0.0.0/8", '"this" network, RFC 5735'),
    ("10.0.0.0/8", "private, RFC 1918"),
    ("100.64.0.0/10", "shared address space, RFC 6598"),
    ("127.0.0.0/8", "loopback, RFC 5735"),
    ("169.254.0.0/16", "link-local, RFC 5735"),
    ("172.16.0.0/12", "private, RFC 1918"),
    ("192.0.0.0/24", "IETF protocol assignments, RFC 5735"),
    ("192.0.2.0/24", "documentation (TEST-NET-1), RFC 5735"),
    ("192.88.99.0/24", "6to4 relay anycast, RFC 5735"),
    ("192.168.0.0/16", "private, RFC 1918"),
    ("198.18.0.0/15", "benchmarking, RFC 5735"),
    ("198.51.100.0/24", "documentation (TEST-NET-2), RFC 5735"),
    ("203.0.113.0/24", "documentation (TEST-NET-3), RFC 5735"),
    ("224.0.0.0/4", "multicast, RFC 5735"),
    ("240.0.0.0/4", "reserved or limited broadcast, RFC 5735"),
    ("::/128", "unspecified, RFC 5156"),
    ("::1/128", "loopback, RFC 5156"),
    ("::ffff:0:0/96", "IPv4-mapped, RFC 5156"),
    ("::/96", "IPv4-compatible, RFC 5156"),
    ("fe80::/10", "link-local, RFC 5156"),
    ("fec0::/10", "site-local, RFC 5156"),
    ("fc00::/7", "unique local, RFC 5156"),
    ("2001:10::/28", "ORCHID, RFC 5156"),
    ("2001::/32", "Teredo, RFC 5156"),
    ("2001::/23", "IANA special-purpose block, RFC 5156"),
    ("2001:db8::/32", "documentation, RFC 5156"),
    ("2002::/16", "6to4, RFC 5156"),
    ("3ffe::/16", "former 6bone, RFC 5156"),
    ("5f00::/8", "former 6bone, RFC 5156"),
    ("ff00::/8", "multicast, RFC 5156"),
]]


def special_use(ip):
    """(network, kind) of the special-use network holding `ip` (a string), or None if public."""
    addr = ipaddress.ip_address(ip)
    for net, kind in SPECIAL_USE:
        if addr.version == net.version and addr in net:
            return net, kind
    return None


def refusal(ip):
    """The InvalidInput message for a health check on `ip`, or None if Route 53 would accept it."""
    hit = special_use(ip)
    if not hit:
        return None
    net, kind = hit
    # Wording follows the API reference constraint; the exact text of the real error is unverified.
    return (f"Invalid parameter : IP address {ip} is in {net} ({kind}). Route 53 can't check the health "
            "of endpoints for which the IP address is in local, private, non-routable, or multicast ranges")


# ------------------------------------------------------------------------------- routing table

_ROUTES = {}  # (host, port or None) -> (loopback ip, port or None)
_LOCK = threading.Lock()


class RouteError(ValueError):
    pass


def _host(h):
    """Canonical host: an IP address in its compressed form, else a lower-case name without the dot."""
    h = h.strip()
    if h.startswith("[") and h.endswith("]"):
        h = h[1:-1]
    try:
        return str(ipaddress.ip_address(h))
    except ValueError:
        name = h.lower().rstrip(".")
        if not name or any(c in name for c in " /[]@") or ":" in name:
            raise RouteError(f"not an IP address or host name: {h!r}") from None
        return name


def _port(p, what):
    try:
        port = int(p)
    except ValueError:
        raise RouteError(f"bad port in {what!r}") from None
    if not 1 <= port <= 65535:
        raise RouteError(f"port out of range in {what!r}")
    return port


def _split(s):
    """'host', 'host:port', 'v6' or '[v6]:port' -> (host, port or None)."""
    s = s.strip()
    if s.startswith("["):
        end = s.find("]")
        if end < 0:
            raise RouteError(f"unterminated [ in {s!r}")
        rest = s[end + 1:]
        if rest and not rest.startswith(":"):
            raise RouteError(f"bad address {s!r}")
        return _host(s[1:end]), (_port(rest[1:], s) if rest else None)
    try:
        return str(ipaddress.ip_address(s)), None  # a bare IPv6 address has no port
    except ValueError:
        pass
    if s.count(":") == 1:
        host, port = s.split(":")
        return _host(host), _port(port, s)
    return _host(s), None


def _parse(routes):
    if not isinstance(routes, dict):
        raise RouteError('body must be {"routes": {"<ip-or-fqdn>[:port]": "127.0.0.1[:port]"}}')
    table = {}
    for key, target in routes.items():
        if not isinstance(key, str) or not isinstance(target, str):
            raise RouteError(f"route {key!r}: keys and targets are strings")
        host, port = _split(key)
        t_host, t_port = _split(target)
        try:
            loopback = ipaddress.ip_address(t_host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            # The double never sends a packet to a real address: targets are loopback IPs only.
            raise RouteError(f"route {key!r}: target {target!r} is not a loopback IP address")
        table[(host, port)] = (t_host, t_port)
    return table


def _fmt(host, port):
    if port is None:
        return host
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def routes():
    with _LOCK:
        return {_fmt(*k): _fmt(*v) for k, v in sorted(_ROUTES.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0))}


def set_routes(body, merge):
    """PUT (replace) or POST (merge) /_world/routes. Raises RouteError on a bad table (nothing changes)."""
    table = _parse((body or {}).get("routes", {}) if isinstance(body, dict) else None)
    with _LOCK:
        if not merge:
            _ROUTES.clear()
        _ROUTES.update(table)
    return routes()


def lookup(host, port):
    """The loopback (ip, port) a probe of host:port connects to, or None (no route: unreachable)."""
    try:
        h = _host(host)
    except RouteError:
        return None
    with _LOCK:
        hit = _ROUTES.get((h, port)) or _ROUTES.get((h, None))
    if not hit:
        return None
    ip, p = hit
    return ip, (p if p is not None else port)
