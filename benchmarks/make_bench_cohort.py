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
loop over samples or variants). Writes through :func:`genopt.io.plink.write_plink`.

Usage (from the repository root)::

    .venv/bin/python benchmarks/make_bench_cohort.py            # 5000 x 100000
    .venv/bin/python benchmarks/make_bench_cohort.py --samples 1000 --variants 20000
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from genopt.io.plink import open_plink, write_plink  # noqa: E402

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


def make_cohort(
    source: Path,
    n_samples: int,
    n_variants: int,
    seed: int,
    segment: int = 100,
    extra_missing: float = 0.0085,
) -> tuple[npt.NDArray[np.int8], pd.DataFrame, pd.DataFrame]:
    """Build the genotypes (samples x variants int8 A1 counts, -1 missing) and tables."""
    rng = np.random.default_rng(seed)
    ref = open_plink(source)
    g_ref = np.ascontiguousarray(ref.read_int8())  # reference samples x variants
    n_ref, m_ref = g_ref.shape
    chrom = ref.variants["chrom"].to_numpy(dtype=str)
    n_tiles = -(-n_variants // m_ref)
    chrom_len = ref.variants.groupby("chrom")["pos"].max() + 1

    out = np.empty((n_samples, n_variants), dtype=np.int8)
    bims = []
    for tile in range(n_tiles):
        lo = tile * m_ref
        width = min(m_ref, n_variants - lo)
        bounds = _segments(chrom, segment, rng)
        bounds = bounds[bounds < width]
        bounds = np.append(bounds, width)
        for start, stop in itertools.pairwise(bounds):
            donors = rng.integers(0, n_ref, size=n_samples)
            block = g_ref[donors, start:stop]
            if extra_missing > 0:
                block[rng.random(block.shape, dtype=np.float32) < extra_missing] = -1
            out[:, lo + start : lo + stop] = block
        bim = ref.variants.iloc[:width].copy()
        bim["id"] = bim["id"] + f"_t{tile}"
        bim["pos"] = bim["pos"] + tile * (chrom_len.loc[bim["chrom"]].to_numpy())
        bims.append(bim)
    variants = pd.concat(bims, ignore_index=True)
    top = int(variants["pos"].max())
    if top >= 2**31 - 1:
        # Many tiles: shrink the shifted positions into PLINK's 32-bit range (order kept; distances
        # shrink by the same factor, so only kb-window steps see it). Smaller cohorts are unchanged.
        factor = -(-top // (2**31 - 2))
        variants["pos"] = variants["pos"] // factor + 1
    # One contiguous block per chromosome, sorted by (shifted) position.
    order = np.lexsort((variants["pos"].to_numpy(), pd.to_numeric(variants["chrom"]).to_numpy()))
    out = out[:, order]
    variants = variants.iloc[order].reset_index(drop=True)
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
    return out, variants, samples


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
    g, variants, samples = make_cohort(
        args.source, args.samples, args.variants, args.seed, args.segment, args.extra_missing
    )
    t1 = time.perf_counter()
    write_plink(out, g, variants, samples)
    t2 = time.perf_counter()
    print(
        f"wrote {out}.bed/.bim/.fam: {args.samples} samples x {args.variants} variants, "
        f"missing {np.mean(g < 0):.4%}, seed {args.seed} (built {t1 - t0:.1f} s, written {t2 - t1:.1f} s)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
