"""Small helpers every module shares: atomic writes, stable hashes, unwrapping DDP.

Kept here, once, so that a fix (an fsync, a file mode) applies everywhere.
"""

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

#: Label id that losses and metrics ignore (void pixels, unselected pseudo-labels).
IGNORE_INDEX = 255


@contextlib.contextmanager
def atomic_path(path: Path, mode: int = 0o644) -> Iterator[Path]:
    """Yield a unique temporary path beside ``path``; on success rename it over ``path``.

    Readers see the old file or the new one, never half of one; concurrent writers
    never share a temporary name; a crash leaves at most a stray ``.tmp`` file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)  # mkstemp makes files private; results are for sharing
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write(path: Path, data: str | bytes) -> Path:
    """Write text or bytes to ``path`` atomically (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp:
        if isinstance(data, bytes):
            tmp.write_bytes(data)
        else:
            tmp.write_text(data)
    return Path(path)


def stable_json(obj: Any) -> str:
    """Canonical JSON: sorted keys, no spaces, so equal content gives equal text."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def stable_hash(obj: Any, length: int | None = None) -> str:
    """sha256 of :func:`stable_json` (optionally the first ``length`` hex digits)."""
    digest = hashlib.sha256(stable_json(obj).encode()).hexdigest()
    return digest[:length] if length else digest


def unwrap(model):
    """The method inside a DDP wrapper (mmengine's or torch's), or the model itself."""
    return getattr(model, "module", model)
