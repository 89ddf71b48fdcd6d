"""``@record``: frozen value classes like ``@dataclass(frozen=True)``, built without ``exec``.

Why: the plugin is started once per container, and ``dataclasses`` compiles the generated methods
of every class with ``exec`` at import time (about half a millisecond per class on a loaded
machine). ``record`` gives the same keyword/positional constructor, defaults, default factories,
equality, hashing, repr and immutability with plain closures. Type checkers see it as a dataclass
(PEP 681), so constructor calls stay checked.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeVar, dataclass_transform

    T = TypeVar("T")
else:
    def dataclass_transform(**_: object) -> object:
        return lambda fn: fn


class FrozenRecordError(AttributeError):
    """Assigning to a field of a record (as dataclasses' FrozenInstanceError)."""


class _Factory:
    __slots__ = ("make",)

    def __init__(self, make: Callable[[], Any]) -> None:
        self.make = make


def field(*, default_factory: Callable[[], T]) -> T:
    """A field whose default is made per instance (``dataclasses.field(default_factory=...)``)."""
    return _Factory(default_factory)  # type: ignore[return-value]


_MISSING = object()


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def record(cls: type[T]) -> type[T]:
    """Give ``cls`` a constructor over its annotated fields, ``==``, ``hash``, ``repr``; make it frozen."""
    names = tuple(n for n in cls.__dict__.get("__annotations__", {}) if not n.startswith("_"))  # noqa: RUF063
    defaults = [cls.__dict__.get(n, _MISSING) for n in names]
    for n, d in zip(names, defaults, strict=True):
        if isinstance(d, _Factory):
            delattr(cls, n)  # a marker, not a value
    count = len(names)
    index = {n: i for i, n in enumerate(names)}
    setter = object.__setattr__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        if len(args) > count:
            raise TypeError(f"{cls.__name__}() takes {count} positional arguments but {len(args)} were given")
        values = list(args) + [_MISSING] * (count - len(args))
        for key, value in kwargs.items():
            i = index.get(key)
            if i is None:
                raise TypeError(f"{cls.__name__}() got an unexpected keyword argument {key!r}")
            if values[i] is not _MISSING:
                raise TypeError(f"{cls.__name__}() got multiple values for argument {key!r}")
            values[i] = value
        for i, value in enumerate(values):
            if value is _MISSING:
                value = defaults[i]
                if value is _MISSING:
                    raise TypeError(f"{cls.__name__}() missing required argument: {names[i]!r}")
                if isinstance(value, _Factory):
                    value = value.make()
            setter(self, names[i], value)
        post = getattr(self, "__post_init__", None)
        if post is not None:
            post()

    def _values(self: Any) -> tuple[Any, ...]:
        return tuple(getattr(self, n) for n in names)

    def __eq__(self: Any, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return bool(_values(self) == _values(other))

    def __hash__(self: Any) -> int:
        return hash(_values(self))

    def __repr__(self: Any) -> str:
        return f"{cls.__qualname__}({', '.join(f'{n}={getattr(self, n)!r}' for n in names)})"

    def __setattr__(self: Any, name: str, value: Any) -> None:
        raise FrozenRecordError(f"cannot assign to field {name!r}")

    def __delattr__(self: Any, name: str) -> None:
        raise FrozenRecordError(f"cannot delete field {name!r}")

    for fn in (__init__, __eq__, __hash__, __repr__, __setattr__, __delattr__):
        fn.__qualname__ = f"{cls.__qualname__}.{fn.__name__}"
        setattr(cls, fn.__name__, fn)
    cls.__record_fields__ = names  # type: ignore[attr-defined]
    cls.__match_args__ = names  # type: ignore[attr-defined,misc]
    return cls


def replace(obj: T, **changes: Any) -> T:
    """A copy of record ``obj`` with some fields changed (``dataclasses.replace``)."""
    names: tuple[str, ...] = obj.__record_fields__  # type: ignore[attr-defined]
    return obj.__class__(**{n: changes.pop(n) if n in changes else getattr(obj, n) for n in names}, **changes)
