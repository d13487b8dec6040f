"""GraphiQL served by the app itself, so that it works without internet access.

The page (GET /graphql from a browser, see `core.http`) and its assets come from
`static/graphiql/`: React, GraphiQL and its explorer plugin vendored from the npm registry at the
exact versions recorded in `assets.json` with their hashes (`static/graphiql/fetch.py` re-fetches
and verifies them), plus the page's own `page.js` and `page.css`. Every asset is served at
`/graphiql/<sha256 prefix>/<name>`: the URL changes with the content, so it is cached for a year
(`immutable`), and the page names each with its SRI hash. The page is under a Content Security
Policy that allows this origin only: nothing it loads or sends can reach another server.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, PlainTextResponse, Response

STATIC = Path(__file__).resolve().parent.parent / "static" / "graphiql"
PREFIX = "/graphiql"

#: Asset URLs carry their content's digest: a year, never revalidated.
IMMUTABLE = "public, max-age=31536000, immutable"

#: This origin only (GraphiQL's fonts are data: URLs inside its stylesheet). No inline script or
#: stylesheet: React sets element styles through the DOM, which a policy does not restrict.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "font-src 'self' data:",
        "img-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
        "object-src 'none'",
    ]
)
SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}

#: What a page's asset may be.
MEDIA_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}

_PLACEHOLDER = re.compile(r"\{\{(href|src) ([^}]+)\}\}")


@dataclass(frozen=True)
class Asset:
    path: Path
    digest: str  # sha256, hex
    integrity: str  # SRI (sha384)

    @property
    def url(self) -> str:
        return f"{PREFIX}/{self.digest[:16]}/{self.path.name}"

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.path.suffix]


def _asset(path: Path) -> Asset:
    data = path.read_bytes()
    integrity = "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()
    return Asset(path, hashlib.sha256(data).hexdigest(), integrity)


@dataclass(frozen=True)
class Ide:
    page: str
    assets: dict[str, Asset]  # by URL


@lru_cache(maxsize=1)
def ide() -> Ide:
    """The page with its assets' URLs, and the assets by URL (read once per process)."""
    assets: dict[str, Asset] = {}

    def tag(match: re.Match[str]) -> str:
        attribute, relative = match.group(1), match.group(2).strip()
        asset = _asset(STATIC / relative)
        if asset.path.suffix not in MEDIA_TYPES:
            raise ValueError(f"{relative}: a page asset is a script or a stylesheet")
        assets[asset.url] = asset
        return f'{attribute}="{html.escape(asset.url)}" integrity="{asset.integrity}" crossorigin="anonymous"'

    page = _PLACEHOLDER.sub(tag, (STATIC / "index.html").read_text())
    return Ide(page, assets)


def graphiql_page() -> Response:
    headers = {**SECURITY_HEADERS, "Content-Security-Policy": CONTENT_SECURITY_POLICY, "Cache-Control": "no-cache"}
    return HTMLResponse(ide().page, headers=headers)


async def graphiql_asset(request: Request) -> Response:
    """GET /graphiql/<digest>/<name>: one of the page's assets (404 for anything else, and when
    GraphiQL is off)."""
    asset = ide().assets.get(request.url.path)
    if asset is None or not request.app.state.runtime.settings.graphiql_enabled:
        return PlainTextResponse("Not Found", status_code=404, headers=SECURITY_HEADERS)
    etag = f'"{asset.digest[:32]}"'
    headers = {**SECURITY_HEADERS, "Cache-Control": IMMUTABLE, "ETag": etag}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return FileResponse(asset.path, media_type=asset.media_type, headers=headers)
