//! Release: one version source, the release scripts under `scripts/release/` (run here for amd64), the
//! chart's Artifact Hub metadata and chart-testing values, and the GitHub workflows (actionlint).
//!
//! Tools come from `scripts/localenv install` (helm, the venv's kubernetes-validate and yamllint);
//! actionlint from `scripts/lint-workflows`.
//! The image test builds the static release binary, as tests/packaging.rs does.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde::Deserialize;
use serde_json::Value;
use support::text;

const CHART: &str = "charts/route53-failover-operator";

fn root() -> PathBuf {
    support::repo_root()
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

fn venv_tool(name: &str) -> PathBuf {
    let p = support::localenv_home().join("venv/bin").join(name);
    assert!(
        p.exists(),
        "{} missing: run `scripts/localenv install`",
        p.display()
    );
    p
}

/// [`support::run`] with the local helm as `HELM` (what the release scripts call).
fn run(cmd: &mut Command, stdin: Option<&str>) -> Output {
    support::run(cmd.env("HELM", support::tool("helm")), stdin)
}

/// Runs a repository script and returns its stdout, trimmed; panics with its output on failure.
fn script(path: &str, args: &[&str], dist: Option<&Path>) -> String {
    let mut cmd = Command::new("bash");
    cmd.arg(path).args(args);
    if let Some(d) = dist {
        cmd.env("DIST", d);
    }
    let out = run(&mut cmd, None);
    assert!(out.status.success(), "{path} {args:?}:\n{}", text(&out));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn docs(yaml: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(yaml)
        .map(|d| Value::deserialize(d).expect("yaml document"))
        .filter(|v| !v.is_null())
        .collect()
}

fn yaml(s: &str) -> Value {
    serde_yaml::from_str(s).expect("yaml")
}

fn chart() -> Value {
    yaml(&read(&format!("{CHART}/Chart.yaml")))
}

/// An Artifact Hub annotation: a YAML document inside a string.
fn annotation(key: &str) -> Value {
    yaml(
        chart()["annotations"][key]
            .as_str()
            .unwrap_or_else(|| panic!("Chart.yaml has no annotation {key}")),
    )
}

fn cargo_version() -> String {
    let cargo: toml_lite::Package = toml_lite::package(&read("Cargo.toml"));
    cargo.version
}

/// Just enough of Cargo.toml's `[package]` table, without a TOML dependency.
mod toml_lite {
    pub struct Package {
        pub version: String,
        pub license: String,
    }
    pub fn package(text: &str) -> Package {
        let mut in_package = false;
        let (mut version, mut license) = (None, None);
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with('[') {
                in_package = line == "[package]";
                continue;
            }
            let value = |l: &str| {
                l.split_once('=')
                    .map(|(_, v)| v.trim().trim_matches('"').to_string())
            };
            if in_package && line.starts_with("version") {
                version = value(line);
            }
            if in_package && line.starts_with("license") {
                license = value(line);
            }
        }
        Package {
            version: version.expect("[package] version"),
            license: license.expect("[package] license"),
        }
    }
}

fn helm_template(extra: &[&str]) -> String {
    let out = run(
        Command::new(support::tool("helm"))
            .args([
                "template",
                "rfo",
                CHART,
                "--namespace",
                "route53-failover-operator",
            ])
            .args(extra),
        None,
    );
    assert!(
        out.status.success(),
        "helm template {extra:?}:\n{}",
        text(&out)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn squash(s: &str) -> String {
    s.replace('`', "")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

// ----- one version ----------------------------------------------------------------------------------

#[test]
fn the_version_comes_from_cargo_toml_everywhere() {
    let version = cargo_version();
    assert_eq!(script("scripts/version", &[], None), version);
    assert_eq!(
        script("scripts/version", &["--tag"], None),
        format!("v{version}")
    );
    let chart = chart();
    assert_eq!(
        chart["version"].as_str(),
        Some(version.as_str()),
        "{CHART}/Chart.yaml version differs from Cargo.toml's {version}"
    );
    assert_eq!(
        chart["appVersion"].as_str(),
        Some(version.as_str()),
        "{CHART}/Chart.yaml appVersion differs from Cargo.toml's {version}"
    );
    // The Dockerfile takes the version as a build argument and refuses any other than Cargo.toml's.
    let dockerfile = read("Dockerfile");
    for needle in [
        "ARG VERSION",
        "org.opencontainers.image.version=\"${VERSION}\"",
        "org.opencontainers.image.revision=\"${REVISION}\"",
        "org.opencontainers.image.created=\"${CREATED}\"",
        "org.opencontainers.image.licenses=\"Apache-2.0\"",
        "grep -qx \"version = \\\"${VERSION}\\\"\" Cargo.toml",
    ] {
        assert!(dockerfile.contains(needle), "Dockerfile lacks {needle:?}");
    }
    assert!(
        !dockerfile.contains(&format!("\"{version}\"")),
        "version hard-coded in the Dockerfile"
    );
    assert!(read("scripts/build-image").contains("VERSION=$(scripts/version)"));
    // The licence the crate declares is the one in LICENSE and in the chart's metadata.
    let license = toml_lite::package(&read("Cargo.toml")).license;
    assert_eq!(license, "Apache-2.0");
    let text = read("LICENSE");
    assert!(text.contains("Apache License") && text.contains("Version 2.0, January 2004"));
    assert!(text.contains("END OF TERMS AND CONDITIONS"));
    assert_eq!(
        chart["annotations"]["artifacthub.io/license"],
        license.as_str()
    );
}

#[test]
fn release_notes_are_the_changelog_section_of_the_version() {
    let version = cargo_version();
    let notes = script("scripts/release/notes", &[], None);
    assert!(notes.starts_with(|c: char| !c.is_whitespace()), "{notes}");
    assert!(notes.contains("### Added"), "{notes}");
    assert!(
        !notes.contains("## ["),
        "notes run into the next section:\n{notes}"
    );
    assert_eq!(
        script("scripts/release/notes", &[&format!("v{version}")], None),
        notes,
        "a tag name selects the same section"
    );
    let changelog = read("CHANGELOG.md");
    assert!(changelog.contains("## [Unreleased]"));
    assert!(changelog.contains(&format!("\n## [{version}] - ")));
    assert!(changelog.contains(&format!("\n[{version}]: ")));
    // A version without a section fails.
    let out = run(
        Command::new("bash").args(["scripts/release/notes", "99.0.0"]),
        None,
    );
    assert!(!out.status.success());
    assert!(text(&out).contains("no section for 99.0.0"));
    // Artifact Hub's change log for this chart version is taken from the same section.
    let changes = annotation("artifacthub.io/changes");
    let changes = changes.as_array().expect("changes list");
    assert!(!changes.is_empty());
    let notes = squash(&notes);
    for c in changes {
        assert_eq!(c["kind"], "added", "{c}");
        let d = c["description"].as_str().expect("description");
        assert!(
            notes.contains(&squash(d)),
            "artifacthub.io/changes entry not in CHANGELOG.md's {version} section: {d}"
        );
    }
}

#[test]
fn chart_package_is_a_tgz_of_the_version() {
    let version = cargo_version();
    let dist = tempfile::tempdir().expect("tmp");
    let tgz = script("scripts/release/chart-package", &[], Some(dist.path()));
    assert_eq!(
        Path::new(&tgz),
        dist.path()
            .join(format!("route53-failover-operator-{version}.tgz"))
    );
    let out = run(
        Command::new("tar").args(["-xzOf", &tgz, "route53-failover-operator/Chart.yaml"]),
        None,
    );
    assert!(out.status.success(), "{}", text(&out));
    let packaged = yaml(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(packaged["version"].as_str(), Some(version.as_str()));
    assert_eq!(packaged["appVersion"].as_str(), Some(version.as_str()));
    let out = run(Command::new("tar").args(["-tzf", &tgz]), None);
    let files = String::from_utf8_lossy(&out.stdout).into_owned();
    for f in [
        "route53-failover-operator/crds/failoverrecord.yaml",
        "route53-failover-operator/values.schema.json",
        "route53-failover-operator/templates/tests/test-crd-and-readiness.yaml",
    ] {
        assert!(files.lines().any(|l| l == f), "{f} not packaged:\n{files}");
    }
    // The package renders like the chart directory.
    let out = run(
        Command::new(support::tool("helm")).args(["template", "rfo", &tgz]),
        None,
    );
    assert!(out.status.success(), "{}", text(&out));
}

// ----- Artifact Hub and chart-testing ---------------------------------------------------------------

#[test]
fn artifact_hub_annotations_are_true() {
    let chart = chart();
    let a = &chart["annotations"];
    assert_eq!(a["artifacthub.io/operator"], "true");
    assert!(
        [
            "Basic Install",
            "Seamless Upgrades",
            "Full Lifecycle",
            "Deep Insights",
            "Auto Pilot"
        ]
        .contains(
            &a["artifacthub.io/operatorCapabilities"]
                .as_str()
                .expect("capabilities")
        )
    );
    // CRDs: exactly the chart's CRD.
    let crd = yaml(&read(&format!("{CHART}/crds/failoverrecord.yaml")));
    let crds = annotation("artifacthub.io/crds");
    assert_eq!(crds.as_array().map(Vec::len), Some(1));
    assert_eq!(crds[0]["name"], crd["metadata"]["name"]);
    assert_eq!(crds[0]["kind"], crd["spec"]["names"]["kind"]);
    assert_eq!(crds[0]["version"], crd["spec"]["versions"][0]["name"]);
    // The CRD example is deploy/examples/a-record-https.yaml (which tests/packaging.rs validates).
    assert_eq!(
        annotation("artifacthub.io/crdsExamples"),
        Value::Array(docs(&read("deploy/examples/a-record-https.yaml"))),
        "artifacthub.io/crdsExamples differs from deploy/examples/a-record-https.yaml"
    );
    // Images: exactly the ones the chart renders (operator and helm test), the operator's at appVersion.
    let rendered: BTreeSet<String> = docs(&helm_template(&[]))
        .iter()
        .flat_map(|o| {
            let spec = if o["kind"] == "Pod" {
                &o["spec"]
            } else {
                &o["spec"]["template"]["spec"]
            };
            spec["containers"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| c["image"].as_str().expect("image").to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    let images = annotation("artifacthub.io/images");
    let listed: BTreeSet<String> = images
        .as_array()
        .expect("images")
        .iter()
        .map(|i| i["image"].as_str().expect("image").to_string())
        .collect();
    assert_eq!(listed, rendered);
    assert!(listed.contains(&format!(
        "ghcr.io/example/route53-failover-operator:{}",
        cargo_version()
    )));
    for link in annotation("artifacthub.io/links")
        .as_array()
        .expect("links")
    {
        let url = link["url"].as_str().expect("url");
        assert!(url.starts_with("https://"), "{url}");
        if let Some(path) = url.split("/blob/main/").nth(1) {
            assert!(root().join(path).exists(), "link to missing {path}");
        }
    }
}

#[test]
fn chart_testing_values_render_and_validate() {
    let dir = root().join(CHART).join("ci");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("ci/")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().expect("name").to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "default-values.yaml",
            "ha-values.yaml",
            "monitoring-values.yaml"
        ]
    );
    for file in &files {
        let name = file.display().to_string();
        assert!(
            name.ends_with("-values.yaml"),
            "ct only reads *-values.yaml: {name}"
        );
        let rendered = helm_template(&["--include-crds", "-f", &name]);
        let out = run(
            Command::new(venv_tool("kubernetes-validate")).args(["-k", "1.35", "--strict", "-"]),
            Some(&rendered),
        );
        assert!(
            out.status.success(),
            "{name} fails kubernetes-validate:\n{}",
            text(&out)
        );
        let objs = docs(&rendered);
        assert!(
            objs.iter().any(|o| o["kind"] == "Pod"),
            "{name}: no helm test Pod"
        );
        if name.ends_with("ha-values.yaml") {
            let dep = objs
                .iter()
                .find(|o| o["kind"] == "Deployment")
                .expect("Deployment");
            assert_eq!(dep["spec"]["replicas"], 3);
        }
        if name.ends_with("monitoring-values.yaml") {
            for kind in ["ServiceMonitor", "PrometheusRule", "NetworkPolicy"] {
                assert!(objs.iter().any(|o| o["kind"] == kind), "{name}: no {kind}");
            }
        }
    }
    let ct = yaml(&read("ct.yaml"));
    assert_eq!(ct["chart-dirs"], serde_json::json!(["charts"]));
    let out = run(
        Command::new(venv_tool("yamllint")).args(["--strict", "ct.yaml", ".github"]),
        None,
    );
    assert!(
        out.status.success(),
        "yamllint ct.yaml .github:\n{}",
        text(&out)
    );
}

// ----- workflows ------------------------------------------------------------------------------------

#[test]
fn workflows_pass_actionlint_and_call_our_release_scripts() {
    // scripts/lint-workflows runs actionlint (installing the pinned version with Go if needed).
    let out = run(Command::new("bash").arg("scripts/lint-workflows"), None);
    assert!(
        out.status.success(),
        "scripts/lint-workflows:\n{}",
        text(&out)
    );

    let wf = yaml(&read(".github/workflows/release.yaml"));
    assert_eq!(wf["on"]["push"]["tags"], serde_json::json!(["v*"]));
    let publish = &wf["jobs"]["publish"];
    assert_eq!(publish["permissions"]["id-token"], "write");
    assert_eq!(publish["permissions"]["packages"], "write");
    let archs: Vec<&str> = wf["jobs"]["image"]["strategy"]["matrix"]["include"]
        .as_array()
        .expect("matrix")
        .iter()
        .map(|i| i["arch"].as_str().expect("arch"))
        .collect();
    assert_eq!(archs, ["amd64", "arm64"]);
    // Every script the workflow calls exists and is executable, and every release script is called.
    let all_runs: String = wf["jobs"]
        .as_object()
        .expect("jobs")
        .values()
        .flat_map(|j| j["steps"].as_array().expect("steps").iter())
        .filter_map(|s| s["run"].as_str())
        .collect::<Vec<_>>()
        .join("\n");
    let called: BTreeSet<String> = all_runs
        .split(|c: char| c.is_whitespace() || "()\"".contains(c))
        .filter(|w| w.starts_with("scripts/"))
        .map(String::from)
        .collect();
    let present: BTreeSet<String> = std::fs::read_dir(root().join("scripts/release"))
        .expect("scripts/release")
        .map(|e| {
            format!(
                "scripts/release/{}",
                e.expect("entry").file_name().to_string_lossy()
            )
        })
        .collect();
    for s in &called {
        let meta = std::fs::metadata(root().join(s)).unwrap_or_else(|e| panic!("{s}: {e}"));
        use std::os::unix::fs::PermissionsExt;
        assert!(
            meta.permissions().mode() & 0o111 != 0,
            "{s} is not executable"
        );
    }
    // notes is called through github-release.
    let unused: Vec<_> = present
        .difference(&called)
        .filter(|s| !s.ends_with("/notes"))
        .collect();
    assert!(
        unused.is_empty(),
        "release scripts the workflow never calls: {unused:?}"
    );
    let ci = yaml(&read(".github/workflows/ci.yaml"));
    assert!(
        ci["jobs"]["test"]["steps"]
            .to_string()
            .contains("bash .ci/run")
    );
}

// ----- binary, image, SBOM --------------------------------------------------------------------------

/// scripts/release/build-binary, image and index for amd64 (the host): a static binary, an image whose
/// entrypoint runs and which carries the OCI labels from the one version, and a one-platform index.
/// Builds the release binary (shared with tests/packaging.rs's image test).
#[test]
fn release_image_for_amd64_builds_with_the_labels_and_indexes() {
    let version = cargo_version();
    let dist = tempfile::tempdir().expect("tmp");
    let bin = script(
        "scripts/release/build-binary",
        &["amd64"],
        Some(dist.path()),
    );
    assert_eq!(
        Path::new(&bin),
        dist.path().join("amd64/route53-failover-operator")
    );
    let reference = script("scripts/release/image", &["amd64"], Some(dist.path()));
    assert!(
        reference.ends_with(&format!(":{version}-amd64")),
        "{reference}"
    );
    let layout = dist.path().join("image-amd64/oci");
    let blob = |layout: &Path, digest: &Value| -> Value {
        let d = digest.as_str().expect("digest").replace("sha256:", "");
        serde_json::from_slice(&std::fs::read(layout.join("blobs/sha256").join(d)).expect("blob"))
            .expect("blob json")
    };
    let index: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).expect("index"))
            .expect("json");
    let manifest = blob(&layout, &index["manifests"][0]["digest"]);
    let config = blob(&layout, &manifest["config"]["digest"]);
    assert_eq!(config["architecture"], "amd64");
    assert_eq!(config["os"], "linux");
    let labels = &config["config"]["Labels"];
    let head = run(Command::new("git").args(["rev-parse", "HEAD"]), None);
    let head = String::from_utf8_lossy(&head.stdout).trim().to_string();
    for (k, v) in [
        ("version", version.as_str()),
        ("revision", head.as_str()),
        ("licenses", "Apache-2.0"),
        ("title", "route53-failover-operator"),
        (
            "source",
            "https://github.com/example/route53-failover-operator",
        ),
    ] {
        assert_eq!(
            labels[format!("org.opencontainers.image.{k}")],
            v,
            "{labels}"
        );
    }
    assert!(
        labels["org.opencontainers.image.description"]
            .as_str()
            .is_some_and(|d| d.contains("Route 53"))
    );
    let created = labels["org.opencontainers.image.created"]
        .as_str()
        .expect("created");
    assert!(created.parse::<jiff::Timestamp>().is_ok(), "{created}");

    let reference = script("scripts/release/index", &["amd64"], Some(dist.path()));
    assert_eq!(
        reference,
        format!("{}:{version}", dist.path().join("oci").display())
    );
    let merged = dist.path().join("oci");
    let top: Value =
        serde_json::from_slice(&std::fs::read(merged.join("index.json")).expect("index"))
            .expect("json");
    assert_eq!(
        top["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"],
        version.as_str()
    );
    let image_index = blob(&merged, &top["manifests"][0]["digest"]);
    assert_eq!(
        image_index["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    assert_eq!(
        image_index["manifests"][0]["platform"],
        serde_json::json!({"os": "linux", "architecture": "amd64"})
    );
    assert_eq!(
        image_index["manifests"][0]["digest"],
        index["manifests"][0]["digest"]
    );
    // Every blob the index reaches is in the merged layout.
    let m = blob(&merged, &image_index["manifests"][0]["digest"]);
    for d in std::iter::once(&m["config"]["digest"]).chain(
        m["layers"]
            .as_array()
            .expect("layers")
            .iter()
            .map(|l| &l["digest"]),
    ) {
        let d = d.as_str().expect("digest").replace("sha256:", "");
        assert!(merged.join("blobs/sha256").join(d).exists());
    }
}

/// scripts/release/sbom needs cargo-cyclonedx, which the release workflow installs. It is not
/// installed here (building it takes minutes): the test runs it only when `cargo cyclonedx` exists.
#[test]
fn sbom_when_cargo_cyclonedx_is_installed() {
    let have = Command::new("cargo")
        .args(["cyclonedx", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !have {
        eprintln!("cargo-cyclonedx not installed: scripts/release/sbom not run");
        return;
    }
    let dist = tempfile::tempdir().expect("tmp");
    let path = script("scripts/release/sbom", &[], Some(dist.path()));
    let bom: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("sbom")).expect("json");
    assert_eq!(bom["bomFormat"], "CycloneDX");
}
