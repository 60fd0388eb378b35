"""Recombined cohorts: new people as mosaics of real people's diploid genotype segments.

See the :mod:`genopt.simulate` package docstring for the method.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from genopt.config import RecombineConfig
from genopt.errors import GenoptError
from genopt.io.atomic import atomic_path, write_tsv
from genopt.io.plink import PlinkFileset, write_plink

#: New people processed at once per chromosome by :func:`recombine` (bounds its index arrays).
_PEOPLE_BLOCK = 8192


# ---------------------------------------------------------------------------
# Recombination
# ---------------------------------------------------------------------------


def _labels_for(fileset: PlinkFileset, populations: Any) -> npt.NDArray[np.object_]:
    """Population label per fileset sample (None where unknown)."""
    n = fileset.n_samples
    if isinstance(populations, pd.DataFrame):
        cols = {c.lower(): c for c in populations.columns}
        if "iid" not in cols or "population" not in cols:
            raise GenoptError("population table needs IID and population columns")
        mapping = dict(zip(populations[cols["iid"]].astype(str), populations[cols["population"]], strict=True))
        labels = np.array([mapping.get(i) for i in fileset.samples["iid"].astype(str)], dtype=object)
    elif isinstance(populations, pd.Series | dict):
        mapping = dict(populations)
        labels = np.array([mapping.get(i) for i in fileset.samples["iid"].astype(str)], dtype=object)
    else:
        labels = np.asarray(populations, dtype=object)
        if labels.shape != (n,):
            raise GenoptError(f"{labels.size} population labels for {n} samples")
    bad = pd.isna(pd.Series(labels)).to_numpy() | (pd.Series(labels).astype(str) == "NA").to_numpy()
    labels[bad] = None
    return labels


def _donor_indices(fileset: PlinkFileset, donors: Any) -> npt.NDArray[np.intp]:
    if donors is None:
        return np.arange(fileset.n_samples, dtype=np.intp)
    arr = np.asarray(donors)
    if arr.dtype.kind in "iu":
        return np.unique(arr.astype(np.intp))
    if arr.dtype == bool:
        return np.flatnonzero(arr).astype(np.intp)
    index = pd.Index(fileset.samples["iid"].astype(str).to_numpy())
    idx = index.get_indexer(pd.Index(arr.astype(str)))
    if (idx < 0).any():
        raise GenoptError(f"donor IID {arr[idx < 0][0]!r} is not in the fileset", str(fileset.prefix) + ".fam")
    return np.unique(idx.astype(np.intp))


def genetic_positions(variants: pd.DataFrame) -> npt.NDArray[np.float64]:
    """Genetic position (cM) per variant: the .bim cM, or bp / 1e6 when a chromosome has none."""
    cm = variants["cm"].to_numpy(dtype=np.float64).copy()
    bp = variants["pos"].to_numpy(dtype=np.float64) / 1e6
    chrom = variants["chrom"].astype(str).to_numpy()
    for c in pd.unique(chrom):
        sel = chrom == c
        if not np.any(cm[sel] != 0):
            cm[sel] = bp[sel]
    return cm


def recombine(
    fileset: PlinkFileset,
    config: RecombineConfig,
    populations: Any = None,
    donors: Any = None,
    prefix: str = "sim",
) -> tuple[npt.NDArray[np.int8], pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Make ``config.n_samples`` new people as mosaics of donors' diploid genotype segments.

    Method (see also the module docstring): along each chromosome a new
    segment starts at the first variant and, between adjacent variants ``d``
    cM apart, with probability ``1 - exp(-d / config.segment_cm)`` (a Poisson
    process of breakpoints along the genetic map; 1 cM per Mb when the .bim
    has no cM). Each segment copies the diploid genotypes (A1 counts, missing
    calls included) of one donor drawn uniformly from the donor pool, which
    is restricted to the new person's population when ``populations`` is
    given and ``config.within_population`` is true. Per chromosome, a donor
    index is built for every (new person, variant) from the cumulative
    breakpoints and the genotypes are gathered in one step: no loop over
    people or variants.

    Parameters
    ----------
    fileset
        Reference genotypes.
    config
        ``n_samples``, ``segment_cm``, ``within_population``, ``seed``.
    populations
        Labels per reference sample: a DataFrame with IID and population
        columns (as :func:`read_population_labels` returns), a mapping IID ->
        label, or an array aligned with the .fam. Unlabelled donors are not
        used when donors are drawn within populations.
    donors
        The donor pool: IIDs, integer indices or a boolean mask over the .fam
        (all samples when None).
    prefix
        New people are named ``{prefix}{k}`` (FID = IID), k from 1.

    Returns
    -------
    genotypes
        int8 ``(n_samples, n_variants)``, A1 counts of the reference .bim A1,
        -1 missing.
    variants
        The reference .bim table (unchanged).
    samples
        .fam table of the new people (sex 0 = unknown, phenotype -9) with an
        extra ``population`` column (None without labels).
    provenance
        One row per copied segment: ``FID IID chrom start_index end_index
        start_variant end_variant donor_fid donor_iid``; ``start_index`` and
        ``end_index`` are the .bim rows of the segment's first and last
        variant in genetic-position order (inclusive). Rows are ordered by
        chromosome, then person.
    """
    if config.n_samples < 1:
        raise GenoptError(f"n_samples must be at least 1, got {config.n_samples}")
    if not config.segment_cm > 0:
        raise GenoptError(f"segment_cm must be positive, got {config.segment_cm}")
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, 3]))
    pool = _donor_indices(fileset, donors)
    n = config.n_samples
    if populations is not None and config.within_population:
        labels = _labels_for(fileset, populations)[pool]
        pool = pool[np.array([lab is not None for lab in labels], dtype=bool)]
        labels = np.array([lab for lab in labels if lab is not None], dtype=object)
        order = np.argsort(labels.astype(str), kind="stable")
        pool, labels = pool[order], labels[order]
        names, start, size = np.unique(labels.astype(str), return_index=True, return_counts=True)
        if names.size == 0:
            raise GenoptError("no donor has a population label")
        small = names[size < 2]
        if small.size:
            raise GenoptError(f"population {small[0]!r} has only 1 donor; need at least 2 to recombine")
        person_pop = rng.choice(names.size, size=n, p=size / size.sum())
        pop_names: npt.NDArray[Any] = names[person_pop]
    else:
        if pool.size < 2:
            raise GenoptError(f"need at least 2 donors, got {pool.size}")
        start, size = np.array([0]), np.array([pool.size])
        person_pop = np.zeros(n, dtype=np.intp)
        pop_names = np.full(n, None, dtype=object)
    p_start = start[person_pop][:, None]
    p_size = size[person_pop][:, None]

    vt = fileset.variants
    gpos = genetic_positions(vt)
    chrom = vt["chrom"].astype(str).to_numpy()
    out = np.empty((n, fileset.n_variants), dtype=np.int8)
    new_ids = np.array([f"{prefix}{k + 1}" for k in range(n)], dtype=object)
    ids = vt["id"].to_numpy()
    don_fid = fileset.samples["fid"].to_numpy()
    don_iid = fileset.samples["iid"].to_numpy()
    prov: list[pd.DataFrame] = []
    for c in pd.unique(chrom):
        cols = np.flatnonzero(chrom == c)
        order = cols[np.argsort(gpos[cols], kind="stable")]
        gap = np.diff(gpos[order], prepend=gpos[order][0])
        p_break = 1.0 - np.exp(-np.abs(gap) / config.segment_cm)
        ref = fileset.read_int8(variants=order)  # n_ref x m_c
        for lo in range(0, n, _PEOPLE_BLOCK):  # blocks of people bound the memory of the index arrays
            hi = min(n, lo + _PEOPLE_BLOCK)
            switch = rng.random((hi - lo, order.size)) < p_break[None, :]
            switch[:, 0] = True
            # A donor is drawn at every variant; the one drawn at a segment's first variant is carried forward.
            draw = pool[p_start[lo:hi] + np.floor(rng.random((hi - lo, order.size)) * p_size[lo:hi]).astype(np.intp)]
            last = np.maximum.accumulate(np.where(switch, np.arange(order.size)[None, :], 0), axis=1)
            donor = np.take_along_axis(draw, last, axis=1)
            out[lo:hi, order] = ref[donor, np.arange(order.size)[None, :]]
            person, seg_start = np.nonzero(switch)
            next_same = np.zeros(person.size, dtype=bool)
            next_same[:-1] = person[1:] == person[:-1]
            seg_next = np.append(seg_start[1:], 0)
            seg_end = np.where(next_same, seg_next - 1, order.size - 1)
            d = draw[person, seg_start]
            prov.append(
                pd.DataFrame(
                    {
                        "FID": new_ids[lo + person],
                        "IID": new_ids[lo + person],
                        "chrom": c,
                        "start_index": order[seg_start],
                        "end_index": order[seg_end],
                        "start_variant": ids[order[seg_start]],
                        "end_variant": ids[order[seg_end]],
                        "donor_fid": don_fid[d],
                        "donor_iid": don_iid[d],
                    }
                )
            )
    samples = pd.DataFrame(
        {
            "fid": new_ids,
            "iid": new_ids,
            "father": "0",
            "mother": "0",
            "sex": np.zeros(n, dtype=np.int8),
            "phenotype": "-9",
            "population": pop_names,
        }
    )
    provenance = pd.concat(prov, ignore_index=True) if prov else pd.DataFrame()
    return out, vt.copy(), samples, provenance


def shuffle_genotypes(genotypes: npt.NDArray[Any], seed: int = 0) -> npt.NDArray[Any]:
    """Negative control: permute each variant's genotypes independently across people.

    Keeps every allele and genotype frequency and destroys all LD.
    """
    rng = np.random.default_rng(seed)
    g = np.asarray(genotypes)
    perm = np.argsort(rng.random(g.shape), axis=0)
    return np.take_along_axis(g, perm, axis=0)


def write_recombined(
    prefix: str | Path,
    genotypes: npt.NDArray[np.int8],
    variants: pd.DataFrame,
    samples: pd.DataFrame,
    provenance: pd.DataFrame,
) -> list[Path]:
    """Write a :func:`recombine` result: ``{prefix}.bed/.bim/.fam``,
    ``{prefix}.people.tsv`` (``FID IID population n_segments n_donors``) and
    ``{prefix}.segments.tsv.gz`` (the full provenance, one row per segment).

    Returns
    -------
    The paths written.
    """
    stem = str(prefix)
    write_plink(stem, genotypes, variants, samples.drop(columns="population", errors="ignore"))
    per = provenance.groupby("IID", sort=False).agg(n_segments=("donor_iid", "size"), n_donors=("donor_iid", "nunique"))
    people = pd.DataFrame(
        {
            "FID": samples["fid"].to_numpy(),
            "IID": samples["iid"].to_numpy(),
            "population": samples["population"].to_numpy() if "population" in samples else None,
            "n_segments": per.loc[samples["iid"], "n_segments"].to_numpy(),
            "n_donors": per.loc[samples["iid"], "n_donors"].to_numpy(),
        }
    )
    write_tsv(stem + ".people.tsv", people)
    segments = Path(stem + ".segments.tsv.gz")
    with atomic_path(segments) as tmp:
        provenance.to_csv(tmp, sep="\t", index=False, compression={"method": "gzip", "mtime": 0})
    return [Path(stem + ext) for ext in (".bed", ".bim", ".fam", ".people.tsv")] + [segments]
