"""The writing of insights: the prompt for a language model, and the offline templates.

Both work from the same facts (what the rule's SQL found) in the user's tone; the offline
provider runs the templates, so offline insights are specific, not filler.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import pydantic

from core.ai import AIFailure, AIProvider, AIProviderError, Completion, StructuredPrompt
from models.insights import RuleKind, Tone
from services.insights.rules import Finding


class InsightText(pydantic.BaseModel):
    ref: str = pydantic.Field(description="The finding's ref, unchanged.")
    title: str = pydantic.Field(description="A headline of at most 80 characters.")
    body: str = pydantic.Field(description="One to three sentences grounded in the facts, with one concrete next step.")


class InsightTexts(pydantic.BaseModel):
    insights: list[InsightText]


TONE_GUIDE = {
    Tone.ENCOURAGING: "warm and encouraging: acknowledge effort, then suggest one small next step",
    Tone.DIRECT: "direct and brief: state the fact and the action, no cushioning",
    Tone.NEUTRAL: "neutral and factual: describe the situation and the options",
}


def plural(count: int, word: str, plural: str | None = None) -> str:
    return f"{count} {word if count == 1 else (plural or word + 's')}"


def _quoted(titles: Sequence[str]) -> str:
    quoted = [f"“{t}”" for t in titles]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def _overdue_text(facts: dict[str, Any], tone: Tone) -> tuple[str, str]:
    count, area, pillar = facts["overdue_count"], facts["area"], facts["pillar"]
    oldest, late, importance = facts["oldest_task"], facts["oldest_days_late"], facts["importance"]
    days = "less than a day" if late < 1 else plural(late, "day")
    title = f"{plural(count, 'overdue task')} in {area}"
    others = facts.get("other_tasks") or []
    also = f" Also waiting: {_quoted(others)}." if others else ""
    if tone is Tone.DIRECT:
        body = (
            f"{area} (importance {importance}/5) has {plural(count, 'overdue task')}. "
            f"Oldest: “{oldest}”, {days} late. Finish, reschedule or drop it today.{also}"
        )
    elif tone is Tone.NEUTRAL:
        body = (
            f"{area}, in {pillar}, has {plural(count, 'open task')} past due; the oldest, “{oldest}”, "
            f"is {days} late.{also} Rescheduling or splitting them would bring the area back on track."
        )
    else:
        slipped = "one of its tasks" if count == 1 else f"{count} of its tasks"
        body = (
            f"{area} matters to you (importance {importance}/5), and {slipped} slipped past due. "
            f"Start with one small step on “{oldest}” ({days} late): clearing it makes the rest lighter.{also}"
        )
    return title, body


def _inactive_text(facts: dict[str, Any], tone: Tone) -> tuple[str, str]:
    pillar, idle, open_tasks = facts["pillar"], facts["days_idle"], facts.get("open_tasks", 0)
    title = f"{pillar} has been quiet for {plural(idle, 'day')}"
    next_task = facts.get("next_task")
    if next_task:
        step = f"“{next_task}” is the obvious next step"
    else:
        step = "it has no open task: add one small one" if open_tasks == 0 else "pick any open task"
    if tone is Tone.DIRECT:
        body = (
            f"Nothing moved in {pillar} for {plural(idle, 'day')}. "
            f"Decide: act on it this week or pause it. {step[0].upper() + step[1:]}."
        )
    elif tone is Tone.NEUTRAL:
        body = (
            f"No task in {pillar} was created, changed or completed in {plural(idle, 'day')} "
            f"({plural(open_tasks, 'open task')}); {step}."
        )
    else:
        body = (
            f"{pillar} is one of your pillars, and it has rested for {plural(idle, 'day')}. "
            f"A little attention keeps it alive: {step}."
        )
    return title, body


def _overload_text(facts: dict[str, Any], tone: Tone) -> tuple[str, str]:
    count, limit = facts["open_count"], facts["max_open"]
    top = facts.get("top_tasks") or []
    title = f"{count} high-priority tasks at once"
    focus = f" Focus first on {_quoted(top)}." if top else ""
    urgent = f", {facts['urgent_count']} of them urgent" if facts.get("urgent_count") else ""
    if tone is Tone.DIRECT:
        body = (
            f"{count} open high-priority tasks{urgent}: more than {limit} means none is really a priority. "
            f"Downgrade or drop {count - limit}.{focus}"
        )
    elif tone is Tone.NEUTRAL:
        body = (
            f"You have {count} open tasks of high or urgent priority{urgent}, "
            f"above the {limit} that usually stay manageable.{focus}"
        )
    else:
        body = (
            f"You are carrying {count} high-priority tasks{urgent}. That is a lot for anyone: "
            f"choose the few that matter most this week and let the others wait.{focus}"
        )
    return title, body


def _streak_text(facts: dict[str, Any], tone: Tone) -> tuple[str, str]:
    days, done, since = facts["streak_days"], facts["tasks_done"], facts["since"]
    title = f"A {days}-day completion streak"
    keep = "Today counts already." if facts.get("through_today") else "Complete one task today to keep it going."
    if tone is Tone.DIRECT:
        body = f"{plural(done, 'task')} done over {days} consecutive days since {since}. {keep}"
    elif tone is Tone.NEUTRAL:
        body = f"You completed tasks on {days} consecutive days ({plural(done, 'task')} since {since}). {keep}"
    else:
        body = (
            f"Well done: {days} days in a row with at least one task completed, "
            f"{plural(done, 'task')} in all since {since}. {keep}"
        )
    return title, body


TEMPLATES: dict[RuleKind, Callable[[dict[str, Any], Tone], tuple[str, str]]] = {
    RuleKind.OVERDUE_IN_IMPORTANT_AREA: _overdue_text,
    RuleKind.INACTIVE_PILLAR: _inactive_text,
    RuleKind.HIGH_PRIORITY_OVERLOAD: _overload_text,
    RuleKind.COMPLETION_STREAK: _streak_text,
}


def insight_prompt(findings: Sequence[Finding], tone: Tone) -> StructuredPrompt[InsightTexts]:
    refs = [str(n) for n in range(len(findings))]

    def offline() -> InsightTexts:
        texts = []
        for ref, finding in zip(refs, findings, strict=True):
            title, body = TEMPLATES[finding.kind](finding.facts, tone)
            texts.append(InsightText(ref=ref, title=title, body=body))
        return InsightTexts(insights=texts)

    data = [
        {"ref": ref, "rule": f.kind.value, "severity": f.severity, "facts": f.facts}
        for ref, f in zip(refs, findings, strict=True)
    ]
    return StructuredPrompt(
        task="aurum_insights",
        instructions=(
            "You are the insight writer of Aurum Life, a personal life operating system organised as "
            "pillars > areas > projects > tasks. For each finding below, write one insight: a title of at "
            "most 80 characters and a body of one to three sentences that uses only the given facts and ends "
            f"with one concrete next step. Tone: {TONE_GUIDE[tone]}. Return exactly one item per finding, "
            "with the finding's ref unchanged."
        ),
        input=json.dumps({"findings": data}, ensure_ascii=False),
        output=InsightTexts,
        offline=offline,
    )


async def write_insights(
    provider: AIProvider, findings: Sequence[Finding], tone: Tone
) -> tuple[list[tuple[str, str]], Completion[InsightTexts]]:
    """(title, body) for each finding, in order, from the provider; a wrong answer is INVALID_OUTPUT."""
    completion = await provider.complete(insight_prompt(findings, tone))
    by_ref: dict[str, InsightText] = {}
    for text in completion.value.insights:
        by_ref.setdefault(text.ref.strip(), text)
    texts: list[tuple[str, str]] = []
    for n in range(len(findings)):
        found = by_ref.get(str(n))
        if found is None or not found.title.strip() or not found.body.strip():
            raise AIProviderError(
                AIFailure.INVALID_OUTPUT,
                f"no usable text for finding {n} of {len(findings)}",
                provider=completion.provider,
                model=completion.model,
            )
        texts.append((found.title.strip()[:200], found.body.strip()[:4000]))
    return texts, completion
