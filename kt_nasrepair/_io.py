"""Crash-safe file writes."""

from __future__ import annotations

import json
import os
import tempfile


def atomic_write_json(path: str, data) -> None:
    """Writes `data` as JSON to `path` so that readers see the old or the new file, never half."""
    # A temporary file in the same directory: `os.replace` is then a rename on one file system.
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp_path = tempfile.mkstemp(prefix=".tmp_", suffix=".json", dir=directory)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        if os.path.exists(tmp_path):
            os.remove(tmp_path)
        raise


def read_json(path: str, default=None):
    """Reads a JSON file; returns `default` when it is missing or unreadable."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return default
