"""A checker for rule files written in TOML (the access policy, the alert rules, ...): it parses
nothing itself, but remembers on which line each key stands, so every error names the file, the line
and the key. Each rule file's loader subclasses `TomlChecker` with its own error type."""

from __future__ import annotations

import re
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import Any

KeyPath = tuple[str | int, ...]


class TomlError(ValueError):
    """A rule file is invalid; the message names the file, the line and the key."""

    def __init__(self, message: str, path: Path | str, line: int | None) -> None:
        self.path, self.line, self.problem = str(path), line, message
        super().__init__(f"{path}:{line if line is not None else '?'}: {message}")


_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\[\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"""^\s*((?:[A-Za-z0-9_\-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_\-]+|"[^"]*"|'[^']*'))*)\s*=""")


def _split_dotted(text: str) -> list[str]:
    parts = re.findall(r"""[A-Za-z0-9_\-]+|"[^"]*"|'[^']*'""", text)
    return [p[1:-1] if p[:1] in "\"'" else p for p in parts]


def _bracket_balance(line: str) -> int:
    """Open minus close brackets/braces outside strings and comments."""
    depth, quote, i = 0, "", 0
    while i < len(line):
        ch = line[i]
        if quote:
            if ch == "\\" and quote == '"':
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch == "#":
            break
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        i += 1
    return depth


def locate_keys(text: str) -> dict[KeyPath, int]:
    """Map every table and key path in a TOML text to its 1-based line number. Arrays of
    tables get an index component: ("rule", 2, "role")."""
    lines: dict[KeyPath, int] = {}
    array_counts: dict[KeyPath, int] = {}
    current: KeyPath = ()
    depth = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if depth > 0:  # inside a multi-line array or inline table
            depth += _bracket_balance(raw)
            continue
        header = _HEADER.match(raw)
        if header:
            names = _split_dotted(header.group(2))
            path: list[str | int] = []
            for name in names:
                path.append(name)
                if tuple(path) in array_counts and len(path) < len(names):
                    path.append(array_counts[tuple(path)] - 1)
            if header.group(1) == "[[":
                array = tuple(path)
                array_counts[array] = array_counts.get(array, 0) + 1
                path.append(array_counts[array] - 1)
            current = tuple(path)
            lines.setdefault(current, number)
            continue
        key = _KEY.match(raw)
        if key:
            lines.setdefault(current + tuple(_split_dotted(key.group(1))), number)
            depth = _bracket_balance(raw[key.end():])
    return lines


class TomlChecker:
    """Checks a parsed TOML file key by key; `fail` names the file, the line and the key.
    Other rule files (streams/alerts/rules.py) subclass it with their own error type."""

    error: type[ValueError] = TomlError  # subclasses set their own; constructed as error(message, source, line)

    def __init__(self, source: Path | str, text: str) -> None:
        self.source = source
        self.lines = locate_keys(text)

    def line(self, path: KeyPath) -> int | None:
        for end in range(len(path), 0, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return None

    def fail(self, path: KeyPath, message: str) -> ValueError:
        dotted = ".".join(f"[{p}]" if isinstance(p, int) else p for p in path).replace(".[", "[")
        return self.error(f"{dotted}: {message}" if dotted else message, self.source, self.line(path))

    def table(self, data: Any, path: KeyPath) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise self.fail(path, f"expected a table, got {type(data).__name__}")
        return data

    def string(self, data: Any, path: KeyPath) -> str:
        if not isinstance(data, str) or not data.strip():
            raise self.fail(path, f"expected a non-empty string, got {data!r}")
        return data

    def string_list(self, data: Any, path: KeyPath) -> list[str]:
        if not isinstance(data, list) or not all(isinstance(x, str) for x in data):
            raise self.fail(path, f"expected a list of strings, got {data!r}")
        return data

    def integer(self, data: Any, path: KeyPath, minimum: int) -> int:
        if not isinstance(data, int) or isinstance(data, bool) or data < minimum:
            raise self.fail(path, f"expected an integer >= {minimum}, got {data!r}")
        return data

    def keys(self, data: dict[str, Any], path: KeyPath, required: AbstractSet[str],
             optional: AbstractSet[str] = frozenset()) -> None:
        for name in data:
            if name not in required | optional:
                allowed = ", ".join(sorted(required | optional))
                raise self.fail(path + (name,), f"unknown key {name!r} (expected one of: {allowed})")
        for name in sorted(required - set(data)):
            raise self.fail(path, f"missing key {name!r}")
