"""Stories: the sets of events whose threading and alerts can influence each other.

Two events are in one story when they share a resolved natural person, a case number (an agency's own
number or one it references, `disputes.rules.event_keys`) or an alert key value (e.g. a mediation case
number). Organisations do not connect: they count as unresolved for threading. The dispute and alert
rules read nothing across stories, so a story's threads and alerts are a function of its own events.

A union-find over node names: "e:<event id>", "p:<person id>", "k:<agency:number>", "a:<field=value>".
Stories only grow: persons merged are united; a person split leaves one story holding both parts, which
replays correctly since the parts no longer share anything.

Tables (plain lists / str / int; a story's record is grown in place and written back):
- ``stories.parent``  node -> parent node (roots are absent)
- ``stories.story``   root -> [size, newest at, newest event id, [event ids], [other nodes]]
- ``stories.facts``   event id -> the event's fact (streams/stories/stories.py)
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping
from typing import Any

from streams.processor import State

PARENT = "stories.parent"
STORY = "stories.story"
FACTS = "stories.facts"

SIZE, NEWEST_AT, NEWEST_EID, EVENTS, NODES = range(5)
Position = tuple[int, str]   # canonical order: (occurred_at ms, event id)
BEFORE_ALL: Position = (-(2 ** 62), "")


class StoryIndex:
    __slots__ = ("state", "parent", "story", "facts")

    def __init__(self, state: State) -> None:
        self.state = state
        self.parent: MutableMapping[str, str] = state.table(PARENT)
        self.story: MutableMapping[str, list[Any]] = state.table(STORY)
        self.facts: MutableMapping[str, list[Any]] = state.table(FACTS)

    def known(self, node: str) -> bool:
        return node in self.parent or node in self.story

    def find(self, node: str) -> str:
        parent = self.parent
        root = node
        while root in parent:
            root = parent[root]
        while node != root:   # path compression (written only where it changes something)
            nxt = parent[node]
            if nxt != root:
                parent[node] = root
            node = nxt
        return root

    def newest(self, root: str) -> Position:
        rec = self.story.get(root)
        return (rec[NEWEST_AT], rec[NEWEST_EID]) if rec is not None and rec[EVENTS] else BEFORE_ALL

    def union(self, a: str, b: str) -> str:
        """One story of the stories of nodes `a` and `b` (created when unknown); returns its root."""
        ra, rb = self._root(a), self._root(b)
        if ra == rb:
            return ra
        sa, sb = self.story[ra], self.story[rb]
        if (sa[SIZE], rb) < (sb[SIZE], ra):
            ra, rb, sa, sb = rb, ra, sb, sa
        newest = max((sa[NEWEST_AT], sa[NEWEST_EID]), (sb[NEWEST_AT], sb[NEWEST_EID]))
        self.story[ra] = [sa[SIZE] + sb[SIZE], newest[0], newest[1], sa[EVENTS] + sb[EVENTS], sa[NODES] + sb[NODES]]
        del self.story[rb]
        self.parent[rb] = ra
        return ra

    def add_event(self, event_id: str, position: Position, nodes: Iterable[str]) -> tuple[Position, str]:
        """Link a new event into the stories of its nodes; returns (the newest position of those stories
        before it came, the root of its story)."""
        roots: set[str] = set()
        fresh: list[str] = []
        for n in dict.fromkeys(nodes):
            if self.known(n):
                roots.add(self.find(n))
            else:
                fresh.append(n)
        before = max((self.newest(r) for r in roots), default=BEFORE_ALL)
        node = f"e:{event_id}"
        if roots:
            ordered = sorted(roots)
            root = ordered[0]
            for other in ordered[1:]:
                root = self.union(root, other)
            rec = self.story[root]
            if position > (rec[NEWEST_AT], rec[NEWEST_EID]):
                rec[NEWEST_AT], rec[NEWEST_EID] = position
            rec[SIZE] += 1 + len(fresh)
            rec[EVENTS].append(event_id)   # grown in place (stories can be long), then written back
            rec[NODES].extend(fresh)
            self.story[root] = rec
            self.parent[node] = root
        else:
            root = node
            self.story[root] = [1 + len(fresh), position[0], position[1], [event_id], fresh]
        for n in fresh:
            self.parent[n] = root
        return before, root

    def events_of(self, root: str) -> list[str]:
        return list(self.story[root][EVENTS])

    def nodes_of(self, root: str, kind: str) -> list[str]:
        """The story's node names of one kind ("p", "k", "a"), without the prefix."""
        prefix = kind + ":"
        return [n[2:] for n in self.story[root][NODES] if n.startswith(prefix)]

    def _root(self, node: str) -> str:
        if not self.known(node):
            self.story[node] = [1, BEFORE_ALL[0], BEFORE_ALL[1], [], [node]]
            return node
        return self.find(node)
