"""Write-then-rename, so that no output file is ever seen half-written."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    On any exception the temporary file is removed and ``path`` is untouched.
    """
    target = Path(path)
    tmp = _temporary_beside(target)
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


@contextlib.contextmanager
def atomic_paths(paths: list[Path]) -> Iterator[list[Path]]:
    """Like :func:`atomic_path` for several files that only make sense together.

    All temporaries are renamed onto their targets only after the block
    succeeds, so a failure leaves none of the targets half-written.
    """
    with contextlib.ExitStack() as stack:
        tmps = [stack.enter_context(_deferred(p)) for p in paths]
        yield [t for t, _ in tmps]
        for tmp, target in tmps:
            os.replace(tmp, target)


@contextlib.contextmanager
def _deferred(path: Path) -> Iterator[tuple[Path, Path]]:
    target = Path(path)
    tmp = _temporary_beside(target)
    try:
        yield tmp, target
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _temporary_beside(target: Path) -> Path:
    """An empty temporary file in ``target``'s folder, with the permissions a new file gets (umask)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_name, 0o666 & ~umask)
    return Path(tmp_name)


def write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (UTF-8)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


#: How genopt writes floats in its tables: 10 significant digits (PLINK prints 6).
TABLE_FLOAT_FORMAT = "%.10g"


def write_tsv(path: str | Path, frame: pd.DataFrame, float_format: str | None = TABLE_FLOAT_FORMAT) -> None:
    """Write a DataFrame as a tab-separated file atomically, without the index.

    Missing values are written as ``NA``; floats with ``float_format``
    (:data:`TABLE_FLOAT_FORMAT` by default; None for Python's shortest repr).
    """
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, sep="\t", index=False, na_rep="NA", float_format=float_format)
