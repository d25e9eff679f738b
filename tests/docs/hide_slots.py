"""A griffe extension for the API reference: `__slots__` is an implementation detail, not
an attribute a reader uses, so no class shows it."""

from __future__ import annotations

from typing import Any

import griffe


class HideSlots(griffe.Extension):
    def on_class_members(self, *, cls: griffe.Class, **kwargs: Any) -> None:
        if "__slots__" in cls.members:
            cls.del_member("__slots__")
