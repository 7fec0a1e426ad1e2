"""The deployed copy of ray_config.yaml: port, runtime settings and per-deployment overrides."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ray.serve.schema import ServeDeploySchema

from stack.local import BENCH_OVERLAY, PROJECT_ROOT
from stack.ray_cluster import write_config

AUTOSCALING = {"min_replicas": 2, "max_replicas": 4, "target_ongoing_requests": 4}


def _ingress(config: dict) -> dict:  # type: ignore[type-arg]
    api = next(app for app in config["applications"] if app["name"] == "api")
    return next(d for d in api["deployments"] if d["name"] == "Ingress")


def test_an_autoscaling_override_replaces_num_replicas_and_serve_accepts_it(
    tmp_path: Path,
) -> None:
    target = write_config(
        PROJECT_ROOT / "ray_config.yaml",
        tmp_path / "deployed.yaml",
        http_port=18000,
        deployment_overrides={
            "api/Ingress": {"num_replicas": None, "autoscaling_config": AUTOSCALING}
        },
    )
    config = yaml.safe_load(target.read_text())
    ingress = _ingress(config)
    assert "num_replicas" not in ingress and ingress["autoscaling_config"] == AUTOSCALING
    assert config["http_options"]["port"] == 18000
    ServeDeploySchema.model_validate(config)  # Serve's own model: what `serve deploy` checks


def test_serve_refuses_num_replicas_beside_autoscaling_so_the_override_must_remove_it(
    tmp_path: Path,
) -> None:
    target = write_config(
        PROJECT_ROOT / "ray_config.yaml",
        tmp_path / "deployed.yaml",
        http_port=18000,
        deployment_overrides={"api/Ingress": {"autoscaling_config": AUTOSCALING}},
    )
    with pytest.raises(ValueError, match="num_replicas"):
        ServeDeploySchema.model_validate(yaml.safe_load(target.read_text()))


def test_an_override_naming_no_deployment_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(KeyError, match="Ingres"):
        write_config(
            PROJECT_ROOT / "ray_config.yaml",
            tmp_path / "deployed.yaml",
            http_port=18000,
            deployment_overrides={"api/Ingres": {"num_replicas": 3}},
        )


def test_the_hello_ceiling_is_a_bench_overlay_not_production(tmp_path: Path) -> None:
    production = yaml.safe_load((PROJECT_ROOT / "ray_config.yaml").read_text())
    assert [app["name"] for app in production["applications"]] == ["api"]
    target = write_config(
        PROJECT_ROOT / "ray_config.yaml",
        tmp_path / "deployed.yaml",
        http_port=18000,
        overlays=[BENCH_OVERLAY],
    )
    config = yaml.safe_load(target.read_text())
    hello = next(app for app in config["applications"] if app["name"] == "hello")
    assert hello["route_prefix"] == "/bench/hello"
    ServeDeploySchema.model_validate(config)
