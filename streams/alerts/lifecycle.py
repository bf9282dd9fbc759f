"""An alert's life after it is raised: acknowledged (by whom), resolved or dismissed (with a reason).

`acknowledge` and `resolve` check the alert against the processor's state, update it and return the
event to publish (AlertAcknowledged / AlertResolved on the alerts topic, keyed like the alert). When
the API publishes those events instead of sharing the processor's state, `apply` replays them into the
state (idempotent). Closing an alert frees its rule and subject: a new triggering event may raise a new
alert, while the same evidence never raises the same alert twice.
"""

from __future__ import annotations

from typing import Any

from runtime.clock import to_millis
from streams.alerts import records
from streams.alerts.store import Store
from streams.processor import Event, Output, State

RESOLUTIONS = ("resolved", "dismissed", "superseded")
SYSTEM_USER = "system"   # the user of the processor's own resolutions (superseded by a late record)


class AlertStateError(ValueError):
    """The alert is unknown, or already closed; the message names the alert."""


def _alert(store: Store, alert_id: str) -> dict[str, Any]:
    alert = store.alerts.get(alert_id)
    if alert is None:
        raise AlertStateError(f"alert {alert_id}: no such alert")
    return alert


def acknowledge(alert_id: str, user_id: str, at: Any, state: State) -> list[Output]:
    """`user_id` has seen the alert. Acknowledging again (same user) repeats the same event."""
    if not user_id:
        raise AlertStateError(f"alert {alert_id}: user_id: expected the acknowledging user")
    store = Store(state)
    alert = _alert(store, alert_id)
    if alert["status"] == "resolved":
        raise AlertStateError(f"alert {alert_id}: already closed")
    if user_id not in alert["acks"]:
        store.alerts[alert_id] = {**alert, "status": "acknowledged", "acks": [*alert["acks"], user_id]}
    record = records.acknowledged(alert_id, user_id, at, alert["record"]["envelope"]["restriction"])
    return [records.output("AlertAcknowledged", record, alert["key"])]


def resolve(alert_id: str, user_id: str, resolution: str, reason: str, at: Any, state: State) -> list[Output]:
    """Close the alert as resolved or dismissed (or superseded), with a reason."""
    if resolution not in RESOLUTIONS:
        raise AlertStateError(f"alert {alert_id}: resolution: expected one of {', '.join(RESOLUTIONS)}, "
                              f"got {resolution!r}")
    if not user_id:
        raise AlertStateError(f"alert {alert_id}: user_id: expected the resolving user")
    store = Store(state)
    if _alert(store, alert_id)["status"] == "resolved":
        raise AlertStateError(f"alert {alert_id}: already closed")
    return close(store, alert_id, user_id, resolution, reason, to_millis(at))


def close(store: Store, alert_id: str, user_id: str, resolution: str, reason: str, at: Any) -> list[Output]:
    """Mark the alert closed, free its slot and forget its deadline; no event if it was closed already."""
    alert = store.alerts.get(alert_id)
    if alert is None or alert["status"] == "resolved":
        return []
    store.alerts[alert_id] = {**alert, "status": "resolved", "resolution": resolution}
    if store.active.get(alert["slot"]) == alert_id:
        del store.active[alert["slot"]]
    if alert.get("deadline"):
        store.drop_deadline(alert["deadline"])
    record = records.resolved(alert_id, user_id, resolution, reason, at, alert["record"]["envelope"]["restriction"],
                              alert.get("gen", 0))
    return [records.output("AlertResolved", record, alert["key"])]


def apply(event: Event, state: State) -> None:
    """Apply an AlertAcknowledged / AlertResolved read from the alerts topic (unknown alerts are ignored:
    they were raised by another deployment or before this state began)."""
    store = Store(state)
    rec = event.record
    if rec.get("user_id") == SYSTEM_USER:
        return   # the processor's own decision, read back: its state has it already
    alert = store.alerts.get(rec.get("alert_id", ""))
    if alert is None or alert["status"] == "resolved":
        return
    if event.event_type == "AlertAcknowledged" and rec["user_id"] not in alert["acks"]:
        store.alerts[rec["alert_id"]] = {**alert, "status": "acknowledged", "acks": [*alert["acks"], rec["user_id"]]}
    elif event.event_type == "AlertResolved":
        close(store, rec["alert_id"], rec["user_id"], rec["resolution"], rec.get("reason", ""),
              rec["envelope"]["occurred_at"])


def active_alerts(state: State) -> list[dict[str, Any]]:
    """The AlertRaised records of open alerts (raised or acknowledged), oldest first."""
    store = Store(state)
    rows = [store.alerts[a] for a in store.active.values() if a in store.alerts]
    return sorted((dict(a["record"], status=a["status"], acknowledged_by=list(a["acks"])) for a in rows),
                  key=lambda r: (to_millis(r["envelope"]["occurred_at"]), r["alert_id"]))
