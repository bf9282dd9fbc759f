"""The Chinese labels of the hub's codes — roles, purposes, refusal reasons, enumerations — for the texts
the hub writes itself (the DPO report's anomaly details, read on the DPO's page, in its CSV and in the
CLI). One table, hub/web/static/labels.json, which the web pages load too."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

LABELS_FILE = Path(__file__).resolve().parents[1] / "web" / "static" / "labels.json"


@lru_cache(maxsize=1)
def labels() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(LABELS_FILE.read_text(encoding="utf-8"))
    return loaded


def label(table: str, code: str | None) -> str:
    """The Chinese label of a code, or the code itself when the table has none."""
    if not code:
        return "—"
    return str(labels().get(table, {}).get(code, code))


def text(template: str, **values: Any) -> str:
    """One of the Chinese sentence templates (labels.json `anomaly_detail`), filled in."""
    return str(labels()["anomaly_detail"][template]).format(**values)
