"""Structured logging for the daemons: one line per event, with context fields.

Text format (Calico style): ``2026-11-23 14:50:47.123 [INFO][1234] felix/dataplane.py 87: msg k=v``;
JSON format: one object per line with ``time``, ``level``, ``pid``, ``logger``, ``msg`` and the
context fields. Context goes in ``extra={"ctx": {...}}`` (endpoint, chain, peer, ...).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from typing import Any

LEVELS = {"DEBUG": logging.DEBUG, "INFO": logging.INFO, "WARNING": logging.WARNING, "ERROR": logging.ERROR,
          "FATAL": logging.CRITICAL, "CRITICAL": logging.CRITICAL, "NONE": logging.CRITICAL + 10}


def _ctx(record: logging.LogRecord) -> dict[str, Any]:
    ctx = getattr(record, "ctx", None)
    return dict(ctx) if isinstance(ctx, dict) else {}


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ts = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record.created)) + f".{int(record.msecs):03d}"
        level = "WARNING" if record.levelno == logging.WARNING else record.levelname
        where = f"{record.name.rsplit('.', 1)[-1]}.py {record.lineno}"
        msg = record.getMessage()
        extra = " ".join(f"{k}={v}" for k, v in _ctx(record).items())
        line = f"{ts} [{level}][{record.process}] {where}: {msg}" + (f" {extra}" if extra else "")
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(), "pid": record.process, "logger": record.name,
            "msg": record.getMessage(), **_ctx(record)}
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str)


def setup(*, screen_level: str = "INFO", file_path: str = "", file_level: str = "INFO",
          fmt: str = "text") -> list[str]:
    """Configure the root logger; returns warnings (e.g. an unwritable log file) to log later."""
    formatter: logging.Formatter = JSONFormatter() if fmt == "json" else TextFormatter()
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    warnings: list[str] = []
    levels = []
    screen = logging.StreamHandler(sys.stderr)
    screen.setLevel(LEVELS.get(screen_level.upper(), logging.INFO))
    screen.setFormatter(formatter)
    root.addHandler(screen)
    levels.append(screen.level)
    if file_path and file_path.lower() != "none":
        try:
            os.makedirs(os.path.dirname(file_path) or ".", exist_ok=True)
            fh = logging.FileHandler(file_path)
            fh.setLevel(LEVELS.get(file_level.upper(), logging.INFO))
            fh.setFormatter(formatter)
            root.addHandler(fh)
            levels.append(fh.level)
        except OSError as exc:
            warnings.append(f"cannot open log file {file_path}: {exc}")
    root.setLevel(min(levels))
    # Chatty libraries stay at WARNING unless we debug.
    for name in ("pyroute2", "grpc", "asyncio"):
        logging.getLogger(name).setLevel(logging.WARNING if min(levels) > logging.DEBUG else logging.DEBUG)
    return warnings
