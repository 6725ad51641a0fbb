"""Name lookup with a helpful error: every unknown name suggests the closest ones."""

import difflib
from collections.abc import Iterable

from harness.errors import HarnessError


class UnknownNameError(HarnessError, KeyError):
    """An unknown protocol, method, backbone, dataset or class-list name."""

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return str(self.args[0])


def check_name(kind: str, name: str, known: Iterable[str], *, prefix: str = "",
               error: type[HarnessError] = UnknownNameError) -> str:
    """Return ``name`` if it is known, else raise listing the closest known names.

    ``prefix`` (e.g. the file and option the name came from) starts the message;
    ``error`` is the class raised, for callers whose errors have their own type.
    """
    known = sorted(known)
    if name in known:
        return name
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.4)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    start = f"{prefix}: " if prefix else ""
    raise error(
        f"{start}unknown {kind} {name!r}.{hint} Known {kind}s: {', '.join(known) or '(none)'}."
    )
