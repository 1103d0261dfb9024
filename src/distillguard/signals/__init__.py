"""Request signals: a registry of small pluggable text detectors, capability, script,
hashes and prompt templates (MinHash LSH).

Entry points: :func:`featurize` (Arrow batch in, batch plus ``contract.TEXT_FEATURE_SCHEMA``
out), :class:`SignalRegistry`, :class:`TextSignal`, :class:`TemplateIndex`.
"""

from .base import Phrase, SignalColumn, SignalRegistry, TextSignal
from .featurizer import featurize

__all__ = [
    "Phrase",
    "SignalColumn",
    "SignalRegistry",
    "TemplateIndex",
    "TemplateLookup",
    "TextSignal",
    "featurize",
    "template_spread",
]


def __getattr__(name: str):  # templates import duckdb: load on first use
    if name in ("TemplateIndex", "TemplateLookup", "template_spread"):
        from . import templates

        return getattr(templates, name)
    raise AttributeError(name)
