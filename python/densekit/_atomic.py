"""Atomic file writes, shared by saving and the checkpointing callbacks (private)."""

import contextlib
import os
import tempfile

__all__ = ["atomic_write"]


def atomic_write(path, write, overwrite=True):
    """Writes `path` whole or not at all: `write(file)` fills a temporary file in the same
    directory, which is synced and renamed over `path`; on any error the temporary file goes
    and the old `path`, if any, stays as it was.
    """
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
    directory = os.path.dirname(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(
        dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp"
    )
    try:
        with os.fdopen(fd, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, _file_mode(path))
        os.replace(temporary, path)  # atomic on POSIX and Windows
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _file_mode(path):
    """The mode a plain open() would give: the old file's, else 0o666 minus the umask (mkstemp
    makes 0o600 files)."""
    with contextlib.suppress(OSError):
        return os.stat(path).st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask
