"""Write the loader-benchmark cohort: real HapMap 3 genotypes recombined and tiled.

The cohort (default 5,000 samples x 100,000 variants, a ~125 MB .bed) is made
from ../shared/data/hapmap3/hm3 (957 real people x 14,079 SNPs):

* **variants**: the 14,079 hm3 SNPs are repeated in tiles until the requested
  number of variants is reached. Tile ``k`` keeps chromosome and alleles, gets
  IDs ``<rsid>_t<k>`` (so every ID is unique) and positions shifted by ``k``
  times the chromosome's length (``pos + k * (max_pos_chrom + 1)``), and the
  variants are sorted by chromosome and position: each chromosome is one
  contiguous block, tile 0's copy first, as plink2 requires (it refuses
  "split chromosomes");
* **samples**: within each tile, the SNPs are cut into consecutive segments of
  random length (mean ``--segment`` SNPs, never across a chromosome boundary)
  and each new person takes each segment from a randomly drawn real hm3
  person. New people are therefore mosaics of real genotype segments: allele
  frequencies, the real missingness pattern and short-range LD survive;
* **missingness**: on top of hm3's own 0.15 % missing calls, each genotype is
  set missing with probability ``--extra-missing`` (default 0.0085, giving
  about 1 % missing in all, typical of array data), so the benchmark exercises
  the missing code of every decoder.

Deterministic given ``--seed``; vectorised (one numpy gather per segment, no
loop over samples or variants). Streaming: each segment's block (samples x
segment length) is encoded with :func:`genopt.io.plink.encode_bed` and written
at its sorted place in the .bed as soon as it is drawn, so memory stays small
at any size (50,000 x 200,000, a 2.5 GB .bed: 97 s, peak RSS 412 MB). The
random draws and the file bytes are those of the earlier whole-matrix version
(same sha256 for the same shape and seed).

Usage (from the repository root)::

    .venv/bin/python benchmarks/make_bench_cohort.py            # 5000 x 100000
    .venv/bin/python benchmarks/make_bench_cohort.py --samples 1000 --variants 20000
    .venv/bin/python benchmarks/make_bench_cohort.py --samples 50000 --variants 200000   # bench_scale.py
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
import numpy.typing as npt
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from genopt.io.atomic import atomic_paths  # noqa: E402
from genopt.io.plink import BED_MAGIC, BIM_COLUMNS, FAM_COLUMNS, encode_bed, open_plink  # noqa: E402

DEFAULT_SOURCE = REPO.parent / "shared" / "data" / "hapmap3" / "hm3"
WORK = Path(__file__).resolve().parent / "work"


def default_prefix(n_samples: int, n_variants: int) -> Path:
    """Where the cohort of a given shape is written (git-ignored benchmarks/work/)."""
    return WORK / f"cohort_{n_samples}x{n_variants}"


def _segments(chrom: npt.NDArray[np.str_], mean_len: int, rng: np.random.Generator) -> npt.NDArray[np.intp]:
    """Segment start offsets (plus the end) over one tile, cut at chromosome boundaries."""
    n = len(chrom)
    # Geometric-ish random lengths: exponential with the given mean, at least 1.
    lengths = np.maximum(1, rng.exponential(mean_len, size=2 * n // mean_len + 10).round().astype(np.intp))
    cuts = np.cumsum(lengths)
    cuts = cuts[cuts < n]
    chrom_starts = np.flatnonzero(chrom[1:] != chrom[:-1]) + 1
    return np.unique(np.concatenate([[0], cuts, chrom_starts, [n]]))


def tile_variants(ref_variants: pd.DataFrame, chrom_len: pd.Series, tile: int, width: int) -> pd.DataFrame:
    """.bim rows of tile ``tile`` (its first ``width`` reference SNPs): IDs ``<rsid>_t<tile>``, shifted positions."""
    bim = ref_variants.iloc[:width].copy()
    bim["id"] = bim["id"] + f"_t{tile}"
    bim["pos"] = bim["pos"] + tile * (chrom_len.loc[bim["chrom"]].to_numpy())
    return bim


def cohort_variants(ref_variants: pd.DataFrame, n_variants: int) -> tuple[pd.DataFrame, npt.NDArray[np.intp]]:
    """The sorted .bim of the cohort and each generated column's row in it.

    Generated columns are numbered tile by tile (tile 0's reference SNPs, then
    tile 1's, ...); the .bim is sorted by chromosome, then shifted position.

    Returns
    -------
    (variants, destination)
        ``variants``: the .bim table in file order; ``destination[j]``: the
        file row of generated column ``j``, shape ``(n_variants,)``.
    """
    m_ref = len(ref_variants)
    chrom_len = ref_variants.groupby("chrom")["pos"].max() + 1
    n_tiles = -(-n_variants // m_ref)
    bims = [tile_variants(ref_variants, chrom_len, t, min(m_ref, n_variants - t * m_ref)) for t in range(n_tiles)]
    variants = pd.concat(bims, ignore_index=True)
    top = int(variants["pos"].max())
    if top >= 2**31 - 1:
        # Many tiles: shrink the shifted positions into PLINK's 32-bit range (order kept; distances
        # shrink by the same factor, so only kb-window steps see it). Smaller cohorts are unchanged.
        factor = -(-top // (2**31 - 2))
        variants["pos"] = variants["pos"] // factor + 1
    # One contiguous block per chromosome, sorted by (shifted) position (lexsort is stable).
    order = np.lexsort((variants["pos"].to_numpy(), pd.to_numeric(variants["chrom"]).to_numpy()))
    destination = np.empty(order.size, dtype=np.intp)
    destination[order] = np.arange(order.size, dtype=np.intp)
    return variants.iloc[order].reset_index(drop=True), destination


def mosaic_blocks(
    g_ref: npt.NDArray[np.int8],
    chrom: npt.NDArray[np.str_],
    n_samples: int,
    n_variants: int,
    rng: np.random.Generator,
    segment: int,
    extra_missing: float,
) -> Iterator[tuple[int, npt.NDArray[np.int8]]]:
    """Generated genotype blocks, one per segment, in generation (tile-major) order.

    Yields
    ------
    (first_column, block)
        ``block``: ``(n_samples, segment length)`` int8 A1 counts (-1 missing)
        of generated columns ``first_column ...``; one donor per sample per
        segment, then extra missing calls. The random draws are those of the
        whole-matrix generator this replaced, in the same order.
    """
    n_ref, m_ref = g_ref.shape
    for lo in range(0, n_variants, m_ref):
        width = min(m_ref, n_variants - lo)
        bounds = _segments(chrom, segment, rng)
        bounds = np.append(bounds[bounds < width], width)
        for start, stop in itertools.pairwise(bounds):
            donors = rng.integers(0, n_ref, size=n_samples)
            block = g_ref[donors, start:stop]
            if extra_missing > 0:
                block[rng.random(block.shape, dtype=np.float32) < extra_missing] = -1
            yield lo + int(start), block


def write_rows(handle: BinaryIO, rows: npt.NDArray[np.uint8], destination: npt.NDArray[np.intp]) -> None:
    """Write encoded .bed variant rows at their file rows (``destination``), one write per contiguous run."""
    row_bytes = rows.shape[1]
    breaks = np.flatnonzero(np.diff(destination) != 1) + 1
    for run in np.split(np.arange(destination.size), breaks):
        os.pwrite(handle.fileno(), rows[run].tobytes(), len(BED_MAGIC) + int(destination[run[0]]) * row_bytes)


def write_cohort(
    prefix: Path,
    source: Path,
    n_samples: int,
    n_variants: int,
    seed: int,
    segment: int = 100,
    extra_missing: float = 0.0085,
) -> float:
    """Generate the cohort and write ``prefix.bed/.bim/.fam`` atomically, segment by segment.

    Memory stays at the reference matrix plus one segment's block (samples x
    segment length), whatever the cohort's size: each block is encoded and
    written at its sorted file position as soon as it is drawn.

    Returns
    -------
    The fraction of missing calls written.
    """
    rng = np.random.default_rng(seed)
    ref = open_plink(source)
    g_ref = np.ascontiguousarray(ref.read_int8())  # reference samples x variants
    chrom = ref.variants["chrom"].to_numpy(dtype=str)
    variants, destination = cohort_variants(ref.variants, n_variants)
    n_missing = 0
    targets = [Path(f"{prefix}{ext}") for ext in (".bed", ".bim", ".fam")]
    with atomic_paths(targets) as (bed_tmp, bim_tmp, fam_tmp):
        with open(bed_tmp, "wb") as handle:
            handle.write(BED_MAGIC)
            handle.flush()
            for first, block in mosaic_blocks(g_ref, chrom, n_samples, n_variants, rng, segment, extra_missing):
                n_missing += int(np.count_nonzero(block < 0))
                write_rows(handle, encode_bed(block, first), destination[first : first + block.shape[1]])
            os.fsync(handle.fileno())
        ids = [f"S{i:05d}" for i in range(n_samples)]
        samples = pd.DataFrame(
            {
                "fid": ids,
                "iid": ids,
                "father": "0",
                "mother": "0",
                "sex": rng.integers(1, 3, size=n_samples),
                "phenotype": "-9",
            }
        )
        variants[BIM_COLUMNS].to_csv(bim_tmp, sep="\t", header=False, index=False)
        samples[FAM_COLUMNS].to_csv(fam_tmp, sep="\t", header=False, index=False)
    return n_missing / (n_samples * n_variants)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=5000)
    parser.add_argument("--variants", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=20261204)
    parser.add_argument("--segment", type=int, default=100, help="mean segment length in SNPs (default 100)")
    parser.add_argument("--extra-missing", type=float, default=0.0085)
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="reference fileset prefix (hm3)")
    parser.add_argument("--out", type=Path, default=None, help="output prefix (default benchmarks/work/cohort_NxM)")
    args = parser.parse_args(argv)

    out = args.out or default_prefix(args.samples, args.variants)
    out.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    missing = write_cohort(out, args.source, args.samples, args.variants, args.seed, args.segment, args.extra_missing)
    print(
        f"wrote {out}.bed/.bim/.fam: {args.samples} samples x {args.variants} variants, "
        f"missing {missing:.4%}, seed {args.seed} ({time.perf_counter() - t0:.1f} s)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
