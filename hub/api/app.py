"""The query API and the web pages, as one FastAPI app built over AppServices.

Every data call names its caller and context in headers — `Authorization: Bearer <token>`,
`X-JustLink-Role`, `X-JustLink-Purpose`, `X-JustLink-Case`, and for break-glass
`X-JustLink-Break-Glass` (the written reason), each value percent-encoded UTF-8
(hub/services/transport.py) — and passes the access gate, which audits it: an invalid value is 400,
an unknown or expired token 401, a wrong role, purpose or case 403.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from consent.privacy.keys.base import KeystoreError
from hub.api import bureau as bureau_routes
from hub.api import models
from hub.api import party as party_routes
from hub.api.docs import add_docs
from hub.api.metrics import ApiMetrics
from hub.api.security import BodyLimit, SecurityHeaders
from hub.services import consent, dpo, erasure
from hub.services.access import AccessRefused, Caller, PersonAccess, audit_report_for
from hub.services.context import AppServices
from hub.services.party import party_service
from hub.services.queries import HistoryFilter
from hub.services.repeat_intake import repeat_warnings
from hub.services.similar import similar_cases
from hub.services.transport import decode_value
from runtime.clock import from_local
from runtime.viewstore import ViewStoreUnavailable

log = logging.getLogger("justlink.api")
WEB_DIR = Path(__file__).resolve().parent.parent / "web"
MAX_BODY_BYTES = 16 * 1024
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": models.ErrorBody, "description": "A context header is not valid: undecodable, bad character or "
                                                   "too long (audited by length and keyed hash, never echoed)"},
    401: {"model": models.ErrorBody, "description": "Unknown, expired or revoked token (audited)"},
    403: {"model": models.ErrorBody, "description": "Role, purpose or case does not allow it (audited)"},
}


ZONE_NOTE = ("ISO 8601; without an offset it is read in the agencies' time zone (settings.timezone, "
             "Asia/Shanghai by default): 2025-05-03T00:00:00 is midnight in China.")
PERCENT = "Percent-encoded UTF-8 (encodeURIComponent); plain ASCII as it is."


async def caller_from_headers(
    authorization: Annotated[str | None, Header(description="Bearer <token>")] = None,
    x_justlink_role: Annotated[str, Header(description="Role the caller acts in, e.g. mediator. " + PERCENT)] = "",
    x_justlink_purpose: Annotated[str, Header(description="Purpose, e.g. dispute_mediation. " + PERCENT)] = "",
    x_justlink_case: Annotated[str | None, Header(
        description="The case the caller works on, as the agency writes it, e.g. "
                    "%EF%BC%882025%EF%BC%89... for （2025）城关调字第2号. " + PERCENT)] = None,
    x_justlink_break_glass: Annotated[str | None, Header(
        description="Break-glass: the written reason (flagged to the DPO). " + PERCENT)] = None,
) -> Caller:
    token = ""
    if authorization and authorization[:7].lower() == "bearer ":
        token = authorization[7:].strip()
    reason = decode_value(x_justlink_break_glass) if x_justlink_break_glass else None
    return Caller(token, decode_value(x_justlink_role), decode_value(x_justlink_purpose),
                  decode_value(x_justlink_case or "") or None, reason)


CallerDep = Annotated[Caller, Depends(caller_from_headers)]


class MeasuredRoutes:
    """Latency and status of every /api/ request, by route template (plain ASGI: Starlette's
    BaseHTTPMiddleware runs each request through an extra task and memory streams, ~1 ms a request)."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), [0]

        async def send_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        await self.app(scope, receive, send_status)
        route = scope.get("route")   # set by the router on this scope
        if route is not None:
            self.metrics.observe(getattr(route, "path", "?"), scope["method"], status[0], time.perf_counter() - started)


def create_app(services: AppServices, *, max_body_bytes: int = MAX_BODY_BYTES) -> FastAPI:
    access = PersonAccess(services)
    metrics = ApiMetrics()
    app = FastAPI(title="JustLink query API",
                  description="One timeline of a person's disputes across court, police, civil affairs and the "
                              "justice bureau — purpose-bound, field-masked and audited.",
                  version="1", docs_url=None, redoc_url=None,
                  openapi_tags=[{"name": "persons"}, {"name": "alerts"}, {"name": "consent"}, {"name": "audit"},
                                {"name": "bureau"}])
    app.state.services, app.state.access, app.state.metrics = services, access, metrics

    def local(value: datetime | None) -> datetime | None:
        """A `since` / `until` without an offset is meant in the agencies' zone (settings.timezone)."""
        return from_local(value, services.settings.timezone) if value is not None else None

    @app.exception_handler(AccessRefused)
    async def refused(_: Request, exc: AccessRefused) -> JSONResponse:
        if exc.status in (401, 403):
            metrics.denied(exc.status, exc.reason)
        headers = {"WWW-Authenticate": 'Bearer realm="justlink"'} if exc.status == 401 else None
        return JSONResponse(exc.body(), status_code=exc.status, headers=headers)

    @app.exception_handler(ViewStoreUnavailable)
    async def store_down(_: Request, exc: ViewStoreUnavailable) -> JSONResponse:
        """The views cannot be reached: 503 with a code (the message names the store, for the log only)."""
        log.warning("view store unavailable: %s", exc)
        return JSONResponse({"error": {"status": 503, "reason": "view_store_unavailable", "rule": "",
                                       "audit_seq": None}}, status_code=503, headers={"Retry-After": "5"})

    @app.exception_handler(KeystoreError)
    async def keystore_damaged(_: Request, exc: KeystoreError) -> JSONResponse:
        """A damaged keystore (or key): 503 with a code; the message names the file and the key, for the
        operator's log only (never key material, never values)."""
        log.error("keystore: %s", exc)
        return JSONResponse({"error": {"status": 503, "reason": "keystore_unavailable", "rule": "",
                                       "audit_seq": None}}, status_code=503)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        """FastAPI's 422 without the `input` it would echo: a search body holds an ID number or a name."""
        detail = [{"type": e.get("type", ""), "loc": list(e.get("loc", ())), "msg": e.get("msg", "")}
                  for e in exc.errors()]
        return JSONResponse({"detail": detail}, status_code=422)

    app.add_middleware(MeasuredRoutes, metrics=metrics)

    # -- persons ------------------------------------------------------------------------------------
    @app.post("/api/v1/persons/search", tags=["persons"], response_model=models.FindResponse, responses=ERRORS)
    def find_person(body: models.SearchRequest, caller: CallerDep) -> dict[str, Any]:
        """Find a person by resident ID number, phone, or name + date of birth. Only persons the caller
        may see for this purpose and case are returned; each candidate's check is audited."""
        return access.find(caller, id_number=body.id_number, phone=body.phone, name=body.name,
                           date_of_birth=body.date_of_birth)

    @app.get("/api/v1/persons/{person_id}/history", tags=["persons"], response_model=models.HistoryResponse,
             responses=ERRORS)
    def person_history(person_id: str, caller: CallerDep,
                       agency: Annotated[list[str] | None, Query(description="court, police, civil_affairs, justice")] = None,
                       event_type: Annotated[list[str] | None, Query()] = None,
                       since: Annotated[datetime | None, Query(description=ZONE_NOTE)] = None,
                       until: Annotated[datetime | None, Query(description=ZONE_NOTE)] = None,
                       dispute_id: str | None = None,
                       limit: Annotated[int, Query(ge=1, le=200)] = 50,
                       offset: Annotated[int, Query(ge=0, le=100_000)] = 0) -> dict[str, Any]:
        """The person's records across agencies, newest first: agency, office, stage, date, dispute thread,
        the person's role, and the fields the caller may see (the others masked, each saying why)."""
        flt = HistoryFilter(tuple(agency or ()), tuple(event_type or ()), local(since), local(until), dispute_id,
                            limit, offset)
        return access.history(caller, person_id, flt)

    @app.get("/api/v1/persons/{person_id}/disputes", tags=["persons"], response_model=models.DisputesResponse,
             responses=ERRORS)
    def person_disputes(person_id: str, caller: CallerDep) -> dict[str, Any]:
        """The dispute threads the person is in, each with its stages across agencies."""
        return access.disputes(caller, person_id)

    @app.get("/api/v1/persons/{person_id}/alerts", tags=["alerts"], response_model=models.AlertsResponse,
             responses=ERRORS)
    def person_alerts(person_id: str, caller: CallerDep) -> dict[str, Any]:
        """The person's alerts for the caller's role (red / yellow / blue)."""
        return access.alerts(caller, person_id)

    @app.get("/api/v1/case", tags=["persons"], response_model=models.CaseResponse, responses=ERRORS)
    def current_case(caller: CallerDep) -> dict[str, Any]:
        """The case named in X-JustLink-Case and those of its parties the caller may see."""
        return access.case_parties(caller)

    @app.get("/api/v1/alerts", tags=["alerts"], response_model=models.CaseAlertsResponse, responses=ERRORS)
    def case_alerts(caller: CallerDep) -> dict[str, Any]:
        """Alerts of the parties of the caller's case, for the caller's role."""
        return access.case_alerts(caller)

    @app.get("/api/v1/case/similar", tags=["persons"], responses=ERRORS)
    def case_similar(caller: CallerDep) -> dict[str, Any]:
        """Similar cases (类案推送) for the caller's open mediation or court case: concluded disputes of the same
        type with comparable facts (amount band, the parties' relationship, mediation level, township), how
        each ended and the success rate. Plain facts only: no case number, no party, nothing of anyone.
        The rules are hub/services/similar.toml. Audited like any read."""
        return similar_cases(access, caller)

    @app.get("/api/v1/case/warnings", tags=["persons"], responses=ERRORS)
    def case_warnings(caller: CallerDep) -> dict[str, Any]:
        """Repeat-mediation warnings (重复调解预警) of the caller's open mediation or court case: another office's
        intake of the same dispute (same thread, or the same parties and dispute type within the window) while
        one of them was open — its agency, office, case number, stage and whether it is still open. The rules
        are hub/services/repeat_intake.toml. Audited like any read."""
        return repeat_warnings(access, caller)

    @app.get("/api/v1/me", tags=["persons"], responses=ERRORS)
    def whoami(caller: CallerDep) -> dict[str, Any]:
        """The signed-in user, roles and the purposes the policy offers each role."""
        return access.whoami(caller.token)

    # -- consent ------------------------------------------------------------------------------------------
    @app.get("/api/v1/persons/{person_id}/consents", tags=["consent"], responses=ERRORS)
    def person_consents(person_id: str, caller: CallerDep) -> dict[str, Any]:
        """The person's consents (active, withdrawn, expired), what each unlocks, and what a consent for
        the caller's purpose would unlock. Same binding as a read; audited."""
        return consent.consents_of(access, caller, person_id)

    @app.post("/api/v1/persons/{person_id}/consents", tags=["consent"], responses=ERRORS, status_code=201)
    def record_consent(person_id: str, body: models.ConsentRequest, caller: CallerDep) -> dict[str, Any]:
        """Record the person's consent (a case worker at intake, for a party of their open case; or the DPO
        with purpose consent_records and the form as `request:<ref>`): ConsentGranted on the log, audited,
        effective on the next request."""
        return consent.grant(access, caller, person_id, field_classes=body.field_classes,
                             valid_until=local(body.valid_until), purpose=body.purpose, grantee_role=body.grantee_role)

    @app.post("/api/v1/consents/{consent_id}/withdraw", tags=["consent"], responses=ERRORS)
    def withdraw_consent(consent_id: Annotated[str, PathParam(max_length=40, pattern=r"^[A-Za-z0-9_.:-]+$")],
                         caller: CallerDep) -> dict[str, Any]:
        """Withdraw a consent: ConsentWithdrawn on the log, audited; the very next request no longer has it."""
        return consent.withdraw(access, caller, consent_id)

    # -- erasure (DPO) --------------------------------------------------------------------------------
    @app.get("/api/v1/persons/{person_id}/erasure", tags=["persons"], responses=ERRORS)
    def erasure_preview(person_id: str, caller: CallerDep, request: Annotated[str, Query(
            max_length=120, description="request:<ref>, complaint:<ref> or audit:<ref>")]) -> dict[str, Any]:
        """For the DPO (role dpo, purpose erasure): who would be erased — name, masked ID number, records
        by agency — before anything is destroyed. Audited."""
        return erasure.preview(access, replace(caller, case_id=request), person_id)

    @app.post("/api/v1/persons/{person_id}/erasure", tags=["persons"], responses=ERRORS)
    def erase_person(person_id: str, body: models.ErasureRequest, caller: CallerDep) -> dict[str, Any]:
        """For the DPO: destroy every data key of the person (irreversible), audit who, why and for which
        request, and drop the person's rows from the views."""
        return erasure.erase(access, replace(caller, case_id=body.request), person_id, body.reason)

    # -- audit (DPO) ----------------------------------------------------------------------------------
    def report(caller: Caller, since: datetime | None, until: datetime | None, user: str | None,
               subject: str | None, purpose: str | None) -> dict[str, Any]:
        return audit_report_for(access, caller, since=local(since), until=local(until), user=user, subject=subject,
                                purpose=purpose)

    @app.get("/api/v1/audit/report", tags=["audit"], responses=ERRORS)
    def audit_report(caller: CallerDep, since: datetime | None = None, until: datetime | None = None,
                     user: str | None = None, subject: str | None = None,
                     purpose: str | None = None) -> dict[str, Any]:
        """For the DPO (role dpo, purpose audit): accesses by user, subject and purpose; denials;
        break-glass uses; anomalies."""
        return report(caller, since, until, user, subject, purpose)

    @app.get("/api/v1/audit/export.csv", tags=["audit"], responses=ERRORS, response_class=PlainTextResponse)
    def audit_export(caller: CallerDep, section: Annotated[str, Query(pattern="^(" + "|".join(dpo.SECTIONS) + ")$")],
                     since: datetime | None = None, until: datetime | None = None, user: str | None = None,
                     subject: str | None = None, purpose: str | None = None) -> Response:
        """One section of the DPO report as CSV (UTF-8 with a byte-order mark, so that spreadsheet programs
        set to a Chinese locale read case numbers and names as UTF-8, not GBK)."""
        data = report(caller, since, until, user, subject, purpose)
        return Response("\ufeff" + dpo.to_csv(section, data[section]), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="justlink-audit-{section}.csv"'})

    # -- the county bureau's dashboard; a party's access code, case and accesses (a module each) -------
    bureau_routes.register(app, access, caller_from_headers, local, ERRORS, WEB_DIR, ZONE_NOTE)
    party_routes.register(app, lambda: party_service(access), caller_from_headers, ERRORS, WEB_DIR)

    # -- operations ----------------------------------------------------------------------------------
    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics", include_in_schema=False)
    def prometheus() -> Response:
        return Response(metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    # -- web pages -----------------------------------------------------------------------------------
    @app.get("/", include_in_schema=False)
    def mediator_page() -> FileResponse:
        return FileResponse(WEB_DIR / "templates" / "index.html", media_type="text/html; charset=utf-8")

    @app.get("/dpo", include_in_schema=False)
    def dpo_page() -> FileResponse:
        """The DPO's page: its data calls need the dpo role and the audit purpose."""
        return FileResponse(WEB_DIR / "templates" / "dpo.html", media_type="text/html; charset=utf-8")

    add_docs(app)
    app.mount("/static", StaticFiles(directory=WEB_DIR / "static"), name="static")
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    app.add_middleware(SecurityHeaders)
    return app
