"""Which county an export comes from, for the reference connectors.

A county export is a folder with one sub-folder per agency and a manifest.json whose "county" object
names the county: its division code, and its court, justice bureau and registry when known (what
`justlink generate` writes; with several counties there is one such folder per county,
`DIR/<division code>/`, and `county_exports(DIR)` finds them).

A reference connector (`CountyConnector`) reads one county export at a time: `sources(path)` reads the
manifest, and every event it maps carries that county's division code. Without a manifest, the county
comes from the agency number of the row where it names one (a police incident number starts with the
station code, a case number with the court code, register numbers with the division code); rows whose
numbers name none (mediation, legal aid) then have no county ("").
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from connectors.sdk import Connector, Source

MANIFEST = "manifest.json"
DIVISION_CODE = re.compile(r"\d{6}")

# Province abbreviations in court codes (案号: （2025）豫1730民初12号 = 河南 41, county 1730).
PROVINCE_CODES = {
    "京": "11", "津": "12", "冀": "13", "晋": "14", "蒙": "15", "辽": "21", "吉": "22", "黑": "23", "沪": "31",
    "苏": "32", "浙": "33", "皖": "34", "闽": "35", "赣": "36", "鲁": "37", "豫": "41", "鄂": "42", "湘": "43",
    "粤": "44", "桂": "45", "琼": "46", "渝": "50", "川": "51", "贵": "52", "黔": "52", "云": "53", "滇": "53",
    "藏": "54", "陕": "61", "甘": "62", "陇": "62", "青": "63", "宁": "64", "新": "65",
}
_NUMBER_COUNTY = (
    re.compile(r"^J(\d{6})\d{6}"),            # police incident: J + 12-digit station code + date + number
    re.compile(r"^AZ(\d{6})"),                # released-prisoner hand-over
    re.compile(r"^(\d{6})(?:19|20)\d\d"),     # marriage registration, community-correction register
)
_COURT_CODE = re.compile(r"^[（(]\d{4}[）)](\D)(\d{4})")
# 河南省驻马店市清源县 -> 清源县: the part after the province and the prefecture
_COUNTY_NAME = re.compile(r"^(?:.+?(?:省|自治区))?(?:.+?(?:市|自治州|地区|盟))?(.+)$")


@dataclass(frozen=True)
class ExportCounty:
    division_code: str
    name: str  # the county's own name (清源县), without province and prefecture
    court_name: str
    justice_bureau: str

    @classmethod
    def from_manifest(cls, county: dict) -> ExportCounty | None:
        code = str(county.get("division_code", ""))
        if not DIVISION_CODE.fullmatch(code):
            return None
        match = _COUNTY_NAME.match(str(county.get("name", "")))
        name = match.group(1) if match else ""
        return cls(code, name, str(county.get("court_name") or (name + "人民法院" if name else "")),
                   str(county.get("justice_bureau") or (name + "司法局" if name else "")))


def export_folder(path: Path) -> Path | None:
    """The county export folder that holds `path` (the folder itself, an agency folder in it, or a file)."""
    folder = path if path.is_dir() else path.parent
    for candidate in (folder, folder.parent):
        if (candidate / MANIFEST).is_file():
            return candidate
    return None


def export_county(path: Path) -> ExportCounty | None:
    """The county the manifest of `path`'s export names; None when there is no such manifest."""
    folder = export_folder(path)
    if folder is None:
        return None
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    county = manifest.get("county") if isinstance(manifest, dict) else None
    return ExportCounty.from_manifest(county) if isinstance(county, dict) else None


def county_exports(path: Path) -> list[Path]:
    """The county exports under `path`: its folders named by a division code that hold a manifest.json
    (several counties, sorted by code), else `path` itself."""
    if path.is_dir():
        found = sorted(p for p in path.iterdir()
                       if p.is_dir() and DIVISION_CODE.fullmatch(p.name) and (p / MANIFEST).is_file())
        if found:
            return found
    return [path]


def county_sources(connector: Connector, path: Path) -> Iterator[Source]:
    """The sources of every county export under `path`, county by county. Lazy on purpose: the next
    county's sources are listed (and a CountyConnector learns that county) only once the previous
    county's have all been taken, so run each source before taking the next."""
    for folder in county_exports(path):
        yield from connector.sources(folder)


def county_of_number(number: str | None) -> str:
    """The division code an agency number names, or "" when it names none."""
    if not number:
        return ""
    for pattern in _NUMBER_COUNTY:
        match = pattern.match(number)
        if match:
            return match.group(1)
    match = _COURT_CODE.match(number)
    if match and match.group(1) in PROVINCE_CODES:
        return PROVINCE_CODES[match.group(1)] + match.group(2)
    return ""


class CountyConnector(Connector):
    """A reference connector of a county agency: `sources(path)` learns the county of the export, and
    `county_code(number)` gives the county of a record. One county export at a time: call `sources()`
    for a county and run its sources before calling it for the next (`county_exports`)."""

    county: ExportCounty | None = None

    def sources(self, path: Path) -> list[Source]:
        exports = county_exports(path)
        if exports != [path]:
            raise ValueError(f"{path} holds {len(exports)} county exports; read them one at a time "
                             f"(connectors.county.county_exports), e.g. {exports[0]}")
        self.county = export_county(path)
        found = super().sources(path)
        folder = export_folder(path)
        if self.county is not None and folder is not None and folder.name == self.county.division_code:
            for source in found:  # one of several counties: checkpoints and dead letters per county
                source.name = f"{folder.name}/{source.name}"
        return found

    def county_code(self, number: str | None = None) -> str:
        """The county of a record: the export's, else the one its agency `number` names, else ""."""
        if self.county is not None:
            return self.county.division_code
        return county_of_number(number)

    @property
    def court_name(self) -> str:
        return self.county.court_name if self.county is not None else ""

    @property
    def justice_bureau(self) -> str:
        return self.county.justice_bureau if self.county is not None else ""
