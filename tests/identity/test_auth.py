"""Accounts: registration, sign-in, the viewer and profile changes."""

from __future__ import annotations

from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy.ext.asyncio import AsyncSession

from tests.identity.conftest import Accounts, new_email, user_pk, users_with_email
from tests.support import PASSWORD, GraphQLClient

# ------------------------------------------------------------------------------ register


async def test_register_returns_a_session_that_signs_in_the_new_user(accounts: Accounts) -> None:
    # Given a new email
    email = new_email("Ada")
    # When an account is registered with a purpose and an offering
    payload = await accounts.register(
        email=email, display_name="  Ada Lovelace ", purpose="Learn to rest", offering="Mathematics"
    )
    # Then the payload carries both tokens and the user, as stored
    assert payload["errors"] == []
    session = payload["session"]
    assert session["accessToken"].count(".") == 2
    assert len(session["refreshToken"]) >= 32
    assert session["accessToken"] != session["refreshToken"]
    assert session["user"] == {
        "id": session["user"]["id"],
        "email": email,
        "displayName": "Ada Lovelace",
        "purpose": "Learn to rest",
        "offering": "Mathematics",
        "role": "USER",
    }
    # And the access token reads the same user back through the viewer
    assert await accounts.viewer(session["accessToken"]) == {"user": session["user"]}


async def test_register_stores_purpose_and_offering(accounts: Accounts, session: AsyncSession) -> None:
    # Given / when an account is registered with profile texts
    email = new_email()
    created = await accounts.session(email=email, purpose="Find my people", offering="Listening")
    # Then its row holds them
    [row] = await users_with_email(session, email)
    assert row.id == user_pk(created["user"]["id"])
    assert (row.purpose, row.offering) == ("Find my people", "Listening")


async def test_register_without_profile_texts_leaves_them_empty(accounts: Accounts) -> None:
    # Given / when an account is registered with only the required fields
    created = await accounts.session()
    # Then purpose and offering are null
    viewer = await accounts.viewer(created["accessToken"])
    assert viewer is not None
    assert (viewer["user"]["purpose"], viewer["user"]["offering"]) == (None, None)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        pytest.param({"email": "not-an-email"}, ["input", "email"], id="bad-email"),
        pytest.param({"email": "two words@example.com"}, ["input", "email"], id="email-with-space"),
        pytest.param({"password": "123456789"}, ["input", "password"], id="short-password"),
        pytest.param({"display_name": "   "}, ["input", "displayName"], id="blank-display-name"),
    ],
)
async def test_register_rejects_invalid_input(
    accounts: Accounts, session: AsyncSession, overrides: dict[str, Any], field: list[str]
) -> None:
    # Given an otherwise valid registration with one bad value
    fields: dict[str, Any] = {"email": new_email(), **overrides}
    # When it is sent
    payload = await accounts.register(**fields)
    # Then it comes back as a validation error naming the field, without a session
    assert payload["session"] is None
    [error] = payload["errors"]
    assert error["__typename"] == "ValidationError"
    assert error["code"] == "VALIDATION"
    assert error["field"] == field
    assert error["message"]
    # And no account was created
    assert await users_with_email(session, fields["email"]) == []


async def test_register_accepts_a_password_of_exactly_the_minimum_length(accounts: Accounts) -> None:
    # Given / when a password of 10 characters is used
    payload = await accounts.register(password="0123456789")
    # Then the account is created
    assert payload["errors"] == []
    assert payload["session"]["accessToken"]


async def test_register_same_email_in_another_case_is_taken(accounts: Accounts, session: AsyncSession) -> None:
    # Given an account
    email = new_email("Grace.Hopper")
    await accounts.session(email=email)
    # When the same email is registered again in another case
    payload = await accounts.register(email=email.upper(), password="another password entirely")
    # Then it is refused as a conflict, without a session
    assert payload["session"] is None
    [error] = payload["errors"]
    assert error["__typename"] == "ConflictError"
    assert error["code"] == "EMAIL_TAKEN"
    assert error["field"] == ["input", "email"]
    # And there is still exactly one account, keeping its original email and password
    [row] = await users_with_email(session, email)
    assert row.email == email
    assert (await accounts.login(email))["errors"] == []
    assert (await accounts.login(email, "another password entirely"))["errors"][0]["code"] == "INVALID_CREDENTIALS"


async def test_password_is_stored_as_an_argon2_hash(accounts: Accounts, session: AsyncSession) -> None:
    # Given / when an account is registered
    email = new_email()
    await accounts.session(email=email)
    # Then its row holds an argon2 hash of the password, never the password itself
    [row] = await users_with_email(session, email)
    assert row.password_hash.startswith("$argon2")
    assert PASSWORD not in row.password_hash
    assert PasswordHasher().verify(row.password_hash, PASSWORD)


# ------------------------------------------------------------------------------ login


async def test_login_ignores_the_case_of_the_email(accounts: Accounts) -> None:
    # Given an account registered with a mixed-case email
    email = new_email("Mixed.Case")
    created = await accounts.session(email=email)
    # When its owner signs in with the email upper-cased
    payload = await accounts.login(email.upper())
    # Then they get a session for the same user
    assert payload["errors"] == []
    assert payload["session"]["user"]["id"] == created["user"]["id"]
    assert payload["session"]["user"]["email"] == email


async def test_login_returns_working_tokens(accounts: Accounts) -> None:
    # Given an account
    email = new_email()
    created = await accounts.session(email=email, display_name="Lin")
    # When its owner signs in
    session = (await accounts.login(email))["session"]
    # Then the new tokens are fresh ones
    assert session["accessToken"] != created["accessToken"]
    assert session["refreshToken"] != created["refreshToken"]
    # And the access token reads the viewer, and the refresh token can be exchanged
    viewer = await accounts.viewer(session["accessToken"])
    assert viewer is not None
    assert viewer["user"]["displayName"] == "Lin"
    refreshed = await accounts.refresh(session["refreshToken"])
    assert refreshed["errors"] == []
    assert refreshed["session"]["user"]["id"] == created["user"]["id"]


async def test_wrong_password_and_unknown_email_look_the_same(accounts: Accounts) -> None:
    # Given an account
    email = new_email()
    await accounts.session(email=email)
    # When someone signs in with a wrong password, and with an email that has no account
    wrong_password = await accounts.login(email, "not the right password")
    unknown_email = await accounts.login(new_email("nobody"), PASSWORD)
    # Then both are refused with the very same error, so nothing tells whether the email exists
    assert wrong_password["session"] is None
    assert unknown_email["session"] is None
    assert wrong_password["errors"] == unknown_email["errors"]
    [error] = wrong_password["errors"]
    assert error["__typename"] == "AuthenticationError"
    assert error["code"] == "INVALID_CREDENTIALS"
    assert "email" in error["message"].lower()


# ------------------------------------------------------------------------------ viewer


async def test_viewer_is_null_without_a_token(gql: GraphQLClient) -> None:
    # Given no access token; when the viewer is read
    result = await gql("{ viewer { user { id email } } }")
    # Then it is null, without an error
    assert result.status == 200
    assert result.data == {"viewer": None}


# ------------------------------------------------------------------------------ updateProfile


async def test_update_profile_changes_every_field(accounts: Accounts) -> None:
    # Given an account with a profile
    created = await accounts.session(display_name="Old", purpose="Old purpose", offering="Old offering")
    token = created["accessToken"]
    # When all three fields are changed
    payload = await accounts.update_profile(
        token, displayName=" New Name ", purpose="New purpose", offering="New offering"
    )
    # Then the payload and the viewer show the new values
    assert payload["errors"] == []
    expected = {"displayName": "New Name", "purpose": "New purpose", "offering": "New offering"}
    assert {k: payload["user"][k] for k in expected} == expected
    viewer = await accounts.viewer(token)
    assert viewer is not None
    assert {k: viewer["user"][k] for k in expected} == expected


async def test_update_profile_null_clears_and_omitted_fields_stay(accounts: Accounts) -> None:
    # Given an account with a purpose and an offering
    created = await accounts.session(display_name="Keeper", purpose="Some purpose", offering="Some offering")
    # When only purpose is sent, as null
    payload = await accounts.update_profile(created["accessToken"], purpose=None)
    # Then purpose is cleared while the display name and offering are unchanged
    assert payload["errors"] == []
    viewer = await accounts.viewer(created["accessToken"])
    assert viewer is not None
    assert viewer["user"]["purpose"] is None
    assert viewer["user"]["displayName"] == "Keeper"
    assert viewer["user"]["offering"] == "Some offering"


@pytest.mark.parametrize("display_name", ["", "   ", None])
async def test_update_profile_rejects_a_blank_display_name(accounts: Accounts, display_name: str | None) -> None:
    # Given an account
    created = await accounts.session(display_name="Steady", purpose="Unchanged")
    # When the display name is set blank, together with another change
    payload = await accounts.update_profile(created["accessToken"], displayName=display_name, purpose="Changed")
    # Then it is a validation error on that field
    assert payload["user"] is None
    [error] = payload["errors"]
    assert (error["__typename"], error["code"], error["field"]) == (
        "ValidationError",
        "VALIDATION",
        ["input", "displayName"],
    )
    # And nothing changed
    viewer = await accounts.viewer(created["accessToken"])
    assert viewer is not None
    assert (viewer["user"]["displayName"], viewer["user"]["purpose"]) == ("Steady", "Unchanged")


async def test_update_profile_requires_a_signed_in_user(accounts: Accounts) -> None:
    # Given no access token; when a profile change is sent
    payload = await accounts.update_profile(None, displayName="Anon")
    # Then it is refused as unauthenticated
    assert payload["user"] is None
    [error] = payload["errors"]
    assert (error["__typename"], error["code"]) == ("AuthenticationError", "UNAUTHENTICATED")
