-- 006: the timeline is read by person, a few rows at a time (the history API). Granules of 128 rows and
-- compact parts (every column of a granule in one file, not one file per column) make that point read
-- about half as costly in chDB as the 1024-row wide parts of 001 (benchmarks/bench_query.py). A table's
-- index_granularity cannot be altered, so the rows move to a new table, which then takes the name.
CREATE TABLE IF NOT EXISTS timeline_by_person (
    person_id String,
    occurred_at DateTime64(3, 'UTC'),
    event_id String,
    party_index UInt8,
    event_type LowCardinality(String),
    agency LowCardinality(String),
    office_code String,
    stage LowCardinality(String),
    dispute_id String,
    role LowCardinality(String),
    restricted UInt8,
    payload String COMMENT 'the protected event, base64 of its wire bytes: ciphertext only',
    version UInt64,
    is_deleted UInt8
) ENGINE = ReplacingMergeTree(version, is_deleted)
ORDER BY (person_id, occurred_at, event_id, party_index)
SETTINGS index_granularity = 128, min_bytes_for_wide_part = 1099511627776, min_rows_for_wide_part = 4294967295;

INSERT INTO timeline_by_person SELECT * FROM timeline;

EXCHANGE TABLES timeline AND timeline_by_person;

DROP TABLE timeline_by_person;
