//! The README stays true: its IAM policy is the one in deploy/iam, and every script and file it
//! points at exists.

mod support;

use serde_json::Value;

fn readme() -> String {
    std::fs::read_to_string(support::repo_root().join("README.md")).expect("README.md")
}

#[test]
fn readme_iam_policy_is_the_deploy_file() {
    let text = readme();
    let section = text
        .split("## Least-privilege IAM policy")
        .nth(1)
        .expect("IAM section");
    let block = section
        .split("```json\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("json block");
    let in_readme: Value = serde_json::from_str(block).expect("README policy is JSON");
    let file = std::fs::read_to_string(
        support::repo_root().join("deploy/iam/route53-failover-operator-policy.json"),
    )
    .expect("policy file");
    let on_disk: Value = serde_json::from_str(&file).expect("policy file is JSON");
    assert_eq!(
        in_readme, on_disk,
        "README's policy differs from deploy/iam"
    );
}

#[test]
fn paths_in_the_readme_exist() {
    let text = readme();
    let mut missing = Vec::new();
    for part in text.split(['(', '`', ' ', '\n']) {
        let p = part.trim_end_matches([')', '`', ',', '.', ':', ';']);
        let looks_local = [
            "scripts/", "deploy/", "charts/", "crds/", "tests/", "src/", ".ci/",
        ]
        .iter()
        .any(|d| p.starts_with(d));
        if looks_local && !p.contains('*') && !p.contains('<') {
            let path = p.split('#').next().unwrap_or(p);
            if !support::repo_root().join(path).exists() {
                missing.push(path.to_string());
            }
        }
    }
    missing.sort();
    missing.dedup();
    assert!(
        missing.is_empty(),
        "README points at missing paths: {missing:?}"
    );
}
