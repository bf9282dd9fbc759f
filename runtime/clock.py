"""Time, in one place: decoded Avro timestamps (aware or naive datetimes, epoch milliseconds) to
UTC datetimes and back, the fixed text forms the hub stores, and the agency's local time for display.

Storage and the wire are UTC. People read local time: an agency's dates are shown in its zone
(settings.timezone, Asia/Shanghai by default), so an incident at 01:30 China time on 3 May is
shown on 3 May — not on 2 May, its UTC date.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, tzinfo
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

DEFAULT_ZONE = "Asia/Shanghai"


def to_utc(value: Any) -> datetime:
    """An aware UTC datetime from a datetime (naive means UTC) or epoch milliseconds."""
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    raise TypeError(f"expected a timestamp (datetime or epoch milliseconds), got {type(value).__name__}")


def to_millis(value: Any) -> int:
    """Epoch milliseconds of a datetime (naive means UTC) or of milliseconds; None and 0 give 0."""
    if isinstance(value, datetime):
        return int(to_utc(value).timestamp() * 1000)
    return int(value or 0)


def iso_utc(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a `Z` (the API's and reports' timestamps); None stays None."""
    if value is None:
        return None
    return to_utc(value).isoformat().replace("+00:00", "Z")


def fixed_utc(value: datetime) -> str:
    """Fixed-width UTC text with microseconds (`2025-05-03T01:30:00.000000Z`): string order is time
    order, and the same instant always gives the same bytes (the audit chain hashes it)."""
    return to_utc(value).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@lru_cache(maxsize=16)
def zone(name: str = DEFAULT_ZONE) -> tzinfo:
    return ZoneInfo(name)


def local(value: Any, zone_name: str = DEFAULT_ZONE) -> datetime:
    """The instant in the agency's zone."""
    return to_utc(value).astimezone(zone(zone_name))


def local_date(value: Any, zone_name: str = DEFAULT_ZONE) -> date:
    return local(value, zone_name).date()


def local_text(value: Any, zone_name: str = DEFAULT_ZONE, *, seconds: bool = False) -> str:
    """`2025-05-03 01:30` in the agency's zone (what people read on pages, in the CLI and in alerts)."""
    return local(value, zone_name).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def local_text_or_none(value: Any, zone_name: str = DEFAULT_ZONE) -> str | None:
    """local_text, with None (no time) kept as None: the API's `*_local` display fields."""
    return None if value is None else local_text(value, zone_name)


def from_local(value: datetime, zone_name: str = DEFAULT_ZONE) -> datetime:
    """A time people typed (a naive date or time, meant in the agency's zone) as an aware UTC datetime;
    an aware one keeps its own offset. `--since 2025-05-03` means midnight in China, not in UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone(zone_name))
    return value.astimezone(UTC)
