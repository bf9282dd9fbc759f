"""`justlink connector new NAME`: a connector package an integrator can run, test and install at once.

The package is a township mediation committee's connector (调解台账, one row per accepted case ->
MediationCaseOpened): the sample export is 20 rows with Chinese headers in GB18030, taken from a
generated county (real-looking names, ID numbers with valid check characters, addresses); the
mapping shows the SDK's helpers; the test runs the connector test kit on the sample. Rename the
columns and the mapping to your system's export, keep the test.

    NAME/
      pyproject.toml          entry point in group justlink.connectors -> `justlink connector run NAME`
      README.md
      NAME/__init__.py
      NAME/connector.py       the mapping
      samples/mediation_ledger.csv   GB18030, 20 rows
      tests/test_connector.py        the test kit on the sample
"""

from __future__ import annotations

import csv
import io
import keyword
import re
import tempfile
from pathlib import Path

from consent.privacy.normalize import id_check_char

SAMPLE_ROWS = 20
SAMPLE_FILE = "mediation_ledger.csv"
LEDGER_COLUMNS = ("登记编号", "受理日期", "调解委员会名称", "纠纷类型", "纠纷简要情况",
                  "申请人姓名", "申请人性别", "申请人身份证号", "申请人联系电话", "申请人住址",
                  "被申请人姓名", "被申请人性别", "被申请人身份证号", "被申请人联系电话", "被申请人住址")
_NAME = re.compile(r"^[a-z][a-z0-9_]{1,40}$")


class ScaffoldError(ValueError):
    """The package cannot be created (bad name, directory exists); the message says why."""


def class_name(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_") if part) + "Connector"


def check_name(name: str, target: Path) -> None:
    if not _NAME.match(name) or keyword.iskeyword(name):
        raise ScaffoldError(f"{name!r} is not a valid package name: use lower-case letters, digits and _, "
                            "starting with a letter (e.g. township_mediation)")
    if name in ("connectors", "consent", "hub", "runtime", "schemas", "streams", "tests", "justlink"):
        raise ScaffoldError(f"{name!r} is a JustLink package name; choose another")
    if target.exists():
        raise ScaffoldError(f"{target} already exists; choose another name or directory")


def _valid_id(value: str) -> bool:
    return not value or (len(value) == 18 and value[:17].isdigit() and id_check_char(value[:17]) == value[17])


def sample_rows(seed: int = 11) -> list[list[str]]:
    """20 accepted mediation cases of a generated county, as a committee's ledger rows."""
    from connectors.synthetic.generator import generate

    with tempfile.TemporaryDirectory(prefix="justlink-scaffold-") as tmp:
        generate(Path(tmp), 600, seed=seed)
        with (Path(tmp) / "justice" / "mediation_cases.csv").open(encoding="utf-8", newline="") as fh:
            cases = [row for row in csv.DictReader(fh) if row["环节"] == "受理"]
    rows = []
    for case in cases:
        ids = (case["当事人1身份证号"], case["当事人2身份证号"])
        if not case["当事人2姓名"] or not all(_valid_id(i) for i in ids):
            continue
        rows.append([case["调解案件编号"], case["受理日期"], case["调解组织"], case["纠纷类型"], case["纠纷简要情况"],
                     *(case[f"当事人{n}{suffix}"] for n in (1, 2)
                       for suffix in ("姓名", "性别", "身份证号", "联系电话", "住址"))])
        if len(rows) == SAMPLE_ROWS:
            break
    return rows


def _sample_bytes() -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows([list(LEDGER_COLUMNS), *sample_rows()])
    return buffer.getvalue().encode("gb18030")


CONNECTOR = '''"""{title}: the township mediation committee's case ledger (调解台账), one row per accepted
case -> MediationCaseOpened. Scaffolded by `justlink connector new {name}`; adapt the columns below
to your system's export, then run `python -m pytest tests/` (the connector test kit).
"""

from __future__ import annotations

from connectors.sdk import Connector, MappedEvent, SourceRecord, lookup, parse_datetime, party, required, text
from connectors.sdk.vocabulary import DISPUTE_TYPES

COUNTY_CODE = "411730"
#: contract field of a party -> the column suffix after 申请人 / 被申请人 (None: the export has none)
PARTY_COLUMNS = {{"name": "姓名", "gender": "性别", "id_number": "身份证号", "phone": "联系电话", "address": "住址",
                 "date_of_birth": None}}


class {cls}(Connector):
    agency = "{agency}"
    name = "{name}"
    #: the committee's name is not personal data, although its column ends in 名称
    non_personal_columns = frozenset({{"调解委员会名称"}})

    def map(self, record: SourceRecord) -> list[MappedEvent]:
        row = record.data
        number = required(row, "登记编号")
        committee = required(row, "调解委员会名称")
        applicant = party(row, "申请人", "applicant", columns=PARTY_COLUMNS)
        respondent = party(row, "被申请人", "respondent", columns=PARTY_COLUMNS)
        fields = {{
            "mediation_case_number": number,
            "level": "township",
            "committee": committee,
            "source": "walk_in",
            "dispute_type": lookup(DISPUTE_TYPES, required(row, "纠纷类型"), "纠纷类型"),
            "summary": text(row, "纠纷简要情况"),
            "parties": [p for p in (applicant, respondent) if p is not None],
        }}
        return [MappedEvent("MediationCaseOpened", f"{{number}}#1", parse_datetime(required(row, "受理日期"), "受理日期"),
                            fields, office_code=COUNTY_CODE, office_name=committee, county_code=COUNTY_CODE)]
'''

TEST = '''"""The connector test kit on the sample export: mapping, round trip, protection, idempotency and
dead letters (see connectors/testing.py in JustLink)."""

from pathlib import Path

from connectors.testing import ConnectorTestKit
from {name}.connector import {cls}

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def test_the_connector_passes_the_test_kit(tmp_path: Path) -> None:
    report = ConnectorTestKit({cls}(), SAMPLES, tmp_path).assert_ok()
    assert set(report.coverage) == {{"MediationCaseOpened"}}
'''

PYPROJECT = '''[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "{name}"
version = "0.1.0"
description = "{title}: a JustLink connector"
requires-python = ">=3.11"
dependencies = ["justlink"]

[project.entry-points."justlink.connectors"]
{name} = "{name}.connector:{cls}"

[tool.setuptools]
packages = ["{name}"]
'''

README = '''# {name}

A JustLink connector for a township mediation committee's case ledger (调解台账, GB18030 CSV with
Chinese headers), scaffolded by `justlink connector new {name}`.

```bash
justlink keys init                                                 # a hub to try it on (./.justlink)
justlink connector run {name}.connector:{cls} --source samples/   # from this directory
python -m pytest tests/                                            # the connector test kit
pip install .                                                      # then: justlink connector run {name} --source ...
justlink connector list                                            # shows {name} once installed
```

`{name}/connector.py` maps one ledger row to a MediationCaseOpened event. The columns it reads are
those of `samples/{sample}`; change them to your system's export, replace the sample with 20 rows of
your own (Chinese headers and GB18030 are fine), and keep the test passing.
'''


def scaffold(name: str, directory: Path, *, agency: str = "justice") -> Path:
    """Create the package `directory/name`; returns its path."""
    target = Path(directory) / name
    check_name(name, target)
    values = {"name": name, "cls": class_name(name), "agency": agency, "sample": SAMPLE_FILE,
              "title": name.replace("_", " ").capitalize()}
    files = {
        "pyproject.toml": PYPROJECT.format(**values),
        "README.md": README.format(**values),
        f"{name}/__init__.py": f'"""{values["title"]}: a JustLink connector."""\n',
        f"{name}/connector.py": CONNECTOR.format(**values),
        "tests/test_connector.py": TEST.format(**values),
    }
    for relative, content in files.items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
    (target / "samples").mkdir()
    (target / "samples" / SAMPLE_FILE).write_bytes(_sample_bytes())
    return target
