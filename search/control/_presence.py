"""Whether a storage already holds tuneforge's tables, without creating anything."""

from __future__ import annotations

from pathlib import Path

from spaces import TuneforgeError


class NotATuneforgeStorage(TuneforgeError):
    """``tuneforge worker`` was pointed at a database tuneforge has never used."""


def has_tuneforge_tables(storage_url: str) -> bool:
    """True when the control table exists (``submit`` creates it); reads only."""
    import sqlalchemy as sa

    if storage_url.startswith("journal:"):
        journal = Path(storage_url[len("journal:"):])
        control = journal.with_name(journal.name + ".control.db")
        if not control.is_file():
            return False
        url = f"sqlite:///{control}"
    else:
        url = storage_url
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        return sa.inspect(engine).has_table("tuneforge_studies")
    except sa.exc.SQLAlchemyError:
        return True  # cannot tell (unreachable, say): let opening it report the real error
    finally:
        engine.dispose()


def require_tuneforge_tables(storage_url: str, shown: str) -> None:
    """Refuse a storage without tuneforge's tables (``shown`` is the URL as it may be printed)."""
    if not has_tuneforge_tables(storage_url):
        raise NotATuneforgeStorage(
            f"--storage {shown} holds no tuneforge tables: no study was ever submitted there, so it may be "
            "another application's database", path=("--storage",),
            hint="submit a study there first (`tuneforge submit` creates the tables), or pass --create-tables")
