-- 007: event_facts gains the record an event names first as related (its source or predecessor: a court's
-- delegation to a committee, a police referral, the mediation a lawsuit follows): a hand-over between
-- offices, which the repeat-intake warnings (hub/services/repeat_intake.py) must not call a repeat.
-- (006 is left to the timeline point-read migration being written alongside.)
ALTER TABLE event_facts ADD COLUMN IF NOT EXISTS related_case String DEFAULT '';
