"""`TANDEM_LOG_FORMAT=json`: each log line one JSON object, for a log collector.

`{"ts": "2026-12-08T01:20:00.123Z", "level": "INFO", "logger": "uvicorn.access", "message":
"127.0.0.1:50412 - \\"POST /graphql HTTP/1.1\\" 200", "request_id": "3fa9c1000000002a",
"worker": 4711}`. `request_id` is the one the answer's `X-Request-Id` header gives (set in the
task that answers the request: app/graphql/masking.py), so a user's report finds its lines;
`operation` the GraphQL operation's name where known; `worker` the process id, which tells the
workers of one host apart; `exc` the traceback as one string. What a line says is what the
text format says: the filters of app/logs.py have run on it before (they are on the loggers,
formatters come after), so it holds no secrets either.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from types import TracebackType

from app.graphql.masking import request_id

operation: ContextVar[str | None] = ContextVar("tandem_operation", default=None)
"""The name of the GraphQL operation being answered, once known, for the lines logged after
(set in the task that answers it, as `request_id` is); a log call may also give it with
`extra={"operation": ...}`."""


class JsonFormatter(logging.Formatter):
    """One JSON object a line (uvicorn's own `use_colors` argument is accepted and ignored, so
    that its logging configuration can name this class for its handlers)."""

    def __init__(self, *args: object, use_colors: bool | None = None, **kwargs: object) -> None:
        super().__init__()

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        # The context of the task that logged: a request's own, or none (start-up, the hub).
        answering = request_id.get()
        if answering is not None:
            line["request_id"] = answering
        named = getattr(record, "operation", None) or operation.get()
        if named is not None:
            line["operation"] = named
        line["worker"] = os.getpid()
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exc"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        # default=str: a log line is never lost to a value JSON cannot hold.
        return json.dumps(line, ensure_ascii=False, default=str)


def log_json() -> None:
    """This process's log as JSON lines (its root handlers; uvicorn's loggers are configured
    apart: app/logs.py), and what would otherwise reach stderr beside the log as lines of it
    too: a warning, an exception nothing caught (one line with its traceback, not many)."""
    for handler in logging.getLogger().handlers:
        handler.setFormatter(JsonFormatter())
    logging.captureWarnings(True)
    sys.excepthook = _uncaught


def _uncaught(
    kind: type[BaseException], error: BaseException, traceback: TracebackType | None
) -> None:
    logging.getLogger("tandem").critical(
        "stopped by %s", kind.__name__, exc_info=(kind, error, traceback)
    )
