"""Write README's command reference and exit-code table from the command line itself.

``python tools/reference.py`` (``make docs``) replaces the generated blocks of
README.md; ``--check`` only says whether they are current (exit 1 when stale), so
a test and CI catch a command or option added without regenerating. The help
text is rendered at a fixed width so the output does not depend on the terminal.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
WIDTH = 100
BLOCKS = ("reference", "exit-codes")


def _begin(name: str) -> str:
    return f"<!-- BEGIN GENERATED {name}: make docs -->"


def _end(name: str) -> str:
    return f"<!-- END GENERATED {name} -->"


def commands() -> Iterator[tuple[str, click.Command, click.Context]]:
    """Every command as an admin meets them: the group's order, subcommands after their group."""
    from migrate.cli import main

    root = click.Context(main, info_name="drupal-migrate", terminal_width=WIDTH)
    root.max_content_width = WIDTH

    def walk(
        group: click.Group, ctx: click.Context
    ) -> Iterator[tuple[str, click.Command, click.Context]]:
        for name in group.list_commands(ctx):
            command = group.get_command(ctx, name)
            if command is None or command.hidden:
                continue
            sub = click.Context(command, info_name=name, parent=ctx, terminal_width=WIDTH)
            sub.max_content_width = WIDTH
            yield sub.command_path, command, sub
            if isinstance(command, click.Group):
                yield from walk(command, sub)

    yield "drupal-migrate", main, root
    yield from walk(main, root)


def reference() -> str:
    parts = []
    for path, command, ctx in commands():
        parts.append(
            f"<details><summary><code>{path}</code></summary>\n\n"
            f"```text\n{command.get_help(ctx)}\n```\n\n</details>\n"
        )
    return "\n".join(parts)


def exit_code_table() -> str:
    from migrate.errors import exit_codes

    rows = "\n".join(f"| {code} | {meaning} |" for code, meaning in exit_codes())
    return f"| exit code | meaning |\n| --- | --- |\n{rows}\n"


def render(readme: str) -> str:
    """README with every generated block replaced by what the code says today."""
    content = {"reference": reference(), "exit-codes": exit_code_table()}
    for name in BLOCKS:
        begin, end = _begin(name), _end(name)
        start = readme.find(begin)
        stop = readme.find(end)
        if start < 0 or stop < start:
            raise SystemExit(f"README.md has no {begin} … {end} block")
        readme = readme[: start + len(begin)] + "\n" + content[name] + readme[stop:]
    return readme


def main(argv: list[str]) -> int:
    current = README.read_text(encoding="utf-8")
    wanted = render(current)
    if "--check" in argv:
        if wanted != current:
            print("README.md's generated reference is stale: run make docs", file=sys.stderr)
            return 1
        return 0
    if wanted != current:
        README.write_text(wanted, encoding="utf-8")
        print("README.md: reference regenerated")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
