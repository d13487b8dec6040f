"""The offline analysis of a message version: rules written in Python, no model.

`analyse_text` reads a text with its channel and whether it is paid, and returns what the AI
analysis returns (`AnalysisOutput`, the `StructuredPrompt`'s schema), so the offline provider's
answer is a real one:

- **Compliance and risk findings**, each with its severity, the quoted span (character offsets)
  and a fix: unsupported claims (superlatives, absolutes, "guarantee"), numbers without a named
  source, tone (words in capitals, exclamation density, attack words), a missing "Paid for by"
  line on paid communication, channel limits (an SMS's GSM-7 or UCS-2 segments, a social post's
  280 characters, an email subject's 60) and the reading level (Flesch-Kincaid grade, syllables
  from pyphen's hyphenation dictionary, over the channel's target grade).
- **Resonance per voter typology**: the nine groups of Pew's 2021 political typology, each with
  a lexicon of the words its public description leans on (values, issues, the register it
  answers); a group's score rises with the words of its lexicon the text uses and falls with
  those it reacts against, and its reasons name them.
- **Suggested rewrites** as concrete text: the disclaimer added, the SMS shortened into one
  segment, the claims and tone softened, each naming the finding codes it fixes (re-analysed,
  the rewrite no longer has them).

Everything here is deterministic and pure: `services.akashic.analysis` runs it as the offline
template and checks a model's answer against the same schema.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cache

import pydantic
import pyphen


class FindingCode(StrEnum):
    UNSUPPORTED_CLAIM = "UNSUPPORTED_CLAIM"
    UNSOURCED_NUMBER = "UNSOURCED_NUMBER"
    ALL_CAPS = "ALL_CAPS"
    EXCLAMATION = "EXCLAMATION"
    ATTACK_LANGUAGE = "ATTACK_LANGUAGE"
    MISSING_DISCLAIMER = "MISSING_DISCLAIMER"
    SMS_LENGTH = "SMS_LENGTH"
    POST_LENGTH = "POST_LENGTH"
    SUBJECT_LENGTH = "SUBJECT_LENGTH"
    READING_LEVEL = "READING_LEVEL"


class FindingCategory(StrEnum):
    CLAIMS = "CLAIMS"
    TONE = "TONE"
    COMPLIANCE = "COMPLIANCE"
    CHANNEL = "CHANNEL"
    READABILITY = "READABILITY"


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


CATEGORY = {
    FindingCode.UNSUPPORTED_CLAIM: FindingCategory.CLAIMS,
    FindingCode.UNSOURCED_NUMBER: FindingCategory.CLAIMS,
    FindingCode.ALL_CAPS: FindingCategory.TONE,
    FindingCode.EXCLAMATION: FindingCategory.TONE,
    FindingCode.ATTACK_LANGUAGE: FindingCategory.TONE,
    FindingCode.MISSING_DISCLAIMER: FindingCategory.COMPLIANCE,
    FindingCode.SMS_LENGTH: FindingCategory.CHANNEL,
    FindingCode.POST_LENGTH: FindingCategory.CHANNEL,
    FindingCode.SUBJECT_LENGTH: FindingCategory.CHANNEL,
    FindingCode.READING_LEVEL: FindingCategory.READABILITY,
}


# ------------------------------------------------------------------ the answer's schema
# Every field required and no numeric bounds: OpenAI's strict JSON schema mode accepts it as it is;
# `services.akashic.analysis` clamps and checks what a model answers.


class Finding(pydantic.BaseModel):
    code: FindingCode
    severity: Severity
    message: str
    quote: str
    start: int
    end: int
    fix: str


class TypologyResonance(pydantic.BaseModel):
    group: str  # the typology group's key, e.g. `progressive-left`
    score: float  # 0 (turns them away) to 1 (speaks to them); 0.5 is neutral
    reasons: list[str]


class Rewrite(pydantic.BaseModel):
    title: str
    text: str
    fixes: list[FindingCode]


class AnalysisOutput(pydantic.BaseModel):
    findings: list[Finding]
    resonance: list[TypologyResonance]
    rewrites: list[Rewrite]
    reading_grade: float
    sms_segments: int | None
    cited_chunk_ids: list[str]


# ----------------------------------------------------------------------------- text

_SENTENCE = re.compile(r"[^.!?\n]+[.!?]*", re.UNICODE)
_WORD = re.compile(r"[A-Za-z][A-Za-z'\u2019-]*")
DISCLAIMER = re.compile(r"\bpaid\s+for\s+by\b", re.IGNORECASE)


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    text: str


def sentences(text: str) -> list[Span]:
    found = []
    for match in _SENTENCE.finditer(text):
        stripped = match.group().strip()
        if stripped and _WORD.search(stripped):
            start = match.start() + match.group().index(stripped)
            found.append(Span(start, start + len(stripped), stripped))
    return found


def words(text: str) -> list[str]:
    return _WORD.findall(text)


@cache
def _hyphenator() -> pyphen.Pyphen:
    return pyphen.Pyphen(lang="en_US")


def syllables(word: str) -> int:
    """Syllables of an English word: the pieces of its hyphenation (pyphen's en_US dictionary),
    at least one; a word the dictionary won't split counts its vowel groups."""
    lowered = word.lower().strip("'\u2019-")
    if not lowered:
        return 0
    pieces = _hyphenator().inserted(lowered).count("-") + 1
    vowels = len(re.findall(r"[aeiouy]+", lowered)) - (1 if lowered.endswith("e") and len(lowered) > 3 else 0)
    return max(1, pieces, vowels if pieces == 1 else 1)


def flesch_kincaid_grade(text: str) -> float:
    """0.39 x words per sentence + 11.8 x syllables per word - 15.59 (Kincaid et al., 1975)."""
    found = words(text)
    count = len(sentences(text))
    if not found or not count:
        return 0.0
    total = sum(syllables(w) for w in found)
    return round(0.39 * len(found) / count + 11.8 * total / len(found) - 15.59, 1)


# ----------------------------------------------------------------------------- SMS

# GSM 03.38's basic character set, and its extension table (two septets each).
GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = set("^{}\\[~]|€\f")


@dataclass(frozen=True)
class SmsSize:
    encoding: str  # GSM-7 or UCS-2
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int
    per_segment: int  # of a single message; a concatenated one's parts hold 153 or 67

    @property
    def single(self) -> int:
        return 160 if self.encoding == "GSM-7" else 70


def sms_size(text: str) -> SmsSize:
    """How a carrier sends the text: GSM-7 when every character is in its alphabet (160 a
    message, 153 a part when concatenated), else UCS-2 (70, then 67)."""
    if all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text):
        units = sum(2 if c in GSM7_EXTENSION else 1 for c in text)
        single, part, encoding = 160, 153, "GSM-7"
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, part, encoding = 70, 67, "UCS-2"
    segments = 1 if units <= single else math.ceil(units / part)
    return SmsSize(encoding, units, max(1, segments), single)


#: Capitals that are not shouting (acronyms and the carriers' opt-out keyword).
KEPT_CAPITALS = {"USA", "GOP", "SMS", "STOP", "FEC", "NATO", "AFL", "CIO", "NAACP", "LGBTQ", "COVID"}
SOCIAL_POST_LIMIT = 280
EMAIL_SUBJECT_LIMIT = 60
#: The grade a channel's readers should read with ease (plain language for most audiences).
TARGET_GRADE = {"sms": 8.0, "social_post": 8.0, "email": 9.0, "speech": 10.0, "press_release": 12.0}


# ------------------------------------------------------------------------- lexicons

SUPERLATIVES = re.compile(
    r"\b(the\s+(?:best|greatest|worst|biggest|largest|strongest|only)|best[- ]ever|number\s+one|#1|"
    r"unprecedented|record[- ]breaking|first[- ]ever|always|never|everyone|nobody|100\s?%)",
    re.IGNORECASE,
)
GUARANTEE = re.compile(r"\b(guarantee[sd]?|promise[sd]?\s+to|will\s+definitely|certainly\s+will)\b", re.IGNORECASE)
NUMBER = re.compile(
    r"(\$\s?\d[\d,.]*\s*(?:million|billion|trillion|k)?|\b\d[\d,.]*\s?(?:%|percent\b)|\b\d{2,}[\d,.]*\b)"
)
SOURCE_MARKERS = re.compile(
    r"(according\s+to|source[sd]?:?|per\s+the|data\s+from|reported\s+by|\bstudy\b|\breport\b|census|bureau|"
    r"https?://|\(\s*[A-Z][^)]*\d{4}\s*\))",
    re.IGNORECASE,
)
YEAR = re.compile(r"^(?:19|20)\d{2}$")
#: Attack words and what to say instead: the replacement brings its own article ("is a liar" → "is wrong
#: on the facts"), so `soften` drops the word's.
ATTACK_WORDS = {
    "liar": "wrong on the facts",
    "liars": "wrong on the facts",
    "lying": "misleading",
    "lies": "misleading claims",
    "corrupt": "out of touch",
    "crook": "the wrong choice",
    "crooks": "the wrong choice",
    "criminal": "wrong",
    "disgrace": "a letdown",
    "disgraceful": "disappointing",
    "traitor": "an opponent",
    "traitors": "opponents",
    "pathetic": "weak",
    "evil": "wrong",
    "destroy": "hurt",
    "destroying": "hurting",
    "radical": "far-reaching",
    "extremist": "out of step",
    "extremists": "out of step",
    "idiot": "mistaken",
    "idiots": "mistaken",
    "stupid": "misguided",
    "scam": "a bad deal",
    "rigged": "unfair",
    "thugs": "opponents",
    "puppet": "an ally",
}
SOFTER_CLAIMS = [
    (re.compile(r"\bthe\s+best[- ]ever\b", re.IGNORECASE), "strong"),
    (re.compile(r"\bbest[- ]ever\b", re.IGNORECASE), "strong"),
    (re.compile(r"\bthe\s+(best|greatest|strongest)\b", re.IGNORECASE), "strong"),
    (re.compile(r"\bthe\s+(worst)\b", re.IGNORECASE), "poor"),
    (re.compile(r"\bthe\s+(biggest|largest)\b", re.IGNORECASE), "major"),
    (re.compile(r"\bthe\s+only\b", re.IGNORECASE), "a"),
    (re.compile(r"\bnumber\s+one\b|#1", re.IGNORECASE), "leading"),
    (re.compile(r"\bunprecedented\b", re.IGNORECASE), "significant"),
    (re.compile(r"\brecord[- ]breaking\b", re.IGNORECASE), "strong"),
    (re.compile(r"\bfirst[- ]ever\b", re.IGNORECASE), "new"),
    (re.compile(r"\balways\b", re.IGNORECASE), "consistently"),
    (re.compile(r"\bnever\b", re.IGNORECASE), "rarely"),
    (re.compile(r"\beveryone\b", re.IGNORECASE), "many people"),
    (re.compile(r"\bnobody\b", re.IGNORECASE), "few people"),
    (re.compile(r"\b100\s?%", re.IGNORECASE), "fully"),
    (re.compile(r"\bguarantee[sd]?\b", re.IGNORECASE), "work to ensure"),
    (re.compile(r"\bpromise[sd]?\s+to\b", re.IGNORECASE), "will work to"),
    (re.compile(r"\bwill\s+definitely\b|\bcertainly\s+will\b", re.IGNORECASE), "will work to"),
]


@dataclass(frozen=True)
class Typology:
    key: str
    name: str
    #: words (stems, matched at a word's start) the group's description leans on
    draws: tuple[str, ...]
    #: words it reacts against
    repels: tuple[str, ...]


def _stems(listed: str) -> tuple[str, ...]:
    return tuple(listed.split("|"))


# Written from Pew Research Center's public descriptions of the 2021 typology groups
# (data/akashic/pew_typology_2021.json): what each group cares about and the register it answers.
TYPOLOGY = (
    Typology(
        "faith-and-flag-conservatives",
        "Faith and Flag Conservatives",
        _stems(
            "faith|god|church|pray|christian|patriot|flag|freedom|liberty|tradition|family|families|"
            "rural|small town|border|law and order|veteran|constitution"
        ),
        _stems("abortion rights|transgender|defund|socialis|diversity|gun control|compromise"),
    ),
    Typology(
        "committed-conservatives",
        "Committed Conservatives",
        _stems(
            "tax cut|lower taxes|low taxes|small business|business|free market|free trade|"
            "limited government|budget|deficit|growth|jobs|china|defense|regulation"
        ),
        _stems("tax the rich|wealth tax|socialis|tariff|nationaliz|government takeover"),
    ),
    Typology(
        "populist-right",
        "Populist Right",
        _stems(
            "elite|establishment|washington|corporat|big business|wall street|border|immigration|"
            "illegal|workers|forgotten|rural|drain the swamp|america first"
        ),
        _stems("free trade|globali|amnesty|open border|compromise"),
    ),
    Typology(
        "ambivalent-right",
        "Ambivalent Right",
        _stems("economy|jobs|taxes|spending|common sense|practical|freedom|choice|marijuana|independent|local|young"),
        _stems("radical|extreme|culture war|ban|trump"),
    ),
    Typology(
        "stressed-sideliners",
        "Stressed Sideliners",
        _stems(
            "cost|costs|price|prices|afford|rent|bills|grocer|gas|paycheck|wage|childcare|child care|"
            "simple|easy|neighbo|family|families"
        ),
        _stems("partisan|ideolog|establishment|radical|socialis"),
    ),
    Typology(
        "outsider-left",
        "Outsider Left",
        _stems(
            "climate|change|justice|racial|young|student|debt|rent|housing|system|corporat|"
            "billionaire|fight|movement|future"
        ),
        _stems("establishment|compromise|police funding|moderate|bipartisan"),
    ),
    Typology(
        "democratic-mainstays",
        "Democratic Mainstays",
        _stems(
            "social security|medicare|health care|healthcare|safety net|jobs|wage|union|safe|safety|"
            "crime|police|church|community|communities|families|retire"
        ),
        _stems("defund|abolish|radical|socialis"),
    ),
    Typology(
        "establishment-liberals",
        "Establishment Liberals",
        _stems(
            "bipartisan|compromise|together|plan|experience|proven|evidence|research|education|"
            "democracy|vote|institution|climate|health care|healthcare|science"
        ),
        _stems("revolution|burn it down|abolish|rigged|radical"),
    ),
    Typology(
        "progressive-left",
        "Progressive Left",
        _stems(
            "climate|justice|equity|racial|medicare for all|health care|healthcare|billionaire|"
            "corporat|workers|union|structural|fundamental|bold|green|volunteer|organize|donate"
        ),
        _stems("tax cut|deregulat|law and order|border wall|compromise|moderate"),
    ),
)
TYPOLOGY_BY_KEY = {group.key: group for group in TYPOLOGY}


_ATTACK = re.compile(r"\b(?:(?:an?|the)\s+)?(" + "|".join(ATTACK_WORDS) + r")\b", re.IGNORECASE)


def _uses(text: str, stems: Iterable[str]) -> list[str]:
    lowered = text.lower()
    return [stem for stem in stems if re.search(rf"\b{re.escape(stem)}", lowered)]


def resonance(text: str) -> list[TypologyResonance]:
    """Each typology group's predicted response: 0.5, plus 0.12 for each of its words used (at
    most 0.45), less 0.15 for each word it reacts against; the reasons name both."""
    found = []
    for group in TYPOLOGY:
        draws, repels = _uses(text, group.draws), _uses(text, group.repels)
        score = 0.5 + min(0.45, 0.12 * len(draws)) - 0.15 * len(repels)
        reasons = []
        if draws:
            reasons.append(f"Speaks to what {group.name} care about: {', '.join(repr(w) for w in draws)}.")
        if repels:
            reasons.append(f"Uses language {group.name} tend to reject: {', '.join(repr(w) for w in repels)}.")
        if not reasons:
            reasons.append(f"Nothing in the text touches the themes {group.name} respond to; expect indifference.")
        found.append(TypologyResonance(group=group.key, score=round(max(0.0, min(1.0, score)), 3), reasons=reasons))
    return found


def overall_resonance(scores: Sequence[TypologyResonance], audience_segments: Sequence[str]) -> float:
    """The mean over the groups the message's audience segments name (by key or name), or over
    all nine when they name none."""
    wanted = {_normal(segment) for segment in audience_segments}
    targeted = [
        s.score
        for s in scores
        if s.group in TYPOLOGY_BY_KEY and {_normal(s.group), _normal(TYPOLOGY_BY_KEY[s.group].name)} & wanted
    ]
    chosen = targeted or [s.score for s in scores]
    return round(sum(chosen) / len(chosen), 3) if chosen else 0.5


def _normal(value: str) -> str:
    return re.sub(r"[^a-z]+", "-", value.lower()).strip("-")


# ------------------------------------------------------------------------- findings


def _finding(code: FindingCode, severity: Severity, message: str, span: Span, fix: str) -> Finding:
    return Finding(
        code=code, severity=severity, message=message, quote=span.text[:300], start=span.start, end=span.end, fix=fix
    )


def _claims(text: str) -> list[Finding]:
    found = []
    for match in GUARANTEE.finditer(text):
        span = Span(match.start(), match.end(), match.group())
        found.append(
            _finding(
                FindingCode.UNSUPPORTED_CLAIM,
                Severity.HIGH,
                f"A promise of a result (“{match.group()}”) the campaign can't guarantee.",
                span,
                "Say what the candidate will work for, not what they guarantee.",
            )
        )
    for match in SUPERLATIVES.finditer(text):
        span = Span(match.start(), match.end(), match.group())
        found.append(
            _finding(
                FindingCode.UNSUPPORTED_CLAIM,
                Severity.MEDIUM,
                f"A superlative or absolute (“{match.group()}”) that invites a fact check.",
                span,
                "Soften it, or back it with a source named in the sentence.",
            )
        )
    for sentence in sentences(text):
        if SOURCE_MARKERS.search(sentence.text) or DISCLAIMER.search(sentence.text):
            continue
        numbers = [m for m in NUMBER.finditer(sentence.text) if not YEAR.match(m.group().strip())]
        if numbers:
            found.append(
                _finding(
                    FindingCode.UNSOURCED_NUMBER,
                    Severity.MEDIUM,
                    f"A figure (“{numbers[0].group().strip()}”) without a source.",
                    sentence,
                    "Name where the figure comes from in the same sentence (“according to …”), or drop it.",
                )
            )
    return found


def _tone(text: str) -> list[Finding]:
    found = []
    shouted = [m for m in re.finditer(r"\b[A-Z]{3,}\b", text) if m.group() not in KEPT_CAPITALS]
    if shouted:
        first, last = shouted[0], shouted[-1]
        total = len(words(text)) or 1
        severity = Severity.MEDIUM if len(shouted) >= 3 or len(shouted) / total > 0.3 else Severity.LOW
        found.append(
            _finding(
                FindingCode.ALL_CAPS,
                severity,
                f"{len(shouted)} word(s) in capitals read as shouting.",
                Span(first.start(), last.end(), text[first.start() : last.end()]),
                "Write them in sentence case; stress one word with the sentence, not capitals.",
            )
        )
    marks = text.count("!")
    count = max(1, len(sentences(text)))
    if "!!" in text or (marks >= 2 and marks / count > 0.3):
        where = text.index("!")
        found.append(
            _finding(
                FindingCode.EXCLAMATION,
                Severity.LOW if marks <= 2 else Severity.MEDIUM,
                f"{marks} exclamation mark(s) in {count} sentence(s).",
                Span(where, where + 1, "!"),
                "Keep at most one exclamation mark, at the call to action.",
            )
        )
    for match in re.finditer(r"[A-Za-z]+", text):
        if match.group().lower() in ATTACK_WORDS:
            found.append(
                _finding(
                    FindingCode.ATTACK_LANGUAGE,
                    Severity.HIGH,
                    f"An attack word (“{match.group()}”): a personal attack invites a defamation claim and backlash.",
                    Span(match.start(), match.end(), match.group()),
                    f"Contrast records instead: e.g. “{ATTACK_WORDS[match.group().lower()]}”.",
                )
            )
    return found


def _channel(text: str, channel: str) -> tuple[list[Finding], int | None]:
    found: list[Finding] = []
    segments = None
    whole = Span(0, len(text), text)
    if channel == "sms":
        size = sms_size(text)
        segments = size.segments
        if size.segments > 1:
            found.append(
                _finding(
                    FindingCode.SMS_LENGTH,
                    Severity.HIGH if size.segments > 3 else Severity.MEDIUM,
                    f"{size.units} {size.encoding} characters: {size.segments} segments (one holds {size.single}); "
                    "each segment is billed, and carriers may deliver them out of order.",
                    whole,
                    f"Shorten it to {size.single} characters or fewer (see the rewrite).",
                )
            )
    elif channel == "social_post" and len(text) > SOCIAL_POST_LIMIT:
        found.append(
            _finding(
                FindingCode.POST_LENGTH,
                Severity.MEDIUM,
                f"{len(text)} characters: over the {SOCIAL_POST_LIMIT} a post shows in full.",
                whole,
                f"Cut it to {SOCIAL_POST_LIMIT} characters; link to the rest.",
            )
        )
    elif channel == "email":
        first = text.split("\n", 1)[0]
        if first.lower().startswith("subject:") and len(first[8:].strip()) > EMAIL_SUBJECT_LIMIT:
            found.append(
                _finding(
                    FindingCode.SUBJECT_LENGTH,
                    Severity.LOW,
                    f"A subject of {len(first[8:].strip())} characters: mail apps cut it after about "
                    f"{EMAIL_SUBJECT_LIMIT}.",
                    Span(0, len(first), first),
                    f"Keep the subject under {EMAIL_SUBJECT_LIMIT} characters.",
                )
            )
    return found, segments


def _reading(text: str, channel: str, grade: float) -> list[Finding]:
    target = TARGET_GRADE.get(channel, 9.0)
    if grade <= target or len(words(text)) < 12:
        return []
    longest = max(sentences(text), key=lambda s: len(words(s.text)))
    return [
        _finding(
            FindingCode.READING_LEVEL,
            Severity.MEDIUM if grade > target + 4 else Severity.LOW,
            f"Reading level: grade {grade:.1f} (Flesch-Kincaid), above the {target:.0f} this channel's readers "
            "read with ease.",
            longest,
            "Use shorter sentences and everyday words; the longest sentence is quoted.",
        )
    ]


def findings(text: str, *, channel: str, paid: bool) -> tuple[list[Finding], float, int | None]:
    """Every finding on the text, in the order of the text; its reading grade and SMS segments."""
    grade = flesch_kincaid_grade(text)
    channel_findings, segments = _channel(text, channel)
    found = _claims(text) + _tone(text) + channel_findings + _reading(text, channel, grade)
    if paid and not DISCLAIMER.search(text):
        found.append(
            Finding(
                code=FindingCode.MISSING_DISCLAIMER,
                severity=Severity.HIGH,
                message="Paid communication without its “Paid for by” line (FEC: 11 CFR 110.11).",
                quote="",
                start=len(text),
                end=len(text),
                fix="End it with “Paid for by” and the committee's name.",
            )
        )
    found.sort(key=lambda f: (f.start, f.end, f.code.value))
    return found, grade, segments


def risk_level(found: Sequence[Finding]) -> Severity:
    """The highest severity among the findings; low without any."""
    for level in (Severity.HIGH, Severity.MEDIUM):
        if any(f.severity is level for f in found):
            return level
    return Severity.LOW


# ------------------------------------------------------------------------- rewrites


def soften(text: str) -> str:
    """The text with its claims softened, its capitals in sentence case, one exclamation mark at
    most and its attack words replaced."""
    for pattern, replacement in SOFTER_CLAIMS:
        text = pattern.sub(replacement, text)

    def lower(match: re.Match[str]) -> str:
        word = match.group()
        if word in KEPT_CAPITALS:
            return word
        starts = re.search(r"(^|[.!?]\s+)$", match.string[: match.start()]) is not None
        return word.capitalize() if starts else word.lower()

    text = re.sub(r"\b[A-Z]{3,}\b", lower, text)
    text = re.sub(r"!+", "!", text)
    first = text.find("!")
    if first >= 0:
        text = text[: first + 1] + text[first + 1 :].replace("!", ".")

    def calmer(match: re.Match[str]) -> str:
        return ATTACK_WORDS[match.group(1).lower()]

    return _ATTACK.sub(calmer, text)


#: What `soften` fixes.
SOFTENED = (FindingCode.UNSUPPORTED_CLAIM, FindingCode.ALL_CAPS, FindingCode.EXCLAMATION, FindingCode.ATTACK_LANGUAGE)
_PAID_LINE = re.compile(r"\s*paid\s+for\s+by\b[^\n]*", re.IGNORECASE)


def with_disclaimer(text: str, committee: str) -> str:
    return f"{text.rstrip()}\n\nPaid for by {committee}."


def shorten_sms(text: str, *, suffix: str = "") -> str:
    """The text cut at sentence boundaries (then words) to fit one SMS segment with `suffix`."""

    def fits(candidate: str) -> bool:
        return sms_size(candidate).segments == 1

    kept = ""
    for sentence in sentences(text):
        candidate = f"{kept} {sentence.text}".strip()
        if not fits(candidate + suffix):
            break
        kept = candidate
    if not kept:
        for word in text.split():
            candidate = f"{kept} {word}".strip()
            if not fits(candidate + "…" + suffix):
                break
            kept = candidate
        kept += "…"
    return kept + suffix


def rewrites(text: str, found: Sequence[Finding], *, channel: str, paid: bool, committee: str) -> list[Rewrite]:
    """Concrete texts that fix the findings they name; with more than one, the last applies
    every fix at once."""
    codes = {f.code for f in found}
    suggested: list[Rewrite] = []
    fixes_all: list[FindingCode] = []
    current = text
    softened = [code for code in SOFTENED if code in codes]
    if softened:
        current = soften(current)
        suggested.append(Rewrite(title="Softened claims and tone", text=current, fixes=softened))
        fixes_all += softened
    if FindingCode.MISSING_DISCLAIMER in codes:
        suggested.append(
            Rewrite(
                title="With the “Paid for by” line",
                text=with_disclaimer(text, committee),
                fixes=[FindingCode.MISSING_DISCLAIMER],
            )
        )
        fixes_all.append(FindingCode.MISSING_DISCLAIMER)
    if FindingCode.SMS_LENGTH in codes:
        suffix = f" Paid for by {committee}." if paid else ""
        short = shorten_sms(_PAID_LINE.sub("", current).strip(), suffix=suffix)
        suggested.append(Rewrite(title="Shortened to one SMS segment", text=short, fixes=[FindingCode.SMS_LENGTH]))
        fixes_all.append(FindingCode.SMS_LENGTH)
        current = short
    elif FindingCode.MISSING_DISCLAIMER in codes:
        current = with_disclaimer(current, committee)
    if len(suggested) > 1:
        suggested.append(Rewrite(title="Every fix together", text=current, fixes=fixes_all))
    return suggested


def analyse_text(text: str, *, channel: str, paid: bool, committee: str) -> AnalysisOutput:
    """The offline analysis of one version's text (see the module's docstring)."""
    found, grade, segments = findings(text, channel=channel, paid=paid)
    return AnalysisOutput(
        findings=found,
        resonance=resonance(text),
        rewrites=rewrites(text, found, channel=channel, paid=paid, committee=committee),
        reading_grade=grade,
        sms_segments=segments,
        cited_chunk_ids=[],
    )
