"""What `tandem serve` logs through uvicorn, kept free of what clients send.

A log is read by more people, and kept longer, than the data it describes: it must never
hold a password, a token, a document or a customer's data. The app logs ids and operation
names, never variables or documents (app/graphql/masking.py, app/graphql/executor/), and SQL
errors leave out their parameters (app/db.py). What uvicorn logs needs two filters:

- a request line (`GET /graphql?variables=... HTTP/1.1` in the access log, `WebSocket
  /graphql?...` when a socket opens) shows the names of its query string's parameters, never
  their values: GraphiQL keeps a document and its variables in its page's URL, a persisted
  query sends its variables there, and a careless client may put a token there;
- at `debug`, the websockets library writes each handshake header and each frame's text
  (`connection_init` with its token, an operation with its variables): those lines are dropped.
"""

from __future__ import annotations

import copy
import logging
import re
from typing import Any

from uvicorn.config import LOGGING_CONFIG

_PLAIN_NAME = re.compile(r"[A-Za-z0-9_.\-\[\]]{1,40}")


def without_query_values(target: str) -> str:
    """`/graphql?query=...&variables=...` for `/graphql?query={...}&variables={...}`."""
    path, asked, query = target.partition("?")
    if not asked:
        return target
    names = [part.partition("=")[0] for part in query.split("&") if part]
    # A name that is not a plain one may itself be the secret (`?<token>`).
    shown = [f"{name}=..." if _PLAIN_NAME.fullmatch(name) else "..." for name in names]
    return f"{path}?{'&'.join(shown)}"


class QueryValuesHidden(logging.Filter):
    """Request lines without their query strings' values (uvicorn passes the request's
    target as an argument of its message: the access log's formatter reads it there)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and any(
            isinstance(arg, str) and arg.startswith("/") and "?" in arg for arg in args
        ):
            record.args = tuple(
                without_query_values(arg) if isinstance(arg, str) and arg.startswith("/") else arg
                for arg in args
            )
        return True


class WireNotWritten(logging.Filter):
    """Drops the websockets library's lines of what crossed the wire (`< TEXT '...'`,
    `> HTTP/1.1 101 ...`, `< authorization: Bearer ...`), which uvicorn gives it its own
    logger to write; its state changes (`= connection is OPEN`) stay."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (
            record.levelno == logging.DEBUG
            and isinstance(record.msg, str)
            and record.msg.startswith(("< ", "> "))
        )


def uvicorn_log_config(log_format: str = "text") -> dict[str, Any]:
    """uvicorn's own logging configuration, with the filters above on its loggers; its lines
    as JSON objects for `json` (app/log_format.py), the filters having run before."""
    config = copy.deepcopy(LOGGING_CONFIG)
    if log_format == "json":
        for formatter in config["formatters"].values():
            formatter.clear()
            formatter["()"] = "app.log_format.JsonFormatter"
    config["filters"] = {
        "query_values_hidden": {"()": QueryValuesHidden},
        "wire_not_written": {"()": WireNotWritten},
    }
    loggers = config["loggers"]
    loggers["uvicorn.access"]["filters"] = ["query_values_hidden"]
    loggers["uvicorn.error"]["filters"] = ["query_values_hidden", "wire_not_written"]
    return config
