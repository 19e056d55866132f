"""What every helper process an export forks does first (node builders, the WXR checker)."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when the export process dies (even by SIGKILL).

    Without it a killed export would leave its helpers holding its stdout pipes and
    database socket, so neither a waiting caller nor DROP DATABASE could proceed.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:
        os._exit(1)


def init_child() -> None:
    """Process-pool initializer: Ctrl-C reaches the whole process group, and the export
    process alone answers it (one line, exit 130) and shuts its pools down, so helpers
    ignore it rather than each printing a traceback; and they die with the export."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent()
