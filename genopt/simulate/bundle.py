"""The bundled cohorts of ``data/``: donor pools, recombination, phenotypes, summary figures."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from genopt.assoc.scan import lambda_gc
from genopt.config import PhenotypeSimConfig, RecombineConfig
from genopt.io.atomic import write_text, write_tsv
from genopt.io.plink import PlinkFileset, open_plink, write_plink
from genopt.io.tables import read_population_labels
from genopt.relatedness import king_robust
from genopt.simulate._common import _match_variants, _standardise_columns, _truncated_svd
from genopt.simulate.ld import ld_decay, plot_ld_decay
from genopt.simulate.phenotype import apply_truth, simulate_phenotype, write_phenotype_files
from genopt.simulate.recombination import _donor_indices, _labels_for, recombine, shuffle_genotypes

#: Parameters of the bundled cohorts (see data/README.md for why).
BUNDLE_PHENOTYPE = PhenotypeSimConfig(
    h2=0.5, n_causal=30, causal_maf=0.05, prevalence=0.5, sex_effect=0.2, age_effect=0.1, ancestry_effect=0.05
)
#: Cohort name -> (number of people, donor source).
BUNDLE_COHORTS = {"discovery": (4000, "hm3"), "heldout_a": (2000, "hm3"), "heldout_b": (2000, "kg1")}
#: Fraction of (relatedness groups of) each hm3 population that donates to discovery.
BUNDLE_DISCOVERY_FRACTION = 0.6
#: KING-robust kinship at or above which two reference people are kept in one donor pool (second degree).
BUNDLE_KINSHIP = 0.0884
BUNDLE_SEGMENT_CM = 10.0


def _related_groups(kinship: npt.NDArray[np.float64], threshold: float) -> npt.NDArray[np.intp]:
    """Connected components of the graph 'kinship >= threshold' (component label per person)."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    adj = np.nan_to_num(kinship, nan=0.0) >= threshold
    _, comp = connected_components(csr_matrix(adj.astype(np.int8)), directed=False)
    return np.asarray(comp, dtype=np.intp)


def split_donor_pools(
    hm3: PlinkFileset,
    kg1: PlinkFileset,
    hm3_labels: pd.DataFrame,
    kg1_labels: pd.DataFrame,
    seed: int = 0,
    discovery_fraction: float = BUNDLE_DISCOVERY_FRACTION,
    kinship_threshold: float = BUNDLE_KINSHIP,
) -> pd.DataFrame:
    """Disjoint donor pools: discovery and held-out A from hm3, held-out B from kg1.

    People of both sets are grouped by relatedness (KING-robust kinship >=
    ``kinship_threshold`` on the shared variants, matched by ID; duplicates,
    such as the 564 people in both sets, have kinship ~0.5). Within each hm3
    population, whole groups are assigned at random to discovery until
    ``discovery_fraction`` of the population is reached, the rest to held-out
    A. Held-out B takes kg1 people whose IID is not in hm3, who have a
    population label and whose group contains nobody from hm3. No real person,
    and no pair of relatives, is split across pools.

    Returns
    -------
    DataFrame ``pool source FID IID population`` (pool one of ``discovery``,
    ``heldout_a``, ``heldout_b``), sorted by pool then source order.
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, 4]))
    cols, flip = _match_variants(kg1.variants, hm3.variants, "hm3")
    g_hm3 = hm3.read_int8()
    g_kg1 = kg1.read_int8(variants=cols)
    g_kg1 = np.where(flip[None, :] & (g_kg1 >= 0), 2 - g_kg1, g_kg1).astype(np.int8)
    both = np.concatenate([g_hm3, g_kg1])
    comp = _related_groups(king_robust(both).kinship, kinship_threshold)
    n_h = hm3.n_samples
    comp_h, comp_k = comp[:n_h], comp[n_h:]
    hl = _labels_for(hm3, hm3_labels)
    kl = _labels_for(kg1, kg1_labels)
    # Random order of groups; within each population fill discovery group by group.
    group_rank = rng.permutation(comp.max() + 1)
    to_disc = np.zeros(comp.max() + 1, dtype=bool)
    decided = np.zeros(comp.max() + 1, dtype=bool)
    hl_str = np.array(["" if x is None else str(x) for x in hl])
    for pop in np.unique(hl_str):
        members = np.flatnonzero(hl_str == pop)
        groups = np.unique(comp_h[members])
        groups = groups[np.argsort(group_rank[groups])]
        target = discovery_fraction * members.size
        taken = 0
        for grp in groups:  # a loop over groups of one population (tens), not over genotypes
            if decided[grp]:
                continue
            size = int(np.sum(comp_h[members] == grp))
            to_disc[grp] = taken + size / 2 <= target
            taken += size if to_disc[grp] else 0
            decided[grp] = True
    hm3_pool = np.where(to_disc[comp_h], "discovery", "heldout_a")
    hm3_iids = set(hm3.samples["iid"].astype(str))
    kg_iid = kg1.samples["iid"].astype(str).to_numpy()
    related_to_hm3 = np.isin(comp_k, comp_h)
    keep_k = ~np.isin(kg_iid, list(hm3_iids)) & ~related_to_hm3 & np.array([x is not None for x in kl])
    frames = [
        pd.DataFrame(
            {
                "pool": hm3_pool,
                "source": "hm3",
                "FID": hm3.samples["fid"].to_numpy(),
                "IID": hm3.samples["iid"].to_numpy(),
                "population": hl,
            }
        ),
        pd.DataFrame(
            {
                "pool": "heldout_b",
                "source": "kg1",
                "FID": kg1.samples["fid"].to_numpy()[keep_k],
                "IID": kg_iid[keep_k],
                "population": kl[keep_k],
            }
        ),
    ]
    pools = pd.concat(frames, ignore_index=True)
    pools = pools[pools["population"].notna()]
    order = {"discovery": 0, "heldout_a": 1, "heldout_b": 2}
    return pools.sort_values("pool", key=lambda s: s.map(order), kind="stable").reset_index(drop=True)


def _assoc_chi2(
    genotypes: npt.NDArray[np.int8], y: npt.NDArray[Any], covars: npt.NDArray[np.float64] | None
) -> npt.NDArray[np.float64]:
    """Per-variant score-test chi-square (n r^2 of residualised y and genotype), vectorised."""
    x = genotypes.astype(np.float64)
    miss = x < 0
    mean = np.where(miss, 0.0, x).sum(0) / np.maximum((~miss).sum(0), 1)
    x = np.where(miss, mean[None, :], x)
    yy = y.astype(np.float64)
    design = np.ones((len(yy), 1)) if covars is None else np.column_stack([np.ones(len(yy)), covars])
    q, _ = np.linalg.qr(design)
    yr = yy - q @ (q.T @ yy)
    xr = x - q @ (q.T @ x)
    num = (xr * yr[:, None]).sum(0) ** 2
    den = (xr * xr).sum(0) * (yr @ yr)
    with np.errstate(invalid="ignore", divide="ignore"):
        r2 = np.where(den > 0, num / den, 0.0)
    return np.asarray(len(yy) * r2)


#: Chi-square (1 df) at p = 5e-8.
GWS_CHI2 = 29.7168


def _top_pcs(genotypes: npt.NDArray[np.int8], k: int, thin: int = 3) -> npt.NDArray[np.float64]:
    """Top ``k`` principal-component scores of standardised genotypes (every ``thin``-th variant).

    A quick summary tool for the bundle's README figures, not the pipeline's PCA.
    """
    x = genotypes[:, ::thin].astype(np.float64)
    x[x < 0] = np.nan
    z, _, _ = _standardise_columns(x)
    u, s, _ = _truncated_svd(z, k)
    order = np.argsort(s)[::-1]
    return np.asarray(u[:, order] * s[order])


def make_bundle(shared_data_dir: str | Path, out_dir: str | Path, seed: int = 2026) -> dict[str, Any]:
    """Regenerate the bundled cohorts of ``data/`` deterministically.

    Writes to ``out_dir``: ``{discovery,heldout_a,heldout_b}.bed/.bim/.fam``
    (A1 counts of each source's .bim A1; heldout_b keeps kg1's .bim, whose
    positions are on another build), ``<cohort>.pheno.tsv`` (``FID IID
    cooperate``, 1 = cooperate, 0 = defect), ``<cohort>.covar.tsv`` (``FID IID
    sex age``; sex 1 male, 2 female), ``truth.tsv`` (shared by all three),
    ``donors.tsv`` (the disjoint donor pools), ``people.tsv`` (per new person:
    cohort, population, number of segments and distinct donors),
    ``ld_decay.tsv`` and ``ld_decay.png`` (LD decay of references, recombined
    cohorts and a shuffled negative control) and ``summary.json``.

    Parameters
    ----------
    shared_data_dir
        Folder with ``hapmap3/hm3.*``, ``kg1/kg1.*`` and their
        ``population_labels.tsv``.
    out_dir
        Output folder (created).
    seed
        Drives every random choice (pool split, recombination, phenotypes).

    Returns
    -------
    The summary written to ``summary.json``.
    """
    import json

    shared = Path(shared_data_dir)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    hm3 = open_plink(shared / "hapmap3" / "hm3")
    kg1 = open_plink(shared / "kg1" / "kg1")
    hm3_labels = read_population_labels(shared / "hapmap3" / "population_labels.tsv")
    kg1_labels = read_population_labels(shared / "kg1" / "population_labels.tsv")
    pools = split_donor_pools(hm3, kg1, hm3_labels, kg1_labels, seed=seed)
    write_tsv(out / "donors.tsv", pools)
    sources = {"hm3": hm3, "kg1": kg1}
    labels = {"hm3": hm3_labels, "kg1": kg1_labels}
    cohorts: dict[str, tuple[npt.NDArray[np.int8], pd.DataFrame, pd.DataFrame]] = {}
    people: list[pd.DataFrame] = []
    prefixes = {"discovery": "D", "heldout_a": "A", "heldout_b": "B"}
    for k, (name, (n, source)) in enumerate(BUNDLE_COHORTS.items()):
        fs = sources[source]
        donor_iids = pools.loc[pools["pool"] == name, "IID"].to_numpy()
        cfg = RecombineConfig(n_samples=n, segment_cm=BUNDLE_SEGMENT_CM, within_population=True, seed=seed + 1 + k)
        g, v, s, prov = recombine(fs, cfg, populations=labels[source], donors=donor_iids, prefix=prefixes[name])
        cohorts[name] = (g, v, s)
        per = prov.groupby("IID", sort=False).agg(n_segments=("donor_iid", "size"), n_donors=("donor_iid", "nunique"))
        people.append(
            pd.DataFrame(
                {
                    "cohort": name,
                    "FID": s["fid"].to_numpy(),
                    "IID": s["iid"].to_numpy(),
                    "population": s["population"].to_numpy(),
                    "donor_source": source,
                    "n_segments": per.loc[s["iid"], "n_segments"].to_numpy(),
                    "n_donors": per.loc[s["iid"], "n_donors"].to_numpy(),
                }
            )
        )
    write_tsv(out / "people.tsv", pd.concat(people, ignore_index=True))

    summary: dict[str, Any] = {
        "seed": seed,
        "phenotype": {k: getattr(BUNDLE_PHENOTYPE, k) for k in BUNDLE_PHENOTYPE.__dataclass_fields__ if k != "seed"},
        "phenotype_seeds": {"discovery": seed + 11, "heldout_a": seed + 12, "heldout_b": seed + 13},
        "recombine_seeds": {name: seed + 1 + k for k, name in enumerate(BUNDLE_COHORTS)},
        "segment_cm": BUNDLE_SEGMENT_CM,
        "discovery_fraction": BUNDLE_DISCOVERY_FRACTION,
        "kinship_threshold": BUNDLE_KINSHIP,
        "donors": {p: int((pools["pool"] == p).sum()) for p in BUNDLE_COHORTS},
        "cohorts": {},
    }
    disc_g, disc_v, disc_s = cohorts["discovery"]
    disc_cfg = replace(BUNDLE_PHENOTYPE, seed=seed + 11)
    disc = simulate_phenotype(disc_g, disc_cfg, variants=disc_v, samples=disc_s)
    truth = disc.truth
    write_tsv(out / "truth.tsv", truth, float_format="%.6g")
    sims = {"discovery": disc}
    for k, name in enumerate(["heldout_a", "heldout_b"]):
        g, v, s = cohorts[name]
        held_cfg = replace(BUNDLE_PHENOTYPE, seed=seed + 12 + k)
        sims[name] = apply_truth(g, truth, held_cfg, ancestry=disc.ancestry_axis, variants=v, samples=s)
    for name, sim in sims.items():
        g, v, s = cohorts[name]
        fam = s.drop(columns="population").copy()
        fam["sex"] = sim.covariates["sex"].to_numpy().astype(np.int8)
        write_plink(out / name, g, v, fam)
        write_phenotype_files(sim, out / name, truth=False)
        y = sim.cooperate
        chi_raw = _assoc_chi2(g, y, None)
        pcs = _top_pcs(g, 10)
        chi_pc1 = _assoc_chi2(g, y, pcs[:, :1])
        chi_pc = _assoc_chi2(g, y, pcs)
        causal = pd.Index(v["id"]).get_indexer(truth["rsid"])
        null = np.setdiff1d(np.arange(len(v)), causal)
        summary["cohorts"][name] = {
            "n": len(y),
            "cooperate": int(y.sum()),
            "defect": int((1 - y).sum()),
            "variants": len(v),
            "realised_h2_liability": round(sim.realised_h2, 4),
            "genetic_variance": round(float(sim.genetic.var()), 4),
            "lambda_no_pcs": round(lambda_gc(chi_raw[null]), 3),
            "lambda_pc1": round(lambda_gc(chi_pc1[null]), 3),
            "lambda_pc1_10": round(lambda_gc(chi_pc[null]), 3),
            "causal_p_below_5e-8_no_pcs": int(np.sum(chi_raw[causal] > GWS_CHI2)),
            "causal_p_below_5e-8_pc1_10": int(np.sum(chi_pc[causal] > GWS_CHI2)),
            "null_p_below_5e-8_no_pcs": int(np.sum(chi_raw[null] > GWS_CHI2)),
            "null_p_below_5e-8_pc1_10": int(np.sum(chi_pc[null] > GWS_CHI2)),
        }
    # LD decay: references (donor pools), recombined cohorts, negative control.
    curves: dict[str, pd.DataFrame] = {}
    rows = []
    for name, (g, v, _) in cohorts.items():
        source = BUNDLE_COHORTS[name][1]
        fs = sources[source]
        donor_idx = _donor_indices(fs, pools.loc[pools["pool"] == name, "IID"].to_numpy())
        ref = ld_decay(fs.read_int8(samples=donor_idx), fs.variants)
        sim_curve = ld_decay(g, v)
        shuf = ld_decay(shuffle_genotypes(g, seed=seed), v)
        floor = 1.0 / len(g)
        curves[f"{name} donors (n={donor_idx.size})"] = ref
        curves[f"{name} recombined (n={len(g)}), r2 - 1/n"] = sim_curve.assign(mean_r2=sim_curve["mean_r2"] - floor)
        if name == "discovery":
            curves[f"{name} shuffled control, r2 - 1/n"] = shuf.assign(mean_r2=shuf["mean_r2"] - floor)
        for kind, curve in (("donors", ref), ("recombined", sim_curve), ("shuffled", shuf)):
            rows.append(curve.assign(cohort=name, kind=kind, n=donor_idx.size if kind == "donors" else len(g)))
    write_tsv(out / "ld_decay.tsv", pd.concat(rows, ignore_index=True), float_format="%.6g")
    plot_ld_decay(curves, out / "ld_decay.png")
    write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    return summary
