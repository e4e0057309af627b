"""Configuration from TANDEM_* environment variables.

Every value is checked when it is read, so a typo fails at start-up with a message that names
the variable, instead of as a confusing error on the first request.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

LOG_LEVELS = ("critical", "error", "warning", "info", "debug")
LOG_FORMATS = ("text", "json")
BROADCAST_SCHEMES = ("memory", "redis", "rediss", "postgres", "postgresql")
PERSISTED_QUERY_MODES = ("apq", "off", "allowlist")
MOST_BATCH_OPERATIONS = 100
"""The most TANDEM_MAX_BATCH_OPERATIONS may allow."""
MOST_PAGE_SIZE = 1000
"""The largest TANDEM_MAX_PAGE_SIZE: past it one page is a dump, not a page."""
MOST_WORKERS = 64
"""The most server processes `tandem serve` runs on one host (TANDEM_WORKERS, --workers)."""


class SettingsError(ValueError):
    """A TANDEM_* variable holds a value the server cannot use."""


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str | None
    """SQLAlchemy asyncpg URL; None means: start the embedded PostgreSQL in data_dir."""
    data_dir: Path
    broadcast_url: str
    secret_key: str
    host: str
    port: int
    log_level: str
    auto_migrate: bool
    token_ttl_seconds: int
    password_hashing: str
    max_upload_bytes: int
    totals_fold_seconds: int
    executor: str = "plan"
    """"plan": compiled plans (the standard executor serves what they decline); "standard":
    graphql-core's executor for everything, as a fallback should a plan ever be wrong."""
    persisted_queries: str = "apq"
    """"apq": automatic persisted queries (a client may send a document's hash instead of
    its text); "off": hashes are refused as unsupported; "allowlist": only registered
    documents run (app/graphql/persisted/)."""
    persisted_queries_dir: Path | None = None
    """`.graphql` files registered at start-up, each file one document."""
    max_body_bytes: int = 1024 * 1024
    """Largest request body but an upload's (those take max_upload_bytes, and a little more
    for their other parts): a larger one is answered 413 without being read."""
    auth_cache_seconds: int = 1
    """How long the user a token names is remembered between requests (0: read each time);
    a change of rights made through another process takes at most this long to apply."""
    max_tokens: int = 5000
    max_aliases: int = 100
    max_depth: int = 12
    max_batch_operations: int = 10
    """What one document or batched request may ask (app/graphql/limits.py)."""
    max_page_size: int = 100
    """The largest `first` a page may ask (app/crm/paging.py)."""
    connection_init_seconds: int = 5
    """How long a WebSocket may stay open without its connection_init."""
    max_subscriptions_per_connection: int = 50
    max_connections_per_user: int = 100
    """WebSocket connections of one user open at once in one server process."""
    operation_timeout_seconds: float = 30.0
    """How long a query may run before it is stopped (mutations run to their end)."""
    max_query_cost: int = 50_000
    """The most objects one operation may ask for, page sizes multiplied through nesting."""
    cost_budget_per_minute: int = 1_000_000
    """What one user may spend a minute (app/graphql/cost.py)."""
    production: bool = False
    """TANDEM_PRODUCTION: the defaults of a production server (introspection off)."""
    introspection: bool = True
    """Whether clients may ask for the schema (and GraphiQL is served): by default, only
    while the server is not marked production."""
    cors_origins: tuple[str, ...] = ()
    """The origins whose pages may call the API from a browser (CORS, and WebSockets), as
    browsers send them (`https://crm.example.com`), or ("*",) for every one; none: only pages
    the server serves itself (app/browser_headers.py)."""
    security_headers: bool = True
    """Whether answers tell browsers what they may do with them (nosniff, no referrer, no
    framing, a Content-Security-Policy); off for a proxy that sets its own."""
    hsts_seconds: int = 0
    """Strict-Transport-Security's max-age; 0: not sent (TLS is the reverse proxy's)."""
    presence_ttl_seconds: float = 10.0
    """How long a presence entry lives unless repeated (app/events/presence.py)."""
    workers: int = 1
    """Server processes `tandem serve` runs on one host, sharing its port (app/workers.py)."""
    log_format: str = "text"
    """"text": a line for people; "json": one JSON object a line, with the request's id, for
    a log collector (app/log_format.py)."""

    @property
    def uses_embedded_database(self) -> bool:
        return self.database_url is None


def to_asyncpg_url(url: str) -> str:
    """Accept the URL forms people paste (postgres://, postgresql://) and pin the driver."""
    parts = urlsplit(url)
    scheme = parts.scheme
    if scheme in ("postgres", "postgresql", "postgresql+asyncpg"):
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    raise SettingsError(f"TANDEM_DATABASE_URL: expected a postgresql:// URL, got scheme {scheme!r}")


def to_libpq_url(url: str) -> str:
    """The plain postgresql:// form, for asyncpg and broadcaster's postgres backend."""
    return "postgresql://" + url.split("://", 1)[1]


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    return int(_number(env, name, default, low, high, int, "an integer"))


def _float(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    return _number(env, name, default, low, high, float, "a number")


def _number(
    env: Mapping[str, str],
    name: str,
    default: float,
    low: float,
    high: float,
    parse: type[int] | type[float],
    expected: str,
) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = parse(raw)
    except ValueError:
        raise SettingsError(f"{name}: expected {expected}, got {raw!r}") from None
    if not low <= value <= high:  # NaN too
        raise SettingsError(f"{name}: expected a value from {low:g} to {high:g}, got {raw}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name}: expected true or false, got {raw!r}")


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...], default: str) -> str:
    value = (env.get(name) or default).lower()
    if value not in choices:
        raise SettingsError(f"{name}: expected one of {', '.join(choices)}, got {value!r}")
    return value


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(name: str, raw: str) -> str:
    """`raw` as browsers send an origin: scheme and host in lower case, no default port."""
    wrong = SettingsError(
        f"{name}: expected origins such as https://crm.example.com or "
        f"http://localhost:3000 (scheme, host and port; no path), got {raw!r}"
    )
    parts = urlsplit(raw)
    try:
        port = parts.port
    except ValueError:  # not a number from 0 to 65535
        raise wrong from None
    scheme = parts.scheme.lower()
    if (
        scheme not in _DEFAULT_PORTS
        or not parts.hostname
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or "@" in parts.netloc
    ):
        raise wrong
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        host = f"{host}:{port}"
    return f"{scheme}://{host}"


def _origins(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    given = [item.strip() for item in (env.get(name) or "").split(",") if item.strip()]
    if "*" in given:
        if len(given) > 1:
            raise SettingsError(f"{name}: `*` allows every origin; give it alone or list origins")
        return ("*",)
    return tuple(dict.fromkeys(_origin(name, item) for item in given))


def _broadcast_url(env: Mapping[str, str]) -> str:
    raw = env.get("TANDEM_BROADCAST_URL") or "memory://"
    scheme = urlsplit(raw).scheme
    if scheme not in BROADCAST_SCHEMES:
        raise SettingsError(
            "TANDEM_BROADCAST_URL: expected memory://, redis://, rediss:// or postgres://, "
            f"got {raw!r}"
        )
    return raw


def _directory(env: Mapping[str, str], name: str) -> Path | None:
    raw = env.get(name)
    if not raw:
        return None
    path = Path(raw).expanduser().resolve()
    if not path.is_dir():
        raise SettingsError(f"{name}: expected a directory, {raw!r} is not one")
    return path


def _secret_key(env: Mapping[str, str], data_dir: Path) -> str:
    """An explicit key wins; otherwise one is generated once and kept in the data directory,
    so tokens survive a restart without anybody having to invent a key."""
    raw = env.get("TANDEM_SECRET_KEY")
    if raw:
        if len(raw) < 16:
            raise SettingsError("TANDEM_SECRET_KEY: use at least 16 characters")
        return raw
    path = data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.write_text(key)
    path.chmod(0o600)
    return key


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    data_dir = Path(env.get("TANDEM_DATA_DIR") or ".tandem").expanduser().resolve()
    database_url = env.get("TANDEM_DATABASE_URL") or None
    log_level = _choice(env, "TANDEM_LOG_LEVEL", LOG_LEVELS, "info")
    production = _bool(env, "TANDEM_PRODUCTION", False)
    return Settings(
        database_url=to_asyncpg_url(database_url) if database_url else None,
        data_dir=data_dir,
        broadcast_url=_broadcast_url(env),
        secret_key=_secret_key(env, data_dir),
        host=env.get("TANDEM_HOST") or "127.0.0.1",
        port=_int(env, "TANDEM_PORT", 8000, 1, 65535),
        log_level=log_level,
        auto_migrate=_bool(env, "TANDEM_AUTO_MIGRATE", True),
        token_ttl_seconds=_int(env, "TANDEM_TOKEN_TTL_SECONDS", 7 * 24 * 3600, 60, 365 * 24 * 3600),
        password_hashing=_choice(env, "TANDEM_PASSWORD_HASHING", ("standard", "fast"), "standard"),
        max_upload_bytes=_int(env, "TANDEM_MAX_UPLOAD_BYTES", 25 * 1024 * 1024, 1024, 1024**3),
        totals_fold_seconds=_int(env, "TANDEM_TOTALS_FOLD_SECONDS", 5, 1, 3600),
        executor=_choice(env, "TANDEM_EXECUTOR", ("plan", "standard"), "plan"),
        persisted_queries=_choice(env, "TANDEM_PERSISTED_QUERIES", PERSISTED_QUERY_MODES, "apq"),
        persisted_queries_dir=_directory(env, "TANDEM_PERSISTED_QUERIES_DIR"),
        auth_cache_seconds=_int(env, "TANDEM_AUTH_CACHE_SECONDS", 1, 0, 60),
        max_body_bytes=_int(env, "TANDEM_MAX_BODY_BYTES", 1024 * 1024, 1024, 1024**3),
        max_tokens=_int(env, "TANDEM_MAX_TOKENS", 5000, 100, 1_000_000),
        max_aliases=_int(env, "TANDEM_MAX_ALIASES", 100, 0, 100_000),
        max_depth=_int(env, "TANDEM_MAX_DEPTH", 12, 3, 100),
        max_batch_operations=_int(env, "TANDEM_MAX_BATCH_OPERATIONS", 10, 1, MOST_BATCH_OPERATIONS),
        max_page_size=_int(env, "TANDEM_MAX_PAGE_SIZE", 100, 1, MOST_PAGE_SIZE),
        connection_init_seconds=_int(env, "TANDEM_CONNECTION_INIT_SECONDS", 5, 1, 300),
        max_subscriptions_per_connection=_int(
            env, "TANDEM_MAX_SUBSCRIPTIONS_PER_CONNECTION", 50, 1, 10_000
        ),
        max_connections_per_user=_int(env, "TANDEM_MAX_CONNECTIONS_PER_USER", 100, 1, 1_000_000),
        production=production,
        max_query_cost=_int(env, "TANDEM_MAX_QUERY_COST", 50_000, 1, 1_000_000_000),
        cost_budget_per_minute=_int(
            env, "TANDEM_COST_BUDGET_PER_MINUTE", 1_000_000, 1, 1_000_000_000_000
        ),
        introspection=_bool(env, "TANDEM_INTROSPECTION", not production),
        operation_timeout_seconds=_float(
            env, "TANDEM_OPERATION_TIMEOUT_SECONDS", 30.0, 0.001, 3600
        ),
        cors_origins=_origins(env, "TANDEM_CORS_ORIGINS"),
        security_headers=_bool(env, "TANDEM_SECURITY_HEADERS", True),
        hsts_seconds=_int(env, "TANDEM_HSTS_SECONDS", 0, 0, 2 * 365 * 24 * 3600),
        presence_ttl_seconds=_float(env, "TANDEM_PRESENCE_TTL_SECONDS", 10.0, 1.0, 300.0),
        workers=_int(env, "TANDEM_WORKERS", 1, 1, MOST_WORKERS),
        log_format=_choice(env, "TANDEM_LOG_FORMAT", LOG_FORMATS, "text"),
    )
