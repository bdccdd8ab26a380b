"""Replace a directory atomically: readers see the old complete one or the new complete one."""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os
import shutil
from pathlib import Path

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step with Linux ``renameat2(RENAME_EXCHANGE)``; False if unsupported."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    result = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    return result == 0


def replace_directory(new: Path, target: Path) -> None:
    """Put the complete directory ``new`` at ``target``, removing what was there.

    With an existing target both are swapped atomically (Linux), then the old copy
    is deleted. Elsewhere the old copy is moved aside first and restored by
    :func:`recover` if a crash falls between the two renames.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        os.rename(new, target)
        return
    if _exchange(new, target):
        shutil.rmtree(new, ignore_errors=True)  # `new` now holds the old export
        return
    aside = target.with_name(f".{target.name}.old")
    shutil.rmtree(aside, ignore_errors=True)
    os.rename(target, aside)
    os.rename(new, target)
    shutil.rmtree(aside, ignore_errors=True)


def recover(target: Path) -> None:
    """Undo a crash between the two renames of the non-Linux path, and drop stale temp dirs.

    A temp dir ``.NAME.tmp-PID-HEX`` whose process still runs is another export in
    progress, not a leftover: it is left alone.
    """
    aside = target.with_name(f".{target.name}.old")
    if not target.exists() and aside.exists():
        os.rename(aside, target)
    for stale in target.parent.glob(f".{glob.escape(target.name)}.tmp-*"):
        if not _writer_alive(stale):
            shutil.rmtree(stale, ignore_errors=True)


def _writer_alive(tmp: Path) -> bool:
    """Whether the process that named ``tmp`` (``.NAME.tmp-PID-HEX``) is still running."""
    try:
        pid = int(tmp.name.rsplit(".tmp-", 1)[1].split("-", 1)[0])
    except (IndexError, ValueError):
        return False
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    try:  # a killed writer its parent has not reaped yet is a zombie: it writes no more
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")
