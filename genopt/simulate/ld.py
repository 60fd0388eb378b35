"""LD decay: mean r^2 by distance, to check that recombined cohorts keep local LD."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from genopt.io.atomic import atomic_path
from genopt.simulate._common import Genotypes, _read, _resolve, _standardise_columns

#: Default distance bins (bp) of :func:`ld_decay`.
LD_BINS = (0, 25_000, 50_000, 100_000, 200_000, 300_000, 500_000, 750_000, 1_000_000, 2_000_000)


def ld_decay(
    genotypes: Genotypes,
    variants: pd.DataFrame | None = None,
    bins: tuple[int, ...] | npt.ArrayLike = LD_BINS,
    max_offset: int = 20,
) -> pd.DataFrame:
    """Mean r^2 between variant pairs by base-pair distance bin.

    Pairs are variants on the same chromosome at most ``max_offset`` positions
    apart in .bim order (sorted by position) and at most ``bins[-1]`` bp apart;
    r is the Pearson correlation of A1 counts with missing calls set to the
    variant mean. Monomorphic variants are skipped.

    Returns
    -------
    DataFrame ``bin_start bin_end n_pairs mean_r2`` (bp; ``bin_start <=
    distance < bin_end``), one row per bin.
    """
    g, vt, _ = _resolve(genotypes, variants, None)
    edges = np.asarray(bins, dtype=np.float64)
    sums = np.zeros(edges.size - 1)
    counts = np.zeros(edges.size - 1, dtype=np.int64)
    chrom = vt["chrom"].astype(str).to_numpy()
    pos = vt["pos"].to_numpy(dtype=np.float64)
    for c in pd.unique(chrom):
        cols = np.flatnonzero(chrom == c)
        cols = cols[np.argsort(pos[cols], kind="stable")]
        x = _read(g, cols)
        z, _, sd = _standardise_columns(x)
        keep = sd > 0
        z, cols = z[:, keep], cols[keep]
        sd2 = np.sqrt((z * z).mean(0))
        z = z / np.where(sd2 > 0, sd2, 1.0)
        p = pos[cols]
        for k in range(1, min(max_offset, cols.size - 1) + 1):
            r = (z[:, :-k] * z[:, k:]).mean(0)
            dist = p[k:] - p[:-k]
            b = np.searchsorted(edges, dist, side="right") - 1
            ok = (b >= 0) & (b < edges.size - 1)
            sums += np.bincount(b[ok], weights=r[ok] ** 2, minlength=edges.size - 1)
            counts += np.bincount(b[ok], minlength=edges.size - 1)
    with np.errstate(invalid="ignore"):
        mean_r2 = sums / counts
    return pd.DataFrame(
        {
            "bin_start": edges[:-1].astype(np.int64),
            "bin_end": edges[1:].astype(np.int64),
            "n_pairs": counts,
            "mean_r2": mean_r2,
        }
    )


def plot_ld_decay(curves: dict[str, pd.DataFrame], path: str | Path) -> None:
    """Write a PNG of LD decay curves (mean r^2 against bin midpoint, kb)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, curve in curves.items():
        mid = (curve["bin_start"] + curve["bin_end"]) / 2000.0
        ax.plot(mid, curve["mean_r2"], marker="o", label=name)
    ax.set_xscale("log")
    ax.set_xlabel("distance between variants (kb, bin midpoint)")
    ax.set_ylabel("mean r$^2$ (recombined/shuffled: minus 1/n)")
    ax.set_title("LD decay: donors vs recombined cohorts")
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
