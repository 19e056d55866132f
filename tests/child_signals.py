"""What a test's child process starts with (tests/ is on the path)."""

from __future__ import annotations

import signal


def default_sigint() -> None:
    """Ctrl-C as a terminal user's process gets it (a ``preexec_fn``).

    A suite started in the background by a non-interactive shell inherits SIGINT
    ignored, Python keeps an ignored SIGINT ignored, and a Ctrl-C test's export would
    then run to the end.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)
