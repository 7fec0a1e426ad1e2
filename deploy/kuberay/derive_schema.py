"""Derive a JSON Schema for a RayService manifest from KubeRay's CRD, for offline validation.

    curl -LO https://raw.githubusercontent.com/ray-project/kuberay/v1.7.0/ray-operator/config/crd/bases/ray.io_rayservices.yaml
    python deploy/kuberay/derive_schema.py ray.io_rayservices.yaml --ref v1.7.0 \
        --commit 59d663aeec13760646da3db9c1cf8cfe883e30b7

The input is KubeRay's generated CRD, ``ray-operator/config/crd/bases/ray.io_rayservices.yaml``
(https://github.com/ray-project/kuberay). The output, ``rayservice.schema.json`` next to this
script, is the served ``v1`` version's ``openAPIV3Schema`` rewritten as JSON Schema:

- ``nullable: true`` becomes a ``"null"`` alternative of the type;
- every object that lists ``properties`` gets ``additionalProperties: false``. The API server
  drops (or, with strict field validation, rejects) unknown fields; offline we want a typo such
  as ``minReplica`` to fail, not to vanish in the cluster;
- ``x-kubernetes-*`` markers and ``description`` texts are dropped (``x-kubernetes-validations``
  are CEL rules the API server evaluates; they are not checked offline);
- ``apiVersion`` and ``kind`` are pinned to ``ray.io/v1`` / ``RayService`` and required, and
  ``metadata.name`` is required.

The schema is data from KubeRay (Apache-2.0); this script only reshapes it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
OUT = HERE / "rayservice.schema.json"
SOURCE = "ray-operator/config/crd/bases/ray.io_rayservices.yaml"


def convert(node: Any) -> Any:
    """One openAPIV3Schema node → JSON Schema (recursively)."""
    if isinstance(node, list):
        return [convert(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key.startswith("x-kubernetes-") or key in ("description", "nullable"):
            continue
        if key == "properties":
            out[key] = {name: convert(sub) for name, sub in value.items()}
        else:
            out[key] = convert(value)
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    if "properties" in node and "additionalProperties" not in node:
        out["additionalProperties"] = False
    return out


def derive(crd: dict[str, Any], ref: str, commit: str) -> dict[str, Any]:
    versions = {v["name"]: v for v in crd["spec"]["versions"]}
    version = versions["v1"]
    if not version.get("served"):
        raise SystemExit("the CRD does not serve v1")
    schema = convert(version["schema"]["openAPIV3Schema"])
    props = schema["properties"]
    props["apiVersion"] = {"const": "ray.io/v1"}
    props["kind"] = {"const": "RayService"}
    props["metadata"] = {
        "type": "object",
        "required": ["name"],
        "properties": {"name": {"type": "string", "minLength": 1}},
    }
    schema["required"] = sorted({*schema.get("required", []), "apiVersion", "kind", "metadata"})
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$comment": (
            f"Derived by deploy/kuberay/derive_schema.py from KubeRay {ref} (commit {commit}), "
            f"{SOURCE}, version v1, openAPIV3Schema. Do not edit: re-run the script."
        ),
        "title": "KubeRay RayService (ray.io/v1)",
        **schema,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("crd", type=Path, help=f"KubeRay's {SOURCE}")
    parser.add_argument("--ref", required=True, help="the KubeRay tag it came from, e.g. v1.7.0")
    parser.add_argument("--commit", required=True, help="that tag's commit")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    crd = yaml.safe_load(args.crd.read_text())
    args.out.write_text(json.dumps(derive(crd, args.ref, args.commit), indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
