"""Each kit's settings model (pydantic, strict): the client's own option names, typed, with
the client's defaults, and every option the client would refuse refused when the settings
are validated, in one line naming the key (with "did you mean").

A kit names its model in `settings_model` ("module:Class"); `kit.settings_model(name)`
imports it. pydantic is imported only then (the `di` extra), never by the kits.
"""

from ._base import ClientSettings

__all__ = ["ClientSettings"]
