"""`justlink identity train | accept | explain | review`: on a generated county published through the
real connectors. The model is learned from the log's protected parties, never replaced silently, a link
is explained comparison by comparison without personal data, and a reviewer's decision travels as an
event that the processors apply."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from hub.cli.main import cli
from runtime.eventlog.embedded import EmbeddedEventLog
from runtime.topics import IDENTITY_REVIEWS_TOPIC
from schemas.wire import default_codec
from streams.identity.config import load_config
from streams.identity.model import model_path, proposed_path
from streams.pipeline import Pipeline
from streams.processor import DictState, Event
from tests.support.county import generated_and_published

CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    _, data = generated_and_published(tmp_path_factory.mktemp("identity-cli"), 1200, seed=8)
    return data


def run_pipeline(data: Path) -> dict[str, str]:
    """The pipeline over everything in the log (reviews included, in the order the consumer reads
    them): the person of every party record."""
    codec, pipeline, state = default_codec(), Pipeline.default(data), DictState()
    log = EmbeddedEventLog(data / "log.db")
    keys = []
    try:
        for topic in Pipeline.input_topics:
            log.create_topic(topic)
        consumer = log.consumer("identity-cli-test", list(Pipeline.input_topics), from_beginning=True)
        while records := consumer.poll(5000, timeout_s=0.2):
            for r in records:
                event = Event(*codec.decode(r.value), r.topic, r.partition, r.offset, r.value)
                pipeline.handle(event, state)
                keys += [f"{event.event_id}#{i}" for i in range(len(event.record.get("parties") or ()))]
        consumer.close()
    finally:
        log.close()
    return {key: pipeline.identity.person_of(key, state) or "" for key in keys}


def justlink(data: Path, *args: str) -> str:
    result = CliRunner().invoke(cli, ["--data-dir", str(data), *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_train_proposes_and_accept_applies(data: Path) -> None:
    out = justlink(data, "identity", "train")
    assert "changes against the current model" in out and "justlink identity accept" in out
    assert proposed_path(data).is_file() and not model_path(data).exists()
    assert stat.S_IMODE(os.stat(proposed_path(data)).st_mode) == 0o600
    proposed = load_config(proposed_path(data))
    assert proposed.provenance["profiles"] > 500 and proposed.rules == (("name_key",),)
    assert Pipeline.default(data).identity.config == load_config(), "a proposal is not used until accepted"
    assert "accepted" in justlink(data, "identity", "accept")
    assert load_config(model_path(data)) == proposed
    assert Pipeline.default(data).identity.config == proposed  # what process, serve and worker run
    assert "no change against the current model" in justlink(data, "identity", "train")


def test_review_lists_explains_and_decides(data: Path) -> None:
    listing = justlink(data, "identity", "review", "--limit", "5")
    pairs = re.findall(r"^\s*[+-][\d.]+\s+(\S+)\s+(\S+)$", listing, re.M)
    assert pairs, listing
    a, b = pairs[0]
    waterfall = justlink(data, "identity", "explain", a, b)
    assert "score" in waterfall and "possible match" in waterfall and "name" in waterfall
    assert not CJK.search(waterfall + listing)  # record keys and outcomes only, no names or addresses
    persons = run_pipeline(data)
    assert persons[a] != persons[b]
    assert "recorded" in justlink(data, "identity", "review", "--decide", a, b, "same", "--reviewer", "clerk-7")
    log = EmbeddedEventLog(data / "log.db")
    try:
        assert log.end_offsets(IDENTITY_REVIEWS_TOPIC)
    finally:
        log.close()
    persons = run_pipeline(data)
    assert persons[a] == persons[b]


def test_explain_names_an_unknown_record(data: Path) -> None:
    result = CliRunner().invoke(cli, ["--data-dir", str(data), "identity", "explain", "nope#0", "nope#1"])
    assert result.exit_code != 0 and "no party record nope#0, nope#1 in the log" in result.output
