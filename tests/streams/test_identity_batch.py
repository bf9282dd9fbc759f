"""`justlink resolve`: CSV in, clusters out; no plaintext in the output. The batch resolver gives the
streaming resolver's persons, and the same persons whatever the matching key and the row order."""

from __future__ import annotations

import csv
import io
import random
from pathlib import Path

import pytest
from click.testing import CliRunner

from consent.privacy.normalize import id_check_char
from hub.cli.main import cli
from streams.identity import IdentityProcessor
from streams.identity.batch import resolve_batch, stream_rows
from streams.identity.clusters import profile_anchor
from streams.identity.config import RESOLVE_CONFIG, load_config
from streams.identity.events import review_decided
from streams.identity.profile import Profile, pack, unpack
from streams.processor import DictState, Event
from tests.support.identity_rows import county_rows, febrl3_rows, partition, protected


def _id(area: str, birth: str, seq: str) -> str:
    return area + birth + seq + id_check_char(area + birth + seq)


ROWS = [
    # record_id, source, name, id_type, id_number, date_of_birth, gender, phone, address
    ("r1", "court", "张伟", "resident_id", _id("110101", "19900307", "451"), "1990-03-07", "male", "13812345678",
     "北京市东城区东华门街道1号"),
    ("r2", "police", "章伟", "", "", "1990-03-07", "男", "138 1234 5678", ""),
    ("r3", "justice", "張偉", "resident_id", _id("110101", "19900307", "451"), "", "", "", ""),
    ("r4", "civil_affairs", "张伟", "resident_id", _id("110101", "19900307", "453"), "1990-03-07", "male",
     "13812345678", "北京市东城区东华门街道1号"),
    ("r5", "police", "Ahmatjan·Tursun", "", "", "1978-11-02", "male", "13999990000", ""),
    ("r6", "court", "AHMATJAN • TURSUN", "passport", "E12345678", "1978-11-02", "", "+86 139 9999 0000", ""),
    ("r7", "court", "", "", "", "", "", "", ""),
]
HEADER = "record_id,source,name,id_type,id_number,date_of_birth,gender,phone,address"


def test_resolve_command_groups_records_without_plaintext(tmp_path: Path) -> None:
    source = tmp_path / "persons.csv"
    with open(source, "w", newline="", encoding="utf-8") as handle:
        handle.write(HEADER + "\n")
        csv.writer(handle).writerows(ROWS)
    target = tmp_path / "out" / "clusters.csv"
    result = CliRunner().invoke(cli, ["--data-dir", str(tmp_path / "data"), "resolve", "--input", str(source),
                                      "--output", str(target), "--no-progress"])
    assert result.exit_code == 0, result.output
    with open(target, encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["record_id"] for r in rows] == [r[0] for r in ROWS]
    person = {r["record_id"]: r["person_id"] for r in rows}
    assert person["r1"] == person["r2"] == person["r3"]
    assert person["r4"] != person["r1"]  # a different valid ID number: never the same person
    assert person["r5"] == person["r6"]
    assert person["r7"] not in (person["r1"], person["r4"], person["r5"])
    text = target.read_text(encoding="utf-8") + result.output
    for row in ROWS:
        for value in row[2:]:
            if value and value not in ("male", "resident_id", "passport"):
                assert value not in text


def test_resolve_command_names_a_bad_header(tmp_path: Path) -> None:
    source = tmp_path / "persons.csv"
    source.write_text("id,name\n1,x\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["--data-dir", str(tmp_path / "data"), "resolve", "--input", str(source),
                                      "--output", str(tmp_path / "o.csv"), "--no-progress"])
    assert result.exit_code != 0
    assert "header lacks column(s) record_id, source" in result.output


def test_profile_pack_round_trip() -> None:
    profile = Profile("ab" * 16, True, None, "cd" * 16, "ef" * 16, "not-hex-index", 3, 2, name_key="01" * 16,
                      name=bytes(range(24)), address=b"\xff" * 8 * 300, dob_parts=bytes(24))
    assert unpack(pack(profile)) == profile
    assert unpack(pack(Profile(None, False, None, None, None, None, 0, 0))) == Profile(None, False, None, None, None,
                                                                                      None, 0, 0)


# -- the batch resolver against the streaming one, and against itself under another key -----------------

KEY_A, KEY_B = bytes(range(32)), bytes(range(7, 39))


@pytest.fixture(scope="module")
def county(tmp_path_factory: pytest.TempPathFactory) -> list:
    from connectors.synthetic.generator import generate

    base = tmp_path_factory.mktemp("identity-county")
    generate(base, 1500, 5)
    return county_rows(base)


def _batch(rows: list, config_path: Path | None = None, train: bool = True) -> tuple[dict[str, str], object]:
    persons, model, _ = resolve_batch(rows, load_config(config_path), train)
    return persons, model


def test_streaming_and_batch_resolvers_agree_on_a_county(county: list) -> None:
    rows = protected(county, KEY_A)
    for config_path, train in ((None, False), (RESOLVE_CONFIG, True)):
        batch, model = _batch(rows, config_path, train)
        streamed, _ = stream_rows(rows, IdentityProcessor(model))
        assert len(set(batch.values())) > 300
        assert streamed == batch, f"{config_path}: the streaming resolver made other persons"


def test_streaming_and_batch_resolvers_agree_on_febrl() -> None:
    rows = protected(febrl3_rows(), KEY_A)
    batch, model = _batch(rows, RESOLVE_CONFIG)
    streamed, _ = stream_rows(random.Random(3).sample(rows, len(rows)), IdentityProcessor(model))
    assert streamed == batch
    assert len(set(batch.values())) < 2100  # 2,000 people in 5,000 records


def test_reviewers_decisions_give_the_streaming_resolvers_persons(county: list) -> None:
    """Decisions about possible matches ("same") and about linked records ("apart") change the batch's
    persons exactly as IdentityReviewDecided events change the streaming resolver's, read before or
    after the records."""
    rows = protected(county[:1500], KEY_A)
    persons, model, left_apart = resolve_batch(rows, load_config(RESOLVE_CONFIG), True)
    record_id = {row.record_key: row.record_id for row in rows}
    members: dict[str, list[str]] = {}
    for rid in sorted(persons):
        members.setdefault(persons[rid], []).append(rid)
    profile = {row.record_id: row.profile() for row in rows}

    def separable(a: str, b: str) -> bool:  # not one profile, not one valid ID number (that names one person)
        return profile[a] != profile[b] and not (profile_anchor(profile[a]) and
                                                 profile_anchor(profile[a]) == profile_anchor(profile[b]))

    linked = [[found[0], other] for found in members.values() for other in found[1:] if separable(found[0], other)]
    assert len(left_apart) >= 3 and len(linked) >= 3
    decisions = [(record_id[m.key_b], record_id[m.key_a], "same") for m in left_apart[:3]]
    decisions += [(a, b, "apart") for a, b in linked[:2]] + [(linked[2][0], linked[2][1], "same")]
    decided, _, _ = resolve_batch(rows, model, False, decisions)
    for a, b, decision in decisions:
        assert (decided[a] == decided[b]) == (decision == "same"), (decision, a, b)
    key = {row.record_id: row.record_key for row in rows}
    reviews = [Event("IdentityReviewDecided", review_decided(key[a], key[b], d, "clerk", at_millis=1).record)
               for a, b, d in decisions]
    for reviews_first in (False, True):
        processor, state = IdentityProcessor(model), DictState()
        if reviews_first:
            for review in reviews:
                processor.handle_review(review, state)
        streamed, state = stream_rows(rows, processor, state)
        if not reviews_first:
            for review in reviews:
                processor.handle_review(review, state)
            streamed = {row.record_id: processor.person_of(row.record_key, state) or "" for row in rows}
        assert streamed == decided, f"reviews {'before' if reviews_first else 'after'} the records"


def test_the_same_persons_whatever_the_matching_key(county: list) -> None:
    """A key rotation re-protects everything: candidates, similarities, training and persons must not move."""
    for name, source, config_path in (("county", county, None), ("county, wide rules", county, RESOLVE_CONFIG),
                                      ("FEBRL3", list(febrl3_rows()), RESOLVE_CONFIG)):
        (a, model_a), (b, model_b) = (_batch(protected(source, key), config_path) for key in (KEY_A, KEY_B))
        assert partition(a) == partition(b), f"{name}: other clusters under another matching key"
        assert model_a.comparisons == model_b.comparisons and model_a.match_threshold == model_b.match_threshold
        assert sorted(model_a.term_frequencies.get("name", {}).values()) == \
            sorted(model_b.term_frequencies.get("name", {}).values())


def test_training_does_not_depend_on_the_order_of_the_rows() -> None:
    rows = protected(febrl3_rows(), KEY_A)
    persons, model = _batch(rows, RESOLVE_CONFIG)
    again, model_again = _batch(rows[::-1], RESOLVE_CONFIG)
    assert model_again == model and again == persons


def test_resolve_reads_no_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`justlink resolve` needs no data directory: a settings file it cannot read does not stop it (and
    it does not pay for loading one at start-up)."""
    source = tmp_path / "persons.csv"
    with open(source, "w", newline="", encoding="utf-8") as handle:
        handle.write(HEADER + "\n")
        csv.writer(handle).writerows(ROWS)
    broken = tmp_path / "justlink.toml"
    broken.write_text("this is = not [toml\n", encoding="utf-8")
    monkeypatch.setenv("JUSTLINK_CONFIG", str(broken))  # (--config would set it for the whole test process)
    result = CliRunner().invoke(cli, ["resolve", "--input", str(source),
                                      "--output", str(tmp_path / "o.csv"), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "o.csv").read_text(encoding="utf-8").count("\n") == len(ROWS) + 1


# -- the input as agencies' tools write it -------------------------------------------------------------

def _county_csv(rows: list, path: Path, encoding: str, utf8_lines: int = 0) -> Path:
    """The county's parties as a resolve CSV in `encoding`; the first `utf8_lines` data rows in UTF-8
    whatever the file's encoding (a file pasted together from two systems)."""
    lines = []
    for record_id, agency, party in rows:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\r\n").writerow(
            [record_id, agency, party.get("name") or "", "", party.get("id_number") or "",
             party.get("date_of_birth") or "", party.get("gender") or "", party.get("phone") or "",
             party.get("address") or ""])
        lines.append(buffer.getvalue())
    if not utf8_lines:
        path.write_bytes((HEADER + "\r\n" + "".join(lines)).encode(encoding))  # one byte-order mark, if any
        return path
    path.write_bytes((HEADER + "\r\n").encode(encoding) + "".join(lines[:utf8_lines]).encode("utf-8")
                     + "".join(lines[utf8_lines:]).encode(encoding))
    return path


def _resolve(source: Path, tmp_path: Path) -> tuple[int, str, dict[str, str]]:
    target = tmp_path / (source.stem + ".out.csv")
    result = CliRunner().invoke(cli, ["resolve", "--input", str(source), "--output", str(target), "--no-progress"])
    if result.exit_code != 0:
        return result.exit_code, result.output, {}
    with open(target, encoding="utf-8") as handle:
        return 0, result.output, {r["record_id"]: r["person_id"] for r in csv.DictReader(handle)}


def test_resolve_reads_gb18030_utf16_and_mixed_files_alike(county: list, tmp_path: Path) -> None:
    rows = county[:1500]
    assert any(not (party.get("name") or "a").isascii() for _, _, party in rows)
    found = {}
    for label, encoding, utf8_lines in (("utf-8", "utf-8", 0), ("utf-8-bom", "utf-8-sig", 0),
                                        ("gb18030", "gb18030", 0), ("utf-16", "utf-16", 0),
                                        ("gb18030 with utf-8 rows", "gb18030", 40)):
        code, output, persons = _resolve(_county_csv(rows, tmp_path / f"{label}.csv", encoding, utf8_lines), tmp_path)
        assert code == 0, (label, output)
        found[label] = partition(persons)
    assert len(found["utf-8"]) < len(rows)
    assert all(clusters == found["utf-8"] for clusters in found.values())


def test_resolve_names_the_line_and_rule_of_a_bad_row_never_its_values(county: list, tmp_path: Path) -> None:
    rows = county[:50]
    good = _county_csv(rows, tmp_path / "good.csv", "utf-8").read_bytes().split(b"\r\n")
    name = (rows[2][2].get("name") or "").encode("utf-8")
    assert name and name in good[3]
    cases = {
        "csv.column_count": good[:3] + [good[3] + b",extra"] + good[4:],  # line 4: one value too many
        "csv.column_count ": good[:3] + [good[3].rsplit(b",", 2)[0]] + good[4:],  # line 4: truncated
        "line.encoding": good[:3] + [good[3].replace(name, b"\xff" + name)] + good[4:],
        "value.unique": good[:3] + [good[2]] + good[4:],  # line 4 repeats line 3's record_id
    }
    secret = [v for v in rows[2][2].values() if isinstance(v, str) and len(v) > 1] + [rows[1][0], rows[2][0]]
    for rule, lines in cases.items():
        source = tmp_path / "bad.csv"
        source.write_bytes(b"\r\n".join(lines))
        code, output, _ = _resolve(source, tmp_path)
        assert code != 0 and "bad.csv: line 4:" in output and f"(rule {rule.strip()})" in output, output
        assert not [value for value in secret if value in output], rule


def test_resolve_lists_the_possible_matches_for_review(county: list, tmp_path: Path) -> None:
    rows = county[:1500]
    source = _county_csv(rows, tmp_path / "county.csv", "utf-8")
    target, review, model_file = tmp_path / "persons.csv", tmp_path / "review.csv", tmp_path / "model.toml"
    result = CliRunner().invoke(cli, ["resolve", "--input", str(source), "--output", str(target), "--no-progress",
                                      "--review", str(review), "--write-model", str(model_file)])
    assert result.exit_code == 0, result.output
    model = load_config(model_file)
    with open(target, encoding="utf-8") as handle:
        person = {r["record_id"]: r["person_id"] for r in csv.DictReader(handle)}
    with open(review, encoding="utf-8") as handle:
        listed = list(csv.DictReader(handle))
    assert listed and f"{len(listed)} possible matches for review in {review}" in result.output
    scores = [float(r["score"]) for r in listed]
    assert scores == sorted(scores, reverse=True)
    for r in listed:
        assert person[r["record_a"]] != person[r["record_b"]]
        assert model.possible_threshold <= float(r["score"]) < model.match_threshold
        weights = []
        for comparison in model.comparisons:
            outcome, weight = r[comparison.attribute].split(" ")
            assert outcome in ("agree", "partial", "disagree", "missing")
            weights.append(float(weight))
        assert abs(sum(weights) - float(r["score"])) < 0.05  # the waterfall adds up to the score
    text = review.read_text(encoding="utf-8")
    values = {v for _, _, party in rows for k, v in party.items() if k in ("name", "id_number", "phone", "address")
              and isinstance(v, str) and len(v) > 1}
    assert not [v for v in values if v in text]
    # the reviewer fills in a decision column; the next run respects it
    listed[0]["decision"], listed[1]["decision"] = "same", "apart"
    decided = tmp_path / "decided.csv"
    with open(decided, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=[*listed[0].keys()])
        writer.writeheader()
        writer.writerows(listed)
    again = CliRunner().invoke(cli, ["resolve", "--input", str(source), "--output", str(target), "--no-progress",
                                     "--review", str(review), "--decisions", str(decided), "--model", str(model_file)])
    assert again.exit_code == 0, again.output
    with open(target, encoding="utf-8") as handle:
        person = {r["record_id"]: r["person_id"] for r in csv.DictReader(handle)}
    assert person[listed[0]["record_a"]] == person[listed[0]["record_b"]]
    assert person[listed[1]["record_a"]] != person[listed[1]["record_b"]]
    with open(review, encoding="utf-8") as handle:  # decided "same": no longer to review
        assert (listed[0]["record_a"], listed[0]["record_b"]) not in {(r["record_a"], r["record_b"])
                                                                      for r in csv.DictReader(handle)}
    listed[2]["record_b"], listed[2]["decision"] = "no-such-record", "same"
    with open(decided, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=[*listed[0].keys()])
        writer.writeheader()
        writer.writerows(listed)
    refused = CliRunner().invoke(cli, ["resolve", "--input", str(source), "--output", str(target), "--no-progress",
                                       "--decisions", str(decided)])
    assert refused.exit_code != 0
    assert "decided.csv: line 4: column record_b names no record_id of the input (rule reference.missing)" in \
        refused.output
