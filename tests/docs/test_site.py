"""The documentation site builds with --strict and its API reference is complete."""

from __future__ import annotations

from pathlib import Path

import griffe

from tests.docs.site import DOCS, SOURCE, inventory, public_names


def test_the_site_builds_with_strict_and_an_index_page(site_dir: Path):
    assert (site_dir / "index.html").exists()
    assert (site_dir / "objects.inv").exists()


def test_every_public_name_has_a_reference_entry(site_dir: Path):
    rendered = inventory(site_dir)
    missing = [name for name in public_names() if name not in rendered]
    assert not missing, (
        "public names (in an __all__ of a public module) with no entry in the API reference:"
        f" {missing}. Add the module (`::: producer_pool.x.y`) or the name to a page under"
        " docs/reference/ (reference/index.md says which page holds what)."
    )


def test_a_name_left_out_of_the_reference_is_found():
    """The check above reads names the way mkdocstrings writes them: a module's own names
    and the aliases autorefs records for re-exports."""
    names = public_names()
    assert "producer_pool.ProducerPool" in names
    assert "producer_pool.core.pool.ProducerPool" in names
    assert "producer_pool.errors.PoolError" not in names  # errors.py has no __all__
    assert not any(name.startswith("producer_pool.kafka.") for name in names)  # 0.1 aliases


def test_the_docs_folder_holds_only_what_the_site_uses():
    stray = [p.name for p in DOCS.rglob("*") if p.suffix in {".py", ".sh", ".pyc"}]
    assert not stray, f"files under docs/ are copied into the site as they are: {stray}"


def test_every_public_name_has_a_docstring():
    """The reference is generated from docstrings: a public class, function or constant
    without one would render as a bare signature or value. A constant's docstring is a
    string right after its assignment; griffe does not read `#:` comments."""
    package = griffe.load("producer_pool", search_paths=[str(SOURCE)])
    bare = []
    for name in public_names():
        found = package[name.removeprefix("producer_pool.")]
        target = found.final_target if found.is_alias else found
        if target.kind.value in ("class", "function", "attribute") and not target.docstring:
            bare.append(name)
    assert not bare, f"public names without a docstring: {bare}"


def test_no_rendered_attribute_is_described_by_a_comment_only():
    """A `#:` comment above a class attribute says the author meant it as documentation, but
    the reference renders the attribute bare: it must be a docstring after the assignment."""
    package = griffe.load("producer_pool", search_paths=[str(SOURCE)])
    commented = []
    for name in public_names():
        found = package[name.removeprefix("producer_pool.")]
        target = found.final_target if found.is_alias else found
        if target.kind.value != "class":
            continue
        lines = target.filepath.read_text().splitlines()
        for member in target.members.values():
            if member.is_alias or member.name.startswith("_") or member.docstring:
                continue
            if (
                member.kind.value == "attribute"
                and member.lineno is not None
                and lines[member.lineno - 2].lstrip().startswith("#:")
            ):
                commented.append(member.path)
    commented = sorted(set(commented))
    assert not commented, f"attributes described by a #: comment, not a docstring: {commented}"
