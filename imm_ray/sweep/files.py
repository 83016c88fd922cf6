"""Experiment files (``sweep_args.json``, ``tuner.pkl``) on a local folder or a cloud URI.

Everything goes through ``pyarrow.fs``, the filesystem layer Tune itself uses, so a
``--storage-path s3://bucket/runs`` is read and written the same way as a local folder
(a local path gets pyarrow's ``LocalFileSystem``). Only :func:`create_exclusive` differs:
object stores have no atomic "create if absent", so there it is a plain write.
"""

from __future__ import annotations

import os
from pathlib import Path


def is_uri(path: str) -> bool:
    """A cloud / remote URI (``s3://``, ``gs://``, ...); ``file://`` counts as local."""
    return "://" in path and not path.startswith("file://")


def filesystem(path: str):
    """``(pyarrow FileSystem, path inside it)`` for a local path or a URI."""
    import pyarrow.fs

    if is_uri(path):
        return pyarrow.fs.FileSystem.from_uri(path)
    local = Path(path.removeprefix("file://")).expanduser().resolve()
    return pyarrow.fs.LocalFileSystem(), str(local)


def join(base: str, *parts: str) -> str:
    return "/".join([base.rstrip("/"), *parts])


def read_text(path: str) -> str | None:
    """The file's text, or None when it does not exist."""
    import pyarrow.fs

    fs, inner = filesystem(path)
    if fs.get_file_info(inner).type != pyarrow.fs.FileType.File:
        return None
    with fs.open_input_stream(inner) as f:
        return f.read().decode()


def write_text(path: str, text: str) -> None:
    """Write (replace) a file, creating its folder."""
    fs, inner = filesystem(path)
    fs.create_dir(inner.rsplit("/", 1)[0], recursive=True)
    with fs.open_output_stream(inner) as f:
        f.write(text.encode())


def is_file(path: str) -> bool:
    import pyarrow.fs

    fs, inner = filesystem(path)
    return fs.get_file_info(inner).type == pyarrow.fs.FileType.File


def subfolders(path: str, prefix: str) -> list[str]:
    """Names of the folders directly under ``path`` that start with ``prefix``, sorted."""
    import pyarrow.fs

    fs, inner = filesystem(path)
    if fs.get_file_info(inner).type != pyarrow.fs.FileType.Directory:
        return []
    infos = fs.get_file_info(pyarrow.fs.FileSelector(inner, recursive=False))
    return sorted(i.base_name for i in infos
                  if i.type == pyarrow.fs.FileType.Directory and i.base_name.startswith(prefix))


def create_exclusive(path: str, text: str) -> bool:
    """Create ``path`` with ``text`` unless it exists; True if this call created it.

    Atomic on a local filesystem (``O_EXCL``), which is what makes two sweeps started
    in the same second pick different folders; a plain write on a URI.
    """
    if is_uri(path):
        if is_file(path):
            return False
        write_text(path, text)
        return True
    local = Path(path.removeprefix("file://")).expanduser()
    local.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(local, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return True
