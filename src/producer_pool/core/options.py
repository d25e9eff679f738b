"""Pool options, one source of truth: their names and types for the pools' signatures
(`PoolKwargs`), and their defaults and rules (`PoolOptions`).

The pools and the YAML settings both check through `PoolOptions`, so a limit is written
once and an error names the option the same way everywhere.
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import math
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal, TypedDict

from ..errors import ConfigError
from .events import PoolListener
from .stats import DeliveryCounts

__all__ = [
    "PLAIN_OPTIONS",
    "OnExhausted",
    "PoolKwargs",
    "PoolOptions",
    "check_option",
    "jittered_expiry",
    "violation",
]

OnExhausted = Literal["block", "share"]
"""What an acquire does when the pool is at `max_size` and nothing is idle: wait (`block`) or
lease an object already in use (`share`)."""


class PoolKwargs(TypedDict, total=False):
    """The keyword options of `ProducerPool` and `AsyncProducerPool`, for their signatures
    (`**options: Unpack[PoolKwargs]`) and for code that passes them on (the client kits).

    Each is optional; the defaults (`PoolOptions`) are the shipped YAML's.
    """

    max_size: int
    """Most objects at once, leased or idle (default 4)."""
    min_size: int
    """Objects kept ready, created at start (prewarm) and after retirements (default 0)."""
    acquire_timeout: float
    """Seconds `acquire()` waits, creation included; `inf` waits forever (default 30)."""
    max_waiting: int | None
    """Callers that may queue for someone else's object; more get `TooManyWaiters`."""
    max_lifetime: float | None
    """Seconds an object lives (±10 %), retired when next idle (default 3600; None: forever)."""
    max_idle: float | None
    """Seconds an object beyond `min_size` may sit idle (default 600; None: forever)."""
    leak_timeout: float | None
    """Seconds after which a lease still held is logged with its stack (default None: off)."""
    on_exhausted: OnExhausted
    """At max_size: "block" waits for an object, "share" leases the least-loaded one again."""
    close_timeout: float
    """Seconds `close()` waits for leases and destroys (default 30)."""
    fifo_after: float
    """Seconds after which waiting callers are served strictly first come, first served;
    until then a caller that does not wait may take a free object first (default 0.005;
    0: strict order always)."""
    name: str | None
    """The pool's name in logs, errors and metrics (default pool-N)."""
    check: Callable[[Any], bool | Awaitable[bool]] | None
    """Health check run on a reused object before it is leased; False retires it (for the
    asyncio pool it may be `async def`)."""
    destroy: Callable[..., object] | None
    """Closes a retired object (default: its `close()`); told `deadline=` if it takes one."""
    discard_on: tuple[type[BaseException], ...]
    """Exceptions that, raised in a `with` block, destroy the leased object (default none)."""
    deliveries: DeliveryCounts | None
    """The producers' delivery outcomes, for stats and close's report (Kafka pools)."""
    listener: PoolListener | None
    """Told of creations, leases, timeouts, destroys and leaks (see `PoolListener`)."""


# ---------------------------------------------------------------------- the rules


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_seconds(value: object) -> bool:
    """A number of seconds >= 0; `inf` means no limit, NaN and bools are refused."""
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and not math.isnan(value)
        and value >= 0
    )


def _count(least: int) -> Callable[[object], bool]:
    return lambda value: _is_int(value) and value >= least  # type: ignore[operator]


def _positive_seconds(value: object) -> bool:
    return _is_seconds(value) and value > 0  # type: ignore[operator]


def _optional(rule: Callable[[object], bool]) -> Callable[[object], bool]:
    return lambda value: value is None or rule(value)


def _exception_types(value: object) -> bool:
    return isinstance(value, tuple) and all(
        isinstance(t, type) and issubclass(t, BaseException) for t in value
    )


def _anything(value: object) -> bool:
    return True


def _rule(rule: Callable[[object], bool], requirement: str) -> dict[str, Any]:
    """An option's rule, and what a value that fails it "must be"."""
    return {"rule": rule, "requirement": requirement}


#: A callable or an object the pool calls (not a plain value): only code sets it.
_HOOK: Final = {"hook": True}
_CALLABLE: Final = {**_HOOK, **_rule(_optional(callable), "must be None or a callable")}
_ANY_OBJECT: Final = {**_HOOK, **_rule(_anything, "")}
_SECONDS = "must be a number of seconds >= 0 (inf: no limit)"
_OPTIONAL_SECONDS: Final = _rule(
    _optional(_positive_seconds), "must be null or a number of seconds > 0"
)


@dataclass(frozen=True, kw_only=True)
class PoolOptions:
    """A pool's options, checked: each against its rule, then those that relate two.

    Built from a pool's keyword arguments (`PoolOptions.of`) and from the YAML's `pool:`
    section; the defaults are the shipped YAML's. An invalid value is a `ConfigError` of
    one line naming the option.
    """

    max_size: int = field(default=4, metadata=_rule(_count(1), "must be an integer >= 1"))
    min_size: int = field(default=0, metadata=_rule(_count(0), "must be an integer >= 0"))
    acquire_timeout: float = field(default=30.0, metadata=_rule(_is_seconds, _SECONDS))
    max_waiting: int | None = field(
        default=None, metadata=_rule(_optional(_count(0)), "must be null or an integer >= 0")
    )
    max_lifetime: float | None = field(default=3600.0, metadata=_OPTIONAL_SECONDS)
    max_idle: float | None = field(default=600.0, metadata=_OPTIONAL_SECONDS)
    leak_timeout: float | None = field(default=None, metadata=_OPTIONAL_SECONDS)
    on_exhausted: OnExhausted = field(
        default="block",
        metadata=_rule(lambda v: v in ("block", "share"), "must be 'block' or 'share'"),
    )
    close_timeout: float = field(default=30.0, metadata=_rule(_is_seconds, _SECONDS))
    fifo_after: float = field(
        default=0.005,
        metadata=_rule(
            lambda v: _is_seconds(v) and math.isfinite(v),  # type: ignore[arg-type]
            "must be a finite number of seconds >= 0",
        ),
    )
    name: str | None = field(
        default=None,
        metadata=_rule(
            _optional(lambda v: isinstance(v, str) and v != ""), "must be a non-empty string"
        ),
    )
    check: Callable[[Any], object] | None = field(default=None, metadata=_CALLABLE)
    destroy: Callable[..., object] | None = field(default=None, metadata=_CALLABLE)
    discard_on: tuple[type[BaseException], ...] = field(
        default=(),
        metadata={**_HOOK, **_rule(_exception_types, "must be a tuple of exception types")},
    )
    deliveries: DeliveryCounts | None = field(default=None, metadata=_ANY_OBJECT)
    listener: PoolListener | None = field(default=None, metadata=_ANY_OBJECT)

    def __post_init__(self) -> None:
        for option in dataclasses.fields(self):
            check_option(option.name, getattr(self, option.name))
        if self.min_size > self.max_size:
            raise ConfigError(f"min_size must be <= max_size={self.max_size} (got {self.min_size})")

    @classmethod
    def of(cls, given: Mapping[str, Any]) -> PoolOptions:
        """The options a pool was given by keyword; an unknown name is a `ConfigError`."""
        for name in given:
            if name not in _FIELDS:
                close = difflib.get_close_matches(name, list(_FIELDS), 1)
                hint = f"; did you mean {close[0]}?" if close else ""
                raise ConfigError(f"{name}: unknown pool option{hint}")
        return cls(**given)

    def kwargs(self) -> PoolKwargs:
        """The options that differ from their defaults, as keyword arguments for a pool."""
        return {  # type: ignore[return-value] # the fields are PoolKwargs' keys
            option.name: getattr(self, option.name)
            for option in dataclasses.fields(self)
            if getattr(self, option.name) != option.default
        }

    @property
    def shares(self) -> bool:
        return self.on_exhausted == "share"

    def check_factory(self, factory: object, *, threaded: bool) -> None:
        """The rules that involve the factory: a callable; exclusive leases for objects that
        need them; and for the threaded pool, no `async def` factory, check or destroy (it
        would hand out coroutines, accept every object and close none)."""
        if not callable(factory):
            raise ConfigError(f"factory must be a zero-argument callable (got {factory!r})")
        if self.shares and getattr(factory, "requires_exclusive_leases", False):
            raise ConfigError(
                "on_exhausted must be 'block': this factory's objects need exclusive leases"
            )
        if threaded:
            for name, call in (
                ("factory", factory),
                ("check", self.check),
                ("destroy", self.destroy),
            ):
                if _is_coroutine_function(call):
                    raise ConfigError(
                        f"{name} is a coroutine function ({call!r}): ProducerPool calls it "
                        "from threads; use AsyncProducerPool"
                    )

    def housekeeping_interval(self) -> float:
        """Run often enough to enforce the shortest configured duration within ~1 s."""
        configured = [
            d for d in (self.max_lifetime, self.max_idle, self.leak_timeout) if d is not None
        ]
        return max(0.005, min([HOUSEKEEPING_MAX_INTERVAL, *(d / 4 for d in configured)]))


_FIELDS: Final = {option.name: option for option in dataclasses.fields(PoolOptions)}

PLAIN_OPTIONS: Final = tuple(name for name, f in _FIELDS.items() if not f.metadata.get("hook"))
"""The options that are plain values (numbers, the mode, the name): what a file can set."""

LIFETIME_JITTER: Final = 0.1  # ±10 %, so objects created together do not all retire together
HOUSEKEEPING_MAX_INTERVAL: Final = 1.0  # expiry is enforced within about a second


def violation(name: str, value: object) -> str | None:
    """What `value` fails of option `name`'s rule ("must be ..."), or None if it is good."""
    metadata = _FIELDS[name].metadata
    return None if metadata["rule"](value) else metadata["requirement"]


def check_option(name: str, value: object, *, label: str | None = None) -> None:
    """Raise `ConfigError` naming the option (or `label`) unless `value` meets its rule."""
    requirement = violation(name, value)
    if requirement is not None:
        raise ConfigError(f"{label or name} {requirement} (got {value!r})")


def _is_coroutine_function(call: object) -> bool:
    return inspect.iscoroutinefunction(call) or inspect.iscoroutinefunction(
        getattr(call, "__call__", None)  # noqa: B004 - an instance with `async def __call__`
    )


def jittered_expiry(now: float, max_lifetime: float | None) -> float:
    """When an object created at `now` retires: `max_lifetime` ±10 %, or never."""
    if max_lifetime is None:
        return math.inf
    return now + max_lifetime * random.uniform(1 - LIFETIME_JITTER, 1 + LIFETIME_JITTER)
