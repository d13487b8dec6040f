"""Log output: JSON lines in production, readable lines in dev (LOG_FORMAT chooses otherwise).

Every module logs through the standard library (`logging.getLogger(__name__)`), and so do
uvicorn, procrastinate and alembic; structlog's `ProcessorFormatter` renders all of their records
the same way, as one JSON object per line (`timestamp`, `level`, `logger`, `message`, and the
fields below) or, in dev, as structlog's console lines. Fields come only from an allow-list
(`FIELDS`, passed with `extra=`), so whatever else a library attaches to a record is never
written. A record written while a request runs carries that request's `request_id`.

uvicorn's access log is off: `core.observability` writes one line per request instead, with the
request id, the operation, its SQL statements and no query string.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from typing import Any

import orjson
import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from core.observability import current_request_id
from core.settings import LOG_LEVELS, Settings

#: The `extra=` fields a log line may carry (see core/observability.py and core/errors.py).
FIELDS = (
    "request_id",
    "method",
    "path",
    "status",
    "duration_ms",
    "client",
    "operation",
    "outcome",
    "execution",
    "sql_statements",
    "sql_ms",
    "error_codes",
    "refusal",
    "persisted_query",
    "error_id",
    "error_ids",
    "trace_id",
    "accepted",
    "close_code",
)


def _add_request_id(logger: WrappedLogger, method: str, event: EventDict) -> EventDict:
    if "request_id" not in event:
        request_id = current_request_id()
        if request_id is not None:
            event["request_id"] = request_id
    return event


def _json(value: Any, **_: Any) -> str:
    return orjson.dumps(value, default=str).decode()


def formatter(json: bool) -> logging.Formatter:
    """The formatter of every handler: JSON lines, or structlog's console lines."""
    pre_chain: list[Processor] = [
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(allow=FIELDS),
        _add_request_id,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: list[Processor]
    if json:
        renderer = [
            structlog.processors.format_exc_info,
            structlog.processors.EventRenamer("message"),
            structlog.processors.JSONRenderer(serializer=_json),
        ]
    else:
        renderer = [structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())]
    return structlog.stdlib.ProcessorFormatter(
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *renderer],
        foreign_pre_chain=pre_chain,
    )


def level_of(settings: Settings) -> int:
    return LOG_LEVELS[settings.log_level]


def configure_logging(settings: Settings) -> None:
    """This process's logging (the commands call it once their settings are read)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(settings.json_logs))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level_of(settings))


def uvicorn_log_config(settings: Settings, quiet: Iterable[str] = ()) -> dict[str, Any]:
    """`configure_logging` as the dictConfig uvicorn applies in each of its worker processes;
    uvicorn's own loggers write through the same handler, its access log not at all, and the
    `quiet` loggers only from WARNING on."""
    level = level_of(settings)
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"quintet": {"()": "core.logs.formatter", "json": settings.json_logs}},
        "handlers": {
            "default": {"class": "logging.StreamHandler", "formatter": "quintet", "stream": "ext://sys.stderr"}
        },
        "root": {"handlers": ["default"], "level": level},
        "loggers": {
            "uvicorn": {"handlers": [], "propagate": True, "level": level},
            "uvicorn.error": {"handlers": [], "propagate": True},
            "uvicorn.access": {"handlers": [], "propagate": False},
            **{name: {"level": "WARNING"} for name in quiet},
        },
    }
