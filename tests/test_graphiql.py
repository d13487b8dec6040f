"""GraphiQL is served by the app itself (core/graphiql.py): a page whose every asset is this
origin's, each asset served with its type and a year of caching, the vendored files exactly what
static/graphiql/assets.json records. (tests/live/test_graphiql_browser.py renders it in Chromium
with every other host unreachable.)"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from core.graphiql import CONTENT_SECURITY_POLICY, STATIC
from tests.conftest import make_settings
from tests.live.conftest import running_app

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


class References(HTMLParser):
    """Every URL the page makes the browser load: (tag, URL, integrity)."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for name in ("src", "href"):
            url = values.get(name)
            if url is not None:
                self.found.append((tag, url, values.get("integrity")))


async def page_references(http: httpx.AsyncClient) -> list[tuple[str, str, str | None]]:
    page = await http.get("/graphql", headers=BROWSER)
    assert page.status_code == 200
    parser = References()
    parser.feed(page.text)
    return parser.found


async def test_the_page_loads_only_same_origin_assets(http: httpx.AsyncClient) -> None:
    page = await http.get("/graphql", headers=BROWSER)
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "default-src 'self'" in CONTENT_SECURITY_POLICY
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["cache-control"] == "no-cache"
    assert "//" not in page.text.replace("<!doctype html>", "")  # no scheme-relative or absolute URL
    references = await page_references(http)
    icons = [url for tag, url, _ in references if tag == "link" and url.startswith("data:")]
    assets = [(tag, url, integrity) for tag, url, integrity in references if not url.startswith("data:")]
    assert icons == ["data:,"]
    assert all(url.startswith("/graphiql/") for _, url, _ in assets), assets
    # React, ReactDOM, GraphiQL and the explorer plugin (scripts and stylesheets), and the page's own
    names = sorted(url.rsplit("/", 1)[1] for _, url, _ in assets)
    assert names == [
        "graphiql.min.css",
        "graphiql.min.js",
        "index.umd.js",
        "page.css",
        "page.js",
        "react-dom.production.min.js",
        "react.production.min.js",
        "style.css",
    ]


async def test_every_asset_is_served_with_its_type_a_long_cache_and_its_integrity(http: httpx.AsyncClient) -> None:
    types = {"script": "text/javascript; charset=utf-8", "link": "text/css; charset=utf-8"}
    for tag, url, integrity in await page_references(http):
        if url.startswith("data:"):
            continue
        response = await http.get(url)
        assert response.status_code == 200, url
        assert response.headers["content-type"] == types[tag], url
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable", url
        assert response.headers["x-content-type-options"] == "nosniff", url
        digest = hashlib.sha256(response.content).hexdigest()
        assert url.split("/")[2] == digest[:16], url  # the URL names the content
        assert integrity == "sha384-" + base64.b64encode(hashlib.sha384(response.content).digest()).decode()
        again = await http.get(url, headers={"If-None-Match": response.headers["etag"]})
        assert (again.status_code, again.content) == (304, b""), url
        head = await http.head(url)
        assert (head.status_code, head.headers["content-length"]) == (200, str(len(response.content))), url


async def test_only_the_pages_assets_are_served(http: httpx.AsyncClient) -> None:
    (script,) = [url for _, url, _ in await page_references(http) if url.endswith("/graphiql.min.js")]
    digest = script.split("/")[2]
    for url in (
        script.replace(digest, "0" * 16),  # another digest
        script.replace("graphiql.min.js", "graphiql.min.js.map"),
        f"/graphiql/{digest}/..%2F..%2F..%2Fapp.py",
        f"/graphiql/{digest}/assets.json",
        "/graphiql/vendor/graphiql@3.8.3/graphiql.min.js",
    ):
        assert (await http.get(url)).status_code == 404, url


def test_the_vendored_files_are_the_recorded_ones_from_the_recorded_packages() -> None:
    manifest = json.loads((STATIC / "assets.json").read_text())
    assert set(manifest["packages"]) == {
        "react@18.2.0",
        "react-dom@18.2.0",
        "graphiql@3.8.3",
        "@graphiql/plugin-explorer@1.0.2",
    }
    for spec, package in manifest["packages"].items():
        assert package["tarball"].startswith("sha512-"), spec
        for path, recorded in package["files"].items():
            data = (STATIC / "vendor" / spec / path).read_bytes()
            assert hashlib.sha256(data).hexdigest() == recorded["sha256"], f"{spec}/{path}"
    # The script that re-fetches them checks the same offline (and fails on a changed byte)
    done = subprocess.run(
        [sys.executable, str(STATIC / "fetch.py"), "--check"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "vendor/ matches assets.json" in done.stdout


async def test_the_page_references_the_recorded_files(http: httpx.AsyncClient) -> None:
    manifest = json.loads((STATIC / "assets.json").read_text())
    recorded = {
        files["sha256"][:16]: f"{spec}/{path}"
        for spec, package in manifest["packages"].items()
        for path, files in package["files"].items()
    }
    urls = [url for _, url, _ in await page_references(http) if not url.startswith("data:")]
    vendored = [url for url in urls if url.split("/")[2] in recorded]
    assert len(vendored) == 6, vendored  # all but the page's own page.js and page.css
    for url in vendored:
        assert Path(recorded[url.split("/")[2]]).name == url.rsplit("/", 1)[1]


@pytest.fixture(scope="module")
async def without_graphiql(database_url: str, data_dir: Path) -> AsyncIterator[httpx.AsyncClient]:
    application: Starlette
    async with running_app(make_settings(database_url, data_dir, graphiql=False)) as application:
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


async def test_with_graphiql_off_neither_the_page_nor_its_assets_are_served(
    http: httpx.AsyncClient, without_graphiql: httpx.AsyncClient
) -> None:
    urls = [url for _, url, _ in await page_references(http) if not url.startswith("data:")]
    page = await without_graphiql.get("/graphql", headers=BROWSER)
    assert page.status_code == 404
    assert page.json()["errors"][0]["extensions"]["code"] == "GRAPHIQL_DISABLED"
    for url in urls:
        assert (await without_graphiql.get(url)).status_code == 404, url
