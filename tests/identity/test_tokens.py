"""Tokens: refresh-token rotation and reuse detection, sign-out, access-token checks over HTTP, JWKS."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
import uuid
from typing import Any

import httpx
import orjson
import pytest
import sqlalchemy as sa
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, OctKey
from sqlalchemy.ext.asyncio import AsyncSession

from core.security import InvalidAccessToken, TokenProblem, TokenService
from core.settings import Settings
from tests.identity.conftest import Accounts, new_email, user_pk

VIEWER_ID = "{ viewer { user { id } } }"


# ------------------------------------------------------------------------------ refreshToken


async def test_refresh_returns_a_new_pair_for_the_same_user(accounts: Accounts) -> None:
    # Given a session
    first = await accounts.session(display_name="Rotating")
    # When its refresh token is exchanged
    payload = await accounts.refresh(first["refreshToken"])
    # Then a new access and refresh token are returned for the same user
    assert payload["errors"] == []
    second = payload["session"]
    assert second["user"] == first["user"]
    assert second["accessToken"] != first["accessToken"]
    assert second["refreshToken"] != first["refreshToken"]
    # And the new access token works
    viewer = await accounts.viewer(second["accessToken"])
    assert viewer is not None
    assert viewer["user"]["displayName"] == "Rotating"


async def test_reusing_a_spent_refresh_token_revokes_its_whole_family(accounts: Accounts) -> None:
    # Given a refresh token that was exchanged once
    first = await accounts.session()
    second = (await accounts.refresh(first["refreshToken"]))["session"]
    # When the spent token is presented again
    reused = await accounts.refresh(first["refreshToken"])
    # Then it is refused as reused
    assert reused["session"] is None
    [error] = reused["errors"]
    assert (error["__typename"], error["code"]) == ("AuthenticationError", "REFRESH_TOKEN_REUSED")
    # And the token the rotation issued is revoked with it
    after = await accounts.refresh(second["refreshToken"])
    assert after["session"] is None
    assert [e["code"] for e in after["errors"]] == ["REFRESH_TOKEN_INVALID"]


async def test_reuse_revocation_spares_the_users_other_sign_ins(accounts: Accounts) -> None:
    # Given two sign-ins of one user, the first rotated once
    email = new_email()
    first = await accounts.session(email=email)
    other = (await accounts.login(email))["session"]
    await accounts.refresh(first["refreshToken"])
    # When the first sign-in's spent token is reused
    reused = await accounts.refresh(first["refreshToken"])
    assert [e["code"] for e in reused["errors"]] == ["REFRESH_TOKEN_REUSED"]
    # Then the other sign-in can still refresh
    payload = await accounts.refresh(other["refreshToken"])
    assert payload["errors"] == []
    assert payload["session"]["user"]["id"] == first["user"]["id"]


async def test_unknown_refresh_token_is_invalid(accounts: Accounts) -> None:
    # Given / when a refresh token that was never issued is presented
    payload = await accounts.refresh("never-issued-" + "x" * 40)
    # Then it is refused as invalid
    assert payload["session"] is None
    [error] = payload["errors"]
    assert (error["__typename"], error["code"]) == ("AuthenticationError", "REFRESH_TOKEN_INVALID")


async def test_expired_refresh_token_is_invalid(accounts: Accounts, session: AsyncSession) -> None:
    # Given a refresh token whose expiry has passed
    created = await accounts.session()
    digest = hashlib.sha256(created["refreshToken"].encode()).hexdigest()
    await session.execute(
        sa.text("UPDATE refresh_tokens SET expires_at = now() - interval '1 minute' WHERE token_hash = :h"),
        {"h": digest},
    )
    await session.commit()
    # When it is presented
    payload = await accounts.refresh(created["refreshToken"])
    # Then it is refused as invalid
    assert [e["code"] for e in payload["errors"]] == ["REFRESH_TOKEN_INVALID"]


async def test_concurrent_refreshes_of_one_token_yield_one_session(accounts: Accounts) -> None:
    # Given a refresh token
    created = await accounts.session()
    # When it is exchanged twice at the same time
    results = await asyncio.gather(*(accounts.refresh(created["refreshToken"]) for _ in range(2)))
    # Then exactly one exchange succeeds and the other is treated as a reuse
    sessions = [r["session"] for r in results if r["session"] is not None]
    codes = sorted(e["code"] for r in results for e in r["errors"])
    assert len(sessions) == 1
    assert codes == ["REFRESH_TOKEN_REUSED"]
    # And the reuse revoked the family, including the token the winner got
    after = await accounts.refresh(sessions[0]["refreshToken"])
    assert [e["code"] for e in after["errors"]] == ["REFRESH_TOKEN_INVALID"]


async def test_refresh_tokens_are_stored_hashed(accounts: Accounts, session: AsyncSession) -> None:
    # Given a session and its rotation
    first = await accounts.session()
    second = (await accounts.refresh(first["refreshToken"]))["session"]
    # When the user's refresh_tokens rows are read
    result = await session.execute(
        sa.text("SELECT token_hash FROM refresh_tokens WHERE user_id = :u"), {"u": user_pk(first["user"]["id"])}
    )
    hashes = {row.token_hash for row in result}
    # Then they hold SHA-256 digests of the secrets, never the secrets themselves
    plaintexts = {first["refreshToken"], second["refreshToken"]}
    assert hashes == {hashlib.sha256(t.encode()).hexdigest() for t in plaintexts}
    assert not hashes & plaintexts
    assert not any(t in h for t in plaintexts for h in hashes)


# ------------------------------------------------------------------------------ logout


async def test_logout_with_a_refresh_token_ends_that_sign_in_only(accounts: Accounts) -> None:
    # Given two sign-ins of one user
    email = new_email()
    first = await accounts.session(email=email)
    other = (await accounts.login(email))["session"]
    # When the first is ended with its refresh token
    payload = await accounts.logout(first["accessToken"], refreshToken=first["refreshToken"])
    # Then one token was revoked and it no longer refreshes
    assert payload["errors"] == []
    assert payload["revokedSessions"] == 1
    assert [e["code"] for e in (await accounts.refresh(first["refreshToken"]))["errors"]] == ["REFRESH_TOKEN_INVALID"]
    # And the other sign-in still refreshes
    assert (await accounts.refresh(other["refreshToken"]))["errors"] == []


async def test_logout_with_a_rotated_token_ends_the_whole_sign_in(accounts: Accounts) -> None:
    # Given a sign-in rotated once
    first = await accounts.session()
    second = (await accounts.refresh(first["refreshToken"]))["session"]
    # When it is ended with the current refresh token
    payload = await accounts.logout(second["accessToken"], refreshToken=second["refreshToken"])
    # Then the current token no longer refreshes
    assert payload["errors"] == []
    assert payload["revokedSessions"] >= 1
    assert [e["code"] for e in (await accounts.refresh(second["refreshToken"]))["errors"]] == ["REFRESH_TOKEN_INVALID"]


async def test_logout_everywhere_ends_every_sign_in_of_the_viewer(accounts: Accounts) -> None:
    # Given three sign-ins of one user, and another user
    email = new_email()
    first = await accounts.session(email=email)
    logins = [(await accounts.login(email))["session"] for _ in range(2)]
    stranger = await accounts.session()
    # When the user signs out everywhere
    payload = await accounts.logout(first["accessToken"], everywhere=True)
    # Then all three refresh tokens are revoked
    assert payload["errors"] == []
    assert payload["revokedSessions"] == 3
    for token in [first["refreshToken"], *(s["refreshToken"] for s in logins)]:
        assert [e["code"] for e in (await accounts.refresh(token))["errors"]] == ["REFRESH_TOKEN_INVALID"]
    # And the other user's sign-in is untouched
    assert (await accounts.refresh(stranger["refreshToken"]))["errors"] == []


async def test_logout_cannot_end_another_users_sign_in(accounts: Accounts) -> None:
    # Given two users
    me = await accounts.session()
    victim = await accounts.session()
    # When one passes the other's refresh token to logout
    payload = await accounts.logout(me["accessToken"], refreshToken=victim["refreshToken"])
    # Then nothing is revoked and the other's token still refreshes
    assert payload["revokedSessions"] == 0
    assert (await accounts.refresh(victim["refreshToken"]))["errors"] == []
    # And the caller's own sign-in is untouched too
    assert (await accounts.refresh(me["refreshToken"]))["errors"] == []


async def test_logout_requires_a_signed_in_user(accounts: Accounts) -> None:
    # Given a refresh token but no access token
    created = await accounts.session()
    # When logout is sent anonymously
    payload = await accounts.logout(None, refreshToken=created["refreshToken"])
    # Then it is refused as unauthenticated and the token still works
    assert payload["revokedSessions"] == 0
    [error] = payload["errors"]
    assert (error["__typename"], error["code"]) == ("AuthenticationError", "UNAUTHENTICATED")
    assert (await accounts.refresh(created["refreshToken"]))["errors"] == []


async def test_logout_needs_a_refresh_token_or_everywhere(accounts: Accounts) -> None:
    # Given a signed-in user
    created = await accounts.session()
    # When logout is sent with neither a refresh token nor everywhere
    payload = await accounts.logout(created["accessToken"])
    # Then it is a validation error on refreshToken, and nothing was revoked
    assert payload["revokedSessions"] == 0
    [error] = payload["errors"]
    assert (error["__typename"], error["code"], error["field"]) == (
        "ValidationError",
        "VALIDATION",
        ["input", "refreshToken"],
    )
    assert (await accounts.refresh(created["refreshToken"]))["errors"] == []


# ------------------------------------------------------------------------------ access tokens over HTTP


async def _viewer_with(http: httpx.AsyncClient, authorization: str) -> httpx.Response:
    return await http.post("/graphql", json={"query": VIEWER_ID}, headers={"Authorization": authorization})


def _assert_refused(response: httpx.Response, reason: str | set[str], *, error: str = "invalid_token") -> None:
    """401, one UNAUTHENTICATED error with the expected reason, no data, and a Bearer challenge."""
    assert response.status_code == 401, response.text
    body = response.json()
    assert "data" not in body
    [only] = body["errors"]
    assert only["extensions"]["code"] == "UNAUTHENTICATED"
    reasons = {reason} if isinstance(reason, str) else reason
    assert only["extensions"]["reason"] in reasons, only
    assert only["message"]
    challenge = response.headers.get("www-authenticate", "")
    assert challenge.startswith("Bearer "), challenge
    assert f'error="{error}"' in challenge


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(data)).decode().rstrip("=")


def _parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and claims of a JWT, read without verifying it."""
    header, claims, _ = token.split(".")
    return (
        orjson.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4))),
        orjson.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4))),
    )


async def test_access_token_from_the_servers_key_is_accepted(
    accounts: Accounts, http: httpx.AsyncClient, settings: Settings
) -> None:
    # Given a token issued by a TokenService built from the test settings (the control for the cases below)
    created = await accounts.session()
    token, _ = TokenService(settings).issue(user_id=user_pk(created["user"]["id"]), role="user")
    # When it is sent, with the scheme in lower case
    response = await _viewer_with(http, f"bearer {token}")
    # Then it signs the user in
    assert response.status_code == 200, response.text
    assert response.json()["data"]["viewer"]["user"]["id"] == created["user"]["id"]


async def test_expired_access_token_is_refused(accounts: Accounts, http: httpx.AsyncClient, settings: Settings) -> None:
    # Given a token issued a day ago
    created = await accounts.session()
    token, expires_at = TokenService(settings).issue(
        user_id=user_pk(created["user"]["id"]), role="user", now=int(time.time()) - 24 * 3600
    )
    assert expires_at < time.time()
    # When it is sent; then it is refused as expired
    _assert_refused(await _viewer_with(http, f"Bearer {token}"), "TOKEN_EXPIRED")


@pytest.mark.parametrize("kid", ["none", "ours", "its-own"])
async def test_access_token_signed_by_another_key_is_refused(
    accounts: Accounts, http: httpx.AsyncClient, kid: str
) -> None:
    # Given the claims of a genuine token, signed again with a key the server does not know
    created = await accounts.session()
    header, claims = _parts(created["accessToken"])
    foreign = ECKey.generate_key("P-256", private=True)
    foreign.ensure_kid()
    forged_header: dict[str, Any] = {"alg": "ES256"}
    if kid == "ours":
        forged_header["kid"] = header["kid"]
    elif kid == "its-own":
        forged_header["kid"] = foreign.kid
    forged = jwt.encode(forged_header, claims, foreign, algorithms=["ES256"])
    # When it is sent; then it is refused for its signature
    _assert_refused(await _viewer_with(http, f"Bearer {forged}"), "TOKEN_BAD_SIGNATURE")


@pytest.mark.parametrize(
    ("setting", "reason"),
    [("jwt_audience", "TOKEN_WRONG_AUDIENCE"), ("jwt_issuer", "TOKEN_WRONG_ISSUER")],
)
async def test_access_token_for_another_audience_or_issuer_is_refused(
    accounts: Accounts, http: httpx.AsyncClient, settings: Settings, setting: str, reason: str
) -> None:
    # Given a token signed with the server's own key but naming another audience or issuer
    created = await accounts.session()
    other = TokenService(settings.model_copy(update={setting: "other"}))
    token, _ = other.issue(user_id=user_pk(created["user"]["id"]), role="user")
    assert _parts(token)[0]["kid"] == _parts(created["accessToken"])[0]["kid"]
    # When it is sent; then it is refused with that reason
    _assert_refused(await _viewer_with(http, f"Bearer {token}"), reason)


@pytest.mark.parametrize("token", ["not-a-jwt", "a.b.c", "e30.e30.", "x" * 300])
async def test_malformed_access_token_is_refused(http: httpx.AsyncClient, token: str) -> None:
    # Given / when something that is not a JWT is sent as a bearer token; then it is refused as malformed
    _assert_refused(await _viewer_with(http, f"Bearer {token}"), "TOKEN_MALFORMED")


async def test_refresh_token_is_not_an_access_token(accounts: Accounts, http: httpx.AsyncClient) -> None:
    # Given / when a refresh token is sent as the bearer token; then it is refused as malformed
    created = await accounts.session()
    _assert_refused(await _viewer_with(http, f"Bearer {created['refreshToken']}"), "TOKEN_MALFORMED")


@pytest.mark.parametrize("authorization", ["Basic dXNlcjpwYXNzd29yZA==", "Bearer", "Token abc.def.ghi"])
async def test_authorization_other_than_bearer_is_refused(http: httpx.AsyncClient, authorization: str) -> None:
    # Given / when the Authorization header is not `Bearer <token>`; then the request is refused
    _assert_refused(await _viewer_with(http, authorization), "AUTHORIZATION_MALFORMED", error="invalid_request")


@pytest.mark.parametrize("alg", ["none", "HS256"])
async def test_access_token_with_another_algorithm_is_refused(
    accounts: Accounts, http: httpx.AsyncClient, alg: str
) -> None:
    # Given the claims of a genuine token under an unsigned or HMAC header
    created = await accounts.session()
    header, claims = _parts(created["accessToken"])
    if alg == "none":
        forged = f"{_b64({'alg': 'none', 'typ': 'JWT', 'kid': header['kid']})}.{_b64(claims)}."
    else:
        secret = OctKey.generate_key(256)
        forged = jwt.encode({"alg": "HS256", "kid": header["kid"]}, claims, secret, algorithms=["HS256"])
    # When it is sent; then it is refused (only ES256 is accepted)
    _assert_refused(await _viewer_with(http, f"Bearer {forged}"), {"TOKEN_MALFORMED", "TOKEN_BAD_SIGNATURE"})


# ------------------------------------------------------------------------------ JWKS


async def test_jwks_serves_only_public_ec_keys(http: httpx.AsyncClient) -> None:
    # Given / when the JWKS is fetched
    response = await http.get("/.well-known/jwks.json")
    # Then it lists EC P-256 public keys with kid, alg and use, and no private part
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/jwk-set+json")
    keys = response.json()["keys"]
    assert keys
    for key in keys:
        assert (key["kty"], key["crv"], key["alg"], key["use"]) == ("EC", "P-256", "ES256", "sig")
        assert key["kid"]
        assert key["x"]
        assert key["y"]
        assert "d" not in key


async def test_access_token_verifies_against_the_jwks(
    accounts: Accounts, http: httpx.AsyncClient, settings: Settings
) -> None:
    # Given an access token from a login
    email = new_email()
    created = await accounts.session(email=email)
    session = (await accounts.login(email))["session"]
    # When it is verified with the keys the JWKS publishes
    key_set = KeySet.import_key_set((await http.get("/.well-known/jwks.json")).json())
    decoded = jwt.decode(session["accessToken"], key_set, algorithms=["ES256"])
    # Then the signature checks out and the claims name issuer, audience, subject and expiry
    claims = decoded.claims
    assert decoded.header["alg"] == "ES256"
    assert decoded.header["kid"] in {key.kid for key in key_set.keys}
    assert claims["iss"] == settings.jwt_issuer
    assert claims["aud"] == settings.jwt_audience
    assert claims["sub"] == str(user_pk(created["user"]["id"]))
    assert claims["exp"] > time.time()
    assert claims["exp"] - claims["iat"] == settings.access_token_ttl_seconds
    # And the claims pass the standard checks
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": settings.jwt_issuer},
        aud={"essential": True, "value": settings.jwt_audience},
        exp={"essential": True},
        sub={"essential": True},
    ).validate(claims)


def test_a_verified_token_is_remembered_until_it_expires_and_no_other_text_matches_it(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = TokenService(settings)
    user = uuid.uuid4()
    token, expires_at = service.issue(user_id=user, role="user")
    first = service.verify(token)
    # A second verification answers from memory (the same claims, no signature check)
    assert service.verify(token) is first
    assert first.user_id == user
    # A text that differs in one character is verified on its own, and refused
    tampered = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    with pytest.raises(InvalidAccessToken):
        service.verify(tampered)
    # Once the token has expired, the remembered claims are not used: it is refused as expired
    monkeypatch.setattr(time, "time", lambda: float(expires_at + 3600))
    with pytest.raises(InvalidAccessToken) as refused:
        service.verify(token)
    assert refused.value.problem is TokenProblem.EXPIRED
