"""`python -m producer_pool`: the `producer-pool` command."""

from .command.script import run

run()
