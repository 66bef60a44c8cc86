"""Progress of long runs, for people watching a local run. In Lambda nobody listens and this costs nothing.

Production code calls :func:`advance`; the CLI installs a listener that draws a progress bar.
"""

from __future__ import annotations

from collections.abc import Callable

Listener = Callable[[str, int, "int | None"], None]
"""Called with (what, items done, total): a total of None leaves it as is, a negative one adds to it."""
_listener: Listener | None = None


def listen(listener: Listener | None) -> None:
    """Install (or remove, with None) the one progress listener."""
    global _listener  # one process-wide hook, set by the CLI only
    _listener = listener


def expect(what: str, n: int) -> None:
    """Say that ``n`` more items of ``what`` are coming (adds to the total; several units may each expect some)."""
    if _listener is not None:
        _listener(what, 0, -n)


def advance(what: str, n: int = 1, total: int | None = None) -> None:
    """Say that ``n`` more items of ``what`` (e.g. "snapshots deleted") are done, out of ``total`` if known."""
    if _listener is not None:
        _listener(what, n, total)
