"""Manhattan and QQ plots of an association table, written as PNG (matplotlib, Agg backend)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

from genopt.errors import GenoptError
from genopt.io.atomic import atomic_path

GENOME_WIDE = 5e-8
SUGGESTIVE = 1e-5
_COLOURS = ("#1f4e79", "#7aa6d6")
_HIGHLIGHT = "#d62728"
#: Smallest p shown (p = 0 would be -log10 p = inf).
_P_FLOOR = 1e-300


def _chrom_key(c: str) -> tuple[int, str]:
    s = re.sub(r"^chr", "", str(c), flags=re.IGNORECASE)
    if s.isdigit():
        return (int(s), "")
    order = {"X": 23, "Y": 24, "XY": 25, "MT": 26, "M": 26}
    return (order.get(s.upper(), 100), s)


def _neglog10(p: npt.ArrayLike) -> npt.NDArray[np.float64]:
    return np.asarray(-np.log10(np.clip(np.asarray(p, dtype=np.float64), _P_FLOOR, 1.0)))


def _valid_p(table: pd.DataFrame) -> pd.DataFrame:
    if "p_value" not in table.columns:
        raise GenoptError(f"association table has no 'p_value' column (columns: {', '.join(map(str, table.columns))})")
    p = pd.to_numeric(table["p_value"], errors="coerce").astype(np.float64)
    bad = (p < 0) | (p > 1)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        who = table["rsid"].iloc[i] if "rsid" in table.columns else f"row {i + 1}"
        raise GenoptError(f"p_value {p.iloc[i]!r} of {who} is outside [0, 1]")
    out = table.assign(p_value=p)
    return out[np.isfinite(p.to_numpy())]


def _save(fig: Any, path: str | Path, dpi: int) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    plt.close(fig)


def manhattan_plot(
    table: pd.DataFrame,
    path: str | Path,
    highlight: Iterable[Any] | None = None,
    title: str = "Manhattan plot",
    dpi: int = 120,
) -> Path:
    """Write a Manhattan plot of ``-log10 p`` along the genome as PNG.

    Parameters
    ----------
    table
        Columns ``chromosome``, ``base_pair_location``, ``p_value`` (rows with
        a missing p are left out) and, for ``highlight`` by ID, ``rsid`` or
        ``variant_index``.
    path
        PNG file to write (atomically).
    highlight
        Variants to mark (e.g. the candidate pool or the selected set): rsIDs
        (strings, matched against ``rsid``) or ints (matched against
        ``variant_index``).
    title
        Plot title.
    dpi
        Resolution (the figure is 12 x 4.5 inches).

    Returns
    -------
    The path written. Chromosomes are in numeric order with alternating
    colours, positions in base pairs placed end to end; dashed lines at the
    genome-wide (5e-8) and suggestive (1e-5) thresholds.
    """
    for col in ("chromosome", "base_pair_location"):
        if col not in table.columns:
            raise GenoptError(f"association table has no {col!r} column")
    tab = _valid_p(table)
    chrom = tab["chromosome"].astype(str).to_numpy()
    pos = pd.to_numeric(tab["base_pair_location"], errors="coerce").to_numpy(dtype=np.float64)
    y = _neglog10(tab["p_value"].to_numpy())
    chroms = sorted(pd.unique(chrom), key=_chrom_key)
    x = np.zeros(len(tab))
    ticks, labels = [], []
    offset = 0.0
    fig, ax = plt.subplots(figsize=(12, 4.5))
    gap = 0.0
    if len(tab):
        spans = [np.nanmax(pos[chrom == c]) - np.nanmin(pos[chrom == c]) for c in chroms]
        gap = 0.01 * float(np.sum(spans)) if np.sum(spans) > 0 else 1.0
    for k, c in enumerate(chroms):
        sel = chrom == c
        p = pos[sel]
        start = np.nanmin(p)
        x[sel] = offset + (p - start)
        width = np.nanmax(p) - start
        ax.scatter(x[sel], y[sel], s=4, c=_COLOURS[k % 2], linewidths=0, rasterized=True)
        ticks.append(offset + width / 2)
        labels.append(str(c))
        offset += width + gap
    marked = np.zeros(len(tab), dtype=bool)
    if highlight is not None:
        wanted = list(highlight)
        names = {str(w) for w in wanted if isinstance(w, str)}
        ints = {int(w) for w in wanted if not isinstance(w, str)}
        if names and "rsid" in tab.columns:
            marked |= tab["rsid"].astype(str).isin(names).to_numpy()
        if ints and "variant_index" in tab.columns:
            marked |= tab["variant_index"].isin(ints).to_numpy()
        if marked.any():
            ax.scatter(
                x[marked],
                y[marked],
                s=28,
                facecolors="none",
                edgecolors=_HIGHLIGHT,
                linewidths=1.2,
                label=f"highlighted ({int(marked.sum())})",
                zorder=3,
            )
    ax.axhline(-np.log10(GENOME_WIDE), color="#b22222", ls="--", lw=0.9, label="genome-wide (5e-8)")
    ax.axhline(-np.log10(SUGGESTIVE), color="#888888", ls=":", lw=0.9, label="suggestive (1e-5)")
    ax.set_xticks(ticks)
    ax.set_xticklabels(labels, fontsize=8)
    ax.set_xlim(-gap, max(offset, 1.0))
    top = max(float(np.max(y)) if y.size else 0.0, -np.log10(GENOME_WIDE))
    ax.set_ylim(0, top * 1.08)
    ax.set_xlabel("chromosome")
    ax.set_ylabel(r"$-\log_{10}\,p$")
    ax.set_title(title)
    ax.legend(loc="upper right", fontsize=8, frameon=False)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    _save(fig, path, dpi)
    return Path(path)


def qq_plot(
    table: pd.DataFrame | npt.ArrayLike,
    path: str | Path,
    lambda_gc: float | None = None,
    title: str = "QQ plot",
    dpi: int = 120,
) -> Path:
    """Write a QQ plot of observed against expected ``-log10 p`` as PNG.

    Parameters
    ----------
    table
        A table with a ``p_value`` column, or an array of p-values (missing
        ones are left out).
    path
        PNG file to write (atomically).
    lambda_gc
        Genomic inflation factor for the legend; None computes it from the
        p-values (median of the 1-df chi-squares with these p, / 0.4549).
    title
        Plot title.
    dpi
        Resolution (the figure is 5.5 x 5.5 inches).

    Returns
    -------
    The path written. Expected quantiles are ``(i - 0.5) / n``; the grey band
    is the pointwise 95% interval of the i-th smallest of n uniform p-values
    (Beta(i, n - i + 1)).
    """
    if isinstance(table, pd.DataFrame):
        p = _valid_p(table)["p_value"].to_numpy(dtype=np.float64)
    else:
        p = np.asarray(table, dtype=np.float64).reshape(-1)
        p = p[np.isfinite(p)]
        if ((p < 0) | (p > 1)).any():
            raise GenoptError(f"p-value {p[(p < 0) | (p > 1)][0]!r} is outside [0, 1]")
    if p.size == 0:
        raise GenoptError("no p-values to plot")
    n = p.size
    obs = _neglog10(np.sort(p))
    i = np.arange(1, n + 1, dtype=np.float64)
    exp = -np.log10((i - 0.5) / n)
    if lambda_gc is None:
        from genopt.assoc.scan import lambda_gc as _lambda_gc

        lambda_gc = _lambda_gc(stats.chi2.isf(np.clip(p, _P_FLOOR, 1.0), 1))
    # band on a thinned grid of ranks (enough for a smooth curve at any n)
    grid = np.unique(np.round(np.geomspace(1, n, num=min(n, 400))).astype(np.int64))
    lo = -np.log10(stats.beta.ppf(0.975, grid, n - grid + 1))
    hi = -np.log10(stats.beta.ppf(0.025, grid, n - grid + 1))
    ex_grid = -np.log10((grid - 0.5) / n)
    fig, ax = plt.subplots(figsize=(5.5, 5.5))
    ax.fill_between(ex_grid, lo, hi, color="#cccccc", alpha=0.7, lw=0, label="95% band (null)")
    top = max(float(exp.max()), float(obs.max()))
    ax.plot([0, exp.max()], [0, exp.max()], color="#b22222", lw=0.9, ls="--")
    ax.scatter(
        exp, obs, s=5, c=_COLOURS[0], linewidths=0, rasterized=True, label=rf"$\lambda_{{GC}}$ = {lambda_gc:.3f}"
    )
    ax.set_xlim(0, exp.max() * 1.03)
    ax.set_ylim(0, top * 1.05)
    ax.set_xlabel(r"expected $-\log_{10}\,p$")
    ax.set_ylabel(r"observed $-\log_{10}\,p$")
    ax.set_title(f"{title} ({n:,} variants)")
    ax.legend(loc="upper left", fontsize=9, frameon=False)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    _save(fig, path, dpi)
    return Path(path)
