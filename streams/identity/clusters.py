"""Persons as a function of the set of occurrences — never of their order.

The graph: a **node** is a distinct profile (identical protection material, gender and agency: the
steps of one case repeat their parties verbatim); its occurrences are record keys. Two nodes are
joined by an **edge** when their pair score reaches the match threshold; which pairs are scored is
fixed by the data alone (the candidate rules of `streams/identity/candidates.py`), and a pair's score
depends on the two profiles and the model only. So the edges are the same whatever the order.

A **region** is a connected component of the edges (union-find: merge-only, so order-free too).
Its persons:
- a region holding at most one valid ID number is ONE person;
- a region holding several (free records bridging two ID holders) is cut, deterministically:
  Kruskal over its edges, strongest first (ties by the nodes' smallest record keys), joining two
  parts only when that does not put two different valid ID numbers (or two records a reviewer
  kept apart) in one person. Nodes with the same valid ID number are one person from the start.

A person's **id** is a function of its nodes: `"P" + sha256("id|" + ID blind index)` when it holds a
valid ID number (stable whatever joins later), else `"P" + sha256(smallest record key)`.

Tables (values are plain tuples of str / bytes / float, re-assigned on change):
- ``identity.occ``      record key -> node digest
- ``identity.node``     digest -> (packed profile, candidate keys, anchor: valid ID blind index or "", record keys sorted)
- ``identity.group``    candidate key -> digests of the nodes that have it (the candidates of a new node)
- ``identity.parent``   digest -> parent digest (union-find of regions; roots are absent)
- ``identity.region``   root digest -> (member digests, distinct anchors sorted, smallest record key)
- ``identity.assign``   digest -> person id, for the nodes of regions that had to be cut
- ``identity.possible`` digest -> (digest of its best possible match, score): for clerical review
- ``identity.review``   "key_a|key_b" (record keys, sorted) -> the reviewer's decision "apart" / "same"
- ``identity.pending``  record key -> the decided pairs that wait for it (a decision may arrive first)
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Callable, Iterable, MutableMapping
from typing import Any, NamedTuple

from streams.identity.profile import Profile
from streams.processor import State

OCC = "identity.occ"
NODE = "identity.node"
GROUP = "identity.group"
PARENT = "identity.parent"
REGION = "identity.region"
ASSIGN = "identity.assign"
POSSIBLE = "identity.possible"
REVIEW = "identity.review"
PENDING = "identity.pending"


class Node(NamedTuple):
    packed: bytes
    groups: tuple[str, ...]  # its candidate keys
    anchor: str          # blind index of its valid ID number, "" if none
    keys: tuple[str, ...]  # record keys of its occurrences, sorted


class Region(NamedTuple):
    members: tuple[str, ...]
    anchors: tuple[str, ...]
    min_key: str


def anchored_person_id(id_bi: str) -> str:
    return "P" + hashlib.sha256(f"id|{id_bi}".encode()).hexdigest()[:16]


def free_person_id(min_key: str) -> str:
    return "P" + hashlib.sha256(min_key.encode()).hexdigest()[:16]


def person_id_for(anchors: Iterable[str], min_key: str) -> str:
    anchor = min(anchors, default="")
    return anchored_person_id(anchor) if anchor else free_person_id(min_key)


def review_key(key_a: str, key_b: str) -> str:
    return "|".join(sorted((key_a, key_b)))


class Graph:
    """Typed access to the identity tables of one State."""

    __slots__ = ("occ", "node", "group", "parent", "region", "assign", "possible", "review", "pending")

    def __init__(self, state: State) -> None:
        self.occ: MutableMapping[str, Any] = state.table(OCC)
        self.node: MutableMapping[str, Any] = state.table(NODE)
        self.group: MutableMapping[str, Any] = state.table(GROUP)
        self.parent: MutableMapping[str, Any] = state.table(PARENT)
        self.region: MutableMapping[str, Any] = state.table(REGION)
        self.assign: MutableMapping[str, Any] = state.table(ASSIGN)
        self.possible: MutableMapping[str, Any] = state.table(POSSIBLE)
        self.review: MutableMapping[str, Any] = state.table(REVIEW)
        self.pending: MutableMapping[str, Any] = state.table(PENDING)

    # -- nodes -----------------------------------------------------------------------------------
    def get_node(self, digest: str) -> Node | None:
        raw = self.node.get(digest)
        return None if raw is None else Node(*raw)

    def member_node(self, digest: str) -> Node:
        """The node of a region's member (it always has one)."""
        return Node(*self.node[digest])

    def add_node(self, digest: str, packed: bytes, groups: tuple[str, ...], anchor: str, key: str) -> None:
        self.node[digest] = (packed, groups, anchor, (key,))
        self.occ[key] = digest
        self.region[digest] = ((digest,), (anchor,) if anchor else (), key)
        for group in groups:
            members = self.group.get(group)
            self.group[group] = (digest,) if members is None else (*members, digest)

    def candidates(self, groups: tuple[str, ...]) -> list[str]:
        """The nodes that share at least one candidate key, sorted."""
        found: set[str] = set()
        for group in groups:
            found.update(self.group.get(group, ()))
        return sorted(found)

    def add_occurrence(self, digest: str, key: str) -> None:
        node = self.get_node(digest)
        assert node is not None
        keys = list(node.keys)
        bisect.insort(keys, key)
        self.node[digest] = (node.packed, node.groups, node.anchor, tuple(keys))
        self.occ[key] = digest
        root = self.find(digest)
        region = Region(*self.region[root])
        if key < region.min_key:
            self.region[root] = (region.members, region.anchors, key)

    def min_key(self, digest: str) -> str:
        return self.node[digest][3][0]

    # -- regions ---------------------------------------------------------------------------------
    def find(self, digest: str) -> str:
        parent = self.parent
        root = digest
        while True:
            up = parent.get(root)
            if up is None:
                break
            root = up
        while digest != root:  # path compression
            up = parent[digest]
            if up != root:
                parent[digest] = root
            digest = up
        return root

    def get_region(self, root: str) -> Region:
        return Region(*self.region[root])

    def union(self, roots: list[str]) -> str:
        """One region of several (roots distinct); the root of the largest stays root."""
        regions = {r: self.get_region(r) for r in roots}
        keep = max(roots, key=lambda r: (len(regions[r].members), r))
        members: list[str] = []
        anchors: set[str] = set()
        for r in roots:
            members.extend(regions[r].members)
            anchors.update(regions[r].anchors)
            if r != keep:
                self.parent[r] = keep
                del self.region[r]
        self.region[keep] = (tuple(members), tuple(sorted(anchors)), min(g.min_key for g in regions.values()))
        return keep

    # -- persons ---------------------------------------------------------------------------------
    def person_of_node(self, digest: str) -> str:
        assigned = self.assign.get(digest)
        if assigned is not None:  # its region had to be cut
            return assigned
        region = self.get_region(self.find(digest))
        return person_id_for(region.anchors, region.min_key)

    def person_of_record(self, key: str) -> str | None:
        digest = self.occ.get(key)
        return None if digest is None else self.person_of_node(digest)

    def persons_of(self, members: Iterable[str]) -> dict[str, str]:
        return {digest: self.person_of_node(digest) for digest in members}


class Cut:
    """Kruskal over a region's scored edges with the constraints: never two different anchors (valid
    ID numbers) nor two records a reviewer kept apart in one person; same anchor or a reviewer's
    "same" decision joins first."""

    def __init__(self, members: Iterable[str], anchor_of: dict[str, str], min_key_of: dict[str, str]) -> None:
        self.parent: dict[str, str] = {m: m for m in members}
        self.anchors: dict[str, set[str]] = {m: ({anchor_of[m]} if anchor_of[m] else set()) for m in self.parent}
        self.apart: dict[str, set[str]] = {m: set() for m in self.parent}
        self.min_key = dict(min_key_of)

    def find(self, x: str) -> str:
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def keep_apart(self, a: str, b: str) -> None:
        self.apart[self.find(a)].add(b)
        self.apart[self.find(b)].add(a)

    def join(self, a: str, b: str) -> bool:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return True
        anchors = self.anchors[ra] | self.anchors[rb]
        if len(anchors) > 1:
            return False
        if any(self.find(x) == rb for x in self.apart[ra]) or any(self.find(x) == ra for x in self.apart[rb]):
            return False
        if self.min_key[rb] < self.min_key[ra]:
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.anchors[ra] = anchors
        self.apart[ra] |= self.apart.pop(rb)
        self.anchors.pop(rb)
        return True

    def persons(self) -> dict[str, str]:
        """node -> person id"""
        groups: dict[str, list[str]] = {}
        for m in self.parent:
            groups.setdefault(self.find(m), []).append(m)
        out: dict[str, str] = {}
        for root, nodes in groups.items():
            pid = person_id_for(self.anchors[root], min(self.min_key[n] for n in nodes))
            for n in nodes:
                out[n] = pid
        return out


def profile_anchor(profile: Profile) -> str:
    return profile.id_number if profile.id_valid and profile.id_number else ""


def cut_region(members: Iterable[str], nodes: dict[str, Node], score: Callable[[str, str], float],
               threshold: float, same: Iterable[tuple[str, str]], apart: Iterable[tuple[str, str]]) -> dict[str, str]:
    """node -> person of a region that holds several valid ID numbers or a reviewer's decision: nodes of
    one valid ID number first, then reviewers' "same" pairs, then Kruskal over every pair of members
    scoring at least the threshold, strongest first (ties by the smaller record keys)."""
    ordered = sorted(members, key=lambda d: nodes[d].keys[0])
    cut = Cut(ordered, {d: nodes[d].anchor for d in ordered}, {d: nodes[d].keys[0] for d in ordered})
    for a, b in apart:
        cut.keep_apart(a, b)
    by_anchor: dict[str, str] = {}
    for d in ordered:
        if nodes[d].anchor:
            cut.join(by_anchor.setdefault(nodes[d].anchor, d), d)
    for a, b in same:
        cut.join(a, b)
    edges = []
    for i, a in enumerate(ordered):
        for b in ordered[i + 1:]:
            s = score(a, b)
            if s >= threshold:
                edges.append((-s, nodes[a].keys[0], nodes[b].keys[0], a, b))
    for _, _, _, a, b in sorted(edges):
        cut.join(a, b)
    return cut.persons()
