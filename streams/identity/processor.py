"""IdentityProcessor: person resolution of party occurrences, on protection material only, with the same
result whatever order the occurrences arrive in (see clusters.py for the graph and the person rule).

For each party of an agency event (occurrence ``<event_id>#<party index>``):
Organisation parties are not resolved (their id is derived from their code: `organisation_id`).
1. seen before -> its current person, nothing emitted;
2. a profile identical to a stored node -> the occurrence joins that node ("exact");
3. otherwise a new node is scored against its candidates (the nodes that share a key of one of the
   model's candidate rules: candidates.py), joined by an edge to every one at or above the match threshold, and the
   regions it touches become one; a best score in the possible band is kept for clerical review.
Then the persons of the region are recomputed; every change of a node's person is published:
`PersonsMerged` (a person absorbed whole), `PersonSplit` (part of a person moved to another, when a
region had to be cut between two valid ID numbers), and the occurrence's own `PersonLinked`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from runtime.clock import to_millis
from streams.identity import events
from streams.identity.candidates import block_keys
from streams.identity.clusters import Graph, Node, cut_region, profile_anchor, review_key
from streams.identity.compare import CONFLICT, Explanation, Scorer
from streams.identity.config import MatchConfig, load_config
from streams.identity.profile import Profile, from_protection, pack, profile_digest, unpack
from streams.processor import AGENCY_TOPICS, Event, Output, State

_PROFILE_CACHE_SIZE = 200_000
_STRONG = ("id_number", "agency_person_id")


class IdentityProcessor:
    name = "identity"
    input_topics = AGENCY_TOPICS

    def __init__(self, config: MatchConfig | None = None) -> None:
        self.config = config or load_config()
        self.scorer = Scorer(self.config)
        self._cache: dict[str, Profile] = {}  # digest -> unpacked profile; derived, bounded

    # -- the processor contract --------------------------------------------------------------------

    def handle(self, event: Event, state: State) -> list[Output]:
        return self.resolve_event(event, state)[0]

    def resolve_event(self, event: Event, state: State) -> tuple[list[Output], list[str]]:
        """Outputs, and the current person id of each party in order (for the dispute processor)."""
        env = event.record["envelope"]
        agency = env["source"]["agency"]
        graph = Graph(state)
        outputs: list[Output] = []
        person_ids: list[str] = []
        for index, party in enumerate(event.record.get("parties") or ()):
            if party.get("kind") == "organisation":
                person_ids.append(organisation_id(party))  # only natural persons are resolved
                continue
            record_key = f"{env['event_id']}#{index}"
            person_ids.append(self._resolve_party(graph, record_key, party, agency, env, outputs))
        return outputs, person_ids

    def resolve_occurrence(self, envelope: Mapping[str, Any], index: int, party: Mapping[str, Any],
                           state: State) -> tuple[list[Output], str]:
        """One party of an agency event, given the event's envelope (a partitioned deployment resolves the
        parties of one event on the partitions of their names): the decisions and the party's person id."""
        if party.get("kind") == "organisation":
            return [], organisation_id(party)
        outputs: list[Output] = []
        person = self._resolve_party(Graph(state), f"{envelope['event_id']}#{index}", party,
                                     envelope["source"]["agency"], envelope, outputs)
        return outputs, person

    # -- queries ---------------------------------------------------------------------------------------

    def person_of(self, record_key: str, state: State) -> str | None:
        """The person of an occurrence; None if unknown."""
        return Graph(state).person_of_record(record_key)

    def possible_matches(self, state: State) -> Iterator[tuple[str, str, float]]:
        """(record key, possible match's record key, score) of pairs left apart, for clerical review."""
        graph = Graph(state)
        for digest, (other, score) in sorted(graph.possible.items()):
            if graph.person_of_node(digest) != graph.person_of_node(other):
                yield graph.min_key(digest), graph.min_key(other), score

    def explain(self, a: Profile | Mapping[str, Any], b: Profile | Mapping[str, Any]) -> Explanation:
        """Attribute-by-attribute evidence for two profiles (or PartyProtection dicts)."""
        return self.scorer.explain(_as_profile(a), _as_profile(b))

    def explain_records(self, record_key_a: str, record_key_b: str, state: State) -> Explanation:
        """Why two stored occurrences would (not) be joined: for a DPO, from the state only."""
        graph = Graph(state)
        return self.scorer.explain(self._stored_profile(graph, record_key_a), self._stored_profile(graph, record_key_b))

    # -- resolution ------------------------------------------------------------------------------------

    def _profile(self, graph: Graph, digest: str) -> Profile:
        cached = self._cache.get(digest)
        if cached is None:
            cached = unpack(graph.node[digest][0])
            if len(self._cache) >= _PROFILE_CACHE_SIZE:
                self._cache.clear()
            self._cache[digest] = cached
        return cached

    def _stored_profile(self, graph: Graph, record_key: str) -> Profile:
        digest = graph.occ.get(record_key)
        if digest is None:
            raise KeyError(f"record {record_key} is not known to the identity processor")
        return self._profile(graph, digest)

    def _resolve_party(self, graph: Graph, record_key: str, party: Mapping[str, Any], agency: str,
                       env: Mapping[str, Any], outputs: list[Output]) -> str:
        known = graph.person_of_record(record_key)
        if known is not None:
            return known  # the same party handled again: nothing changes
        protection = party.get("protection") or {}
        subject_key = protection.get("subject_key") or ""
        profile = from_protection(protection, party.get("gender"), agency)
        digest = profile_digest(profile)
        node = graph.get_node(digest)
        if node is not None:
            person = self._join_node(graph, digest, node, record_key, env, outputs)
            score, evidence = self.scorer.self_evidence(profile)
            outputs.append(events.person_linked(record_key, person, subject_key, agency, "exact", score,
                                                node.keys[0], evidence, env))
        else:
            person = self._new_node(graph, digest, profile, record_key, subject_key, agency, env, outputs)
        if record_key in graph.pending:  # a reviewer decided about this record before it arrived
            for pair in graph.pending.pop(record_key):
                key_a, key_b = pair.split("|", 1)
                if key_a in graph.occ and key_b in graph.occ:  # else it waits for the other record too
                    outputs.extend(self._apply_review(graph, key_a, key_b, graph.review[pair], env))
            person = graph.person_of_record(record_key) or person
        return person

    def _join_node(self, graph: Graph, digest: str, node: Node, record_key: str, env: Mapping[str, Any],
                   outputs: list[Output]) -> str:
        root = graph.find(digest)
        region = graph.get_region(root)
        if len(region.anchors) <= 1 and digest not in graph.assign and (region.anchors or record_key > region.min_key):
            graph.add_occurrence(digest, record_key)   # the region's person id cannot change
            return graph.person_of_node(digest)
        before = graph.persons_of(region.members)
        graph.add_occurrence(digest, record_key)
        after = self._recluster(graph, root)
        outputs.extend(self._changes(graph, before, after, record_key, env, {}))
        return after[digest]

    def _new_node(self, graph: Graph, digest: str, profile: Profile, record_key: str, subject_key: str,
                  agency: str, env: Mapping[str, Any], outputs: list[Output]) -> str:
        groups = block_keys(profile, self.config.rules)
        candidates = graph.candidates(groups)
        graph.add_node(digest, pack(profile), groups, profile_anchor(profile), record_key)
        self._cache[digest] = profile
        score = self.scorer.score
        threshold = self.config.match_threshold
        scored = [(score(profile, self._profile(graph, other)), other) for other in candidates]
        edges = {other: s for s, other in scored if s >= threshold}
        self._note_possible(graph, digest, scored)
        roots = sorted({graph.find(other) for other in edges})
        if not roots:
            person = graph.person_of_node(digest)
            self._link_new(graph, record_key, person, subject_key, agency, env, outputs, profile, scored)
            return person
        before: dict[str, str] = {}
        for root in roots:
            before.update(graph.persons_of(graph.get_region(root).members))
        root = graph.union([graph.find(digest), *roots])
        after = self._recluster(graph, root)
        outputs.extend(self._changes(graph, before, after, record_key, env, edges, profile))
        person = after[digest]
        self._link_new(graph, record_key, person, subject_key, agency, env, outputs, profile, scored)
        return person

    def _link_new(self, graph: Graph, record_key: str, person: str, subject_key: str, agency: str,
                  env: Mapping[str, Any], outputs: list[Output], profile: Profile,
                  scored: list[tuple[float, str]]) -> None:
        """The occurrence's PersonLinked: with the evidence of its best-scoring candidate in its person
        (or of its possible match when it founds a person)."""
        in_person = [(s, other) for s, other in scored if s != CONFLICT and graph.person_of_node(other) == person]
        if in_person:
            best, other = min(in_person, key=lambda t: (-t[0], graph.min_key(t[1])))
            explanation = self.scorer.explain(profile, self._profile(graph, other))
            strong = any(e["attribute"] in _STRONG and e["outcome"] == "agree" for e in explanation.evidence)
            outputs.append(events.person_linked(record_key, person, subject_key, agency,
                                                "exact" if strong else "probabilistic", best,
                                                graph.min_key(other), explanation.evidence, env))
            return
        possible = graph.possible.get(graph.occ[record_key])
        if possible is not None:
            other, best = possible
            explanation = self.scorer.explain(profile, self._profile(graph, other))
            outputs.append(events.person_linked(record_key, person, subject_key, agency, "new_person", best,
                                                graph.min_key(other), explanation.evidence, env))
            return
        outputs.append(events.person_linked(record_key, person, subject_key, agency, "new_person", 0.0, None, [],
                                            env))

    def _note_possible(self, graph: Graph, digest: str, scored: list[tuple[float, str]]) -> None:
        """Keep, for each node, its best possible match (score in [possible, match)): a symmetric rule,
        so the pairs kept do not depend on the order (ties: the smaller record key)."""
        low, high = self.config.possible_threshold, self.config.match_threshold
        for s, other in scored:
            if not low <= s < high:
                continue
            s = round(s, 4)
            for a, b in ((digest, other), (other, digest)):
                current = graph.possible.get(a)
                if current is None or _better(s, graph.min_key(b), current[1], graph.min_key(current[0])):
                    graph.possible[a] = (b, s)

    # -- persons of a region ---------------------------------------------------------------------------

    def _recluster(self, graph: Graph, root: str) -> dict[str, str]:
        """node -> person for every node of the region; cuts a region holding several valid ID numbers."""
        region = graph.get_region(root)
        if len(region.anchors) <= 1 and not self._reviews(graph, region.members)[1]:
            for digest in region.members:
                graph.assign.pop(digest, None)
            return graph.persons_of(region.members)
        nodes = {d: graph.member_node(d) for d in region.members}
        same, apart = self._reviews(graph, region.members)
        score = self.scorer.score
        persons = cut_region(region.members, nodes,
                             lambda a, b: score(self._profile(graph, a), self._profile(graph, b)),
                             self.config.match_threshold, same, apart)
        for digest, pid in persons.items():
            graph.assign[digest] = pid
        return persons

    @staticmethod
    def _reviews(graph: Graph, members: Iterable[str]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        """The reviewers' decisions between occurrences of these nodes: (same pairs, apart pairs)."""
        same: list[tuple[str, str]] = []
        apart: list[tuple[str, str]] = []
        if not graph.review:
            return same, apart
        inside = set(members)
        for pair, decision in sorted(graph.review.items()):
            key_a, key_b = pair.split("|", 1)
            a, b = graph.occ.get(key_a), graph.occ.get(key_b)
            if a in inside and b in inside and a != b:
                (same if decision == "same" else apart).append((a, b))
        return same, apart

    def _changes(self, graph: Graph, before: dict[str, str], after: dict[str, str], via_key: str,
                 env: Mapping[str, Any], edges: dict[str, float], profile: Profile | None = None) -> list[Output]:
        """PersonsMerged / PersonSplit for every person whose nodes now belong elsewhere."""
        outputs: list[Output] = []
        old_persons: dict[str, list[str]] = {}
        for digest, pid in before.items():
            old_persons.setdefault(pid, []).append(digest)
        at = to_millis(env["occurred_at"])
        for old in sorted(old_persons):
            targets: dict[str, list[str]] = {}
            for digest in old_persons[old]:
                targets.setdefault(after[digest], []).append(digest)
            if set(targets) == {old}:
                continue
            keep = old if old in targets else min(targets, key=lambda p: min(graph.min_key(d) for d in targets[p]))
            for new in sorted(targets):
                if new == keep:
                    continue
                keys = sorted(k for d in targets[new] for k in graph.node[d][3])
                outputs.append(events.person_split(old, new, keys, "reclustered", None, at))
            if keep != old:
                score, evidence = self._merge_evidence(graph, old_persons[old], edges, profile)
                outputs.append(events.persons_merged(keep, old, via_key, score, evidence, env))
        return outputs

    def _merge_evidence(self, graph: Graph, retired_nodes: list[str], edges: dict[str, float],
                        profile: Profile | None) -> tuple[float, list[dict[str, Any]]]:
        linked = [(s, d) for d, s in edges.items() if d in set(retired_nodes)]
        if not linked or profile is None:
            return 0.0, []
        score, other = max(linked, key=lambda t: (t[0], t[1]))
        return score, self.scorer.explain(profile, self._profile(graph, other)).evidence

    # -- corrections -----------------------------------------------------------------------------------

    def review(self, key_a: str, key_b: str, decision: str, state: State, env: Mapping[str, Any]) -> list[Output]:
        """A reviewer's decision about two occurrences: "same" (one person) or "apart" (never one person).
        Respected from then on, whatever arrives later; returns the changes it makes."""
        if decision not in ("same", "apart"):
            raise ValueError(f"review decision must be 'same' or 'apart', got {decision!r}")
        graph = Graph(state)
        pair = review_key(key_a, key_b)
        graph.review[pair] = decision
        waiting = [key for key in (key_a, key_b) if graph.occ.get(key) is None]
        for key in waiting:  # applied when the record arrives (clusters.PENDING)
            graph.pending[key] = tuple(sorted({*graph.pending.get(key, ()), pair}))
        if waiting:
            return []
        return self._apply_review(graph, key_a, key_b, decision, env)

    def handle_review(self, event: Event, state: State) -> list[Output]:
        """An IdentityReviewDecided event (justlink.identity.reviews): the reviewer's decision, applied."""
        record = event.record
        return self.review(record["record_key_a"], record["record_key_b"], record["decision"], state,
                           record["envelope"])

    def _apply_review(self, graph: Graph, key_a: str, key_b: str, decision: str,
                      env: Mapping[str, Any]) -> list[Output]:
        a, b = graph.occ[key_a], graph.occ[key_b]
        roots = sorted({graph.find(a), graph.find(b)})
        before: dict[str, str] = {}
        for root in roots:
            before.update(graph.persons_of(graph.get_region(root).members))
        if decision == "same" and len(roots) > 1:
            root = graph.union(roots)
        else:
            root = graph.find(a)
        after = self._recluster(graph, root)
        return self._changes(graph, before, after, min(key_a, key_b), env, {})


def _better(score: float, key: str, current_score: float, current_key: str) -> bool:
    return score > current_score or (score == current_score and key < current_key)


def organisation_id(party: Mapping[str, Any]) -> str:
    """An organisation party's id: "O" + 16 hex of its code's blind index (else its subject key)."""
    protection = party.get("protection") or {}
    material = protection.get("id_number_bi") or protection.get("subject_key") or ""
    return "O" + hashlib.sha256(material.encode()).hexdigest()[:16]


def _as_profile(value: Profile | Mapping[str, Any]) -> Profile:
    if isinstance(value, Profile):
        return value
    return from_protection(value, value.get("gender"), value.get("agency"))
