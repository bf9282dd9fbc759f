"""README.md cannot rot.

- Its Python examples run, in order and sharing one namespace, in a working directory that holds a
  generated county as `samples/` (what the README tells a newcomer to generate); a `test_*` function
  an example defines is called as pytest would, with a fresh `tmp_path`.
- The integrator's connector example really maps the generated police export.
- Every `justlink …` line in a code block of a tracked Markdown file names commands that exist, with
  options those commands take; `justlink --help` and `justlink schemas list` run.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from connectors.sdk import RecordError
from connectors.synthetic.generator import generate
from hub.cli.main import cli

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def code_blocks(path: Path, languages: set[str] | None = None) -> list[tuple[int, str, str]]:
    """(first line number, language, code) of each fenced block."""
    text = path.read_text(encoding="utf-8")
    blocks = []
    for match in FENCE.finditer(text):
        language, code = match.group(1), match.group(2)
        if languages is None or language in languages:
            blocks.append((text.count("\n", 0, match.start(2)) + 1, language, code))
    return blocks


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with `samples/`: a small generated county (`justlink generate --out samples/`)."""
    work = tmp_path_factory.mktemp("readme")
    generate(work / "samples", 300, seed=3)
    return work


@pytest.fixture(scope="module")
def examples(workdir: Path) -> dict[str, Any]:
    """The namespace left by running the README's Python examples in order, in `workdir`."""
    blocks = code_blocks(README, {"python"})
    assert blocks, "README.md has no ```python examples"
    namespace: dict[str, Any] = {"__name__": "readme_examples"}
    with contextlib.chdir(workdir):
        for line, _, code in blocks:
            # padded so that a traceback names the README's own line
            exec(compile("\n" * (line - 1) + code, str(README), "exec"), namespace)
    return namespace


def test_readme_python_examples_run(examples: dict[str, Any], workdir: Path, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    tests: dict[str, Callable[[Path], None]] = {
        name: fn for name, fn in examples.items() if name.startswith("test_") and callable(fn)}
    assert tests, "the README's test kit example defines no test function"
    monkeypatch.chdir(workdir)
    for name, fn in tests.items():
        (tmp_path / name).mkdir()
        fn(tmp_path / name)


def test_readme_connector_maps_the_generated_police_export(examples: dict[str, Any], workdir: Path) -> None:
    connector = examples["MyPoliceConnector"]()
    incidents = others = 0
    for source in connector.sources(workdir / "samples"):
        for record in source.records():
            row = record.data
            try:
                events = connector.map(record)
            except RecordError as exc:  # names the column, never the value
                pytest.fail(f"{record.position}: {exc.field}: {exc.reason}")
            if row["环节"] == "接警登记":
                assert [e.event_type for e in events] == ["IncidentReported"]
                assert events[0].fields["incident_number"] == row["警情编号"]
                assert events[0].fields["parties"], f"{record.position}: no parties mapped"
                incidents += 1
            else:
                assert events == []
                others += 1
    assert incidents > 10 and others > 0, (incidents, others)


# ---- the command lines ---------------------------------------------------------------------------

def _markdown_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "*.md"], cwd=ROOT, capture_output=True, text=True, check=True)
    return [ROOT / name for name in listed.stdout.split()]


INLINE_COMMAND = re.compile(r"`(?:\.venv/bin/)?(justlink [^`]+)`")


def _command_lines() -> list[tuple[str, str]]:
    """(where, command) of every `justlink …` command of a tracked Markdown file: in code blocks
    and in inline code."""
    found = []
    for path in _markdown_files():
        where = path.relative_to(ROOT)
        for line_no, _, code in code_blocks(path):
            for offset, line in enumerate(code.splitlines()):
                text = re.split(r"\s#\s", line)[0].strip()
                for command in (c.strip() for c in text.split(" ; ")):
                    command = command.removeprefix(".venv/bin/")
                    if command.startswith("justlink "):
                        found.append((f"{where}:{line_no + offset}", command))
        for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            found += [(f"{where}:{line_no}", m.group(1)) for m in INLINE_COMMAND.finditer(line)]
    return found


def _alternatives(command: str) -> list[list[str]]:
    """`justlink views status | rebuild` -> [[justlink, views, status], [justlink, views, rebuild]]."""
    parts = command.split(" | ")
    first = parts[0].split()
    return [first] + [first[:-1] + part.split() for part in parts[1:]]


def _options(command: click.Command) -> set[str]:
    return {o for p in command.params for o in (*p.opts, *p.secondary_opts)}


def _check(words: list[str]) -> list[str]:
    """Problems with one command line: unknown (sub)commands, options the command does not take."""
    ctx = click.Context(cli)
    command: click.Command = cli
    problems: list[str] = []
    options = _options(cli)
    for word in (w.strip("[]") for w in words[1:]):
        if word in ("...", "…"):  # any subcommand, any arguments
            return problems
        if not word or word == "-":
            continue
        if word.startswith("-"):
            name = word.split("=")[0]
            if name not in options and name not in ctx.help_option_names:
                problems.append(f"option {name} is not an option of `{command.name}`")
            continue
        if isinstance(command, click.Group):
            names = word.split("|")  # `keys init|rotate|status`: each must exist
            missing = [name for name in names if command.get_command(ctx, name) is None]
            problems += [f"`{command.name}` has no command {name!r}" for name in missing]
            sub = command.get_command(ctx, word)
            if sub is None or len(names) > 1:
                return problems
            command = sub
            options |= _options(sub)
    if isinstance(command, click.Group) and command is not cli:
        problems.append(f"`{command.name}` needs a subcommand")
    return problems


def test_markdown_command_lines_name_real_commands_and_options() -> None:
    lines = _command_lines()
    assert len(lines) > 20, "no justlink command lines found in the Markdown files"
    problems = [f"{where}: {command}: {problem}"
                for where, command in lines for words in _alternatives(command) for problem in _check(words)]
    assert not problems, "\n".join(problems)


def test_justlink_help_runs() -> None:
    result = subprocess.run([str(Path(sys.executable).parent / "justlink"), "--help"], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    for command in ("connector", "person", "schemas", "serve"):
        assert command in result.stdout


def test_justlink_schemas_list_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUSTLINK_DATA_DIR", str(tmp_path / "data"))
    result = CliRunner().invoke(cli, ["schemas", "list"])
    assert result.exit_code == 0, result.output
    assert "IncidentReported" in result.output
