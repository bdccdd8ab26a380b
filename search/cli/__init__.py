"""The ``tuneforge`` command line. Heavy libraries are imported inside commands only."""

from __future__ import annotations

import logging
import sys

import click
import typer

from search.cli._app import app
from search.cli import _run, _status, _validate  # noqa: F401  (register the commands)
from spaces import TuneforgeError


def main(argv: list[str] | None = None) -> None:
    """Entry point: user errors become exit status 2 and one line on stderr, never a traceback."""
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        app(args=argv, prog_name="tuneforge", standalone_mode=False)
    except TuneforgeError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (click.exceptions.Abort, KeyboardInterrupt):
        typer.echo("interrupted", err=True)
        sys.exit(130)


__all__ = ["app", "main"]
