"""What every live subscription does: listen to the viewer's channel (or to an organization's,
`channel_events`, whose caller checks membership) and nothing else, hand each event over with
fresh loaders scoped to the viewer, pass status messages on, end cleanly.

A domain's subscription resolver reads each event's ids back through `info.context.loaders`,
which this sets to a loader set of the subscriber's own actor for that one event: what another
user owns reads as missing, so it is never sent (the per-event, per-subscriber check). The loader
set is shared by this process's subscriptions of the same user for the same event, so that a
thousand dashboards of one account cost one read per event, not a thousand.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Callable

from core.context import Actor, account_gone
from core.errors import ClientError
from core.events import BusNotice, Envelope, Event, SubscriberTooSlow, user_channel
from core.shared_subscriptions import yielded_status
from loaders import Loaders
from schema import kit
from schema.common import Ctx
from schema.identity import User
from schema.live import LiveUpdatesStatus


def require_actor(info: Ctx) -> Actor:
    actor = info.context.actor
    if actor is None:
        raise ClientError("Sign in to subscribe: live updates are the viewer's own", "UNAUTHENTICATED")
    return actor


def _loaders_for(info: Ctx, envelope: Envelope, actor: Actor) -> Loaders:
    key = ("loaders", actor.user_id)
    loaders: Loaders | None = envelope.shared.get(key)
    if loaders is None:
        loaders = envelope.shared[key] = info.context.new_loaders(actor)
    return loaders


async def viewer_events(info: Ctx, topic: str) -> AsyncGenerator[LiveUpdatesStatus | Event, None]:
    """The viewer's events of `topic`, and the stream's status messages, until it ends.

    Ends with an UNAUTHENTICATED error when the viewer's access token expires, and with
    SUBSCRIBER_TOO_SLOW when the subscriber fell `subscriptionQueueSize` events behind.
    """
    actor = await subscriber(info)
    owner = str(actor.user_id)

    def accept(event: Event) -> bool:
        # The channel is the viewer's own; the owner check guards against a routing mistake.
        return event.get("topic") == topic and event.get("user") == owner

    async for item in channel_events(info, actor, user_channel(actor.user_id), accept):
        yield item


async def subscriber(info: Ctx) -> Actor:
    """The signed-in viewer, whose account still exists: what every subscription checks first."""
    actor = require_actor(info)
    if await kit.rows_of(info.context.loaders, User).load(actor.user_id) is None:
        raise account_gone()
    return actor


async def channel_events(
    info: Ctx, actor: Actor, channel: str, accept: Callable[[Event], bool]
) -> AsyncGenerator[LiveUpdatesStatus | Event, None]:
    """The events of `channel` that `accept` keeps, and the stream's status messages, until it
    ends; before each event is handed over, `info.context.loaders` is a loader set of `actor`'s
    for that event. The caller decides who may listen to the channel, at subscribe time and
    again per event (through those loaders).

    Ends with an UNAUTHENTICATED error when the viewer's access token expires, and with
    SUBSCRIBER_TOO_SLOW when the subscriber fell `subscriptionQueueSize` events behind.
    """
    context = info.context
    limit = context.settings.subscription_queue_size
    loop = asyncio.get_running_loop()
    expires = None if actor.expires_at is None else loop.time() + (actor.expires_at - time.time())
    async with context.bus.subscribe(channel, max_queue=limit) as subscription:
        while True:
            try:
                async with asyncio.timeout_at(expires):
                    delivery = await anext(subscription)
            except StopAsyncIteration:
                return
            except SubscriberTooSlow as exc:
                raise ClientError(
                    f"This subscription fell {limit} events behind and was ended "
                    f"(subscriptionQueueSize is {limit}): subscribe again and refetch",
                    "SUBSCRIBER_TOO_SLOW",
                    limit="subscriptionQueueSize",
                    value=limit,
                ) from exc
            except TimeoutError:
                raise ClientError(
                    "The access token has expired: subscribe again with a fresh one",
                    "UNAUTHENTICATED",
                    reason="TOKEN_EXPIRED",
                ) from None
            if isinstance(delivery, BusNotice):
                yielded_status.set(True)
                yield LiveUpdatesStatus.of(delivery)
                continue
            event = delivery.event
            if not accept(event):
                continue
            context.loaders = _loaders_for(info, delivery, actor)
            yielded_status.set(False)
            yield event
