"""One immutable ``Policy``: thresholds, weights, enabled signals and online actions.

Loaded from YAML and validated when loaded. Each stage declares its own section as a frozen
dataclass registered with :func:`section`; a field's allowed values are declared as data in its
``metadata["check"]`` so messages read like
``Policy.scoring.review_threshold must be a float in [0, 1]; got 1.5``.
A bad policy file raises :class:`PolicyError` and never replaces a good one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from .errors import PolicyError

# Modules that register a policy section on import.
SECTION_MODULES: tuple[str, ...] = (
    "distillguard.signals.policy",
    "distillguard.scoring.policy",
    "distillguard.online.policy",
    "distillguard.signup.policy",
)

_SECTIONS: dict[str, type] = {}


# ---- declared constraints ---------------------------------------------------------------------
@dataclass(frozen=True)
class Interval:
    """A number in [low, high] (either bound may be None)."""

    low: float | None = None
    high: float | None = None
    integer: bool = False

    def ok(self, v: Any) -> bool:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return False
        if self.integer and not float(v).is_integer():
            return False
        return (self.low is None or v >= self.low) and (self.high is None or v <= self.high)

    def describe(self) -> str:
        kind = "an integer" if self.integer else "a float"
        lo = "-inf" if self.low is None else f"{self.low:g}"
        hi = "inf" if self.high is None else f"{self.high:g}"
        return f"{kind} in [{lo}, {hi}]"


@dataclass(frozen=True)
class Options:
    """One of a fixed set of strings."""

    values: tuple[str, ...]

    def ok(self, v: Any) -> bool:
        return isinstance(v, str) and v in self.values

    def describe(self) -> str:
        return "one of " + ", ".join(repr(v) for v in self.values)


@dataclass(frozen=True)
class Check:
    """Any predicate with a description (for lists, mappings, ...)."""

    predicate: Callable[[Any], bool]
    description: str

    def ok(self, v: Any) -> bool:
        try:
            return bool(self.predicate(v))
        except Exception:
            return False

    def describe(self) -> str:
        return self.description


BOOLEAN = Check(lambda v: isinstance(v, bool), "true or false")


def param(default: Any, check: Interval | Options | Check | None = None, doc: str = "") -> Any:
    """A policy field with a default, a declared constraint and a one-line doc."""
    if isinstance(default, (list, dict, set)):
        return field(default_factory=lambda: _copy(default), metadata={"check": check, "doc": doc})
    return field(default=default, metadata={"check": check, "doc": doc})


def _copy(v: Any) -> Any:
    return json.loads(json.dumps(v))


class PolicyDeprecationWarning(UserWarning):
    """A policy file still carries a setting that no longer has any effect (shown, not hidden
    like DeprecationWarning: the reader is an operator, not a developer)."""


def section(name: str) -> Callable[[type], type]:
    """Register a frozen dataclass as the policy section ``name``."""

    def register(cls: type) -> type:
        if not dataclasses.is_dataclass(cls):
            raise TypeError(f"policy section {name} must be a dataclass")
        _SECTIONS[name] = cls
        cls.section_name = name
        return cls

    return register


def _load_sections() -> dict[str, type]:
    for mod in SECTION_MODULES:
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as exc:  # a stage without a policy section yet
            if exc.name != mod:
                raise
    return _SECTIONS


def _drop_deprecated(name: str, values: dict[str, Any], deprecated: Mapping[str, str]) -> None:
    """Remove settings a section no longer reads, with one warning that names them all."""
    old = sorted(k for k in values if k in deprecated)
    if not old:
        return
    for key in old:
        del values[key]
    why = "; ".join(dict.fromkeys(deprecated[k] for k in old))
    keys = ", ".join(f"Policy.{name}.{k}" for k in old)
    verb = "is" if len(old) == 1 else "are"
    warnings.warn(f"{keys} {verb} deprecated: {why}", PolicyDeprecationWarning, stacklevel=4)


def build_section(name: str, values: Mapping[str, Any] | None) -> Any:
    """Validate ``values`` against section ``name`` and build it; unknown keys are errors."""
    cls = _load_sections().get(name)
    if cls is None:
        raise PolicyError(f"unknown policy section {name!r}; known: {sorted(_SECTIONS)}")
    values = dict(values or {})
    _drop_deprecated(name, values, getattr(cls, "deprecated", {}))
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise PolicyError(
            f"Policy.{name} has unknown key(s) {unknown}; allowed: {sorted(known)}"
        )
    for key, value in values.items():
        check = known[key].metadata.get("check")
        if check is not None and not check.ok(value):
            raise PolicyError(
                f"Policy.{name}.{key} must be {check.describe()}; got {value!r}"
            )
    try:
        obj = cls(**values)
    except (TypeError, ValueError) as exc:
        raise PolicyError(f"Policy.{name}: {exc}") from exc
    validate = getattr(obj, "validate", None)
    if callable(validate):
        validate()  # cross-field checks; raise PolicyError
    return obj


@dataclass(frozen=True)
class Policy:
    """Every section, validated. ``version`` is a content hash, recorded with each action."""

    sections: Mapping[str, Any]
    version: str
    source: str = "<defaults>"

    def __getattr__(self, name: str) -> Any:
        sections = object.__getattribute__(self, "sections")
        if name in sections:
            return sections[name]
        raise AttributeError(name)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None, source: str = "<dict>") -> Policy:
        data = dict(data or {})
        if not isinstance(data, dict):
            raise PolicyError(f"{source}: a policy must be a mapping of sections")
        registered = _load_sections()
        unknown = sorted(set(data) - set(registered))
        if unknown:
            raise PolicyError(
                f"{source}: unknown policy section(s) {unknown}; known: {sorted(registered)}"
            )
        built = {}
        for name in registered:
            raw = data.get(name)
            if raw is not None and not isinstance(raw, dict):
                raise PolicyError(f"{source}: Policy.{name} must be a mapping; got {raw!r}")
            built[name] = build_section(name, raw)
        canon = json.dumps(
            {k: dataclasses.asdict(v) for k, v in built.items()}, sort_keys=True, default=str
        )
        version = hashlib.sha256(canon.encode()).hexdigest()[:12]
        return cls(sections=built, version=version, source=source)

    @classmethod
    def load(cls, path: str | Path | None = None) -> Policy:
        """Defaults, overridden by the YAML file at ``path`` when given."""
        if path is None:
            return cls.from_dict({}, "<defaults>")
        path = Path(path)
        if not path.exists():
            raise PolicyError(f"policy file not found: {path}")
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise PolicyError(f"{path}: not valid YAML: {exc}") from exc
        if not isinstance(data, dict):
            raise PolicyError(f"{path}: a policy must be a mapping of sections")
        return cls.from_dict(data, str(path))

    def to_dict(self) -> dict[str, Any]:
        return {k: dataclasses.asdict(v) for k, v in self.sections.items()}

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


def default_policy() -> Policy:
    return Policy.load(None)
