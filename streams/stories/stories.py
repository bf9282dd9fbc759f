"""Dispute threads and alerts that do not depend on the order events arrive in (README.md).

The threads and alerts of the hub are defined as what the dispute and alert processors produce when
each story's events are processed in canonical order — event time, then event id — with the current
persons. `Stories.handle` keeps that true for every arrival order:

- fast path: the event is the newest of its story and no identity change touched the story's events:
  the processors handle it incrementally — the same result as a replay, at no extra cost;
- slow path (a late event, or persons merged / split under the story): the story's events are replayed
  from their facts in canonical order on a scratch state, the story's part of the processors' state is
  replaced by the result, and only the difference with what consumers hold is published (events moved
  to another thread, thread redirects, alerts retracted or raised again).
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from runtime.clock import to_millis
from streams.alerts.store import Store as AlertStore
from streams.disputes import processor as threading
from streams.disputes import rules as dispute_rules
from streams.disputes.store import Store as DisputeStore
from streams.disputes.store import dispute_id_for
from streams.processor import DictState, Event, Output, State
from streams.stories.index import EVENTS as EVENTS_FIELD
from streams.stories.index import StoryIndex
from streams.stories.published import CLOSED, OPEN, USER, Published, Redirects

# a fact: [at, threading fact | None, alerts fact | None, organisation id of each party ("" for a natural person),
#          current person of each party (None: an organisation or unresolved; kept current by identity changes)]
AT, THREADING, ALERTING, ORGS, PERSONS = range(5)
PERSON_REDIRECT = "stories.person_redirect"   # retired person -> live person (the merges seen)
PERSON_RETIRED = "stories.person_retired"     # live person -> [retired persons]
MOVED = "stories.moved"                       # record key -> the person a split moved it to
PASSES = 4   # correction rounds; one suffices unless consumers' flattened redirects moved an id along


class Stories:
    def __init__(self, disputes: Any, alerts: Any | None) -> None:
        self.disputes = disputes
        self.alerts = alerts

    # -- the pipeline's entry ------------------------------------------------------------------------
    def handle(self, event: Event, person_ids: list[str], identity_outputs: list[Output],
               state: State) -> tuple[list[Output], dict[str, Any] | None]:
        """Thread and alert an agency event whose parties resolved to `person_ids` (identity's decisions
        for it in `identity_outputs`). Returns (outputs, the event's {"dispute_id", "stage"} or None)."""
        index = StoryIndex(state)
        event_id = event.event_id
        if event_id in index.facts:   # handled before: nothing changes
            return [], self._placement_of(event_id, state)
        changed = self._identity_changes(identity_outputs, index)
        fact, natural, nodes = self._fact(event, person_ids, state)
        position = (fact[AT], event_id)
        index.facts[event_id] = fact
        before, root = index.add_event(event_id, position, nodes)
        stale = {index.find(node) for node in changed}
        outputs: list[Output] = []
        for other in sorted(stale - {root}):
            outputs += self._replay(other, state, fact[AT])
        if root not in stale and position > before:
            outputs += self._incremental(event, fact, natural, state)
        else:   # a late event, or persons changed under its story: the story again, in canonical order
            outputs += self._replay(root, state, fact[AT], event_id)
            if self.alerts is not None and fact[ALERTING] is not None:   # the feed's clock moves on all the same
                clocked: list[Output] = []
                self.alerts.advance(self.alerts.store_of(state), fact[ALERTING][2], fact[AT], clocked)
                outputs += self._published_alerts(clocked, state)
        return outputs, self._placement_of(event_id, state)

    def identity_changed(self, outputs: list[Output], at: int, state: State) -> list[Output]:
        """Identity decisions made outside an agency event (a reviewer's): the stories whose persons they
        change, replayed."""
        index = StoryIndex(state)
        stale = sorted({index.find(node) for node in self._identity_changes(outputs, index)})
        return [out for root in stale for out in self._replay(root, state, at)]

    def replay(self, state: State) -> list[Output]:
        """Every story again (its corrections: none, unless the state was not each story's canonical
        replay — a check for tests and for a changed rule set)."""
        index = StoryIndex(state)
        roots = sorted(root for root, rec in index.story.items() if rec[EVENTS_FIELD])
        return [out for root in roots for out in self._replay(root, state, index.newest(root)[0])]

    def tick(self, now_ms: int, state: State) -> list[Output]:
        return self._published_alerts(self.alerts.tick(now_ms, state), state) if self.alerts is not None else []

    def note_lifecycle(self, event: Event, state: State) -> None:
        """An AlertResolved by a person (read back from the alerts topic): a replay never reopens it."""
        rec = event.record
        if event.event_type == "AlertResolved" and rec.get("user_id") != "system":
            model = Published(state)
            gen, _ = model.alert(rec["alert_id"])
            model.set_alert(rec["alert_id"], max(gen, 0), USER)

    # -- facts ---------------------------------------------------------------------------------------
    def _fact(self, event: Event, person_ids: list[str],
              state: State) -> tuple[list[Any], list[str | None], list[str]]:
        """(fact, natural person of each party or None, story nodes). A person id identity changes seen
        here have retired since the party was resolved (a deployment that resolves elsewhere delivers
        them in any order) is replaced by the person it is now."""
        parties = event.record.get("parties") or ()
        orgs = [(person_ids[i] or "-") if party.get("kind") == "organisation" else "" for i, party in enumerate(parties)]
        natural = [None if orgs[i] or i >= len(person_ids) else (person_ids[i] or None) for i in range(len(parties))]
        persons_now, moved = self._persons(state)
        if persons_now.redirect or moved:
            natural = [persons_now.live(moved.get(f"{event.event_id}#{i}", p)) if p else None
                       for i, p in enumerate(natural)]
        rule = dispute_rules.rule_of(event.event_type)
        threading_fact = threading.fact_of(event) if rule is not None and rule.mode != dispute_rules.IGNORE else None
        alerts_fact = None
        if self.alerts is not None:
            alerts_fact = self.alerts.fact_of(event, threading_fact["stage"] if threading_fact else None)
        at = to_millis(event.record["envelope"]["occurred_at"])
        nodes = [f"p:{p}" for p in dict.fromkeys(p for p in natural if p)]
        if threading_fact is not None:
            nodes += [f"k:{k}" for k in threading_fact["own"] + threading_fact["refs"]]
        if alerts_fact is not None and alerts_fact[6]:
            nodes += [f"a:{k}" for k in alerts_fact[6]]
        return [at, threading_fact, alerts_fact, orgs, natural], natural, nodes

    def _identity_changes(self, outputs: list[Output], index: StoryIndex) -> list[str]:
        """Unite the stories identity changes join; returns nodes of the stories whose events changed
        persons (they are replayed)."""
        stale: list[str] = []
        facts = index.facts
        persons_now, moved = self._persons(index.state)
        for out in outputs:
            rec = out.record
            if out.event_type == "PersonsMerged":
                retired, survivor = rec["retired_person_id"], rec["surviving_person_id"]
                persons_now.merge(retired, survivor)
                if index.known(f"p:{retired}"):
                    root = index.union(f"p:{retired}", f"p:{survivor}")
                    for event_id in index.events_of(root):
                        fact = facts[event_id]
                        if retired in fact[PERSONS]:
                            facts[event_id] = [*fact[:PERSONS], [survivor if p == retired else p for p in fact[PERSONS]]]
                    stale.append(root)
            elif out.event_type == "PersonSplit":
                persons_now.lift(rec["new_person_id"])
                moved.update(dict.fromkeys(rec["record_keys"], rec["new_person_id"]))
                touched = []
                for key in rec["record_keys"]:
                    event_id, index_text = key.rsplit("#", 1)
                    split_fact = facts.get(event_id)
                    if split_fact is not None:
                        persons = list(split_fact[PERSONS])
                        persons[int(index_text)] = rec["new_person_id"]
                        facts[event_id] = [*split_fact[:PERSONS], persons]
                        touched.append(f"e:{event_id}")
                if touched:
                    stale.append(index.union(f"p:{rec['new_person_id']}", touched[0]))
        return stale

    # -- fast path -----------------------------------------------------------------------------------
    def _incremental(self, event: Event, fact: list[Any], natural: list[str | None], state: State) -> list[Output]:
        outputs: list[Output] = []
        placement = None
        if fact[THREADING] is not None:
            store = DisputeStore(state)
            outputs = threading.place(store, threading.with_persons(fact[THREADING], natural))
            placement = next((o.record for o in outputs if o.record["event_ref"] == event.event_id
                              and not o.record["merged_into"]), None)
            model = Published(state)
            for i, out in enumerate(outputs):
                rec = out.record
                if rec["merged_into"]:
                    model.merge(rec["dispute_id"], rec["merged_into"])
                elif rec["event_ref"] != event.event_id:   # an event that waited for a number: placed now,
                    outputs[i] = self._first_placement(rec, store, state)   # after its EventResolved
        if self.alerts is not None and fact[ALERTING] is not None:
            store = self.alerts.store_of(state)
            self.alerts.apply_thread_merges(store, outputs)
            raised: list[Output] = []
            self.alerts.apply_fact(store, fact[ALERTING], natural, placement["dispute_id"] if placement else None,
                                   placement is not None, raised, live=True)
            self.alerts.advance(store, fact[ALERTING][2], fact[AT], raised)
            outputs += self._published_alerts(raised, state)
        return outputs

    def _first_placement(self, record: dict[str, Any], store: DisputeStore, state: State) -> Output:
        """The placement of an event whose EventResolved went out with no thread: a correction from no thread
        (previous_dispute_id ""), with every party's id, so that views move its rows."""
        event_id = record["event_ref"]
        return threading.correction_output(record["envelope"]["source_record_key"], store.events[event_id], event_id,
                                           record["dispute_id"], "", record["dispute_type"],
                                           self._parties_now(StoryIndex(state).facts[event_id]))

    @staticmethod
    def _persons(state: State) -> tuple[Redirects, MutableMapping[str, str]]:
        """The person merges this scope has seen (retired -> live) and the records splits moved."""
        return Redirects(state.table(PERSON_REDIRECT), state.table(PERSON_RETIRED)), state.table(MOVED)

    @staticmethod
    def _parties_now(fact: list[Any]) -> list[str]:
        return [org if org else (person or "") for org, person in zip(fact[ORGS], fact[PERSONS], strict=True)]

    def _published_alerts(self, outputs: list[Output], state: State) -> list[Output]:
        """Record the alert events as published; an alert raised again after a replay retracted it gets
        an event id of its own (consumers de-duplicate by event id)."""
        if not outputs:
            return outputs
        model = Published(state)
        alerts = state.table("alerts_alerts")
        published = []
        for out in outputs:
            alert_id = out.record["alert_id"]
            gen, status = model.alert(alert_id)
            if out.event_type == "AlertRaised":
                if status == USER:   # closed by a person: not reopened
                    alerts[alert_id] = {**alerts[alert_id], "status": "resolved", "resolution": "resolved"}
                    slots = state.table("alerts_active")
                    if slots.get(alerts[alert_id]["slot"]) == alert_id:
                        del slots[alerts[alert_id]["slot"]]
                    continue
                if status is not None:
                    gen += 1
                    out = Output(out.event_type, self._generation(out.record, gen), out.topic, out.key)
                    alerts[alert_id] = {**alerts[alert_id], "gen": gen, "record": out.record}
                model.set_alert(alert_id, max(gen, 0), OPEN)
            elif out.event_type == "AlertResolved" and status != USER:
                model.set_alert(alert_id, max(gen, 0), CLOSED)
            published.append(out)
        return published

    @staticmethod
    def _generation(record: dict[str, Any], gen: int) -> dict[str, Any]:
        from streams.alerts.records import generation

        return generation(record, gen)

    # -- slow path: replay a story -------------------------------------------------------------------
    def _replay(self, root: str, state: State, cause_at: int, new_event: str | None = None) -> list[Output]:
        """Replay a story from its facts on a scratch state, put the result in place of its part of the
        processors' state, and return the corrections that make consumers hold the same (`new_event`: the
        event being handled, whose EventResolved is still to go out)."""
        index = StoryIndex(state)
        events = sorted(index.events_of(root), key=lambda e: (index.facts[e][AT], e))
        persons, keys, alert_keys = index.nodes_of(root, "p"), index.nodes_of(root, "k"), index.nodes_of(root, "a")
        threads = [dispute_id_for(e) for e in events]
        scratch = DictState()
        parties = self._rebuild(events, index, state, scratch)
        old_placements = threading.forget_story(state, events, persons, keys)
        announced = set(events) - {new_event} if new_event else set(events)   # their EventResolved went out
        outputs = self._correct_threads(events, old_placements, scratch, parties, announced, state)
        threading.adopt_story(scratch, state)
        if self.alerts is not None:
            old_alerts, old_deadlines = self.alerts.forget_story(state, events, persons, threads, alert_keys)
            self.alerts.expire_replayed(scratch, state, old_deadlines)
            outputs += self._correct_alerts(old_alerts, scratch, state, cause_at)
            self.alerts.adopt_story(scratch, state, old_deadlines)
        return outputs

    def _rebuild(self, events: list[str], index: StoryIndex, state: State, scratch: State) -> dict[str, list[str]]:
        """The story's events in canonical order through the processors, on `scratch`; returns each
        event's current party ids (organisations: their id)."""
        disputes = DisputeStore(scratch)
        alerts = AlertStore(scratch) if self.alerts is not None else None
        parties: dict[str, list[str]] = {}
        for event_id in events:
            _, threading_fact, alerts_fact, orgs, natural = index.facts[event_id]
            parties[event_id] = self._parties_now(index.facts[event_id])
            threaded: list[Output] = []
            placement = None
            if threading_fact is not None:
                threaded = threading.place(disputes, threading.with_persons(threading_fact, natural), quiet=True)
                placement = disputes.events.get(event_id)   # None: a join-only event waiting for its number
            if self.alerts is not None and alerts is not None and alerts_fact is not None:
                self.alerts.apply_thread_merges(alerts, threaded)
                self.alerts.apply_fact(alerts, alerts_fact, natural, placement["d"] if placement else None,
                                       placement is not None, [], live=False)
        return parties

    def _correct_threads(self, events: list[str], old: dict[str, dict[str, Any]], scratch: State,
                         parties: dict[str, list[str]], announced: set[str], state: State) -> list[Output]:
        """Publish what makes consumers' threads equal the replay's: each event on its live thread, each
        retired thread redirected to its survivor."""
        model = Published(state)
        new = DisputeStore(scratch)
        held = {e: model.placed.get(e) or old[e]["d"] for e in events if e in old}
        target = {e: new.find(new.events[e]["d"]) for e in events if e in new.events}
        retired = sorted(t for t, thread in new.threads.items() if thread.get("merged_into"))
        order = sorted(events, key=lambda e: e not in held)   # published events first: they lift threads
        outputs: list[Output] = []
        # a thread consumers hold that the replay does not keep is redirected whole (one record, not one
        # per event): to its survivor, or to where most of its events went
        live_now = set(target.values())
        groups: dict[str, list[str]] = {}
        for event_id in events:
            if event_id in held and event_id in target:
                groups.setdefault(model.live(held[event_id]), []).append(event_id)
        for thread, members in sorted(groups.items()):
            if thread in live_now:
                continue
            if thread in new.threads:
                dest = new.find(thread)
            else:
                counts: dict[str, int] = {}
                for event_id in members:
                    counts[target[event_id]] = counts.get(target[event_id], 0) + 1
                dest = min(counts, key=lambda t: (-counts[t], t))
            if model.live(dest) != dest:
                continue   # its survivor is itself retired for consumers: the events move one by one
            key = f"disputes:redirect:{model.next_gen('d:' + thread)}:{thread}:{dest}"
            outputs.append(threading.redirect_output(key, {"founder": members[0]}, new.events[members[0]], thread,
                                                     dest, new.threads[dest]["type"] or "other",
                                                     "a late record or an identity change: threads replayed"))
            model.merge(thread, dest)
        for _ in range(PASSES):
            changed = False
            for event_id in order:
                found = target.get(event_id)
                current = model.live(held[event_id]) if event_id in held else None
                if found is None or current == found:
                    continue
                thread = found
                placement = new.events[event_id]
                kind = new.threads[thread]["type"] or "other"
                previous = current if current is not None else ("" if event_id in announced else None)
                if current is None:
                    key = f"disputes:{thread}:{event_id}"
                else:
                    key = f"disputes:moved:{model.next_gen('e:' + event_id)}:{event_id}:{thread}"
                if previous is not None:
                    model.lift(thread)
                outputs.append(threading.correction_output(key, placement, event_id, thread, previous, kind,
                                                           parties[event_id]))
                held[event_id] = thread
                changed = True
            for thread in retired:
                live = new.find(thread)
                if model.live(thread) == live:
                    continue
                record = new.threads[thread]
                key = f"disputes:redirect:{model.next_gen('d:' + thread)}:{thread}:{live}"
                outputs.append(threading.redirect_output(key, record, new.events[record["founder"]], thread, live,
                                                         new.threads[live]["type"] or "other",
                                                         "a late record or an identity change: threads replayed"))
                model.merge(thread, live)
                changed = True
            if not changed:
                break
        for event_id, thread in held.items():
            if event_id in new.events and thread != new.events[event_id]["d"]:
                model.placed[event_id] = thread
            else:
                model.placed.pop(event_id, None)
        return outputs

    def _correct_alerts(self, old: dict[str, dict[str, Any]], scratch: State, state: State,
                        cause_at: int) -> list[Output]:
        """Publish what makes consumers' alerts equal the replay's: alerts no longer raised are closed as
        superseded, alerts raised (again) are published; acknowledgements and closures by people stay."""
        from streams.alerts import records

        model = Published(state)
        new = scratch.table("alerts_alerts")
        active = scratch.table("alerts_active")
        outputs: list[Output] = []
        for alert_id in sorted(set(old) | set(new)):
            before = old.get(alert_id)
            gen, status = model.alert(alert_id)
            alert = new.get(alert_id)
            if alert is None or alert["status"] == "resolved":   # not raised (or not open) in the replay
                if status == OPEN:
                    gone = before or alert or {}
                    restriction = gone.get("record", {}).get("envelope", {}).get("restriction")
                    reason = "a late record or an identity change: the condition no longer holds"
                    record = records.resolved(alert_id, "system", "superseded", reason, cause_at, restriction, gen)
                    outputs.append(records.output("AlertResolved", record, gone["key"]))
                    model.set_alert(alert_id, gen, CLOSED)
                continue
            if status == USER:   # a person closed it: it stays closed
                new[alert_id] = {**alert, "status": "resolved", "resolution": "resolved", "gen": gen}
                if active.get(alert["slot"]) == alert_id:
                    del active[alert["slot"]]
                continue
            if before is not None and before.get("acks"):
                alert = {**alert, "status": before["status"], "acks": list(before["acks"])}
            if status != OPEN or (before is not None and not _same_alert(before["record"], alert["record"])):
                gen += 1   # -1 (never published) -> 0: the alert's first AlertRaised
                record = records.generation(alert["record"], gen)
                outputs.append(records.output("AlertRaised", record, alert["key"]))
                model.set_alert(alert_id, gen, OPEN)
                alert = {**alert, "record": record}
            new[alert_id] = {**alert, "gen": max(gen, 0)}
        return outputs

    # -- queries -------------------------------------------------------------------------------------
    def _placement_of(self, event_id: str, state: State) -> dict[str, Any] | None:
        """The thread consumers hold the event on (live) and its stage, or None."""
        placement = DisputeStore(state).events.get(event_id)
        if placement is None:
            return None
        model = Published(state)
        return {"dispute_id": model.live(model.placed.get(event_id) or placement["d"]), "stage": placement["stage"]}


def _same_alert(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Two AlertRaised records of one alert say the same (publications differ only in their event ids)."""
    fields = ("rule", "person_id", "dispute_id", "evidence_event_ids", "message")
    return all(a[f] == b[f] for f in fields) and a["envelope"]["occurred_at"] == b["envelope"]["occurred_at"] \
        and a["envelope"]["restriction"] == b["envelope"]["restriction"]
