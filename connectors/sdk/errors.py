"""Why a source record could not become events. Every failure names the field."""

from __future__ import annotations


class RecordError(ValueError):
    """A source record is malformed: `field` says where, the message says what was expected."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.reason = message
