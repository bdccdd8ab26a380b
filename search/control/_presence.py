"""Whether a storage already holds tuneforge's tables, without creating them."""

from __future__ import annotations

from search.storage import Url, control_url, sql_engine
from spaces.core import TuneforgeError


class NotATuneforgeStorage(TuneforgeError):
    """``tuneforge worker`` was pointed at a database tuneforge has never used."""


def has_tuneforge_tables(storage_url: Url) -> bool:
    """True when the control table exists (``submit`` creates it); reads only."""
    import sqlalchemy as sa

    control = control_url(storage_url)
    if control.local_path is not None and not control.local_path.is_file():
        return False
    engine = sql_engine(control)
    try:
        return sa.inspect(engine).has_table("tuneforge_studies")
    except sa.exc.SQLAlchemyError:
        return True  # cannot tell (unreachable, say): let opening it report the real error
    finally:
        engine.dispose()


def require_tuneforge_tables(storage_url: Url) -> None:
    """Refuse a storage without tuneforge's tables (the URL printed redacted)."""
    if not has_tuneforge_tables(storage_url):
        raise NotATuneforgeStorage(
            f"--storage {storage_url} holds no tuneforge tables: no study was ever submitted there, so it may be "
            "another application's database", path=("--storage",),
            hint="submit a study there first (`tuneforge submit` creates the tables), or pass --create-tables")
