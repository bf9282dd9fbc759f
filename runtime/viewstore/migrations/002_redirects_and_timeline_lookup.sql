-- 002: thread merges redirect like person merges do; the projector's own bookkeeping.
CREATE TABLE IF NOT EXISTS dispute_redirects (
    retired_id String,
    dispute_id String,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY retired_id
SETTINGS index_granularity = 1024;

-- the reverse direction of person_redirects: all retired ids of a live person in one point read
CREATE TABLE IF NOT EXISTS person_aliases (
    person_id String,
    retired_id String,
    version UInt64,
    is_deleted UInt8
) ENGINE = ReplacingMergeTree(version, is_deleted)
ORDER BY (person_id, retired_id)
SETTINGS index_granularity = 1024;
