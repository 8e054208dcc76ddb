//! The deployment files under `deploy/` checked against each other and against the
//! binaries (issue 7): Kubernetes manifests parse and name their kind, probes hit
//! `/healthz` and `/readyz` on ports the containers open, selectors match the pods,
//! every secret reference resolves, every environment variable is one the binary reads,
//! and the systemd units have what systemd needs. (`scripts/test.sh` also validates the
//! manifests against the Kubernetes API schemas with kubernetes-validate.)

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use regex::Regex;
use serde::Deserialize as _;
use serde_json::Value;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lives in the repository")
        .to_owned()
}

pub fn read(relative: &str) -> String {
    let path = repo_root().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {relative}: {e}"))
}

/// Every document of a YAML file, as JSON values.
pub fn yaml_documents(relative: &str) -> Vec<Value> {
    let text = read(relative);
    serde_norway::Deserializer::from_str(&text)
        .map(|document| {
            Value::deserialize(document)
                .unwrap_or_else(|e| panic!("{relative} is not valid YAML: {e}"))
        })
        .filter(|document| !document.is_null())
        .collect()
}

const KUBERNETES_DIR: &str = "deploy/kubernetes";

/// `(file, document)` for every resource of every manifest except the kustomization.
fn resources() -> Vec<(String, Value)> {
    let mut files: Vec<String> = std::fs::read_dir(repo_root().join(KUBERNETES_DIR))
        .expect("deploy/kubernetes exists")
        .map(|entry| entry.expect("a directory entry").file_name())
        .map(|name| name.to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".yaml") && name != "kustomization.yaml")
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no manifests in {KUBERNETES_DIR}");
    files
        .into_iter()
        .flat_map(|file| {
            yaml_documents(&format!("{KUBERNETES_DIR}/{file}"))
                .into_iter()
                .map(move |document| (file.clone(), document))
        })
        .collect()
}

fn of_kind<'a>(all: &'a [(String, Value)], kind: &str) -> Vec<&'a Value> {
    all.iter()
        .filter(|(_, document)| document["kind"] == kind)
        .map(|(_, document)| document)
        .collect()
}

fn name(resource: &Value) -> &str {
    resource["metadata"]["name"].as_str().unwrap_or("?")
}

fn workload<'a>(all: &'a [(String, Value)], kind: &str, wanted: &str) -> &'a Value {
    of_kind(all, kind)
        .into_iter()
        .find(|resource| name(resource) == wanted)
        .unwrap_or_else(|| panic!("no {kind} named {wanted}"))
}

/// Pod templates of Deployments and Jobs, with the name of their owner.
fn pod_templates(all: &[(String, Value)]) -> Vec<(String, &Value)> {
    ["Deployment", "Job"]
        .iter()
        .flat_map(|kind| of_kind(all, kind))
        .map(|resource| (name(resource).to_owned(), &resource["spec"]["template"]))
        .collect()
}

fn array(value: &Value) -> &[Value] {
    value.as_array().map(Vec::as_slice).unwrap_or(&[])
}

/// Whether `selector` (a label map) selects a pod with `labels`.
fn selects(selector: &Value, labels: &Value) -> bool {
    let Some(selector) = selector.as_object() else {
        return false;
    };
    !selector.is_empty() && selector.iter().all(|(key, value)| labels[key] == *value)
}

/// The binary a container runs, from its image name.
fn binary_of(container: &Value) -> &'static str {
    let image = container["image"].as_str().unwrap_or_default();
    if image.contains("control-plane") {
        "control-plane"
    } else if image.contains("data-plane") {
        "data-plane"
    } else {
        panic!(
            "container {} runs an unknown image {image:?}",
            container["name"]
        )
    }
}

/// Environment variables `binary` reads: its clap `env = "..."` flags and its direct
/// `env::var("...")` reads, found in its sources (so flags added later count too), plus
/// the ones its libraries read: `RUST_LOG` (tracing's filter) and the standard `OTEL_*`
/// variables of the OpenTelemetry SDK (SPEC §13).
pub fn variables_read_by(binary: &str) -> BTreeSet<String> {
    let flag = Regex::new(r#"env\s*=\s*"([A-Z][A-Z0-9_]*)""#).expect("a regex");
    let direct = Regex::new(r#"env::var(?:_os)?\(\s*"([A-Z][A-Z0-9_]*)""#).expect("a regex");
    let mut names: BTreeSet<String> = ["RUST_LOG"].iter().map(|s| (*s).to_owned()).collect();
    for text in rust_sources(&repo_root().join(binary).join("src")) {
        for re in [&flag, &direct] {
            names.extend(re.captures_iter(&text).map(|c| c[1].to_owned()));
        }
    }
    assert!(
        names.contains("DATABASE_URL") || names.contains("DP_STATE_DIR"),
        "no flags found in {binary}/src: {names:?}"
    );
    names
}

pub fn is_standard_otel_variable(name: &str) -> bool {
    name.starts_with("OTEL_")
}

/// The text of every `.rs` file under `dir`.
pub fn rust_sources(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                out.push(std::fs::read_to_string(&path).expect("a readable source file"));
            }
        }
    }
    out
}

#[test]
fn every_manifest_parses_names_its_kind_and_is_in_the_kustomization() {
    let all = resources();
    for (file, resource) in &all {
        for field in ["apiVersion", "kind"] {
            assert!(
                resource[field].as_str().is_some_and(|s| !s.is_empty()),
                "{file}: a document without {field}: {resource}"
            );
        }
        assert!(
            resource["metadata"]["name"].as_str().is_some(),
            "{file}: a {} without metadata.name",
            resource["kind"]
        );
    }
    let kinds: BTreeSet<&str> = all.iter().filter_map(|(_, r)| r["kind"].as_str()).collect();
    for kind in [
        "Deployment",
        "Service",
        "Secret",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "Job",
    ] {
        assert!(kinds.contains(kind), "no {kind} in {KUBERNETES_DIR}");
    }

    let kustomization = yaml_documents(&format!("{KUBERNETES_DIR}/kustomization.yaml"));
    assert_eq!(kustomization.len(), 1);
    let kustomization = &kustomization[0];
    assert_eq!(kustomization["kind"], "Kustomization");
    let listed: BTreeSet<&str> = array(&kustomization["resources"])
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let files: BTreeSet<&str> = all.iter().map(|(file, _)| file.as_str()).collect();
    assert_eq!(
        listed, files,
        "kustomization.yaml lists every manifest, no more"
    );
    for image in array(&kustomization["images"]) {
        let image_name = image["name"].as_str().expect("an image name");
        assert!(
            pod_templates(&all).iter().any(|(_, template)| {
                array(&template["spec"]["containers"]).iter().any(|c| {
                    c["image"]
                        .as_str()
                        .is_some_and(|i| i.split(':').next() == Some(image_name))
                })
            }),
            "kustomization.yaml sets image {image_name}, which no container uses"
        );
    }
}

#[test]
fn deployments_probe_health_and_readiness_on_their_container_ports() {
    let all = resources();
    let control_plane = workload(&all, "Deployment", "control-plane");
    assert_eq!(
        control_plane["spec"]["replicas"], 2,
        "two control-plane replicas"
    );
    workload(&all, "Deployment", "data-plane");

    for deployment in of_kind(&all, "Deployment") {
        let deployment_name = name(deployment);
        let pod = &deployment["spec"]["template"]["spec"];
        assert_eq!(
            pod["securityContext"]["runAsNonRoot"], true,
            "{deployment_name}: pods run as non-root"
        );
        for container in array(&pod["containers"]) {
            let what = format!("{deployment_name}/{}", container["name"]);
            let ports: BTreeMap<&str, u64> = array(&container["ports"])
                .iter()
                .map(|p| {
                    (
                        p["name"].as_str().unwrap_or_default(),
                        p["containerPort"].as_u64().expect("a container port"),
                    )
                })
                .collect();
            let resolve = |port: &Value| -> u64 {
                match port {
                    Value::String(port_name) => {
                        *ports.get(port_name.as_str()).unwrap_or_else(|| {
                            panic!("{what}: a probe uses port {port_name}, which is not declared")
                        })
                    }
                    Value::Number(number) => {
                        let number = number.as_u64().expect("a port number");
                        assert!(
                            ports.values().any(|p| *p == number),
                            "{what}: probe port {number} is not a container port"
                        );
                        number
                    }
                    other => panic!("{what}: a probe port {other}"),
                }
            };
            for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
                let get = &container[probe]["httpGet"];
                assert_eq!(get["path"], path, "{what}: {probe} path");
                let port = resolve(&get["port"]);
                // The probed port is the one the binary listens on.
                let addr_var = match binary_of(container) {
                    "control-plane" => "CP_HTTP_ADDR",
                    _ => "DP_HTTP_ADDR",
                };
                let addr = env_value(container, addr_var)
                    .unwrap_or_else(|| panic!("{what}: {addr_var} is not set"));
                assert!(
                    addr.ends_with(&format!(":{port}")) && addr.starts_with("0.0.0.0:"),
                    "{what}: {probe} probes port {port}, but {addr_var}={addr}"
                );
            }
            if binary_of(container) == "control-plane" {
                let grpc = env_value(container, "CP_GRPC_ADDR").expect("CP_GRPC_ADDR");
                let grpc_port = grpc.rsplit(':').next().and_then(|p| p.parse::<u64>().ok());
                assert_eq!(grpc_port, ports.get("grpc").copied(), "{what}: gRPC port");
            }
            for (kind, limit) in [
                ("requests", "cpu"),
                ("requests", "memory"),
                ("limits", "memory"),
            ] {
                assert!(
                    container["resources"][kind][limit].is_string(),
                    "{what}: no resources.{kind}.{limit}"
                );
            }
            let security = &container["securityContext"];
            assert_eq!(security["readOnlyRootFilesystem"], true, "{what}");
            assert_eq!(security["allowPrivilegeEscalation"], false, "{what}");
        }
    }

    // The data plane's state directory is a writable volume (the root fs is read-only).
    let data_plane = workload(&all, "Deployment", "data-plane");
    let pod = &data_plane["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    let state_dir = env_value(container, "DP_STATE_DIR").expect("DP_STATE_DIR is set");
    let mount = array(&container["volumeMounts"])
        .iter()
        .find(|m| m["mountPath"] == state_dir.as_str())
        .unwrap_or_else(|| panic!("nothing is mounted at DP_STATE_DIR={state_dir}"));
    let volume = array(&pod["volumes"])
        .iter()
        .find(|v| v["name"] == mount["name"])
        .expect("the state volume is declared");
    assert!(volume["emptyDir"].is_object(), "{volume}");
}

fn env_value(container: &Value, variable: &str) -> Option<String> {
    array(&container["env"])
        .iter()
        .find(|e| e["name"] == variable)
        .and_then(|e| e["value"].as_str())
        .map(str::to_owned)
}

#[test]
fn services_autoscaler_and_disruption_budgets_select_the_right_pods() {
    let all = resources();
    let pods: Vec<(String, &Value)> = of_kind(&all, "Deployment")
        .into_iter()
        .map(|d| (name(d).to_owned(), &d["spec"]["template"]))
        .collect();
    let selected = |selector: &Value| -> Vec<&str> {
        pods.iter()
            .filter(|(_, template)| selects(selector, &template["metadata"]["labels"]))
            .map(|(owner, _)| owner.as_str())
            .collect()
    };
    // Every Deployment's selector matches its own pod template.
    for deployment in of_kind(&all, "Deployment") {
        let labels = &deployment["spec"]["template"]["metadata"]["labels"];
        assert!(
            selects(&deployment["spec"]["selector"]["matchLabels"], labels),
            "{}: the selector does not match its pods",
            name(deployment)
        );
    }
    for service in of_kind(&all, "Service") {
        if service["spec"]["type"] == "ExternalName" {
            assert!(service["spec"]["externalName"].is_string());
            continue;
        }
        let owners = selected(&service["spec"]["selector"]);
        assert_eq!(
            owners,
            vec![name(service)],
            "Service {} selects the pods of its Deployment only",
            name(service)
        );
        let template = pods
            .iter()
            .find(|(owner, _)| owner == name(service))
            .map(|(_, t)| *t)
            .expect("the Service's Deployment");
        let container_ports: Vec<&Value> = array(&template["spec"]["containers"])
            .iter()
            .flat_map(|c| array(&c["ports"]))
            .collect();
        for port in array(&service["spec"]["ports"]) {
            let target = &port["targetPort"];
            assert!(
                container_ports
                    .iter()
                    .any(|p| p["name"] == *target || p["containerPort"] == *target),
                "Service {}: targetPort {target} is no container port",
                name(service)
            );
        }
    }
    let control_plane_service = workload(&all, "Service", "control-plane");
    let service_ports: BTreeSet<u64> = array(&control_plane_service["spec"]["ports"])
        .iter()
        .filter_map(|p| p["port"].as_u64())
        .collect();
    assert_eq!(service_ports, BTreeSet::from([8080, 50051]));

    let autoscaler = workload(&all, "HorizontalPodAutoscaler", "data-plane");
    let target = &autoscaler["spec"]["scaleTargetRef"];
    assert_eq!(target["kind"], "Deployment");
    assert_eq!(target["name"], "data-plane");
    assert!(
        autoscaler["spec"]["minReplicas"].as_u64() >= Some(2),
        "at least two data planes"
    );

    for budget in of_kind(&all, "PodDisruptionBudget") {
        assert_eq!(
            selected(&budget["spec"]["selector"]["matchLabels"]),
            vec![name(budget)],
            "PodDisruptionBudget {} selects the pods of its Deployment only",
            name(budget)
        );
    }
    workload(&all, "PodDisruptionBudget", "data-plane");
    for policy in of_kind(&all, "NetworkPolicy") {
        assert!(
            !selected(&policy["spec"]["podSelector"]["matchLabels"]).is_empty(),
            "NetworkPolicy {} selects no pods",
            name(policy)
        );
    }
}

#[test]
fn every_secret_reference_resolves_and_placeholders_are_marked() {
    let all = resources();
    let mut secrets: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for secret in of_kind(&all, "Secret") {
        let mut keys = BTreeSet::new();
        for field in ["stringData", "data"] {
            if let Some(map) = secret[field].as_object() {
                for (key, value) in map {
                    keys.insert(key.clone());
                    if field == "stringData" {
                        assert!(
                            value.as_str().is_some_and(|v| v.contains("CHANGE-ME")),
                            "Secret {}: {key} must be a clearly marked placeholder",
                            name(secret)
                        );
                    }
                }
            }
        }
        secrets.insert(name(secret).to_owned(), keys);
    }
    let mut references = 0;
    for (owner, template) in pod_templates(&all) {
        for container in array(&template["spec"]["containers"]) {
            for variable in array(&container["env"]) {
                let reference = &variable["valueFrom"]["secretKeyRef"];
                if reference.is_null() {
                    continue;
                }
                references += 1;
                let secret = reference["name"].as_str().expect("a Secret name");
                let key = reference["key"].as_str().expect("a key");
                let keys = secrets.get(secret).unwrap_or_else(|| {
                    panic!(
                        "{owner}: {} refers to Secret {secret}, which is not defined",
                        variable["name"]
                    )
                });
                assert!(
                    keys.contains(key),
                    "{owner}: {} refers to {secret}/{key}, which is not defined",
                    variable["name"]
                );
            }
        }
    }
    assert!(
        references >= 5,
        "the database URL, JWT, node and upstream keys come from Secrets"
    );
    let external = of_kind(&all, "Service")
        .into_iter()
        .find(|s| s["spec"]["type"] == "ExternalName")
        .expect("Postgres as an ExternalName Service");
    assert!(
        all.iter().any(|(_, r)| {
            r["stringData"]["database-url"]
                .as_str()
                .is_some_and(|url| url.contains(&format!("@{}:", name(external))))
        }),
        "DATABASE_URL points at the ExternalName Service {}",
        name(external)
    );
}

#[test]
fn every_environment_variable_is_one_the_binary_reads() {
    let all = resources();
    for (owner, template) in pod_templates(&all) {
        for container in array(&template["spec"]["containers"]) {
            let binary = binary_of(container);
            let known = variables_read_by(binary);
            for variable in array(&container["env"]) {
                let variable = variable["name"].as_str().expect("a variable name");
                assert!(
                    known.contains(variable) || is_standard_otel_variable(variable),
                    "{owner}: {variable} is not read by {binary} (known: {known:?})"
                );
            }
            let args: Vec<&str> = array(&container["args"])
                .iter()
                .filter_map(Value::as_str)
                .collect();
            if binary == "control-plane" {
                assert!(
                    matches!(args.first(), Some(&"serve" | &"migrate")),
                    "{owner}: control-plane needs serve or migrate, got {args:?}"
                );
            }
        }
    }
    let job = workload(&all, "Job", "control-plane-migrate");
    assert_eq!(
        job["spec"]["template"]["spec"]["containers"][0]["args"][0],
        "migrate"
    );

    let assignment = Regex::new(r"^#?([A-Z][A-Z0-9_]*)=").expect("a regex");
    for (file, binary) in [
        ("deploy/systemd/control-plane.env.example", "control-plane"),
        ("deploy/systemd/data-plane.env.example", "data-plane"),
    ] {
        let known = variables_read_by(binary);
        let mut seen = 0;
        for line in read(file).lines() {
            if let Some(captures) = assignment.captures(line.trim()) {
                seen += 1;
                let variable = &captures[1];
                assert!(
                    known.contains(variable) || is_standard_otel_variable(variable),
                    "{file}: {variable} is not read by {binary}"
                );
            }
        }
        assert!(seen >= 5, "{file}: only {seen} settings");
    }
}

/// `section -> key -> values` of a systemd unit file.
fn unit_file(relative: &str) -> BTreeMap<String, BTreeMap<String, Vec<String>>> {
    let mut sections: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    let mut current = None;
    for (number, line) in read(relative).lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = Some(section.to_owned());
            sections.entry(section.to_owned()).or_default();
            continue;
        }
        let section = current
            .clone()
            .unwrap_or_else(|| panic!("{relative}:{}: a setting before any section", number + 1));
        let (key, value) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("{relative}:{}: not KEY=VALUE: {line:?}", number + 1));
        sections
            .entry(section)
            .or_default()
            .entry(key.trim().to_owned())
            .or_default()
            .push(value.trim().to_owned());
    }
    sections
}

#[test]
fn systemd_units_start_the_binaries_with_their_environment() {
    for binary in ["control-plane", "data-plane"] {
        let file = format!("deploy/systemd/{binary}.service");
        let unit = unit_file(&file);
        let get = |section: &str, key: &str| -> Vec<String> {
            unit.get(section)
                .and_then(|s| s.get(key))
                .cloned()
                .unwrap_or_else(|| panic!("{file}: no {key} in [{section}]"))
        };
        assert!(!get("Unit", "Description")[0].is_empty());
        let exec_start = &get("Service", "ExecStart")[0];
        assert!(
            exec_start.starts_with(&format!("/usr/local/bin/{binary}")),
            "{file}: ExecStart={exec_start}"
        );
        let environment_file = &get("Service", "EnvironmentFile")[0];
        assert_eq!(
            environment_file,
            &format!("/etc/policy-gateway/{binary}.env"),
            "{file}: the env file the example is installed as"
        );
        for key in ["User", "Restart", "Type", "KillSignal", "TimeoutStopSec"] {
            get("Service", key);
        }
        assert_ne!(get("Service", "User")[0], "root", "{file}: not root");
        assert_eq!(get("Install", "WantedBy")[0], "multi-user.target");
    }
    let data_plane = unit_file("deploy/systemd/data-plane.service");
    let service = &data_plane["Service"];
    let state_directory = &service["StateDirectory"][0];
    assert!(
        service["Environment"]
            .iter()
            .any(|e| *e == format!("DP_STATE_DIR=/var/lib/{state_directory}")),
        "DP_STATE_DIR is the unit's StateDirectory: {service:?}"
    );
    let control_plane = unit_file("deploy/systemd/control-plane.service");
    assert_eq!(
        control_plane["Service"]["ExecStartPre"][0],
        "/usr/local/bin/control-plane migrate"
    );
    assert!(control_plane["Service"]["ExecStart"][0].ends_with("serve --no-migrate"));
}

#[test]
fn the_dockerfile_builds_the_images_the_manifests_run() {
    let dockerfile = read("deploy/Dockerfile");
    let all = resources();
    for (owner, template) in pod_templates(&all) {
        let pod = &template["spec"];
        for container in array(&pod["containers"]) {
            let binary = binary_of(container);
            let stage = dockerfile
                .split("\nFROM ")
                .find(|stage| {
                    stage
                        .lines()
                        .next()
                        .is_some_and(|l| l.ends_with(&format!(" AS {binary}")))
                })
                .unwrap_or_else(|| panic!("deploy/Dockerfile has no `{binary}` target"));
            assert!(
                stage.contains(&format!("ENTRYPOINT [\"/usr/local/bin/{binary}\"]")),
                "the {binary} image runs {binary}"
            );
            let user = pod["securityContext"]["runAsUser"]
                .as_u64()
                .expect("runAsUser");
            assert!(
                stage.contains(&format!("USER {user}:")),
                "{owner}: the {binary} image runs as uid {user}, as the pod asks"
            );
        }
    }
}

/// What the probes and the collector ask of the real processes: every probed path of a
/// Deployment answers 200 on the binary it runs once that is ready, and so does
/// `/metrics` (scraped by deploy/otel-collector.yaml).
#[tokio::test]
async fn the_probed_paths_and_metrics_answer_on_the_real_binaries() {
    let all = resources();
    let stack = e2e_tests::Stack::start(e2e_tests::StackOptions {
        data_planes: 1,
        ..Default::default()
    })
    .await;
    let mut failures = Vec::new();
    for deployment in of_kind(&all, "Deployment") {
        for container in array(&deployment["spec"]["template"]["spec"]["containers"]) {
            let http = match binary_of(container) {
                "control-plane" => stack.cp.http(),
                _ => stack.dps[0].http(),
            };
            let mut paths: BTreeSet<&str> = ["livenessProbe", "readinessProbe", "startupProbe"]
                .iter()
                .filter_map(|probe| container[*probe]["httpGet"]["path"].as_str())
                .collect();
            paths.insert("/metrics");
            for path in paths {
                let reply = http.get(path).await;
                if reply.status != 200 {
                    failures.push(format!(
                        "{}: GET {path} on the running {} answered {} {}",
                        name(deployment),
                        binary_of(container),
                        reply.status,
                        reply.text()
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
