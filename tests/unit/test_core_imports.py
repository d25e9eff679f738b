"""The core pool stays standard-library only: Kafka and DI live at the edges."""

from __future__ import annotations

import subprocess
import sys


def test_importing_the_core_loads_no_third_party_package():
    code = (
        "import sys, producer_pool; "
        "third = {m.split('.')[0] for m in sys.modules} & "
        "{'kafka', 'confluent_kafka', 'dependency_injector', 'pydantic', 'yaml', 'click', 'rich'}; "
        "print(sorted(third))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
