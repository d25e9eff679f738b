"""Writing YAML configs for the container and CLI tests (needs the `di` extra)."""

from __future__ import annotations

from pathlib import Path

import yaml

from producer_pool.wiring.containers import DEFAULT_CONFIG_PATH

#: `write_config` value meaning "remove the key".
DELETE = object()


def write_config(tmp_path: Path, section: str, key: str, value: object) -> Path:
    """The shipped YAML with one key changed (or removed), written to `tmp_path/bad.yaml`."""
    data = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    if value is DELETE:
        del data[section][key]
    else:
        data[section][key] = value
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    return path
