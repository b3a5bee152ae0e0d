"""Load `thresholds.json`, validated against its JSON Schema, into plain data.

Every problem is a ConfigError naming the file, the JSON path and what was
expected: a gate with a broken configuration must say so, not pass. Numbers
that cannot be limits (NaN, Infinity, 1e400, thousand-digit integers) and
duplicate keys (the second silently replacing the first) are refused before
the schema sees the data.
"""

import functools
import json
import math
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import jsonschema_rs

from perfgate import bounded
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
# What the service spends (perfgate.resource_use): limits, and the rules against the baseline.
# A rule against the baseline, and the measure it compares: the limit of the same name.
RESOURCE_MEASURES = {"cpu_per_request": "cpu_ms_per_request", "peak_memory": "peak_memory_mb"}
RESOURCE_RULES = list(RESOURCE_MEASURES)
RESOURCE_METRICS = list(RESOURCE_MEASURES.values())
SERVICE = "the service"  # the entry resource rules are reported under


DEFAULT_FAILURE_RATIO = 0.01  # k6's customary `http_req_failed: rate<0.01`
MAX_INT_DIGITS = 18  # every sensible limit fits; Python refuses int() of 4,300+ digits anyway
MAX_MESSAGES = 5
# A real file is a few KB; 40,000 entries (the most the checker is timed with) take about 2 MB.
MAX_FILE_BYTES = 4 * 10**6


@dataclass(frozen=True)
class Limit:
    entry: str  # "POST /requests", or "Aggregated"
    metric: str
    value: float
    default: bool = False  # applied because the file set none (the failure guard)

    @property
    def is_minimum(self) -> bool:
        return self.metric in MIN_METRICS


@dataclass(frozen=True)
class RegressionRule:
    entry: str
    percentile: int  # 95 for p95
    tolerance: float  # 0.10: up to 10% slower is tolerated


@dataclass(frozen=True)
class ResourceRule:
    metric: str  # one of RESOURCE_RULES
    tolerance: float  # 0.03: up to 3% more is tolerated


@dataclass(frozen=True)
class StallRule:
    min_duration_s: float = 5.0
    rate_below: float = 0.1


@dataclass
class Thresholds:
    path: Path
    limits: list[Limit]
    exclude_ramp_up: bool = True
    regressions: list[RegressionRule] = field(default_factory=list)
    window_s: float = 5.0
    confidence: float = 0.90  # each one-sided decision errs at most 5% (docs/research.md: Confidence)
    stall: StallRule | None = field(default_factory=StallRule)
    resource_limits: list[Limit] = field(default_factory=list)  # entry SERVICE, metric from RESOURCE_METRICS
    resource_rules: list[ResourceRule] = field(default_factory=list)

    @property
    def entries(self) -> list[str]:
        return sorted({lim.entry for lim in self.limits if lim.entry != AGGREGATE})


AGGREGATE = "Aggregated"
# In an entry's type or name: no request Locust makes is named with these, so a
# results file holding them is corrupted, and a thresholds entry a typo.
CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f]")


@functools.cache
def schema() -> dict[str, Any]:
    text = resources.files("perfgate").joinpath("thresholds.schema.json").read_text()
    return json.loads(text)


@functools.cache
def _fast_validator() -> Any:
    """jsonschema-rs says whether a file is valid in milliseconds where jsonschema
    takes seconds for 40,000 entries; jsonschema explains what is wrong."""
    return jsonschema_rs.validator_for(schema())


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
            f"{where}: entry name {error.instance!r} must be 'TYPE name' as Locust names it: the request "
            "type, one space, the name (e.g. 'POST /requests', 'ASYNC submit-to-complete')"
        )
    shown = repr(error.instance)
    message = error.message.replace(shown, _short(shown, 60)) if len(shown) > 60 else error.message
    return f"{where}: {_short(message)}"


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def validate(data: Any, path: Path) -> None:
    try:
        if _fast_validator().is_valid(data):
            return
        validator = jsonschema.Draft202012Validator(schema())
        errors = sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
    except (RecursionError, ValueError):
        raise ConfigError(f"{path}: $: nested too deeply or too large; expected the thresholds object") from None
    if errors:
        raise ConfigError(f"{path}: " + "; ".join(_explain(e) for e in errors[:MAX_MESSAGES]))


def _control_characters(data: dict[str, Any], path: Path) -> None:
    sections = [("entries", data["entries"]), ("regression.entries", data.get("regression", {}).get("entries", {}))]
    for where, entries in sections:
        for entry in entries:
            if CONTROL_CHARACTERS.search(entry):
                raise ConfigError(
                    f"{path}: $.{where}[{json.dumps(entry)}]: a control character in the entry name; "
                    "expected 'TYPE name' as Locust names it"
                )


def parse(data: Any, path: Path) -> Thresholds:
    validate(data, path)
    _control_characters(data, path)
    guard = float(data.get("default_failure_ratio", DEFAULT_FAILURE_RATIO))
    limits = []
    for entry, rules in [*data["entries"].items(), (AGGREGATE, data.get("aggregate", {}))]:
        limits += [Limit(entry, metric, float(value)) for metric, value in rules.items()]
        if "failure_ratio" not in rules:
            limits.append(Limit(entry, "failure_ratio", guard, default=True))
    resource_limits = [Limit(SERVICE, metric, float(value)) for metric, value in data.get("resources", {}).items()]
    if not any(not lim.default for lim in limits) and not resource_limits:
        raise ConfigError(f"{path}: $.entries: no limits at all; a gate that checks nothing cannot pass")
    reg = data.get("regression", {})
    regressions = [
        RegressionRule(entry, int(key[1:]), float(tol))
        for entry, rules in reg.get("entries", {}).items()
        for key, tol in rules.items()
    ]
    resource_rules = [ResourceRule(metric, float(tol)) for metric, tol in reg.get("resources", {}).items()]
    stall = data.get("stall", {})
    return Thresholds(
        path=path,
        limits=limits,
        exclude_ramp_up=data.get("exclude_ramp_up", Thresholds.exclude_ramp_up),
        regressions=regressions,
        window_s=float(reg.get("window_s", Thresholds.window_s)),  # the defaults are the dataclass's, said once
        confidence=float(reg.get("confidence", Thresholds.confidence)),
        stall=None if stall is False else StallRule(**{k: float(v) for k, v in stall.items()}),
        resource_limits=resource_limits,
        resource_rules=resource_rules,
    )


@dataclass(frozen=True)
class _BadNumber:
    text: str


class _Object(dict):
    """A JSON object that remembers the keys it saw twice."""

    duplicates: list[str]


def _object(pairs: list[tuple[str, Any]]) -> _Object:
    obj = _Object()
    obj.duplicates = []
    for key, value in pairs:
        if key in obj:
            obj.duplicates.append(key)
        obj[key] = value
    return obj


def _float(text: str) -> float | _BadNumber:
    value = float(text)
    return value if math.isfinite(value) else _BadNumber(text)


def _int(text: str) -> int | _BadNumber:
    return int(text) if len(text.lstrip("-")) <= MAX_INT_DIGITS else _BadNumber(text)


def _strict_problems(data: Any) -> list[str]:
    """Non-finite or oversized numbers and duplicate keys, with their JSON paths.
    Iterative: the depth json accepted must not overflow the stack here."""
    problems, stack = [], [(data, ())]
    while stack and len(problems) < MAX_MESSAGES:
        value, where = stack.pop()
        if isinstance(value, _BadNumber):
            problems.append(f"{json_path(where)}: {_short(value.text, 40)} is not a finite number of sensible size")
        elif isinstance(value, dict):
            for key in getattr(value, "duplicates", []):
                problems.append(f"{json_path(where)}: duplicate key {key!r}; each key may appear once")
            stack += [(v, (*where, k)) for k, v in reversed(value.items())]
        elif isinstance(value, list):
            stack += [(v, (*where, i)) for i, v in reversed(list(enumerate(value)))]
    return problems


def loads(text: str, path: Path) -> Any:
    try:
        data = json.loads(
            text, object_pairs_hook=_object, parse_float=_float, parse_int=_int, parse_constant=_BadNumber
        )
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply to be a thresholds file; expected a JSON object") from None
    problems = _strict_problems(data)
    if problems:
        raise ConfigError(f"{path}: " + "; ".join(problems))
    return data


def read(path: Path) -> str:
    """The file's text, bounded: a huge or endless file (/dev/zero) is refused
    before it is read whole."""
    try:
        data = bounded.read_bytes(path, MAX_FILE_BYTES)
    except bounded.TooLarge:
        raise ConfigError(
            f"{path}: larger than {bounded.size(MAX_FILE_BYTES)}, the bound for a thresholds file "
            "(a real one is a few KB); expected a JSON object"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read thresholds file: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text; expected a JSON object") from None


def load(path: Path) -> Thresholds:
    return parse(loads(read(path), path), path)
