from tests.test_fastpath import *  # noqa

async def test_probe(pair: Pair, world: World) -> None:
    user = world.ids[4]
    q = 'query Generated { viewer { unreadNotificationCount user { displayName createdAt role offering ...F0 } } node(id: "%s") { __typename id ... on BackgroundJob { progress result error { code } } ... on Task { description __typename } } } fragment F0 on User { createdAt }' % user
    print(await compare(pair, q, None, world.token_b))
