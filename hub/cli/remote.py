"""PersonAccess over HTTP: the CLI's `person` commands talk to a running server instead
of opening the data directory (chDB allows one process per data dir, and one audit writer
keeps the hash chain single). `justlink serve` advertises itself in <data_dir>/server.json."""

from __future__ import annotations

import json
import os
from contextlib import suppress
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import quote

import httpx

from hub.services.access import AccessRefused, Caller
from hub.services.queries import HistoryFilter
from hub.services.transport import CONTEXT_HEADERS, encode_value

SERVER_FILE = "server.json"


def advertise(data_dir: Path, url: str) -> Path:
    path = Path(data_dir) / SERVER_FILE
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as out:
        out.write(json.dumps({"url": url, "pid": os.getpid()}))
    return path


def withdraw(data_dir: Path) -> None:
    with suppress(FileNotFoundError):
        (Path(data_dir) / SERVER_FILE).unlink()


def running_server(data_dir: Path) -> str | None:
    """The URL of the server serving this data dir, if its process is alive."""
    try:
        info = json.loads((Path(data_dir) / SERVER_FILE).read_text(encoding="utf-8"))
        os.kill(int(info["pid"]), 0)
    except (OSError, ValueError, KeyError):
        return None
    return str(info["url"])


class RemotePersonAccess:
    def __init__(self, url: str, timeout_s: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.http = httpx.Client(timeout=timeout_s)

    def close(self) -> None:
        self.http.close()

    @staticmethod
    def _headers(caller: Caller) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {encode_value(caller.token)}"}
        for name, header in CONTEXT_HEADERS.items():
            value = getattr(caller, name)
            if value:
                headers[header] = encode_value(value)
        return headers

    def _call(self, method: str, path: str, caller: Caller, **kwargs: Any) -> dict[str, Any]:
        response = self.http.request(method, self.url + path, headers=self._headers(caller), **kwargs)
        if response.status_code >= 400:
            self._raise(response)
        return response.json()

    @staticmethod
    def _raise(response: httpx.Response) -> NoReturn:
        error: dict[str, Any] = {}
        with suppress(ValueError):
            error = response.json().get("error") or {}
        raise AccessRefused(response.status_code, str(error.get("reason") or response.reason_phrase),
                            audit_seq=error.get("audit_seq"), rule=str(error.get("rule") or ""),
                            valid=error.get("valid"))

    def find(self, caller: Caller, *, id_number: str | None = None, phone: str | None = None,
             name: str | None = None, date_of_birth: str | None = None) -> dict[str, Any]:
        body = {"id_number": id_number, "phone": phone, "name": name, "date_of_birth": date_of_birth}
        return self._call("POST", "/api/v1/persons/search", caller, json={k: v for k, v in body.items() if v})

    def history(self, caller: Caller, person_id: str, flt: HistoryFilter | None = None) -> dict[str, Any]:
        flt = flt or HistoryFilter()
        params: list[tuple[str, str]] = [("limit", str(flt.limit)), ("offset", str(flt.offset))]
        params += [("agency", a) for a in flt.agencies] + [("event_type", t) for t in flt.event_types]
        if flt.since:
            params.append(("since", flt.since.isoformat()))
        if flt.until:
            params.append(("until", flt.until.isoformat()))
        if flt.dispute_id:
            params.append(("dispute_id", flt.dispute_id))
        return self._call("GET", f"/api/v1/persons/{quote(person_id)}/history", caller, params=params)

    def disputes(self, caller: Caller, person_id: str) -> dict[str, Any]:
        return self._call("GET", f"/api/v1/persons/{quote(person_id)}/disputes", caller)

    def alerts(self, caller: Caller, person_id: str) -> dict[str, Any]:
        return self._call("GET", f"/api/v1/persons/{quote(person_id)}/alerts", caller)

    def case_parties(self, caller: Caller) -> dict[str, Any]:
        return self._call("GET", "/api/v1/case", caller)

    def case_alerts(self, caller: Caller) -> dict[str, Any]:
        return self._call("GET", "/api/v1/alerts", caller)

    def repeat_warnings(self, caller: Caller) -> dict[str, Any]:
        return self._call("GET", "/api/v1/case/warnings", caller)

    def similar_cases(self, caller: Caller) -> dict[str, Any]:
        return self._call("GET", "/api/v1/case/similar", caller)

    def consents(self, caller: Caller, person_id: str) -> dict[str, Any]:
        return self._call("GET", f"/api/v1/persons/{quote(person_id)}/consents", caller)

    def grant_consent(self, caller: Caller, person_id: str, *, field_classes: list[str],
                      valid_until: datetime | None = None, purpose: str | None = None,
                      grantee_role: str | None = None) -> dict[str, Any]:
        body = {"field_classes": field_classes, "valid_until": valid_until.isoformat() if valid_until else None,
                "purpose": purpose, "grantee_role": grantee_role}
        return self._call("POST", f"/api/v1/persons/{quote(person_id)}/consents", caller,
                          json={k: v for k, v in body.items() if v is not None})

    def withdraw_consent(self, caller: Caller, consent_id: str) -> dict[str, Any]:
        return self._call("POST", f"/api/v1/consents/{quote(consent_id, safe='')}/withdraw", caller)

    def whoami(self, token: str) -> dict[str, Any]:
        return self._call("GET", "/api/v1/me", Caller(token, "", ""))

    def audit_report(self, caller: Caller, *, since: datetime | None = None, until: datetime | None = None,
                     user: str | None = None, subject: str | None = None,
                     purpose: str | None = None) -> dict[str, Any]:
        params = {"since": since.isoformat() if since else None, "until": until.isoformat() if until else None,
                  "user": user, "subject": subject, "purpose": purpose}
        return self._call("GET", "/api/v1/audit/report", caller, params={k: v for k, v in params.items() if v})

    def erasure_preview(self, caller: Caller, person_id: str) -> dict[str, Any]:
        return self._call("GET", f"/api/v1/persons/{quote(person_id)}/erasure", caller,
                          params={"request": caller.case_id or ""})

    def erase(self, caller: Caller, person_id: str, reason: str) -> dict[str, Any]:
        return self._call("POST", f"/api/v1/persons/{quote(person_id)}/erasure", caller,
                          json={"reason": reason, "request": caller.case_id or ""})

    # -- the bureau's dashboard --------------------------------------------------------------------------
    def dashboard(self, caller: Caller, *, since: datetime | None = None, until: datetime | None = None,
                  county: str | None = None) -> dict[str, Any]:
        params = {"since": since.isoformat() if since else None, "until": until.isoformat() if until else None,
                  "county": county}
        return self._call("GET", "/api/v1/dashboard", caller, params={k: v for k, v in params.items() if v})

    def dashboard_csv(self, caller: Caller, section: str, *, since: datetime | None = None,
                      until: datetime | None = None, county: str | None = None) -> str:
        params = {"section": section, "since": since.isoformat() if since else None,
                  "until": until.isoformat() if until else None, "county": county}
        return self._text("GET", "/api/v1/dashboard/export.csv", caller,
                          params={k: v for k, v in params.items() if v})

    def office_handovers(self, caller: Caller) -> dict[str, Any]:
        return self._call("GET", "/api/v1/handovers", caller)

    def _text(self, method: str, path: str, caller: Caller, **kwargs: Any) -> str:
        response = self.http.request(method, self.url + path, headers=self._headers(caller), **kwargs)
        if response.status_code >= 400:
            self._raise(response)
        return response.text

    # -- a party's access code and view --------------------------------------------------------------------
    def issue_party_code(self, caller: Caller, person_id: str) -> dict[str, Any]:
        return self._call("POST", "/api/v1/case/party-codes", caller, json={"person_id": person_id})

    def party_sign_in(self, code: str) -> dict[str, Any]:
        response = self.http.post(f"{self.url}/api/v1/party/sign-in", json={"code": code})
        if response.status_code >= 400:
            self._raise(response)
        return response.json()

    def party_read(self, session: str, what: str) -> dict[str, Any]:
        response = self.http.get(f"{self.url}/api/v1/party/{what}", headers={"Authorization": f"Party {session}"})
        if response.status_code >= 400:
            self._raise(response)
        return response.json()
