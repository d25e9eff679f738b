"""`python -m producer_pool`: the `producer-pool` command."""

from ._script import run

run()
