"""Plugin logging: Calico's ``log_level`` and ``log_file_path`` (default /var/log/calico/cni/cni.log).

The plugin's own messages go through a small logger here rather than the ``logging`` package:
importing ``logging`` (threading, traceback, string templates and a few regular expressions) is a
measurable part of every pod's start-up. Lines look as ``logging`` would print them
(``2026-01-01 12:00:00,123 [INFO] <pid> <logger> <context>: message``) and go to stderr and the log
file. Other libraries that do use ``logging`` (IPAM's rare messages, the gRPC datastore adapter)
are forwarded to the same places: the moment ``logging`` is imported it is given a handler that
writes through this module.
"""

from __future__ import annotations

import os
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType
    from typing import Any, TextIO

DEFAULT_LOG_FILE = "/var/log/calico/cni/cni.log"
DEBUG, INFO, WARNING, ERROR, CRITICAL = 10, 20, 30, 40, 50
_LEVELS = {"debug": DEBUG, "info": INFO, "warning": WARNING, "warn": WARNING,
           "error": ERROR, "fatal": CRITICAL, "panic": CRITICAL}
_NAMES = {DEBUG: "DEBUG", INFO: "INFO", WARNING: "WARNING", ERROR: "ERROR", CRITICAL: "CRITICAL"}


class _State:
    level = WARNING  # before configure(): as logging's default (warnings and errors to stderr)
    context = ""
    sinks: list[TextIO] = []
    configured = False


def _write(level_name: str, name: str, message: str) -> None:
    now = time.time()
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now)) + f",{int(now * 1000) % 1000:03d}"
    line = f"{stamp} [{level_name}] {os.getpid()} {name} {_State.context}: {message}\n"
    for sink in _State.sinks or [sys.stderr]:
        try:
            sink.write(line)
            sink.flush()
        except (OSError, ValueError):
            pass


class Logger:
    """The part of ``logging.Logger`` the plugin uses: %-style messages at five levels."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def _log(self, level: int, msg: str, args: tuple[Any, ...], exc: bool = False) -> None:
        if level < _State.level:
            return
        text = msg % args if args else msg
        if exc and sys.exc_info()[0] is not None:
            import traceback

            text += "\n" + traceback.format_exc().rstrip("\n")
        _write(_NAMES[level], self.name, text)

    def isEnabledFor(self, level: int) -> bool:
        return level >= _State.level

    def debug(self, msg: str, *args: Any) -> None:
        self._log(DEBUG, msg, args)

    def info(self, msg: str, *args: Any) -> None:
        self._log(INFO, msg, args)

    def warning(self, msg: str, *args: Any) -> None:
        self._log(WARNING, msg, args)

    def error(self, msg: str, *args: Any) -> None:
        self._log(ERROR, msg, args)

    def exception(self, msg: str, *args: Any) -> None:
        self._log(ERROR, msg, args, exc=True)


def get_logger(name: str) -> Logger:
    return Logger(name)


def configure(level_name: str, file_path: str, context: str) -> None:
    """Log to stderr (runtimes keep it out of the result) and to the log file when it can be opened."""
    _State.level = _LEVELS.get(level_name.lower(), INFO)
    _State.context = context
    sinks: list[TextIO] = [sys.stderr]
    path = file_path or DEFAULT_LOG_FILE
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        sinks.append(open(path, "a", encoding="utf-8"))  # noqa: SIM115 (open for the process' lifetime)
    except OSError as exc:
        _State.sinks = sinks
        get_logger(__name__).debug("not logging to %s: %s", path, exc)
    _State.sinks = sinks
    _State.configured = True
    if "logging" in sys.modules:
        _bridge(sys.modules["logging"])
    elif not any(isinstance(f, _ConfigureOnImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _ConfigureOnImport())


def _bridge(logging: ModuleType) -> None:
    """Send records of libraries using ``logging`` to this module's sinks, at the configured level."""

    class Forward(logging.Handler):  # type: ignore[name-defined,misc]
        def emit(self, record: Any) -> None:
            try:
                text = record.getMessage()
                if record.exc_info:
                    text += "\n" + logging.Formatter().formatException(record.exc_info)
                _write(record.levelname, record.name, text)
            except Exception:
                self.handleError(record)

    root = logging.getLogger()
    root.handlers.clear()
    root.setLevel(_State.level)
    root.addHandler(Forward())
    for noisy in ("grpc", "asyncio", "aetcd"):
        logging.getLogger(noisy).setLevel(max(_State.level, WARNING))


class _ConfigureOnImport:
    """A meta-path finder that bridges ``logging`` as soon as some module imports it."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != "logging":
            return None
        sys.meta_path.remove(self)
        from importlib.machinery import PathFinder

        spec = PathFinder.find_spec(fullname, path)
        loader = spec.loader if spec is not None else None
        if loader is None:
            return spec
        original = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            original(module)
            if _State.configured:
                _bridge(module)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def flush() -> None:
    """Flush and close the log file (the plugin leaves with os._exit, which skips this)."""
    for sink in _State.sinks:
        try:
            sink.flush()
            if sink is not sys.stderr:
                sink.close()
        except (OSError, ValueError):
            pass
    _State.sinks = []
    if "logging" in sys.modules:
        sys.modules["logging"].shutdown()
