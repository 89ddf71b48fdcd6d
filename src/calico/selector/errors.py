"""The selector package's one error type, shaped like Calico's parse errors."""

from __future__ import annotations

import json


class SelectorError(ValueError):
    """A selector failed to parse (or to validate).

    ``reason`` keeps Calico's wording (``unterminated string``, ``expected ==``, ...) so messages
    match what calicoctl users already know; ``position`` is the 0-based character index in
    ``text`` where the problem was found.
    """

    def __init__(self, text: str, position: int, reason: str) -> None:
        self.text = text
        self.position = position
        self.reason = reason
        quoted = json.dumps(text, ensure_ascii=False)
        super().__init__(f"error parsing selector {quoted} at position {position}: {reason}")

    def __reduce__(self) -> tuple[type[SelectorError], tuple[str, int, str]]:
        return (SelectorError, (self.text, self.position, self.reason))
