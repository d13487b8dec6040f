"""Akashic fixtures (campaigns and messages; other Akashic test files add their own, named
`akashic_*`)."""

from __future__ import annotations

import pytest

from tests.akashic.support import AkashicFactory
from tests.support import GraphQLClient


@pytest.fixture
def akashic_factory(gql: GraphQLClient) -> AkashicFactory:
    return AkashicFactory(gql)
