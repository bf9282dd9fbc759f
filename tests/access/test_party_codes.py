"""A party's access code: shown once and kept only as a keyed hash, read as people type it, bound to one
person and case, expiring, revoked by a new one; a stolen copy of the codes file opens nothing."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from consent.access.party_codes import CodeError, PartyCodes, normalise_code
from consent.access.policy import PolicyError, load_policy, parse_policy

NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
KEY = os.urandom(32)
YEAR, HOUR = timedelta(days=365), timedelta(hours=1)


@pytest.fixture()
def codes(tmp_path: Path):
    registry = PartyCodes.open(tmp_path, KEY)
    yield registry
    registry.close()


def test_a_code_is_read_as_people_type_it() -> None:
    assert normalise_code("k7qm-4xpr 2hdt") == "K7QM4XPR2HDT"
    assert normalise_code("Ｋ７ＱＭ－４ＸＰＲ－２ＨＤＴ") == "K7QM4XPR2HDT"   # full-width, as a Chinese IME types it
    assert normalise_code("OIL0") == "0110"


def test_a_code_opens_its_person_and_case_until_it_expires(codes: PartyCodes) -> None:
    issued = codes.issue("P1", "（2025）城关调字第2号", "mediator.demo", valid=YEAR, now=NOW)
    session, party = codes.sign_in(issued.code.lower(), "client", session=HOUR, now=NOW)
    assert (party.person_id, party.case_id, party.code_id) == ("P1", "（2025）城关调字第2号", issued.code_id)
    assert codes.session(session, NOW + timedelta(minutes=59)).person_id == "P1"
    with pytest.raises(CodeError, match="expired_session"):
        codes.session(session, NOW + HOUR)
    with pytest.raises(CodeError, match="expired_code"):
        codes.sign_in(issued.code, "client", session=HOUR, now=NOW + YEAR)


def test_a_new_code_revokes_the_old_one_and_its_sessions(codes: PartyCodes) -> None:
    first = codes.issue("P1", "C-1", "mediator.demo", valid=YEAR, now=NOW)
    session, _ = codes.sign_in(first.code, "client", session=HOUR, now=NOW)
    codes.issue("P1", "C-1", "mediator.demo", valid=YEAR, now=NOW)
    with pytest.raises(CodeError, match="revoked_code"):
        codes.sign_in(first.code, "client", session=HOUR, now=NOW)
    with pytest.raises(CodeError, match="revoked_code"):
        codes.session(session, NOW)
    other = codes.issue("P1", "C-2", "judge.demo", valid=YEAR, now=NOW)
    assert codes.revoke_person("P1", NOW) == 2
    with pytest.raises(CodeError, match="revoked_code"):
        codes.sign_in(other.code, "client", session=HOUR, now=NOW)


def test_a_stolen_codes_file_holds_no_code_and_opens_nothing_without_the_key(codes: PartyCodes,
                                                                               tmp_path: Path) -> None:
    issued = codes.issue("P1", "C-1", "mediator.demo", valid=YEAR, now=NOW)
    session, _ = codes.sign_in(issued.code, "client", session=HOUR, now=NOW)
    codes.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("party_codes.db*"))
    assert normalise_code(issued.code).encode() not in raw and session.encode() not in raw
    stolen = tmp_path / "stolen"
    stolen.mkdir()
    for part in tmp_path.glob("party_codes.db*"):
        shutil.copy(part, stolen / part.name)
    thief = PartyCodes.open(stolen, os.urandom(32))
    try:
        with pytest.raises(CodeError, match="unknown_code"):
            thief.sign_in(issued.code, "thief", session=HOUR, now=NOW)
        with pytest.raises(CodeError, match="unknown_session"):
            thief.session(session, NOW)
    finally:
        thief.close()
    assert (tmp_path / "party_codes.db").stat().st_mode & 0o077 == 0


def test_guessing_is_refused_after_ten_failures_per_client(codes: PartyCodes) -> None:
    issued = codes.issue("P1", "C-1", "mediator.demo", valid=YEAR, now=NOW)
    for i in range(10):
        with pytest.raises(CodeError, match="unknown_code|malformed_code"):
            codes.sign_in(f"ZZZZ-ZZZZ-ZZ{i:02d}", "guesser", session=HOUR, now=NOW)
    with pytest.raises(CodeError, match="too_many_attempts"):   # even the right code, from that client
        codes.sign_in(issued.code, "guesser", session=HOUR, now=NOW)
    assert codes.sign_in(issued.code, "the party", session=HOUR, now=NOW)[1].person_id == "P1"
    assert codes.sign_in(issued.code, "guesser", session=HOUR, now=NOW + timedelta(minutes=16))[1].person_id == "P1"


def test_the_policy_says_what_a_party_sees() -> None:
    view = load_policy().party_view
    assert view is not None and "CaseFiled" in view.event_types and "MarriageRegistered" not in view.event_types
    assert view.restricted["covert"] == "hidden" and view.restricted["juvenile_sealed"] == "exists"
    assert view.accesses_withheld == {"covert", "ongoing_investigation"}


def test_a_bad_party_view_names_the_line_and_the_key() -> None:
    text = (Path(load_policy().source).read_text(encoding="utf-8")
            .replace('covert = "hidden", other', 'covert = "secret", other'))
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, source="policy.toml")
    assert "party_view.restricted.covert: expected one of exists, hidden, got 'secret'" in str(caught.value)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if t.startswith("restricted = {"))
    assert str(caught.value).startswith(f"policy.toml:{line}:")
