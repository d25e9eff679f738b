"""Pool options: their defaults and the rule each must meet, one source of truth.

`ProducerPool` and the YAML settings both validate through `check_option`, so a limit is
written once and an error names the option the same way everywhere.
"""

from __future__ import annotations

import inspect
import math
import random
from collections.abc import Callable, Mapping
from typing import Any, Final

from ..errors import ConfigError

__all__ = [
    "DEFAULTS",
    "check_option",
    "check_options",
    "housekeeping_interval",
    "jittered_expiry",
    "refuse_coroutine_functions",
    "violation",
]

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
