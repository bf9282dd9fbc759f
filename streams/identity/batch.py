"""Batch person resolution of a CSV (`justlink resolve`): the streaming resolver's answer, computed at once.

Each row is protected by the privacy layer exactly as a connector protects a party (consent's
Protector, with an ephemeral keystore in a temporary directory unless one is given); only protection
material goes further, and plaintext never leaves this module. Then, on the protected profiles:
the model is trained on them (training.py) unless one is given, the candidate pairs of its rules are
scored with numpy (vectors.py), and persons are formed by the graph rule of clusters.py — the same
nodes, edges, regions, cuts and ids the streaming resolver (IdentityProcessor, fed the same rows as
one-party events ``<record_id>#0``) reaches whatever the order (tests/streams/test_identity_batch.py).
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from streams.identity.clusters import Node, cut_region, person_id_for, profile_anchor, review_key
from streams.identity.compare import Scorer
from streams.identity.config import MatchConfig
from streams.identity.profile import Profile, from_protection
from streams.processor import AGENCIES, DictState, Event

INPUT_COLUMNS = ("record_id", "source", "name", "id_type", "id_number", "date_of_birth", "gender", "phone",
                 "address")
OUTPUT_COLUMNS = ("record_id", "person_id")
_GENDERS = {"male": "male", "m": "male", "男": "male", "1": "male",
            "female": "female", "f": "female", "女": "female", "2": "female"}
_BASE_MILLIS = 946_684_800_000  # 2000-01-01: row i "occurred" i ms later
MIN_TRAINING_PROFILES = 500      # fewer distinct profiles tell EM too little: the configured weights are used


class InputError(ValueError):
    """The input CSV cannot be read; names the line and column."""


@dataclass(frozen=True, slots=True)
class ResolveSummary:
    records: int
    persons: int
    merges: int
    possible_matches: int
    model: MatchConfig | None = None


class PartyProtection:
    """Protection of plain party values, with a Protector over an ephemeral keystore (or a given one)."""

    def __init__(self, protector: Any = None, matching_key: bytes | None = None) -> None:
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if protector is None:
            from consent.privacy.keys import LocalKeystore
            from consent.privacy.protect import Protector

            self._tmp = tempfile.TemporaryDirectory(prefix="justlink-resolve-")
            keystore = LocalKeystore.create(Path(self._tmp.name) / "keystore.db", os.urandom(32))
            protector = Protector(keystore, matching_key)
        self.protector = protector

    def protect(self, party: dict[str, Any], agency: str, record_id: str) -> dict[str, Any]:
        return self.protector.party_protection(party, agency, record_id, "parties[0]")

    def close(self) -> None:
        if self._tmp is not None:
            self.protector.keystore.close()
            self._tmp.cleanup()
            self._tmp = None


_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))  # UTF-32 LE starts like UTF-16 LE


def decode_input(path: Path) -> str:
    """The text of the input CSV, in the encodings an agency's tools write: the one its byte-order mark
    names (UTF-8, UTF-16, UTF-32), else UTF-8, else GB18030 line by line (a UTF-8 line in a GB18030
    file is read as UTF-8, as the connectors do: valid UTF-8 Chinese is never GB18030 by accident).
    InputError names the first line that is text in none of them (rule line.encoding), never its bytes."""
    data = path.read_bytes()
    for bom, codec in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(codec)
            except UnicodeDecodeError as exc:
                line = data[:exc.start].decode(codec, errors="replace").count("\n") + 1
                raise InputError(f"{path}: line {line}: not valid {codec} text, as the byte-order mark says "
                                 "(rule line.encoding)") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    lines = []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        try:
            lines.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            try:
                lines.append(raw.decode("gb18030"))
            except UnicodeDecodeError:
                raise InputError(f"{path}: line {number}: neither UTF-8 nor GB18030 text "
                                 "(rule line.encoding)") from None
    return "\n".join(lines)


def read_rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) of the input CSV; InputError, naming the line and the rule, on a header without
    the contract's columns, text in no known encoding, malformed CSV, a row with more or fewer values
    than the header, a row without record_id or with one seen before."""
    reader = csv.reader(io.StringIO(decode_input(path), newline=""))
    try:
        header = [name.strip() for name in next(reader, [])]
        missing = [c for c in INPUT_COLUMNS if c not in header]
        if missing:
            raise InputError(f"{path}: header lacks column(s) {', '.join(missing)}; "
                             f"expected {','.join(INPUT_COLUMNS)}")
        seen: dict[str, int] = {}  # record_id -> its line
        for values in reader:
            line = reader.line_num
            if not values:
                continue  # a blank line
            if len(values) != len(header):
                raise InputError(f"{path}: line {line}: expected {len(header)} columns as in the header, found "
                                 f"{len(values)} (rule csv.column_count)")
            row = dict(zip(header, values, strict=True))
            record_id = row["record_id"].strip()
            if not record_id:
                raise InputError(f"{path}: line {line}: column record_id is empty (rule value.required)")
            if record_id in seen:
                raise InputError(f"{path}: line {line}: column record_id repeats the value of line {seen[record_id]} "
                                 "(rule value.unique)")
            seen[record_id] = line
            yield line, row
    except csv.Error as exc:
        raise InputError(f"{path}: line {reader.line_num + 1}: not well-formed CSV: {exc} (rule csv.syntax)") from None


DECISION_COLUMNS = ("record_a", "record_b", "decision")


def read_decisions(path: Path, record_ids: set[str]) -> list[tuple[str, str, str]]:
    """Reviewers' decisions: a CSV with the columns record_a, record_b and decision (same | apart) — the
    --review file with a decision column added (its other columns are read past; a row whose decision
    is empty is not decided yet). InputError names the line, column and rule of a bad row."""
    reader = csv.reader(io.StringIO(decode_input(path), newline=""))
    out = []
    try:
        header = [name.strip() for name in next(reader, [])]
        missing = [c for c in DECISION_COLUMNS if c not in header]
        if missing:
            raise InputError(f"{path}: header lacks column(s) {', '.join(missing)}; expected at least "
                             f"{','.join(DECISION_COLUMNS)}")
        at = [header.index(c) for c in DECISION_COLUMNS]
        for values in reader:
            if not values:
                continue
            if len(values) != len(header):
                raise InputError(f"{path}: line {reader.line_num}: expected {len(header)} columns as in the header, "
                                 f"found {len(values)} (rule csv.column_count)")
            a, b, decision = (values[i].strip() for i in at)
            if not decision:
                continue
            if decision not in ("same", "apart"):
                raise InputError(f"{path}: line {reader.line_num}: column decision is not same or apart "
                                 "(rule value.unknown)")
            for column, record_id in (("record_a", a), ("record_b", b)):
                if record_id not in record_ids:
                    raise InputError(f"{path}: line {reader.line_num}: column {column} names no record_id of the "
                                     "input (rule reference.missing)")
            out.append((a, b, decision))
    except csv.Error as exc:
        raise InputError(f"{path}: line {reader.line_num + 1}: not well-formed CSV: {exc} (rule csv.syntax)") from None
    return out


def row_party(row: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """(agency, PartyRef-shaped plaintext party) of a CSV row."""
    def value(column: str) -> str | None:
        text = (row.get(column) or "").strip()
        return text or None

    agency = (value("source") or "").lower()
    party = {
        "name": value("name"),
        "id_number": value("id_number"),
        "date_of_birth": value("date_of_birth"),
        "phone": value("phone"),
        "address": value("address"),
        "gender": _GENDERS.get((value("gender") or "").lower()),
    }
    return (agency if agency in AGENCIES else agency or "unknown"), party


@dataclass(slots=True)
class ProtectedRow:
    record_id: str
    agency: str
    gender: str | None
    protection: dict[str, Any]
    key: str = ""  # the occurrence's record key when it is not a one-party row's

    @property
    def record_key(self) -> str:
        return self.key or f"{self.record_id}#0"

    def profile(self) -> Profile:
        return from_protection(self.protection, self.gender, self.agency)


def protect_rows(rows: Iterable[tuple[str, str, dict[str, Any]]], protection: PartyProtection,
                 on_row: Callable[[], None] | None = None) -> list[ProtectedRow]:
    """Protect (record_id, agency, plaintext party) rows; the plaintext goes no further."""
    out = []
    for record_id, agency, party in rows:
        out.append(ProtectedRow(record_id, agency, party.get("gender"), protection.protect(party, agency, record_id)))
        if on_row is not None:
            on_row()
    return out


def rows_from_events(events: Iterable[Event]) -> list[ProtectedRow]:
    """The natural-person parties of agency events as rows named by their occurrence keys
    (``<event id>#<party index>``, as IdentityProcessor names them): protection material only."""
    rows = []
    for event in events:
        agency = event.record["envelope"]["source"]["agency"]
        for index, party in enumerate(event.record.get("parties") or ()):
            if party.get("kind") == "organisation":
                continue
            key = f"{event.event_id}#{index}"
            rows.append(ProtectedRow(key, agency, party.get("gender"), party.get("protection") or {}, key))
    return rows


@dataclass(frozen=True, slots=True)
class PossibleMatch:
    """Two records (the smallest record key of each of two nodes) left in different persons although
    their score is between the possible and the match threshold: for clerical review."""
    key_a: str
    key_b: str
    score: float
    profile_a: Profile
    profile_b: Profile


def possible_matches(rows: list[ProtectedRow], config: MatchConfig) -> list[tuple[str, str, float]]:
    """(record key, record key, score) of the possible matches left in different persons, best first:
    for each distinct profile its best candidate scoring between the possible and the match threshold."""
    return [(m.key_a, m.key_b, m.score) for m in resolve_batch(rows, config, False)[2]]


def _left_apart(batch: Batch, person: list[str], possible: dict[int, tuple[int, float]]) -> list[PossibleMatch]:
    found: dict[tuple[int, int], float] = {}
    for x, (y, s) in possible.items():
        if person[x] != person[y]:
            found[(x, y) if batch.min_keys[x] < batch.min_keys[y] else (y, x)] = s
    ordered = sorted(found.items(), key=lambda t: (-t[1], batch.min_keys[t[0][0]], batch.min_keys[t[0][1]]))
    return [PossibleMatch(batch.min_keys[x], batch.min_keys[y], s, batch.profiles[x], batch.profiles[y])
            for (x, y), s in ordered]


def stream_rows(rows: Iterable[ProtectedRow], processor: Any = None,
                state: DictState | None = None) -> tuple[dict[str, str], DictState]:
    """The streaming resolver over protected rows, one one-party event each: {record_id: person_id}."""
    from streams.identity.processor import IdentityProcessor

    processor = processor or IdentityProcessor()
    state = state or DictState()
    rows = list(rows)
    for i, row in enumerate(rows):
        millis = _BASE_MILLIS + i
        envelope = {"event_id": row.record_id, "event_type": "ResolveRow",
                    "source": {"agency": row.agency, "office_code": "batch", "county_code": ""},
                    "occurred_at": millis, "recorded_at": millis}
        party = {"gender": row.gender, "protection": row.protection}
        processor.resolve_event(Event("ResolveRow", {"envelope": envelope, "parties": [party]}), state)
    return {row.record_id: processor.person_of(row.record_key, state) or "" for row in rows}, state


# -- the graph of the whole input at once ---------------------------------------------------------------

@dataclass(slots=True)
class Batch:
    """The distinct profiles (nodes) of an input, ordered by smallest record key, and its candidate pairs."""
    profiles: list[Profile]
    nodes: list[Node]  # without their candidate keys (the pairs are computed at once)
    pairs: tuple[np.ndarray, np.ndarray]
    min_keys: list[str]
    rule_masks: list[np.ndarray]  # per candidate rule: which pairs it selects


def build_batch(rows: Iterable[ProtectedRow], config: MatchConfig) -> tuple[Batch, dict[str, int]]:
    """Nodes and candidate pairs; and record_id -> node index."""
    by_profile: dict[Profile, list[str]] = {}  # identical profiles are one node (as their digests are)
    record_node: dict[str, Profile] = {}
    for row in rows:
        profile = row.profile()
        by_profile.setdefault(profile, []).append(row.record_key)
        record_node[row.record_id] = profile
    # record keys are distinct, so the order never compares profiles
    ordered = sorted((tuple(sorted(found)), profile) for profile, found in by_profile.items())
    index = {profile: i for i, (_, profile) in enumerate(ordered)}
    batch = batch_of([p for _, p in ordered], [k for k, _ in ordered], config)
    return batch, {rid: index[p] for rid, p in record_node.items()}


def batch_of(profiles: list[Profile], keys: list[tuple[str, ...]], config: MatchConfig) -> Batch:
    """The batch of these nodes (ordered by smallest record key): their candidate pairs under the rules."""
    from streams.identity.vector_candidates import candidate_pairs

    nodes = [Node(b"", (), profile_anchor(profile), keys[i]) for i, profile in enumerate(profiles)]
    n = max(len(profiles), 1)
    codes, masks = candidate_pairs(profiles, config.rules)
    return Batch(profiles, nodes, (codes // n, codes % n), [k[0] for k in keys], masks)


def persons(batch: Batch, config: MatchConfig, scores: np.ndarray, decisions: Sequence[tuple[int, int, str]] = ()
            ) -> tuple[list[str], dict[int, tuple[int, float]]]:
    """Person id of each node (clusters.py's rule), and each node's best possible match (index, score).
    `decisions` are reviewers' (node, node, "same" | "apart"), in the order of their review keys, as the
    streaming resolver applies them: "same" joins the two regions, "apart" cuts the region."""
    n = len(batch.nodes)
    i, j = batch.pairs
    edge = scores >= config.match_threshold
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    same = [(a, b) for a, b, decision in decisions if decision == "same" and a != b]
    for a, b in zip(i[edge].tolist() + [a for a, _ in same], j[edge].tolist() + [b for _, b in same], strict=True):
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    apart_in: dict[int, list[tuple[str, str]]] = {}
    same_in: dict[int, list[tuple[str, str]]] = {}
    for a, b, decision in decisions:
        if a != b and find(a) == find(b):
            (apart_in if decision == "apart" else same_in).setdefault(find(a), []).append((str(a), str(b)))
    regions: dict[int, list[int]] = {}
    for x in range(n):
        regions.setdefault(find(x), []).append(x)
    person = [""] * n
    scorer = Scorer(config)

    def score(a: str, b: str) -> float:
        return scorer.score(batch.profiles[int(a)], batch.profiles[int(b)])

    for root, members in regions.items():
        anchors = {batch.nodes[x].anchor for x in members} - {""}
        if len(anchors) <= 1 and root not in apart_in:
            pid = person_id_for(anchors, min(batch.nodes[x].keys[0] for x in members))
            for x in members:
                person[x] = pid
            continue
        names = {str(x): batch.nodes[x] for x in members}
        cut = cut_region(names, names, score, config.match_threshold, same_in.get(root, ()), apart_in.get(root, ()))
        for name, pid in cut.items():
            person[int(name)] = pid
    possible: dict[int, tuple[int, float]] = {}
    band = (scores >= config.possible_threshold) & ~edge
    for a, b, s in zip(i[band].tolist(), j[band].tolist(), scores[band].tolist(), strict=True):
        s = round(s, 4)
        for x, y in ((a, b), (b, a)):
            current = possible.get(x)
            if current is None or s > current[1] or (s == current[1] and batch.min_keys[y] < batch.min_keys[current[0]]):
                possible[x] = (y, s)
    return person, possible


def resolve_batch(rows: list[ProtectedRow], config: MatchConfig, train: bool,
                  decisions: Iterable[tuple[str, str, str]] = ()
                  ) -> tuple[dict[str, str], MatchConfig, list[PossibleMatch]]:
    """{record_id: person_id}, the model used (trained on the rows when `train` and there are at least
    MIN_TRAINING_PROFILES distinct profiles; its provenance says so), the possible matches left apart
    (best first). `decisions`: reviewers' (record_id, record_id, "same" | "apart"); a later one about
    the same pair replaces an earlier one."""
    from streams.identity.vectors import Columns, VectorScorer

    batch, record_node = build_batch(rows, config)
    columns = Columns(batch.profiles)
    if train and len(batch.profiles) >= MIN_TRAINING_PROFILES:
        from streams.identity.training import estimate

        config, _ = estimate(config, batch, columns)
    scores = VectorScorer(config, columns, batch.profiles).scores(*batch.pairs)
    key_of = {row.record_id: row.record_key for row in rows}
    latest = {}  # review key -> (node of the smaller record key, node of the other, decision)
    for a, b, decision in decisions:
        a, b = sorted((a, b), key=key_of.__getitem__)
        latest[review_key(key_of[a], key_of[b])] = (record_node[a], record_node[b], decision)
    person, possible = persons(batch, config, scores, [latest[k] for k in sorted(latest)])
    return {rid: person[x] for rid, x in record_node.items()}, config, _left_apart(batch, person, possible)


def read_protected(input_path: Path, protection: PartyProtection,
                   on_row: Callable[[], None] | None = None) -> list[ProtectedRow]:
    rows = ((row["record_id"].strip(), *row_party(row)) for _, row in read_rows(input_path))
    return protect_rows(rows, protection, on_row)


def write_review(path: Path, matches: list[PossibleMatch], rows: list[ProtectedRow], config: MatchConfig) -> None:
    """The possible matches left apart as a CSV for clerical review, best first: the two record_ids, the
    score, and each comparison's outcome and weight (the waterfall of `justlink identity explain`).
    Record ids, outcomes and numbers only: no value of the input."""
    record_id = {row.record_key: row.record_id for row in rows}
    scorer = Scorer(config)
    attributes = [c.attribute for c in config.comparisons]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(("record_a", "record_b", "score", *attributes))
        for match in matches:
            evidence = {e["attribute"]: e for e in reversed(scorer.explain(match.profile_a, match.profile_b).evidence)}
            writer.writerow((record_id[match.key_a], record_id[match.key_b], f"{match.score:.2f}",
                             *(f"{evidence[a]['outcome']} {evidence[a]['weight']:+.2f}" for a in attributes)))
    tmp.replace(path)


def resolve_csv(input_path: Path, output_path: Path, *, config: MatchConfig, train: bool,
                progress: bool = True, protection: PartyProtection | None = None,
                review_path: Path | None = None, decisions_path: Path | None = None) -> ResolveSummary:
    input_path, output_path = Path(input_path), Path(output_path)
    own = protection is None
    protection = protection or PartyProtection()
    bar = None
    if progress:
        from tqdm import tqdm

        with open(input_path, "rb") as handle:
            total = max(sum(1 for _ in handle) - 1, 0)  # lines (of any 8-bit encoding): the bar's estimate
        bar = tqdm(total=total, unit="rec", desc="protecting", dynamic_ncols=True)
    try:
        rows = read_protected(input_path, protection, bar.update if bar else None)
    finally:
        if bar is not None:
            bar.close()
        if own:
            protection.close()
    decisions = read_decisions(Path(decisions_path), {row.record_id for row in rows}) if decisions_path else []
    import gc

    gc.disable()  # a batch of short-lived tuples and arrays without cycles: the collector only costs time
    try:
        result, model, left_apart = resolve_batch(rows, config, train, decisions)
    finally:
        gc.enable()
    if review_path is not None:
        write_review(Path(review_path), left_apart, rows, model)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = output_path.with_name(output_path.name + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(OUTPUT_COLUMNS)
        writer.writerows((row.record_id, result[row.record_id]) for row in rows)
    tmp.replace(output_path)
    persons_count = len(set(result.values()))
    return ResolveSummary(len(rows), persons_count, len(rows) - persons_count, len(left_apart), model)
