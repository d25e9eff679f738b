"""The console script: a missing `cli` extra is one line, not a traceback."""

from __future__ import annotations

import sys

__all__ = ["run"]


def run() -> None:
    """The `producer-pool` entry point: the command, or one line naming the missing extra."""
    try:
        from .cli import run as run_cli
    except ImportError as exc:
        sys.exit(f"producer-pool: {exc}")
    run_cli()
