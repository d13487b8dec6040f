"""Settings, read once from environment variables and `.env`.

Every setting is documented in README.md ("Settings"); keep the two in step.
"""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

ROOT = Path(__file__).resolve().parent.parent


class ConfigurationError(RuntimeError):
    """The settings can't work as given; the message says what to set."""


class Mode(StrEnum):
    DEV = "dev"
    PRODUCTION = "production"


#: LOG_LEVEL's values and their numbers (uvicorn's "trace" is below DEBUG).
LOG_LEVELS = {"critical": 50, "error": 40, "warning": 30, "info": 20, "debug": 10, "trace": 5}


class Pooler(StrEnum):
    NONE = "none"
    PGBOUNCER = "pgbouncer"


class LogFormat(StrEnum):
    CONSOLE = "console"
    JSON = "json"


class Settings(BaseSettings):
    # A variable set to "" (`DATABASE_URL=` in a .env or compose file) counts as unset.
    model_config = SettingsConfigDict(env_file=ROOT / ".env", extra="ignore", env_ignore_empty=True)

    mode: Mode = Field(Mode.DEV, description="dev or production")
    database_url: str | None = Field(
        None,
        description="Postgres URL of the tables' owner (migrations); unset in dev mode means the embedded server",
    )
    database_app_url: str | None = Field(
        None,
        description="Postgres URL the application logs in with as the role quintet_app (behind PgBouncer); "
        "unset: DATABASE_URL's login becomes quintet_app at connection start",
    )
    row_security: bool = Field(
        True,
        description="false: connect as DATABASE_URL's login itself and tell Postgres no actor, so that the "
        "row-level security policies are bypassed (the tables' owner); only to measure their cost (bench/)",
    )
    data_dir: Path = Field(ROOT / ".data", description="where dev mode keeps its state")
    db_pool_size: int = Field(10, ge=1)
    db_max_overflow: int = Field(10, ge=0)
    database_replica_url: str | None = Field(
        None, description="a streaming replica (hot standby) that queries read from; unset: all reads on the primary"
    )
    database_replica_retry_seconds: float = Field(
        5.0, gt=0, description="how long a failed replica (or unreadable marks) is left alone: reads go to the primary"
    )
    database_replica_max_lag_seconds: float = Field(
        10.0, gt=0, description="a replica further behind than this serves no reads until it has caught up"
    )
    read_your_writes_seconds: float = Field(
        300.0, gt=0, description="how long an actor's last commit position is kept for routing its reads"
    )
    database_pooler: Pooler = Field(
        Pooler.NONE, description="pgbouncer: the URLs lead to PgBouncer in transaction pooling (no prepared statements)"
    )
    database_direct_url: str | None = Field(
        None, description="Postgres itself, for migrations and the job worker (session state); default DATABASE_URL"
    )

    jwt_issuer: str = "quintet"
    jwt_audience: str = "quintet-api"
    jwt_private_key: str | None = Field(
        None, description="PEM of the EC P-256 signing key; generated under data_dir in dev"
    )
    jwt_extra_public_keys: str | None = Field(
        None, description="PEM public keys still accepted (key rotation), concatenated"
    )
    api_key_secret: SecretStr | None = Field(
        None,
        min_length=32,
        description="server secret of the API keys' HMAC-SHA256 (at least 32 characters); generated under "
        "data_dir in dev, required in production",
    )
    access_token_ttl_seconds: int = Field(900, ge=30)
    refresh_token_ttl_seconds: int = Field(30 * 24 * 3600, ge=60)
    invitation_ttl_seconds: int = Field(
        7 * 24 * 3600, ge=60, description="how long an invitation to an organization can be accepted"
    )

    max_query_depth: int = Field(16, ge=1)
    max_aliases: int = Field(30, ge=0)
    max_tokens: int = Field(5000, ge=10)
    max_nodes: int = Field(500_000, ge=1, description="most objects one operation may ask for")
    max_selections: int = Field(2000, ge=1, description="selections per document, a fragment's counted at each spread")
    max_overlapping_selections: int = Field(
        2000, ge=0, description="pairs of selections of one response key at one place (validation compares each)"
    )
    max_body_bytes: int = Field(256 * 1024, ge=1024)
    max_cached_document_bytes: int = Field(
        16 * 1024, ge=0, description="longer documents are parsed, validated and run anew each time, never cached"
    )
    # Cost budgets (core/budgets.py): a leaky bucket per actor of each kind; a maximum of 0 is no budget.
    cost_user_maximum: int = Field(5_000_000, ge=0, description="most cost points a signed-in user's bucket holds")
    cost_user_restore_rate: int = Field(250_000, ge=1, description="points a user's bucket regains per second")
    cost_api_client_maximum: int = Field(100_000, ge=0, description="most cost points an API client's bucket holds")
    cost_api_client_restore_rate: int = Field(
        5_000, ge=1, description="points an API client's bucket regains per second"
    )
    cost_anonymous_maximum: int = Field(
        100_000, ge=0, description="most cost points the bucket of anonymous requests from one client address holds"
    )
    cost_anonymous_restore_rate: int = Field(
        5_000, ge=1, description="points an anonymous address's bucket regains per second"
    )
    max_page_size: int = Field(100, ge=1)
    default_page_size: int = Field(20, ge=1)
    user_documents: Literal["any", "trusted"] = Field(
        "any",
        description="what users' (and anonymous) requests may run: any document, or only trusted (registered) ones",
    )
    persisted_document_max_age_seconds: int = Field(
        60, ge=0, description="Cache-Control max-age of an anonymous GET of a trusted document"
    )
    document_usage_flush_seconds: float = Field(
        30, gt=0, description="how often each process writes the trusted documents' usage it has counted"
    )
    fast_path: bool = Field(
        True,
        description="compiled execution of queries and single-field mutations (graphql-core answers whatever it can't)",
    )
    compiled_sql: bool = Field(
        True, description="with fast_path: queries whose every field has a SQL form run as one statement returning JSON"
    )
    introspection: bool | None = Field(None, description="default: on in dev, off in production")
    graphiql: bool | None = Field(None, description="default: on in dev, off in production")
    cors_origins: list[str] = Field(default_factory=list)
    auth_rate_limit_per_address: str = Field(
        "30/minute;300/hour", description="login and register attempts per client address, in `limits` notation"
    )
    auth_rate_limit_per_account: str = Field(
        "10/minute;50/hour", description="failed logins per account (normalised email) from one client address"
    )
    auth_rate_limit_per_account_total: str = Field(
        "100/hour;500/day", description="failed logins per account from all client addresses together"
    )

    # AI provider: OpenAI or any OpenAI-compatible server (vLLM, Ollama, llama.cpp); offline without a key.
    openai_api_key: SecretStr | None = Field(None, description="switches the OpenAI provider on; unset means offline")
    openai_base_url: str | None = Field(None, description="an OpenAI-compatible server, e.g. http://localhost:11434/v1")
    ai_chat_model: str = Field("gpt-4o-mini", min_length=1)
    ai_embedding_model: str = Field("text-embedding-3-small", min_length=1)
    ai_timeout_seconds: float = Field(30.0, gt=0)
    ai_max_retries: int = Field(2, ge=0, description="retries with backoff on 408/409/429/5xx and connection errors")
    ai_rate_limit: str = Field("10/minute;100/day", description="per-user AI requests, in `limits` notation")
    # Inbound webhooks (core/webhooks.py): each endpoint's signing secret; unset, it answers 404.
    akashic_actblue_webhook_secret: SecretStr | None = Field(
        None, description="Standard Webhooks secret (whsec_...) of POST /webhooks/akashic/actblue (donations)"
    )
    akashic_stripe_webhook_secret: SecretStr | None = Field(
        None, description="Stripe endpoint signing secret (whsec_...) of POST /webhooks/akashic/stripe (donations)"
    )
    # Outbound email and SMS (Akashic's sending): the providers' official clients; unset, no sending.
    sendgrid_api_key: SecretStr | None = Field(None, description="SendGrid API key (mail send); unset: no email")
    sendgrid_api_host: str = Field(
        "https://api.sendgrid.com", min_length=1, description="the SendGrid API's origin (a fake one in tests)"
    )
    akashic_email_from: str | None = Field(None, description="the sender address of Akashic's emails")
    akashic_sendgrid_webhook_public_key: str | None = Field(
        None,
        description="the SendGrid Event Webhook's verification key (base64, as SendGrid shows it) of "
        "POST /webhooks/akashic/sendgrid; unset, 404",
    )
    twilio_account_sid: str | None = Field(None, description="Twilio account SID (AC...); unset: no SMS")
    twilio_auth_token: SecretStr | None = Field(
        None, description="Twilio auth token: the client's password and the status callbacks' signing key"
    )
    twilio_api_base_url: str | None = Field(
        None, description="an origin that replaces https://api.twilio.com (a fake one in tests); unset: Twilio's"
    )
    akashic_sms_from: str | None = Field(None, description="the sender number (E.164) or messaging service SID")
    public_base_url: str | None = Field(
        None,
        description="the API's public origin (https://api.example.com): callback URLs given to outside services, "
        "and the URL their signatures cover behind a proxy; unset: the request's own",
    )
    redis_url: str | None = Field(
        None,
        description="Redis for the event bus (pub/sub across processes) and shared rate limits; unset: in-process",
    )
    # Automatic persisted queries (core/persisted.py): Redis with REDIS_URL, else the process's memory.
    apq_enabled: bool = Field(True, description="answer Apollo's persisted queries; off: PERSISTED_QUERY_NOT_SUPPORTED")
    apq_ttl_seconds: int = Field(
        86400, ge=1, description="a persisted query stays in Redis this long after it was last stored or used"
    )
    apq_store_rate_limit: str = Field(
        "300/minute;5000/day", description="persisted queries stored per client address, in `limits` notation"
    )
    apq_memory_bytes: int = Field(
        16 * 1024 * 1024, ge=0, description="most text of persisted queries one process keeps in memory (LRU)"
    )

    # Background jobs (procrastinate on the same Postgres).
    jobs_in_process: bool | None = Field(None, description="default: on with the embedded database, off otherwise")
    job_concurrency: int = Field(4, ge=1)
    job_max_retries: int = Field(3, ge=0, description="retries of a failed job before it gives up")
    job_retry_base_seconds: float = Field(5.0, ge=0, description="first retry delay; doubles each retry")
    job_poll_seconds: float = Field(5.0, gt=0, description="how often workers look for due retries")
    job_heartbeat_seconds: float = Field(10.0, gt=0)
    job_stalled_after_seconds: float = Field(30.0, gt=0, description="a worker silent this long is dead")
    insights_schedule: str = Field(
        "17 * * * *", description="cron of the sweep that runs periodic insight analyses; empty: no sweep"
    )
    akashic_send_schedule: str = Field(
        "* * * * *",
        description="cron of the task that sends the scheduled email and SMS messages whose time has come (Akashic); "
        "empty: never (they are sent by hand, `sendMessage`)",
    )
    knowledge_reembed_schedule: str = Field(
        "*/10 * * * *",
        description="cron of the task that re-embeds knowledge chunks made by another embedding model than the "
        "configured one (Akashic); empty: never",
    )
    akashic_draft_save_seconds: float = Field(
        3.0, gt=0, description="a co-edited draft is saved as a version this long after its last change (Akashic)"
    )
    akashic_presence_ttl_seconds: float = Field(
        30.0, gt=0, description="a viewer's or editor's presence on a message expires this long after its heartbeat"
    )
    subscription_queue_size: int = Field(
        100, ge=1, description="events buffered per live subscription before it ends as too slow"
    )
    ws_connection_init_timeout_seconds: float = Field(10.0, gt=0, description="time to send connection_init")
    ws_keepalive_seconds: float = Field(15.0, ge=0, description="interval of server pings; 0 turns them off")
    ws_max_subscriptions: int = Field(20, ge=1, description="operations running at once on one WebSocket")
    ws_legacy_protocol: bool = Field(False, description="also speak subscriptions-transport-ws (graphql-ws)")
    ws_max_connections_per_user: int = Field(
        10, ge=1, description="live connections (WebSockets and SSE streams) one user may hold at once"
    )
    sse_keepalive_seconds: float = Field(15.0, gt=0, description="interval of SSE keep-alive comments")

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    workers: int = Field(1, ge=1)
    log_level: str = Field("info", description="critical, error, warning, info, debug or trace")
    log_format: LogFormat | None = Field(None, description="console or json; default: console in dev, json otherwise")

    # Operating (README, "Operating"): /metrics, traces.
    metrics_enabled: bool | None = Field(
        None, description="/metrics: default on in dev, and in production when METRICS_TOKEN is set"
    )
    metrics_token: SecretStr | None = Field(None, description="bearer token that /metrics requires when set")
    metrics_max_operations: int = Field(
        100, ge=1, description="distinct operation names per process with a metrics label of their own"
    )
    otel_exporter_otlp_endpoint: str | None = Field(
        None, description="OTLP/HTTP collector (e.g. http://collector:4318): traces are exported there"
    )
    otel_exporter_otlp_traces_endpoint: str | None = Field(
        None, description="the full URL for traces (e.g. http://collector:4318/v1/traces), if not the above"
    )

    @field_validator("log_level")
    @classmethod
    def _a_log_level(cls, value: str) -> str:
        level = value.strip().lower()
        if level not in LOG_LEVELS:
            raise ValueError(f"one of {', '.join(LOG_LEVELS)}")
        return level

    @model_validator(mode="after")
    def _a_direct_url_behind_a_pooler(self) -> Settings:
        if self.database_pooler is Pooler.PGBOUNCER and not self.database_direct_url:
            raise ValueError(
                "DATABASE_POOLER=pgbouncer needs DATABASE_DIRECT_URL, Postgres itself: migrations hold a session "
                "lock and the job worker listens for new jobs, which transaction pooling can't carry"
            )
        if self.database_pooler is Pooler.PGBOUNCER and self.row_security and not self.database_app_url:
            raise ValueError(
                "DATABASE_POOLER=pgbouncer needs DATABASE_APP_URL, a login of the app role quintet_app through "
                "PgBouncer: PgBouncer refuses the startup setting `role` that otherwise makes the app that role"
            )
        return self

    @field_validator("database_url", "database_replica_url", "database_direct_url", "database_app_url")
    @classmethod
    def _a_postgres_url(cls, value: str | None) -> str | None:
        # Said here, in one line, rather than by the driver in a long traceback (never echoing the URL).
        expected = "expected postgresql://user:password@host:5432/database"
        try:
            scheme = make_url(value).drivername if value else None
        except (ArgumentError, ValueError):
            raise ValueError(f"not a URL ({expected})") from None
        if scheme is not None and not scheme.startswith("postgres"):
            raise ValueError(f"not a Postgres URL ({expected})")
        return value

    @property
    def is_dev(self) -> bool:
        return self.mode is Mode.DEV

    @property
    def introspection_enabled(self) -> bool:
        return self.is_dev if self.introspection is None else self.introspection

    @property
    def graphiql_enabled(self) -> bool:
        return self.is_dev if self.graphiql is None else self.graphiql

    @property
    def json_logs(self) -> bool:
        return self.log_format is LogFormat.JSON if self.log_format is not None else not self.is_dev

    @property
    def otlp_traces_endpoint(self) -> str | None:
        """Where traces go (OTLP over HTTP), or None: no tracing."""
        if self.otel_exporter_otlp_traces_endpoint:
            return self.otel_exporter_otlp_traces_endpoint
        if self.otel_exporter_otlp_endpoint:
            return self.otel_exporter_otlp_endpoint.rstrip("/") + "/v1/traces"
        return None

    @property
    def cors_origin_regex(self) -> str | None:
        """Browser origins allowed besides `cors_origins` (matched whole): in dev mode without
        CORS_ORIGINS, a frontend's dev server on any port of http://localhost or 127.0.0.1."""
        return DEV_ORIGINS if self.is_dev and not self.cors_origins else None


#: The origins dev mode allows by default (CORS and WebSocket handshakes).
DEV_ORIGINS = r"http://(localhost|127\.0\.0\.1)(:[0-9]{1,5})?"

#: Settings whose value an error message leaves out (keys, passwords in URLs).
_UNSHOWN = ("KEY", "URL", "SECRET", "PASSWORD", "TOKEN")


def describe_invalid(error: ValidationError) -> str:
    """One line naming each invalid variable and its problem, e.g. `DB_POOL_SIZE: Input should be
    greater than or equal to 1 (got 0)`."""
    problems = []
    for item in error.errors():
        name = ".".join(str(part) for part in item["loc"]).upper() or "settings"
        problem = item["msg"].removeprefix("Value error, ")
        shown = "input" in item and not any(word in name for word in _UNSHOWN)
        problems.append(f"{name}: {problem}" + (f" (got {item['input']})" if shown else ""))
    return "; ".join(problems)


@lru_cache
def get_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as error:
        raise ConfigurationError(describe_invalid(error)) from None
    except SettingsError as error:  # a value pydantic-settings could not parse (e.g. CORS_ORIGINS not JSON)
        raise ConfigurationError(str(error)) from None
