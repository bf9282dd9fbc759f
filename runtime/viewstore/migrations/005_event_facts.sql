-- 005: the plain metadata of every agency event (no personal field: types, offices, case numbers,
-- outcomes, amounts, relationships), for aggregates (the bureau's dashboard) and similar cases.
-- The thread of an event is read from dispute_events (one place for placements), never copied here.
CREATE TABLE IF NOT EXISTS event_facts (
    event_id String,
    occurred_at DateTime64(3, 'UTC'),
    event_type LowCardinality(String),
    agency LowCardinality(String),
    county_code LowCardinality(String),
    office_code String,
    office_name String,
    township String,
    case_number String,
    dispute_type LowCardinality(String),
    stage LowCardinality(String),
    level LowCardinality(String),
    outcome LowCardinality(String),
    amount_yuan Nullable(Float64),
    relationship LowCardinality(String),
    restricted UInt8,
    version UInt64,
    is_deleted UInt8
) ENGINE = ReplacingMergeTree(version, is_deleted)
ORDER BY event_id
SETTINGS index_granularity = 1024;
