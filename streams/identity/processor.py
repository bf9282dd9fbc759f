"""IdentityProcessor: incremental person resolution of party occurrences, on protection material only.

For each party of an agency event (occurrence ``<event_id>#<party index>``):
Organisation parties are not resolved (their id is derived from their code: `organisation_id`).
1. already seen -> replay: the same PersonLinked (match_kind "replay") and PersonsMerged event ids
   again, no state change;
2. a profile identical to a stored one -> linked to that profile's person ("exact");
3. otherwise the profiles sharing a block are scored; persons whose best score reaches the match
   threshold are joined (the occurrence links to the best; two or more such persons are merged,
   unless their valid ID numbers differ or an operator split them apart); a best score in the
   possible band is reported with the new person for clerical review.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Iterator, Mapping
from typing import Any

from runtime.clock import to_millis
from streams.identity import events
from streams.identity.blocking import Blocker
from streams.identity.clusters import Tables, occurrence_person, survivor_order
from streams.identity.compare import CONFLICT, Explanation, Scorer
from streams.identity.config import MatchConfig, load_config
from streams.identity.profile import Profile, from_protection, pack, profile_digest, unpack
from streams.processor import AGENCY_TOPICS, Event, Output, State

_PROFILE_CACHE_SIZE = 30_000
_STRONG = ("id_number", "agency_person_id")


class IdentityProcessor:
    name = "identity"
    input_topics = AGENCY_TOPICS

    def __init__(self, config: MatchConfig | None = None) -> None:
        self.config = config or load_config()
        self.scorer = Scorer(self.config)
        self.blocker = Blocker(self.config.blocking)
        self._cache: dict[str, Profile] = {}  # digest -> unpacked profile; derived, bounded
        tf = [c for c in self.config.comparisons if c.tf_adjust]
        self._tf_m = tf[0].levels[0].m if tf else None
        self._tf_u = tf[0].levels[0].u if tf else 0.0

    # -- the processor contract --------------------------------------------------------------------

    def handle(self, event: Event, state: State) -> list[Output]:
        return self.resolve_event(event, state)[0]

    def resolve_event(self, event: Event, state: State) -> tuple[list[Output], list[str]]:
        """Outputs, and the current person id of each party in order (for the dispute processor)."""
        env = event.record["envelope"]
        agency = env["source"]["agency"]
        tables = Tables(state)
        outputs: list[Output] = []
        person_ids: list[str] = []
        for index, party in enumerate(event.record.get("parties") or ()):
            if party.get("kind") == "organisation":
                person_ids.append(organisation_id(party))  # only natural persons are resolved
                continue
            record_key = f"{env['event_id']}#{index}"
            person_ids.append(self._resolve_party(tables, record_key, party, agency, env, outputs))
        return outputs, person_ids

    # -- queries ---------------------------------------------------------------------------------------

    def person_of(self, key: str, state: State) -> str | None:
        """The live person of a record key or of a (possibly retired) person id; None if unknown."""
        tables = Tables(state)
        if key in tables.persons or key in tables.redirects:
            return tables.find(key)
        return tables.person_of_record(key)

    def members(self, person_id: str, state: State) -> tuple[str, ...]:
        tables = Tables(state)
        root = tables.find(person_id)
        return tables.person(root).members if root in tables.persons else ()

    def possible_matches(self, state: State) -> Iterator[tuple[str, str, float]]:
        """(record key, possible match's record key, score) pairs left for clerical review."""
        for record_key, (other, score) in Tables(state).possible.items():
            yield record_key, other, score

    def explain(self, a: Profile | Mapping[str, Any], b: Profile | Mapping[str, Any]) -> Explanation:
        """Attribute-by-attribute evidence for two profiles (or PartyProtection dicts)."""
        return self.scorer.explain(_as_profile(a), _as_profile(b))

    def explain_records(self, record_key_a: str, record_key_b: str, state: State) -> Explanation:
        """Why two stored occurrences would (not) be joined: for a DPO, from the state only."""
        tables = Tables(state)
        a = self._stored_profile(tables, record_key_a)
        return self.scorer.explain(a, self._stored_profile(tables, record_key_b), self.name_weight(tables, a))

    def name_weight(self, tables: Tables, profile: Profile) -> float | None:
        """Weight of full name agreement for this name: log2(m / u), u = the name's share of the
        distinct profiles seen so far, smoothed towards the configured u (pseudo-counts), so common
        names (张伟) weigh less than rare ones. None when not configured or the profile has no name."""
        if self._tf_m is None or profile.name is None:
            return None
        tf = self.config.term_frequency
        counts = tables.name_counts
        count = counts.get(_name_key(profile.name), 0)
        total = counts.get("", 0)
        u = (count + self._tf_u * tf.pseudo_count) / (total + tf.pseudo_count)
        return math.log2(self._tf_m / max(u, tf.min_u))

    @staticmethod
    def _count_name(tables: Tables, profile: Profile) -> None:
        if profile.name is not None:
            key = _name_key(profile.name)
            tables.name_counts[key] = tables.name_counts.get(key, 0) + 1
            tables.name_counts[""] = tables.name_counts.get("", 0) + 1

    # -- resolution ------------------------------------------------------------------------------------

    def _profile(self, tables: Tables, digest_hex: str) -> Profile:
        cached = self._cache.get(digest_hex)
        if cached is None:
            cached = unpack(tables.profiles[digest_hex][0])
            if len(self._cache) >= _PROFILE_CACHE_SIZE:
                self._cache.clear()
            self._cache[digest_hex] = cached
        return cached

    def _stored_profile(self, tables: Tables, record_key: str) -> Profile:
        occ = tables.occurrence(record_key)
        if occ is None:
            raise KeyError(f"record {record_key} is not known to the identity processor")
        return self._profile(tables, occ.digest)

    def _resolve_party(self, tables: Tables, record_key: str, party: Mapping[str, Any], agency: str,
                       env: Mapping[str, Any], outputs: list[Output]) -> str:
        protection = party.get("protection") or {}
        subject_key = protection.get("subject_key") or ""
        seen = tables.occurrence(record_key)
        if seen is not None:
            person = tables.find(seen.person_id)
            outputs.extend(Output(*m) for m in tables.merges.get(record_key, ()))
            outputs.append(events.person_linked(record_key, person, subject_key, agency, "replay", 0.0,
                                                None, [], env))
            return person

        profile = from_protection(protection, party.get("gender"), agency)
        digest_hex = profile_digest(profile)
        occurred_ms = to_millis(env["occurred_at"])
        valid_id = profile.id_number if profile.id_valid and profile.id_number else ""
        tf_weight = self.name_weight(tables, profile)

        stored = tables.profiles.get(digest_hex)
        if stored is not None and stored[1] in tables.occurrences:
            rep = stored[1]
            person = tables.person_of_record(rep, compress=True)
            assert person is not None
            tables.set_occurrence(record_key, digest_hex, person, occurred_ms, (rep,))
            tables.add_member(person, record_key, valid_id)
            score, evidence = self.scorer.self_evidence(profile, tf_weight)
            outputs.append(events.person_linked(record_key, person, subject_key, agency, "exact",
                                                score, rep, evidence, env))
            return person

        blob = pack(profile)
        best = self._best_per_person(tables, profile, tf_weight)
        tables.profiles[digest_hex] = (blob, record_key)
        self._cache[digest_hex] = profile
        self._add_to_blocks(tables, profile, digest_hex)
        self._count_name(tables, profile)

        chosen = self._choose(tables, best, valid_id)
        if not chosen:
            return self._found_person(tables, record_key, digest_hex, profile, best, occurred_ms, valid_id,
                                      subject_key, agency, env, outputs, tf_weight)

        persons = [pid for pid, _, _ in chosen]
        survivor = min(persons, key=lambda pid: survivor_order(tables, pid))
        merges = []
        for pid, score, rep in chosen:
            if pid == survivor:
                continue
            explanation = self.scorer.explain(profile, self._stored_profile(tables, rep), tf_weight)
            tables.merge(survivor, pid)
            merged = events.persons_merged(survivor, pid, record_key, score, explanation.evidence, env)
            merges.append(_as_tuple(merged))
            outputs.append(merged)
        if merges:
            tables.merges[record_key] = tuple(merges)
        links = tuple(rep for _, _, rep in chosen)
        tables.set_occurrence(record_key, digest_hex, survivor, occurred_ms, links)
        tables.add_member(survivor, record_key, valid_id)
        _, top_score, top_rep = chosen[0]
        explanation = self.scorer.explain(profile, self._stored_profile(tables, top_rep), tf_weight)
        strong = any(e["attribute"] in _STRONG and e["outcome"] == "agree" for e in explanation.evidence)
        outputs.append(events.person_linked(record_key, survivor, subject_key, agency,
                                            "exact" if strong else "probabilistic", top_score, top_rep,
                                            explanation.evidence, env))
        return survivor

    def _best_per_person(self, tables: Tables, profile: Profile, tf_weight: float | None
                         ) -> dict[str, tuple[float, str]]:
        """person -> (best score, representative record key of the best-scoring profile)."""
        blocks, profiles, occurrences = tables.blocks, tables.profiles, tables.occurrences
        limit = self.config.blocking.max_candidates
        candidates: dict[str, None] = {}
        for key in self.blocker.keys(profile):
            members = blocks.get(key)
            if members is None:
                continue
            if type(members) is str:  # a block of one profile is held as the bare digest (memory)
                candidates[members] = None
            else:
                for digest_hex in members:
                    candidates[digest_hex] = None
            if len(candidates) >= limit:
                break
        best: dict[str, tuple[float, str]] = {}
        score = self.scorer.score
        for digest_hex in list(candidates)[:limit]:
            rep = profiles[digest_hex][1]
            occ = occurrences.get(rep)
            if occ is None:
                continue  # its only occurrence was removed
            person = tables.find(occurrence_person(occ), compress=True)
            value = score(profile, self._profile(tables, digest_hex), tf_weight)
            current = best.get(person)
            if current is None or value > current[0]:
                best[person] = (value, rep)
        return best

    def _add_to_blocks(self, tables: Tables, profile: Profile, digest_hex: str) -> None:
        blocks = tables.blocks
        cap = self.config.blocking.max_block_size
        for key in self.blocker.keys(profile):
            members = blocks.get(key)
            if members is None:
                blocks[key] = digest_hex
            elif type(members) is str:
                if members != digest_hex:
                    blocks[key] = (members, digest_hex)
            elif len(members) < cap and digest_hex not in members:
                blocks[key] = members + (digest_hex,)

    def _choose(self, tables: Tables, best: dict[str, tuple[float, str]], valid_id: str
                ) -> list[tuple[str, float, str]]:
        """Persons to join, best first: above the threshold, with compatible valid IDs, not split apart."""
        threshold = self.config.match_threshold
        ranked = sorted(((s, pid, rep) for pid, (s, rep) in best.items() if s >= threshold),
                        key=lambda t: (-t[0], t[1]))
        chosen: list[tuple[str, float, str]] = []
        group_id = valid_id
        for score, pid, rep in ranked:
            person_id = tables.person(pid).valid_id
            if group_id and person_id and person_id != group_id:
                continue  # conflicting strong identifiers never merge
            if any(tables.separated(pid, other) for other, _, _ in chosen):
                continue
            chosen.append((pid, score, rep))
            group_id = group_id or person_id
        return chosen

    def _found_person(self, tables: Tables, record_key: str, digest_hex: str, profile: Profile,
                      best: dict[str, tuple[float, str]], occurred_ms: int, valid_id: str, subject_key: str,
                      agency: str, env: Mapping[str, Any], outputs: list[Output], tf_weight: float | None
                      ) -> str:
        person = events.new_person_id(record_key)
        tables.set_occurrence(record_key, digest_hex, person, occurred_ms, ())
        tables.new_person(person, record_key, occurred_ms, valid_id)
        possible = max(((s, rep) for s, rep in best.values() if s != CONFLICT), default=None)
        if possible is not None and possible[0] >= self.config.possible_threshold:
            score, rep = possible
            tables.possible[record_key] = (rep, round(score, 4))
            explanation = self.scorer.explain(profile, self._stored_profile(tables, rep), tf_weight)
            outputs.append(events.person_linked(record_key, person, subject_key, agency, "new_person", score,
                                                rep, explanation.evidence, env))
        else:
            outputs.append(events.person_linked(record_key, person, subject_key, agency, "new_person", 0.0,
                                                None, [], env))
        return person

    # -- corrections -----------------------------------------------------------------------------------

    def split(self, person_id: str, record_keys: list[str], reason: str, operator: str | None, state: State,
              at_millis: int | None = None) -> list[Output]:
        """Move occurrences out of a person into a new person (an operator correcting a wrong link).
        The two persons are kept apart from then on. Repeating the same split changes nothing."""
        tables = Tables(state)
        keys = sorted(dict.fromkeys(record_keys))
        if not keys:
            raise ValueError("split: no record keys given")
        root = tables.find(person_id)
        event_id = events.decision_id("PersonSplit", root, reason, *keys)
        done = tables.splits.get(event_id)
        if done is not None:
            return [Output(*done)]
        if root not in tables.persons:
            raise ValueError(f"split: person {person_id} is not known")
        members = tables.person(root).members
        for key in keys:
            if tables.person_of_record(key) != root:
                raise ValueError(f"split: record {key} is not an occurrence of person {root}")
        if len(keys) >= len(members):
            raise ValueError(f"split: cannot move every occurrence out of person {root}")
        at = int(time.time() * 1000) if at_millis is None else at_millis
        output = self._move_out(tables, root, keys, reason, operator, at)
        tables.splits[event_id] = _as_tuple(output)
        return [output]

    def remove(self, record_key: str, state: State, operator: str | None = None,
               at_millis: int | None = None) -> list[Output]:
        """Take an occurrence out (its source record was withdrawn): it leaves its person (PersonSplit
        with new_person_id ""), and parts of the person that were joined only through it split off."""
        tables = Tables(state)
        occ = tables.occurrence(record_key)
        if occ is None:
            return []
        root = tables.find(occ.person_id)
        at = int(time.time() * 1000) if at_millis is None else at_millis
        person = tables.person(root)
        remaining = tuple(k for k in person.members if k != record_key)
        del tables.occurrences[record_key]
        self._repoint_profile(tables, occ.digest, record_key, remaining)
        outputs = [events.person_split(root, "", [record_key], "record_removed", operator, at)]
        if not remaining:
            del tables.persons[root]
            return outputs
        tables.persons[root] = (person.first_seen_ms, person.founding_key,
                                self._valid_id_of(tables, remaining), remaining, person.separated)
        components = self._components(tables, remaining)
        components.sort(key=lambda comp: min((tables.occurrence(k).occurred_ms, k) for k in comp))
        for component in components[1:]:
            outputs.append(self._move_out(tables, root, sorted(component), "record_removed", operator, at))
        return outputs

    def _move_out(self, tables: Tables, root: str, keys: list[str], reason: str, operator: str | None,
                  at: int) -> Output:
        new_id = events.new_person_id(f"split|{root}|{'|'.join(keys)}")
        person = tables.person(root)
        moved = set(keys)
        remaining = tuple(k for k in person.members if k not in moved)
        first_seen = min(tables.occurrence(k).occurred_ms for k in keys)
        for key in keys:
            occ = tables.occurrence(key)
            assert occ is not None
            tables.set_occurrence(key, occ.digest, new_id, occ.occurred_ms, occ.links)
        tables.persons[new_id] = (first_seen, keys[0], self._valid_id_of(tables, keys), tuple(keys), (root,))
        tables.persons[root] = (person.first_seen_ms, person.founding_key, self._valid_id_of(tables, remaining),
                                remaining, person.separated + (new_id,))
        return events.person_split(root, new_id, keys, reason, operator, at)

    def _valid_id_of(self, tables: Tables, keys: tuple[str, ...] | list[str]) -> str:
        for key in keys:
            profile = self._stored_profile(tables, key)
            if profile.id_valid and profile.id_number:
                return profile.id_number
        return ""

    @staticmethod
    def _repoint_profile(tables: Tables, digest_hex: str, removed: str, candidates: tuple[str, ...]) -> None:
        stored = tables.profiles.get(digest_hex)
        if stored is None or stored[1] != removed:
            return
        for key in candidates:
            occ = tables.occurrence(key)
            if occ is not None and occ.digest == digest_hex:
                tables.profiles[digest_hex] = (stored[0], key)
                return

    @staticmethod
    def _components(tables: Tables, members: tuple[str, ...]) -> list[list[str]]:
        """Connected parts of a person by its recorded links (identical profiles count as linked)."""
        inside = set(members)
        adjacent: dict[str, set[str]] = {k: set() for k in members}
        by_digest: dict[str, str] = {}
        for key in members:
            occ = tables.occurrence(key)
            assert occ is not None
            for other in occ.links:
                if other in inside:
                    adjacent[key].add(other)
                    adjacent[other].add(key)
            first = by_digest.setdefault(occ.digest, key)
            if first != key:
                adjacent[key].add(first)
                adjacent[first].add(key)
        seen: set[str] = set()
        components = []
        for start in members:
            if start in seen:
                continue
            stack, component = [start], []
            seen.add(start)
            while stack:
                key = stack.pop()
                component.append(key)
                for other in adjacent[key]:
                    if other not in seen:
                        seen.add(other)
                        stack.append(other)
            components.append(component)
        return components


def _name_key(name_clk: int) -> str:
    return format(hash(name_clk) & 0xFFFFFFFFFFFF, "x")  # int hashing is not salted: stable across runs


def organisation_id(party: Mapping[str, Any]) -> str:
    """An organisation party's id: "O" + 16 hex of its code's blind index (else its subject key)."""
    protection = party.get("protection") or {}
    material = protection.get("id_number_bi") or protection.get("subject_key") or ""
    return "O" + hashlib.sha256(material.encode()).hexdigest()[:16]


def _as_profile(value: Profile | Mapping[str, Any]) -> Profile:
    if isinstance(value, Profile):
        return value
    return from_protection(value, value.get("gender"), value.get("agency"))


def _as_tuple(output: Output) -> tuple[str, dict[str, Any], str, str]:
    return output.event_type, output.record, output.topic, output.key
