"""The hub's topics. Agency events are keyed by the first party's subject key."""

from __future__ import annotations

AGENCIES = ("court", "police", "civil_affairs", "justice")


def agency_topic(agency: str) -> str:
    return f"justlink.{agency}.events"


def dead_letter_topic(agency: str) -> str:
    return f"justlink.{agency}.deadletter"


AGENCY_TOPICS = tuple(agency_topic(a) for a in AGENCIES)
IDENTITY_TOPIC = "justlink.identity"      # PersonLinked, PersonsMerged, PersonSplit
DISPUTES_TOPIC = "justlink.disputes"      # DisputeThreaded
ALERTS_TOPIC = "justlink.alerts"          # AlertRaised, AlertAcknowledged, AlertResolved
CONSENT_TOPIC = "justlink.consent"        # ConsentGranted, ConsentWithdrawn
AUDIT_TOPIC = "justlink.audit"            # AccessAudited
RESOLVED_TOPIC = "justlink.resolved"        # EventResolved: agency events with person ids + thread, for the views
