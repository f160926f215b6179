"""Atomic file writes, shared by saving and the checkpointing callbacks (private)."""

import contextlib
import errno
import os
import stat

__all__ = ["atomic_write"]


def atomic_write(path, write, overwrite=True):
    """Writes `path` whole or not at all: `write(file)` fills a temporary file in the same
    directory, which is synced and renamed over `path`; on any error the temporary file goes
    and the old `path`, if any, stays as it was.

    A symbolic link is written through: the file it points to is replaced and the link stays.
    A read-only file is refused (PermissionError), even where the directory would let a rename
    replace it. Temporaries are named `.<name>.<pid>.<random>.tmp` after the process writing
    them; one left by a process killed mid-save is removed by the next save to the same file.
    """
    if not overwrite and os.path.lexists(path):
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
    target = os.path.realpath(path)  # through symbolic links: the link stays a link
    _refuse_read_only(path, target)
    directory = os.path.dirname(target)
    _remove_stale_temporaries(directory, os.path.basename(target))
    fd, temporary = _create_temporary(directory, os.path.basename(target))
    try:
        with os.fdopen(fd, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, _file_mode(target))
        os.replace(temporary, target)  # atomic on POSIX and Windows
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


def _refuse_read_only(path, target):
    try:
        mode = os.stat(target).st_mode
    except FileNotFoundError:
        return
    # The mode's write bits, not only access(): a rename would replace even a file its owner
    # made read-only, and root may write any file; a plain open() would refuse the owner.
    if stat.S_ISREG(mode) and (not mode & 0o222 or not os.access(target, os.W_OK)):
        raise PermissionError(
            errno.EACCES,
            f"{path} is read-only (mode {oct(mode & 0o777)}); it is left as it is. Make it "
            f"writable or save under another name",
            path,
        )


def _create_temporary(directory, name):
    prefix = f".{name}.{os.getpid()}."
    for _ in range(100):
        temporary = os.path.join(directory, prefix + os.urandom(6).hex() + ".tmp")
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue
        return fd, temporary
    raise FileExistsError(errno.EEXIST, "no free temporary name", os.path.join(directory, prefix))


def _remove_stale_temporaries(directory, name):
    """Removes `.<name>.<pid>.<random>.tmp` files of processes that no longer run."""
    if os.name != "posix":  # os.kill(pid, 0) probes a process only on POSIX
        return
    prefix = f".{name}."
    with contextlib.suppress(OSError):
        entries = [e for e in os.listdir(directory) if e.startswith(prefix) and e.endswith(".tmp")]
        for entry in entries:
            pid, _, random = entry[len(prefix) : -len(".tmp")].partition(".")
            if not pid.isdigit() or not random or _running(int(pid)):
                continue
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(directory, entry))


def _running(pid):
    if pid == os.getpid():
        return True  # ours: another thread may be writing it
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # another user's process, or not a pid we can ask about: leave it
    return True


def _file_mode(path):
    """The mode a plain open() would give: the old file's, else 0o666 minus the umask."""
    with contextlib.suppress(OSError):
        return os.stat(path).st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask
