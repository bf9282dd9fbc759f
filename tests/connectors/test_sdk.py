"""The connector SDK end to end on a small connector declared here: malformed input is
dead-lettered with a precise reason, nothing crashes, counts add up, re-runs publish
nothing new, checkpoints resume, and no plaintext reaches the log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from connectors.sdk import ConnectorRunner, ConnectorState, CsvSource
from connectors.sdk.deadletter import DeadLetter
from consent.privacy.keys import init_keystore, open_keystore
from consent.privacy.protect import Protector
from runtime.eventlog.embedded import EmbeddedEventLog
from schemas.wire import default_codec
from tests.support.tiny_connector import GOOD_ID, HEADER, TinyPoliceConnector, good_row


@pytest.fixture
def hub(tmp_path: Path):
    init_keystore(tmp_path)
    keystore = open_keystore(tmp_path)
    log = EmbeddedEventLog(tmp_path / "log.db")
    state = ConnectorState(tmp_path / "connectors.db")
    yield log, Protector(keystore), state, tmp_path
    log.close()
    state.close()
    keystore.close()


def run(hub, path: Path, **options):
    log, protector, state, _ = hub
    runner = ConnectorRunner(TinyPoliceConnector(), log, protector, state, progress=False, **options)
    return runner.run(CsvSource(path))


def consume_records(log, topic: str) -> list:
    consumer = log.consumer("test-reader-records", [topic])
    records = []
    while batch := consumer.poll(1000, timeout_s=0.2):
        records += batch
    consumer.close()
    return records


def consume_all(log, topic: str) -> list[bytes]:
    consumer = log.consumer("test-reader", [topic])
    values = []
    while batch := consumer.poll(1000, timeout_s=0.2):
        values += [r.value for r in batch]
    consumer.close()
    return values


def test_malformed_rows_are_dead_lettered_with_reasons(hub, tmp_path: Path):
    path = tmp_path / "incidents.csv"
    rows = [HEADER, good_row(1)]
    rows.append("JQ00002,2025-02-30 08:00,邻里纠纷,李四,,女,13900000000\n")              # impossible date
    rows.append("JQ00003,2025-03-01 08:00,飞碟,李四,,女,13900000000\n")                  # unknown enum
    rows.append("JQ00004,2025-03-01 08:00,邻里纠纷,赵六,110105199003071234,男,13900000000\n")  # bad check digit
    rows.append("JQ00005,2025-03-01 08:00,邻里纠纷\n")                                     # missing columns
    rows.append(good_row(6))
    rows.append("JQ00007,2025-03-01 08:00,邻里纠纷,X" + "长" * 4_000_000 + ",,男,\n")      # a 12 MB field
    raw = "".join(rows).encode("utf-8") + "JQ00008,2025-03-01 08:00,邻里纠纷,钱".encode("gb18030") + b"\xff\xfe,,\n"
    raw += "JQ00009,2025-03-01 09:00,打架斗殴,孙七,,男,139".encode()                       # truncated last line
    path.write_bytes(raw)

    summary = run(hub, path)
    assert summary.read == 9
    assert summary.published == 2
    assert summary.dead_lettered == 7
    assert summary.balanced

    log = hub[0]
    letters = [DeadLetter.from_record(r) for r in consume_records(log, "justlink.police.deadletter")]
    by_line = {d.line: d for d in letters}
    assert "not a real date" in by_line[3].reason and (by_line[3].column, by_line[3].rule) == ("接警时间",
                                                                                              "date.impossible")
    assert by_line[4].column == "警情类别" and by_line[4].rule == "value.unknown" and "飞碟" not in by_line[4].reason
    assert (by_line[5].column, by_line[5].field, by_line[5].rule) == ("当事人1证件号码", "parties[0].id_number",
                                                                      "id.check_character")
    assert "expected 7 columns" in by_line[6].reason and by_line[6].stage == "read"
    assert by_line[8].column == "当事人1姓名" and "larger than" in by_line[8].reason
    assert by_line[9].stage == "read" and "not valid UTF-8" in by_line[9].reason and by_line[9].rule == "line.encoding"
    assert "may be truncated" in by_line[10].position
    assert (by_line[10].column, by_line[10].field) == ("当事人1联系电话", "parties[0].phone")
    for d in letters:  # originals are kept, sealed; headers name file, line, column, rule, never a value
        assert d.sealed.startswith(b"jls1") and d.subject_keys
        assert "赵六" not in d.header_bytes().decode() and "飞碟" not in d.header_bytes().decode()
        assert d.message().startswith(f"incidents.csv:{d.line}")


def test_rerun_publishes_nothing_new_and_checkpoint_resumes(hub, tmp_path: Path):
    path = tmp_path / "incidents.csv"
    path.write_text(HEADER + "".join(good_row(i) for i in range(1, 6)), encoding="utf-8")
    first = run(hub, path)
    assert (first.read, first.published) == (5, 5)
    again = run(hub, path)                       # resumes after the checkpoint: nothing to read
    assert (again.read, again.published) == (0, 0)
    replay = ConnectorRunner(TinyPoliceConnector(), *hub[:3], progress=False).run(CsvSource(path), resume=False)
    assert (replay.read, replay.duplicates, replay.published) == (5, 5, 0)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(good_row(6))
    more = run(hub, path)
    assert (more.read, more.published) == (1, 1)
    values = consume_all(hub[0], "justlink.police.events")
    ids = [default_codec().decode(v)[1]["envelope"]["event_id"] for v in values]
    assert len(ids) == len(set(ids)) == 6


class FightsOnlyConnector(TinyPoliceConnector):
    """Publishes fights only: every other row maps to no event."""

    def map(self, record):
        return super().map(record) if record.data["警情类别"] == "打架斗殴" else []


def test_records_mapped_to_no_event_are_filtered_on_every_run(hub, tmp_path: Path):
    path = tmp_path / "incidents.csv"
    rows = [good_row(i) for i in range(1, 5)] + [good_row(5).replace("邻里纠纷", "打架斗殴")]
    path.write_text(HEADER + "".join(rows), encoding="utf-8")
    log, protector, state, _ = hub
    for _ in range(2):  # the second run from the start publishes nothing again
        runner = ConnectorRunner(FightsOnlyConnector(), log, protector, state, progress=False)
        summary = runner.run(CsvSource(path), resume=False)
        assert summary.balanced and summary.filtered == 4
    assert len(consume_all(log, "justlink.police.events")) == 1


def test_no_plaintext_reaches_the_log_file(hub, tmp_path: Path):
    path = tmp_path / "incidents.csv"
    path.write_text(HEADER + good_row(1, "欧阳娜娜") + good_row(2, "欧阳娜娜"), encoding="utf-8")
    assert run(hub, path).published == 2
    hub[0].close()
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("log.db*"))
    for secret in ("欧阳娜娜", GOOD_ID, "13800138000"):
        assert secret.encode() not in raw
        assert secret.encode("gb18030") not in raw
    decoded = default_codec().decode(consume_all(EmbeddedEventLog(tmp_path / "log.db"),
                                                 "justlink.police.events")[0])[1]
    assert decoded["parties"][0]["protection"]["id_number_valid"] is True
    assert json.dumps(decoded, default=str).count("jle1.") >= 3


def test_dry_run_validates_without_publishing(hub, tmp_path: Path):
    path = tmp_path / "incidents.csv"
    path.write_text(HEADER + good_row(1) + "JQ2,2025-13-01,邻里纠纷,李四,,女,\n", encoding="utf-8")
    summary = run(hub, path, dry_run=True)
    assert (summary.read, summary.published, summary.dead_lettered) == (2, 1, 1)
    assert hub[0].topics().get("justlink.police.events") is None


def test_cli_invalid_ids_flag_keeps_records_that_reject_dead_letters(tmp_path: Path):
    from click.testing import CliRunner

    from hub.cli.main import cli

    exports = tmp_path / "police"
    exports.mkdir()
    bad_id = GOOD_ID[:-1] + ("0" if GOOD_ID[-1] != "0" else "1")
    header = ("处警记录号,警情编号,环节,环节时间,接警时间,报警方式,管辖单位,警情类别,纠纷类型,发生地点,简要案情,"
              "告诫书文号,移交单号,移交调解组织,涉案人员1姓名,涉案人员1身份,涉案人员1证件号码,涉案人员1性别,"
              "涉案人员1年龄,涉案人员1联系电话,涉案人员1现住址\n")
    row = ("J411730010000202501010001#1,J411730010000202501010001,接警登记,2025-01-01 08:00:00,"
           "2025-01-01 08:00:00,110报警,城关派出所,邻里纠纷,邻里,某村,邻里因排水发生口角,,,,王小明,报警人,"
           f"{bad_id},男,35,13800138000,某村3组\n")
    (exports / "police_incidents.csv").write_text(header + row, encoding="utf-8")
    runner = CliRunner()
    for data, option, published in (("reject", [], "published 0"), ("flag", ["--invalid-ids", "flag"], "published 1")):
        env = {"JUSTLINK_DATA_DIR": str(tmp_path / data)}
        assert runner.invoke(cli, ["keys", "init"], env=env).exit_code == 0
        result = runner.invoke(cli, ["connector", "run", "police", "--source", str(tmp_path), "--no-progress",
                                     *option], env=env)
        assert result.exit_code == 0, result.output
        assert published in result.output
        assert bad_id not in result.output
