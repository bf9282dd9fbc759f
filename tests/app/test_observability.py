"""Observability as a platform engineer uses it: every metrics endpoint of the hub is `promtool check
metrics` clean — the API's /metrics after a county run, the worker's /metrics and /healthz, and what a
connector run pushes to a Pushgateway; the Grafana dashboard only queries metrics the hub exposes; and
`views rebuild` reuses one consumer group instead of leaving one behind per run."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from hub.api.app import create_app
from hub.cli.main import cli
from runtime.metrics_http import MetricsServer
from streams.runners import metrics as stream_metrics
from tests.support.api_county import County, build_county
from tests.support.county import generated_and_published
from tests.support.promtool import check_metrics
from tests.support.pushgateway import PushgatewayServer

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "infra" / "grafana" / "justlink-dashboard.json"


def cli_env(data: Path, **extra: str) -> dict[str, str]:
    return {"JUSTLINK_CONFIG": str(data / "absent.toml"), "JUSTLINK_DATA_DIR": str(data), **extra}


@pytest.fixture(scope="module")
def county(tmp_path_factory) -> County:
    county = build_county(tmp_path_factory.mktemp("observability"))
    yield county
    county.close()


def families(text: str) -> set[str]:
    return {family.name for family in text_string_to_metric_families(text)}


def test_the_api_metrics_are_promtool_clean_after_a_county_run(county: County) -> None:
    client = TestClient(create_app(county.services))
    client.get("/healthz")
    client.get("/api/v1/persons/nobody", headers={"Authorization": "Bearer wrong"})
    text = client.get("/metrics").text
    check_metrics(text, "the API's /metrics")
    names = families(text)
    assert {"justlink_query_seconds", "justlink_requests", "justlink_stream_events_in",
            "justlink_connector_records"} <= names, names


def test_the_worker_endpoint_serves_promtool_clean_metrics_and_health() -> None:
    stream_metrics.batch_counted(stream_metrics.PROCESSORS, "justlink.pipeline.in", 5,
                                 ["justlink.resolved"] * 5 + ["justlink.identity"], 0.02, dead_letters=1)
    healthy = {"now": True}
    server = MetricsServer("127.0.0.1", 0, healthy=lambda: healthy["now"]).start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        with urllib.request.urlopen(f"{base}/metrics", timeout=5) as response:
            assert response.headers["Content-Type"].startswith("text/plain")
            text = response.read().decode()
        check_metrics(text, "the worker's /metrics")
        assert 'justlink_stream_events_in_total{stage="processors",topic="justlink.pipeline.in"}' in text
        with urllib.request.urlopen(f"{base}/healthz", timeout=5) as response:
            assert response.status == 200
        healthy["now"] = False
        with pytest.raises(urllib.error.HTTPError) as unhealthy:
            urllib.request.urlopen(f"{base}/healthz", timeout=5)
        assert unhealthy.value.code == 503
    finally:
        server.stop()


def test_a_connector_run_pushes_promtool_clean_metrics_to_the_pushgateway(tmp_path: Path) -> None:
    county_dir, data = generated_and_published(tmp_path, 80, seed=5)
    with PushgatewayServer() as gateway:
        result = CliRunner().invoke(cli, ["connector", "run", "police", "--source", str(county_dir), "--from-start",
                                          "--no-progress"],
                                    env=cli_env(data, JUSTLINK_METRICS_PUSHGATEWAY_URL=gateway.url))
        assert result.exit_code == 0, result.output
        assert list(gateway.pushed) == ["/job/justlink_connector/agency/police"]
        text = gateway.pushed["/job/justlink_connector/agency/police"].decode()
    check_metrics(text, "the connector's push")
    names = families(text)
    assert {"justlink_connector_records", "justlink_connector_events", "justlink_connector_append_retries",
            "justlink_connector_last_run_timestamp_seconds", "justlink_connector_last_run_duration_seconds"} <= names
    assert all(name.startswith("justlink_connector_") for name in names), "only the connector's, not the process's"
    assert re.search(r'justlink_connector_records_total\{agency="police",outcome="duplicate"\} [1-9]', text), text
    unreachable = CliRunner().invoke(cli, ["connector", "run", "police", "--source", str(county_dir),
                                           "--no-progress"],
                                     env=cli_env(data, JUSTLINK_METRICS_PUSHGATEWAY_URL="http://127.0.0.1:9"))
    assert unreachable.exit_code == 0 and "metrics not pushed to http://127.0.0.1:9" in unreachable.output


def test_the_dashboard_queries_only_metrics_the_hub_exposes(county: County) -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    assert len(exprs) >= 10 and dashboard["uid"] == "justlink-hub"
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
    exposed = set()
    for family in text_string_to_metric_families(TestClient(create_app(county.services)).get("/metrics").text):
        exposed |= {family.name + suffix for suffix in suffixes.get(family.type, ("",))}
    used = {name for expr in exprs for name in re.findall(r"\b(justlink_[a-z_]+)", expr)}
    assert used and used <= exposed, f"not exposed: {sorted(used - exposed)}"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_views_rebuild_reuses_one_consumer_group(tmp_path: Path) -> None:
    """In child processes: chDB holds one engine path per process, and this one's is the tests' shared one."""
    _, data = generated_and_published(tmp_path, 80, seed=6)
    env = {**os.environ, **cli_env(data), "PYTHONPATH": str(ROOT)}

    def justlink(*args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "hub.cli.main", *args], env=env, cwd=ROOT, capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    justlink("process", "--no-views")
    first, second = (justlink("views", "rebuild", "--yes") for _ in range(2))
    assert first.split(" in ")[0] == second.split(" in ")[0], "the second rebuild projects every record again"
    with sqlite3.connect(data / "log.db") as db:
        groups = {row[0] for row in db.execute("SELECT DISTINCT group_id FROM group_offsets")}
    assert [g for g in groups if "rebuild" in g] == ["justlink-views-rebuild"], groups
