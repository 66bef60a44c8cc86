"""Progress of long runs, for people watching a local run. In Lambda nobody listens and this costs nothing.

Production code calls :func:`advance`; the CLI installs a listener that draws a progress bar.
"""

from __future__ import annotations

from collections.abc import Callable

Listener = Callable[[str, int, "int | None"], None]
_listener: Listener | None = None


def listen(listener: Listener | None) -> None:
    """Install (or remove, with None) the one progress listener."""
    global _listener  # one process-wide hook, set by the CLI only
    _listener = listener


def advance(what: str, n: int = 1, total: int | None = None) -> None:
    """Say that ``n`` more items of ``what`` (e.g. "snapshots deleted") are done, out of ``total`` if known."""
    if _listener is not None:
        _listener(what, n, total)
