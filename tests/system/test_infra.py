"""Static validation of the production deployment files in infra/ (no Docker engine, no cluster, no
network): YAML parses, docker-compose.yml against the Compose Specification schema, every Kubernetes
manifest strictly against the Kubernetes OpenAPI schemas, structural rules, and consistency with the
code (settings fields, topics, CLI commands). Also runs kafka/create-topics.sh against a stand-in
kafka-topics.sh to check what it asks the brokers for."""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

import click
import jsonschema
import pytest
import yaml
from kubernetes_validate.utils import validate as k8s_validate

from runtime import topics as hub_topics
from runtime.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
K8S = INFRA / "k8s"
COMPOSE_FILE = INFRA / "docker-compose.yml"
TOPICS_FILE = INFRA / "kafka" / "topics.txt"
CREATE_TOPICS = INFRA / "kafka" / "create-topics.sh"
COMPOSE_SCHEMA = Path(__file__).parents[1] / "fixtures" / "compose-spec.json"
K8S_VERSION = "1.30.0"
DATA_DIR = "/var/lib/justlink"
SECRET_NAME = "justlink-secrets"
PLACEHOLDER = "CHANGE_ME"
# JUSTLINK_* variables the code reads that are not Settings fields (checked to still be in the code).
NON_FIELD_ENV = {"JUSTLINK_CONFIG": "runtime/settings.py", "JUSTLINK_MASTER_KEY": "consent/privacy/keys/master.py",
                 "JUSTLINK_TOKEN": "hub/cli/audit_cmd.py"}
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "Job", "CronJob"}
LONG_RUNNING_KINDS = {"Deployment", "StatefulSet"}


# --- loading ---------------------------------------------------------------------------------------

def yaml_docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]


@cache
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


@cache
def k8s_resources() -> tuple[tuple[str, dict[str, Any]], ...]:
    """(file name, resource) for every manifest except the kustomization."""
    out = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        out += [(path.name, doc) for doc in yaml_docs(path)]
    return tuple(out)


def resources_of(kind: str) -> list[dict[str, Any]]:
    return [r for _, r in k8s_resources() if r["kind"] == kind]


def one(kind: str, name: str) -> dict[str, Any]:
    found = [r for r in resources_of(kind) if r["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def pod_template(resource: dict[str, Any]) -> dict[str, Any]:
    if resource["kind"] == "CronJob":
        return resource["spec"]["jobTemplate"]["spec"]["template"]
    return resource["spec"]["template"]


def containers(resource: dict[str, Any]) -> list[dict[str, Any]]:
    spec = pod_template(resource)["spec"]
    return spec.get("initContainers", []) + spec["containers"]


def is_hub_image(image: str) -> bool:
    return "justlink" in image


def hub_services() -> dict[str, dict[str, Any]]:
    return {name: s for name, s in compose()["services"].items() if is_hub_image(s.get("image", ""))}


def hub_workloads() -> list[dict[str, Any]]:
    return [r for _, r in k8s_resources() if r["kind"] in WORKLOAD_KINDS
            and any(is_hub_image(c["image"]) for c in containers(r))]


def settings_env_names() -> set[str]:
    return {f"JUSTLINK_{name.upper()}" for name in Settings.model_fields}


def topic_spec() -> dict[str, int]:
    spec: dict[str, int] = {}
    for line in TOPICS_FILE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, partitions = line.split()
            assert name not in spec, f"{TOPICS_FILE.name}: {name} listed twice"
            spec[name] = int(partitions)
    return spec


def code_topics() -> set[str]:
    """Every topic the code names: runtime/topics.py (constants, agency and dead-letter topics) and the
    faust worker's own topics (state changelogs, faust's leader-election topic)."""
    import inspect

    from faust.assignor import leader_assignor

    from streams.runners.faust_app import APP_ID, FORWARDER_TABLE, WorkerConfig

    names = {v for v in vars(hub_topics).values() if isinstance(v, str) and v.startswith("justlink.")}
    names |= set(hub_topics.AGENCY_TOPICS)
    names |= {hub_topics.dead_letter_topic(a) for a in hub_topics.AGENCIES}
    assert '-__assignor-__leader"' in inspect.getsource(leader_assignor), "faust renamed its leader topic"
    config = WorkerConfig(bootstrap_servers=())
    faust_topics = {config.changelog_topic(), config.changelog_topic(FORWARDER_TABLE),
                    f"{APP_ID}-__assignor-__leader"}
    return names | faust_topics


def interpolated(value: str) -> str:
    """Compose's ${VAR:-default} / ${VAR:?error} with nothing set: the default, else a placeholder."""
    return re.sub(r"\$\{(\w+)(?::?-([^}]*)|:?\?[^}]*)?\}", lambda m: m.group(2) or "placeholder", value)


def load_settings_from(env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Settings:
    for key in list(os.environ):
        if key.startswith("JUSTLINK_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("JUSTLINK_CONFIG", str(tmp_path / "absent.toml"))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return load_settings()


# --- every file parses -----------------------------------------------------------------------------

def test_every_yaml_file_in_infra_parses() -> None:
    files = sorted(INFRA.rglob("*.yml")) + sorted(INFRA.rglob("*.yaml"))
    assert COMPOSE_FILE in files and len(files) >= 10
    for path in files:
        docs = yaml_docs(path)
        assert docs, f"{path.relative_to(ROOT)} is empty"
        assert all(isinstance(d, dict) for d in docs), f"{path.relative_to(ROOT)}: a document is not a mapping"


# --- docker-compose.yml ----------------------------------------------------------------------------

def compose_validator() -> jsonschema.protocols.Validator:
    schema = json.loads(COMPOSE_SCHEMA.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def test_compose_file_matches_the_compose_specification() -> None:
    errors = sorted(compose_validator().iter_errors(compose()), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors)


def test_compose_schema_check_rejects_a_broken_file() -> None:
    """The vendored schema really is enforced: typos a human makes are caught."""
    breakages = {
        "unknown service key": lambda d: d["services"]["api"].__setitem__("restart_policy", "always"),
        "unknown depends_on condition":
            lambda d: d["services"]["api"]["depends_on"]["clickhouse-1"].__setitem__("condition", "service_ready"),
        "unknown volume key": lambda d: d["volumes"].__setitem__("hub-data", {"drivr": "local"}),
        "ports not a list": lambda d: d["services"]["api"].__setitem__("ports", 8000),
    }
    validator = compose_validator()
    for what, breaks in breakages.items():
        broken = copy.deepcopy(compose())
        breaks(broken)
        assert list(validator.iter_errors(broken)), f"the schema accepted a file with an {what}"


def test_compose_kafka_is_three_kraft_brokers_in_one_quorum() -> None:
    services = compose()["services"]
    brokers = {n: s for n, s in services.items() if s.get("image", "").startswith("apache/kafka")
               and "KAFKA_NODE_ID" in s.get("environment", {})}
    assert len(brokers) == 3
    envs = {n: s["environment"] for n, s in brokers.items()}
    voters = {f"{env['KAFKA_NODE_ID']}@{name}:9093" for name, env in envs.items()}
    assert len({env["KAFKA_NODE_ID"] for env in envs.values()}) == 3, "node ids must differ"
    for name, env in envs.items():
        assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
        assert set(env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")) == voters
        assert env["KAFKA_ADVERTISED_LISTENERS"] == f"PLAINTEXT://{name}:9092"
        assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
        assert env["KAFKA_DEFAULT_REPLICATION_FACTOR"] == "3" and env["KAFKA_MIN_INSYNC_REPLICAS"] == "2"
        assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "3"
        assert env["KAFKA_LOG_RETENTION_MS"] == "-1"
        assert "kafka-broker-api-versions" in " ".join(brokers[name]["healthcheck"]["test"])
    assert len({env["CLUSTER_ID"] for env in envs.values()}) == 1
    data_volumes = [v for s in brokers.values() for v in s["volumes"]]
    assert len({v.split(":")[0] for v in data_volumes}) == 3, "each broker needs its own data volume"


def test_compose_services_are_healthy_pinned_and_wired() -> None:
    doc = compose()
    services, volumes, secrets = doc["services"], doc.get("volumes", {}), doc.get("secrets", {})
    for name, svc in services.items():
        image = svc["image"]
        tag = interpolated(image).rpartition(":")[2]
        assert ":" in interpolated(image) and tag != "latest", f"{name}: pin the image tag ({image})"
        one_shot = svc.get("restart") == "no"
        if not one_shot:
            assert svc.get("restart") == "unless-stopped", f"{name}: long-running services restart"
            assert "healthcheck" in svc, f"{name}: long-running service without a health check"
        for dep, cond in svc.get("depends_on", {}).items():
            assert dep in services, f"{name} depends on unknown service {dep}"
            if cond["condition"] == "service_completed_successfully":
                assert services[dep].get("restart") == "no", f"{name}: {dep} is not a one-shot job"
            if cond["condition"] == "service_healthy":
                assert "healthcheck" in services[dep], f"{name}: {dep} has no health check"
        for mount in svc.get("volumes", []):
            source = mount.split(":")[0]
            if not source.startswith((".", "/", "$")):
                assert source in volumes, f"{name}: volume {source} is not declared"
        for secret in svc.get("secrets", []):
            assert secret in secrets, f"{name}: secret {secret} is not declared"
    health = {n: " ".join(s["healthcheck"]["test"]) for n, s in services.items() if "healthcheck" in s}
    assert "/ping" in health["clickhouse-1"] and "/ping" in health["clickhouse-2"]
    assert "/healthz" in health["api"]
    assert '"/healthz"' in (ROOT / "hub" / "api" / "app.py").read_text(encoding="utf-8"), "API lost /healthz"


def test_compose_hub_services_settings_are_real_and_valid(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fields = settings_env_names()
    hub = hub_services()
    assert {"keys-init", "worker", "api"} <= set(hub)
    for name, svc in hub.items():
        env = {k: interpolated(str(v)) for k, v in svc["environment"].items()}
        unknown = {k for k in env if k.startswith("JUSTLINK_")} - fields
        assert not unknown, f"{name}: {sorted(unknown)} are not fields of runtime.settings.Settings"
        settings = load_settings_from(env, monkeypatch, tmp_path)
        assert settings.log_backend == "kafka" and settings.view_backend == "clickhouse", name
        assert str(settings.data_dir) == DATA_DIR, name
        assert settings.kafka_servers == ["kafka-1:9092", "kafka-2:9092", "kafka-3:9092"], name
        assert settings.clickhouse_host == "clickhouse", name
        mounts = {m.split(":")[1]: m.split(":")[0] for m in svc.get("volumes", [])}
        if name == "schema-push":   # talks to the registry only: no keys, no data volume
            assert "secrets" not in svc and not mounts and settings.master_key_file is None, name
            continue
        assert DATA_DIR in mounts, f"{name}: {DATA_DIR} must be a volume"
        if name == "worker":
            assert "secrets" not in svc and settings.master_key_file is None, "workers hold no keys"
            assert settings.clickhouse_password == "", "workers need no ClickHouse password"
            assert mounts[DATA_DIR] != "hub-data", "workers must not mount the keystore volume"
        else:
            assert mounts[DATA_DIR] == "hub-data", f"{name}: needs the keystore volume"
            assert svc["secrets"] == ["master_key"], name
            assert str(settings.master_key_file) == "/run/secrets/master_key", name
    api = hub["api"]
    assert load_settings_from({k: interpolated(str(v)) for k, v in api["environment"].items()},
                              monkeypatch, tmp_path).api_host == "0.0.0.0"
    assert api.get("deploy", {}).get("replicas", 1) == 1, "one API process: it is the audit trail's only writer"
    assert compose()["secrets"]["master_key"]["file"].startswith("./secrets/")


def test_compose_runs_one_connector_per_agency_on_its_export_folder() -> None:
    connectors = {n: s for n, s in hub_services().items() if s["command"][:2] == ["connector", "run"]}
    agencies = {s["command"][2]: (n, s) for n, s in connectors.items()}
    assert set(agencies) == set(hub_topics.AGENCIES)
    for agency, (name, svc) in agencies.items():
        assert svc["profiles"] == ["connectors"] and svc["restart"] == "no", name
        source = svc["command"][svc["command"].index("--source") + 1]
        assert source == f"/exports/{agency}"
        assert any(m.endswith(f":{source}:ro") for m in svc["volumes"]), f"{name}: mount {source} read-only"


# --- topics ----------------------------------------------------------------------------------------

def test_topic_list_equals_the_topics_of_the_code() -> None:
    spec = topic_spec()
    missing, extra = code_topics() - set(spec), set(spec) - code_topics()
    assert not missing, f"topics in the code but not in {TOPICS_FILE.name}: {sorted(missing)}"
    assert not extra, f"topics in {TOPICS_FILE.name} that the code does not use: {sorted(extra)}"


def test_topic_partition_counts(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from runtime.topics import PIPELINE_IN_TOPIC
    from streams.pipeline import Pipeline
    from streams.runners.faust_app import FORWARDER_TABLE, WorkerConfig

    spec = topic_spec()
    assert spec[hub_topics.AUDIT_TOPIC] == 1, "the audit hash chain is one sequence: one partition"
    assert spec["justlink.audit.checkpoints"] == 1
    pipeline = spec[PIPELINE_IN_TOPIC]
    config = WorkerConfig(bootstrap_servers=())
    assert spec[config.changelog_topic()] == pipeline, \
        "the state changelog must be co-partitioned with the pipeline input"
    assert {spec[t] for t in hub_topics.AGENCY_TOPICS} == {spec[config.changelog_topic(FORWARDER_TABLE)]}, \
        "the forwarder's progress changelog must be co-partitioned with the agency topics"
    assert {spec[t] for t in Pipeline.output_topics} == {pipeline}, "the worker creates its outputs with --partitions"
    # `justlink worker` uses settings.topic_partitions as the pipeline's partition count
    configmap = one("ConfigMap", "justlink-settings")["data"]
    assert load_settings_from(dict(configmap), monkeypatch, tmp_path).topic_partitions == pipeline
    assert int(compose()["x-hub-env"]["JUSTLINK_TOPIC_PARTITIONS"]) == pipeline
    hpa = one("HorizontalPodAutoscaler", "justlink-worker")
    assert hpa["spec"]["maxReplicas"] == pipeline, "workers beyond the pipeline's partition count sit idle"


def test_topic_init_is_wired_with_replication_3_and_min_insync_2() -> None:
    init = compose()["services"]["topic-init"]
    assert init["environment"]["REPLICATION_FACTOR"] == "3" and init["environment"]["MIN_INSYNC_REPLICAS"] == "2"
    assert "./kafka:/opt/justlink:ro" in init["volumes"] and init["entrypoint"][-1] == "/opt/justlink/create-topics.sh"
    configmap = one("ConfigMap", "kafka-topics")
    assert configmap["data"]["topics.txt"] == TOPICS_FILE.read_text(encoding="utf-8"), "k8s topic list drifted"
    assert configmap["data"]["create-topics.sh"] == CREATE_TOPICS.read_text(encoding="utf-8"), "k8s script drifted"
    job_env = {e["name"]: e["value"] for e in containers(one("Job", "kafka-topic-init"))[0]["env"]}
    assert job_env["REPLICATION_FACTOR"] == "3" and job_env["MIN_INSYNC_REPLICAS"] == "2"
    for depends in ("worker", "api", "connector-court"):
        assert compose()["services"][depends]["depends_on"]["topic-init"]["condition"] == \
            "service_completed_successfully"


FAKE_KAFKA_TOPICS = """#!/usr/bin/env bash
# Stand-in for kafka-topics.sh: logs each call; --describe prints one line per partition.
echo "$*" >> "$LOG"
case "$*" in
  *--create*) topic=$(sed -E 's/.*--topic ([^ ]+).*/\\1/' <<< "$*"); n=$(sed -E 's/.*--partitions ([0-9]+).*/\\1/' <<< "$*")
              echo "${FAKE_PARTITIONS:-$n}" > "$STATE/$topic" ;;
  *--describe*) topic=$(sed -E 's/.*--topic ([^ ]+).*/\\1/' <<< "$*")
                for i in $(seq 1 "$(cat "$STATE/$topic")"); do echo "Topic: $topic Partition: $((i-1)) Leader: 1"; done ;;
esac
"""


def run_create_topics(tmp_path: Path, **extra_env: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    bin_dir, state = tmp_path / "bin", tmp_path / "state"
    bin_dir.mkdir()
    state.mkdir()
    fake = bin_dir / "kafka-topics.sh"
    fake.write_text(FAKE_KAFKA_TOPICS, encoding="utf-8")
    fake.chmod(0o755)
    log = tmp_path / "calls.log"
    env = {"PATH": os.environ["PATH"], "KAFKA_BIN": str(bin_dir), "LOG": str(log), "STATE": str(state),
           "BOOTSTRAP": "kafka-1:9092", "TOPICS_FILE": str(TOPICS_FILE), **extra_env}
    result = subprocess.run(["bash", str(CREATE_TOPICS)], env=env, capture_output=True, text=True, timeout=60)
    return result, log.read_text(encoding="utf-8").splitlines()


def test_create_topics_script_asks_for_every_topic_as_specified(tmp_path: Path) -> None:
    result, calls = run_create_topics(tmp_path)
    assert result.returncode == 0, result.stderr
    creates = {re.search(r"--topic (\S+)", c).group(1): c for c in calls if "--create" in c}
    assert set(creates) == set(topic_spec())
    for topic, call in creates.items():
        assert f"--partitions {topic_spec()[topic]} " in call, call
        for expected in ("--bootstrap-server kafka-1:9092", "--if-not-exists", "--replication-factor 3",
                         "min.insync.replicas=2", "retention.ms=-1", "retention.bytes=-1", "cleanup.policy=delete"):
            assert expected in call, f"{topic}: {expected!r} missing from {call!r}"
        assert "compact" not in call
    assert result.stdout.count("ok: ") == len(topic_spec())


def test_create_topics_script_fails_on_a_partition_count_mismatch(tmp_path: Path) -> None:
    result, _ = run_create_topics(tmp_path, FAKE_PARTITIONS="5")
    assert result.returncode == 1
    assert "ERROR: topic justlink.audit has 5 partitions, topics.txt says 1" in result.stderr


# --- Kubernetes manifests --------------------------------------------------------------------------

def test_k8s_manifests_validate_strictly_against_the_kubernetes_schemas() -> None:
    problems = []
    for file_name, resource in k8s_resources():
        try:
            k8s_validate(resource, K8S_VERSION, strict=True)
        except Exception as exc:  # noqa: BLE001 - collect every problem, report them together
            problems.append(f"{file_name} {resource.get('kind')}/{resource.get('metadata', {}).get('name')}: "
                            f"{str(exc).splitlines()[0]}")
    assert not problems, "\n".join(problems)


def test_k8s_schema_check_rejects_a_broken_manifest() -> None:
    broken = copy.deepcopy(one("Deployment", "justlink-api"))
    pod_template(broken)["spec"]["containers"][0]["readinessProbe"]["httpGet"]["paht"] = "/healthz"
    with pytest.raises(Exception, match="paht"):
        k8s_validate(broken, K8S_VERSION, strict=True)
    broken = copy.deepcopy(one("Deployment", "justlink-api"))
    broken["spec"]["replicas"] = "one"
    with pytest.raises(Exception, match="one"):
        k8s_validate(broken, K8S_VERSION, strict=True)


def test_k8s_every_manifest_is_named_and_listed_in_the_kustomization() -> None:
    for file_name, resource in k8s_resources():
        assert resource.get("apiVersion") and resource.get("kind"), file_name
        assert resource.get("metadata", {}).get("name"), f"{file_name}: {resource['kind']} without a name"
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))
    listed = set(kustomization["resources"])
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml", "secret.example.yaml"}
    assert listed == files, f"kustomization resources {sorted(listed)} != manifests {sorted(files)}"
    assert kustomization["namespace"] == one("Namespace", "justlink")["metadata"]["name"]
    keys = [(r["kind"], r["metadata"]["name"]) for _, r in k8s_resources()]
    assert len(keys) == len(set(keys)), "two manifests with the same kind and name"


def test_k8s_workloads_have_resources_probes_and_matching_selectors() -> None:
    for _, resource in k8s_resources():
        kind, name = resource["kind"], resource["metadata"]["name"]
        if kind not in WORKLOAD_KINDS:
            continue
        pod = pod_template(resource)
        assert pod["spec"].get("enableServiceLinks") is False, f"{kind}/{name}: set enableServiceLinks: false"
        for container in containers(resource):
            res = container.get("resources", {})
            for part in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(res.get(part, {})), f"{kind}/{name}: resources.{part} cpu+memory"
            if kind in LONG_RUNNING_KINDS:
                assert "readinessProbe" in container and "livenessProbe" in container, f"{kind}/{name}: probes"
            named_ports = {p["name"] for p in container.get("ports", []) if "name" in p}
            for probe in ("readinessProbe", "livenessProbe"):
                for handler in ("httpGet", "tcpSocket"):
                    port = container.get(probe, {}).get(handler, {}).get("port")
                    if isinstance(port, str):
                        assert port in named_ports, f"{kind}/{name}: {probe} names unknown port {port}"
        if kind in LONG_RUNNING_KINDS:
            selector = resource["spec"]["selector"]["matchLabels"]
            labels = pod["metadata"]["labels"]
            assert selector.items() <= labels.items(), f"{kind}/{name}: selector {selector} != pod labels {labels}"


def test_k8s_services_select_pods_and_target_their_ports() -> None:
    pods = [(pod_template(r)["metadata"]["labels"], containers(r)) for _, r in k8s_resources()
            if r["kind"] in WORKLOAD_KINDS]
    for service in resources_of("Service"):
        name, selector = service["metadata"]["name"], service["spec"]["selector"]
        matched = [cs for labels, cs in pods if selector.items() <= labels.items()]
        assert matched, f"Service {name} selects no pods"
        ports = {p.get("name") for cs in matched for c in cs for p in c.get("ports", [])} | \
                {p["containerPort"] for cs in matched for c in cs for p in c.get("ports", [])}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in ports, f"Service {name}: targetPort {port['targetPort']} not on its pods"
    for sts in resources_of("StatefulSet"):
        one("Service", sts["spec"]["serviceName"])
    assert one("Service", "kafka-headless")["spec"]["clusterIP"] == "None"


def test_k8s_references_resolve() -> None:
    configmaps = {r["metadata"]["name"] for r in resources_of("ConfigMap")}
    claims = {r["metadata"]["name"] for r in resources_of("PersistentVolumeClaim")}
    secret = yaml_docs(K8S / "secret.example.yaml")[0]
    assert secret["metadata"]["name"] == SECRET_NAME
    secret_keys = set(secret["stringData"])
    for _, resource in k8s_resources():
        if resource["kind"] not in WORKLOAD_KINDS:
            continue
        where = f"{resource['kind']}/{resource['metadata']['name']}"
        spec = pod_template(resource)["spec"]
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for container in containers(resource):
            for source in container.get("envFrom", []):
                assert source["configMapRef"]["name"] in configmaps, where
            for env in container.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["name"] == SECRET_NAME and ref["key"] in secret_keys, where
            for mount in container.get("volumeMounts", []):
                assert mount["name"] in volumes or mount["name"] in {
                    t["metadata"]["name"] for t in resource["spec"].get("volumeClaimTemplates", [])}, where
        for volume in volumes.values():
            if "persistentVolumeClaim" in volume:
                assert volume["persistentVolumeClaim"]["claimName"] in claims, where
            if "configMap" in volume:
                assert volume["configMap"]["name"] in configmaps, where
            if "secret" in volume:
                assert volume["secret"]["secretName"] == SECRET_NAME, where
                assert {i["key"] for i in volume["secret"]["items"]} <= secret_keys, where
    hpa = one("HorizontalPodAutoscaler", "justlink-worker")["spec"]["scaleTargetRef"]
    one(hpa["kind"], hpa["name"])


def test_k8s_hub_pods_settings_are_real_and_valid(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fields = settings_env_names()
    config = one("ConfigMap", "justlink-settings")["data"]
    assert set(config) <= fields, f"not Settings fields: {sorted(set(config) - fields)}"
    compose_env = set(compose()["x-hub-env"]) | {"JUSTLINK_MASTER_KEY_FILE"}
    assert set(config) == compose_env, "compose and k8s share the same settings"
    for workload in hub_workloads():
        where = f"{workload['kind']}/{workload['metadata']['name']}"
        for container in containers(workload):
            env = dict(config)
            env.update({e["name"]: e.get("value", "placeholder") for e in container.get("env", [])})
            assert {k for k in env if k.startswith("JUSTLINK_")} <= fields, where
            settings = load_settings_from(env, monkeypatch, tmp_path)
            assert settings.log_backend == "kafka" and settings.view_backend == "clickhouse", where
            mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
            assert str(settings.data_dir) in mounts, f"{where}: data dir is not a volume"
            key_dir = str(settings.master_key_file.parent)
            holds_keys = mounts.get(str(settings.data_dir)) == "data"
            assert (key_dir in mounts) == holds_keys, f"{where}: master key mounted iff keystore mounted"
        pod = pod_template(workload)
        security = pod["spec"]["securityContext"]
        assert security["runAsNonRoot"] and security["runAsUser"] == 10001, where
        if any(v.get("persistentVolumeClaim", {}).get("claimName") == "justlink-data" for v in pod["spec"]["volumes"]):
            assert pod["metadata"]["labels"].get("justlink.io/data-volume") == "justlink-data", where
            term = pod["spec"]["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]
            assert term["labelSelector"]["matchLabels"] == {"justlink.io/data-volume": "justlink-data"}, where
    servers = load_settings_from(dict(config), monkeypatch, tmp_path).kafka_servers
    replicas = one("StatefulSet", "kafka")["spec"]["replicas"]
    assert servers == [f"kafka-{i}.kafka-headless:9092" for i in range(replicas)]
    for service in resources_of("Service"):
        assert not service["metadata"]["name"].upper().replace("-", "_").startswith("JUSTLINK_"), \
            f"Service {service['metadata']['name']}: its link variables would look like JUSTLINK_* settings"


def test_k8s_api_is_a_single_audit_writer_and_workers_scale() -> None:
    api = one("Deployment", "justlink-api")
    assert api["spec"]["replicas"] == 1 and api["spec"]["strategy"]["type"] == "Recreate"
    worker = one("Deployment", "justlink-worker")
    assert containers(worker)[0]["args"] == ["worker"]
    assert not any("secret" in v for v in pod_template(worker)["spec"]["volumes"]), "workers hold no keys"
    assert "JUSTLINK_CLICKHOUSE_PASSWORD" not in str(worker), "workers need no ClickHouse password"
    cronjobs = {c["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]["justlink.io/agency"]
                for c in resources_of("CronJob")}
    assert cronjobs == set(hub_topics.AGENCIES)
    kafka = one("StatefulSet", "kafka")
    env = {e["name"]: e.get("value") for e in containers(kafka)[0]["env"]}
    voters = {f"{i}@kafka-{i}.kafka-headless:9093" for i in range(kafka["spec"]["replicas"])}
    assert kafka["spec"]["replicas"] == 3 and set(env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")) == voters
    assert env["KAFKA_MIN_INSYNC_REPLICAS"] == "2" and env["KAFKA_DEFAULT_REPLICATION_FACTOR"] == "3"


# --- commands, settings names, Dockerfile, README, secrets ------------------------------------------

def check_cli(words: list[str], where: str) -> None:
    """The command path exists in the CLI, and its --options and Choice arguments are accepted."""
    from hub.cli.main import cli

    command: click.Command = cli
    ctx = click.Context(cli)
    path: list[str] = []
    rest = list(words)
    while rest and isinstance(command, click.Group) and not rest[0].startswith("-"):
        word = rest.pop(0)
        try:
            found = command.get_command(ctx, word)
        except AttributeError:
            found = None  # the module exists but the command is not in it yet
        assert found is not None, f"{where}: `justlink {' '.join(path + [word])}` is not a command"
        command, path = found, path + [word]
    options = {opt for p in command.params for opt in p.opts + p.secondary_opts}
    choices = [p.type.choices for p in command.params if isinstance(p, click.Argument)
               and isinstance(p.type, click.Choice)]
    positional: list[str] = []
    takes_value = False
    for word in rest:
        if takes_value:
            takes_value = False
        elif word.startswith("--"):
            option = word.split("=")[0]
            assert option in options, f"{where}: `justlink {' '.join(path)}` has no option {word}"
            takes_value = "=" not in word and not _is_flag(command, option)
        else:
            positional.append(word)
    for word, allowed in zip(positional, choices, strict=False):
        assert word in allowed, f"{where}: {word!r} is not one of {sorted(allowed)}"


def _is_flag(command: click.Command, opt: str) -> bool:
    return any(opt in p.opts + p.secondary_opts and getattr(p, "is_flag", False) for p in command.params)


def test_every_hub_command_in_the_deployment_exists() -> None:
    for name, svc in hub_services().items():
        check_cli(svc["command"], f"compose service {name}")
    for workload in hub_workloads():
        for container in containers(workload):
            check_cli(container["args"], f"{workload['kind']}/{workload['metadata']['name']}")


def test_every_justlink_command_in_the_runbook_exists() -> None:
    text = (INFRA / "README.md").read_text(encoding="utf-8")
    mentions = re.findall(r"(?:`|-- )justlink ((?:[a-z][\w-]*)(?: [a-z][\w-]*)?)", text)
    mentions += re.findall(r"docker compose run --rm (?:--no-deps )?api ([a-z][\w-]*(?: [a-z][\w-]*)?)", text)
    assert len(mentions) >= 10
    from hub.cli.main import cli

    for mention in sorted(set(mentions)):
        words = mention.split()
        group = cli.get_command(click.Context(cli), words[0]) if words[0] in cli.list_commands(click.Context(cli)) \
            else None
        if group is not None and not isinstance(group, click.Group):
            words = words[:1]  # a plain command: the next word is an argument, not a subcommand
        check_cli(words, "infra/README.md")


def test_every_justlink_variable_in_infra_is_a_setting_the_code_reads() -> None:
    fields = settings_env_names()
    for name, source in NON_FIELD_ENV.items():
        assert name in (ROOT / source).read_text(encoding="utf-8"), f"{source} no longer reads {name}"
    for path in sorted(p for p in INFRA.rglob("*") if p.is_file()):
        for name in set(re.findall(r"JUSTLINK_[A-Z0-9_]*[A-Z0-9]", path.read_text(encoding="utf-8"))):
            assert name in fields or name in NON_FIELD_ENV, \
                f"{path.relative_to(ROOT)}: {name} is not a field of runtime.settings.Settings"


def test_dockerfile_builds_the_project_as_a_non_root_justlink_entrypoint() -> None:
    text = (INFRA / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^FROM python:3\.11-slim\s*$", text, re.M)
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and users[-1].split(":")[0] not in {"root", "0"}, "the image must run as a non-root user"
    assert re.search(r'^ENTRYPOINT \["justlink"\]\s*$', text, re.M)
    assert re.search(rf"^ENV JUSTLINK_DATA_DIR={DATA_DIR}\s*$", text, re.M)
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["project"]["scripts"]["justlink"] == "hub.cli.main:main"
    for package in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]:
        top = package.rstrip("*")
        assert re.search(rf"^COPY {top} \./{top}\s*$", text, re.M), f"Dockerfile does not copy package {top}"
        assert f"!{top}/**" in (INFRA / "Dockerfile.dockerignore").read_text(encoding="utf-8")
    assert "pip install ." in text


def test_runbook_covers_the_operations() -> None:
    text = (INFRA / "README.md").read_text(encoding="utf-8")
    for needle in ("LOSING THE KEYSTORE OR THE MASTER KEY LOSES THE DATA", "Keep the master key apart",
                   "justlink keys rotate --agency", "justlink views rebuild", "justlink audit verify",
                   "justlink schemas check", "--scale worker", "min.insync.replicas=2", "retention.ms=-1",
                   "Compaction is not used", "one hash chain"):
        assert needle in text, f"infra/README.md does not cover {needle!r}"
    for topic, partitions in topic_spec().items():
        assert f"`{topic}`" in text, f"infra/README.md does not explain topic {topic}"
        if partitions == 1:
            assert re.search(rf"`{re.escape(topic)}` \| \*\*1\*\*", text), f"README: {topic} has ONE partition"


SECRET_NAME_RE = re.compile(r"(PASSWORD|SECRET|TOKEN|MASTER_KEY|PRIVATE_KEY|API_KEY)$|password|secret-key|master\.key")
SECRET_VALUE_OK = re.compile(r"^(CHANGE_ME|\$\{\w+(:\?[^}]*)?\}|)$")
HIGH_ENTROPY = (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
                re.compile(r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{43}=(?![A-Za-z0-9+/=])"),  # base64 of 32 bytes
                re.compile(r"(?<![0-9a-fA-F])[0-9a-fA-F]{32,}(?![0-9a-fA-F])"))


def secret_values() -> list[tuple[str, str, str]]:
    """(where, name, value) of every environment / config value whose name says it is secret."""
    found = []
    for name, svc in compose()["services"].items():
        for key, value in svc.get("environment", {}).items():
            found.append((f"compose {name}", key, str(value)))
    for file_name, resource in k8s_resources():
        for key, value in {**resource.get("data", {}), **resource.get("stringData", {})}.items():
            found.append((f"{file_name} {resource['kind']}", key, str(value)))
        if resource["kind"] in WORKLOAD_KINDS:
            for container in containers(resource):
                for env in container.get("env", []):
                    found.append((f"{file_name} {resource['metadata']['name']}", env["name"], str(env.get("value", ""))))
    for line in (INFRA / ".env.example").read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            found.append((".env.example", key, value))
    return [(w, k, v) for w, k, v in found if SECRET_NAME_RE.search(k) and not k.endswith("_FILE")]


def test_no_secret_is_committed() -> None:
    values = secret_values()
    assert {k for _, k, _ in values} >= {"JUSTLINK_CLICKHOUSE_PASSWORD", "CLICKHOUSE_PASSWORD", "master.key"}
    for where, key, value in values:
        assert SECRET_VALUE_OK.match(value), f"{where}: {key} has a literal value; use {PLACEHOLDER} or ${{VAR}}"
    for path in sorted(p for p in INFRA.rglob("*") if p.is_file()):
        text = path.read_text(encoding="utf-8")
        for pattern in HIGH_ENTROPY:
            assert not pattern.search(text), f"{path.relative_to(ROOT)}: looks like key material ({pattern.pattern})"
    ignored = (INFRA / ".gitignore").read_text(encoding="utf-8").split()
    assert {"secrets/", ".env"} <= set(ignored)
    tracked = subprocess.run(["git", "ls-files", "infra"], cwd=ROOT, capture_output=True, text=True, check=True)
    assert not [f for f in tracked.stdout.split() if f.startswith("infra/secrets/") or f == "infra/.env"]


def test_secret_scan_catches_key_material() -> None:
    """The scan's patterns match what a leaked master key, hex key or PEM key looks like."""
    import base64
    import secrets

    leaks = (base64.b64encode(secrets.token_bytes(32)).decode(), secrets.token_hex(16),
             "-----BEGIN PRIVATE KEY-----")
    for leak in leaks:
        assert any(p.search(f"JUSTLINK_MASTER_KEY: {leak}\n") for p in HIGH_ENTROPY), leak
    assert not SECRET_VALUE_OK.match("hunter2") and SECRET_VALUE_OK.match("${CLICKHOUSE_PASSWORD:?set it}")


def worker_probe_commands() -> list[list[str]]:
    worker = containers(one("Deployment", "justlink-worker"))[0]
    return [compose()["services"]["worker"]["healthcheck"]["test"][1:], worker["readinessProbe"]["exec"]["command"]]


def test_worker_health_checks_tell_whether_the_brokers_are_reachable() -> None:
    import socket

    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        for command in worker_probe_commands():
            env = {**os.environ, "JUSTLINK_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{port},127.0.0.1:1"}
            assert command[0] == "python"
            ok = subprocess.run([sys.executable, *command[1:]], env=env, capture_output=True, timeout=30)
            assert ok.returncode == 0, ok.stderr
    for command in worker_probe_commands():  # the listener is closed now
        env = {**os.environ, "JUSTLINK_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{port}"}
        down = subprocess.run([sys.executable, *command[1:]], env=env, capture_output=True, timeout=30)
        assert down.returncode != 0
    worker = containers(one("Deployment", "justlink-worker"))[0]
    assert worker["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}   # the worker loop's own
    assert {"name": "metrics", "containerPort": 9464} in worker["ports"]
    assert {"name": "JUSTLINK_METRICS_HOST", "value": "0.0.0.0"} in worker["env"], "the kubelet must reach it"
