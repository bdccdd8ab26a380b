"""The one parsed URL type of tuneforge: study storages and MLflow tracking URIs alike.

A :class:`Url` is parsed once, here, and is immutable. Printing it (``str``,
``repr``, f-strings, error messages) shows it redacted, ``postgresql://user:***@host/db``;
only :meth:`Url.secret` returns the real connection string, and only code that opens
a connection calls it. No other module tests a scheme by string prefix: they ask
``url.is_journal``, ``url.is_sqlite``, ``url.is_postgres`` or ``url.local_path``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from spaces.core._errors import TrackingUriError
from spaces.core._workdir import workdir

# the schemes of the stores MLflow knows; anything else given as a tracking URI is a typo, not a store
TRACKING_SCHEMES = ("file", "sqlite", "postgresql", "mysql", "mssql", "http", "https", "databricks", "databricks-uc",
                    "uc")
_SECRET_KEYS = re.compile(r"pass|secret|token|key", re.IGNORECASE)
MASK = "***"


def _redact(text: str) -> str:
    """``text`` with the password (or a lone user token) of its userinfo and secret query values masked."""
    parts = urlsplit(text)
    out = text
    if "@" in parts.netloc:
        userinfo = parts.netloc.rpartition("@")[0]
        user, has_password, _ = userinfo.partition(":")
        masked = f"{user}:{MASK}" if has_password else MASK
        out = out.replace(f"//{userinfo}@", f"//{masked}@", 1)
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if value and _SECRET_KEYS.search(key):
            out = out.replace(f"{key}={value}", f"{key}={MASK}")
    return out


def _secrets_of(text: str) -> tuple[str, ...]:
    parts = urlsplit(text)
    found = []
    if "@" in parts.netloc:
        userinfo = parts.netloc.rpartition("@")[0]
        user, has_password, password = userinfo.partition(":")
        found.append(password if has_password else user)
    found += [v for k, v in parse_qsl(parts.query) if _SECRET_KEYS.search(k)]
    return tuple(s for s in found if s)


@dataclass(frozen=True)
class Url:
    """A storage URL or tracking URI: ``scheme``, ``path``, redacted when printed."""

    _text: str = field(repr=False)
    scheme: str = ""
    path: str = ""

    @classmethod
    def parse(cls, value: str | Url) -> Url:
        """Parse ``value`` (a parsed Url is returned as is). A ``*.journal`` path becomes ``journal:<abs path>``."""
        if isinstance(value, Url):
            return value
        text = str(value).strip()
        if not text:
            raise ValueError("an empty URL")
        if "://" not in text and not text.startswith("journal:"):
            if text.endswith(".journal"):
                text = f"journal:{Path(text).resolve()}"
        if text.startswith("journal:"):
            return cls(text, "journal", text[len("journal:"):])
        parts = urlsplit(text)
        scheme = parts.scheme.lower()
        path = parts.path
        if scheme.startswith("sqlite") and text.startswith(f"{parts.scheme}:///"):
            path = text[len(f"{parts.scheme}:///"):].split("?")[0]
        elif scheme == "file":
            path = parts.path
        return cls(text, scheme, path)

    # --- what kind of store --------------------------------------------------------
    @property
    def is_journal(self) -> bool:
        """An Optuna journal file (one machine's storage)."""
        return self.scheme == "journal"

    @property
    def is_sqlite(self) -> bool:
        return self.scheme.split("+")[0] == "sqlite"

    @property
    def is_postgres(self) -> bool:
        return self.scheme.split("+")[0] in ("postgresql", "postgres")

    @property
    def is_grpc_proxy(self) -> bool:
        """Optuna's gRPC storage proxy (``grpc://HOST:PORT``), which a Ray run's driver serves to its actors."""
        return self.scheme == "grpc"

    @property
    def local_path(self) -> Path | None:
        """The file behind a journal, SQLite or ``file:`` store; ``None`` for a server."""
        if self.is_journal or (self.is_sqlite and self.path) or self.scheme == "file":
            return Path(self.path)
        return None

    # --- the secret ---------------------------------------------------------------
    def secret(self) -> str:
        """The real connection string, password included: only for opening a connection."""
        return self._text

    def scrub(self, text: str) -> str:
        """``text`` (an error message, say) with this URL's password and tokens masked."""
        text = text.replace(self._text, str(self))
        for secret in _secrets_of(self._text):
            text = text.replace(secret, MASK)
        return text

    def __str__(self) -> str:
        return _redact(self._text)

    def __repr__(self) -> str:
        return f"Url({str(self)!r})"


def resolve_storage_url(value: str | Url | None = None) -> Url:
    """``--storage`` parsed (a ``*.journal`` path allowed), else the local journal ``.tuneforge/optuna.journal``."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return Url.parse(f"journal:{workdir() / 'optuna.journal'}")
    return Url.parse(value)


def resolve_tracking_uri(value: str | Url | None = None) -> Url:
    """``--tracking-uri``, else ``$MLFLOW_TRACKING_URI``, else ``sqlite:///.tuneforge/mlflow.db``.

    An unknown scheme is refused (:class:`TrackingUriError`) before anything is written.
    """
    if value:
        return _known_store(Url.parse(value), "--tracking-uri")
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return _known_store(Url.parse(os.environ["MLFLOW_TRACKING_URI"]), "$MLFLOW_TRACKING_URI")
    return Url.parse(f"sqlite:///{workdir() / 'mlflow.db'}")


def _known_store(url: Url, source: str) -> Url:
    if len(url.scheme) <= 1:  # a plain path (C: on Windows is a drive, not a scheme)
        return url
    if url.scheme.split("+", 1)[0] not in TRACKING_SCHEMES:
        raise TrackingUriError(f"unknown scheme {url.scheme!r} in MLflow tracking URI {str(url)!r}", path=(source,),
                               hint="use http(s)://HOST:PORT for a server, sqlite:///PATH or a folder for a local "
                                    "store, postgresql://... for a database")
    return url
