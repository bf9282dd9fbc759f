"""The README's integrator walkthrough ("A connector of your own, step by step"), and the README that
`justlink connector new` writes into the package, run line by line as a newcomer would type them, in a
fresh directory and data directory. `cd` changes the directory of the following lines; `pip install .`
installs into a private target directory (put on PYTHONPATH for the lines after it) instead of the
test's own environment."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"
BIN = Path(sys.executable).parent


def bash_lines(text: str) -> list[str]:
    block = re.search(r"```bash\n(.*?)```", text, re.DOTALL)
    assert block, "no bash block"
    lines = [line.split("#", 1)[0].strip() for line in block.group(1).splitlines()]
    return [line for line in lines if line]


def walkthrough() -> list[str]:
    text = README.read_text(encoding="utf-8")
    return bash_lines(text.split("**A connector of your own, step by step**", 1)[1])


def run_lines(lines: list[str], cwd: Path, site: Path) -> tuple[dict[str, str], Path]:
    """Each line's stdout, and the directory the last line ran in."""
    # the newcomer's shell: no data directory or settings file chosen, so every line uses ./.justlink of the
    # directory it runs in (a walkthrough that creates keys in one directory and runs in another fails)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("JUSTLINK_")}, "PYTHONPATH": ""}
    outputs: dict[str, str] = {}
    for line in lines:
        words = shlex.split(line)
        if words[0] == "cd":
            cwd = cwd / words[1]
            assert cwd.is_dir(), line
            continue
        if words[0] == "justlink":
            words[0] = str(BIN / "justlink")
        elif words[0] == "python":
            words[0] = sys.executable
        elif words[:2] == ["pip", "install"]:
            words = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), *words[2:]]
        result = subprocess.run(words, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False)
        assert result.returncode == 0, f"{line}\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
        assert "Traceback" not in result.stderr, line
        outputs[line] = result.stdout
        if words[:3] == [sys.executable, "-m", "pip"]:
            env["PYTHONPATH"] = str(site)
    return {line.split(" --")[0]: out for line, out in outputs.items()}, cwd


def test_the_readme_integrator_walkthrough_works_as_written(tmp_path: Path) -> None:
    lines = walkthrough()
    assert any(line.startswith("justlink connector new") for line in lines)
    work = tmp_path / "work"
    work.mkdir()
    by_start, cwd = run_lines(lines, work, tmp_path / "site")
    assert "read 20 = published 20" in by_start[
        "justlink connector run township_mediation.connector:TownshipMediationConnector"]
    assert "1 passed" in by_start["python -m pytest tests/"]
    assert "township_mediation" in by_start["justlink connector list"]
    assert "read 20 = published 0 + dead-lettered 0 + duplicates 20" in by_start[
        "justlink connector run township_mediation"]
    assert "no dead letters" in by_start["justlink connector dead-letters justice"]
    assert (cwd / "reference.md").read_text(encoding="utf-8").startswith("# Event schemas")
    assert (cwd / ".justlink" / "keystore.db").is_file(), "the walkthrough's hub is the package directory's"


def test_the_scaffolded_packages_readme_works_as_written(tmp_path: Path) -> None:
    """What `connector new` prints next and what its package README says both work from the package."""
    created = subprocess.run([str(BIN / "justlink"), "connector", "new", "xiangzhen_tiaojie"], cwd=tmp_path,
                             capture_output=True, text=True, timeout=300, check=True,
                             env={k: v for k, v in os.environ.items() if not k.startswith("JUSTLINK_")})
    package = tmp_path / "xiangzhen_tiaojie"
    printed = [line.split("#", 1)[0].strip() for line in created.stdout.split("next:", 1)[1].splitlines()]
    assert [line for line in printed if line][:2] == ["cd xiangzhen_tiaojie", "justlink keys init"], created.stdout
    lines = bash_lines((package / "README.md").read_text(encoding="utf-8"))
    by_start, _ = run_lines(lines, package, tmp_path / "site")
    assert "read 20 = published 20" in by_start[
        "justlink connector run xiangzhen_tiaojie.connector:XiangzhenTiaojieConnector"]
    assert "1 passed" in by_start["python -m pytest tests/"]
    assert "xiangzhen_tiaojie" in by_start["justlink connector list"]
