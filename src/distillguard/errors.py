"""Every error distillguard raises, catchable by category (DB-API style).

Bad *records* are data, not exceptions: ingest quarantines them. Exceptions are for bad
arguments, configuration and files; the CLI turns them into one clear line and exit code 2
(``exit_code`` says otherwise: 3 when the input held no usable record).
"""


class DistillguardError(Exception):
    """Base of every distillguard error."""

    exit_code = 2


class InvalidParameterError(DistillguardError, ValueError, TypeError):
    """A parameter, option or policy value is outside what it allows."""


class InvalidInputError(DistillguardError, ValueError):
    """An input file or folder cannot be used at all (missing, unreadable, wrong format)."""


class NotFittedError(DistillguardError, ValueError, AttributeError):
    """An estimator was used before ``fit``."""


class ScenarioError(InvalidParameterError):
    """A simulator scenario file is invalid."""


class PolicyError(InvalidParameterError):
    """A policy file is invalid; a bad policy never replaces a good one."""


class NoRecordsError(InvalidInputError):
    """The input held no record, or every record was quarantined: nothing to detect on."""

    exit_code = 3
