"""Files that a reader never sees half of, and moves that never overwrite or overflow a name.

Writing: a temporary name, then a rename. Moving: `rename_no_replace` (never onto an existing
file) and `move_into` (a free name in a folder, within the file system's 255-byte name limit),
the one naming scheme of the pipeline's archive/, failed/ and requeue moves.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import fcntl
import hashlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from evpm.errors import EvpmError

NAME_MAX = 255  # bytes in one file name (ext4, xfs, btrfs, tmpfs, overlayfs; not characters)
SHORT_STEM_BYTES = 150  # how much of its beginning a name cut to fit keeps
MAX_SUFFIX_BYTES = 16  # a longer "suffix" after the last dot is part of the stem
NAME_TRIES = 100  # tagged names tried before a move gives up
_TMP_EXTRA = 14  # what mkstemp adds around a name in atomic_path: "." "." 8 random ".tmp"


def ensure_writable_dir(path: Path) -> Path:
    """Create a folder if needed and check that files can be written into it."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EvpmError(f"cannot create output folder {path}: {exc.strerror}") from None
    if not path.is_dir() or not os.access(path, os.W_OK | os.X_OK):
        raise EvpmError(f"output folder {path} is not writable")
    return path


def _umask() -> int:
    """The process's umask (read by setting and restoring it: there is no getter)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside `target`; on success rename it onto `target`.

    The temporary name starts with a dot and ends in `.tmp`, which the incoming/ watcher
    ignores, so a half-written trip is never picked up.
    """
    ensure_writable_dir(target.parent)
    # The temporary name is the target's plus 14 bytes: cut so that a target name near the
    # 255-byte limit still gets a temporary name the file system accepts.
    prefix = f".{cut_name(target.name, NAME_MAX - _TMP_EXTRA)}."
    fd, tmp_name = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        # mkstemp makes the file private (0600); the result gets the mode a plain write would
        # give, so another user (a container's reading a trip dropped in incoming/) can read it.
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# --- names ------------------------------------------------------------------------------------

def shown(text: str) -> str:
    """Text as it can go into one log line: itself if printable, else its escaped repr.

    A file name may hold a newline, an escape sequence or bytes that are not UTF-8; printed as
    they are they would split a log line or forge another one.
    """
    return text if text.isprintable() else repr(text)


def name_bytes(name: str) -> int:
    """A file name's length as the file system counts it (bytes)."""
    return len(os.fsencode(name))


def cut_name(name: str, limit: int) -> str:
    """The longest beginning of `name` of at most `limit` bytes that ends on a whole character."""
    raw = os.fsencode(name)
    if len(raw) <= limit:
        return name
    raw = raw[:limit]
    start = len(raw) - 1  # the first byte of the last (maybe partial) UTF-8 sequence
    while start > 0 and raw[start] & 0xC0 == 0x80:
        start -= 1
    lead = raw[start]
    size = 1 if lead < 0x80 else 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4
    if len(raw) - start < size:
        raw = raw[:start]
    return os.fsdecode(raw)


def _stem_and_suffix(name: str) -> tuple[str, str]:
    stem, dot, suffix = name.rpartition(".")
    if not dot or not stem or len(os.fsencode(suffix)) > MAX_SUFFIX_BYTES:
        return name, ""
    return stem, dot + suffix


def candidate_names(name: str, tag: str, *, reserve: int = 0,
                    tries: int = NAME_TRIES) -> Iterator[str]:
    """Names to try for `name` in a folder, each at most NAME_MAX - `reserve` bytes.

    First the name itself, then `<stem>.<tag><suffix>`, `<stem>.<tag>-1<suffix>`, … The tag
    joins with "-" instead of "." when the stem already has two dots, so that
    `tripdata.<VEHICLE>.<TRIP>.csv` stays a name that says its vehicle. A name too long for
    the limit keeps its first SHORT_STEM_BYTES bytes, then `~` and a hash of the whole name
    (two long names with one beginning stay apart), then the tag and the suffix. `reserve`
    leaves room for a companion file's longer name (`<name>.error.json`).
    """
    limit = NAME_MAX - reserve
    stem, suffix = _stem_and_suffix(name)
    digest = hashlib.sha256(os.fsencode(name)).hexdigest()[:8]

    def fitted(marker: str) -> str:
        whole = stem + marker + suffix
        if name_bytes(whole) <= limit:
            return whole
        tail = f"~{digest}{marker}{suffix}"
        return cut_name(stem, min(SHORT_STEM_BYTES, limit - name_bytes(tail))) + tail

    yield fitted("")
    join = "-" if stem.count(".") >= 2 else "."
    for n in range(tries):
        yield fitted(f"{join}{tag}" + (f"-{n}" if n else ""))


# --- moves ------------------------------------------------------------------------------------

_RENAME_NOREPLACE = 1
_AT_FDCWD = -100
_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
_renameat2 = getattr(_libc, "renameat2", None)


def rename_no_replace(source: Path, target: Path) -> None:
    """Rename atomically; FileExistsError if `target` exists (never overwrites another file)."""
    if _renameat2 is not None:
        if _renameat2(_AT_FDCWD, os.fsencode(source), _AT_FDCWD, os.fsencode(target),
                      _RENAME_NOREPLACE) == 0:
            return
        code = ctypes.get_errno()
        if code not in (errno.EINVAL, errno.ENOSYS):  # EINVAL/ENOSYS: no support on this fs
            raise OSError(code, os.strerror(code), str(source), None, str(target))
    if os.path.lexists(target):  # fallback: a check, then a plain rename
        raise FileExistsError(errno.EEXIST, "file exists", str(target))
    os.rename(source, target)


def move_into(source: Path, folder: Path, tag: str, *, reserve: int = 0,
              before: Callable[[Path], Callable[[], None] | None] | None = None) -> Path:
    """Move a file into a folder under the first free name of `candidate_names`; its new path.

    `before(target)`, if given, runs before each attempt on a name still free (it writes a
    companion file such as the error report) and may return an undo for when another process
    takes the name first. EvpmError when no name is free; OSError as the file system says.
    """
    folder.mkdir(parents=True, exist_ok=True)
    for candidate in candidate_names(source.name, tag, reserve=reserve):
        target = folder / candidate
        undo = None
        if before is not None:
            if os.path.lexists(target):
                continue
            undo = before(target)
        try:
            rename_no_replace(source, target)
            return target
        except FileExistsError:
            if undo is not None:
                undo()
    raise EvpmError(f"cannot find a free name for {shown(source.name)} in {folder}")


# --- writers ----------------------------------------------------------------------------------

def open_for_writing(path: Path) -> bool | None:
    """Whether any process has the file open for writing; None when the system cannot tell.

    Asks for a read lease, which Linux grants only when nobody has the file open for writing,
    and drops it at once. None on file systems without leases (NFS), for files of another
    user (leases need the owner or CAP_LEASE), and off Linux.
    """
    setlease = getattr(fcntl, "F_SETLEASE", None)
    if setlease is None:
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        fcntl.fcntl(fd, setlease, fcntl.F_RDLCK)
    except OSError as exc:
        return True if exc.errno == errno.EAGAIN else None
    else:
        fcntl.fcntl(fd, setlease, fcntl.F_UNLCK)
        return False
    finally:
        os.close(fd)
