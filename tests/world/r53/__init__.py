"""Local Route 53 double: moto 5.2.5 plus a small shim (see tests/world/README.md, "Route 53 double").

* ``control`` - knobs, request counters, quota/fault injection and the ``/_world/`` control API.
* ``fixes``   - patches to moto's Route 53 handlers where moto diverges from the real service.
* ``health``  - real probing behind GetHealthCheckStatus, through the routing table.
* ``metrics`` - the AWS/Route53 CloudWatch metrics (HealthCheckStatus, HealthCheckPercentageHealthy)
  of every live endpoint check, put into moto's CloudWatch backend.
* ``addresses`` - the special-use networks Route 53 refuses to check, and the routing table that maps
  public endpoints to loopback backends.
"""
