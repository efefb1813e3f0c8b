//! The Kubernetes side of endpoint targets ([`crate::targets`]): reading the referenced Service,
//! Ingress or Gateway, the namespace allow-list, detecting the Gateway API, and the mapper from a
//! referenced object to the FailoverRecords that reference it (an index over the controller's
//! reflector store of FailoverRecords).
//!
//! The referenced objects are read with a GET at each reconcile of a FailoverRecord that has a
//! target; they are watched (list/watch) only to trigger those reconciles when an address
//! appears, changes or disappears.

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Client, ResourceExt};

use crate::crd::{FailoverRecordSpec, FailoverRecordStatus, RecordType, Role};
use crate::targets::{
    self, Address, NOT_LOAD_BALANCER, Resolved, TARGET_LOST, TARGET_NOT_ALLOWED, TARGET_PENDING,
    TargetError, TargetKind, TargetRef, UNSUPPORTED_TARGET,
};
use crate::watched::Watched;

/// API group of the Gateway API.
pub const GATEWAY_GROUP: &str = "gateway.networking.k8s.io";

/// The Gateway API's `Gateway` (v1), for the dynamic API.
pub fn gateway_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(GATEWAY_GROUP, "v1", "Gateway"),
        "gateways",
    )
}

/// Whether the API server serves `gateways` in `gateway.networking.k8s.io/v1` (the Gateway API
/// CRDs are installed). Errors count as "not installed".
pub async fn gateway_api_installed(client: &Client) -> bool {
    match client
        .list_api_group_resources(&format!("{GATEWAY_GROUP}/v1"))
        .await
    {
        Ok(list) => list.resources.iter().any(|r| r.name == "gateways"),
        Err(_) => false,
    }
}

/// Which namespaces a FailoverRecord may reference objects in, besides its own.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TargetNamespaces(pub Vec<String>);

impl TargetNamespaces {
    /// Whether a record in `record_ns` may reference an object in `target_ns`.
    pub fn allows(&self, record_ns: &str, target_ns: &str) -> bool {
        record_ns == target_ns || self.0.iter().any(|n| n == "*" || n == target_ns)
    }
}

/// What a referenced object publishes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fetched {
    /// The object does not exist.
    Missing,
    /// The object exists; its addresses (possibly none yet).
    Addresses(Vec<Address>),
}

/// The addresses a Service of type LoadBalancer publishes, or why it cannot be a target.
pub fn service_addresses(svc: &Service) -> Result<Vec<Address>, TargetError> {
    let kind = svc
        .spec
        .as_ref()
        .and_then(|s| s.type_.clone())
        .unwrap_or_else(|| "ClusterIP".into());
    if kind != "LoadBalancer" {
        return Err(TargetError::new(
            NOT_LOAD_BALANCER,
            format!(
                "Service {}/{} is of type {kind}, not LoadBalancer: only a load balancer has an address outside the cluster",
                svc.namespace().unwrap_or_default(),
                svc.name_any()
            ),
        ));
    }
    Ok(svc
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|i| {
            i.ip.as_deref()
                .and_then(Address::parse)
                .or_else(|| i.hostname.as_deref().and_then(Address::parse))
        })
        .collect())
}

/// The addresses an Ingress publishes.
pub fn ingress_addresses(ing: &Ingress) -> Vec<Address> {
    ing.status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|i| {
            i.ip.as_deref()
                .and_then(Address::parse)
                .or_else(|| i.hostname.as_deref().and_then(Address::parse))
        })
        .collect()
}

/// The addresses a Gateway publishes (`status.addresses[].value`, IPAddress or Hostname).
pub fn gateway_addresses(gw: &DynamicObject) -> Vec<Address> {
    gw.data
        .pointer("/status/addresses")
        .and_then(serde_json::Value::as_array)
        .into_iter()
        .flatten()
        .filter(|a| {
            a.get("type")
                .and_then(serde_json::Value::as_str)
                .is_none_or(|t| t == "IPAddress" || t == "Hostname")
        })
        .filter_map(|a| a.get("value").and_then(serde_json::Value::as_str))
        .filter_map(Address::parse)
        .collect()
}

/// Read a referenced object. `gateway_api`: whether the Gateway API is installed (detected at
/// start-up).
pub async fn fetch(
    client: &Client,
    tref: &TargetRef,
    gateway_api: bool,
) -> Result<Result<Fetched, TargetError>, kube::Error> {
    let ns = tref.namespace.as_str();
    Ok(match tref.kind {
        TargetKind::Service => {
            let api: Api<Service> = Api::namespaced(client.clone(), ns);
            match api.get_opt(&tref.name).await? {
                None => Ok(Fetched::Missing),
                Some(svc) => service_addresses(&svc).map(Fetched::Addresses),
            }
        }
        TargetKind::Ingress => {
            let api: Api<Ingress> = Api::namespaced(client.clone(), ns);
            Ok(match api.get_opt(&tref.name).await? {
                None => Fetched::Missing,
                Some(ing) => Fetched::Addresses(ingress_addresses(&ing)),
            })
        }
        TargetKind::Gateway => {
            if !gateway_api {
                return Ok(Err(TargetError::new(
                    UNSUPPORTED_TARGET,
                    format!(
                        "{tref}: the Gateway API ({GATEWAY_GROUP}/v1 gateways) was not installed when the operator started: install its CRDs and restart the operator"
                    ),
                )));
            }
            let api: Api<DynamicObject> =
                Api::namespaced_with(client.clone(), ns, &gateway_resource());
            Ok(match api.get_opt(&tref.name).await? {
                None => Fetched::Missing,
                Some(gw) => Fetched::Addresses(gateway_addresses(&gw)),
            })
        }
    })
}

/// Resolve every target of a spec. `Ok(None)`: the spec has no target. `Ok(Some(spec))`: the spec
/// with values or aliases in place of its targets ([`targets::resolved_spec`]). `Err(Ok(e))`: a
/// target cannot be used yet or at all (`Ready=False` with its reason, nothing written); a
/// target that was resolved before (status has the endpoint) and has no address now is
/// [`TARGET_LOST`]: the records keep the last address Route 53 has. `Err(Err(e))`: the API server
/// failed (retried).
pub async fn resolve_spec(
    client: &Client,
    record_namespace: &str,
    spec: &FailoverRecordSpec,
    status: Option<&FailoverRecordStatus>,
    allowed: &TargetNamespaces,
    gateway_api: bool,
) -> Result<Option<FailoverRecordSpec>, Result<TargetError, kube::Error>> {
    let refs = targets::spec_targets(spec, record_namespace);
    if refs.iter().all(Option::is_none) {
        return Ok(None);
    }
    let mut resolved: [Option<Resolved>; 2] = [None, None];
    for role in Role::ALL {
        let Some(tref) = &refs[role.index()] else {
            continue;
        };
        let what = format!("the {} endpoint's {tref}", role.short());
        if !allowed.allows(record_namespace, &tref.namespace) {
            return Err(Ok(TargetError::new(
                TARGET_NOT_ALLOWED,
                format!(
                    "{what}: namespace {} is not one the operator lets FailoverRecords of {record_namespace} reference (run --target-namespace)",
                    tref.namespace
                ),
            )));
        }
        let fetched = match fetch(client, tref, gateway_api).await {
            Ok(Ok(f)) => f,
            Ok(Err(e)) => return Err(Ok(e)),
            Err(e) => return Err(Err(e)),
        };
        let written = status
            .and_then(|s| s.hosted_zone_id.as_ref().and(s.endpoint(role)))
            .is_some();
        let rtype: RecordType = spec.record_type;
        let zone_override = endpoint_target_zone(spec, role);
        let result = match fetched {
            Fetched::Missing => Err(TargetError::new(
                TARGET_PENDING,
                format!("{what} does not exist"),
            )),
            Fetched::Addresses(addrs) => {
                targets::resolve(rtype, &what, &addrs, zone_override.as_deref())
            }
        };
        match result {
            Ok(r) => resolved[role.index()] = Some(r),
            Err(e) if e.reason == TARGET_PENDING && written => {
                return Err(Ok(TargetError::new(
                    TARGET_LOST,
                    format!(
                        "{}: the records in Route 53 are kept with the last address they have, until the object has an address again or the FailoverRecord changes",
                        e.message
                    ),
                )));
            }
            Err(e) => return Err(Ok(e)),
        }
    }
    Ok(Some(targets::resolved_spec(spec, &resolved)))
}

fn endpoint_target_zone(spec: &FailoverRecordSpec, role: Role) -> Option<String> {
    let ep = match role {
        Role::Primary => &spec.primary,
        Role::Secondary => &spec.secondary,
    };
    ep.target
        .as_ref()
        .and_then(|t| t.alias_hosted_zone_id.clone())
}

/// The FailoverRecords in `store` whose targets name `kind` `namespace`/`name`: the mapper of the
/// controller's watches of Services, Ingresses and Gateways.
pub fn referencing(
    store: &Store<Watched>,
    kind: TargetKind,
    namespace: &str,
    name: &str,
) -> Vec<ObjectRef<Watched>> {
    store
        .state()
        .iter()
        .filter_map(|w| {
            let spec = w.spec.as_ref().ok()?;
            let ns = w.metadata.namespace.as_deref()?;
            let hit = targets::spec_targets(spec, ns)
                .iter()
                .flatten()
                .any(|t| t.kind == kind && t.namespace == namespace && t.name == name);
            let name = w.metadata.name.as_deref()?;
            hit.then(|| ObjectRef::new(name).within(ns))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        LoadBalancerIngress, LoadBalancerStatus, ServiceSpec, ServiceStatus,
    };

    #[test]
    fn a_service_must_be_a_load_balancer() {
        let mut svc = Service {
            spec: Some(ServiceSpec {
                type_: Some("ClusterIP".into()),
                ..ServiceSpec::default()
            }),
            ..Service::default()
        };
        assert_eq!(
            service_addresses(&svc).expect_err("ClusterIP").reason,
            NOT_LOAD_BALANCER
        );
        svc.spec = Some(ServiceSpec {
            type_: Some("LoadBalancer".into()),
            ..ServiceSpec::default()
        });
        assert_eq!(service_addresses(&svc), Ok(vec![]));
        svc.status = Some(ServiceStatus {
            load_balancer: Some(LoadBalancerStatus {
                ingress: Some(vec![
                    LoadBalancerIngress {
                        ip: Some("52.94.76.10".into()),
                        ..LoadBalancerIngress::default()
                    },
                    LoadBalancerIngress {
                        hostname: Some("a.us-east-1.elb.amazonaws.com".into()),
                        ..LoadBalancerIngress::default()
                    },
                ]),
            }),
            ..ServiceStatus::default()
        });
        assert_eq!(
            service_addresses(&svc),
            Ok(vec![
                Address::Ip("52.94.76.10".parse().expect("ip")),
                Address::Host("a.us-east-1.elb.amazonaws.com".into())
            ])
        );
    }

    #[test]
    fn gateway_addresses_are_read_from_status() {
        let gw: DynamicObject = serde_json::from_value(serde_json::json!({
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "Gateway",
            "metadata": {"name": "gw", "namespace": "ns"},
            "status": {"addresses": [
                {"type": "IPAddress", "value": "52.94.76.10"},
                {"value": "2600:1f18::1"},
                {"type": "Hostname", "value": "gw.example.com"},
                {"type": "example.com/custom", "value": "whatever"}
            ]}
        }))
        .expect("gateway");
        assert_eq!(
            gateway_addresses(&gw),
            vec![
                Address::Ip("52.94.76.10".parse().expect("ip")),
                Address::Ip("2600:1f18::1".parse().expect("ip")),
                Address::Host("gw.example.com".into()),
            ]
        );
    }

    #[test]
    fn other_namespaces_need_the_allow_list() {
        let none = TargetNamespaces::default();
        assert!(none.allows("a", "a"));
        assert!(!none.allows("a", "b"));
        let some = TargetNamespaces(vec!["b".into()]);
        assert!(some.allows("a", "b"));
        assert!(!some.allows("a", "c"));
        assert!(TargetNamespaces(vec!["*".into()]).allows("a", "c"));
    }
}
