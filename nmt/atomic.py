"""Writing files whole: a reader, or a later run, sees the old file or the new one, never
half of one.

A write goes to a temporary file in the same folder, is fsynced and then renamed over the
target, and the folder is fsynced so that the rename itself lasts. A process killed in the
middle, or a full disk, leaves the previous file intact and at most a hidden
`.NAME.*.tmp` beside it, which `remove_temporaries` clears; the error names the target, so
that the command line can say which file could not be written (`naming` does the same for
other writes). Output options are checked before the work that fills them (`output_file`,
`output_folder`).

Only a regular file (or a name not yet taken) is replaced that way. A symlink is followed
and its target replaced, so the link stays a link. Anything else (a device such as
/dev/null or /dev/full, a FIFO, a socket) and a name that leads to an open descriptor
(/dev/stdout, /dev/fd/N: links into /proc) is written through, opened for appending and
never renamed over: a rename would put a regular file in place of the node, and the
shell's `>` or `>>` already chose where the bytes go.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from nmt.errors import NmtError


def write_atomic(path: Path, data: bytes) -> None:
    """Replace `path` by `data` in one step (see the module docstring); an OSError names
    `path`, not the temporary file beside it."""
    path = Path(path)
    try:
        target = replaceable(path)
        if target is None:
            _write_through(path, data)
        else:
            _replace(target, data)
    except OSError as error:
        if error.errno is not None:  # not an error of the system's, with a message of its own
            error.filename = str(path)
        raise


def replaceable(path: Path) -> Path | None:
    """The regular file a write to `path` replaces atomically (a symlink's target, or a
    name not yet taken), or None where `path` is to be written through (see the module
    docstring)."""
    if _leads_to_a_descriptor(path):
        return None
    with contextlib.suppress(FileNotFoundError):  # a name not yet taken is replaceable
        if not stat.S_ISREG(os.stat(path).st_mode):  # follows symlinks
            return None
    return path.resolve() if path.is_symlink() else path


def _leads_to_a_descriptor(path: Path) -> bool:
    """Whether `path` or a link it leads through lies in /proc (/dev/stdout, /dev/fd/1)."""
    hop = Path(os.path.realpath(path.parent)) / path.name
    for _ in range(40):  # the kernel's own limit on links followed
        if hop.parts[1:2] == ("proc",):
            return True
        if not hop.is_symlink():
            return False
        hop = hop.parent / os.readlink(hop)
        hop = Path(os.path.realpath(hop.parent)) / hop.name
    return False


def _write_through(path: Path, data: bytes) -> None:
    """Write into a device, a FIFO or an open descriptor in place (no rename)."""
    handle = os.open(path, os.O_WRONLY | os.O_APPEND)
    with os.fdopen(handle, "wb") as out:
        out.write(data)
        out.flush()


def _replace(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.fchmod(handle, 0o666 & ~umask)  # mkstemp makes 0600; save like any other file
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


STANDARD_OUTPUT = "standard output"  # what an error of a write to sys.stdout calls it


@contextlib.contextmanager
def naming(path: Path | str) -> Iterator[None]:
    """Make an OSError of the block that names no file name `path`: a write to an open file
    (on a full disk, to a closed pipe) names none."""
    try:
        yield
    except OSError as error:
        if error.filename is None and error.errno is not None:
            error.filename = str(path)
        raise


def remove_temporaries(folder: Path) -> None:
    """Delete the temporary files of writes that a killed process left unfinished."""
    for path in Path(folder).glob(".*.tmp"):
        if path.is_file():
            path.unlink()


def output_file(text: str, option: str, reads: Sequence[Path | None] = ()) -> Path:
    """The file an output option names, checked before the work that fills it: a file (a
    name ending in a slash is a folder), in an existing folder this process may write to,
    and none of the files the command `reads` (the output would replace it)."""
    path = Path(text)
    if text.endswith(("/", os.sep)) or path.is_dir():
        raise NmtError(f"{option} {text}: is a folder; name the file to write")
    target = replaceable(path)
    if target is None:  # written through: it replaces no file the command reads
        if not os.access(path, os.W_OK):
            raise NmtError(f"{option} {text}: cannot write to it")
        return path
    folder = target.parent
    if not folder.is_dir():
        raise NmtError(f"{option} {text}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise NmtError(f"{option} {text}: cannot write in the folder {folder}")
    for source in reads:
        if source is not None and target.exists() and Path(source).exists():
            if target.samefile(source):
                raise NmtError(
                    f"{option} {text}: is an input of this command; write to another file"
                )
    return path


def output_folder(text: str, option: str) -> Path:
    """The folder an output option names, checked before the work that fills it: not a file
    (it is made when first written to)."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise NmtError(f"{option} {text}: is a file; name a folder")
    return path


def write_output(path: Path, data: bytes) -> None:
    """write_atomic, with a failure (a full disk) as one line naming the file."""
    try:
        write_atomic(path, data)
    except OSError as error:
        raise NmtError(f"{path}: cannot write ({error.strerror or error})") from None
