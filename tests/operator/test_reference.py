"""The command line documents itself: help on every option, an example on every command,
one naming scheme, and a README reference generated from it that a test keeps current."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import click

from migrate.cli import COMMAND_ORDER, EXAMPLES, SOURCE_OPTIONS, main
from migrate.errors import MigrateError, exit_codes

ROOT = Path(__file__).resolve().parents[2]


def _tool():
    spec = importlib.util.spec_from_file_location("reference", ROOT / "tools/reference.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["reference"] = module
    spec.loader.exec_module(module)
    return module


reference = _tool()


def all_commands():
    return [(path, command) for path, command, _ctx in reference.commands()]


def test_readme_reference_is_current():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert reference.render(readme) == readme, "README.md's command reference is stale: make docs"


def test_every_command_and_option_is_in_the_readme():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme[
        readme.index("BEGIN GENERATED reference") : readme.index("END GENERATED reference")
    ]
    for path, command in all_commands():
        assert f"<code>{path}</code>" in block, f"{path} is not in the README reference"
        for param in command.params:
            for opt in getattr(param, "opts", ()):
                if opt.startswith("-"):
                    assert opt in block, f"{path} {opt} is not in the README reference"


def test_every_option_has_help_and_every_command_an_example():
    for path, command in all_commands():
        assert command.help, f"{path} has no help text"
        ctx = click.Context(command, info_name=path)
        text = command.get_help(ctx).rstrip().splitlines()
        assert text[-2].strip() == "Example:", (
            f"{path} --help does not end with an example: add one to EXAMPLES in migrate/cli.py"
        )
        assert text[-1].strip().startswith("drupal-migrate"), path
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help, f"{path} {'/'.join(param.opts)} has no help text (help=...)"
    assert set(EXAMPLES) - {""} <= {p.removeprefix("drupal-migrate ") for p, _ in all_commands()}


def test_one_naming_scheme_for_outputs():
    """--out is a folder, --output a file, and both answer to -o."""
    for path, command in all_commands():
        for param in command.params:
            if not isinstance(param, click.Option):
                continue
            if "--out" in param.opts:
                assert "-o" in param.opts, f"{path} --out has no -o"
                assert isinstance(param.type, click.Path) and not param.type.file_okay, path
            if "--output" in param.opts:
                assert "-o" in param.opts, f"{path} --output has no -o"
                assert isinstance(param.type, click.Path) and not param.type.dir_okay, path
            if "--yes" in param.opts:
                assert "-y" in param.opts, f"{path} --yes has no -y"


def test_source_options_are_the_same_on_every_command():
    wanted = {}
    for decorator in SOURCE_OPTIONS:
        probe = decorator(lambda **kw: None)
        (param,) = probe.__click_params__
        wanted[param.opts[0]] = param.help
    for path, command in all_commands():
        found = {o: p.help for p in command.params for o in getattr(p, "opts", ()) if o in wanted}
        if found and path != "drupal-migrate init":
            assert found == wanted, f"{path} has different source options"
        elif found:
            assert set(found) == set(wanted), path


def test_commands_in_the_order_an_admin_uses_them():
    listed = main.list_commands(click.Context(main))
    assert listed[: len(COMMAND_ORDER)] == [c for c in COMMAND_ORDER if c in main.commands]


def test_exit_codes_come_from_the_error_classes():
    codes = dict(exit_codes())
    pending = list(MigrateError.__subclasses__())
    while pending:
        cls = pending.pop()
        assert cls.exit_code in codes, cls
        pending.extend(cls.__subclasses__())
    assert codes[0] == "success" and 130 in codes
    assert all(f"  {code:>3}  " in main.epilog for code in codes)
