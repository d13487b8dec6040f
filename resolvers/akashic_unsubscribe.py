"""`GET`/`POST /akashic/unsubscribe/{token}`: the page an email's unsubscribe link opens
(services/akashic/unsubscribe.py). GET shows the button, POST (the button, or a mail client's
RFC 8058 one-click POST) opts the contact out of the campaign's email, in one unit of work that
the audit trail records as the system's `akashic.unsubscribe`."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from core.context import Actor, AuditScope, request_id_of, run_unit_of_work
from core.db import CommitOutcomeUnknown, DatabaseUnavailable
from services.akashic.unsubscribe import UNSUBSCRIBE_PATH, read_token, unsubscribe

UNSUBSCRIBE_ACTOR = "akashic.unsubscribe"

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<meta name="robots" content="noindex"><title>{title}</title></head>
<body><main><h1>{title}</h1><p>{text}</p>{form}</main></body></html>
"""
_FORM = (
    '<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click">'
    '<button type="submit">Unsubscribe</button></form>'
)
#: No cache may keep these pages, and no page may be framed (the button is one click).
_HEADERS = {"Cache-Control": "no-store", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer"}


def _page(title: str, text: str, *, status: int = 200, form: bool = False) -> HTMLResponse:
    body = _PAGE.format(title=title, text=text, form=_FORM if form else "")
    return HTMLResponse(body, status_code=status, headers=_HEADERS)


def _invalid() -> HTMLResponse:
    return _page(
        "This unsubscribe link is not valid",
        "The link is incomplete or was changed. Use the link in the email you received.",
        status=400,
    )


async def unsubscribe_page(request: Request) -> HTMLResponse:
    runtime = request.app.state.runtime
    token = read_token(runtime.settings, str(request.path_params["token"]))
    if token is None:
        return _invalid()
    if request.method == "GET":
        return _page(
            "Unsubscribe from this campaign's email",
            "Press the button to stop receiving this campaign's email.",
            form=True,
        )

    async def work(session: AsyncSession) -> bool:
        return await unsubscribe(session, token=token)

    system = Actor.system(UNSUBSCRIBE_ACTOR)
    try:
        await run_unit_of_work(
            runtime.sessions,
            runtime.bus,
            work,
            audit=AuditScope(system, request_id_of(request), UNSUBSCRIBE_ACTOR),
            as_actor=system,
        )
    except (DatabaseUnavailable, CommitOutcomeUnknown):
        return _page("Please try again", "We could not record your request just now.", status=503)
    return _page("You are unsubscribed", "You will receive no more email from this campaign.")


ROUTES = (Route(UNSUBSCRIBE_PATH + "/{token}", unsubscribe_page, methods=["GET", "POST"]),)
