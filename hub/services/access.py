"""What a caller may see of a person: every read passes the access gate first (token, role,
purpose, case — audited, allowed or not), then returns only the event types the decision allows,
hides restricted records the role may not see, and reveals only the allowed field classes; every
masked field says why it is masked.

The API routes and the CLI both call these functions and get the same JSON-ready dicts.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from consent.access.audit import decode_record
from consent.access.cases import case_ref
from consent.access.decisions import IDENTIFIER_LOOKUP, AccessDecision
from consent.access.gate import GateResult
from consent.access.policy import FIELD_CLASSES, Policy
from consent.access.users import AuthError
from consent.privacy.protect import ERASED, MASK_PREFIX
from hub.services import queries
from hub.services.context import AppServices
from runtime.clock import iso_utc, local_text_or_none, zone
from schemas import loader
from schemas.wire import default_codec
from streams.identity.events import PARTY_ID

# why a field class is masked (codes; the web page and CLI label them)
MASK_NEEDS_CONSENT = "needs_consent"  # the rule grants it with the subject's consent, and there is none
MASK_NOT_FOR_PURPOSE = "not_for_purpose"  # the role's rule for this purpose never grants it
MASK_ERASED = "erased"  # the subject's key was destroyed (erasure)
MASK_OTHER_PARTY = "other_party"  # visible of the subject, but this is another party of the record (least data)
NO_MATCH_REASON = "no_subject"  # a search that matched nobody: the case was checked, no subject to bind
# refusals that would tell a caller "this person exists, but is not yours": answered as no match
UNBOUND_REASONS = frozenset({"not_party", "not_supervising_office"})


class AccessRefused(Exception):
    """The gate refused the call (400, 401 or 403) or the request is malformed (4xx); already audited
    when it came from the gate. Carries codes only, never personal data — and, for an unknown role or
    purpose, the valid ones (`valid`), so the caller can correct it."""

    def __init__(self, status: int, reason: str, *, audit_seq: int | None = None, rule: str = "",
                 valid: list[str] | None = None) -> None:
        super().__init__(f"{status} {reason}")
        self.status, self.reason, self.audit_seq, self.rule, self.valid = status, reason, audit_seq, rule, valid

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"status": self.status, "reason": self.reason, "rule": self.rule,
                                 "audit_seq": self.audit_seq}
        if self.valid is not None:
            error["valid"] = self.valid
        return {"error": error}

    def message(self) -> str:
        """One line for the command line: status, code, rule, the audit record, the valid values."""
        text = f"{self.status} {self.reason}"
        if self.rule and self.status == 400:
            text += f" ({self.rule})"
        if self.audit_seq is not None:
            text += f" (audit record #{self.audit_seq})"
        if self.valid:
            text += "; valid: " + ", ".join(self.valid)
        return text


@dataclass(frozen=True, slots=True)
class Caller:
    token: str
    role: str
    purpose: str
    case_id: str | None = None
    break_glass_reason: str | None = None


class PersonAccess:
    def __init__(self, services: AppServices) -> None:
        self.services = services
        self.store = services.store
        self.codec = default_codec()
        self.zone = services.settings.timezone  # display fields (`*_local`) are in the agencies' zone

    def _local(self, value: datetime | None) -> str | None:
        return local_text_or_none(value, self.zone)

    # -- the gate --------------------------------------------------------------------------------
    def check(self, caller: Caller, subject: str | None, *, lookup: str = "") -> GateResult:
        self.services.refresh()
        return self.services.gate.check(caller.token, role=caller.role, purpose=caller.purpose,
                                        case_id=caller.case_id or None, subject=subject,
                                        break_glass_reason=caller.break_glass_reason or None,
                                        now=self.services.now(), lookup=lookup)

    def _allowed(self, caller: Caller, subject: str | None) -> AccessDecision:
        return self.require(caller, subject).decision  # type: ignore[return-value]

    def require(self, caller: Caller, subject: str | None, *, lookup: str = "") -> GateResult:
        """The gate's allowing result (audited), or AccessRefused (audited too)."""
        result = self.check(caller, subject, lookup=lookup)
        if result.status != 200 or result.decision is None:
            raise self._refusal(result, caller)
        return result

    def _refusal(self, result: GateResult, caller: Caller) -> AccessRefused:
        refused = _refusal(result)
        policy = self.services.policy
        if refused.reason == "unknown_role":
            refused.valid = sorted(policy.roles)
        elif refused.reason in ("unknown_purpose", "no_rule"):
            refused.valid = sorted(p for (r, p) in policy.rules if r == caller.role) or sorted(policy.purposes)
        return refused

    def whoami(self, token: str) -> dict[str, Any]:
        """The caller's identity, roles and the purposes the policy gives each role. A bad token is
        audited as a 401 like any other call."""
        from consent.access.audit import AuditEntry

        now = self.services.now()
        try:
            user = self.services.users.authenticate(token, now)
        except AuthError as exc:
            record = self.services.trail.append(AuditEntry.unauthenticated(exc.reason, now, user=exc.user_id or ""))
            raise AccessRefused(401, exc.reason, audit_seq=record.seq, rule="authentication") from None
        policy = self.services.policy
        return {"user_id": user.user_id, "display_name": user.display_name, "organisation": user.organisation,
                "offices": list(user.offices), "zone": self.zone,
                "roles": [{"role": role, "description": policy.roles.get(role, ""),
                           "purposes": sorted(p for (r, p) in policy.rules if r == role)} for role in user.roles]}

    def _resolve(self, person_id: str) -> list[str]:
        """The person's ids (live first). A path that is no person id is refused before the gate: it may
        hold anything — a name, an ID number — and the gate would audit it as the subject."""
        if not PARTY_ID.fullmatch(person_id):
            raise AccessRefused(422, "malformed_person_id")
        feed = self.services.feed
        if feed is not None:  # merges known from the log: no redirect query on the read path
            self.services.refresh()
            return feed.person_ids(person_id)
        return queries.resolve_person(self.store, person_id)

    # -- find --------------------------------------------------------------------------------------
    def find(self, caller: Caller, *, id_number: str | None = None, phone: str | None = None,
             name: str | None = None, date_of_birth: str | None = None) -> dict[str, Any]:
        """Persons matching one identifier, blind-indexed here: the value never reaches the store.

        No existence oracle: to a caller bound to none of the persons found (not a party of the case,
        not the supervising office), the answer is the one for an identifier nobody has — 200 with no
        results, after the same work (one look-up, one audited check per person found, or one for
        nobody). Each refusal is still on the audit trail, for the DPO."""
        kind, bi, problem = self._blind_index(id_number, phone, name, date_of_birth)
        candidates = queries.find_person_ids(self.store, kind, bi) if bi else []
        nobody: dict[str, Any] = {"matched_by": kind, "results": [], "problem": problem}
        if not candidates:
            result = self.check(caller, None, lookup=IDENTIFIER_LOOKUP)
            decision = result.decision
            if decision is None or not (decision.allowed or decision.reason == NO_MATCH_REASON):
                raise self._refusal(result, caller)
            return nobody
        results, refusals = [], []
        for person_id in candidates:
            result = self.check(caller, person_id, lookup=IDENTIFIER_LOOKUP)
            if result.status in (400, 401):
                raise self._refusal(result, caller)  # one audited 400 / 401 is enough
            if result.status == 200 and result.decision is not None:
                results.append(self._person_card(person_id, result.decision, kind))
            else:
                refusals.append(result)
        if not results:
            refused = refusals[0]
            if refused.decision is not None and refused.decision.reason in UNBOUND_REASONS:
                return nobody
            raise self._refusal(refused, caller)
        return {"matched_by": kind, "results": results, "problem": problem}

    def _blind_index(self, id_number: str | None, phone: str | None, name: str | None,
                     date_of_birth: str | None) -> tuple[str, str | None, str | None]:
        blind = self.services.protector.blind
        given = [k for k, v in (("id_number", id_number), ("phone", phone), ("name", name)) if v]
        if len(given) != 1:
            raise AccessRefused(422, "give exactly one of id_number, phone, or name with date_of_birth")
        if id_number:
            bi, valid = blind.id_number(id_number)
            return "id_number", bi if valid else None, None if valid else "id_number_invalid"
        if phone:
            phone_bi = blind.phone(phone)
            return "phone", phone_bi, None if phone_bi else "phone_invalid"
        if not date_of_birth:
            raise AccessRefused(422, "name needs date_of_birth (YYYY-MM-DD)")
        return "name_dob", blind.name_dob(name or "", date_of_birth), None

    def _person_card(self, person_id: str, decision: AccessDecision, matched_by: str | None) -> dict[str, Any]:
        ids = queries.person_ids_of(self.store, person_id)
        summary = queries.person_summary(self.store, ids, decision.event_types)
        rows, _ = queries.history_rows(self.store, ids, decision.event_types, queries.HistoryFilter(limit=5))
        party = None
        now = self.services.now()
        for row in rows:
            event_type, record = self.codec.decode(base64.b64decode(row["payload"]))
            if not self._hidden(row, event_type, record, decision, now):
                party = self._reveal(row, event_type, record, decision)["fields"]["parties"][row["party_index"]]
                break
        return {"person_id": person_id, "matched_by": matched_by, "events": summary["events"],
                "agencies": summary["agencies"], "first_at": iso_utc(summary["first_at"]),
                "last_at": iso_utc(summary["last_at"]), "first_local": self._local(summary["first_at"]),
                "last_local": self._local(summary["last_at"]), "party": party, "access": _access(decision)}

    # -- the case the caller works on ----------------------------------------------------------------
    def case_parties(self, caller: Caller) -> dict[str, Any]:
        """The case named by the caller and the parties the caller may see (each one checked)."""
        self.services.refresh()
        case = self.services.cases.case(caller.case_id or "")
        if case is None:
            self._allowed(caller, None)  # audited: no_case / case_not_found (or 401)
            raise AccessRefused(404, "case_not_found")
        parties, needs_consent = [], []
        refused = None
        for person_id in sorted(case.parties):
            result = self.check(caller, person_id)
            if result.status in (400, 401):
                raise self._refusal(result, caller)
            if result.status == 200 and result.decision is not None:
                parties.append(self._person_card(person_id, result.decision, None))
            elif result.decision is not None and result.decision.reason == "no_consent":
                # the caller's own case, under a rule that needs the party's consent (legal aid): the
                # party's id only, so that the consent taken at intake can be recorded — nothing else
                needs_consent.append(person_id)
            elif refused is None:
                refused = result
        if not parties and not needs_consent and refused is not None:
            raise self._refusal(refused, caller)
        return {"case_id": case.case_id, "kind": case.kind, "open": case.is_open, "office": case.office,
                "office_name": case.office_name,
                "opened_at": iso_utc(case.opened_at), "closed_at": iso_utc(case.closed_at),
                "opened_local": self._local(case.opened_at), "closed_local": self._local(case.closed_at),
                "parties": parties, "needs_consent": needs_consent}

    # -- history -------------------------------------------------------------------------------------
    def history(self, caller: Caller, person_id: str, flt: queries.HistoryFilter | None = None) -> dict[str, Any]:
        flt = flt or queries.HistoryFilter()
        ids = self._resolve(person_id)
        live = ids[0]
        decision = self._allowed(caller, live)
        rows, total = queries.history_rows(self.store, ids, decision.event_types, flt)
        feed = self.services.feed
        redirects = ({r["dispute_id"]: feed.live_dispute(r["dispute_id"]) for r in rows if r["dispute_id"]}
                     if feed is not None else queries.dispute_redirects(self.store, (r["dispute_id"] for r in rows)))
        now = self.services.now()
        entries, hidden = [], 0
        for row in rows:
            event_type, record = self.codec.decode(base64.b64decode(row["payload"]))
            if self._hidden(row, event_type, record, decision, now):
                hidden += 1
                continue
            entry = self._reveal(row, event_type, record, decision)
            entry["dispute_id"] = redirects.get(row["dispute_id"], row["dispute_id"]) or None
            entries.append(entry)
        return {"person_id": live, "ids": ids, "total": total, "limit": flt.limit, "offset": flt.offset,
                "hidden_restricted": hidden, "entries": entries, "access": _access(decision)}

    def _hidden(self, row: dict[str, Any], event_type: str, record: dict[str, Any], decision: AccessDecision,
                now: datetime) -> bool:
        """A restricted record (sealed juvenile case, covert matter) the role may not see. The restriction
        store knows lifts and case-wide restrictions; the record's own envelope is the fallback."""
        kind = self.services.restrictions.restriction_for(row["event_id"], case_ref(event_type, record), now)
        if kind is None and row["restricted"]:
            restriction = (record.get("envelope") or {}).get("restriction") or {}
            until = restriction.get("until")
            if until is not None and not isinstance(until, datetime):
                until = datetime.fromtimestamp(int(until) / 1000, UTC)
            if until is None or until > now:
                kind = str(restriction.get("kind") or "other")
        return kind is not None and kind not in decision.visible_restrictions

    def _reveal(self, row: dict[str, Any], event_type: str, record: dict[str, Any],
                decision: AccessDecision) -> dict[str, Any]:
        schema = loader.get(event_type).expanded
        revealed = _json_ready(self.services.protector.reveal(record, schema, row["event_id"],
                                                             decision.field_classes))
        envelope = revealed.pop("envelope", {}) or {}
        own = row["party_index"]
        for index, party in enumerate(revealed.get("parties") or ()):
            party.pop("protection", None)
            if index != own:
                _mask_other_party(party, decision.other_party_classes)
        reasons = mask_reasons(self.services.policy, decision)
        masked: list[dict[str, str]] = []
        _collect_masks(revealed, "", reasons, masked)
        for mask in masked:  # masked of another party though the subject's own field of that class shows
            if mask["class"] in decision.field_classes and _party_index(mask["field"]) not in (None, own):
                mask["reason"] = MASK_OTHER_PARTY
        source = envelope.get("source") or {}
        return {"event_id": row["event_id"], "event_type": event_type, "agency": row["agency"],
                "office_code": row["office_code"], "office_name": source.get("office_name", ""),
                "stage": row["stage"] or None, "occurred_at": iso_utc(row["occurred_at"]),
                "occurred_local": self._local(row["occurred_at"]),
                "dispute_id": row["dispute_id"] or None, "role": row["role"], "party_index": row["party_index"],
                "case_ref": case_ref(event_type, record), "fields": revealed, "masked": masked}

    # -- disputes --------------------------------------------------------------------------------------
    def disputes(self, caller: Caller, person_id: str) -> dict[str, Any]:
        """The threads the person is in, each with its stages across agencies (events of the types the
        caller may see, restricted ones left out)."""
        ids = self._resolve(person_id)
        live = ids[0]
        decision = self._allowed(caller, live)
        stored = queries.person_dispute_ids(self.store, ids, decision.event_types)
        redirects = queries.dispute_redirects(self.store, stored)
        live_ids = sorted({redirects.get(d, d) for d in stored})
        all_ids = sorted(set(live_ids) | set(stored))
        events = queries.thread_events(self.store, all_ids, decision.event_types)
        now = self.services.now()
        threads: dict[str, dict[str, Any]] = {d: {"dispute_id": d, "events": []} for d in live_ids}
        for event in events:
            if self._thread_event_hidden(event, decision, now):
                continue
            thread = threads[redirects.get(event["dispute_id"], event["dispute_id"])]
            thread["events"].append({"event_id": event["event_id"], "event_type": event["event_type"],
                                     "agency": event["agency"], "stage": event["stage"],
                                     "occurred_at": iso_utc(event["occurred_at"]),
                                     "occurred_local": self._local(event["occurred_at"])})
        out = []
        for thread in threads.values():
            evs = thread["events"]
            thread.update(agencies=sorted({e["agency"] for e in evs}), stages=[e["stage"] for e in evs],
                          first_at=evs[0]["occurred_at"] if evs else None,
                          last_at=evs[-1]["occurred_at"] if evs else None,
                          first_local=evs[0]["occurred_local"] if evs else None,
                          last_local=evs[-1]["occurred_local"] if evs else None)
            out.append(thread)
        out.sort(key=lambda t: t["last_at"] or "", reverse=True)
        return {"person_id": live, "disputes": out, "access": _access(decision)}

    def _thread_event_hidden(self, event: dict[str, Any], decision: AccessDecision, now: datetime) -> bool:
        kind = self.services.restrictions.restriction_for(event["event_id"], None, now)
        return kind is not None and kind not in decision.visible_restrictions

    # -- alerts ------------------------------------------------------------------------------------------
    def alerts(self, caller: Caller, person_id: str) -> dict[str, Any]:
        """The person's alerts addressed to the caller's role (red / yellow / blue)."""
        ids = self._resolve(person_id)
        live = ids[0]
        decision = self._allowed(caller, live)
        return {"person_id": live, "alerts": self._alerts_of(ids, caller.role, decision), "access": _access(decision)}

    def _alerts_of(self, ids: list[str], role: str, decision: AccessDecision) -> list[dict[str, Any]]:
        stored = queries.person_dispute_ids(self.store, ids, decision.event_types)
        threads = sorted(set(stored) | set(queries.dispute_redirects(self.store, stored).values()))
        return [_alert(a, self.zone) for a in queries.alerts_for(self.store, ids, role, threads)]

    def case_alerts(self, caller: Caller) -> dict[str, Any]:
        """Alerts of every party of the caller's case that the caller may see."""
        self.services.refresh()
        case = self.services.cases.case(caller.case_id or "")
        if case is None:
            self._allowed(caller, None)  # audited: no_case / case_not_found (or 401)
            raise AccessRefused(404, "case_not_found")
        alerts: dict[str, dict[str, Any]] = {}
        allowed_any, refused = False, None
        for person_id in sorted(case.parties):
            result = self.check(caller, person_id)
            if result.status in (400, 401):
                raise self._refusal(result, caller)
            if result.status != 200 or result.decision is None:
                refused = refused or result
                continue
            allowed_any = True
            for alert in self._alerts_of(queries.person_ids_of(self.store, person_id), caller.role, result.decision):
                alerts[alert["alert_id"]] = alert
        if not allowed_any and refused is not None:
            raise self._refusal(refused, caller)
        return {"case_id": case.case_id, "alerts": list(alerts.values())}

    # -- consent (hub/services/consent.py) ------------------------------------------------------------------
    def consents(self, caller: Caller, person_id: str) -> dict[str, Any]:
        from hub.services import consent

        return consent.consents_of(self, caller, person_id)

    def grant_consent(self, caller: Caller, person_id: str, *, field_classes: list[str],
                      valid_until: datetime | None = None, purpose: str | None = None,
                      grantee_role: str | None = None) -> dict[str, Any]:
        from hub.services import consent

        return consent.grant(self, caller, person_id, field_classes=field_classes, valid_until=valid_until,
                             purpose=purpose, grantee_role=grantee_role)

    def withdraw_consent(self, caller: Caller, consent_id: str) -> dict[str, Any]:
        from hub.services import consent

        return consent.withdraw(self, caller, consent_id)

    # -- the DPO's report ----------------------------------------------------------------------------------
    def audit_report(self, caller: Caller, *, since: datetime | None = None, until: datetime | None = None,
                     user: str | None = None, subject: str | None = None,
                     purpose: str | None = None) -> dict[str, Any]:
        return audit_report_for(self, caller, since=since, until=until, user=user, subject=subject,
                                purpose=purpose)


def audit_report_for(access: PersonAccess, caller: Caller, *, since: datetime | None = None,
                     until: datetime | None = None, user: str | None = None, subject: str | None = None,
                     purpose: str | None = None) -> dict[str, Any]:
    """The DPO's report; the DPO's own look at the trail (and at whom) is audited like any access."""
    from hub.services import dpo

    if subject and not PARTY_ID.fullmatch(subject):
        raise AccessRefused(422, "malformed_person_id")  # not audited as a subject: it may be a name
    access._allowed(caller, subject or None)
    rows = dpo.select(dpo.audit_rows(access.services.audit_records()), since=since, until=until, user=user,
                      subject=subject, purpose=purpose)
    cipher = access.services.reason_cipher
    out = dpo.report(rows, dpo.AnomalyRules(local_tz=zone(access.zone)),
                     reveal_reason=cipher.reveal if cipher is not None else None)
    out["filters"] = {"since": iso_utc(since), "until": iso_utc(until), "user": user, "subject": subject,
                      "purpose": purpose}
    out["zone"] = access.zone
    return out


def _refusal(result: GateResult) -> AccessRefused:
    """The gate's refusal (already audited) as an exception carrying its codes."""
    if result.decision is not None:
        return AccessRefused(result.status, result.decision.reason, audit_seq=result.audit.seq,
                             rule=result.decision.rule)
    try:
        reason = str(decode_record(result.audit.value).get("reason") or "unauthenticated")
    except ValueError:
        reason = "unauthenticated"
    return AccessRefused(result.status, reason, audit_seq=result.audit.seq, rule="authentication")


def _access(decision: AccessDecision) -> dict[str, Any]:
    return {"rule": decision.rule, "legal_basis": decision.legal_basis, "reason": decision.reason,
            "event_types": sorted(decision.event_types), "field_classes": sorted(decision.field_classes),
            "refused_event_types": sorted(decision.refused_event_types),
            "break_glass": decision.break_glass, "consent_id": decision.consent_id}


def _alert(row: dict[str, Any], zone: str) -> dict[str, Any]:
    return {"alert_id": row["alert_id"], "person_id": row["person_id"], "dispute_id": row["dispute_id"] or None,
            "rule": row["rule"], "level": row["level"], "role": row["role"], "status": row["status"],
            "raised_at": iso_utc(row["raised_at"]), "updated_at": iso_utc(row["updated_at"]),
            "raised_local": local_text_or_none(row["raised_at"], zone),
            "evidence_count": len(row["evidence"] or ())}


def mask_reasons(policy: Policy, decision: AccessDecision) -> dict[str, str]:
    """For each field class the decision withholds: why."""
    rule = next((r for r in policy.rules.values() if r.id == decision.rule), None)
    consent_classes = rule.consent_field_classes | (rule.field_classes if rule.requires_consent else frozenset()) \
        if rule is not None else frozenset()
    return {cls: MASK_NEEDS_CONSENT if cls in consent_classes else MASK_NOT_FOR_PURPOSE
            for cls in frozenset(FIELD_CLASSES) - decision.field_classes}


def _party_classes() -> dict[str, str]:
    """Each party field's pii class, from the shared PartyRef schema."""
    if not _PARTY_CLASSES:
        parties = next(f for f in loader.get("MediationCaseOpened").expanded["fields"] if f["name"] == "parties")
        _PARTY_CLASSES.update({f["name"]: f["pii"] for f in parties["type"]["items"]["fields"] if f.get("pii")})
    return _PARTY_CLASSES


_PARTY_CLASSES: dict[str, str] = {}


def _mask_other_party(party: dict[str, Any], visible: frozenset[str]) -> None:
    """Another party of a record than the subject: only the classes the rule shows of other parties."""
    for name, cls in _party_classes().items():
        value = party.get(name)
        if cls not in visible and value not in (None, "") and not str(value).startswith(MASK_PREFIX) \
                and value != ERASED:
            party[name] = MASK_PREFIX + cls


def _party_index(path: str) -> int | None:
    if not path.startswith("parties["):
        return None
    return int(path[len("parties["):path.index("]")])


def _json_ready(value: Any) -> Any:
    """Timestamps as the API writes them (ISO 8601, UTC, `Z`), so the CLI prints what the API returns."""
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_ready(v) for v in value]
    if isinstance(value, datetime):
        return iso_utc(value)
    return value


def _collect_masks(value: Any, path: str, reasons: dict[str, str], out: list[dict[str, str]]) -> None:
    if isinstance(value, dict):
        for key, child in value.items():
            _collect_masks(child, f"{path}.{key}" if path else key, reasons, out)
    elif isinstance(value, list):
        for index, child in enumerate(value):
            _collect_masks(child, f"{path}[{index}]", reasons, out)
    elif isinstance(value, str):
        if value.startswith(MASK_PREFIX):
            cls = value[len(MASK_PREFIX):]
            out.append({"field": path, "class": cls, "reason": reasons.get(cls, MASK_NOT_FOR_PURPOSE)})
        elif value == ERASED:
            out.append({"field": path, "class": "", "reason": MASK_ERASED})
