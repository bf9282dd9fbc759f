"""Every topic of the hub, named once. Agency events are keyed by the first party's subject key.

Who writes and who reads each topic is declared where the work is: the connectors write the agency
and agency dead-letter topics; the pipeline (streams/pipeline.py) declares what it reads and writes;
the projector reads the view topics; the access layer writes the audit topics.
"""

from __future__ import annotations

AGENCIES = ("court", "police", "civil_affairs", "justice")


def agency_topic(agency: str) -> str:
    return f"justlink.{agency}.events"


def dead_letter_topic(agency: str) -> str:
    return f"justlink.{agency}.deadletter"


AGENCY_TOPICS = tuple(agency_topic(a) for a in AGENCIES)
IDENTITY_TOPIC = "justlink.identity"      # PersonLinked, PersonsMerged, PersonSplit
IDENTITY_REVIEWS_TOPIC = "justlink.identity.reviews"   # IdentityReviewDecided: reviewers' decisions, read by the pipeline, PersonErased
DISPUTES_TOPIC = "justlink.disputes"      # DisputeThreaded
ALERTS_TOPIC = "justlink.alerts"          # AlertRaised, AlertAcknowledged, AlertResolved
CONSENT_TOPIC = "justlink.consent"        # ConsentGranted, ConsentWithdrawn
AUDIT_TOPIC = "justlink.audit"            # AccessAudited (one partition: log order is chain order)
AUDIT_CHECKPOINT_TOPIC = "justlink.audit.checkpoints"   # signed heads of the audit trail
RESOLVED_TOPIC = "justlink.resolved"      # EventResolved: agency events with person ids + thread, for the views
PROCESSORS_DEAD_LETTER_TOPIC = "justlink.processors.deadletter"   # input records the pipeline could not handle
PIPELINE_IN_TOPIC = "justlink.pipeline.in"   # faust worker: the pipeline's inputs, repartitioned by county
IDENTITY_IN_TOPIC = "justlink.identity.in"   # partitioned deployment: party occurrences, keyed by name key
STORIES_IN_TOPIC = "justlink.stories.in"     # partitioned deployment: events, resolved parties, identity
                                             # changes, keyed by county

SINGLE_PARTITION_TOPICS = (AUDIT_TOPIC, AUDIT_CHECKPOINT_TOPIC)
