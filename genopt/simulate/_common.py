"""Helpers shared by the simulators: genotype sources, column reads, standardisation, variant matching."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from genopt.errors import GenoptError
from genopt.io.plink import PlinkFileset

#: A genotype source: a fileset, or an in-memory ``(n_samples, n_variants)`` array of A1 counts.
Genotypes = PlinkFileset | npt.NDArray[Any]


def _default_variants(n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "chrom": "1",
            "id": [f"v{j + 1}" for j in range(n)],
            "cm": 0.0,
            "pos": np.arange(1, n + 1, dtype=np.int64) * 1000,
            "a1": "A",
            "a2": "G",
        }
    )


def _default_samples(n: int) -> pd.DataFrame:
    ids = [f"s{i + 1}" for i in range(n)]
    return pd.DataFrame({"fid": ids, "iid": ids, "father": "0", "mother": "0", "sex": 0, "phenotype": "-9"})


def _resolve(
    genotypes: Genotypes, variants: pd.DataFrame | None, samples: pd.DataFrame | None
) -> tuple[Genotypes, pd.DataFrame, pd.DataFrame]:
    """The genotype source with its variant and sample tables."""
    if isinstance(genotypes, PlinkFileset):
        return genotypes, genotypes.variants, genotypes.samples
    g = np.asarray(genotypes)
    if g.ndim != 2:
        raise ValueError(f"genotypes must be samples x variants, got shape {g.shape}")
    v = _default_variants(g.shape[1]) if variants is None else variants.reset_index(drop=True)
    s = _default_samples(g.shape[0]) if samples is None else samples.reset_index(drop=True)
    if len(v) != g.shape[1] or len(s) != g.shape[0]:
        raise ValueError(f"genotypes {g.shape} do not match {len(s)} samples x {len(v)} variants")
    return g, v, s


def _read(genotypes: Genotypes, cols: npt.NDArray[np.intp]) -> npt.NDArray[np.float64]:
    """Columns ``cols`` as float64 A1 counts, NaN missing (samples x len(cols))."""
    if isinstance(genotypes, PlinkFileset):
        return genotypes.read(variants=cols, dtype=np.float64)
    g = np.asarray(genotypes)[:, cols].astype(np.float64)
    g[g < 0] = np.nan
    return g


def _standardise(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    sd = x.std()
    return (x - x.mean()) / (sd if sd > 0 else 1.0)


def _standardise_columns(
    x: npt.NDArray[np.float64],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Standardise each column of a samples x variants matrix over its non-missing values.

    Parameters
    ----------
    x
        float64 A1 counts, NaN for missing.

    Returns
    -------
    (z, mean, sd)
        ``z = (x - mean) / sd`` with missing calls 0 (the mean) and columns
        whose SD is 0 divided by 1; ``mean`` and ``sd`` (population SD,
        ``ddof=0``; 0 for monomorphic columns, NaN for all-missing ones) per
        column, shape ``(n_variants,)``.
    """
    mean = np.nanmean(x, axis=0)
    sd = np.nanstd(x, axis=0)
    z = np.where(np.isnan(x), 0.0, (x - mean) / np.where(sd == 0, 1.0, sd))
    return z, mean, sd


def _truncated_svd(
    z: npt.NDArray[np.float64], k: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Top-``k`` singular triplets ``(u, s, vt)`` of ``z`` (scipy ``svds``, deterministic start vector).

    As :func:`scipy.sparse.linalg.svds` returns them: singular values in
    increasing order.
    """
    from scipy.sparse.linalg import svds

    v0 = np.ones(min(z.shape)) / np.sqrt(min(z.shape))
    u, s, vt = svds(z, k=k, v0=v0)
    return np.asarray(u), np.asarray(s), np.asarray(vt)


def _match_variants(
    target: pd.DataFrame, wanted: pd.DataFrame, what: str, id_col: str = "id", a1: str = "a1", a2: str = "a2"
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.bool_]]:
    """Columns of ``target`` holding ``wanted``'s variants (by ID) and whether A1/A2 are swapped."""
    index = pd.Index(target["id"].to_numpy())
    if not index.is_unique:
        dup = index[index.duplicated()][0]
        raise GenoptError(f"variant ID {dup!r} appears more than once; cannot apply the {what}")
    ids = wanted[id_col].to_numpy()
    cols = index.get_indexer(ids)
    if (cols < 0).any():
        missing = ids[cols < 0]
        raise GenoptError(f"{what} variant {missing[0]!r} is not in the genotypes ({missing.size} missing)")
    ta1 = target["a1"].to_numpy()[cols]
    ta2 = target["a2"].to_numpy()[cols]
    wa1 = wanted[a1].to_numpy()
    wa2 = wanted[a2].to_numpy()
    same = (ta1 == wa1) & (ta2 == wa2)
    swap = (ta1 == wa2) & (ta2 == wa1)
    bad = ~(same | swap)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise GenoptError(
            f"{what} variant {ids[k]!r} has alleles {wa1[k]}/{wa2[k]} but the genotypes have {ta1[k]}/{ta2[k]}"
        )
    return cols.astype(np.intp), swap
