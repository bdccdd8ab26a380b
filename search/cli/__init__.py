"""The ``tuneforge`` command line. Heavy libraries are imported inside commands only."""

from __future__ import annotations

import sys

import click
import typer

try:  # newer typer vendors click and raises its own copies of click's exceptions
    from typer._click import exceptions as _vendored
except ImportError:  # pragma: no cover - older typer uses click itself
    _vendored = click.exceptions

_EXIT = (click.exceptions.Exit, typer.Exit)
_USAGE = (click.ClickException, _vendored.ClickException)
_ABORT = (click.exceptions.Abort, typer.Abort, KeyboardInterrupt)

from search._quiet import quiet_libraries
from search.cli._app import app
from search.cli import _compare, _control, _run, _status, _submit, _ui, _validate, _worker  # noqa: F401  (register the commands)
from spaces import TuneforgeError


def main(argv: list[str] | None = None) -> None:
    """Entry point: user errors become exit status 2 and one line on stderr, never a traceback."""
    quiet_libraries()
    try:
        code = app(args=argv, prog_name="tuneforge", standalone_mode=False)
        if isinstance(code, int) and code:  # typer returns typer.Exit codes (130 on Ctrl-C) here
            if code == 130:
                typer.echo("interrupted", err=True)
            sys.exit(code)
    except TuneforgeError as exc:
        for error in getattr(exc, "errors", [exc]):  # a study file's every error, one line each
            typer.echo(f"error: {error}", err=True)
        sys.exit(2)
    except _EXIT as exc:
        sys.exit(exc.exit_code)
    except _USAGE as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except _ABORT:
        typer.echo("interrupted", err=True)
        sys.exit(130)


__all__ = ["app", "main"]
