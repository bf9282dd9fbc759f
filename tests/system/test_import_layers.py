"""`make test` fails on an upward import.

The packages and pyproject.toml are copied to a temporary directory; `lint-imports` (which
`make lint`, and so `make test`, runs) passes on the copy as it is, and reports the broken
contract, naming the import, once a lower layer imports a higher one.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("runtime", "schemas", "consent", "connectors", "streams", "hub")
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _copy(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    tree.mkdir()
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tree / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tree)
    return tree


def _lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    # the copy comes first on the path, before the installed (editable) packages
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=tree, env=env, capture_output=True, text=True,
                          timeout=300)


def test_make_test_runs_the_import_contract() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^test:.*\blint\b", makefile, re.MULTILINE), "make test does not run make lint"
    lint = makefile.split("\nlint:", 1)[1].split("\n\n", 1)[0]
    assert "lint-imports" in lint and "mypy" in lint and "ruff" in lint


def test_the_layers_hold_on_the_tree_as_it_is(tmp_path: Path) -> None:
    result = _lint_imports(_copy(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(("module", "upward", "importer"), [
    ("runtime/settings.py", "hub", "runtime.settings"),                      # the runtime on the app
    ("schemas/loader.py", "consent.privacy.protect", "schemas.loader"),      # the contracts on privacy
    ("consent/privacy/fields.py", "consent.access.policy", "consent.privacy.fields"),  # privacy on access
    ("connectors/sdk/mapping.py", "hub.bootstrap", "connectors.sdk.mapping"),          # a connector on the app
    ("hub/services/queries.py", "hub.api.app", "hub.services.queries"),      # services on the HTTP API
])
def test_an_upward_import_breaks_the_contract(tmp_path: Path, module: str, upward: str, importer: str) -> None:
    tree = _copy(tmp_path)
    with (tree / module).open("a", encoding="utf-8") as source:
        source.write(f"\nimport {upward}  # an upward import\n")
    result = _lint_imports(tree)
    assert result.returncode != 0, result.stdout
    assert "BROKEN" in result.stdout
    assert f"{importer} -> {upward}" in result.stdout, result.stdout
