"""SQL connections on a study storage's database, and the one error when it cannot be opened."""

from __future__ import annotations

from typing import Any

from spaces.core import StorageError, Url

CHECK_HINT = "check the URL, that the server runs and accepts connections"


def cannot_open(url: Url, exc: BaseException) -> StorageError:
    """The one error for a storage that cannot be opened: the URL redacted, the cause's first line scrubbed."""
    first = url.scrub(str(exc).splitlines()[0][:300] if str(exc) else "")
    return StorageError(f"cannot open study storage {str(url)!r}: {type(exc).__name__}: {first}", hint=CHECK_HINT)


def sql_engine(url: Url, **kwargs: Any) -> Any:
    """A SQLAlchemy engine on ``url`` (no pool kept: short, rare connections)."""
    import sqlalchemy as sa

    if url.is_sqlite:
        kwargs.setdefault("connect_args", {"timeout": 60})
    try:
        return sa.create_engine(url.secret(), poolclass=sa.pool.NullPool, **kwargs)
    except ImportError as exc:
        raise StorageError(f"cannot open study storage {str(url)!r}: {exc}",
                           hint="install the database driver (psycopg for postgresql://)") from None
    except Exception as exc:  # noqa: BLE001 - a malformed URL
        raise cannot_open(url, exc) from None
