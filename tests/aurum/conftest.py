"""Aurum Life fixtures: a small factory that builds hierarchies over GraphQL.

Only fixtures named `aurum_*` live here (other test modules of this directory share it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tests.support import GraphQLClient


@dataclass(frozen=True)
class AurumTree:
    """One pillar → area → project chain, by global ID."""

    pillar: str
    area: str
    project: str


class AurumFactory:
    """Creates Aurum Life objects through the public mutations; returns their global IDs."""

    def __init__(self, gql: GraphQLClient) -> None:
        self.gql = gql

    async def pillar(self, token: str, name: str = "Health", **fields: Any) -> str:
        payload = await self.gql.mutate("createPillar", {"name": name, **fields}, "pillar { id }", token=token)
        return str(payload["pillar"]["id"])

    async def area(self, token: str, pillar_id: str, name: str = "Fitness", **fields: Any) -> str:
        payload = await self.gql.mutate(
            "createArea", {"pillarId": pillar_id, "name": name, **fields}, "area { id }", token=token
        )
        return str(payload["area"]["id"])

    async def project(self, token: str, area_id: str, name: str = "Run a 10k", **fields: Any) -> str:
        payload = await self.gql.mutate(
            "createProject", {"areaId": area_id, "name": name, **fields}, "project { id }", token=token
        )
        return str(payload["project"]["id"])

    async def task(self, token: str, project_id: str, title: str = "Buy shoes", **fields: Any) -> str:
        payload = await self.gql.mutate(
            "createTask", {"projectId": project_id, "title": title, **fields}, "task { id }", token=token
        )
        return str(payload["task"]["id"])

    async def tasks(self, token: str, project_id: str, inputs: list[dict[str, Any]]) -> list[str]:
        """Create several tasks in one request (one aliased mutation each, run in order)."""
        assert 0 < len(inputs) <= 25, "keep under the alias limit"
        fields = "\n".join(
            f"t{i}: createTask(input: $i{i}) {{ task {{ id }} errors {{ code message }} }}" for i in range(len(inputs))
        )
        variables_decl = ", ".join(f"$i{i}: CreateTaskInput!" for i in range(len(inputs)))
        document = f"mutation Many({variables_decl}) {{ {fields} }}"
        variables = {f"i{i}": {"projectId": project_id, **values} for i, values in enumerate(inputs)}
        data = (await self.gql(document, variables, token=token)).data
        ids: list[str] = []
        for i in range(len(inputs)):
            payload = data[f"t{i}"]
            assert payload["errors"] == [], payload["errors"]
            ids.append(str(payload["task"]["id"]))
        return ids

    async def tree(self, token: str) -> AurumTree:
        pillar = await self.pillar(token)
        area = await self.area(token, pillar)
        project = await self.project(token, area)
        return AurumTree(pillar=pillar, area=area, project=project)


@pytest.fixture
def aurum_factory(gql: GraphQLClient) -> AurumFactory:
    return AurumFactory(gql)
