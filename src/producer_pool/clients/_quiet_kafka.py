"""Import kafka-python without the DeprecationWarnings it raises while importing.

kafka-python 3.0 loads its ~109 protocol schemas at import with `importlib.resources.read_text`,
which Python 3.11 and 3.12 deprecate: 218 warnings (read_text, and the open_text it calls).
Under a user's `filterwarnings = error` the first import of one of our modules then fails the
test run. Only those two warnings are ignored, only from kafka-python's schema loader and the
legacy helper it calls, and only while `kafka` is first imported: the user's own warnings, and
whatever kafka-python warns later, still reach them. Import this module before `kafka`.
"""

from __future__ import annotations

import warnings

with warnings.catch_warnings():
    warnings.filterwarnings(
        "ignore", "read_text is deprecated", DeprecationWarning, r"kafka\.protocol\.schemas\."
    )
    warnings.filterwarnings(
        "ignore", "open_text is deprecated", DeprecationWarning, r"importlib\.resources\._legacy"
    )
    import kafka  # noqa: F401 - the import this module exists for
