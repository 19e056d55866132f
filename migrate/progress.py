"""Progress for long work: a bar on a terminal, JSON lines or silence when piped.

The library reports progress through a plain callback (``Progress``); only the
CLI decides how it looks.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click

Progress = Callable[[int, int | None], None]
"""Called as ``progress(done, total)``; ``total`` may be unknown (None)."""


def _silent(done: int, total: int | None) -> None:
    return None


@contextmanager
def progress_for(label: str, *, json_lines: bool = False) -> Iterator[Progress]:
    """A callback that draws a bar on a TTY, emits JSON on demand, else says nothing."""
    if sys.stderr.isatty():
        began = time.monotonic()
        with click.progressbar(
            length=1,
            label=label,
            file=sys.stderr,
            show_pos=True,
            show_eta=True,
            item_show_func=lambda rate: rate,
        ) as bar:
            state = {"done": 0}

            def draw(done: int, total: int | None) -> None:
                if total is not None and bar.length != total:
                    bar.length = total
                elapsed = time.monotonic() - began
                rate = f"{done / elapsed:,.0f}/s" if elapsed > 0 and done else None
                bar.update(done - state["done"], rate)
                state["done"] = done

            yield draw
        return
    if not json_lines:
        yield _silent
        return
    start = time.monotonic()

    def emit(done: int, total: int | None) -> None:
        event: dict[str, Any] = {"event": "progress", "task": label, "done": done, "total": total}
        event["seconds"] = round(time.monotonic() - start, 3)
        click.echo(json.dumps(event), err=True)

    yield emit


def on_demand_bar(label: str) -> Progress:
    """A labelled bar that appears on the first report and closes when the work is done.

    For a phase that may not happen at all, like loading a dump whose cache is
    already built. On a terminal only; elsewhere it says nothing.
    """
    if not sys.stderr.isatty():
        return _silent
    state: dict[str, Any] = {"bar": None, "done": 0, "closed": False}

    def draw(done: int, total: int | None) -> None:
        if state["closed"]:
            return
        bar = state["bar"]
        if bar is None:
            bar = click.progressbar(
                length=total or 1, label=label, file=sys.stderr, show_eta=True, show_pos=False
            )
            bar.__enter__()
            state["bar"] = bar
        bar.update(done - state["done"])
        state["done"] = done
        if total is not None and done >= total:
            bar.__exit__(None, None, None)
            state["closed"] = True

    return draw
