"""A tracking URI is checked before anything is written: an unknown scheme is a typo, not a store."""

from __future__ import annotations

from urllib.parse import urlsplit

from spaces import TuneforgeError

SCHEMES = ("file", "sqlite", "postgresql", "mysql", "mssql", "http", "https", "databricks", "databricks-uc", "uc")


class TrackingUriError(TuneforgeError):
    """The MLflow tracking URI names no store MLflow knows."""


def redacted(uri: str) -> str:
    """``uri`` with the password of its userinfo replaced by ``***``."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def check_tracking_uri(uri: str, *, source: str = "--tracking-uri") -> str:
    """``uri`` if its scheme is one MLflow stores use (a plain path has none); else :class:`TrackingUriError`."""
    scheme = urlsplit(uri).scheme.lower()
    if len(scheme) <= 1:  # a path (C: on Windows is a drive, not a scheme)
        return uri
    if scheme.split("+", 1)[0] not in SCHEMES:
        raise TrackingUriError(f"unknown scheme {scheme!r} in MLflow tracking URI {redacted(uri)!r}",
                               path=(source,),
                               hint="use http(s)://HOST:PORT for a server, sqlite:///PATH or a folder for a local "
                                    "store, postgresql://... for a database")
    return uri
