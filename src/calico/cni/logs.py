"""Plugin logging: Calico's ``log_level`` and ``log_file_path`` (default /var/log/calico/cni/cni.log)."""

from __future__ import annotations

import logging
import os
import sys

DEFAULT_LOG_FILE = "/var/log/calico/cni/cni.log"
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "warn": logging.WARNING,
           "error": logging.ERROR, "fatal": logging.CRITICAL, "panic": logging.CRITICAL}


def configure(level_name: str, file_path: str, context: str) -> None:
    """Log to stderr (runtimes keep it out of the result) and to the log file when it can be opened."""
    level = _LEVELS.get(level_name.lower(), logging.INFO)
    fmt = logging.Formatter(f"%(asctime)s [%(levelname)s] %(process)d %(name)s {context}: %(message)s")
    root = logging.getLogger()
    root.handlers.clear()
    root.setLevel(level)
    err = logging.StreamHandler(sys.stderr)
    err.setFormatter(fmt)
    root.addHandler(err)
    for noisy in ("grpc", "asyncio", "aetcd"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    path = file_path or DEFAULT_LOG_FILE
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        handler = logging.FileHandler(path)
    except OSError as exc:
        root.debug("not logging to %s: %s", path, exc)
        return
    handler.setFormatter(fmt)
    root.addHandler(handler)
