-- 004: `persons` and `disputes` become views over the tables the projector writes (the tables of 001
-- were never written, so `views status` counted 0 of each); `cases` is projected from the agencies'
-- case events and gains the office's own name.
-- A person or a thread is counted once under its live id: rows of retired ids follow the redirects.
DROP TABLE IF EXISTS persons;

CREATE VIEW IF NOT EXISTS persons AS
SELECT live AS person_id, groupUniqArray(agency) AS agencies, uniqExact(event_id) AS record_count,
       min(occurred_at) AS first_seen, max(occurred_at) AS last_seen
FROM (
    SELECT if(r.person_id = '', t.person_id, r.person_id) AS live, t.agency AS agency, t.event_id AS event_id,
           t.occurred_at AS occurred_at
    FROM timeline AS t FINAL
    LEFT JOIN (SELECT retired_id, person_id FROM person_redirects FINAL) AS r ON r.retired_id = t.person_id
    WHERE t.is_deleted = 0
)
GROUP BY live;

DROP TABLE IF EXISTS disputes;

CREATE VIEW IF NOT EXISTS disputes AS
SELECT live AS dispute_id, groupUniqArray(agency) AS agencies, groupUniqArray(stage) AS stages,
       uniqExact(event_id) AS event_count, min(occurred_at) AS first_at, max(occurred_at) AS last_at
FROM (
    SELECT if(r.dispute_id = '', e.dispute_id, r.dispute_id) AS live, e.agency AS agency, e.stage AS stage,
           e.event_id AS event_id, e.occurred_at AS occurred_at
    FROM dispute_events AS e FINAL
    LEFT JOIN (SELECT retired_id, dispute_id FROM dispute_redirects FINAL) AS r ON r.retired_id = e.dispute_id
    WHERE e.is_deleted = 0
)
GROUP BY live;

-- status is what the agencies' events say (open / closed); the policy's case_open_days closes a case
-- by age when the access layer reads it
ALTER TABLE cases ADD COLUMN IF NOT EXISTS office_name String AFTER office_code;
