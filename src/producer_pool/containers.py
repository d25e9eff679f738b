"""Moved to `producer_pool.wiring.containers`: this alias of 0.1's path is removed in 0.3."""

from ._moved import alias
from .wiring.containers import *  # noqa: F403 - for type checkers; at run time `alias` returns the module

alias(__name__)
