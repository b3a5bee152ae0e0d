"""Load `thresholds.json`, validated against its JSON Schema, into plain data.

Every problem is a ConfigError naming the file, the JSON path and what was
expected: a gate with a broken configuration must say so, not pass.
"""

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from perfgate.errors import ConfigError

# Metric key -> column of Locust's *_stats.csv, and whether the limit is a ceiling.
PERCENTILE_COLUMNS = {
    "p50_ms": "50%",
    "p66_ms": "66%",
    "p75_ms": "75%",
    "p80_ms": "80%",
    "p90_ms": "90%",
    "p95_ms": "95%",
    "p98_ms": "98%",
    "p99_ms": "99%",
    "p99.9_ms": "99.9%",
    "p99.99_ms": "99.99%",
    "p100_ms": "100%",
}
MIN_METRICS = {"min_rps", "min_requests"}
METRICS = [*PERCENTILE_COLUMNS, "avg_ms", "max_ms", "failure_ratio", *sorted(MIN_METRICS)]


@dataclass(frozen=True)
class Limit:
    entry: str  # "POST /requests", or "Aggregated"
    metric: str
    value: float

    @property
    def is_minimum(self) -> bool:
        return self.metric in MIN_METRICS


@dataclass(frozen=True)
class RegressionRule:
    entry: str
    percentile: int  # 95 for p95
    tolerance: float  # 0.10: up to 10% slower is tolerated


@dataclass
class Thresholds:
    path: Path
    limits: list[Limit]
    exclude_ramp_up: bool = True
    regressions: list[RegressionRule] = field(default_factory=list)
    window_s: float = 5.0
    confidence: float = 0.95

    @property
    def entries(self) -> list[str]:
        return sorted({lim.entry for lim in self.limits if lim.entry != AGGREGATE})


AGGREGATE = "Aggregated"


def schema() -> dict[str, Any]:
    text = resources.files("perfgate").joinpath("thresholds.schema.json").read_text()
    return json.loads(text)


def json_path(parts: Any) -> str:
    out = "$"
    for part in parts:
        out += (
            f"[{part}]"
            if isinstance(part, int)
            else (f".{part}" if str(part).isidentifier() else f"[{json.dumps(part)}]")
        )
    return out


def _explain(error: jsonschema.ValidationError) -> str:
    where = json_path(error.absolute_path)
    if error.validator == "additionalProperties" and error.schema.get("properties"):
        extra = sorted(set(error.instance) - set(error.schema["properties"]))
        allowed = ", ".join(error.schema["properties"])
        return f"{where}: unknown key {', '.join(map(repr, extra))}; expected one of: {allowed}"
    if "propertyNames" in error.schema_path:
        return (
            f"{where}: entry name {error.instance!r} must be 'TYPE name' as Locust names it "
            "(e.g. 'POST /requests', 'ASYNC submit-to-complete')"
        )
    return f"{where}: {error.message}"


def parse(data: Any, path: Path) -> Thresholds:
    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        raise ConfigError(f"{path}: " + "; ".join(_explain(e) for e in errors[:5]))
    limits = [
        Limit(entry, metric, float(value))
        for entry, rules in data["entries"].items()
        for metric, value in rules.items()
    ]
    limits += [Limit(AGGREGATE, metric, float(value)) for metric, value in data.get("aggregate", {}).items()]
    if not limits:
        raise ConfigError(f"{path}: $.entries: no limits at all; a gate that checks nothing cannot pass")
    reg = data.get("regression", {})
    regressions = [
        RegressionRule(entry, int(key[1:]), float(tol))
        for entry, rules in reg.get("entries", {}).items()
        for key, tol in rules.items()
    ]
    return Thresholds(
        path=path,
        limits=limits,
        exclude_ramp_up=data.get("exclude_ramp_up", True),
        regressions=regressions,
        window_s=float(reg.get("window_s", 5.0)),
        confidence=float(reg.get("confidence", 0.95)),
    )


def load(path: Path) -> Thresholds:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read thresholds file: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text; expected a JSON object") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None
    return parse(data, path)
