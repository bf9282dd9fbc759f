"""Stories: dispute threads and alerts as a function of the set of events, not of their order (README.md)."""

from streams.stories.stories import Stories

__all__ = ["Stories"]
