"""Versioned DDL for the shared views.

Each `NNN_name.sql` file is one migration: statements separated by a `;` at the end of a
line, `--` comment lines allowed. Migrations are applied in version order and recorded in
`schema_migrations`; an applied migration is never edited, a new file refines it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

_FILE_NAME = re.compile(r"^(\d{3,})_([a-z0-9_]+)\.sql$")
_STATEMENT_END = re.compile(r";[ \t]*$", re.MULTILINE)


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]

    @property
    def checksum(self) -> str:
        """Hash of the statements only, so comment and whitespace edits do not count as changes."""
        normalised = "\n".join(" ".join(statement.split()) for statement in self.statements)
        return hashlib.sha256(normalised.encode()).hexdigest()


def split_statements(sql: str) -> tuple[str, ...]:
    lines = [line for line in sql.splitlines() if not line.lstrip().startswith("--")]
    parts = _STATEMENT_END.split("\n".join(lines))
    return tuple(part.strip() for part in parts if part.strip())


def load_migrations(directory: Path | None = None) -> list[Migration]:
    directory = directory or Path(__file__).parent
    migrations: list[Migration] = []
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if not match:
            raise ValueError(f"migration file {path.name}: expected a name like 001_initial_views.sql")
        statements = split_statements(path.read_text(encoding="utf-8"))
        if not statements:
            raise ValueError(f"migration file {path.name}: no SQL statements")
        migrations.append(Migration(int(match.group(1)), path.stem, statements))
    versions = [m.version for m in migrations]
    duplicates = sorted({v for v in versions if versions.count(v) > 1})
    if duplicates:
        raise ValueError(f"migrations: version(s) {duplicates} used by more than one file")
    return sorted(migrations, key=lambda m: m.version)
