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
    assert finding.startswith("mediation_ledger.csv:2: the value of column 调解委员会名称"), finding
    assert "non_personal_columns = frozenset({'调解委员会名称'})" in finding
    assert [check for check, problems in report.problems.items() if problems] == ["protection"]
