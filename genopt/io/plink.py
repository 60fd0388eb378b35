"""PLINK 1 binary filesets (.bed/.bim/.fam): reading, decoding and writing.

This is the only module that imports :mod:`pandas_plink`. Genotype values
everywhere in genopt are **counts of the .bim A1 allele** (column 5 of the
.bim), as PLINK counts them: 0, 1 or 2, with missing calls as ``NaN`` (float
output) or ``-1`` (int8 output).

Two decoders live here, chosen by measurement (``benchmarks/RESULTS.md``):

* the hot-path decoder, :func:`decode_bed`, a lookup table applied to the
  memory-mapped .bed bytes of the requested variants only. It reads a subset of
  variants or samples without touching the rest of the file and is what the
  QC, structure, association and search steps use;
* :meth:`PlinkFileset.as_dask`, pandas-plink's dask-backed lazy array, which
  is slower per genotype but composes with dask graphs; it is asked for the A1
  count explicitly (``ref="a0"``) because pandas-plink counts A2 by default.

.bed layout (variant-major, SNP-major mode): 3 magic bytes ``6c 1b 01``, then
for each variant ``ceil(n_samples / 4)`` bytes; sample ``j`` is in byte
``j // 4`` at bits ``2 * (j % 4)``; codes ``00`` = homozygous A1, ``01`` =
missing, ``10`` = heterozygous, ``11`` = homozygous A2.
"""

from __future__ import annotations

import csv
import logging
import mmap
import os
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from genopt.cores import usable_cores
from genopt.errors import GenoptError
from genopt.io.atomic import atomic_paths

log = logging.getLogger("genopt")

BED_MAGIC = bytes([0x6C, 0x1B, 0x01])
#: Variants (evenly spaced) whose records :func:`open_plink` probes for a .fam that does not fit the .bed.
PROBE_VARIANTS = 256
#: Probed variants, not homozygous A1 in most people, that must all be homozygous A1 in the last .fam person
#: before she is taken for padding read as a person (a real person: chance below 0.5 ** this).
PHANTOM_MIN_VARIANTS = 50
#: Variant columns of :attr:`PlinkFileset.variants`, in .bim order.
BIM_COLUMNS = ["chrom", "id", "cm", "pos", "a1", "a2"]
#: Sample columns of :attr:`PlinkFileset.samples`, in .fam order.
FAM_COLUMNS = ["fid", "iid", "father", "mother", "sex", "phenotype"]

# A1 count for each 2-bit code: 00 -> 2, 01 -> missing, 10 -> 1, 11 -> 0.
_CODE_TO_COUNT = np.array([2, -1, 1, 0], dtype=np.int8)
# For each byte value, the four A1 counts of the samples it holds (low bits first).
_BYTE_LUT = _CODE_TO_COUNT[(np.arange(256)[:, None] >> (2 * np.arange(4))[None, :]) & 3].astype(np.int8)
# The same table with each row's four int8 packed into one uint32: gathering
# 4-byte words is ~6x faster than gathering rows of four bytes (0.35 s per 10^9
# genotypes on one core, see benchmarks/RESULTS.md).
_BYTE_LUT32 = np.ascontiguousarray(_BYTE_LUT).view(np.uint32).reshape(256)
# The float32 table (NaN for missing), each row's four floats packed into one
# 16-byte complex128 so that decoding to float is also a single gather.
_BYTE_LUT_F32 = np.where(_BYTE_LUT < 0, np.nan, _BYTE_LUT).astype(np.float32)
_BYTE_LUT_F32_PACKED = np.ascontiguousarray(_BYTE_LUT_F32).view(np.complex128).reshape(256)
_CODE_TO_FLOAT = np.array([2.0, np.nan, 1.0, 0.0], dtype=np.float32)
# Encoding for writing: A1 count (0, 1, 2) or missing (index 3) -> 2-bit code.
_COUNT_TO_CODE = np.array([3, 2, 0, 1], dtype=np.uint8)

#: Default number of variants decoded per chunk when streaming.
DEFAULT_CHUNK = 4096
#: ``float_format`` with which :func:`write_plink` writes .bim centimorgans as PLINK does (``0``, not ``0.0``).
PLINK_FLOAT_FORMAT = "%.10g"


def read_fields(path: Path, empty: str, malformed: str, width: str) -> pd.DataFrame:
    """Split a whitespace-separated text file into all-str fields, errors naming the line.

    The reader behind the .bim/.fam and the phenotype/covariate tables. Fields
    are separated by any run of spaces or tabs and read verbatim (a quote is
    an ordinary character, as PLINK reads it); blank lines are kept as rows
    of missing fields (so row ``i`` is file line ``i + 1``) for the caller to
    drop; short lines have missing trailing fields.

    Parameters
    ----------
    path
        The file (must exist).
    empty
        Error message for a file with no line at all.
    malformed
        Error message for a file pandas cannot split; ``{exc}`` is replaced by
        pandas' own message.
    width
        Error message for a line with more fields than the lines before it;
        ``{expected}`` and ``{saw}`` are replaced by the field counts (the
        line number goes into the error's ``line``).

    Raises
    ------
    GenoptError
        With one of the three messages, or for bytes that are not UTF-8,
        naming ``path``.
    """
    try:
        return pd.read_csv(
            path,
            sep=r"\s+",
            header=None,
            dtype=str,
            keep_default_na=False,
            skip_blank_lines=False,
            quoting=csv.QUOTE_NONE,
            engine="c",
        )
    except pd.errors.EmptyDataError:
        raise GenoptError(empty, path) from None
    except UnicodeDecodeError as exc:
        # exc.start counts from pandas' read buffer, not the file start: not reported.
        raise GenoptError(f"not a UTF-8 text file (it holds byte {exc.object[exc.start]:#04x})", path) from None
    except pd.errors.ParserError as exc:
        # pandas says "Expected 6 fields in line 12, saw 7".
        match = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
        if match is None:
            raise GenoptError(malformed.format(exc=exc), path) from None
        message = width.format(expected=match.group(1), saw=match.group(3))
        raise GenoptError(message, path, int(match.group(2))) from None


def check_unique_ids(frame: pd.DataFrame, line_no: npt.NDArray[np.intp], path: Path) -> None:
    """Raise :class:`GenoptError` if a (``fid``, ``iid``) pair is on two rows, naming the pair and both lines.

    ``line_no`` holds the 1-based file line of each row of ``frame``.
    """
    dup = frame.duplicated(["fid", "iid"], keep=False).to_numpy()
    if dup.any():
        rows = np.flatnonzero(dup)
        fid, iid = frame["fid"].iat[rows[0]], frame["iid"].iat[rows[0]]
        same = rows[(frame["fid"].to_numpy()[rows] == fid) & (frame["iid"].to_numpy()[rows] == iid)]
        raise GenoptError(
            f"duplicate sample ID FID={fid} IID={iid} on lines {line_no[same[0]]} and {line_no[same[1]]}", path
        )


def _read_table(path: Path, columns: list[str], kind: str) -> tuple[pd.DataFrame, npt.NDArray[np.intp]]:
    """Read a whitespace-separated .bim/.fam, with errors naming the line.

    Blank lines are skipped (as PLINK does); line numbers in errors count
    them, so they match what an editor shows.

    Returns
    -------
    (frame, line_no)
        All-str table with ``columns``, and the 1-based file line of each row.
    """
    if not path.exists():
        raise GenoptError(f"{kind} file not found", path)
    what = "variants" if kind == ".bim" else "samples"
    frame = read_fields(
        path,
        empty=f"{kind} file is empty: no {what}",
        malformed=f"malformed {kind} file ({{exc}}); expected {len(columns)} columns",
        width=f"expected {len(columns)} whitespace-separated columns, found {{saw}} (earlier lines have {{expected}})",
    )
    # Lines 1..n of the file. Blank and short lines leave the last column empty
    # (NaN or ""), so only those rows are inspected field by field.
    line_no = np.arange(1, len(frame) + 1)
    last = frame.iloc[:, -1]
    suspect = np.flatnonzero((last.isna() | (last == "")).to_numpy())
    if suspect.size:
        sub = frame.iloc[suspect]
        blank_rows = suspect[(sub.isna() | (sub == "")).all(axis=1).to_numpy()]
        if blank_rows.size:
            frame = frame.drop(index=frame.index[blank_rows]).reset_index(drop=True)
            line_no = np.delete(line_no, blank_rows)
    if frame.empty:
        raise GenoptError(f"{kind} file is empty: no {what}", path)
    if frame.shape[1] != len(columns):
        present = frame.notna() & (frame != "")
        counts = present.sum(axis=1).to_numpy()
        bad = np.flatnonzero(counts != len(columns))
        row = int(bad[0]) if bad.size else 0
        raise GenoptError(
            f"expected {len(columns)} whitespace-separated columns ({' '.join(columns)}), found {int(counts[row])}",
            path,
            int(line_no[row]),
        )
    frame.columns = columns
    last = frame.iloc[:, -1]
    short = (last.isna() | (last == "")).to_numpy()
    if short.any():
        row = int(np.flatnonzero(short)[0])
        found = int((frame.iloc[row].notna() & (frame.iloc[row] != "")).sum())
        raise GenoptError(
            f"expected {len(columns)} whitespace-separated columns, found {found}", path, int(line_no[row])
        )
    return frame, line_no


def _parse_int(
    frame: pd.DataFrame, column: str, path: Path, what: str, line_no: npt.NDArray[np.intp]
) -> npt.NDArray[np.int64]:
    text = frame[column]
    values = pd.to_numeric(text, errors="coerce")
    if values.dtype.kind == "i":  # every field an int64: the fast, usual case
        return values.to_numpy(dtype=np.int64)
    arr = values.to_numpy(dtype=np.float64)
    bad = ~np.isfinite(arr) | (arr != np.round(arr)) | ~text.str.fullmatch(r"[+-]?[0-9]+").fillna(False).to_numpy(bool)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise GenoptError(f"{what} {text.iloc[row]!r} is not an integer", path, int(line_no[row]))
    # Integers all, but some beyond int64 (pandas gave uint64 or float64).
    row = int(np.flatnonzero(np.abs(arr) >= 2.0**63)[0])
    raise GenoptError(f"{what} {text.iloc[row]!r} is out of range", path, int(line_no[row]))


def read_bim(path: str | Path) -> pd.DataFrame:
    """Read a .bim file.

    Returns
    -------
    DataFrame with columns ``chrom id cm pos a1 a2`` (one row per variant, in
    file order): ``chrom`` str, ``id`` str, ``cm`` float (centimorgans),
    ``pos`` int64 (base pairs), ``a1`` str (the counted allele), ``a2`` str.
    """
    path = Path(path)
    frame, line_no = _read_table(path, BIM_COLUMNS, ".bim")
    frame["pos"] = _parse_int(frame, "pos", path, "base-pair position", line_no)
    cm = pd.to_numeric(frame["cm"], errors="coerce")
    if cm.isna().any():
        row = int(np.flatnonzero(cm.isna().to_numpy())[0])
        raise GenoptError(f"genetic position {frame['cm'].iloc[row]!r} is not a number", path, int(line_no[row]))
    frame["cm"] = cm.astype(np.float64)
    return frame


def read_fam(path: str | Path) -> pd.DataFrame:
    """Read a .fam file.

    Returns
    -------
    DataFrame with columns ``fid iid father mother sex phenotype`` (str, except
    ``sex`` int: 1 male, 2 female, 0 unknown). Duplicate (FID, IID) pairs are
    an error naming the pair and both lines.
    """
    path = Path(path)
    frame, line_no = _read_table(path, FAM_COLUMNS, ".fam")
    sex = pd.to_numeric(frame["sex"], errors="coerce")
    frame["sex"] = sex.where(sex.isin([1, 2]), 0).astype(np.int8)
    check_unique_ids(frame, line_no, path)
    return frame


def founder_mask(samples: pd.DataFrame) -> npt.NDArray[np.bool_]:
    """Founders as PLINK 2 (and PLINK 1.9) define them: .fam father and mother both ``0``.

    A sample whose father or mother is named is a nonfounder even when that
    parent is not in the .fam (checked against plink2 v2.00a3.5 and
    plink1.9: ``--freq`` counts only the samples this mask selects).

    Parameters
    ----------
    samples
        .fam-like table with columns ``father mother`` (as
        :attr:`PlinkFileset.samples`).

    Returns
    -------
    bool array, one entry per row of ``samples``.
    """
    return np.asarray((samples["father"].astype(str) == "0") & (samples["mother"].astype(str) == "0"), dtype=bool)


def _as_index(idx: Any, n: int, what: str) -> npt.NDArray[np.intp] | None:
    """Normalise a selection (None, slice, bool mask, int array) to int indices."""
    if idx is None:
        return None
    if isinstance(idx, slice):
        return np.arange(n, dtype=np.intp)[idx]
    arr = np.asarray(idx)
    if arr.dtype == bool:
        if arr.shape != (n,):
            raise ValueError(f"boolean {what} mask has length {arr.shape}, expected {n}")
        return np.flatnonzero(arr).astype(np.intp)
    arr = arr.astype(np.intp, copy=False).reshape(-1)
    if arr.size and (arr.min() < -n or arr.max() >= n):
        raise IndexError(f"{what} index out of range for {n} {what}s")
    return np.where(arr < 0, arr + n, arr)


#: Variants decoded per block: bounds the temporaries (block x 4 x bytes per variant).
_DECODE_BLOCK = 2048
_POOL: ThreadPoolExecutor | None = None


def _decode_threads() -> int:
    """Threads for decoding: the cores this process may use, at most 4."""
    return min(4, usable_cores())


def _pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=_decode_threads(), thread_name_prefix="genopt-decode")
    return _POOL


def _decode_block(
    block: npt.NDArray[np.uint8], n_samples: int, sample_idx: npt.NDArray[np.intp] | None, out: npt.NDArray[Any]
) -> None:
    """Decode one block of .bed rows into ``out`` (rows x selected samples; int8 or float32)."""
    as_float = out.dtype == np.float32
    if sample_idx is not None and len(sample_idx) * 8 < n_samples:
        # Few samples: extract their 2-bit codes directly instead of decoding whole rows.
        byte = block[:, sample_idx >> 2]
        shift = ((sample_idx & 3) << 1).astype(np.uint8)
        out[:] = (_CODE_TO_FLOAT if as_float else _CODE_TO_COUNT)[(byte >> shift) & 3]
        return
    lut, item = (_BYTE_LUT_F32_PACKED, np.float32) if as_float else (_BYTE_LUT32, np.int8)
    full = np.take(lut, block).view(item).reshape(block.shape[0], -1)
    if sample_idx is None:
        out[:] = full[:, :n_samples]
    else:
        np.take(full, sample_idx, axis=1, out=out)


def decode_bed(
    bed: npt.NDArray[np.uint8],
    n_samples: int,
    variant_idx: npt.NDArray[np.intp] | None = None,
    sample_idx: npt.NDArray[np.intp] | None = None,
    dtype: Any = np.int8,
) -> npt.NDArray[Any]:
    """Decode .bed bytes into A1 counts.

    Blocks of :data:`_DECODE_BLOCK` variants are decoded by a small thread
    pool (numpy releases the GIL in ``take``) straight into the output, so
    temporaries stay small whatever the number of variants.

    Parameters
    ----------
    bed
        The variant block of a .bed file as a ``(n_variants, ceil(n_samples/4))``
        uint8 array (typically a read-only memory map, magic bytes excluded).
    n_samples
        Number of samples in the .fam.
    variant_idx, sample_idx
        Rows and samples to decode (all when None), in the order wanted.
    dtype
        ``np.int8`` (missing = -1) or ``np.float32`` (missing = NaN); both
        are decoded by table lookup, with no conversion pass.

    Returns
    -------
    C-ordered array of ``dtype``, shape ``(len(variant_idx), len(sample_idx))``
    (**variants x samples**), values 0/1/2 = count of the .bim A1 allele.
    """
    dtype = np.dtype(dtype)
    if dtype not in (np.dtype(np.int8), np.dtype(np.float32)):
        raise ValueError(f"decode_bed decodes to int8 or float32, not {dtype}")
    n_var = bed.shape[0] if variant_idx is None else len(variant_idx)
    n_sel = n_samples if sample_idx is None else len(sample_idx)
    out = np.empty((n_var, n_sel), dtype=dtype)
    if n_var == 0 or n_sel == 0:
        return out

    def work(start: int) -> None:
        stop = min(start + _DECODE_BLOCK, n_var)
        rows = bed[start:stop] if variant_idx is None else bed[variant_idx[start:stop]]
        _decode_block(np.asarray(rows), n_samples, sample_idx, out[start:stop])

    starts = range(0, n_var, _DECODE_BLOCK)
    if len(starts) > 1 and _decode_threads() > 1:
        for _ in _pool().map(work, starts):
            pass
    else:
        for start in starts:
            work(start)
    return out


@dataclass(frozen=True, eq=False)
class PlinkFileset:
    """A PLINK 1 binary fileset, opened lazily.

    Construct with :func:`open_plink`. The .bim and .fam are parsed and the
    .bed is validated and memory-mapped; no genotype is decoded until asked.

    Attributes
    ----------
    prefix
        Path prefix (without ``.bed``/``.bim``/``.fam``).
    variants
        .bim table, columns ``chrom id cm pos a1 a2`` (A1 is counted).
    samples
        .fam table, columns ``fid iid father mother sex phenotype``.
    """

    prefix: Path
    variants: pd.DataFrame
    samples: pd.DataFrame
    _bed: npt.NDArray[np.uint8] = field(repr=False)

    @property
    def n_samples(self) -> int:
        """Number of samples (rows of the .fam)."""
        return len(self.samples)

    @property
    def n_variants(self) -> int:
        """Number of variants (rows of the .bim)."""
        return len(self.variants)

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_samples, n_variants)``."""
        return self.n_samples, self.n_variants

    @property
    def bed_path(self) -> Path:
        return self.prefix.with_name(self.prefix.name + ".bed")

    def read_int8(self, variants: Any = None, samples: Any = None) -> npt.NDArray[np.int8]:
        """Decode genotypes as int8 A1 counts, -1 for missing.

        Parameters
        ----------
        variants, samples
            Selections (None for all, a slice, a boolean mask or integer
            indices). Only the selected variants' bytes are read.

        Returns
        -------
        int8 array, shape ``(n_selected_samples, n_selected_variants)``. It is
        the transpose of a C-ordered variants x samples block (Fortran order),
        so columns (variants) are contiguous.
        """
        v_idx = _as_index(variants, self.n_variants, "variant")
        s_idx = _as_index(samples, self.n_samples, "sample")
        out = decode_bed(self._bed, self.n_samples, v_idx, s_idx).T
        self._release(v_idx)
        return out

    def read(self, variants: Any = None, samples: Any = None, dtype: Any = np.float32) -> npt.NDArray[np.floating]:
        """Decode genotypes as float A1 counts, ``NaN`` for missing.

        Same selections and shape as :meth:`read_int8`; ``dtype`` is float32
        by default (exact for 0, 1, 2; decoded directly by table lookup),
        other float types are converted from it.
        """
        v_idx = _as_index(variants, self.n_variants, "variant")
        s_idx = _as_index(samples, self.n_samples, "sample")
        out = decode_bed(self._bed, self.n_samples, v_idx, s_idx, dtype=np.float32).T
        self._release(v_idx)
        return out if np.dtype(dtype) == np.float32 else out.astype(dtype)

    def _release(self, variant_idx: npt.NDArray[np.intp] | None) -> None:
        """Let the kernel drop the mapped .bed pages just decoded.

        Streaming a large .bed through the memory map would otherwise leave
        every touched page in this process's resident set (file-backed and
        reclaimable, but counted in RSS, so a 1.2 GB .bed would add 1.2 GB).
        Dropping them keeps RSS to the working arrays; a later read of the
        same rows re-maps them from the page cache.
        """
        mm = getattr(self._bed, "_mmap", None)
        if mm is None or not hasattr(mm, "madvise") or not hasattr(mmap, "MADV_DONTNEED"):
            return
        if variant_idx is None:
            lo, hi = 0, self.n_variants
        elif variant_idx.size == 0:
            return
        else:
            lo, hi = int(variant_idx.min()), int(variant_idx.max()) + 1
        bytes_per_variant = self._bed.shape[1]
        start = 3 + lo * bytes_per_variant  # the map starts at file offset 0 (numpy aligns it down)
        stop = min(3 + hi * bytes_per_variant, len(mm))
        start -= start % mmap.PAGESIZE
        if stop > start:
            mm.madvise(mmap.MADV_DONTNEED, start, stop - start)

    def iter_variant_chunks(
        self, chunk_size: int = DEFAULT_CHUNK, samples: Any = None, variants: Any = None
    ) -> Iterator[tuple[npt.NDArray[np.intp], npt.NDArray[np.int8]]]:
        """Stream int8 genotypes in blocks of variants, so memory stays bounded.

        Yields
        ------
        (variant_indices, genotypes)
            Indices into :attr:`variants` and the int8 block of shape
            ``(n_selected_samples, len(variant_indices))``.
        """
        v_idx = _as_index(variants, self.n_variants, "variant")
        if v_idx is None:
            v_idx = np.arange(self.n_variants, dtype=np.intp)
        s_idx = _as_index(samples, self.n_samples, "sample")
        for start in range(0, len(v_idx), chunk_size):
            block = v_idx[start : start + chunk_size]
            genotypes = decode_bed(self._bed, self.n_samples, block, s_idx).T
            self._release(block)
            yield block, genotypes

    def as_dask(self) -> Any:
        """pandas-plink's lazy dask array of A1 counts, ``(n_samples, n_variants)``.

        For composing with dask graphs; slower per genotype than
        :meth:`read` (see ``benchmarks/RESULTS.md``).
        """
        from pandas_plink import read_plink1_bin

        p = str(self.prefix)
        xarr = read_plink1_bin(p + ".bed", p + ".bim", p + ".fam", ref="a0", verbose=False)
        return xarr.data


def _open_bed(path: Path, n_samples: int, n_variants: int) -> npt.NDArray[np.uint8]:
    """Validate the .bed header and size against the .bim/.fam line counts; memory-map it.

    A .fam whose line count is off by less than the 4-sample padding of the
    last byte (e.g. 958 lines for a 957-sample .bed) cannot be detected from
    the size (PLINK has the same blind spot); :func:`_check_sample_count`
    probes the genotypes for it.
    """
    if not path.exists():
        raise GenoptError(".bed file not found", path)
    size = path.stat().st_size
    with open(path, "rb") as handle:
        magic = handle.read(3)
    if magic[:2] != BED_MAGIC[:2]:
        raise GenoptError(f"not a PLINK 1 .bed file: magic bytes {magic.hex(' ') or '(none)'}, expected 6c 1b", path)
    if len(magic) < 3:
        raise GenoptError(f"truncated .bed file: {size} bytes, shorter than the 3-byte header", path)
    if magic[2] == 0x00:
        raise GenoptError(
            "sample-major .bed files (mode byte 00) are not supported; convert with plink --make-bed", path
        )
    if magic[2] != 0x01:
        raise GenoptError(f"not a PLINK 1 .bed file: mode byte {magic[2]:02x}, expected 01 (SNP-major)", path)
    bytes_per_variant = (n_samples + 3) // 4
    expected = 3 + bytes_per_variant * n_variants
    if size != expected:
        got_variants = (size - 3) / bytes_per_variant
        bim, fam = path.with_suffix(".bim").name, path.with_suffix(".fam").name
        if size < expected:
            why = f"the .bed is truncated, or {bim} or {fam} has extra lines"
        else:
            why = f"the .bed is too long, or {bim} or {fam} lacks lines"
        raise GenoptError(
            f"size {size} bytes does not fit {bim} ({n_variants} variants) x {fam} ({n_samples} samples), "
            f"which need {expected} bytes: {why} (the .bed holds {got_variants:.2f} variants' worth "
            f"at {n_samples} samples)",
            path,
        )
    return np.memmap(path, dtype=np.uint8, mode="r", offset=3, shape=(n_variants, bytes_per_variant))


def _check_sample_count(bed: npt.NDArray[np.uint8], samples: pd.DataFrame, path: Path) -> None:
    """Probe the .bed for a .fam off by fewer people than the padding of each variant's last byte.

    The size check cannot see such a .fam (PLINK cannot either). Of
    :data:`PROBE_VARIANTS` evenly spaced variants:

    * a .fam with **too many** lines makes its last person(s) read the zero
      padding bits, i.e. homozygous A1 with no missing call at every
      variant: refused when the last person is so at every one of at least
      :data:`PHANTOM_MIN_VARIANTS` probed variants where fewer than half of
      the others are (possible only when that person's 2-bit slot would be
      padding of a one-line-shorter .fam, i.e. ``n % 4 != 1``);
    * a .fam with **too few** lines leaves the real last people's codes in
      what is read as padding, which PLINK writes as zeros: non-zero padding
      bits are logged as a warning (PLINK ignores them, and so does the
      decoder: the listed people's genotypes are read as usual).
    """
    n_var, n = bed.shape[0], len(samples)
    if n_var == 0 or n == 0:
        return
    rows = np.unique(np.linspace(0, n_var - 1, num=min(n_var, PROBE_VARIANTS)).astype(np.intp))
    block = np.asarray(bed[rows])
    fam = path.with_suffix(".fam").name
    slack = -n % 4
    junk = int(np.count_nonzero(block[:, -1] >> (2 * (4 - slack)))) if slack else 0
    if junk:
        log.warning(
            "%s: %d of %d probed variants have non-zero padding bits after the last of %d people in %s (PLINK "
            "writes zeros there): %s may list fewer people than the .bed holds",
            path, junk, len(rows), n, fam, fam,
        )  # fmt: skip
    if n % 4 == 1 or n < 2:
        return
    g = decode_bed(block, n)
    informative = (g[:, :-1] == 2).mean(axis=1) < 0.5
    if informative.sum() >= PHANTOM_MIN_VARIANTS and np.all(g[informative, -1] == 2):
        last = samples.iloc[-1]
        raise GenoptError(
            f"the last person in {fam} ({last['fid']} {last['iid']}, line {n}) is homozygous A1 with no missing "
            f"call at all {int(informative.sum())} probed variants where most people are not: that is the .bed's "
            f"zero padding read as a person, so {fam} lists more people ({n}) than the .bed holds",
            path,
        )


def open_plink(prefix: str | Path) -> PlinkFileset:
    """Open a PLINK 1 fileset by prefix, validating all three files.

    Raises
    ------
    GenoptError
        A file is missing, malformed, empty, has duplicate sample IDs, the
        .bed size does not fit the .bim and .fam line counts, or the .fam's
        last person is the .bed's padding (:func:`_check_sample_count`).
    """
    prefix = Path(prefix)
    if prefix.suffix in (".bed", ".bim", ".fam"):
        prefix = prefix.with_suffix("")
    stem = str(prefix)
    variants = read_bim(stem + ".bim")
    samples = read_fam(stem + ".fam")
    bed = _open_bed(Path(stem + ".bed"), len(samples), len(variants))
    _check_sample_count(bed, samples, Path(stem + ".bed"))
    return PlinkFileset(prefix=prefix, variants=variants, samples=samples, _bed=bed)


def _column_chunks(
    genotypes: npt.NDArray[Any],
    s_idx: npt.NDArray[np.intp] | None,
    v_idx: npt.NDArray[np.intp] | None,
    chunk_size: int,
) -> Iterator[npt.NDArray[Any]]:
    """Blocks of columns (variants) of an in-memory samples x variants array."""
    n_var = genotypes.shape[1] if v_idx is None else len(v_idx)
    for start in range(0, n_var, chunk_size):
        cols: Any = slice(start, start + chunk_size) if v_idx is None else v_idx[start : start + chunk_size]
        block = genotypes[:, cols]
        yield block if s_idx is None else block[s_idx]


def allele_frequencies(
    genotypes: PlinkFileset | npt.ArrayLike,
    samples: Any = None,
    variants: Any = None,
    founders_only: bool = False,
    chunk_size: int = DEFAULT_CHUNK,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """A1 frequency and number of called samples of each variant, streamed in chunks.

    The one allele-frequency routine of genopt: QC keeps its own genotype
    counts (it needs all three genotype classes), everything else calls this.

    Parameters
    ----------
    genotypes
        A :class:`PlinkFileset` (decoded ``chunk_size`` variants at a time),
        or an in-memory ``(n_samples, n_variants)`` array of A1 counts (NaN
        or negative = missing).
    samples, variants
        Selections (None for all; slice, bool mask or indices).
    founders_only
        Count only the founders among the selected samples
        (:func:`founder_mask` of the fileset's .fam), as ``plink2 --freq``
        does; needs a :class:`PlinkFileset`.
    chunk_size
        Variants per chunk.

    Returns
    -------
    (a1_freq, n_called)
        float64 frequency of the .bim **A1** allele among the non-missing
        calls (``A1 count / (2 * n_called)``; NaN where nothing is called)
        and int64 number of samples with a call, one entry per selected
        variant, in selection order.
    """
    if isinstance(genotypes, PlinkFileset):
        s_idx = _as_index(samples, genotypes.n_samples, "sample")
        if founders_only:
            table = genotypes.samples if s_idx is None else genotypes.samples.iloc[s_idx]
            is_founder = founder_mask(table)
            s_idx = np.flatnonzero(is_founder).astype(np.intp) if s_idx is None else s_idx[is_founder]
        v_idx = _as_index(variants, genotypes.n_variants, "variant")
        n_var = genotypes.n_variants if v_idx is None else len(v_idx)
        chunks: Iterator[npt.NDArray[Any]] = (
            g for _, g in genotypes.iter_variant_chunks(chunk_size, samples=s_idx, variants=v_idx)
        )
    else:
        if founders_only:
            raise ValueError("founders_only needs a PlinkFileset (founders come from its .fam)")
        arr = np.asarray(genotypes)
        if arr.ndim != 2:
            raise ValueError(f"genotypes must be 2-D (samples x variants), got shape {arr.shape}")
        s_idx = _as_index(samples, arr.shape[0], "sample")
        v_idx = _as_index(variants, arr.shape[1], "variant")
        n_var = arr.shape[1] if v_idx is None else len(v_idx)
        chunks = _column_chunks(arr, s_idx, v_idx, chunk_size)
    count = np.zeros(n_var, dtype=np.float64)
    called = np.zeros(n_var, dtype=np.int64)
    pos = 0
    for g in chunks:
        ok = g >= 0  # False for NaN and negative codes
        k = g.shape[1]
        acc = np.float64 if g.dtype.kind == "f" else np.int64  # integer sums are exact either way
        called[pos : pos + k] = ok.sum(axis=0)
        count[pos : pos + k] = np.where(ok, g, 0).sum(axis=0, dtype=acc)
        pos += k
    with np.errstate(invalid="ignore", divide="ignore"):
        freq = count / (2.0 * called)
    return freq, called


def encode_bed(genotypes: npt.ArrayLike, variant_offset: int = 0) -> npt.NDArray[np.uint8]:
    """Pack A1 counts into .bed bytes.

    Parameters
    ----------
    genotypes
        ``(n_samples, n_variants)`` A1 counts 0/1/2; NaN or any negative value
        is missing.
    variant_offset
        Index of the first column in the whole matrix, used only to name the
        variant in error messages when encoding a chunk.

    Raises
    ------
    ValueError
        A value that is neither 0, 1, 2 nor missing (e.g. 3 or 1.5).

    Returns
    -------
    uint8 array ``(n_variants, ceil(n_samples / 4))``: the .bed variant block.
    """
    g = np.asarray(genotypes)
    if g.ndim != 2:
        raise ValueError(f"genotypes must be 2-D (samples x variants), got shape {g.shape}")
    if g.dtype.kind == "f":
        missing = np.isnan(g) | (g < 0)
    elif g.dtype.kind in "iub":
        missing = g < 0
    else:
        raise ValueError(f"genotypes must be numeric, got dtype {g.dtype}")
    valid = missing | (g == 0) | (g == 1) | (g == 2)
    if not valid.all():
        sample, variant = (int(i) for i in np.argwhere(~valid)[0])
        raise ValueError(
            f"genotype value {g[sample, variant]!r} at sample {sample}, variant {variant + variant_offset} "
            "is not an A1 count (0, 1, 2) or missing (NaN or negative)"
        )
    codes_idx = np.where(missing, 3, g).astype(np.int8)
    codes = _COUNT_TO_CODE[codes_idx.T]  # variants x samples
    n_var, n_samp = codes.shape
    pad = (-n_samp) % 4
    if pad:
        codes = np.concatenate([codes, np.zeros((n_var, pad), np.uint8)], axis=1)
    c = codes.reshape(n_var, -1, 4)
    return (c[:, :, 0] | (c[:, :, 1] << 2) | (c[:, :, 2] << 4) | (c[:, :, 3] << 6)).astype(np.uint8)


def write_plink(
    prefix: str | Path,
    genotypes: npt.ArrayLike | PlinkFileset,
    variants: pd.DataFrame | None = None,
    samples: pd.DataFrame | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    variant_idx: Any = None,
    sample_idx: Any = None,
    float_format: str | None = None,
) -> None:
    """Write a PLINK 1 fileset atomically (all three files or none).

    Parameters
    ----------
    prefix
        Output prefix.
    genotypes
        ``(n_samples, n_variants)`` A1 counts (NaN/negative = missing), or a
        :class:`PlinkFileset` whose genotypes are streamed in chunks of
        ``chunk_size`` variants (memory bounded whatever its size).
    variants
        Table with columns ``chrom id cm pos a1 a2`` (A1 is what the values
        count), one row per written variant. Defaults to the fileset's own
        (its ``variant_idx`` rows).
    samples
        Table with columns ``fid iid father mother sex phenotype``, one row
        per written sample. Defaults to the fileset's own (its
        ``sample_idx`` rows).
    variant_idx, sample_idx
        With a :class:`PlinkFileset`: write only these variants and samples
        (None for all; slice, bool mask or indices), in the order given. An
        out-of-range index raises ``IndexError`` before anything is written.
    float_format
        Format of the .bim centimorgan column (pandas ``float_format``):
        None writes Python's shortest repr (``0.0``), ``"%.10g"``
        (:data:`PLINK_FLOAT_FORMAT`) writes it as PLINK does (``0``).
    """
    prefix = Path(prefix)
    v_sel: npt.NDArray[np.intp] | None = None
    s_sel: npt.NDArray[np.intp] | None = None
    if isinstance(genotypes, PlinkFileset):
        v_sel = _as_index(variant_idx, genotypes.n_variants, "variant")
        s_sel = _as_index(sample_idx, genotypes.n_samples, "sample")
        if variants is None:
            variants = genotypes.variants if v_sel is None else genotypes.variants.iloc[v_sel]
        if samples is None:
            samples = genotypes.samples if s_sel is None else genotypes.samples.iloc[s_sel]
        source: PlinkFileset | npt.NDArray[Any] = genotypes
        n_var = genotypes.n_variants if v_sel is None else len(v_sel)
        n_samp = genotypes.n_samples if s_sel is None else len(s_sel)
    else:
        if variant_idx is not None or sample_idx is not None:
            raise ValueError("variant_idx and sample_idx select from a PlinkFileset; slice an array before writing")
        source = np.asarray(genotypes)
        if source.ndim != 2:
            raise ValueError(f"genotypes must be 2-D (samples x variants), got shape {source.shape}")
        n_samp, n_var = source.shape
    if variants is None or samples is None:
        raise ValueError("variants and samples tables are required when writing an array")
    if len(variants) != n_var:
        raise ValueError(f"{len(variants)} variants for {n_var} genotype columns")
    if len(samples) != n_samp:
        raise ValueError(f"{len(samples)} samples for {n_samp} genotype rows")
    stem = str(prefix)
    targets = [Path(stem + ext) for ext in (".bed", ".bim", ".fam")]
    with atomic_paths(targets) as (bed_tmp, bim_tmp, fam_tmp):
        with open(bed_tmp, "wb") as handle:
            handle.write(BED_MAGIC)
            if isinstance(source, PlinkFileset):
                if n_var:
                    for _, block in source.iter_variant_chunks(chunk_size, samples=s_sel, variants=v_sel):
                        handle.write(encode_bed(block).tobytes())
            else:
                for start in range(0, n_var, chunk_size):
                    handle.write(encode_bed(source[:, start : start + chunk_size], start).tobytes())
            handle.flush()
            os.fsync(handle.fileno())
        _write_columns(bim_tmp, variants, BIM_COLUMNS, float_format)
        _write_columns(fam_tmp, samples, FAM_COLUMNS)


def _write_columns(path: Path, frame: pd.DataFrame, columns: list[str], float_format: str | None = None) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"table lacks columns {missing}")
    frame[columns].to_csv(path, sep="\t", header=False, index=False, float_format=float_format)
