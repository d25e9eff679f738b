"""What a read_committed reader must see after commit, abort, commit: shared by the
transaction tests of every client."""

from __future__ import annotations

import os

from producer_pool.testing.broker import BOOTSTRAP_ENV


def assert_aborted_closed_by_markers(
    view: dict[bytes, int], before: bytes, aborted: list[bytes], after: bytes
) -> None:
    """`view` maps each key a read_committed reader got to its offset.

    A real Kafka hides the aborted records. tansu's Fetch reply has no aborted-transactions
    list, so read_committed cannot hide them there: check the markers instead. Each
    transaction ends with a control record, which takes an offset no data record uses.
    """
    assert before in view and after in view
    if os.environ.get(BOOTSTRAP_ENV):
        assert not set(aborted) & set(view)
    else:
        assert view[aborted[0]] == view[before] + 2  # COMMIT marker between
        assert view[after] == view[aborted[-1]] + 2  # ABORT marker between
