#!/usr/bin/env bash
# Create the JustLink topics with explicit partition counts (never rely on the hub or the broker to
# auto-create them: the hub creates missing topics with replication factor 1).
# Idempotent: existing topics are left alone, but a partition count different from topics.txt fails.
# Env: BOOTSTRAP (host:port list), TOPICS_FILE, REPLICATION_FACTOR (3), MIN_INSYNC_REPLICAS (2),
#      KAFKA_BIN (/opt/kafka/bin, the apache/kafka image).
set -euo pipefail
BOOTSTRAP="${BOOTSTRAP:-kafka-1:9092,kafka-2:9092,kafka-3:9092}"
TOPICS_FILE="${TOPICS_FILE:-$(dirname "$0")/topics.txt}"
REPLICATION_FACTOR="${REPLICATION_FACTOR:-3}"
MIN_INSYNC_REPLICAS="${MIN_INSYNC_REPLICAS:-2}"
KAFKA_BIN="${KAFKA_BIN:-/opt/kafka/bin}"
TOPICS="$KAFKA_BIN/kafka-topics.sh --bootstrap-server $BOOTSTRAP"

echo "waiting for the brokers at $BOOTSTRAP ..."
for _ in $(seq 1 60); do
  if $TOPICS --list >/dev/null 2>&1; then break; fi
  sleep 5
done
$TOPICS --list >/dev/null

failed=0
while read -r name partitions _; do
  case "$name" in ''|'#'*) continue ;; esac
  $TOPICS --create --if-not-exists --topic "$name" --partitions "$partitions" \
    --replication-factor "$REPLICATION_FACTOR" \
    --config min.insync.replicas="$MIN_INSYNC_REPLICAS" \
    --config retention.ms=-1 --config retention.bytes=-1 --config cleanup.policy=delete
  actual="$($TOPICS --describe --topic "$name" | grep -c 'Partition: ' || true)"
  if [ "$actual" != "$partitions" ]; then
    echo "ERROR: topic $name has $actual partitions, topics.txt says $partitions" >&2
    failed=1
  else
    echo "ok: $name ($partitions partitions, rf $REPLICATION_FACTOR, min.insync $MIN_INSYNC_REPLICAS)"
  fi
done < "$TOPICS_FILE"
exit "$failed"
