"""`justlink connector new` scaffolds a package an integrator can start from (the README walkthrough,
tests/connectors/test_readme_integrator.py, then runs it by module path, tests it with the kit, installs
it and runs it by its entry-point name); names that cannot work are refused with a reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from hub.cli.main import cli

NAME = "township_mediation"


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("scaffold")
    result = CliRunner().invoke(cli, ["connector", "new", NAME, "--dir", str(work)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert f"justlink connector run {NAME}.connector:TownshipMediationConnector --source samples/" in result.output
    return work / NAME


def test_the_scaffold_has_a_mapping_a_gb18030_sample_and_a_test(package: Path) -> None:
    for relative in ("pyproject.toml", "README.md", f"{NAME}/__init__.py", f"{NAME}/connector.py",
                     "tests/test_connector.py"):
        assert (package / relative).is_file(), relative
    sample = (package / "samples" / "mediation_ledger.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        sample.decode("utf-8")
    header, *rows = sample.decode("gb18030").splitlines()
    assert header.startswith("登记编号,受理日期,调解委员会名称") and len(rows) == 20
    pyproject = (package / "pyproject.toml").read_text(encoding="utf-8")
    assert '[project.entry-points."justlink.connectors"]' in pyproject
    assert f'{NAME} = "{NAME}.connector:TownshipMediationConnector"' in pyproject
    compile((package / NAME / "connector.py").read_text(encoding="utf-8"), "connector.py", "exec")


@pytest.mark.parametrize(("name", "why"), [("Township", "not a valid package name"), ("class", "not a valid"),
                                           ("connectors", "JustLink package name"), (NAME, "already exists")])
def test_names_that_cannot_work_are_refused(package: Path, name: str, why: str) -> None:
    result = CliRunner().invoke(cli, ["connector", "new", name, "--dir", str(package.parent)])
    assert result.exit_code != 0 and why in result.output


def test_an_unknown_connector_names_what_exists(tmp_path: Path) -> None:
    env = {"JUSTLINK_DATA_DIR": str(tmp_path / "data")}
    result = CliRunner().invoke(cli, ["connector", "run", "no_such_connector", "--source", str(tmp_path)], env=env)
    assert result.exit_code != 0
    assert "unknown connector 'no_such_connector'" in result.output and "police" in result.output
    assert "module path" in result.output
    broken = CliRunner().invoke(cli, ["connector", "run", "json:loads", "--source", str(tmp_path)], env=env)
    assert broken.exit_code != 0 and "is not a Connector subclass" in broken.output


def test_the_kit_names_file_row_and_column_of_a_value_in_clear(package: Path, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The committee's name is not personal, but its column ends in 名称: undeclared, the kit says where
    it saw it and how to declare it."""
    import importlib

    from connectors.testing import ConnectorTestKit

    monkeypatch.syspath_prepend(str(package))
    scaffolded = importlib.import_module(f"{NAME}.connector").TownshipMediationConnector

    class Undeclared(scaffolded):  # type: ignore[misc, valid-type]
        non_personal_columns = frozenset()

    report = ConnectorTestKit(Undeclared(), package / "samples", tmp_path).run_all()
    (finding,) = report.problems["protection"]
    assert finding.startswith("mediation_ledger.csv:2: 调解委员会名称 (committee, envelope.source.office_name): "
                              "kit.clear_personal_value: the value (1"), finding
    assert "non_personal_columns = frozenset({'调解委员会名称'})" in finding
    assert [check for check, problems in report.problems.items() if problems] == ["protection"]


def test_the_kit_names_column_and_contract_field_of_a_row_the_mapping_rejects(package: Path, tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A connector of one's own names only the column it rejected (`lookup(..., "纠纷类型")`); the dead
    letter and the kit's finding add the contract field, measured on the rows that did map."""
    import csv
    import importlib
    import io

    from connectors.testing import ConnectorTestKit

    monkeypatch.syspath_prepend(str(package))
    scaffolded = importlib.import_module(f"{NAME}.connector").TownshipMediationConnector
    header, *rows = list(csv.reader(io.StringIO((package / "samples" / "mediation_ledger.csv").read_bytes()
                                                .decode("gb18030"))))
    rows[2][header.index("纠纷类型")] = "山林权属"
    rows[4][header.index("受理日期")] = "2020年2月30日"
    rows[6][header.index("登记编号")] = ""
    samples = tmp_path / "samples"
    samples.mkdir()
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows([header, *rows])
    (samples / "mediation_ledger.csv").write_bytes(buffer.getvalue().encode("gb18030"))

    findings = ConnectorTestKit(scaffolded(), samples, tmp_path / "kit").run_all().problems["mapping"]
    assert len(findings) == 3, findings
    assert "mediation_ledger.csv:4: 纠纷类型 (dispute_type): value.unknown:" in findings[0]
    assert "mediation_ledger.csv:6: 受理日期 (envelope.occurred_at): date.impossible:" in findings[1]
    assert "mediation_ledger.csv:8: 登记编号 (mediation_case_number, envelope.source_record_key): value.required:" \
        in findings[2]
    assert not any("山林" in finding for finding in findings)


def test_the_kit_finds_personal_values_leaked_whatever_their_columns_are_called(package: Path,
                                                                                  tmp_path: Path) -> None:
    """A ledger whose columns are not named like the usual ones (申请人 for the name, 申请人电话), and a
    mapping that leaks: the name into the office's name, the phone into the record key. The kit finds
    both — by what the mapping encrypts elsewhere, and by the phone's shape — and names the field."""
    import csv
    import io

    from connectors.sdk import Connector, MappedEvent, SourceRecord, parse_datetime, party, required
    from connectors.testing import ConnectorTestKit

    class LeakyLedger(Connector):
        agency = "justice"
        name = "leaky_ledger"
        non_personal_columns = frozenset({"调委会"})

        def map(self, record: SourceRecord) -> list[MappedEvent]:
            row = record.data
            applicant = party(row, "申请人", "applicant", columns={
                "name": "", "id_number": "公民身份号码", "phone": "电话", "id_type": None, "gender": None,
                "address": None, "date_of_birth": None})
            assert applicant is not None
            number = required(row, "登记号")
            fields = {"mediation_case_number": number, "level": "township", "committee": required(row, "调委会"),
                      "source": "walk_in", "dispute_type": "other", "summary": None, "parties": [applicant]}
            return [MappedEvent("MediationCaseOpened", f"{number}#{row['申请人电话']}",
                                parse_datetime(required(row, "受理日期"), "受理日期"), fields,
                                office_code="411730", office_name=applicant["name"], county_code="411730")]

    header, *rows = list(csv.reader(io.StringIO((package / "samples" / "mediation_ledger.csv").read_bytes()
                                                .decode("gb18030"))))
    keep = ["登记编号", "受理日期", "调解委员会名称", "申请人姓名", "申请人身份证号", "申请人联系电话"]
    renamed = ["登记号", "受理日期", "调委会", "申请人", "申请人公民身份号码", "申请人电话"]
    samples = tmp_path / "samples"
    samples.mkdir()
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(
        [renamed, *([row[header.index(column)] for column in keep] for row in rows)])
    (samples / "ledger.csv").write_bytes(buffer.getvalue().encode("gb18030"))

    report = ConnectorTestKit(LeakyLedger(), samples, tmp_path / "kit").run_all()
    assert [check for check, problems in report.problems.items() if problems] == ["protection"], report.text()
    findings = sorted(report.problems["protection"])
    assert len(findings) == 2, findings
    assert findings[0].startswith("ledger.csv:2: 申请人 (envelope.source.office_name): kit.clear_personal_value:")
    assert "the mapping encrypts it elsewhere" in findings[0]
    assert findings[1].startswith("ledger.csv:2: 申请人电话 (envelope.source_record_key): kit.clear_personal_value:")
    assert "shaped like an ID or a mobile number" in findings[1]
    values = {row[header.index(column)] for row in rows for column in keep[3:]} - {""}
    assert not any(value in finding for value in values for finding in findings)


@pytest.mark.parametrize(("source", "expected"), [
    ('from connectors.sdk import Connector\nclass Ledger(Connector)\n    agency = "justice"\n',
     "fails to import: SyntaxError: expected ':' ({path}, line 2)"),
    ("import township_ledger_helpers_not_installed\n",
     "fails to import: ModuleNotFoundError: No module named 'township_ledger_helpers_not_installed' ({path}, line 1)"),
    ('from connectors.sdk import Connector\nclass Ledger(Connector):\n    agency = "justice"\n'
     '    def __init__(self):\n        raise RuntimeError("no ledger configured")\n'
     '    def map(self, record):\n        return []\n',
     "cannot be created: RuntimeError: no ledger configured ({path}, line 5)"),
])
def test_a_broken_connector_of_ones_own_is_an_error_with_its_place_not_a_traceback(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str, expected: str) -> None:
    """Editing a connector goes wrong: run by module path, the command says what and where, in one line."""
    name = f"broken_ledger_{abs(hash(source)) % 10**8}"   # a fresh module name: the process imports each once
    package = tmp_path / name
    package.mkdir()
    (package / "__init__.py").write_text("", encoding="utf-8")
    (package / "connector.py").write_text(source, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    env = {"JUSTLINK_DATA_DIR": str(tmp_path / "data")}
    result = CliRunner().invoke(cli, ["connector", "run", f"{name}.connector:Ledger", "--source", str(tmp_path)],
                                env=env)
    assert result.exit_code == 1 and not isinstance(result.exception, SyntaxError | RuntimeError | ImportError)
    assert expected.format(path=package / "connector.py") in result.output, result.output
    assert "Traceback" not in result.output


def test_a_connector_bug_is_kept_per_row_or_refused_never_a_crash(package: Path, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """map() returning None dead-letters each row (connector.error); a source yielding something other
    than records stops that file with a reason; sources() raising is a one-line command error."""
    from connectors.sdk import Connector, ConnectorRunner, ConnectorState, CsvSource
    from consent.privacy.keys import init_keystore, open_keystore
    from consent.privacy.protect import Protector
    from runtime.eventlog.embedded import EmbeddedEventLog

    class ReturnsNothing(Connector):
        agency = "justice"

        def map(self, record):  # type: ignore[no-untyped-def]
            return None        # forgot the return statement's list

    class YieldsDicts(CsvSource):
        def records(self, after=None):  # type: ignore[no-untyped-def]
            for record in super().records(after):
                yield getattr(record, "data", {})

    init_keystore(tmp_path)
    keystore = open_keystore(tmp_path)
    log, state = EmbeddedEventLog(tmp_path / "log.db"), ConnectorState(tmp_path / "state.db")
    try:
        sample = package / "samples" / "mediation_ledger.csv"
        summary = ConnectorRunner(ReturnsNothing(), log, Protector(keystore), state, progress=False).run(
            CsvSource(sample))
        assert (summary.read, summary.dead_lettered, summary.balanced) == (20, 20, True), summary.line()
        assert list(summary.dead_letter_reasons) == [
            "map: -: connector.error: the connector's map() returned NoneType, not a list of MappedEvent"]
        stopped = ConnectorRunner(ReturnsNothing(), log, Protector(keystore), state, progress=False).run(
            YieldsDicts(sample), resume=False)
        assert stopped.read == 0 and "TypeError" in stopped.refused[sample.name], stopped.line()
    finally:
        log.close()
        state.close()
        keystore.close()

    (tmp_path / "ledger_sources_bug.py").write_text(
        "from connectors.sdk import Connector\nclass Ledger(Connector):\n    agency = 'justice'\n"
        "    def sources(self, path):\n        raise ValueError('no ledger configured')\n"
        "    def map(self, record):\n        return []\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["connector", "run", "ledger_sources_bug:Ledger", "--source", str(sample)],
                                env={"JUSTLINK_DATA_DIR": str(tmp_path / "data")})
    assert result.exit_code == 1 and "sources(" in result.output, result.output
    assert "failed: ValueError: no ledger configured" in result.output


def test_the_ledger_saved_as_excel_unicode_text_passes_the_kit(package: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Excel's 另存为 "Unicode 文本": UTF-16 with a BOM, tab-separated. The header row tells the delimiter;
    the connector needs no change and the kit (its malformed variants too) passes."""
    import codecs
    import csv
    import importlib
    import io

    from connectors.testing import ConnectorTestKit

    monkeypatch.syspath_prepend(str(package))
    scaffolded = importlib.import_module(f"{NAME}.connector").TownshipMediationConnector
    rows = list(csv.reader(io.StringIO((package / "samples" / "mediation_ledger.csv").read_bytes().decode("gb18030"))))
    buffer = io.StringIO()
    csv.writer(buffer, delimiter="\t", lineterminator="\r\n").writerows(rows)
    samples = tmp_path / "samples"
    samples.mkdir()
    (samples / "mediation_ledger.csv").write_bytes(codecs.BOM_UTF16_LE + buffer.getvalue().encode("utf-16-le"))
    report = ConnectorTestKit(scaffolded(), samples, tmp_path / "kit").assert_ok()
    first = report.summaries["first run"]
    assert (first.read, first.published) == (20, 20), first.line()
    malformed = report.summaries["malformed mediation_ledger.csv"]
    assert malformed.dead_lettered >= 3 and not malformed.refused, malformed.line()


def test_a_workbook_among_the_exports_is_named_never_silently_skipped(package: Path, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The committee drops its ledger as .xlsx: run on the directory, the command names the file it does
    not read (and fails when nothing is left to read); run on the workbook itself, it is refused as one."""
    import shutil
    import zipfile

    exports = tmp_path / "exports"
    exports.mkdir()
    with zipfile.ZipFile(exports / "调解台账.xlsx", "w") as workbook:
        workbook.writestr("[Content_Types].xml", "<Types/>")
        workbook.writestr("xl/workbook.xml", "<workbook/>")
    monkeypatch.chdir(package)
    env = {"JUSTLINK_DATA_DIR": str(tmp_path / "data")}
    runner = CliRunner()
    assert runner.invoke(cli, ["keys", "init"], env=env).exit_code == 0
    spec = f"{NAME}.connector:TownshipMediationConnector"

    only = runner.invoke(cli, ["connector", "run", spec, "--source", str(exports), "--no-progress"], env=env)
    assert only.exit_code == 1, only.output
    assert "skipped 调解台账.xlsx: not an export this connector reads (.csv or .jsonl) (an Excel workbook" in only.output
    assert "nothing to read in" in only.output

    itself = runner.invoke(cli, ["connector", "run", spec, "--source", str(exports / "调解台账.xlsx"),
                                 "--no-progress"], env=env)
    assert itself.exit_code == 3, itself.output
    assert "REFUSED 调解台账.xlsx: the file is an Excel workbook, not a text export: save it as CSV" \
        in itself.output

    shutil.copy(package / "samples" / "mediation_ledger.csv", exports)
    both = runner.invoke(cli, ["connector", "run", spec, "--source", str(exports), "--no-progress"], env=env)
    assert both.exit_code == 0, both.output
    assert "skipped 调解台账.xlsx" in both.output and "read 20 = published 20" in both.output


def test_the_kit_names_sample_files_it_cannot_use_never_a_traceback(package: Path, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Next to the ledger, an empty file and a compressed one in the samples: the kit's report names both
    (the archive refused as one, the empty file as having no record to vary) instead of raising."""
    import gzip
    import importlib
    import shutil

    from connectors.testing import ConnectorTestKit

    monkeypatch.syspath_prepend(str(package))
    scaffolded = importlib.import_module(f"{NAME}.connector").TownshipMediationConnector
    samples = tmp_path / "samples"
    samples.mkdir()
    shutil.copy(package / "samples" / "mediation_ledger.csv", samples)
    (samples / "empty.csv").write_bytes(b"")
    (samples / "ledger_2023.csv").write_bytes(gzip.compress((package / "samples" / "mediation_ledger.csv").read_bytes()))
    report = ConnectorTestKit(scaffolded(), samples, tmp_path / "kit").run_all()
    assert not report.ok
    assert report.summaries["first run"].published == 20, report.summaries["first run"].line()
    assert any("ledger_2023.csv: the whole file was refused: the file is compressed" in p
               for p in report.problems["mapping"]), report.text()
    assert any(p.startswith("empty.csv: no record of this sample reads") for p in report.problems["dead_letters"]), \
        report.text()
    assert not any("ledger_2023.csv" in p for p in report.problems["dead_letters"]), "a refusal is named once"


def test_a_mapping_that_raises_anything_while_its_columns_are_measured_is_no_crash(
        package: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A row the mapping rejects at a column makes the SDK map the file's good rows again with that column's
    values swapped, to name the contract fields it feeds: a connector of one's own that raises something
    unexpected then (here on any second look at a row) costs the field name, never the run."""
    import importlib

    from connectors.sdk import ConnectorRunner, ConnectorState, CsvSource, RecordError
    from consent.privacy.keys import init_keystore, open_keystore
    from consent.privacy.protect import Protector
    from runtime.eventlog.embedded import EmbeddedEventLog

    monkeypatch.syspath_prepend(str(package))
    scaffolded = importlib.import_module(f"{NAME}.connector").TownshipMediationConnector

    class LooksOnce(scaffolded):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            super().__init__()
            self.seen: set[str] = set()

        def map(self, record):  # type: ignore[no-untyped-def]
            if record.position in self.seen:
                raise ZeroDivisionError("a bug met only while measuring")
            self.seen.add(record.position)
            if record.position.endswith(":6"):
                raise RecordError("纠纷类型", "not a type this committee records", rule="value.unknown")
            return super().map(record)

    init_keystore(tmp_path)
    keystore = open_keystore(tmp_path)
    log, state = EmbeddedEventLog(tmp_path / "log.db"), ConnectorState(tmp_path / "state.db")
    try:
        summary = ConnectorRunner(LooksOnce(), log, Protector(keystore), state, progress=False).run(
            CsvSource(package / "samples" / "mediation_ledger.csv"))
    finally:
        log.close()
        state.close()
        keystore.close()
    assert (summary.read, summary.published, summary.dead_lettered) == (20, 19, 1), summary.line()
    assert list(summary.dead_letter_reasons) == ["map: 纠纷类型: value.unknown: not a type this committee records"]
