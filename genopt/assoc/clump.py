"""LD clumping with the meaning of PLINK 1.9's ``--clump``.

The rules, as PLINK v1.90 applies them (``clump_reports`` in plink_ld.c) and
as this module reproduces them:

* Only variants of the association table with a usable p-value take part
  (a missing p-value, like PLINK's ``NA``, is skipped). Variants with
  ``p <= max(p2, 0.05)`` are *loaded* (if ``p1`` is not below that bound,
  ``p <= p1 * (1 + 2^-44)``); the others can be absorbed into a clump but are
  never index variants nor listed members.
* Index candidates have ``p <= p1``; they are taken in order of increasing p,
  ties broken by position in the .bim (PLINK's "determinism fix").
* An index candidate that an earlier clump has absorbed is skipped. The index
  variant itself is not marked as absorbed.
* The window holds the variants on the index variant's chromosome whose
  base-pair distance to it is at most ``kb * 1000 - 1`` (PLINK stores
  ``--clump-kb`` as a radius ``kb * 1000 - 1``), that have not been absorbed.
* r^2 is the *haplotype* r^2 from the two-locus maximum-likelihood haplotype
  frequencies (PLINK's ``em_phase_hethet``: the cubic likelihood equation
  solved exactly), estimated from the 3 x 3 table of genotype counts over the
  given samples with both genotypes called (a missing call on either variant
  drops that sample from that pair only). It is computed for every window
  candidate of an index in one matrix product of genotype indicators.
* A window variant with ``r^2 > r2`` (strict) is absorbed; it is listed as a
  member of the clump if also ``p < p2`` (strict).

Genotypes count the .bim A1 allele; r^2 does not depend on which allele is
counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from genopt.config import ClumpConfig
from genopt.errors import GenoptError
from genopt.io.atomic import write_tsv
from genopt.io.plink import PlinkFileset, founder_mask

#: PLINK's floating-point tolerances (plink_common.h): 2^-30, 2^-35, 2^-44.
EPSILON = 2.0**-30
SMALLISH_EPSILON = 2.0**-35
SMALL_EPSILON = 2.0**-44
#: Bound below which p-values are loaded even if p2 is smaller (PLINK 1.9).
_LOAD_P_FLOOR = 0.05

INDEX_COLUMNS = ["variant_index", "rsid", "chromosome", "base_pair_location", "p_value", "n_members", "members"]
MEMBER_COLUMNS = ["index_variant", "variant_index", "rsid", "p_value", "r2", "kb"]


@dataclass(frozen=True)
class ClumpResult:
    """Clumps formed by :func:`clump`.

    Attributes
    ----------
    index
        One row per clump, in the order PLINK forms them (increasing index p,
        ties by .bim position): ``variant_index`` (row in the .bim), ``rsid``,
        ``chromosome``, ``base_pair_location``, ``p_value``, ``n_members``
        (listed members, PLINK's ``SP2`` count) and ``members`` (their IDs,
        comma-separated in .bim order; empty string for none).
    members
        One row per (clump, member): ``index_variant`` (variant_index of the
        clump's index variant), ``variant_index``, ``rsid``, ``p_value``,
        ``r2`` (haplotype r^2, unsigned) and ``kb`` (signed distance to the
        index variant in kilobases).
    config
        The settings used.
    n_samples
        Number of samples whose genotypes gave r^2.
    """

    index: pd.DataFrame
    members: pd.DataFrame
    config: ClumpConfig
    n_samples: int
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def index_variants(self) -> npt.NDArray[np.intp]:
        """variant_index of the clump index variants, in clump order."""
        return self.index["variant_index"].to_numpy(dtype=np.intp)

    def member_map(self) -> dict[int, list[int]]:
        """``{index variant_index: [member variant_index, ...]}`` for every clump."""
        out: dict[int, list[int]] = {int(v): [] for v in self.index["variant_index"]}
        for idx, grp in self.members.groupby("index_variant", sort=False):
            out[int(str(idx))] = [int(v) for v in grp["variant_index"]]
        return out


# --------------------------------------------------------------------- r^2


def _cubic_real_roots(
    a: npt.NDArray[np.float64], b: npt.NDArray[np.float64], c: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.intp]]:
    """Real roots of ``x^3 + a x^2 + b x + c``, vectorised, as PLINK's ``cubic_real_roots``.

    Returns
    -------
    roots
        ``(m, 3)`` float64, ascending, unused slots ``+inf``.
    count
        ``(m,)`` number of distinct real roots (1 to 3); roots closer than
        2^-30 count once.
    """
    m = a.shape[0]
    roots = np.full((m, 3), np.inf)
    count = np.ones(m, dtype=np.intp)
    a2 = a * a
    qq = (a2 - 3.0 * b) * (1.0 / 9.0)
    rr = (2.0 * a2 * a - 9.0 * a * b + 27.0 * c) * (1.0 / 54.0)
    r2 = rr * rr
    q3 = qq * qq * qq
    adiv3 = a * (1.0 / 3.0)
    three = r2 < q3
    with np.errstate(invalid="ignore", divide="ignore"):
        if three.any():
            sq = np.sqrt(qq[three])
            t = np.arccos(rr[three] / (qq[three] * sq)) * (1.0 / 3.0)
            sq = sq * -2.0
            ad = adiv3[three]
            s = np.sort(
                np.stack(
                    [
                        sq * np.cos(t) - ad,
                        sq * np.cos(t + 2.0 * np.pi / 3.0) - ad,
                        sq * np.cos(t - 2.0 * np.pi / 3.0) - ad,
                    ],
                    axis=1,
                ),
                axis=1,
            )
            first_dup = s[:, 1] - s[:, 0] < EPSILON
            # duplicate first pair: keep s0 and s2 (if s2 differs from s0)
            out = s.copy()
            out[first_dup, 1] = s[first_dup, 2]
            cnt = np.where(
                first_dup, np.where(out[:, 1] - out[:, 0] < EPSILON, 1, 2), np.where(s[:, 2] - s[:, 1] < EPSILON, 2, 3)
            )
            slot = np.arange(3)[None, :]
            out = np.where(slot < cnt[:, None], out, np.inf)
            roots[three] = out
            count[three] = cnt
        one = ~three
        if one.any():
            rr1 = rr[one]
            dxx = -np.power(np.abs(rr1) + np.sqrt(r2[one] - q3[one]), 1.0 / 3.0)
            ad = adiv3[one]
            zero = dxx == 0.0
            dxx = np.where(rr1 < 0.0, -dxx, dxx)
            sqv = np.where(zero, 0.0, qq[one] / np.where(zero, 1.0, dxx))
            s0 = np.where(zero, -ad, dxx + sqv - ad)
            double = (~zero) & (np.abs(dxx - sqv) < EPSILON * 8)
            other = -dxx - ad
            lo = np.where(double & (dxx >= 0.0), other, s0)
            hi = np.where(double, np.where(dxx >= 0.0, s0, other), np.inf)
            block = np.full((int(one.sum()), 3), np.inf)
            block[:, 0] = lo
            block[:, 1] = hi
            roots[one] = block
            count[one] = np.where(double, 2, 1)
    return roots, count


def _lnlike(
    k: npt.NDArray[np.float64],
    center: npt.NDArray[np.float64],
    f: npt.NDArray[np.float64],
    half: npt.NDArray[np.float64],
    x: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    """Two-locus log-likelihood at haplotype-11 increment ``x``.

    Shapes: ``k`` and ``f`` ``(m, 4)``, ``center`` and ``half`` ``(m,)``, ``x`` ``(m, s)``.
    """
    f11 = f[:, 0:1] + x
    f22 = f[:, 3:4] + x
    f12 = f[:, 1:2] + half[:, None] - x
    f21 = f[:, 2:3] + half[:, None] - x
    with np.errstate(invalid="ignore", divide="ignore"):
        ll = center[:, None] * np.log(f11 * f22 + f12 * f21)
        for j, fj in enumerate((f11, f12, f21, f22)):
            kj = k[:, j : j + 1]
            ll = ll + np.where(kj != 0.0, kj * np.log(np.where(kj != 0.0, fj, 1.0)), 0.0)
    return np.asarray(ll)


def haplotype_r2(table: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Signed haplotype r^2 from two-locus genotype count tables, as PLINK 1.9 ``--clump``.

    Parameters
    ----------
    table
        ``(m, 3, 3)`` counts of samples by (genotype at locus 1, genotype at
        locus 2), genotypes ordered the same way at both loci (e.g. 2, 1, 0
        copies of A1); only samples called at both loci.

    Returns
    -------
    ``(m,)`` float64: ``D |D| / (p1 q1 p2 q2)`` from the maximum-likelihood
    haplotype frequencies (so ``abs`` is r^2 and the sign is the sign of D);
    0 where ``|D| < 2^-44``; NaN where a locus is monomorphic over the
    samples called at both (PLINK skips such pairs).
    """
    t = np.asarray(table, dtype=np.float64).reshape(-1, 9)
    k = np.stack(
        [
            2 * t[:, 0] + t[:, 1] + t[:, 3],
            2 * t[:, 2] + t[:, 1] + t[:, 5],
            2 * t[:, 6] + t[:, 3] + t[:, 7],
            2 * t[:, 8] + t[:, 5] + t[:, 7],
        ],
        axis=1,
    )
    center = t[:, 4]
    m = t.shape[0]
    twice_tot = k.sum(axis=1) + 2.0 * center
    ok = twice_tot > 0
    recip = np.where(ok, 1.0 / np.where(ok, twice_tot, 1.0), 0.0)
    f = k * recip[:, None]
    half = center * recip
    p1122 = f[:, 0] * f[:, 3]
    p1221 = f[:, 1] * f[:, 2]
    freq1x = f[:, 0] + f[:, 1] + half
    freq2x = 1.0 - freq1x
    freqx1 = f[:, 0] + f[:, 2] + half
    freqx2 = 1.0 - freqx1
    has_center = center > 0
    no_prod = (p1122 == 0.0) & (p1221 == 0.0)
    ok &= has_center | ~no_prod

    # candidate haplotype-11 increments, (m, 3), unusable slots NaN
    sols = np.full((m, 3), np.nan)
    cubic = has_center & ~no_prod & ok
    if cubic.any():
        fc, hc = f[cubic], half[cubic]
        a = 0.5 * (fc[:, 0] + fc[:, 3] - fc[:, 1] - fc[:, 2] - 3.0 * hc)
        b = 0.5 * (p1122[cubic] + p1221[cubic] + hc * (fc[:, 1] + fc[:, 2] - fc[:, 0] - fc[:, 3] + hc))
        c = -0.5 * hc * p1122[cubic]
        roots, cnt = _cubic_real_roots(a, b, c)
        slot = np.arange(3)[None, :]
        valid = (slot < cnt[:, None]) & (roots <= hc[:, None] + SMALLISH_EPSILON) & (roots >= -SMALLISH_EPSILON)
        none = ~valid.any(axis=1)
        r = np.where(valid, np.clip(roots, 0.0, hc[:, None]), np.nan)
        # compact the valid roots to the left, keeping their order
        order = np.argsort(~valid, axis=1, kind="stable")
        r = np.take_along_axis(r, order, axis=1)
        r[none, 0] = 0.0
        r[none, 1] = hc[none]
        sols[cubic] = r
    flat = has_center & no_prod & ok
    if flat.any():
        ff, hf = f[flat], half[flat]
        mid_ok = (ff[:, 3] + SMALLISH_EPSILON < hf + ff[:, 2]) & (ff[:, 2] + SMALLISH_EPSILON < hf + ff[:, 3])
        block = np.full((int(flat.sum()), 3), np.nan)
        block[:, 0] = 0.0
        block[:, 1] = np.where(mid_ok, (hf + ff[:, 2] - ff[:, 3]) * 0.5, hf)
        block[:, 2] = np.where(mid_ok, hf, np.nan)
        sols[flat] = block
    freq11 = f[:, 0].copy()
    withc = has_center & ok
    if withc.any():
        s = sols[withc]
        ll = _lnlike(k[withc], center[withc], f[withc], half[withc], np.nan_to_num(s))
        ll = np.where(np.isnan(s), -np.inf, ll)
        # PLINK keeps the first solution unless a later one beats the *first*
        # solution's likelihood; then the last such one wins.
        beats = ll[:, 1:] > ll[:, :1]
        last = np.where(beats.any(axis=1), 2 - np.argmax(beats[:, ::-1], axis=1), 0)
        freq11[withc] += s[np.arange(s.shape[0]), last]
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = freqx1 * freq1x
        d = freq11 - expected
        r2 = np.where(np.abs(d) >= SMALL_EPSILON, np.abs(d) * d / (expected * freq2x * freqx2), 0.0)
    r2 = np.where(ok, r2, np.nan)
    return np.asarray(r2, dtype=np.float64)


def _pair_tables(index_geno: npt.NDArray[np.int8], window: npt.NDArray[np.int8]) -> npt.NDArray[np.float64]:
    """3 x 3 genotype tables of one variant against each window variant, by one matrix product.

    ``index_geno`` ``(n,)`` and ``window`` ``(n, m)`` are int8 A1 counts, -1
    missing. Rows/columns of each table are 2, 1, 0 copies of A1 (PLINK's bed
    codes 00, 10, 11), over samples called at both.
    """
    ind = np.stack([index_geno == 2, index_geno == 1, index_geno == 0], axis=1).astype(np.float32)  # (n, 3)
    w = window
    called = (w >= 0).astype(np.float32)
    two = (w == 2).astype(np.float32)
    one = (w == 1).astype(np.float32)
    prod = ind.T @ np.concatenate([called, two, one], axis=1)  # (3, 3m), exact integers in float32 below 2^24
    m = w.shape[1]
    called_ct, two_ct, one_ct = prod[:, :m], prod[:, m : 2 * m], prod[:, 2 * m :]
    zero_ct = called_ct - two_ct - one_ct
    tab = np.stack([two_ct, one_ct, zero_ct], axis=2)  # (3 index classes, m, 3 window classes)
    return np.transpose(tab, (1, 0, 2)).astype(np.float64)


# --------------------------------------------------------------------- clumping


def _check_table(table: pd.DataFrame, n_variants: int) -> pd.DataFrame:
    for col in ("variant_index", "p_value"):
        if col not in table.columns:
            raise GenoptError(
                f"association table has no {col!r} column (columns: {', '.join(map(str, table.columns))})"
            )
    vi = pd.to_numeric(table["variant_index"], errors="coerce")
    p = pd.to_numeric(table["p_value"], errors="coerce").astype(np.float64)
    rsid = table["rsid"].astype(str) if "rsid" in table.columns else vi.astype(str)
    bad_vi = vi.isna() | (vi < 0) | (vi >= n_variants) | (vi != vi.round())
    if bad_vi.any():
        i = int(np.flatnonzero(bad_vi.to_numpy())[0])
        raise GenoptError(
            f"variant_index {table['variant_index'].iloc[i]!r} (row {i + 1}, {rsid.iloc[i]}) "
            f"is not a row of the .bim ({n_variants} variants)"
        )
    vi = vi.astype(np.int64)
    dup = vi.duplicated()
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        raise GenoptError(
            f"variant_index {int(vi.iloc[i])} ({rsid.iloc[i]}) appears more than once in the association table"
        )
    bad_p = (p < 0) | (p > 1)
    if bad_p.any():
        i = int(np.flatnonzero(bad_p.to_numpy())[0])
        raise GenoptError(
            f"p_value {p.iloc[i]!r} of {rsid.iloc[i]} (variant_index {int(vi.iloc[i])}) is outside [0, 1]"
        )
    out = pd.DataFrame({"variant_index": vi.to_numpy(np.intp), "p_value": p.to_numpy(), "rsid": rsid.to_numpy()})
    return out[np.isfinite(out["p_value"].to_numpy())].reset_index(drop=True)


def _check_config(config: ClumpConfig) -> None:
    for name in ("p1", "p2"):
        v = getattr(config, name)
        if not (0.0 < v <= 1.0):
            raise GenoptError(f"clump {name} = {v!r} must be in (0, 1]")
    if not config.r2 < 1.0:
        raise GenoptError(f"clump r2 = {config.r2!r} must be below 1")
    if config.kb <= 0:
        raise GenoptError(f"clump kb = {config.kb!r} must be positive")


def clump(
    table: pd.DataFrame,
    fileset: PlinkFileset,
    config: ClumpConfig | None = None,
    samples: Sequence[int] | npt.NDArray[np.integer] | None = None,
    window_block: int = 2048,
) -> ClumpResult:
    """Greedy LD clumping of association results, as ``plink1.9 --clump``.

    Parameters
    ----------
    table
        One row per variant: ``variant_index`` (row in ``fileset``'s .bim),
        ``p_value`` (NaN rows are ignored) and optionally ``rsid``. Variants
        absent from the table take no part (as variants absent from a PLINK
        ``--clump`` file).
    fileset
        Genotypes giving r^2 (the reference panel); positions and
        chromosomes come from its .bim.
    config
        ``p1``, ``p2``, ``r2``, ``kb`` as ``--clump-p1/-p2/-r2/-kb``.
    samples
        Indices into ``fileset``'s .fam of the samples whose genotypes give
        r^2 (e.g. a training fold). None: the founders, as PLINK does (all
        samples when the .fam names no parents).
    window_block
        Window variants decoded at a time (bounds memory to about
        ``n_samples x window_block x 13`` bytes whatever the window size).

    Returns
    -------
    :class:`ClumpResult`.
    """
    config = config or ClumpConfig()
    _check_config(config)
    tab = _check_table(table, fileset.n_variants)
    if samples is None:
        s_idx = np.flatnonzero(founder_mask(fileset.samples)).astype(np.intp)
    else:
        s_idx = np.asarray(samples, dtype=np.intp).reshape(-1)
        if s_idx.size and (s_idx.min() < 0 or s_idx.max() >= fileset.n_samples):
            raise GenoptError(f"sample index out of range for {fileset.prefix} ({fileset.n_samples} samples)")
    if s_idx.size == 0:
        raise GenoptError(f"no samples to compute LD from in {fileset.prefix}")

    load_p = max(config.p2, _LOAD_P_FLOOR)
    if config.p1 >= load_p:
        load_p = config.p1 * (1.0 + SMALL_EPSILON)
    loaded = tab[tab["p_value"].to_numpy() <= load_p]
    bim = fileset.variants
    chrom_all = bim["chrom"].astype(str).to_numpy()
    pos_all = bim["pos"].to_numpy(np.int64)
    ids_all = bim["id"].astype(str).to_numpy()

    n_var = fileset.n_variants
    pval = np.full(n_var, np.nan)
    pval[loaded["variant_index"].to_numpy()] = loaded["p_value"].to_numpy()
    present = np.isfinite(pval)
    absorbed = np.zeros(n_var, dtype=bool)
    radius = int(config.kb * 1000 * (1 + SMALL_EPSILON)) - 1

    # index candidates: p <= p1, by p then .bim position
    cand = loaded[loaded["p_value"].to_numpy() <= config.p1]
    order = np.lexsort((cand["variant_index"].to_numpy(), cand["p_value"].to_numpy()))
    index_order = cand["variant_index"].to_numpy()[order]

    # per-chromosome sorted positions of the loaded variants, for window look-ups
    loaded_idx = np.flatnonzero(present)
    by_chrom: dict[str, tuple[npt.NDArray[np.int64], npt.NDArray[np.intp]]] = {}
    for ch in pd.unique(chrom_all[loaded_idx]):
        members_ch = loaded_idx[chrom_all[loaded_idx] == ch]
        o = np.argsort(pos_all[members_ch], kind="stable")
        by_chrom[str(ch)] = (pos_all[members_ch][o], members_ch[o])

    index_rows: list[tuple[Any, ...]] = []
    member_parts: list[tuple[npt.NDArray[np.intp], npt.NDArray[np.intp], npt.NDArray[np.float64]]] = []
    for iv in index_order:
        if absorbed[iv]:
            continue
        ch = chrom_all[iv]
        pos_sorted, var_sorted = by_chrom[ch]
        lo = np.searchsorted(pos_sorted, pos_all[iv] - radius, side="left")
        hi = np.searchsorted(pos_sorted, pos_all[iv] + radius, side="right")
        win = var_sorted[lo:hi]
        win = win[(win != iv) & ~absorbed[win]]
        win = np.sort(win)
        mem = np.empty(0, dtype=np.intp)
        r2 = np.empty(0)
        if win.size:
            index_geno = fileset.read_int8(variants=[iv], samples=s_idx)[:, 0]
            r2s = np.concatenate(
                [
                    haplotype_r2(_pair_tables(index_geno, fileset.read_int8(variants=block, samples=s_idx)))
                    for block in np.array_split(win, -(-win.size // window_block))
                ]
            )
            hit = np.abs(r2s) > config.r2
            hit &= np.isfinite(r2s)
            absorbed[win[hit]] = True
            listed = hit & (pval[win] < config.p2)
            mem, r2 = win[listed], np.abs(r2s[listed])
        index_rows.append(
            (int(iv), ids_all[iv], ch, int(pos_all[iv]), float(pval[iv]), int(mem.size), ",".join(ids_all[mem]))
        )
        if mem.size:
            member_parts.append((np.full(mem.size, iv, dtype=np.intp), mem, r2))
    index = pd.DataFrame(index_rows, columns=INDEX_COLUMNS)
    index = index.astype(
        {"variant_index": np.intp, "n_members": np.int64, "p_value": np.float64, "base_pair_location": np.int64}
    )
    if member_parts:
        owner, mem_all, r2_all = (np.concatenate(x) for x in zip(*member_parts, strict=True))
    else:
        owner, mem_all, r2_all = np.empty(0, np.intp), np.empty(0, np.intp), np.empty(0)
    members = pd.DataFrame(
        {
            "index_variant": owner,
            "variant_index": mem_all,
            "rsid": ids_all[mem_all].astype(object),
            "p_value": pval[mem_all],
            "r2": r2_all,
            "kb": (pos_all[mem_all] - pos_all[owner]) / 1000.0,
        }
    )
    meta = {
        "n_loaded": int(present.sum()),
        "n_index_candidates": int(index_order.size),
        "load_p": load_p,
        "bp_radius": radius,
    }
    return ClumpResult(index=index, members=members, config=config, n_samples=int(s_idx.size), meta=meta)


def write_clumps(result: ClumpResult, path: str | Path) -> None:
    """Write the clump table (:attr:`ClumpResult.index`) as TSV, atomically."""
    write_tsv(path, result.index, float_format="%.6g")
