"""The Markdown files name only paths and modules that exist.

In every tracked `*.md` file, a backticked token is a repository path when its first part names
an entry of the repository root, of the file's own folder or — in a table row or list item about
a folder (the README's layout table) — of that folder; every such path must exist (`<name>`
placeholders match anything). A backticked `*.py` file, and in such a row or item a backticked
`folder/`, must exist in one of those places; a dotted module (`hub.cli.main`) must be importable;
a relative link must point at a file.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("runtime", "schemas", "consent", "connectors", "streams", "hub")
CODE = re.compile(r"`([^`\s]+)`")
LINK = re.compile(r"\]\(([^)\s]+)\)")
MODULE = re.compile(rf"^(?:{'|'.join(PACKAGES)})(?:\.[a-z_][a-z0-9_]*)+$")
FILE_ENDINGS = {"py", "toml", "md", "db", "csv", "json", "sql", "avsc", "key", "pem", "txt", "yaml", "yml"}
ITEM_FOLDER = re.compile(r"^(?:\|\s*|[-*]\s+\[?)`([\w./-]+/)`")  # a table row or list item about a folder


def _markdown_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "*.md"], cwd=ROOT, capture_output=True, text=True, check=True)
    return [ROOT / name for name in listed.stdout.split()]


def _exists(base: Path, token: str) -> bool:
    pattern = re.sub(r"<[^>]+>", "*", token.rstrip("/"))
    return any(base.glob(pattern)) if "*" in pattern else (base / pattern).exists()


def _first_part_names(base: Path, token: str) -> bool:
    first = token.split("/", 1)[0]
    return bool(first) and "<" not in first and (base / first).exists()


def _importable(dotted: str) -> bool:
    """A module, or an attribute of one (`hub.cli.main.cli`)."""
    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):
        try:
            spec = importlib.util.find_spec(".".join(parts[:end]))
        except ModuleNotFoundError:
            spec = None
        if spec is not None:
            found: object = importlib.import_module(".".join(parts[:end]))
            for attribute in parts[end:]:
                if not hasattr(found, attribute):
                    return False
                found = getattr(found, attribute)
            return True
    return False


def _problems(path: Path) -> list[str]:
    problems = []
    item: list[Path] = []  # the folder the current table row or list item is about
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.startswith(("|", "-", "*")) or not line.startswith(" "):
            folder = ITEM_FOLDER.match(line)
            item = [base / folder.group(1) for base in (ROOT, path.parent)
                    if folder and (base / folder.group(1)).is_dir()]
        bases = [ROOT, path.parent, *item]
        where = f"{path.relative_to(ROOT)}:{number}"
        for token in CODE.findall(line):
            token = token.rstrip(".,;:").removeprefix("./")
            if token.startswith(("/", "http", "~", "$", "-")) or "://" in token:
                continue
            if MODULE.match(token) and token.rpartition(".")[2] not in FILE_ENDINGS:
                if not _importable(token):
                    problems.append(f"{where}: module {token} does not exist")
                continue
            named = [base for base in bases if "/" in token and _first_part_names(base, token)]
            if named:
                if not any(_exists(base, token) for base in named):
                    problems.append(f"{where}: {token} does not exist")
            elif (token.endswith(".py") or (item and token.endswith("/"))) and not any(
                    _exists(base, token) for base in bases):
                problems.append(f"{where}: {token} does not exist")
        for target in LINK.findall(line):
            if "://" in target or target.startswith(("#", "mailto:")):
                continue
            if not (path.parent / target.split("#")[0]).exists():
                problems.append(f"{where}: link to {target}, which does not exist")
    return problems


@pytest.mark.parametrize("path", _markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_markdown_names_only_existing_paths(path: Path) -> None:
    problems = _problems(path)
    assert not problems, "\n".join(problems)


def test_every_package_has_a_readme_saying_what_it_may_import() -> None:
    for package in PACKAGES:
        readme = ROOT / package / "README.md"
        assert readme.exists(), f"{package}/ has no README.md"
        assert "May import" in readme.read_text(encoding="utf-8"), f"{package}/README.md: what may it import?"
