"""Ctrl-C and SIGTERM deferred to where a stage can act on them safely: between its steps, and never
between two file moves."""

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

DEFERRED_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _deliver(signum: int, handler: Any) -> None:
    """Act on a signal the way `handler`, the handler it had before, would have."""
    if callable(handler):
        handler(signum, None)
    elif handler == signal.SIG_DFL:
        raise SystemExit(128 + signum)


@contextmanager
def signals_deferred() -> Iterator[Callable[[], None]]:
    """Ctrl-C and SIGTERM meanwhile are only noted. The yielded `act_on_signal()` raises a noted one
    where the caller chooses; leaving the block raises one still pending.

    An exception raised at any point inside TensorFlow's native calls can abort the process
    (`free(): invalid next size`), and one raised between two file moves leaves half an update.
    """
    noted: list[int] = []
    if threading.current_thread() is not threading.main_thread():  # only the main thread handles signals
        yield lambda: None
        return

    def note(signum: int, frame: object) -> None:
        noted.append(signum)

    previous = {signum: signal.signal(signum, note) for signum in DEFERRED_SIGNALS}

    def act_on_signal() -> None:
        if noted:
            signum = noted.pop(0)
            _deliver(signum, previous[signum])

    try:
        yield act_on_signal
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    act_on_signal()
