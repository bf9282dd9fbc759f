"""Risk early warning: evaluates the rules of rules.toml on every resolved agency event (README.md).

`handle_resolved(event, resolved, decisions, state)` is called by streams.pipeline.Pipeline after
identity resolution and dispute threading. It applies the decisions (person merges and splits, thread
merges), records the event in the histories of its persons, satisfies pending deadlines it follows up,
evaluates the count and co-occurrence rules it can change, opens deadlines, then advances the clock of
the event's agency and expires the deadlines that agency's feed has now passed. `tick(now_ms, state)`
expires deadlines on wall-clock time. Outputs are AlertRaised / AlertResolved on the alerts topic,
keyed by the alert's subject (person id, or dispute id for deadlines).

Deadlines and time. Agencies deliver on their own schedules (a runner may even drain one whole export
after another), so "72 hours have passed" is decided per agency: a deadline waits for each agency that
could deliver its follow-up (of those seen so far) until that agency's feed reaches past the deadline.
An agency whose clock is already past it counts at once — unless the opening event itself arrived
late for its own agency (its feed went back in time, e.g. a second export chunk), in which case the
deadline waits for events that arrive after it. A follow-up dated within the deadline that arrives
after the alert was raised supersedes the alert. Raised deadline alerts carry the deadline as their
time, so the event clock and `tick` raise the very same event.
"""

from __future__ import annotations

import heapq
from typing import Any

from runtime.clock import to_millis
from streams.alerts import lifecycle, records
from streams.alerts.evaluate import co_occurrence_holds, count_holds, count_message, deadline_message
from streams.alerts.rules import Rule, RuleSet, load_rules
from streams.alerts.store import AT, DISPUTE, EID, IDX, KEYS, MASK, RESTRICTION, TICK, Entry, Store
from streams.processor import ALERTS_TOPIC, Event, Output, State

SYSTEM_USER = lifecycle.SYSTEM_USER
F_AT, F_EID, F_AGENCY, F_RESTRICTION, F_MASKS, F_UNPLACED, F_KEYS = range(7)   # an alerts fact


class AlertsProcessor:
    name = "alerts"
    input_topics: tuple[str, ...] = (ALERTS_TOPIC,)

    def __init__(self, rules: RuleSet | None = None) -> None:
        self.rules = rules or load_rules()
        self._by_name = {r.name: r for r in self.rules.rules}
        self._counts = tuple(r for r in self.rules.rules if r.kind == "count")
        self._co = tuple(r for r in self.rules.rules if r.kind == "co_occurrence")
        self._deadlines = tuple(r for r in self.rules.rules if r.kind == "deadline")
        self._has_roles = any(f.roles for f in self.rules.filters)
        self._has_stages = any(f.stages for f in self.rules.filters)
        self._follow_mask = sum(r.follow_mask for r in self._deadlines)
        self._person_rules = tuple((r, r.mask) for r in self._counts + self._co)
        self._store: tuple[State, Store] | None = None

    def store_of(self, state: State) -> Store:
        """The tables of `state`, looked up again only when the state (or its restored tables) changed."""
        cached = self._store
        if cached is None or cached[0] is not state or cached[1].history is not state.table("alerts_history"):
            cached = self._store = (state, Store(state))
        return cached[1]

    # -- entry points ------------------------------------------------------------------------------
    def handle(self, event: Event, state: State) -> list[Output]:
        """Runner entry for the alerts topic: lifecycle events published by the API update the state."""
        self.apply_lifecycle(event, state)
        return []

    def handle_resolved(self, event: Event, resolved: dict[str, Any], decisions: list[Output],
                        state: State) -> list[Output]:
        store = self.store_of(state)
        event_id = event.event_id
        outputs: list[Output] = [records.output("AlertRaised", store.alerts[a]["record"], store.alerts[a]["key"])
                                 for a in store.by_event.get(event_id, ()) if a in store.alerts]
        seen = {o.record["envelope"]["event_id"] for o in outputs}
        fresh: list[Output] = []
        self._apply_decisions(store, decisions, event_id, fresh)
        fact = self.fact_of(event, resolved.get("stage"))
        persons = self.persons_of(event, resolved)
        self.apply_fact(store, fact, persons, resolved.get("dispute_id"), True, fresh, live=True)
        self.advance(store, fact[F_AGENCY], fact[F_AT], fresh)
        for out in fresh:
            if out.record["envelope"]["event_id"] not in seen:
                seen.add(out.record["envelope"]["event_id"])
                outputs.append(out)
        return outputs

    def due(self, now_ms: int, state: State) -> bool:
        """Whether `tick` at wall-clock time `now_ms` would expire a deadline."""
        grace = self.rules.grace_ms
        return any(dl["fired"] is None and dl["due"] + grace < now_ms for dl in Store(state).deadlines.values())

    def tick(self, now_ms: int, state: State) -> list[Output]:
        """Expire every deadline passed at wall-clock time `now_ms` (the runner calls this when idle)."""
        store = Store(state)
        if now_ms > store.clock.get(TICK, -1):
            store.clock[TICK] = now_ms
        outputs: list[Output] = []
        grace = self.rules.grace_ms
        due = sorted((dl["due"], dl_id) for dl_id, dl in store.deadlines.items()
                     if dl["fired"] is None and dl["due"] + grace < now_ms)
        for _, dl_id in due:
            self._expire(store, dl_id, outputs)
        return outputs

    # -- facts: what the rules read of an event, kept by the pipeline's stories for a replay -------------
    def fact_of(self, event: Event, stage: str | None) -> list[Any]:
        """[at, event id, agency, restriction, filter bits per party when the event is on a thread (at
        `stage`), the same when it is on none (None: equal), key field values]. Persons apart."""
        record = event.record
        env = record["envelope"]
        placed = self._party_masks(event, stage)
        unplaced = None if stage is None or not self._has_stages else self._party_masks(event, None)
        keys = self._keys(record)
        return [to_millis(env["occurred_at"]), event.event_id, env["source"]["agency"], env.get("restriction"),
                placed, None if unplaced == placed else unplaced, list(keys) if keys else None]

    def persons_of(self, event: Event, resolved: dict[str, Any]) -> list[str | None]:
        """The live person id of each party (None: organisation or unresolved)."""
        ids = resolved.get("person_ids") or ()
        persons: list[str | None] = []
        for i, party in enumerate(event.record.get("parties") or ()):
            pid = ids[i] if i < len(ids) else ""
            persons.append(pid if pid and party.get("kind", "person") != "organisation" else None)
        return persons

    def apply_fact(self, store: Store, fact: list[Any], persons: list[str | None], dispute: str | None,
                   placed: bool, outputs: list[Output], *, live: bool) -> None:
        """Record the event in its persons' histories, satisfy the deadlines it follows up, evaluate the
        person rules it may change and open its deadlines. `live`: a deadline already passed by the
        clocks fires at once (else, in a replay, `expire_replayed` decides at the end)."""
        masks = fact[F_MASKS] if placed or fact[F_UNPLACED] is None else fact[F_UNPLACED]
        if not any(m and p for m, p in zip(masks, persons, strict=False)):
            return
        masks = [m if p else 0 for m, p in zip(masks, persons, strict=False)]
        at, event_id, restriction = fact[F_AT], fact[F_EID], fact[F_RESTRICTION]
        keys = tuple(fact[F_KEYS]) if fact[F_KEYS] else None
        dispute = store.find("d", dispute) if dispute else None
        union = 0
        for m in masks:
            union |= m
        if union & self._follow_mask:
            self._follow_up(store, event_id, at, union, dispute, persons, keys, outputs)
        changed = []
        for i, person in enumerate(persons):
            if person and masks[i]:
                entry = [at, event_id, i, masks[i], dispute, keys, restriction]
                if self._add_entry(store, person, entry):
                    changed.append((person, masks[i]))
        for person, mask in changed:
            self._evaluate_person(store, person, mask, at, event_id, outputs)
        for rule in self._deadlines:
            if union & rule.opening_mask:
                self._open_deadline(store, rule, event_id, at, fact[F_AGENCY], dispute, persons, keys, restriction,
                                    outputs, live)

    def apply_thread_merges(self, store: Store, decisions: list[Output]) -> None:
        """DisputeThreaded merges among the decisions: pending deadlines follow the surviving thread."""
        for out in decisions:
            rec = out.record
            if out.event_type == "DisputeThreaded" and rec.get("merged_into"):
                retired, survivor = rec["dispute_id"], rec["merged_into"]
                if f"d:{retired}" not in store.aliases and retired != survivor:
                    store.aliases[f"d:{retired}"] = survivor
                    store.move_index(f"d:{retired}", f"d:{store.find('d', survivor)}")

    # -- stories: streams/stories rebuilds a story's alert state on a scratch state -------------------
    def expire_replayed(self, scratch: State, state: State, old: dict[str, dict[str, Any]]) -> None:
        """After a story's events were replayed on `scratch`, put its deadlines back on the clocks of
        `state`: as far as the story's deadlines had expired before (`old`, as `forget_story` returned them),
        they expire again, the earliest first, as the clocks would have; one still waiting keeps its feeds;
        a new one waits like a deadline opened now."""
        store, clocks = Store(scratch), Store(state)
        fired_until: dict[str, int] = {}
        for dl in old.values():
            if dl["fired"] is not None:
                fired_until[dl["rule"]] = max(fired_until.get(dl["rule"], dl["due"]), dl["due"])
        for due, dl_id in sorted((dl["due"], d) for d, dl in store.deadlines.items() if dl["fired"] is None):
            current = store.deadlines.get(dl_id)   # (an earlier one raised may have dropped it: same slot)
            rule = self._by_name.get(current["rule"]) if current is not None else None
            if current is None or rule is None or current["fired"] is not None:
                continue
            dl = current
            before = old.get(dl_id)
            if due <= fired_until.get(rule.name, due - 1):
                self._expire(store, dl_id, [])
            elif before is not None and before["fired"] is None:
                store.deadlines[dl_id] = {**dl, "wait": list(before["wait"])}
            else:
                self._wait_or_expire(store, clocks, rule, dl_id, [])

    def forget_story(self, state: State, events: list[str], persons: list[str], threads: list[str],
                     keys: list[str]) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
        """Remove what the alert state holds about a story (its persons' histories and open states, its
        deadlines, its alerts); returns (its alerts, its deadlines) as they were."""
        store = Store(state)
        old: dict[str, dict[str, Any]] = {}
        for event_id in events:
            for alert_id in store.by_event.pop(event_id, ()):
                alert = store.alerts.pop(alert_id, None)
                if alert is None:
                    continue
                old[alert_id] = alert
                if store.active.get(alert["slot"]) == alert_id:
                    del store.active[alert["slot"]]
        deadlines: dict[str, dict[str, Any]] = {}
        for event_id in events:
            for rule in self._deadlines:
                dl = store.deadlines.pop(f"{rule.name}|{event_id}", None)
                if dl is not None:
                    deadlines[f"{rule.name}|{event_id}"] = dl
        for person in persons:
            store.history.pop(person, None)
            store.spans.pop(person, None)
            store.index.pop(f"p:{person}", None)
            store.aliases.pop(f"p:{person}", None)
        for thread in threads:
            store.index.pop(f"d:{thread}", None)
            store.aliases.pop(f"d:{thread}", None)
        for key in keys:
            store.index.pop(f"k:{key}", None)
        return old, deadlines

    def adopt_story(self, scratch: State, state: State, old: dict[str, dict[str, Any]]) -> None:
        """Copy a story rebuilt on `scratch` into `state` (after `forget_story`, `expire_replayed`); its
        waiting deadlines join the feeds' queues (those that waited before are queued already)."""
        src, dst = Store(scratch), Store(state)
        for name in ("history", "spans", "deadlines", "index", "alerts", "active", "by_event", "aliases"):
            getattr(dst, name).update(getattr(src, name))
        for dl_id, dl in sorted(src.deadlines.items()):
            before = old.get(dl_id)
            if dl["fired"] is None and not (before is not None and before["fired"] is None):
                self._queue(dst, dl_id)

    # -- lifecycle (called by the API / CLI; they publish the outputs) -------------------------------
    def acknowledge(self, alert_id: str, user_id: str, at: Any, state: State) -> list[Output]:
        return lifecycle.acknowledge(alert_id, user_id, at, state)

    def resolve(self, alert_id: str, user_id: str, resolution: str, reason: str, at: Any,
                state: State) -> list[Output]:
        return lifecycle.resolve(alert_id, user_id, resolution, reason, at, state)

    def apply_lifecycle(self, event: Event, state: State) -> None:
        lifecycle.apply(event, state)

    def active_alerts(self, state: State) -> list[dict[str, Any]]:
        """AlertRaised records of the open alerts, oldest first (for `justlink alerts list`)."""
        return lifecycle.active_alerts(state)

    # -- identity and thread decisions -------------------------------------------------------------
    def on_persons_merged(self, surviving_id: str, retired_id: str, occurred_at: Any, state: State,
                          cause: str = "") -> list[Output]:
        """Move the retired person's history to the survivor and re-evaluate the survivor."""
        outputs: list[Output] = []
        self._merge(Store(state), surviving_id, retired_id, to_millis(occurred_at), cause, outputs)
        return outputs

    def on_person_split(self, split: dict[str, Any], state: State, cause: str = "") -> list[Output]:
        """A PersonSplit record: move the split-off occurrences and re-evaluate both persons."""
        outputs: list[Output] = []
        self._split(Store(state), split, cause, outputs)
        return outputs

    def _apply_decisions(self, store: Store, decisions: list[Output], event_id: str, outputs: list[Output]) -> None:
        for out in decisions:
            rec = out.record
            if out.event_type == "PersonsMerged":
                self._merge(store, rec["surviving_person_id"], rec["retired_person_id"],
                            to_millis(rec["envelope"]["occurred_at"]), event_id, outputs)
            elif out.event_type == "PersonSplit":
                self._split(store, rec, event_id, outputs)
        self.apply_thread_merges(store, decisions)

    def _merge(self, store: Store, survivor: str, retired: str, at: int, cause: str, outputs: list[Output]) -> None:
        survivor, retired = store.find("p", survivor), store.find("p", retired)
        if survivor == retired:
            return
        store.aliases[f"p:{retired}"] = survivor
        old = store.history.pop(retired, None)
        if old:
            merged = sorted(store.history.get(survivor, []) + old, key=lambda e: (e[AT], e[EID], e[IDX]))
            store.history[survivor] = self._trim(merged)
        spans = store.spans.pop(retired, None)
        if spans:
            store.spans[survivor] = store.spans.get(survivor, []) + spans
        store.move_index(f"p:{retired}", f"p:{survivor}")
        for rule in self._counts + self._co:
            slot = f"{rule.name}|{retired}"
            alert_id = store.active.pop(slot, None)
            if alert_id is None:
                continue
            target = f"{rule.name}|{survivor}"
            if target in store.active:   # both had one: the retired person's is a duplicate now
                outputs += lifecycle.close(store, alert_id, SYSTEM_USER, "superseded",
                                           f"persons merged into {survivor}", at)
            else:   # keep the alert (and its acknowledgements); views follow the person redirect
                store.active[target] = alert_id
                store.alerts[alert_id] = {**store.alerts[alert_id], "slot": target}
        if cause:
            mark = len(outputs)
        self._evaluate_person(store, survivor, -1, at, cause, outputs)
        if cause:
            for out in outputs[mark:]:
                if out.event_type == "AlertRaised":
                    store.remember(cause, out.record["alert_id"])

    def _split(self, store: Store, split: dict[str, Any], cause: str, outputs: list[Output]) -> None:
        person = store.find("p", split["person_id"])
        new = split.get("new_person_id") or ""
        moved = set(split["record_keys"])
        at = to_millis(split["envelope"]["occurred_at"])
        entries = store.history.get(person, [])
        keep = [e for e in entries if f"{e[EID]}#{e[IDX]}" not in moved]
        gone = [e for e in entries if f"{e[EID]}#{e[IDX]}" in moved]
        if not gone and not any(f"{s[3]}#{s[4]}" in moved for s in store.spans.get(person, ())):
            return
        store.history[person] = keep
        spans = store.spans.get(person, [])
        store.spans[person] = [s for s in spans if f"{s[3]}#{s[4]}" not in moved]
        if new:
            store.history[new] = self._trim(sorted(store.history.get(new, []) + gone,
                                                   key=lambda e: (e[AT], e[EID], e[IDX])))
            store.spans[new] = store.spans.get(new, []) + [s for s in spans if f"{s[3]}#{s[4]}" in moved]
        for rule in self._counts + self._co:   # an open alert whose condition no longer holds is superseded
            alert_id = store.active.get(f"{rule.name}|{person}")
            if alert_id is not None and self._holds(store, rule, person) is None:
                outputs += lifecycle.close(store, alert_id, SYSTEM_USER, "superseded",
                                           "person split: the condition no longer holds", at)
        mark = len(outputs)
        self._evaluate_person(store, person, -1, at, cause, outputs)
        if new:
            self._evaluate_person(store, new, -1, at, cause, outputs)
        if cause:
            for out in outputs[mark:]:
                if out.event_type == "AlertRaised":
                    store.remember(cause, out.record["alert_id"])

    # -- histories and the person rules ------------------------------------------------------------
    def _party_masks(self, event: Event, stage: str | None) -> list[int]:
        """The filter bits each party matches (persons apart) when the event is at dispute `stage`."""
        parties = event.record.get("parties") or ()
        candidates = self.rules.candidates(event.event_type)
        base = [f for f in candidates if f.matches_event(event.event_type, event.record, stage)] if candidates else []
        if not base:
            return [0] * len(parties)
        if not self._has_roles:
            return [sum(1 << f.bit for f in base)] * len(parties)
        return [sum(1 << f.bit for f in base if not f.roles or party.get("role") in f.roles) for party in parties]

    def _keys(self, record: dict[str, Any]) -> tuple[str, ...] | None:
        keys = tuple(f"{name}={record[name]}" for name in self.rules.key_fields if record.get(name))
        return keys or None

    def _add_entry(self, store: Store, person: str, entry: Entry) -> bool:
        person = store.find("p", person)
        entries = store.history.get(person)
        if entries is None:
            store.history[person] = [entry]
        else:
            for e in entries:
                if e[EID] == entry[EID] and e[IDX] == entry[IDX]:
                    return False   # handled before
            entries = [*entries, entry]
            if entries[-2][AT] > entry[AT]:
                entries.sort(key=lambda e: (e[AT], e[EID], e[IDX]))
            store.history[person] = self._trim(entries)
        for rule in self._co:
            if entry[MASK] & rule.start_mask:
                self._open_span(store, rule, person, entry)
            if entry[MASK] & rule.end_mask:
                self._close_span(store, rule, person, entry)
        return True

    def _trim(self, entries: list[Entry]) -> list[Entry]:
        if entries and entries[0][AT] < entries[-1][AT] - self.rules.history_ms:
            floor = entries[-1][AT] - self.rules.history_ms
            return [e for e in entries if e[AT] >= floor]
        return entries

    def _open_span(self, store: Store, rule: Rule, person: str, entry: Entry) -> None:
        spans = store.spans.get(person, [])
        if any(s[0] == rule.name and s[3] == entry[EID] for s in spans):
            return
        key = _key_value(entry, rule.key_field)
        store.spans[person] = [*spans, [rule.name, entry[AT], None, entry[EID], entry[IDX], key]]

    def _close_span(self, store: Store, rule: Rule, person: str, entry: Entry) -> None:
        spans = store.spans.get(person, [])
        key = _key_value(entry, rule.key_field)
        own = [s for s in spans if s[0] == rule.name and s[1] <= entry[AT]]
        match = [s for s in own if key is not None and s[5] == key] or [s for s in own if s[2] is None]
        if not match:
            return
        span = max(match, key=lambda s: (s[1], s[3]))
        store.spans[person] = [[*s[:2], entry[AT], *s[3:]] if s is span else s for s in spans]

    def _holds(self, store: Store, rule: Rule, person: str) -> tuple[int, list[str], str] | None:
        entries = store.history.get(person, [])
        if rule.kind == "count":
            found = count_holds(rule, entries)
            return (found[0], found[1], count_message(rule, found[2])) if found else None
        found_co = co_occurrence_holds(rule, store.spans.get(person, []), entries)
        return (found_co[0], found_co[1], rule.message) if found_co else None

    def _evaluate_person(self, store: Store, person: str, mask: int, at: int, cause: str,
                         outputs: list[Output]) -> None:
        """Evaluate the person rules that an event with filter bits `mask` (-1: any) may change."""
        person = store.find("p", person)
        for rule, rule_mask in self._person_rules:
            if not mask & rule_mask or f"{rule.name}|{person}" in store.active:
                continue
            found = self._holds(store, rule, person)
            if found is None:
                continue
            _, evidence, message = found
            restriction = _restriction_of(store.history.get(person, []), evidence)
            out = self._raise(store, rule, person, person, None, evidence, at, message, restriction)
            if out is not None:
                outputs.append(out)
                if cause:
                    store.remember(cause, out.record["alert_id"])

    def _raise(self, store: Store, rule: Rule, subject: str, person: str | None, dispute: str | None,
               evidence: list[str], at: int, message: str, restriction: dict[str, Any] | None,
               deadline: str | None = None) -> Output | None:
        slot = f"{rule.name}|{subject}"
        if slot in store.active:
            return None   # one open alert per rule and subject
        record = records.raised(rule, subject, person, dispute, evidence, at, message, restriction)
        alert_id = record["alert_id"]
        if alert_id in store.alerts:
            return None   # the same condition was raised before (and has been closed since)
        store.alerts[alert_id] = {"rule": rule.name, "slot": slot, "key": subject, "status": "active", "acks": [],
                                  "deadline": deadline, "record": record}
        store.active[slot] = alert_id
        return records.output("AlertRaised", record, subject)

    # -- deadlines -------------------------------------------------------------------------------------
    def _follow_up(self, store: Store, event_id: str, at: int, mask: int, dispute: str | None,
                   persons: list[str | None], keys: tuple[str, ...] | None, outputs: list[Output]) -> None:
        lookup = ([f"d:{dispute}"] if dispute else []) + [f"p:{store.find('p', p)}" for p in persons if p] \
            + [f"k:{k}" for k in keys or ()]
        ids = sorted({d for key in lookup for d in store.index.get(key, ())})
        for dl_id in ids:
            dl = store.deadlines.get(dl_id)
            if dl is None or dl["event"] == event_id:
                continue
            rule = self._by_name.get(dl["rule"])
            if rule is None or not mask & rule.follow_mask or not dl["opened"] <= at <= dl["due"]:
                continue
            alert_id = dl["fired"]
            if alert_id is not None and store.alerts.get(alert_id, {}).get("status") != "resolved":
                outputs += lifecycle.close(store, alert_id, SYSTEM_USER, "superseded",
                                           f"follow-up {event_id} was within the deadline; it arrived late", at)
            store.drop_deadline(dl_id)

    def _open_deadline(self, store: Store, rule: Rule, event_id: str, at: int, agency: str, dispute: str | None,
                       persons: list[str | None], keys: tuple[str, ...] | None,
                       restriction: dict[str, Any] | None, outputs: list[Output], live: bool) -> None:
        dl_id = f"{rule.name}|{event_id}"
        if dl_id in store.deadlines:
            return
        people = [store.find("p", p) for p in persons if p]
        subject = dispute if rule.subject == "dispute" and dispute else (people[0] if people else None)
        if subject is None:
            return
        due = at + rule.within_ms
        key_value = _key_value_of(keys, rule.key_field)
        if rule.same == "record" and key_value:
            index = [f"k:{key_value}"]
        elif rule.same == "person" or (rule.same == "dispute" and not dispute):
            index = [f"p:{p}" for p in people]
        elif rule.same == "dispute":
            index = [f"d:{dispute}"]
        else:
            index = ([f"d:{dispute}"] if dispute else []) + [f"p:{p}" for p in people]
        if self._followed_already(store, rule, event_id, at, due, dispute, people, key_value):
            return
        store.deadlines[dl_id] = {"rule": rule.name, "subject": subject, "person": people[0] if people else None,
                                  "dispute": dispute, "event": event_id, "agency": agency, "opened": at, "due": due,
                                  "keys": list(dict.fromkeys(index)), "wait": [], "fired": None,
                                  "restriction": restriction}
        for key in index:
            store.add_index(key, dl_id)
        if live:   # (a replay leaves the clocks to `expire_replayed`, once the story is rebuilt)
            self._wait_or_expire(store, store, rule, dl_id, outputs)

    def _wait_or_expire(self, store: Store, clocks: Store, rule: Rule, dl_id: str, outputs: list[Output]) -> None:
        """Which feeds a deadline waits for, by the `clocks` now; none: it expires. Queued at once when
        `store` is `clocks` (else `adopt_story` queues it)."""
        dl = store.deadlines[dl_id]
        grace = self.rules.grace_ms
        seen = [a for a in rule.follow_agencies if a in clocks.clock] or [dl["agency"]]
        late = dl["opened"] + grace < clocks.clock.get(dl["agency"], 0)   # the opening came after its feed moved on
        wait = [a for a in seen if late or clocks.clock.get(a, 0) <= dl["due"] + grace]
        if not wait or dl["due"] + grace < clocks.clock.get(TICK, -1):
            self._expire(store, dl_id, outputs)
            return
        store.deadlines[dl_id] = {**dl, "wait": wait}
        if store is clocks:
            self._queue(store, dl_id)

    def _queue(self, store: Store, dl_id: str) -> None:
        dl = store.deadlines[dl_id]
        for agency in dl["wait"]:
            heap = list(store.due.get(agency, []))
            heapq.heappush(heap, [dl["due"] + self.rules.grace_ms, dl_id])
            store.due[agency] = heap

    def _followed_already(self, store: Store, rule: Rule, event_id: str, at: int, due: int, dispute: str | None,
                          people: list[str], key_value: str | None) -> bool:
        """Whether a follow-up within the deadline arrived before the opening event did."""
        for person in people:
            for e in store.history.get(person, ()):
                if not e[MASK] & rule.follow_mask or e[EID] == event_id or not at <= e[AT] <= due:
                    continue
                if rule.same == "record" and key_value:
                    if e[KEYS] and key_value in e[KEYS]:
                        return True
                elif rule.same == "dispute" and dispute:
                    if e[DISPUTE] and store.find("d", e[DISPUTE]) == dispute:
                        return True
                else:
                    return True
        return False

    def advance(self, store: Store, agency: str, at: int, outputs: list[Output]) -> None:
        """An event of `agency` at `at` arrived: its feed has passed the deadlines waiting for it that lie
        before `at`; a deadline no feed is awaited for any more expires."""
        if at > store.clock.get(agency, -1):
            store.clock[agency] = at
        heap = store.due.get(agency)
        if not heap or heap[0][0] >= at:
            return
        heap = list(heap)
        expired: list[str] = []
        while heap and heap[0][0] < at:   # a follow-up exactly at the deadline is still in time
            _, dl_id = heapq.heappop(heap)
            dl = store.deadlines.get(dl_id)
            if dl is None or dl["fired"] is not None or agency not in dl["wait"]:
                continue
            wait = [a for a in dl["wait"] if a != agency]
            store.deadlines[dl_id] = {**dl, "wait": wait}
            if not wait:
                expired.append(dl_id)
        store.due[agency] = heap
        for dl_id in expired:
            self._expire(store, dl_id, outputs)

    def _expire(self, store: Store, dl_id: str, outputs: list[Output]) -> None:
        """Raise the deadline's alert; it is remembered under the opening event (a story replay finds it)."""
        dl = store.deadlines[dl_id]
        rule = self._by_name.get(dl["rule"])
        out = None
        if rule is not None:
            out = self._raise(store, rule, dl["subject"], dl["person"], dl["dispute"], [dl["event"]], dl["due"],
                              deadline_message(rule), dl["restriction"], deadline=dl_id)
        if out is None:   # an alert for this rule and subject is already open: no duplicate
            store.drop_deadline(dl_id)
            return
        store.deadlines[dl_id] = {**dl, "fired": out.record["alert_id"]}
        outputs.append(out)
        store.remember(dl["event"], out.record["alert_id"])


def _key_value_of(keys: tuple[str, ...] | None, field: str | None) -> str | None:
    if field is None or not keys:
        return None
    prefix = field + "="
    return next((k for k in keys if k.startswith(prefix)), None)


def _key_value(entry: Entry, field: str | None) -> str | None:
    if field is None or not entry[KEYS]:
        return None
    prefix = field + "="
    return next((k for k in entry[KEYS] if k.startswith(prefix)), None)


def _restriction_of(entries: list[Entry], evidence: list[str]) -> dict[str, Any] | None:
    """A restricted (sealed) evidence event restricts the alert: it stays as visible as its evidence."""
    wanted = set(evidence)
    restricted = [e[RESTRICTION] for e in sorted(entries, key=lambda e: e[EID]) if e[EID] in wanted and e[RESTRICTION]]
    if not restricted:
        return None
    return next((r for r in restricted if r.get("until") is None), restricted[0])
