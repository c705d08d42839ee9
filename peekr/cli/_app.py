"""Wire the ``peekr`` command group: peekr's own commands plus commands other packages register."""

from __future__ import annotations

import importlib
import sys
from typing import Any

import typer
from typer import _click
from typer.core import TyperArgument, TyperGroup, TyperOption

from .._version import __version__

__all__ = ["COMMAND_MODULES", "EXTRA_COMMAND_MODULES", "build_app"]

#: Commands of the CLI itself; each module exposes ``register(app)``.
COMMAND_MODULES: tuple[str, ...] = (
    "peekr.cli.view",
    "peekr.cli.replay",
    "peekr.cli.dashboard",
    "peekr.cli.feedback",
    "peekr.cli.prune",
    "peekr.cli.cost",
    "peekr.cli.compare",
)

#: Commands owned by other parts of peekr; each, if importable, exposes ``register(app)``.
#: A module that does not exist is skipped quietly.
EXTRA_COMMAND_MODULES: tuple[str, ...] = (
    "peekr.cli.eval",
    "peekr.cli.server",
    "peekr.cli.ui",
    "peekr.cli.fake_provider",
    "peekr.cli.mcp",
)

_HELP_OPTIONS = ("-h", "--help")
_HELP = """Look at your LLM traces without any server.

[bold]peekr view traces.db --io[/]            spans, newest first, with inputs and outputs
[bold]peekr replay <trace_id> --db traces.db[/]  one trace as a waterfall
[bold]peekr dashboard traces.db -o report.html[/]  a self-contained HTML report
[bold]peekr cost traces.db --by model[/]          where the money goes
[bold]peekr compare traces.db -e NAME[/]         compare the variants of an A/B experiment
"""


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"peekr {__version__}")
        raise typer.Exit()


class _PeekrGroup(TyperGroup):
    """The ``peekr`` group: tidies the help of itself and every command registered on it."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        _tidy_help(self)


def _tidy_help(command: _click.Command) -> None:
    """Show flags without a type (typer prints ``<bool>`` for them) and arguments in capitals."""
    help_option = command.get_help_option(_click.Context(command, help_option_names=list(_HELP_OPTIONS)))
    for param in [*command.params, help_option]:
        if isinstance(param, TyperOption) and param.is_flag and param.metavar is None:
            param.metavar = ""
        elif isinstance(param, TyperArgument) and param.metavar is None and param.name:
            param.metavar = param.name.upper()
    for sub in (getattr(command, "commands", None) or {}).values():
        _tidy_help(sub)


def build_app() -> typer.Typer:
    """Return the ``peekr`` typer app with every available command registered."""
    app = typer.Typer(
        cls=_PeekrGroup,
        name="peekr",
        help=_HELP,
        no_args_is_help=True,
        add_completion=False,
        rich_markup_mode="rich",
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": list(_HELP_OPTIONS)},
    )

    @app.callback()
    def _root(
        version: bool = typer.Option(
            False, "--version", "-V", help="Show the version and exit.", callback=_version_callback, is_eager=True
        ),
    ) -> None:
        """Look at your LLM traces without any server."""

    for name in COMMAND_MODULES:
        importlib.import_module(name).register(app)
    for name in EXTRA_COMMAND_MODULES:
        _register_optional(app, name)
    return app


def _register_optional(app: typer.Typer, name: str) -> None:
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name == name:  # the command is not there (yet): skip quietly
            return
        sys.stderr.write(f"peekr: warning: command module {name} is unavailable: {exc}\n")
        return
    except Exception as exc:  # a broken extra command must not take the whole CLI down
        sys.stderr.write(f"peekr: warning: command module {name} failed to load: {exc}\n")
        return
    register = getattr(module, "register", None)
    if callable(register):
        register(app)
