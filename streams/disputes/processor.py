"""Dispute threading: records of one dispute across agencies become one thread (see README.md).

`handle_resolved(event, person_ids, state)` places an agency event on a thread: through the
numbers it carries (its own case number, the records it references), else by inference (shared
resolved parties, compatible dispute type, time window), else on a new thread. Numbers that name
two threads merge them. `on_persons_merged` re-threads when a person merge reveals a link.
Every decision is a DisputeThreaded event on the disputes topic, keyed by the dispute id.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from runtime.clock import to_millis, to_utc
from streams.disputes import rules
from streams.disputes.store import ALIASES, EVENTS, KEYS, PENDING, PERSONS, THREADS, Store, dispute_id_for
from streams.envelope import hub_envelope, record_ref
from streams.processor import AGENCY_TOPICS, DISPUTES_TOPIC, IDENTITY_TOPIC, Event, Output, State

DAY_MS = rules.DAY_MS


class DisputeProcessor:
    name = "disputes"
    input_topics: tuple[str, ...] = (*AGENCY_TOPICS, IDENTITY_TOPIC)

    # -- entry points -------------------------------------------------------------------------
    def handle(self, event: Event, state: State) -> list[Output]:
        """Runner entry without identity: PersonsMerged re-threads; an agency event is threaded on
        its numbers alone (the runner should call `handle_resolved` with resolved persons)."""
        if event.event_type == "PersonsMerged":
            rec = event.record
            return self.on_persons_merged(rec["surviving_person_id"], rec["retired_person_id"],
                                          rec["envelope"]["occurred_at"], state)
        if event.event_type not in rules.RULES:
            return []
        return self.handle_resolved(event, [None] * len(event.record.get("parties") or ()), state)

    def handle_resolved(self, event: Event, person_ids: list[str | None], state: State) -> list[Output]:
        rule = rules.rule_of(event.event_type)
        if rule is None or rule.mode == rules.IGNORE:
            return []
        store = Store(state)
        event_id = event.event_id
        if event_id in store.events:   # handled before: the same decision again, nothing changes
            return [_placement_output(event_id, store.events[event_id])]
        info = with_persons(fact_of(event), [store.person(p) if p else None for p in person_ids])
        return place(store, info)

    def on_persons_merged(self, surviving_id: str, retired_id: str, occurred_at: Any,
                          state: State) -> list[Output]:
        """The identity resolver found two persons to be one: move the retired person's threads to
        the survivor and merge threads that now share parties and are compatible."""
        store = Store(state)
        survivor, retired = store.person(surviving_id), store.person(retired_id)
        if survivor == retired:
            return []
        store.aliases[retired] = survivor
        retired_threads = store.threads_of_person(retired)
        for dispute_id in retired_threads:
            thread = dict(store.threads[dispute_id])
            thread["persons"] = list(dict.fromkeys(survivor if p == retired else p for p in thread["persons"]))
            store.threads[dispute_id] = thread
            store.add_person_thread(survivor, dispute_id)
        store.persons.pop(retired, None)
        at = to_millis(occurred_at)
        outputs: list[Output] = []
        _relink(store, retired_threads, survivor, f"person merge of {retired} into {survivor} links the threads",
                at, at, outputs)
        return outputs

    # -- queries for the views ----------------------------------------------------------------
    def thread_of(self, event_id: str, state: State) -> str | None:
        return thread_of(event_id, state)

    def timeline(self, dispute_id: str, state: State) -> list[tuple[datetime, str, str, str]]:
        return timeline(dispute_id, state)


def thread_of(event_id: str, state: State) -> str | None:
    """The current thread of an event (after merges), or None when it is on no thread."""
    store = Store(state)
    placement = store.events.get(event_id)
    return store.find(placement["d"]) if placement is not None else None


def timeline(dispute_id: str, state: State) -> list[tuple[datetime, str, str, str]]:
    """(occurred_at, stage, agency, event_id) of the thread's events, oldest first."""
    store = Store(state)
    thread = store.threads.get(store.find(dispute_id))
    if thread is None:
        return []
    rows = []
    for event_id in thread["members"]:
        p = store.events[event_id]
        rows.append((p["at"], p["stage"], p["agency"], event_id))
    rows.sort()
    return [(to_utc(at), stage, agency, event_id) for at, stage, agency, event_id in rows]


# --- placing events ---------------------------------------------------------------------------------
def fact_of(event: Event) -> dict[str, Any]:
    """What threading needs of an agency event, persons apart: its numbers, stage, type and times (a
    story replays it from this, never from the payload)."""
    record = event.record
    env = record["envelope"]
    own, refs = rules.event_keys(event.event_type, record)
    return {
        "eid": event.event_id, "event_type": event.event_type, "agency": env["source"]["agency"],
        "stage": rules.stage_of(event.event_type, record), "type": rules.dispute_type_of(event.event_type, record),
        "at": to_millis(env["occurred_at"]), "rec": to_millis(env.get("recorded_at") or env["occurred_at"]),
        "own": own, "refs": refs, "restriction": env.get("restriction"),
    }


def with_persons(fact: dict[str, Any], person_ids: list[str | None]) -> dict[str, Any]:
    """The fact with the resolved person of each party (None: unresolved, or an organisation)."""
    return {
        **fact,
        "persons": list(dict.fromkeys(p for p in person_ids if p)),
        "first_person": person_ids[0] if person_ids else None,
        # a legal-aid applicant links the thread to the applicant's own dispute even alone
        "anchor": person_ids[0] if person_ids and rules.RULES[fact["event_type"]].applicant_only else None,
    }


class Quiet(list[Output]):
    """The outputs of a replay on a scratch state: no placement record is built (the state holds the
    placements), and a thread merge is one bare record (dispute_id, merged_into) for the alert processor."""


def place(store: Store, info: dict[str, Any], quiet: bool = False) -> list[Output]:
    """Thread one event (`with_persons(fact_of(event), ...)`): by its numbers, else by inference, else on a
    new thread; a join-only event with no known number waits. Returns the DisputeThreaded decisions."""
    rule = rules.RULES[info["event_type"]]
    event_id = info["eid"]
    outputs: list[Output] = Quiet() if quiet else []
    keys = info["own"] + info["refs"]
    bound = sorted({d for d in (store.thread_of_key(k) for k in keys) if d is not None})
    if bound:
        target = bound[0]
        for other in bound[1:]:
            target = _merge(store, target, other, f"record {event_id} names numbers of both threads",
                            info["at"], info["rec"], outputs)
        matched = [k for k in keys if store.thread_of_key(k) is not None]
        method, evidence = "explicit_reference", "number " + ", ".join(matched) + " is on the thread"
    elif rule.mode == rules.JOIN_ONLY:
        _wait(store, info)
        return []
    else:
        found = _infer(store, info, rule)
        if found is not None:
            target, evidence = found
            method = "inferred"
        else:
            target = store.new_thread(event_id, info["type"], info["at"])
            method, evidence = "new_thread", "no referenced record and no matching thread"
    _place(store, target, info, method, evidence, outputs)
    return outputs


def _place(store: Store, target: str, info: dict[str, Any], method: str, evidence: str,
           outputs: list[Output]) -> None:
    """Put an event on a thread, bind its numbers to the thread, then place the join-only events that
    were waiting for those numbers (which may bind further numbers, or merge threads)."""
    queue: list[tuple[dict[str, Any], str, str]] = [(info, method, evidence)]
    while queue:
        item, how, why = queue.pop(0)
        if item["eid"] in store.events:
            continue
        target = store.find(target)
        for key in item["own"] + item["refs"]:
            other = store.thread_of_key(key)
            if other is not None and other != target:
                target = _merge(store, target, other, f"record {item['eid']} names numbers of both threads",
                                item["at"], item["rec"], outputs)
        thread = dict(store.threads[target])
        thread["type"] = rules.refine_type(thread["type"], item["type"])
        thread["first"] = min(thread["first"], item["at"])
        thread["last"] = max(thread["last"], item["at"])
        thread["persons"] = list(dict.fromkeys(thread["persons"] + item["persons"]))
        thread["members"] = [*thread["members"], item["eid"]]
        if item["stage"] not in thread["stages"]:
            thread["stages"] = [*thread["stages"], item["stage"]]
        if item["anchor"]:
            thread["anchors"] = [*thread["anchors"], [item["anchor"], item["at"]]]
        if item["first_person"] and item["first_person"] not in thread["leads"]:
            thread["leads"] = [*thread["leads"], item["first_person"]]
        for person in item["persons"]:
            store.add_person_thread(person, target)
        for key in item["own"] + item["refs"]:
            if key not in store.keys:
                store.keys[key] = target
                thread["keys"] = [*thread["keys"], key]
                for stub in store.pending.pop(key, []):
                    queue.append((stub, "explicit_reference", f"number {key} is on the thread"))
        store.threads[target] = thread
        placement = {"d": target, "stage": item["stage"], "method": how, "evidence": why,
                     "persons": item["persons"], "at": item["at"], "rec": item["rec"], "agency": item["agency"],
                     "event_type": item["event_type"], "type": thread["type"] or "other",
                     "restriction": item["restriction"]}
        store.events[item["eid"]] = placement
        if not isinstance(outputs, Quiet):
            outputs.append(_placement_output(item["eid"], placement))
        # the thread grew (span, parties, an applicant): threads of its parties may now be linkable
        for person in item["persons"]:
            _relink(store, [target], person, f"record {item['eid']} brings the threads together",
                    item["at"], item["rec"], outputs)


def _wait(store: Store, info: dict[str, Any]) -> None:
    """A join-only event with no thread yet waits under each of its numbers."""
    for key in info["own"] + info["refs"]:
        waiting = store.pending.get(key, [])
        if all(stub["eid"] != info["eid"] for stub in waiting):
            store.pending[key] = [*waiting, info]


def _infer(store: Store, info: dict[str, Any], rule: rules.Rule) -> tuple[str, str] | None:
    """The best thread sharing resolved parties with the event, of a compatible type, within the window."""
    persons = store.telling(info["persons"])
    best: tuple[tuple[int, int, int], str, str] | None = None
    for dispute_id in sorted({d for p in persons for d in store.threads_of_person(p)}):
        thread = store.threads[dispute_id]
        thread_persons = store.telling(thread["persons"])
        shared = persons & thread_persons
        if not rules.compatible(info["type"], thread["type"], len(shared)):
            continue
        kind = rules.refine_type(info["type"], thread["type"])
        if info["stage"] == "incident" and "incident" in thread["stages"] \
                and not rules.one_story_per_pair(kind, len(shared)):
            continue   # a new police call is a new dispute, except a couple's
        own_anchor = rule.applicant_only and info["first_person"] in shared
        anchored = (own_anchor and rules.anchor_links(info["type"], thread["type"], thread["first"],
                                                      thread["last"], [info["at"]])) or \
            rules.anchor_links(thread["type"], info["type"], info["at"], info["at"],
                               [at for p, at in thread["anchors"] if p in shared])
        if not rules.overlap_is_enough(len(shared), len(persons), len(thread_persons), anchored):
            continue
        gap = rules.gap_ms(info["at"], thread["first"], thread["last"])
        if gap > rules.window_ms(kind, len(shared)):
            continue
        lead = info["first_person"] in thread["leads"]   # same first party (reporter, plaintiff, applicant)
        score = (len(shared), int(lead), -gap)
        if best is None or score > best[0]:   # ties: the smallest id, seen first
            evidence = (f"shares {len(shared)} resolved part{'y' if len(shared) == 1 else 'ies'} "
                        f"({', '.join(sorted(shared))}){' with a legal-aid applicant' if anchored else ''}; "
                        f"type {info['type'] or 'unknown'} fits {thread['type'] or 'unknown'}; "
                        f"{gap // DAY_MS} days from the thread")
            best = (score, dispute_id, evidence)
    return (best[1], best[2]) if best is not None else None


def _relink(store: Store, threads: list[str], person: str, evidence: str, at: int, rec: int,
            outputs: list[Output]) -> None:
    """Merge each of `threads` with the threads of `person` it is now linkable to."""
    if store.is_hub(person):
        return
    changed = True
    while changed:   # merging two threads may make the result linkable to a third
        changed = False
        for a in sorted({store.find(d) for d in threads}):
            for b in store.threads_of_person(person):
                a = store.find(a)
                if a != b and _linkable(store, store.threads[a], store.threads[b]):
                    _merge(store, a, b, evidence, at, rec, outputs)
                    changed = True
                    break
            if changed:
                break


def _linkable(store: Store, a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two threads would have been linked by inference had their parties been known as one."""
    persons_a, persons_b = store.telling(a["persons"]), store.telling(b["persons"])
    shared = persons_a & persons_b
    if not rules.compatible(a["type"], b["type"], len(shared)):
        return False
    kind = rules.refine_type(a["type"], b["type"])
    if "incident" in a["stages"] and "incident" in b["stages"] \
            and not rules.one_story_per_pair(kind, len(shared)):
        return False
    anchored = rules.anchor_links(a["type"], b["type"], b["first"], b["last"],
                                  [at for p, at in a["anchors"] if p in shared]) or \
        rules.anchor_links(b["type"], a["type"], a["first"], a["last"],
                           [at for p, at in b["anchors"] if p in shared])
    if not rules.overlap_is_enough(len(shared), len(persons_a), len(persons_b), anchored):
        return False
    gap = max(0, b["first"] - a["last"], a["first"] - b["last"])
    return gap <= rules.window_ms(kind, len(shared))


def _merge(store: Store, a: str, b: str, evidence: str, at: int, rec: int, outputs: list[Output]) -> str:
    """Merge two threads; the older one (then the smaller id) survives. Returns the survivor."""
    a, b = store.find(a), store.find(b)
    if a == b:
        return a
    ta, tb = store.threads[a], store.threads[b]
    survivor, retired = (a, b) if (ta["first"], a) <= (tb["first"], b) else (b, a)
    kept, gone = dict(store.threads[survivor]), store.threads[retired]
    kept["type"] = rules.refine_type(kept["type"], gone["type"])
    kept["first"] = min(kept["first"], gone["first"])
    kept["last"] = max(kept["last"], gone["last"])
    kept["persons"] = list(dict.fromkeys(kept["persons"] + gone["persons"]))
    kept["members"] = kept["members"] + gone["members"]
    kept["keys"] = kept["keys"] + gone["keys"]
    kept["anchors"] = kept["anchors"] + gone["anchors"]
    kept["stages"] = list(dict.fromkeys(kept["stages"] + gone["stages"]))
    kept["leads"] = list(dict.fromkeys(kept["leads"] + gone["leads"]))
    store.threads[survivor] = kept
    store.threads[retired] = {"founder": gone["founder"], "merged_into": survivor, "first": gone["first"]}
    for person in gone["persons"]:
        current = [d for d in store.persons.get(person, []) if d != retired]
        store.persons[person] = current + ([survivor] if survivor not in current else [])
    if isinstance(outputs, Quiet):
        outputs.append(Output("DisputeThreaded", {"dispute_id": retired, "merged_into": survivor, "event_ref": ""},
                              DISPUTES_TOPIC, survivor))
        return survivor
    for event_id in gone["members"]:
        placement = store.events[event_id]
        key = f"disputes:merge:{retired}:{survivor}:{event_id}"
        record = _threaded_record(key, at, rec, placement, retired, event_id, "merged", evidence, survivor,
                                  kept["type"] or "other")
        outputs.append(Output("DisputeThreaded", record, DISPUTES_TOPIC, survivor))
    return survivor


# --- a story's threads, taken out and put back (streams/stories replays a story on a scratch state) ----
def forget_story(state: State, events: list[str], persons: list[str], keys: list[str]) -> dict[str, dict[str, Any]]:
    """Remove what the threading state holds about a story (its events, the threads they founded, its
    numbers and persons); returns the events' placements as they were."""
    store = Store(state)
    old = {e: store.events.pop(e) for e in events if e in store.events}
    for e in events:
        store.threads.pop(dispute_id_for(e), None)
    for key in keys:
        store.keys.pop(key, None)
        store.pending.pop(key, None)
    for person in persons:
        store.persons.pop(person, None)
        store.aliases.pop(person, None)
    return old


def adopt_story(scratch: State, state: State) -> None:
    """Copy a story rebuilt on `scratch` into `state` (after `forget_story`)."""
    for name in (THREADS, EVENTS, KEYS, PERSONS, ALIASES, PENDING):
        state.table(name).update(scratch.table(name))


def correction_output(key: str, placement: dict[str, Any], event_id: str, dispute_id: str, previous: str | None,
                      dispute_type: str, person_ids: list[str]) -> Output:
    """`event_id` is on `dispute_id` now (previously on `previous` as consumers held it; "": on no thread,
    after its EventResolved; None: its first placement), with the method and evidence of the decision."""
    record = _threaded_record(key, placement["at"], placement["rec"], placement, dispute_id, event_id,
                              placement["method"], placement["evidence"], None, dispute_type, previous)
    if previous is not None:
        record["person_ids"] = list(person_ids)
    return Output("DisputeThreaded", record, DISPUTES_TOPIC, dispute_id)


def redirect_output(key: str, thread: dict[str, Any], placement: dict[str, Any], retired: str, survivor: str,
                    dispute_type: str, evidence: str) -> Output:
    """Thread `retired` is merged into `survivor` (one record, about the retired thread's founder)."""
    record = _threaded_record(key, placement["at"], placement["rec"], placement, retired, thread["founder"],
                              "merged", evidence, survivor, dispute_type)
    return Output("DisputeThreaded", record, DISPUTES_TOPIC, survivor)


# --- output records ---------------------------------------------------------------------------------
def _placement_output(event_id: str, placement: dict[str, Any]) -> Output:
    key = f"disputes:{placement['d']}:{event_id}"
    record = _threaded_record(key, placement["at"], placement["rec"], placement, placement["d"], event_id,
                              placement["method"], placement["evidence"], None, placement["type"])
    return Output("DisputeThreaded", record, DISPUTES_TOPIC, placement["d"])


def _threaded_record(key: str, at: int, rec: int, placement: dict[str, Any], dispute_id: str, event_id: str,
                     method: str, evidence: str, merged_into: str | None, dispute_type: str,
                     previous: str | None = None) -> dict[str, Any]:
    related = [record_ref(placement["agency"], placement["event_type"], event_id, "threads")]
    return {
        "envelope": hub_envelope("DisputeThreaded", key, at, recorded_at=rec, related=related,
                                 restriction=placement["restriction"]),
        "dispute_id": dispute_id,
        "event_ref": event_id,
        "stage": placement["stage"],
        "dispute_type": dispute_type,
        "method": method,
        "evidence": evidence,
        "person_ids": list(placement["persons"]),
        "merged_into": merged_into,
        "previous_dispute_id": previous,
    }
