"""Dispute threading across agencies; the rules are in README.md."""

from streams.disputes.processor import DisputeProcessor, thread_of, timeline
from streams.disputes.store import dispute_id_for

__all__ = ["DisputeProcessor", "dispute_id_for", "thread_of", "timeline"]
