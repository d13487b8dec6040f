"""A small demo dataset a newcomer can query at once: `serve --demo`, or a first dev run.

The demo user is the platform's; each product adds its own data for them (`Product.demo`), in
the order of the registrations.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from core.context import Actor
from core.products import Product
from core.settings import Settings
from models.aurum import Priority, ProjectStatus, ResourceKind, TaskStatus
from models.identity import User
from services import aurum, identity, notifications

DEMO_EMAIL = "demo@quintet.dev"
DEMO_PASSWORD = "quintet-demo-password"

# pillar → areas → projects → tasks (title, status, priority, days until due or None)
TREE: list[
    tuple[
        str,
        str,
        list[tuple[str, int, list[tuple[str, ProjectStatus, list[tuple[str, TaskStatus, Priority, int | None]]]]]],
    ]
] = [
    (
        "Health",
        "#34A853",
        [
            (
                "Fitness",
                4,
                [
                    (
                        "Run a half marathon",
                        ProjectStatus.IN_PROGRESS,
                        [
                            ("Buy running shoes", TaskStatus.DONE, Priority.MEDIUM, -20),
                            ("Run 3 x 5 km this week", TaskStatus.IN_PROGRESS, Priority.HIGH, 2),
                            ("Long run: 15 km", TaskStatus.TODO, Priority.MEDIUM, 9),
                            ("Register for the race", TaskStatus.TODO, Priority.URGENT, -1),
                        ],
                    ),
                ],
            ),
            (
                "Nutrition",
                3,
                [
                    (
                        "Cook at home five days a week",
                        ProjectStatus.NOT_STARTED,
                        [
                            ("Plan the week's meals", TaskStatus.TODO, Priority.MEDIUM, 1),
                            ("Stock the pantry", TaskStatus.TODO, Priority.LOW, None),
                        ],
                    ),
                ],
            ),
        ],
    ),
    (
        "Career",
        "#4285F4",
        [
            (
                "Skills",
                5,
                [
                    (
                        "Learn GraphQL deeply",
                        ProjectStatus.IN_PROGRESS,
                        [
                            ("Read the GraphQL spec", TaskStatus.DONE, Priority.HIGH, -10),
                            ("Build a Relay connection", TaskStatus.DONE, Priority.HIGH, -3),
                            ("Write a DataLoader from scratch", TaskStatus.IN_PROGRESS, Priority.MEDIUM, 4),
                        ],
                    ),
                ],
            ),
        ],
    ),
    (
        "Relationships",
        "#EA4335",
        [
            (
                "Family",
                5,
                [
                    (
                        "Plan the summer trip",
                        ProjectStatus.ON_HOLD,
                        [
                            ("Pick three destinations", TaskStatus.TODO, Priority.MEDIUM, 30),
                            ("Book the flights", TaskStatus.CANCELLED, Priority.LOW, None),
                        ],
                    ),
                ],
            ),
        ],
    ),
]


async def _has_users(session: AsyncSession) -> bool:
    return bool((await session.execute(sa.select(sa.exists().select_from(User)))).scalar_one())


async def load_demo(session: AsyncSession, settings: Settings, products: Sequence[Product]) -> User | None:
    """Create the demo user and the products' data; does nothing when the demo user exists already."""
    from core.security import TokenService

    if await identity.find_user_by_email(session, DEMO_EMAIL) is not None:
        return None
    created = await identity.register(
        session,
        tokens=TokenService(settings),
        refresh_ttl=timedelta(seconds=settings.refresh_token_ttl_seconds),
        email=DEMO_EMAIL,
        password=DEMO_PASSWORD,
        display_name="Demo Explorer",
        purpose="To live deliberately, one pillar at a time.",
        offering="Curiosity and a running partner.",
    )
    actor = Actor(user_id=created.user.id, role=created.user.role)
    for product in products:
        if product.demo is not None:
            await product.demo(session, actor)
    return created.user


async def aurum_demo(session: AsyncSession, actor: Actor) -> None:
    """Aurum Life's part: the pillar tree, a journal entry, a resource and two notifications."""
    now = datetime.now(UTC)
    first_project = None
    for pillar_name, color, areas in TREE:
        pillar = await aurum.create_pillar(
            session, actor=actor, name=pillar_name, description=None, color=color, icon=None
        )
        for area_name, importance, projects in areas:
            area = await aurum.create_area(
                session, actor=actor, pillar_id=pillar.id, name=area_name, description=None, importance=importance
            )
            for project_name, project_status, tasks in projects:
                project = await aurum.create_project(
                    session,
                    actor=actor,
                    area_id=area.id,
                    name=project_name,
                    description=None,
                    status=project_status,
                    priority=Priority.MEDIUM,
                    due_at=now + timedelta(days=60),
                )
                first_project = first_project or project
                for title, status, priority, due_in in tasks:
                    await aurum.create_task(
                        session,
                        actor=actor,
                        project_id=project.id,
                        title=title,
                        description=None,
                        status=status,
                        priority=priority,
                        due_at=now + timedelta(days=due_in) if due_in is not None else None,
                    )
    template = await aurum.create_journal_template(
        session,
        actor=actor,
        name="Evening review",
        description="Five minutes before bed.",
        prompts=["What went well today?", "What drained me?", "One thing for tomorrow?"],
    )
    await aurum.create_journal_entry(
        session,
        actor=actor,
        title="First long run",
        body="Ran 10 km without stopping. Legs heavy, head clear.",
        mood=8,
        tags=["running", "win"],
        template_id=template.id,
    )
    if first_project is not None:
        await aurum.create_resource(
            session,
            actor=actor,
            fields=aurum.ResourceFields(
                kind=ResourceKind.LINK,
                title="Half marathon training plan",
                url="https://example.com/half-marathon-plan",
                project_id=first_project.id,
            ),
        )
    await notifications.notify(
        session,
        user_id=actor.user_id,
        product="aurum",
        kind="task_overdue",
        title="“Register for the race” is overdue",
        data={"taskTitle": "Register for the race"},
    )
    await notifications.notify(
        session, user_id=actor.user_id, product="aurum", kind="welcome", title="Welcome to Aurum Life"
    )


async def load_demo_if_wanted(url: str, settings: Settings, products: Sequence[Product], *, force: bool) -> None:
    """Load the demo when asked, or in dev mode when the database has no users yet."""
    engine = create_async_engine(url)
    try:
        sessions = async_sessionmaker(engine, expire_on_commit=False)
        async with sessions() as session, session.begin():
            if not force and (not settings.is_dev or await _has_users(session)):
                return
            user = await load_demo(session, settings, products)
        if user is not None or force:
            print(f"Demo login: {DEMO_EMAIL} / {DEMO_PASSWORD}", flush=True)
    finally:
        await engine.dispose()
