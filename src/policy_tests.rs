use super::*;
use crate::route53::fake::FakeRoute53;

const EXAMPLE: &str = r#"
namespaces:
  team-a:
    zones: ["example.com", "Z0123456789ABCDEFGHIJ"]
    names: ["a.example.com", "*.a.example.com"]
  team-b:
  - {zones: [example.com], names: ["*.b.example.com"]}
  - {zones: ["/hostedzone/Z0000000000000000000B"], names: ["b.example.org"]}
  ops:
    zones: ["*"]
    names: ["*"]
default: deny
"#;

fn policy(text: &str) -> NamespacePolicy {
    NamespacePolicy::parse(text).expect("valid policy")
}

fn by_name(zone: &str) -> ZoneRef {
    ZoneRef::Name(fqdn(zone))
}

fn by_id(id: &str) -> ZoneRef {
    ZoneRef::Id(id.into())
}

fn zone(id: &str, name: &str) -> Zone {
    Zone {
        id: id.into(),
        name: fqdn(name),
        private: false,
    }
}

fn allowed(p: &NamespacePolicy, ns: &str, z: &ZoneRef, name: &str) -> bool {
    p.judge(ns, z, name, None) == Verdict::Allowed
}

fn refusal(v: Verdict) -> String {
    match v {
        Verdict::NotAllowed(m) => m,
        v => panic!("expected NotAllowed, got {v:?}"),
    }
}

#[test]
fn exact_names_and_suffix_patterns() {
    let p = policy(EXAMPLE);
    let z = by_name("example.com");
    assert!(allowed(&p, "team-a", &z, "a.example.com."));
    assert!(allowed(&p, "team-a", &z, "app.a.example.com."));
    assert!(allowed(&p, "team-a", &z, "x.y.a.example.com."));
    // `*.a.example.com` is strictly below; a look-alike suffix is not below.
    assert!(!allowed(&p, "team-a", &z, "xa.example.com."));
    assert!(!allowed(&p, "team-a", &z, "b.example.com."));
    assert!(!allowed(&p, "team-a", &z, "example.com."));
    let only_below = policy(
        "namespaces: {n: {zones: [example.com], names: ['*.a.example.com']}}\ndefault: deny",
    );
    assert!(!allowed(&only_below, "n", &z, "a.example.com."));
    assert!(allowed(&only_below, "n", &z, "w.a.example.com."));
}

#[test]
fn names_compare_as_the_operator_writes_them() {
    // Upper case and trailing dots in the file, and names with or without the dot, are all one.
    let p = policy(
        "namespaces: {n: {zones: [Example.COM.], names: [App.Example.com., '*.A.example.COM']}}\ndefault: deny",
    );
    let z = by_name("example.com");
    assert!(allowed(&p, "n", &z, "app.example.com"));
    assert!(allowed(&p, "n", &z, "app.example.com."));
    assert!(allowed(&p, "n", &z, "x.a.example.com"));
    assert!(allowed(
        &p,
        "n",
        &by_name("example.com."),
        "app.example.com."
    ));
    assert!(!allowed(&p, "n", &z, "app2.example.com."));
}

#[test]
fn zones_by_name_and_by_id() {
    let p = policy(EXAMPLE);
    // Given in the spec the way the rule lists it: judged without a lookup.
    assert!(allowed(
        &p,
        "team-a",
        &by_name("example.com"),
        "a.example.com."
    ));
    assert!(allowed(
        &p,
        "team-a",
        &by_id("Z0123456789ABCDEFGHIJ"),
        "a.example.com."
    ));
    // A `/hostedzone/` prefix in the file is the same id.
    assert!(allowed(
        &p,
        "team-b",
        &by_id("Z0000000000000000000B"),
        "b.example.org."
    ));
    // A zone by name the rule does not list, and no id in the rule: refused at once.
    let m = refusal(p.judge("team-b", &by_name("other.com"), "x.b.example.com.", None));
    assert!(m.contains("may not use the hosted zone other.com"), "{m}");
    assert!(
        m.contains("namespaces.team-b[0] allows zones example.com"),
        "{m}"
    );
}

#[test]
fn a_zone_given_the_other_way_is_resolved_first() {
    let p = policy(EXAMPLE);
    let id = by_id("Z0OTHERID");
    assert_eq!(
        p.judge("team-a", &id, "a.example.com.", None),
        Verdict::ResolveZone
    );
    assert_eq!(
        p.judge(
            "team-a",
            &id,
            "a.example.com.",
            Some(&zone("Z0OTHERID", "example.com"))
        ),
        Verdict::Allowed
    );
    let m = refusal(p.judge(
        "team-a",
        &id,
        "a.example.com.",
        Some(&zone("Z0OTHERID", "example.net")),
    ));
    assert!(
        m.contains("may not use the hosted zone example.net (Z0OTHERID) for a.example.com"),
        "{m}"
    );
    assert!(
        m.contains("namespaces.team-a allows zones example.com, Z0123456789ABCDEFGHIJ"),
        "{m}"
    );
    // By name, against a rule listing only ids: the name must resolve to a listed id.
    let ids = policy("namespaces: {n: {zones: [Z0AAA], names: ['*']}}\ndefault: deny");
    let name = by_name("example.com");
    assert_eq!(
        ids.judge("n", &name, "w.example.com.", None),
        Verdict::ResolveZone
    );
    assert_eq!(
        ids.judge(
            "n",
            &name,
            "w.example.com.",
            Some(&zone("Z0AAA", "example.com"))
        ),
        Verdict::Allowed
    );
    assert!(matches!(
        ids.judge(
            "n",
            &name,
            "w.example.com.",
            Some(&zone("Z0BBB", "example.com"))
        ),
        Verdict::NotAllowed(_)
    ));
}

#[test]
fn the_name_is_judged_before_any_lookup() {
    let p = policy(EXAMPLE);
    let m = refusal(p.judge("team-a", &by_id("Z0OTHERID"), "b.example.com.", None));
    assert!(
        m.contains("namespace team-a may not claim the name b.example.com: namespaces.team-a allows names a.example.com, *.a.example.com"),
        "{m}"
    );
}

#[test]
fn a_namespace_with_several_rules_needs_one_allowing_both() {
    let p = policy(EXAMPLE);
    assert!(allowed(
        &p,
        "team-b",
        &by_name("example.com"),
        "x.b.example.com."
    ));
    // The name of rule 1 in the zone of rule 0: no single rule allows both.
    let z = by_name("example.com");
    assert_eq!(
        p.judge("team-b", &z, "b.example.org.", None),
        Verdict::ResolveZone
    );
    let resolved = zone("Z0EXAMPLE", "example.com");
    let m = refusal(p.judge("team-b", &z, "b.example.org.", Some(&resolved)));
    assert!(
        m.contains("hosted zone example.com (Z0EXAMPLE) for b.example.org"),
        "{m}"
    );
    assert!(
        m.contains("namespaces.team-b[1] allows zones Z0000000000000000000B"),
        "{m}"
    );
}

#[test]
fn defaults_allow_deny_or_a_rule() {
    let deny = policy(EXAMPLE);
    let m = refusal(deny.judge("team-c", &by_name("example.com"), "c.example.com.", None));
    assert!(
        m.contains(
            "namespace team-c is not listed in the namespace policy, and its default is deny"
        ),
        "{m}"
    );
    assert!(allowed(
        &deny,
        "ops",
        &by_id("Z0ANY"),
        "anything.example.net."
    ));

    let allow = policy("default: allow");
    assert!(allowed(
        &allow,
        "whoever",
        &by_id("Z0ANY"),
        "anything.example.net."
    ));
    assert_eq!(allow.summary(), "0 namespace(s) listed, default allow");

    let rule =
        policy("namespaces: {}\ndefault: {zones: [example.com], names: ['*.shared.example.com']}");
    assert!(allowed(
        &rule,
        "x",
        &by_name("example.com"),
        "app.shared.example.com."
    ));
    let m = refusal(rule.judge("x", &by_name("example.com"), "app.example.com.", None));
    assert!(
        m.contains("default allows names *.shared.example.com"),
        "{m}"
    );
    // A listed namespace gets its own rules only, not the default's.
    let listed =
        policy("namespaces: {a: {zones: [example.com], names: [a.example.com]}}\ndefault: allow");
    assert!(!allowed(
        &listed,
        "a",
        &by_name("example.com"),
        "b.example.com."
    ));
    assert!(allowed(
        &listed,
        "b",
        &by_name("example.com"),
        "b.example.com."
    ));
}

#[test]
fn json_files_parse_too() {
    let p = policy(
        r#"{"namespaces": {"team-a": {"zones": ["example.com"], "names": ["*.a.example.com"]}}, "default": "deny"}"#,
    );
    assert!(allowed(
        &p,
        "team-a",
        &by_name("example.com"),
        "x.a.example.com."
    ));
}

#[test]
fn invalid_files_are_refused_with_the_place_and_the_reason() {
    let cases: &[(&str, &str)] = &[
        ("namespaces: {}", "default: missing"),
        (
            "default: maybe",
            "default: must be `deny`, `allow` or a rule",
        ),
        ("default: deny\nextra: 1", "unknown field `extra`"),
        (
            "namespaces: {a: {zone: [example.com], names: ['*']}}\ndefault: deny",
            "namespaces.a: unknown field `zone`",
        ),
        (
            "namespaces: {a: {zones: [], names: ['*']}}\ndefault: deny",
            "namespaces.a.zones: empty",
        ),
        (
            "namespaces: {a: {zones: ['*'], names: []}}\ndefault: deny",
            "namespaces.a.names: empty",
        ),
        (
            "namespaces: {a: {zones: ['exa mple.com'], names: ['*']}}\ndefault: deny",
            "namespaces.a.zones[0]: \"exa mple.com\" is neither a hosted zone id",
        ),
        (
            "namespaces: {a: {zones: ['/hostedzone/zlower'], names: ['*']}}\ndefault: deny",
            "namespaces.a.zones[0]",
        ),
        (
            "namespaces: {a: [{zones: ['*'], names: ['a.*.example.com']}]}\ndefault: deny",
            "namespaces.a[0].names[0]: \"a.*.example.com\" is not a DNS name",
        ),
        (
            "namespaces: {a: {zones: ['*'], names: ['*example.com']}}\ndefault: deny",
            "namespaces.a.names[0]",
        ),
        (
            "namespaces: {a: []}\ndefault: deny",
            "namespaces.a: an empty list of rules",
        ),
        (
            "namespaces: {Team_A: {zones: ['*'], names: ['*']}}\ndefault: deny",
            "\"Team_A\" is not a namespace name",
        ),
        ("namespaces: {a: 3}\ndefault: deny", "namespaces.a:"),
        ("[1, 2", ""),
        ("", ""),
    ];
    for (text, want) in cases {
        let err = NamespacePolicy::parse(text).expect_err(text);
        assert!(err.contains(want), "{text:?}: {err}");
    }
    let missing =
        NamespacePolicy::load(Path::new("/nonexistent/policy.yaml")).expect_err("missing");
    assert!(
        missing.starts_with("namespace policy /nonexistent/policy.yaml: "),
        "{missing}"
    );
}

fn spec(zone: &str, name: &str) -> FailoverRecordSpec {
    serde_yaml::from_str(&format!(
        r#"
hostedZone: {zone}
name: {name}
type: A
primary:
  values: ["52.94.76.10"]
  healthCheck: {{type: TCP, port: 443}}
secondary:
  values: ["52.94.76.20"]
"#
    ))
    .expect("spec")
}

const UID: &str = "11111111-2222-4333-8444-555555555555";

#[tokio::test]
async fn the_gate_refuses_before_any_write_and_resolves_read_only() {
    let r53 = FakeRoute53::new();
    let id = r53.add_zone("example.com");
    let p = policy(EXAMPLE);
    // Allowed by zone name, no lookup.
    let ok = spec("{name: example.com}", "app.a.example.com");
    assert!(gate(&p, &r53, "team-a", &ok, "o", UID, 1).await.is_none());
    assert_eq!(r53.calls().values().sum::<usize>(), 0, "{:?}", r53.calls());
    // By id against a rule listing the name: one read-only lookup, then allowed.
    let by_id = spec(&format!("{{id: {id}}}"), "app.a.example.com");
    assert!(
        gate(&p, &r53, "team-a", &by_id, "o", UID, 1)
            .await
            .is_none()
    );
    assert_eq!(r53.write_calls(), 0);
    // Not allowed: Ready=False NotAllowed, an error that waits for a spec change, nothing written.
    let other = spec("{name: example.com}", "b.example.com");
    let out = gate(&p, &r53, "team-a", &other, "o", UID, 3)
        .await
        .expect("refused");
    let obs = out.observation.expect("status");
    assert_eq!(obs.readiness.status, "False");
    assert_eq!(obs.readiness.reason, NOT_ALLOWED);
    assert_eq!(obs.generation, Some(3));
    assert!(obs.readiness.message.starts_with("not allowed by the namespace policy: namespace team-a may not claim the name b.example.com"), "{}", obs.readiness.message);
    assert!(matches!(out.result, Err(Error::NotAllowed(_))));
    assert_eq!(
        out.result.as_ref().err().map(Error::retry),
        Some(crate::error::Retry::AwaitChange)
    );
    let out = gate(&p, &r53, "team-x", &ok, "o", UID, 1)
        .await
        .expect("refused");
    assert!(matches!(out.result, Err(Error::NotAllowed(_))));
    assert_eq!(r53.write_calls(), 0);
    assert_eq!(r53.call_count("ListResourceRecordSets"), 0);
    assert_eq!(r53.call_count("ListHealthChecks"), 0);
    // A zone that must be resolved and does not exist: ZoneNotFound, retried slowly.
    let missing = spec("{id: Z0MISSING}", "app.a.example.com");
    let out = gate(&p, &r53, "team-a", &missing, "o", UID, 1)
        .await
        .expect("refused");
    assert_eq!(
        out.observation.expect("status").readiness.reason,
        "ZoneNotFound"
    );
    // An invalid spec is left to the reconcile (InvalidSpec, nothing written).
    let invalid = spec("{name: example.com}", "app.elsewhere.org");
    assert!(
        gate(&p, &r53, "team-x", &invalid, "o", UID, 1)
            .await
            .is_none()
    );
}
