"""/docs without the internet: Swagger UI's files come from the swagger-ui-py package (installed with the
hub) and are served by the hub, with a small initializer of our own — no CDN, no inline script."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
ASSETS = {"swagger-ui-bundle.js": "text/javascript; charset=utf-8", "swagger-ui.css": "text/css; charset=utf-8",
          "favicon-32x32.png": "image/png"}


def swagger_ui_dir() -> Path:
    """Swagger UI's dist files, as the swagger-ui-py distribution ships them (found, not imported)."""
    from importlib.util import find_spec

    spec = find_spec("swagger_ui")
    if spec is None or spec.origin is None:
        raise RuntimeError("the swagger-ui-py package is not installed (pip install swagger-ui-py): /docs needs it")
    return Path(spec.origin).resolve().parent / "static"


def add_docs(app: FastAPI) -> None:
    """GET /docs (the page), /docs/assets/<file> (Swagger UI), the initializer in /static/docs.js."""
    static = swagger_ui_dir()
    missing = [name for name in ASSETS if not (static / name).is_file()]
    if missing:
        raise RuntimeError(f"Swagger UI files missing from {static}: {', '.join(missing)} (pip install swagger-ui-py)")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse((WEB_DIR / "templates" / "docs.html").read_text(encoding="utf-8"))

    @app.get("/docs/assets/{name}", include_in_schema=False)
    def asset(name: str) -> FileResponse:
        if name not in ASSETS:
            from fastapi import HTTPException

            raise HTTPException(404)
        return FileResponse(static / name, media_type=ASSETS[name])
