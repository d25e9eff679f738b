"""Pool options: their names and types (`PoolKwargs`), defaults and the rule each must meet.

`ProducerPool` and the YAML settings both validate through `check_option`, so a limit is
written once and an error names the option the same way everywhere.
"""

from __future__ import annotations

import difflib
import inspect
import math
import random
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final, Literal, TypedDict

from ..errors import ConfigError
from .events import PoolListener
from .stats import DeliveryCounts

__all__ = [
    "DEFAULTS",
    "OnExhausted",
    "PoolKwargs",
    "check_option",
    "check_options",
    "housekeeping_interval",
    "jittered_expiry",
    "refuse_coroutine_functions",
    "violation",
    "with_defaults",
]

OnExhausted = Literal["block", "share"]


class PoolKwargs(TypedDict, total=False):
    """The keyword options of `ProducerPool` and `AsyncProducerPool`, for their signatures
    (`**options: Unpack[PoolKwargs]`) and for code that passes them on (the client kits).

    Each is optional; the defaults are the shipped YAML's.
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
    check: Callable[[Any], bool | Awaitable[bool]] | None
    """Health check run on a reused object before it is leased; False retires it (for the
    asyncio pool it may be `async def`)."""
    destroy: Callable[..., object] | None
    """Closes a retired object (default: its `close()`); told `deadline=` if it takes one."""
    discard_on: tuple[type[BaseException], ...]
    """Exceptions that, raised in a `with` block, destroy the leased object (default none)."""
    on_exhausted: OnExhausted
    """At max_size: "block" waits for an object, "share" leases the least-loaded one again."""
    leak_timeout: float | None
    """Seconds after which a lease still held is logged with its stack (default None: off)."""
    close_timeout: float
    """Seconds `close()` waits for leases and destroys (default 30)."""
    deliveries: DeliveryCounts | None
    """The producers' delivery outcomes, for stats and close's report (Kafka pools)."""
    listener: PoolListener | None
    """Told of creations, leases, timeouts, destroys and leaks (see `PoolListener`)."""
    name: str | None
    """The pool's name in logs, errors and metrics (default pool-N)."""


#: The defaults of `ProducerPool` and of the shipped YAML (`config/producer_pool.yaml`).
DEFAULTS: Final[Mapping[str, Any]] = {
    "max_size": 4,
    "min_size": 0,
    "acquire_timeout": 30.0,
    "max_waiting": None,
    "max_lifetime": 3600.0,
    "max_idle": 600.0,
    "leak_timeout": None,
    "on_exhausted": "block",
    "close_timeout": 30.0,
}

#: Every option's default: those above, then the ones code alone sets.
_ALL_DEFAULTS: Final[Mapping[str, Any]] = {
    **DEFAULTS,
    "check": None,
    "destroy": None,
    "discard_on": (),
    "deliveries": None,
    "listener": None,
    "name": None,
}

LIFETIME_JITTER: Final = 0.1  # ±10 %, so objects created together do not all retire together
HOUSEKEEPING_MAX_INTERVAL: Final = 1.0  # expiry is enforced within about a second


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


def _optional(rule: Callable[[object], bool]) -> Callable[[object], bool]:
    return lambda value: value is None or rule(value)


_RULES: Final[Mapping[str, tuple[Callable[[object], bool], str]]] = {
    "max_size": (lambda v: _is_int(v) and v >= 1, "must be an integer >= 1"),  # type: ignore[operator]
    "min_size": (lambda v: _is_int(v) and v >= 0, "must be an integer >= 0"),  # type: ignore[operator]
    "acquire_timeout": (_is_seconds, "must be a number of seconds >= 0 (inf: no limit)"),
    "close_timeout": (_is_seconds, "must be a number of seconds >= 0 (inf: no limit)"),
    "max_waiting": (
        _optional(lambda v: _is_int(v) and v >= 0),  # type: ignore[operator]
        "must be null or an integer >= 0",
    ),
    "max_lifetime": (
        _optional(lambda v: _is_seconds(v) and v > 0),  # type: ignore[operator]
        "must be null or a number of seconds > 0",
    ),
    "max_idle": (
        _optional(lambda v: _is_seconds(v) and v > 0),  # type: ignore[operator]
        "must be null or a number of seconds > 0",
    ),
    "leak_timeout": (
        _optional(lambda v: _is_seconds(v) and v > 0),  # type: ignore[operator]
        "must be null or a number of seconds > 0",
    ),
    "on_exhausted": (lambda v: v in ("block", "share"), "must be 'block' or 'share'"),
    "name": (_optional(lambda v: isinstance(v, str) and v != ""), "must be a non-empty string"),
}


def violation(name: str, value: object) -> str | None:
    """What `value` fails of option `name`'s rule ("must be ..."), or None if it is good."""
    rule, requirement = _RULES[name]
    return None if rule(value) else requirement


def check_option(name: str, value: object, *, label: str | None = None) -> None:
    """Raise `ConfigError` naming the option (or `label`) unless `value` meets its rule."""
    requirement = violation(name, value)
    if requirement is not None:
        raise ConfigError(f"{label or name} {requirement} (got {value!r})")


def with_defaults(options: Mapping[str, object]) -> dict[str, Any]:
    """Every option, as given or by default; an unknown name is a `ConfigError`."""
    for name in options:
        if name not in _ALL_DEFAULTS:
            close = difflib.get_close_matches(name, list(_ALL_DEFAULTS), 1)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise ConfigError(f"{name}: unknown pool option{hint}")
    return {**_ALL_DEFAULTS, **options}


def check_options(options: Mapping[str, Any]) -> None:
    """Check every option, then the rules that relate two of them."""
    for name, value in options.items():
        if name in _RULES:
            check_option(name, value)
    if options["min_size"] > options["max_size"]:
        raise ConfigError(
            f"min_size must be <= max_size={options['max_size']} (got {options['min_size']})"
        )
    if not callable(options["factory"]):
        raise ConfigError(f"factory must be a zero-argument callable (got {options['factory']!r})")
    for name in ("check", "destroy"):
        if options[name] is not None and not callable(options[name]):
            raise ConfigError(f"{name} must be None or a callable (got {options[name]!r})")
    discard_on = options["discard_on"]
    if not isinstance(discard_on, tuple) or not all(
        isinstance(t, type) and issubclass(t, BaseException) for t in discard_on
    ):
        raise ConfigError(f"discard_on must be a tuple of exception types (got {discard_on!r})")
    if options["on_exhausted"] == "share" and getattr(
        options["factory"], "requires_exclusive_leases", False
    ):
        raise ConfigError(
            "on_exhausted must be 'block': this factory's objects need exclusive leases"
        )


def refuse_coroutine_functions(options: Mapping[str, Any]) -> None:
    """The threaded pool calls factory, check and destroy and uses what they return: an
    `async def` would hand out coroutines, accept every object and close none."""
    for name in ("factory", "check", "destroy"):
        call = options[name]
        if inspect.iscoroutinefunction(call) or inspect.iscoroutinefunction(
            getattr(call, "__call__", None)  # noqa: B004 - an instance with `async def __call__`
        ):
            raise ConfigError(
                f"{name} is a coroutine function ({call!r}): ProducerPool calls it from "
                "threads; use AsyncProducerPool"
            )


def jittered_expiry(now: float, max_lifetime: float | None) -> float:
    """When an object created at `now` retires: `max_lifetime` ±10 %, or never."""
    if max_lifetime is None:
        return math.inf
    return now + max_lifetime * random.uniform(1 - LIFETIME_JITTER, 1 + LIFETIME_JITTER)


def housekeeping_interval(*durations: float | None) -> float:
    """Run often enough to enforce the shortest configured duration within ~1 s."""
    configured = [d for d in durations if d is not None]
    return max(0.005, min([HOUSEKEEPING_MAX_INTERVAL, *(d / 4 for d in configured)]))
