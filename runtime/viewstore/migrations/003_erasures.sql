-- 003: persons erased (PersonErased): the projector never shows rows of their events recorded before.
CREATE TABLE IF NOT EXISTS erasures (
    person_id String,
    erased_at DateTime64(3, 'UTC'),
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY person_id
SETTINGS index_granularity = 1024;
