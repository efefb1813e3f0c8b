//! route53-failover-operator library.
