"""``@record``: value classes like ``@dataclass``, built without ``exec``.

Why: short-lived processes (the CNI plugin, started once per container; calicoctl) import the
datastore and IPAM modules on every run, and ``dataclasses`` compiles the generated methods of
every class with ``exec`` at import time (a quarter to half a millisecond per class) and pulls in
``inspect`` (with ``ast``, ``dis`` and ``tokenize``). ``record`` gives the same keyword/positional
constructor, defaults, default factories, ``__post_init__``, equality, hashing (frozen records),
repr and immutability with plain closures. Type checkers see it as a dataclass (PEP 681), so
constructor calls stay checked.
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
    """Assigning to a field of a frozen record (as dataclasses' FrozenInstanceError)."""


_MISSING = object()


class _Field:
    __slots__ = ("default", "make", "repr")

    def __init__(self, default: Any, make: Callable[[], Any] | None, repr: bool) -> None:
        self.default = default
        self.make = make
        self.repr = repr


def field(*, default: Any = _MISSING, default_factory: Callable[[], Any] | None = None,
          repr: bool = True) -> Any:
    """A field with a per-instance default (``default_factory``) or kept out of ``repr``."""
    return _Field(default, default_factory, repr)


def _build(cls: type[T], frozen: bool) -> type[T]:
    names = tuple(n for n in cls.__dict__.get("__annotations__", {}) if not n.startswith("_"))  # noqa: RUF063
    defaults: list[Any] = []
    factories: list[Callable[[], Any] | None] = []
    shown: list[str] = []
    for n in names:
        value = cls.__dict__.get(n, _MISSING)
        make = None
        if isinstance(value, _Field):
            make, show, value = value.make, value.repr, value.default
            if value is _MISSING:
                delattr(cls, n)  # a marker, not a value
            else:
                setattr(cls, n, value)
        else:
            show = True
        defaults.append(value)
        factories.append(make)
        if show:
            shown.append(n)
    count = len(names)
    index = {n: i for i, n in enumerate(names)}
    setter = object.__setattr__
    post = getattr(cls, "__post_init__", None)

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
                make = factories[i]
                if make is not None:
                    value = make()
                else:
                    value = defaults[i]
                    if value is _MISSING:
                        raise TypeError(f"{cls.__name__}() missing required argument: {names[i]!r}")
            setter(self, names[i], value)
        if post is not None:
            post(self)

    def _values(self: Any) -> tuple[Any, ...]:
        return tuple(getattr(self, n) for n in names)

    def __eq__(self: Any, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return bool(_values(self) == _values(other))

    def __repr__(self: Any) -> str:
        return f"{cls.__qualname__}({', '.join(f'{n}={getattr(self, n)!r}' for n in shown)})"

    methods: list[Any] = [__init__, __eq__, __repr__]
    if frozen:
        def __hash__(self: Any) -> int:
            return hash(_values(self))

        def __setattr__(self: Any, name: str, value: Any) -> None:
            raise FrozenRecordError(f"cannot assign to field {name!r}")

        def __delattr__(self: Any, name: str) -> None:
            raise FrozenRecordError(f"cannot delete field {name!r}")

        methods += [__hash__, __setattr__, __delattr__]
    for fn in methods:
        fn.__qualname__ = f"{cls.__qualname__}.{fn.__name__}"
        setattr(cls, fn.__name__, fn)
    if not frozen:
        cls.__hash__ = None  # type: ignore[assignment]  # mutable and comparable: unhashable, as dataclasses
    cls.__record_fields__ = names  # type: ignore[attr-defined]
    cls.__match_args__ = names  # type: ignore[attr-defined,misc]
    return cls


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def record(cls: type[T]) -> type[T]:
    """A frozen record: constructor over the annotated fields, ``==``, ``hash``, ``repr``."""
    return _build(cls, frozen=True)


@dataclass_transform(field_specifiers=(field,))
def mutable_record(cls: type[T]) -> type[T]:
    """A mutable record (``@dataclass``): constructor, ``==``, ``repr``; not hashable."""
    return _build(cls, frozen=False)


def replace(obj: T, **changes: Any) -> T:
    """A copy of record ``obj`` with some fields changed (``dataclasses.replace``)."""
    names: tuple[str, ...] = obj.__record_fields__  # type: ignore[attr-defined]
    return obj.__class__(**{n: changes.pop(n) if n in changes else getattr(obj, n) for n in names}, **changes)
