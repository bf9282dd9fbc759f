"""The county bureau's dashboard: aggregates as JSON and each section as CSV, and its page (/bureau); a justice
office's list of the released prisoners routed to it (/api/v1/handovers)."""

# No `from __future__ import annotations` here: FastAPI reads the route signatures, whose caller dependency is
# made inside `register` (from the app's own), so the annotations must be evaluated where they are written.
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query
from fastapi.responses import FileResponse, PlainTextResponse, Response

from hub.services import bureau, handovers
from hub.services.access import Caller, PersonAccess
from hub.services.dashboard import SECTIONS

COUNTY = Query(pattern=r"^\d{6}$", description="6-digit division code of the county (default: every county "
                                               "the officer may see)")


def register(app: FastAPI, access: PersonAccess, caller_dep: Callable[..., Awaitable[Caller]],
             local: Callable[[datetime | None], datetime | None], errors: dict[int | str, dict[str, Any]],
             web_dir: Path, zone_note: str) -> None:
    CallerDep = Annotated[Caller, Depends(caller_dep)]

    @app.get("/api/v1/dashboard", tags=["bureau"], responses=errors)
    def dashboard(caller: CallerDep, since: Annotated[datetime | None, Query(description=zone_note)] = None,
                  until: Annotated[datetime | None, Query(description=zone_note)] = None,
                  county: Annotated[str | None, COUNTY] = None) -> dict[str, Any]:
        """For the county justice bureau (role bureau_officer, purpose statistics): disputes by type and township,
        mediation success, time to first handling, alerts handled in time, repeat-mediation warnings, released
        prisoners' hand-overs — aggregates only, small counts suppressed (`min_cell`)."""
        return bureau.dashboard(access, caller, since=local(since), until=local(until), county=county)

    @app.get("/api/v1/dashboard/export.csv", tags=["bureau"], responses=errors, response_class=PlainTextResponse)
    def dashboard_csv(caller: CallerDep, section: Annotated[str, Query(pattern="^(" + "|".join(SECTIONS) + ")$")],
                      since: Annotated[datetime | None, Query(description=zone_note)] = None,
                      until: Annotated[datetime | None, Query(description=zone_note)] = None,
                      county: Annotated[str | None, COUNTY] = None) -> Response:
        """One section of the dashboard as CSV (UTF-8 with a byte-order mark); a suppressed count reads `<5`."""
        text = bureau.dashboard_csv(access, caller, section, since=local(since), until=local(until), county=county)
        return Response(text, media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="justlink-dashboard-{section}.csv"'})

    @app.get("/api/v1/handovers", tags=["bureau"], responses=errors)
    def office_handovers(caller: CallerDep) -> dict[str, Any]:
        """For a justice office's resettlement staff (role correction_officer, purpose resettlement_handover):
        the release notices routed to the office (必接必送) — number, release and due day, received or not, days
        overdue, cross-county — no person; open past due first. The person is read on the hand-over itself
        (the notice number as the case, purpose community_correction_supervision)."""
        return handovers.office_handovers(access, caller)

    @app.get("/bureau", include_in_schema=False)
    def bureau_page() -> FileResponse:
        """The bureau's dashboard page: its data calls need the bureau_officer role and the statistics purpose."""
        return FileResponse(web_dir / "templates" / "bureau.html", media_type="text/html; charset=utf-8")
