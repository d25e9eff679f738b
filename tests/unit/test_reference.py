"""The configuration reference the docs show is the one the settings models render."""

from __future__ import annotations

from producer_pool.wiring.reference import REFERENCE_PATH, render_reference


def test_the_docs_reference_is_the_rendered_one():
    assert REFERENCE_PATH.read_text() == render_reference(), (
        "the settings models changed: run `python -m producer_pool.wiring.reference`"
    )
