"""The contract's terms in Chinese (schemas/names_zh.toml): a name for every field and enum symbol,
shown next to the English in the schema reference. Kept apart from the .avsc files, whose text is
registered and fingerprinted."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

NAMES_FILE = Path(__file__).resolve().parent / "names_zh.toml"


@dataclass(frozen=True)
class ChineseNames:
    fields: dict[str, str]                  # field name -> 中文
    symbols: dict[str, dict[str, str]]      # enum name -> symbol -> 中文

    def field(self, name: str) -> str:
        return self.fields.get(name, "")

    def symbol(self, enum: str, symbol: str) -> str:
        return self.symbols.get(enum, {}).get(symbol, "")


@lru_cache(maxsize=1)
def chinese_names() -> ChineseNames:
    raw = tomllib.loads(NAMES_FILE.read_text(encoding="utf-8"))
    return ChineseNames(fields=dict(raw.get("fields", {})), symbols={k: dict(v) for k, v in raw.get("symbols", {}).items()})
