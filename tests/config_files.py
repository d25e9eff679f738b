"""Writing YAML configs for the container and CLI tests (needs the `di` extra)."""

from __future__ import annotations

from pathlib import Path

import yaml

from producer_pool.wiring.containers import DEFAULT_CONFIG_PATH, shipped_config

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


def client_config(tmp_path: Path, name: str, **kafka: object) -> Path:
    """The shipped file of client `name` with `kafka` keys set (None: removed), written
    to `tmp_path/<name>.yaml`."""
    data = yaml.safe_load(shipped_config(name).read_text())
    for key, value in kafka.items():
        if value is None:
            data["kafka"].pop(key, None)
        else:
            data["kafka"][key] = value
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path
