-- 001: the first shape of the shared views.
-- Projections are replayable: rows carry the `version` of the event that produced them and
-- ReplacingMergeTree keeps the highest version per ORDER BY key (read with FINAL).
-- Rows that a later decision retracts (a merge, a split, a closed alert) are written again
-- with is_deleted = 1 and a higher version.
-- Times are UTC milliseconds; DateTime64(3, 'UTC') keeps them independent of the server zone.
-- Views are read by key: granules of 1024 rows make point queries ~30% faster than 8192.

CREATE TABLE IF NOT EXISTS person_records (
    record_key String,
    person_id String,
    event_id String,
    agency LowCardinality(String),
    subject_key String,
    id_number_bi String,
    phone_bi String,
    name_dob_bi String,
    gender LowCardinality(String),
    first_seen DateTime64(3, 'UTC'),
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY record_key
SETTINGS index_granularity = 1024;

CREATE TABLE IF NOT EXISTS persons (
    person_id String,
    agencies Array(String),
    record_count UInt32,
    subject_keys Array(String),
    first_seen DateTime64(3, 'UTC'),
    last_seen DateTime64(3, 'UTC'),
    version UInt64,
    is_deleted UInt8
) ENGINE = ReplacingMergeTree(version, is_deleted)
ORDER BY person_id
SETTINGS index_granularity = 1024;

CREATE TABLE IF NOT EXISTS person_redirects (
    retired_id String,
    person_id String,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY retired_id
SETTINGS index_granularity = 1024;

CREATE TABLE IF NOT EXISTS person_lookup (
    bi_kind LowCardinality(String),
    bi String,
    person_id String,
    version UInt64,
    is_deleted UInt8
) ENGINE = ReplacingMergeTree(version, is_deleted)
ORDER BY (bi_kind, bi, person_id)
SETTINGS index_granularity = 1024;

CREATE TABLE IF NOT EXISTS timeline (
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
    payload String COMMENT 'the protected event as JSON: ciphertext only',
    version UInt64,
    is_deleted UInt8
) ENGINE = ReplacingMergeTree(version, is_deleted)
ORDER BY (person_id, occurred_at, event_id, party_index)
SETTINGS index_granularity = 1024;

CREATE TABLE IF NOT EXISTS disputes (
    dispute_id String,
    dispute_type LowCardinality(String),
    status LowCardinality(String),
    opened_at DateTime64(3, 'UTC'),
    last_at DateTime64(3, 'UTC'),
    stages Array(String),
    agencies Array(String),
    person_ids Array(String),
    event_count UInt32,
    version UInt64,
    is_deleted UInt8
) ENGINE = ReplacingMergeTree(version, is_deleted)
ORDER BY dispute_id
SETTINGS index_granularity = 1024;

CREATE TABLE IF NOT EXISTS dispute_events (
    dispute_id String,
    event_id String,
    occurred_at DateTime64(3, 'UTC'),
    stage LowCardinality(String),
    agency LowCardinality(String),
    event_type LowCardinality(String),
    version UInt64,
    is_deleted UInt8
) ENGINE = ReplacingMergeTree(version, is_deleted)
ORDER BY (dispute_id, occurred_at, event_id)
SETTINGS index_granularity = 1024;

CREATE TABLE IF NOT EXISTS alerts (
    alert_id String,
    person_id String,
    dispute_id String,
    rule String,
    level LowCardinality(String),
    role LowCardinality(String),
    status LowCardinality(String),
    raised_at DateTime64(3, 'UTC'),
    updated_at DateTime64(3, 'UTC'),
    evidence Array(String),
    version UInt64,
    is_deleted UInt8
) ENGINE = ReplacingMergeTree(version, is_deleted)
ORDER BY (person_id, alert_id)
SETTINGS index_granularity = 1024;

CREATE TABLE IF NOT EXISTS cases (
    case_id String,
    case_kind LowCardinality(String),
    status LowCardinality(String),
    office_code String,
    person_ids Array(String),
    opened_at DateTime64(3, 'UTC'),
    closed_at Nullable(DateTime64(3, 'UTC')),
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY case_id
SETTINGS index_granularity = 1024;

-- Append-only and hash-chained: plain MergeTree, never deduplicated.
CREATE TABLE IF NOT EXISTS audit_log (
    seq UInt64,
    at DateTime64(3, 'UTC'),
    user_id String,
    role LowCardinality(String),
    organisation String,
    purpose LowCardinality(String),
    case_id String,
    subject String,
    decision LowCardinality(String),
    rule String,
    event_types Array(String),
    field_classes Array(String),
    break_glass_reason String,
    prev_hash String,
    hash String
) ENGINE = MergeTree
ORDER BY seq;
