"""Opening files axha reads from an admin or writes for itself, safely: regular files only, bounded, never through
a symbolic link where axha owns the file (the audit log, journals, known_hosts when appending).

- `read_regular(path, limit)`: opens without blocking (a FIFO never hangs the open), then accepts only a regular
  file (not a FIFO, a device such as /dev/zero behind a symlink, a directory), of at most `limit` bytes, read from
  the descriptor that was checked (no stat-then-open race). With nofollow=True a symlink itself is refused.
- `open_append(path, mode)`: a descriptor to append to a regular file, created with `mode` when missing, never
  through a symlink (O_NOFOLLOW) and never a FIFO or a device.
- `atomic_write(path, data, mode)`: a whole file written so that a crash leaves the old or the new content.
"""
from __future__ import annotations

import errno
import os
import stat
import tempfile
from pathlib import Path

MAX_BYTES = 64 * 1024


class FileProblem(Exception):
    """A file that cannot be read as input; `missing` when it does not exist, `line` when the problem has one.
    The message never holds the file's content."""

    def __init__(self, message: str, missing: bool = False, line: int | None = None):
        super().__init__(message)
        self.missing, self.line = missing, line


def read_regular(path: str | os.PathLike, limit: int = MAX_BYTES, *,
                 nofollow: bool = False) -> tuple[bytes, os.stat_result]:
    """The bytes of a regular file of at most `limit` bytes, and its stat (taken on the open descriptor)."""
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY | (os.O_NOFOLLOW if nofollow else 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise FileProblem("no such file", missing=True) from None
    except OSError as exc:
        if exc.errno == errno.ELOOP and nofollow:
            raise FileProblem("is a symbolic link; axha reads this file only directly, not through a link") from None
        raise FileProblem(f"cannot open it: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise FileProblem(f"is not a regular file ({_kind(st.st_mode)}); give the path of a plain file")
        if st.st_size > limit:
            raise FileProblem(f"is {st.st_size} bytes, more than the {limit} bytes such a file can have")
        chunks, size = [], 0
        while size <= limit:
            try:
                chunk = os.read(fd, limit + 1 - size)
            except OSError as exc:
                raise FileProblem(f"cannot read it: {exc.strerror or exc}") from None
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:  # grew while we read it
            raise FileProblem(f"is more than the {limit} bytes such a file can have")
        return b"".join(chunks), st
    finally:
        os.close(fd)


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a plain file"


def open_append(path: str | os.PathLike, mode: int = 0o600) -> int:
    """A descriptor open for appending to the regular file `path` (created with `mode`); FileProblem when `path`
    is a symbolic link, a FIFO, a device or a directory. The caller closes it."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY
    try:
        fd = os.open(path, flags, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise FileProblem("is a symbolic link; axha writes this file only directly, never through a link "
                              "(move the link away)") from None
        if exc.errno == errno.ENXIO:
            raise FileProblem("is a FIFO; axha writes only to a plain file here") from None
        raise FileProblem(f"cannot open it: {exc.strerror or exc}") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise FileProblem(f"is not a regular file ({_kind(st.st_mode)}); axha writes only to a plain file here")
    return fd


def read_own(path: str | os.PathLike, limit: int) -> bytes:
    """The bytes of a file axha wrote itself (audit log, journal), not through a symbolic link."""
    return read_regular(path, limit, nofollow=True)[0]


def atomic_write(path: str | os.PathLike, data: bytes | str, mode: int = 0o644) -> None:
    """Write a file so that a crash leaves either the old or the new content, never a torn one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(raw)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
