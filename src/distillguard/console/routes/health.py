"""Routes that need no session: the liveness probe and the bundled plotly.js."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse, Response

from ..report import plotly_js

PLOTLY_PATH = "/static/plotly.min.js"

router = APIRouter()


@router.get(PLOTLY_PATH)
def static_plotly() -> Response:
    """plotly.js from the installed ``plotly`` package (the console needs no network)."""
    return Response(
        plotly_js(),
        media_type="application/javascript",
        headers={"Cache-Control": "public, max-age=86400"},
    )


@router.get("/healthz")
def healthz() -> PlainTextResponse:
    return PlainTextResponse("ok")
