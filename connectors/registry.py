"""The reference connectors by agency name."""

from __future__ import annotations

import importlib

from connectors.sdk.connector import Connector

CONNECTORS = {
    "court": "connectors.court.connector:CourtConnector",
    "police": "connectors.police.connector:PoliceConnector",
    "civil_affairs": "connectors.civil_affairs.connector:CivilAffairsConnector",
    "justice": "connectors.justice.connector:JusticeConnector",
}


def get_connector(agency: str) -> Connector:
    try:
        module, cls = CONNECTORS[agency].split(":")
    except KeyError:
        raise ValueError(f"unknown agency {agency!r}; expected one of {', '.join(CONNECTORS)}") from None
    return getattr(importlib.import_module(module), cls)()
