"""tuneforge's own tables in the study storage's database, created and migrated safely.

Many workers may start at the same instant on an empty database. On PostgreSQL the
tables are created under a transaction-level advisory lock (one process creates,
the others wait and then find them); on SQLite the database's write lock
serializes ``CREATE TABLE IF NOT EXISTS``. A one-row ``tuneforge_schema`` table
records the schema version; ``MIGRATIONS`` upgrades older databases in place,
under the same lock.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa

from search.storage._sql import sql_engine
from spaces.core import Url

SCHEMA_VERSION = 1
SCHEMA_LOCK = "tuneforge-schema"

metadata = sa.MetaData()

studies = sa.Table(
    "tuneforge_studies", metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("priority", sa.Integer, nullable=False, default=0),
    sa.Column("spec", sa.Text, nullable=False),  # the study file as JSON
    sa.Column("plan", sa.Text, nullable=False),  # budget, timeout, seeds, MLflow ids (JSON)
    sa.Column("tracking_uri", sa.Text, nullable=False),
    sa.Column("heartbeat_interval", sa.Integer, nullable=False),
    sa.Column("grace_period", sa.Integer, nullable=False),
    sa.Column("error", sa.Text),
    sa.Column("submitted_at", sa.Float, nullable=False),  # unix seconds
    sa.Column("started_at", sa.Float),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("finished_at", sa.Float),
)

schema = sa.Table(
    "tuneforge_schema", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("version", sa.Integer, nullable=False),
)

# version -> statements that bring a database of version-1 up to it (none yet)
MIGRATIONS: dict[int, list[str]] = {}


def lock_key(name: str) -> int:
    """A signed 64-bit advisory-lock key for ``name``."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


@contextlib.contextmanager
def schema_lock(url: Url) -> Iterator[None]:
    """Hold a database-wide lock while creating tables (PostgreSQL advisory lock; a no-op elsewhere)."""
    if not url.is_postgres:
        yield
        return
    engine = sql_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": lock_key(SCHEMA_LOCK)})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": lock_key(SCHEMA_LOCK)})
                conn.commit()
    finally:
        engine.dispose()


def ensure_schema(engine: Any) -> int:
    """Create or migrate tuneforge's tables; returns the schema version (safe with many processes)."""
    try:
        return _ensure_schema(engine)
    except sa.exc.IntegrityError:  # SQLite: another process inserted the version row first
        return _ensure_schema(engine)


def _ensure_schema(engine: Any) -> int:
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_key(SCHEMA_LOCK)})
        for table in metadata.sorted_tables:
            conn.execute(sa.schema.CreateTable(table, if_not_exists=True))
            for index in table.indexes:
                conn.execute(sa.schema.CreateIndex(index, if_not_exists=True))
        row = conn.execute(sa.select(schema.c.version).where(schema.c.id == 1)).first()
        if row is None:
            conn.execute(schema.insert().values(id=1, version=SCHEMA_VERSION))
            return SCHEMA_VERSION
        version = int(row[0])
        if version > SCHEMA_VERSION:
            from spaces import TuneforgeError

            raise TuneforgeError(
                f"the study storage's tuneforge tables are at schema version {version}, newer than this "
                f"tuneforge understands ({SCHEMA_VERSION})",
                hint="upgrade tuneforge on this machine (pip install -U tuneforge)",
            )
        for target in range(version + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS.get(target, []):
                conn.execute(sa.text(statement))
            conn.execute(schema.update().where(schema.c.id == 1).values(version=target))
        return SCHEMA_VERSION
