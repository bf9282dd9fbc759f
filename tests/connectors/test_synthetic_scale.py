"""Bounded memory (persons are streamed in chunks) and the `justlink generate` command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from hub.cli.main import cli

PEAK_RSS = """
import resource, sys
from pathlib import Path
from connectors.synthetic.generator import generate
generate(Path(sys.argv[1]), int(sys.argv[2]), 5)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def peak_rss_kib(out: Path, persons: int) -> int:
    done = subprocess.run([sys.executable, "-c", PEAK_RSS, str(out), str(persons)],
                          capture_output=True, text=True, timeout=120, check=True)
    return int(done.stdout.split()[-1])


def test_memory_does_not_grow_with_persons(tmp_path: Path) -> None:
    small = peak_rss_kib(tmp_path / "small", 2_000)
    large = peak_rss_kib(tmp_path / "large", 14_000)  # 7x the persons, 7 chunks
    rows_small = json.loads((tmp_path / "small/manifest.json").read_text())["truth"]["truth/events.csv"]["rows"]
    rows_large = json.loads((tmp_path / "large/manifest.json").read_text())["truth"]["truth/events.csv"]["rows"]
    assert rows_large > 5 * rows_small
    assert large - small < 8 * 1024, (small, large)  # KiB: a few MB of counters at most


def test_cli_generate_writes_exports_truth_and_manifest(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--data-dir", str(tmp_path / "data"), "generate", "--out",
                                      str(tmp_path / "out"), "--persons", "400", "--seed", "2", "--quiet"])
    assert result.exit_code == 0, result.output[-500:]
    manifest = json.loads((tmp_path / "out/manifest.json").read_text(encoding="utf-8"))
    assert manifest["persons"] == 400 and manifest["seed"] == 2
    for rel in manifest["files"]:
        assert (tmp_path / "out" / rel).is_file(), rel
    assert (tmp_path / "out/truth/persons.csv").is_file() and (tmp_path / "out/truth/README.md").is_file()
