"""``tuneforge pause|resume|cancel STUDY``: workers honour the change between trials."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from search.cli._app import app

_STORAGE = typer.Option(help="Study storage URL the study was submitted to.", envvar="TUNEFORGE_STORAGE",
                        show_default=False)
_NAME = typer.Argument(metavar="STUDY", help="The study's name.", show_default=False)


def _change(name: str, storage: str, action: str) -> None:
    from search.control import change_status
    from spaces.core import resolve_storage_url

    before, after = change_status(resolve_storage_url(storage), name, action)
    Console().print(f"study '{name}': {before.status.value} -> {after.status.value}")


@app.command()
def pause(name: Annotated[str, _NAME], storage: Annotated[str, _STORAGE]) -> None:
    """Pause a submitted study: workers start no new trial of it (running trials finish)."""
    _change(name, storage, "pause")


@app.command()
def resume(name: Annotated[str, _NAME], storage: Annotated[str, _STORAGE]) -> None:
    """Resume a paused study."""
    _change(name, storage, "resume")


@app.command()
def cancel(name: Annotated[str, _NAME], storage: Annotated[str, _STORAGE]) -> None:
    """Cancel a submitted study: no new trials; its finished trials are kept."""
    _change(name, storage, "cancel")
