"""Atomic file writes, shared by every layer (the lowest of them: it
imports nothing from the harness).

A file is written to a temporary file in its directory and renamed over
the target, so a reader (another process, a CI job collecting records)
never sees half of one; a failed write leaves the old file and no
temporary file behind.
"""
from __future__ import annotations

import json
import os
import tempfile


def write_bytes_atomic(path: str, data: bytes, suffix: str = "") -> None:
    """Write ``data`` to ``path`` atomically (mode 0644: records and the
    baseline are shared)."""
    directory = os.path.dirname(os.path.abspath(path)) or "."
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=suffix, dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_text_atomic(path: str, text: str) -> None:
    """:func:`write_bytes_atomic` for text (UTF-8)."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str, doc) -> None:
    """``doc`` as indented JSON (values JSON cannot hold as their ``str``),
    atomically."""
    text = json.dumps(doc, indent=2, sort_keys=False, default=str) + "\n"
    write_bytes_atomic(path, text.encode("utf-8"), suffix=".json")
