"""A party's access code and what it opens: the office gives the code (POST /api/v1/case/party-codes); the
party signs in with it (POST /api/v1/party/sign-in) and reads their own case and who looked at their data
with the session it gets (`Authorization: Party <session>`); the party's page is /my."""

# No `from __future__ import annotations` here: FastAPI reads the route signatures, whose caller dependency is
# made inside `register` (from the app's own), so the annotations must be evaluated where they are written.
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from hub.services.access import Caller
from hub.services.party import PartyService

SESSION_SCHEME = "party "


class CodeRequest(BaseModel):
    person_id: str = Field(description="The party (hub person id) of the caller's open case.", max_length=40)


class SignInRequest(BaseModel):
    code: str = Field(description="The access code the office gave, e.g. K7QM-4XPR-2HDT (dashes, spaces, "
                                  "lower case and full-width characters are read as typed).", max_length=64)


def party_session(authorization: Annotated[str | None, Header(description="Party <session>")] = None) -> str:
    if not authorization or authorization[:len(SESSION_SCHEME)].lower() != SESSION_SCHEME:
        return ""
    return authorization[len(SESSION_SCHEME):].strip()


def register(app: FastAPI, party: Callable[[], PartyService], caller_dep: Callable[..., Awaitable[Caller]],
             errors: dict[int | str, dict[str, Any]], web_dir: Path) -> None:
    CallerDep = Annotated[Caller, Depends(caller_dep)]
    SessionDep = Annotated[str, Depends(party_session)]

    @app.post("/api/v1/case/party-codes", tags=["party"], responses=errors)
    def issue_code(body: CodeRequest, caller: CallerDep) -> dict[str, Any]:
        """At intake: an access code for a party of the caller's open case, shown once (only its keyed hash is
        kept). The caller must be bound to the party through that case (a mediation, court or legal-aid
        case); giving a new code revokes the party's earlier one for the case. Audited."""
        return party().issue(caller, body.person_id)

    @app.post("/api/v1/party/sign-in", tags=["party"], responses={**errors, 429: errors[401]})
    def sign_in(body: SignInRequest, request: Request) -> dict[str, Any]:
        """The party signs in with their code and gets a short session (`Authorization: Party <session>`).
        A wrong code is 401 and audited; too many wrong codes from one client are refused for a while (429)."""
        client = request.client.host if request.client else "?"
        return party().sign_in(body.code, client)

    @app.get("/api/v1/party/case", tags=["party"], responses=errors)
    def my_case(session: SessionDep) -> dict[str, Any]:
        """The stages of the party's own dispute across agencies (filed → served → hearing → judgment →
        enforcement; police referral → mediation → confirmation): stage, agency, office, date, number, outcome,
        the party's own role. Nothing of the other parties; restricted records as the policy says."""
        return party().case(session)

    @app.get("/api/v1/party/accesses", tags=["party"], responses=errors)
    def my_accesses(session: SessionDep) -> dict[str, Any]:
        """Who looked at the party's data: agency, office, role, purpose, when, allowed or not (covert police
        accesses withheld until their restriction lifts), and the consents the party gave."""
        return party().accesses(session)

    @app.get("/my", include_in_schema=False)
    def party_page() -> FileResponse:
        """The party's page: sign in with the access code."""
        return FileResponse(web_dir / "templates" / "party.html", media_type="text/html; charset=utf-8")

