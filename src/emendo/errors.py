"""Exceptions raised by emendo. Every library error is an :class:`EmendoError`."""

from __future__ import annotations


class EmendoError(Exception):
    """Base class of all emendo errors."""


class RecordError(EmendoError):
    """A record could not be decoded or failed validation.

    ``field`` names the offending field when one is known.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field


class SchemaVersionError(RecordError):
    """The record declares a schema version this release cannot read."""


class ConfigError(EmendoError):
    """A setting or option has an invalid value."""


class MissingExtraError(EmendoError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""

    def __init__(self, module: str, extra: str) -> None:
        super().__init__(
            f"optional dependency '{module}' is not installed: pip install 'emendo[{extra}]'"
        )
        self.module = module
        self.extra = extra


class CorrectorError(EmendoError):
    """A corrector failed on a batch."""


class BrokerError(EmendoError):
    """The local Kafka broker could not be installed, started or stopped."""
