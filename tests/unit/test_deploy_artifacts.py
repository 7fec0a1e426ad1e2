"""The deploy artifacts under deploy/ are valid and say what the code and ray_config.yaml say.

- deploy/kuberay/rayservice.yaml: valid against the RayService CRD schema (derived from
  KubeRay's CRD, checked with check-jsonschema), its ``serveConfigV2`` valid for Serve's own
  config model, its applications equal to ray_config.yaml's, HAProxy settings equal to the ones
  ``make run`` uses, probes on /healthz and /readyz, an encoding worker group.
- deploy/prometheus/: ``promtool check config`` / ``check rules`` / ``test rules`` (skipped with
  the reason when promtool is missing, failed when REQUIRE_PROMTOOL=1).
- Every metric an alert rule or a dashboard panel queries is one the code defines (or one of
  Ray's own); the live side of that is tests/e2e/test_metrics_catalog.py.
- docs/runbook.md has a section for every alert.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from stack.ray_cluster import RayPorts, serve_env

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
RAYSERVICE = DEPLOY / "kuberay" / "rayservice.yaml"
SCHEMA = DEPLOY / "kuberay" / "rayservice.schema.json"
METRICS_SERVICE = DEPLOY / "kuberay" / "metrics-service.yaml"
PROMETHEUS = DEPLOY / "prometheus"
RUNBOOK = ROOT / "docs" / "runbook.md"
# Settings of Serve's HAProxy that stack/ray_cluster.py gives `make run` and the RayService
# must give every pod too (ports are per stack there, fixed here).
HAPROXY_KNOBS = (
    "RAY_SERVE_ENABLE_HA_PROXY",
    "RAY_SERVE_HAPROXY_RETRY_ON",
    "RAY_SERVE_HAPROXY_RETRIES",
    "RAY_SERVE_HAPROXY_TIMEOUT_CONNECT_S",
    "RAY_SERVE_HAPROXY_TIMEOUT_SERVER_S",
    "RAY_SERVE_HAPROXY_HEALTH_CHECK_INTER",
    "RAY_SERVE_THROUGHPUT_OPTIMIZED",
)


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


catalog = _load("metrics_catalog", DEPLOY / "metrics_catalog.py")
dashboard_builder = _load("build_dashboard", DEPLOY / "grafana" / "build_dashboard.py")


@pytest.fixture(scope="module")
def service() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(RAYSERVICE.read_text())
    return doc


@pytest.fixture(scope="module")
def serve_config(service: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(service["spec"]["serveConfigV2"])
    return config


def _groups(service: dict[str, Any]) -> dict[str, dict[str, Any]]:
    cluster = service["spec"]["rayClusterConfig"]
    groups = {"head": cluster["headGroupSpec"]}
    groups.update({g["groupName"]: g for g in cluster["workerGroupSpecs"]})
    return groups


def _container(group: dict[str, Any]) -> dict[str, Any]:
    containers = group["template"]["spec"]["containers"]
    return next(c for c in containers if c["name"].startswith("ray-"))


# -- KubeRay ---------------------------------------------------------------------------------


def _check_jsonschema(instance: Path) -> subprocess.CompletedProcess[str]:
    binary = Path(sys.executable).parent / "check-jsonschema"
    assert binary.exists(), "check-jsonschema is a dev dependency: pip install -e '.[dev]'"
    return subprocess.run(
        [str(binary), "--schemafile", str(SCHEMA), str(instance)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_rayservice_is_valid_for_the_crd_schema() -> None:
    result = _check_jsonschema(RAYSERVICE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_crd_schema_catches_a_misspelt_field(service: dict[str, Any], tmp_path: Path) -> None:
    bad = copy.deepcopy(service)
    worker = bad["spec"]["rayClusterConfig"]["workerGroupSpecs"][0]
    worker["maxReplica"] = worker.pop("maxReplicas")
    (path := tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    result = _check_jsonschema(path)
    assert result.returncode != 0 and "maxReplica" in result.stdout, result.stdout


def test_the_schema_says_where_it_came_from() -> None:
    schema = json.loads(SCHEMA.read_text())
    comment = schema["$comment"]
    assert "KubeRay v" in comment and "ray.io_rayservices.yaml" in comment
    assert "commit " in comment and len(comment.split("commit ")[1].split(")")[0]) == 40


def test_serve_config_is_valid_for_serve(serve_config: dict[str, Any]) -> None:
    token = Path.home() / ".ray" / "auth_token"
    had_token = token.exists()
    try:
        import ray
        from ray.serve.schema import DeploymentSchema, ServeApplicationSchema, ServeDeploySchema

        ServeDeploySchema.model_validate(serve_config)
        assert not ray.is_initialized()
    finally:
        if token.exists() and not had_token:
            token.unlink()  # a token there turns Ray's auth on for every later `ray start`
    # Serve's model ignores fields it does not know: check the names too.
    assert set(serve_config) <= set(ServeDeploySchema.model_fields)
    for app in serve_config["applications"]:
        assert set(app) <= set(ServeApplicationSchema.model_fields), app["name"]
        for deployment in app.get("deployments", []):
            assert set(deployment) <= set(DeploymentSchema.model_fields), deployment["name"]


def test_applications_are_ray_config_yamls(serve_config: dict[str, Any]) -> None:
    local = yaml.safe_load((ROOT / "ray_config.yaml").read_text())
    assert serve_config["applications"] == local["applications"]
    assert serve_config["proxy_location"] == local["proxy_location"]
    assert serve_config["logging_config"] == local["logging_config"]
    # Only the listen address differs: every node's HAProxy reaches replicas on every node.
    http, local_http = dict(serve_config["http_options"]), dict(local["http_options"])
    assert http.pop("host") == "0.0.0.0"
    local_http.pop("host")
    assert http == local_http


def test_every_group_runs_the_haproxy_ingress_as_make_run_does(
    service: dict[str, Any], tmp_path: Path
) -> None:
    ports = RayPorts()
    local = serve_env(ports, tmp_path / "haproxy")
    for name, group in _groups(service).items():
        env = {e["name"]: e.get("value") for e in _container(group)["env"]}
        for knob in HAPROXY_KNOBS:
            assert env.get(knob) == local[knob], (name, knob)
        assert env["RAY_SERVE_HAPROXY_METRICS_PORT"] == str(ports.haproxy_metrics), name
        assert group["rayStartParams"]["metrics-export-port"] == str(ports.metrics_export), name
        for needed in ("MONGODB_URL", "REDIS_URL", "MEDIA_STORE_URL"):
            assert needed in env, (name, needed)


def test_serving_pods_probe_healthz_and_readyz(
    service: dict[str, Any], serve_config: dict[str, Any]
) -> None:
    port = serve_config["http_options"]["port"]
    for name in ("head", "workers"):
        container = _container(_groups(service)[name])
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": port}, name
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": port}, name
        assert container["startupProbe"]["httpGet"]["path"] == "/healthz", name


def test_an_encoding_group_fits_the_encode_tasks(service: dict[str, Any]) -> None:
    from media.ingest import tasks

    group = _groups(service)["encoding"]
    assert group["minReplicas"] == 0  # exists only while uploads encode (Ray autoscaler)
    assert service["spec"]["rayClusterConfig"]["enableInTreeAutoscaling"] is True
    cpus = float(group["rayStartParams"]["num-cpus"])
    assert cpus >= tasks.ENCODE_CPUS
    limits = _container(group)["resources"]["limits"]
    assert float(limits["cpu"]) >= cpus
    # The custom resource the ingest tasks ask for (ENCODE_NODE_RESOURCE) is on this group
    # only: uploads never take the API workers' CPUs, and waiting tasks scale this group.
    env = {e["name"]: e.get("value") for e in _container(group)["env"]}
    resource = env["ENCODE_NODE_RESOURCE"]
    for name, other in _groups(service).items():
        declared = json.loads(json.loads(other["rayStartParams"].get("resources", '"{}"')))
        if name == "encoding":
            assert declared == {resource: cpus}
        else:
            assert resource not in declared, name


def test_metrics_service_selects_the_pods_on_the_scraped_ports(service: dict[str, Any]) -> None:
    metrics = yaml.safe_load(METRICS_SERVICE.read_text())
    assert metrics["spec"]["clusterIP"] == "None"
    selector = metrics["spec"]["selector"]
    for name, group in _groups(service).items():
        labels = group["template"]["metadata"]["labels"]
        assert selector.items() <= labels.items(), name
    scraped = {
        sd["port"]
        for job in yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())["scrape_configs"]
        for sd in job["dns_sd_configs"]
    }
    assert scraped == {p["port"] for p in metrics["spec"]["ports"]}
    assert scraped == {RayPorts().metrics_export, RayPorts().haproxy_metrics}


# -- Prometheus ------------------------------------------------------------------------------


def _promtool() -> str:
    found = shutil.which("promtool")
    if found:
        return found
    reason = "promtool not installed (apt-get install prometheus): Prometheus files not checked"
    if os.environ.get("REQUIRE_PROMTOOL") == "1":
        pytest.fail(reason + " and REQUIRE_PROMTOOL=1")
    print(f"\nSKIPPED LOUDLY: {reason}", file=sys.stderr)
    pytest.skip(reason)


@pytest.mark.parametrize(
    "args",
    [
        ["check", "config", "prometheus.yml"],
        ["check", "config", "prometheus-local.yml"],
        ["check", "rules", "alerts.yml"],
        ["test", "rules", "alerts_test.yml"],
    ],
    ids=lambda args: " ".join(args),
)
def test_promtool(args: list[str]) -> None:
    result = subprocess.run(
        [_promtool(), *args], cwd=PROMETHEUS, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_alerts_cover_the_failure_modes() -> None:
    alerts = catalog.alert_exprs()
    for wanted in (
        "ShardDown",
        "ProgressFlushLagHigh",
        "JournalDepthHigh",
        "ServerErrorRatioHigh",
        "SheddingActive",
        "StreamLimitRefusalsSpike",
    ):
        assert wanted in alerts


# -- metric names ----------------------------------------------------------------------------


def test_promql_names_are_found() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (le) (rate(x_bucket{a="b(c)"}[5m]))) > 3 '
        "and on (shard) y offset 1d or absent(z) / sum without (q) (w[$__rate_interval])"
    )
    assert catalog.metric_names(expr) == {"x_bucket", "y", "z", "w"}
    assert catalog.matcher_labels(expr) == {"x_bucket": {"a"}}
    assert catalog.grouping_labels(expr) == {"le", "shard", "q"}


def test_every_queried_metric_is_defined_by_the_code_or_ray() -> None:
    defined = catalog.defined_metrics()
    assert "api_requests_total" in defined and "shard_active_streams" in defined
    queried = catalog.queried_names()
    known = catalog.service_names() | catalog.ray_own_names() | catalog.haproxy_own(queried)
    assert "haproxy_backend_response_errors_total" in known  # IngressReplicaErrorsHigh
    assert not catalog.haproxy_own(["haproxy_backend_made_up_total", "ray_actors"])
    unknown = {name: sorted(where) for name, where in queried.items() if name not in known}
    assert not unknown, f"queried metrics nothing defines: {unknown}"


def test_labels_selected_on_service_metrics_are_their_tag_keys() -> None:
    declared = catalog.defined_tag_keys()
    assert declared["ray_shard_ops_total"] == {"shard", "op"}
    for metric, labels in catalog.queried_labels().items():
        if metric in declared:
            tags = declared[metric]
            assert tags is not None, f"tag keys of {metric} not found in the code"
            assert labels <= tags, (metric, labels - tags)
    exprs = {**catalog.alert_exprs(), **catalog.dashboard_exprs()}
    for where, expr in exprs.items():
        metrics = catalog.metric_names(expr)
        if metrics <= declared.keys():  # only the service's metrics: group by their tags
            tags = set().union(*(declared[m] or set() for m in metrics)) | {"le"}
            assert catalog.grouping_labels(expr) <= tags, (where, expr)


def test_dashboard_is_the_builders_output() -> None:
    assert (DEPLOY / "grafana" / "dashboard.json").read_text() == dashboard_builder.render(), (
        "run python deploy/grafana/build_dashboard.py"
    )


def test_dashboard_shows_the_business_kpis() -> None:
    exprs = " ".join(catalog.dashboard_exprs().values())
    for metric in (
        "ray_shard_active_streams",
        'ray_shard_ops_total{op="Heartbeat"}',
        'route="/v1/playback/sessions"',
        "ray_shard_refused_total",
        "ray_shard_flush_lag_seconds_bucket",
        "ray_shard_journal_depth",
        'status=~"503|429"',
        "ray_tasks{Name=~",
    ):
        assert metric in exprs, metric


# -- runbook ---------------------------------------------------------------------------------


def test_runbook_has_a_section_for_every_alert() -> None:
    runbook = RUNBOOK.read_text()
    headings = {
        line.lstrip("#").strip().lower() for line in runbook.splitlines() if line.startswith("## ")
    }
    doc = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    for rule in (r for g in doc["groups"] for r in g["rules"]):
        assert rule["alert"].lower() in headings, rule["alert"]
        anchor = rule["annotations"]["runbook"].split("#")[1]
        assert anchor == rule["alert"].lower()


def test_capacity_doc_links_the_rayservice_instead_of_a_copy() -> None:
    capacity = (ROOT / "docs" / "capacity.md").read_text()
    assert "deploy/kuberay/rayservice.yaml" in capacity
    assert "kind: RayService" not in capacity
