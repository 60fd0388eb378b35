"""Tests of genopt.simulate: phenotypes with a known truth, recombined cohorts, the bundled data."""

from __future__ import annotations

import gzip
import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import FIXTURES, REPO, SHARED
from scipy.stats import norm

from genopt.assoc.scan import lambda_gc
from genopt.config import PhenotypeSimConfig, RecombineConfig
from genopt.errors import GenoptError
from genopt.io.plink import PlinkFileset, open_plink
from genopt.io.tables import read_population_labels
from genopt.relatedness import king_robust
from genopt.simulate import (
    TRUTH_COLUMNS,
    apply_truth,
    genetic_positions,
    ld_decay,
    read_truth,
    recombine,
    shuffle_genotypes,
    simulate_phenotype,
    write_phenotype_files,
    write_recombined,
)
from genopt.simulate.bundle import _assoc_chi2

DATA = REPO / "data"
Recombined = tuple[PlinkFileset, tuple[np.ndarray, pd.DataFrame, pd.DataFrame, pd.DataFrame]]


# ---------------------------------------------------------------------------
# Shared inputs
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def synthetic() -> np.ndarray:
    """20,000 unrelated people x 300 independent variants (A1 freq 0.05-0.95)."""
    rng = np.random.default_rng(7)
    p = rng.uniform(0.05, 0.95, size=300)
    return rng.binomial(2, p, size=(20_000, 300)).astype(np.float32)


@pytest.fixture(scope="module")
def hm3_labels(hm3_prefix: Path) -> pd.DataFrame:
    return read_population_labels(hm3_prefix.parent / "population_labels.tsv")


@pytest.fixture(scope="module")
def recombined(hm3_prefix: Path, hm3_labels: pd.DataFrame) -> Recombined:
    fs = open_plink(hm3_prefix)
    cfg = RecombineConfig(n_samples=3000, segment_cm=10.0, within_population=True, seed=11)
    return fs, recombine(fs, cfg, populations=hm3_labels)


# ---------------------------------------------------------------------------
# Phenotype simulation
# ---------------------------------------------------------------------------


def test_realised_h2_and_prevalence_near_configured(synthetic: np.ndarray) -> None:
    n = synthetic.shape[0]
    cfg = PhenotypeSimConfig(h2=0.4, n_causal=50, prevalence=0.3, ancestry_effect=0.0, seed=3)
    sim = simulate_phenotype(synthetic, cfg)
    # var(G) = h2 exactly; var(L) = 1 up to sampling error SD ~ sqrt(2 / n) = 0.01.
    assert sim.genetic.var() == pytest.approx(0.4, abs=1e-9)
    assert sim.liability.var() == pytest.approx(1.0, abs=5 * np.sqrt(2 / n))
    assert sim.realised_h2 == pytest.approx(0.4, abs=5 * 0.4 * np.sqrt(2 / n))
    # Independently of how G was built: OLS R^2 of the liability on the causal genotypes.
    cols = np.array([int(r[1:]) - 1 for r in sim.truth["rsid"]])
    x = np.column_stack([np.ones(n), synthetic[:, cols]])
    fitted = x @ np.linalg.lstsq(x, sim.liability, rcond=None)[0]
    r2 = 1 - np.var(sim.liability - fitted) / np.var(sim.liability)
    assert r2 == pytest.approx(0.4, abs=0.03)
    # Threshold at the prevalence quantile: exact up to one person.
    assert abs(sim.prevalence - 0.3) <= 1 / n
    assert sim.threshold == pytest.approx(norm.ppf(0.7), abs=0.05)
    # The binary scale follows the model: probit slope on G is 1 / SD(noise + covariates).
    import statsmodels.api as sm

    covs = np.column_stack([sim.genetic, sim.sex_part, sim.age_part])
    fit = sm.Probit(sim.cooperate, sm.add_constant(covs)).fit(disp=0)
    resid_sd = np.sqrt(1 - 0.4 - 0.25 * cfg.sex_effect**2 - cfg.age_effect**2)
    assert fit.params[1] == pytest.approx(1 / resid_sd, rel=0.08)


def test_truth_table_describes_the_causal_variants(synthetic: np.ndarray) -> None:
    cfg = PhenotypeSimConfig(h2=0.4, n_causal=20, causal_maf=0.1, seed=1)
    sim = simulate_phenotype(synthetic, cfg)
    truth = sim.truth
    assert list(truth.columns) == TRUTH_COLUMNS
    assert len(truth) == 20 and truth["rsid"].is_unique
    freq = truth["effect_allele_frequency"].to_numpy()
    assert np.all(np.minimum(freq, 1 - freq) >= 0.1)
    cols = np.array([int(r[1:]) - 1 for r in truth["rsid"]])
    assert np.allclose(freq, synthetic[:, cols].mean(0) / 2)
    # beta per A1 allele = standardised effect / sqrt(2p(1-p)), and G = sum beta (x - 2p).
    assert np.allclose(truth["beta"], truth["standardised_beta"] / np.sqrt(2 * freq * (1 - freq)))
    g = (synthetic[:, cols] - 2 * freq) @ truth["beta"].to_numpy()
    assert np.allclose(g, sim.genetic, atol=1e-4)
    table = sim.phenotype_table()
    assert list(table.columns) == ["FID", "IID", "cooperate"]
    assert set(np.unique(table["cooperate"])) == {0, 1}


def test_causal_variants_associate_more_than_null(synthetic: np.ndarray) -> None:
    sim = simulate_phenotype(synthetic[:4000], PhenotypeSimConfig(h2=0.5, n_causal=20, seed=5))
    chi2 = _assoc_chi2(synthetic[:4000].astype(np.int8), sim.cooperate, None)
    causal = np.array([int(r[1:]) - 1 for r in sim.truth["rsid"]])
    null = np.setdiff1d(np.arange(synthetic.shape[1]), causal)
    assert chi2[causal].mean() > 10 * chi2[null].mean()
    assert np.median(chi2[causal]) > np.quantile(chi2[null], 0.95)
    assert lambda_gc(chi2[null]) < 1.2


def test_same_seed_same_output_different_seed_different(synthetic: np.ndarray) -> None:
    g = synthetic[:2000]
    cfg = PhenotypeSimConfig(h2=0.5, n_causal=10, seed=42)
    a, b = simulate_phenotype(g, cfg), simulate_phenotype(g, cfg)
    pd.testing.assert_frame_equal(a.truth, b.truth)
    assert np.array_equal(a.cooperate, b.cooperate) and np.array_equal(a.liability, b.liability)
    pd.testing.assert_frame_equal(a.covariates, b.covariates)
    c = simulate_phenotype(g, replace(cfg, seed=43))
    assert not set(c.truth["rsid"]) == set(a.truth["rsid"])
    assert not np.array_equal(c.cooperate, a.cooperate)


def test_fileset_and_array_inputs_agree(hm3_prefix: Path) -> None:
    fs = open_plink(hm3_prefix)
    cfg = PhenotypeSimConfig(h2=0.3, n_causal=10, ancestry_effect=0.05, seed=9)
    a = simulate_phenotype(fs, cfg)
    b = simulate_phenotype(fs.read(), cfg, variants=fs.variants, samples=fs.samples)
    pd.testing.assert_frame_equal(a.truth, b.truth)
    assert np.array_equal(a.cooperate, b.cooperate)
    assert np.allclose(a.liability, b.liability)


def test_ancestry_effect_fools_analyses_without_pcs(recombined: Recombined) -> None:
    _, (g, v, s, _) = recombined
    base = PhenotypeSimConfig(h2=0.05, n_causal=5, ancestry_effect=0.0, seed=2)
    none = simulate_phenotype(g, base, variants=v, samples=s)
    conf = simulate_phenotype(g, replace(base, ancestry_effect=0.1), variants=v, samples=s)
    assert conf.ancestry_axis is not None
    pc1 = conf.ancestry_axis.score(g, v)
    thin = slice(None, None, 4)
    lam_none = lambda_gc(_assoc_chi2(g[:, thin], none.cooperate, None))
    lam_conf = lambda_gc(_assoc_chi2(g[:, thin], conf.cooperate, None))
    lam_conf_pc = lambda_gc(_assoc_chi2(g[:, thin], conf.cooperate, pc1[:, None]))
    assert lam_none < 1.3
    assert lam_conf > 2.0
    assert lam_conf_pc < 1.3


def test_apply_truth_reproduces_architecture_and_flips_swapped_alleles(synthetic: np.ndarray) -> None:
    g = synthetic[:3000]
    cfg = PhenotypeSimConfig(h2=0.5, n_causal=15, seed=4)
    disc = simulate_phenotype(g, cfg)
    same = apply_truth(g, disc.truth, cfg)
    assert np.allclose(same.genetic, disc.genetic)
    # A cohort whose .bim lists A1/A2 the other way round (and counts the other allele).
    other = synthetic[3000:6000]
    v = pd.DataFrame(
        {"chrom": "1", "id": [f"v{j + 1}" for j in range(300)], "cm": 0.0, "pos": np.arange(300) * 1000 + 1000}
    )
    fwd = apply_truth(other, disc.truth, cfg, variants=v.assign(a1="A", a2="G"))
    rev = apply_truth(2 - other, disc.truth, cfg, variants=v.assign(a1="G", a2="A"))
    assert np.allclose(fwd.genetic, rev.genetic)
    assert abs(fwd.prevalence - cfg.prevalence) <= 1 / len(other)
    assert fwd.genetic.var() == pytest.approx(0.5, rel=0.15)  # same frequencies, so similar variance


def test_apply_truth_bad_truth_is_a_user_error(synthetic: np.ndarray) -> None:
    cfg = PhenotypeSimConfig(h2=0.5, n_causal=5, seed=4)
    truth = simulate_phenotype(synthetic[:500], cfg).truth
    renamed = truth.assign(rsid=truth["rsid"].where(truth.index != 2, "rs_missing"))
    with pytest.raises(GenoptError, match="rs_missing"):
        apply_truth(synthetic[:500], renamed, cfg)
    wrong = truth.assign(other_allele=truth["other_allele"].where(truth.index != 0, "T"))
    with pytest.raises(GenoptError, match=str(truth["rsid"].iloc[0])):
        apply_truth(synthetic[:500], wrong, cfg)
    with pytest.raises(GenoptError, match="h2"):
        simulate_phenotype(synthetic[:500], replace(cfg, h2=0.95, ancestry_effect=0.1))


def test_phenotype_files_round_trip_and_bad_truth_file(synthetic: np.ndarray, tmp_path: Path) -> None:
    cfg = PhenotypeSimConfig(h2=0.5, n_causal=5, seed=4)
    sim = simulate_phenotype(synthetic[:300], cfg)
    paths = write_phenotype_files(sim, tmp_path / "sim")
    assert [p.name for p in paths] == ["sim.pheno.tsv", "sim.covar.tsv", "sim.truth.tsv"]
    pheno = pd.read_csv(paths[0], sep="\t")
    assert list(pheno.columns) == ["FID", "IID", "cooperate"]
    assert np.array_equal(pheno["cooperate"].to_numpy(), sim.cooperate)
    truth = read_truth(paths[2])
    assert list(truth["rsid"]) == list(sim.truth["rsid"])
    assert np.allclose(truth["beta"], sim.truth["beta"], rtol=1e-5)
    # The truth read back gives the same genetic liability.
    again = apply_truth(synthetic[:300], truth, cfg)
    assert np.allclose(again.genetic, sim.genetic, atol=1e-4)
    lines = paths[2].read_text().splitlines()
    lines[3] = lines[3].replace(lines[3].split("\t")[6], "big")
    bad = tmp_path / "bad.truth.tsv"
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(GenoptError, match=r"bad\.truth\.tsv, line 4: beta 'big'"):
        read_truth(bad)


# ---------------------------------------------------------------------------
# Recombination
# ---------------------------------------------------------------------------


def test_recombined_shape_provenance_and_populations(recombined: Recombined, hm3_labels: pd.DataFrame) -> None:
    fs, (g, v, s, prov) = recombined
    assert g.shape == (3000, fs.n_variants) and g.dtype == np.int8
    pd.testing.assert_frame_equal(v, fs.variants)
    assert s["iid"].is_unique and len(s) == 3000
    label = dict(zip(hm3_labels["IID"], hm3_labels["population"], strict=True))
    # Every segment's donor is from the new person's population.
    person_pop = dict(zip(s["iid"], s["population"], strict=True))
    assert (prov["donor_iid"].map(label) == prov["IID"].map(person_pop)).all()
    # The provenance rebuilds every genotype: segment k covers start_index..end_index (.bim is sorted).
    ref = fs.read_int8()
    donor_row = pd.Index(fs.samples["iid"]).get_indexer(prov["donor_iid"])
    person_row = pd.Index(s["iid"]).get_indexer(prov["IID"])
    length = (prov["end_index"] - prov["start_index"] + 1).to_numpy()
    assert length.sum() == 3000 * fs.n_variants
    cols = np.concatenate([np.arange(a, b + 1) for a, b in zip(prov["start_index"], prov["end_index"], strict=True)])
    rows = np.repeat(person_row, length)
    assert np.array_equal(g[rows, cols], ref[np.repeat(donor_row, length), cols])
    # Segment count: 1 per chromosome plus Poisson(gap / segment_cm) breakpoints.
    gpos = genetic_positions(fs.variants)
    chrom = fs.variants["chrom"].to_numpy()
    p_break = sum((1 - np.exp(-np.diff(gpos[chrom == c]) / 10.0)).sum() + 1 for c in pd.unique(chrom))
    assert len(prov) / 3000 == pytest.approx(p_break, rel=0.02)


def test_recombined_allele_frequencies_match_donors(recombined: Recombined) -> None:
    fs, (g, _, _, _) = recombined
    ref = fs.read_int8()

    def freq(x: np.ndarray) -> np.ndarray:
        ok = x >= 0
        return np.where(ok, x, 0).sum(0) / (2 * ok.sum(0))

    f_ref, f_new = freq(ref), freq(g)
    assert np.corrcoef(f_ref, f_new)[0, 1] > 0.99
    assert np.mean(np.abs(f_ref - f_new)) < 0.015
    assert np.mean(g < 0) == pytest.approx(np.mean(ref < 0), abs=5e-4)


def test_recombined_ld_decay_matches_reference_and_shuffled_does_not(recombined: Recombined) -> None:
    fs, (g, v, _, _) = recombined
    bins = (0, 25_000, 50_000, 100_000)
    ref = ld_decay(fs, bins=bins)
    new = ld_decay(g, v, bins=bins)
    shuf = ld_decay(shuffle_genotypes(g, seed=1), v, bins=bins)
    # A resample of the reference has E[r^2] ~ reference r^2 + 1/n (its own sampling floor).
    floor = 1 / len(g)
    assert (ref["n_pairs"] > 1000).all()
    rel = np.abs(new["mean_r2"] - floor - ref["mean_r2"]) / ref["mean_r2"]
    assert (rel < 0.10).all(), rel
    rel_shuf = np.abs(shuf["mean_r2"] - floor - ref["mean_r2"]) / ref["mean_r2"]
    assert (rel_shuf > 0.7).all(), rel_shuf


def test_recombine_respects_donor_pool_and_refuses_bad_pools(hm3_prefix: Path, hm3_labels: pd.DataFrame) -> None:
    fs = open_plink(hm3_prefix)
    donors = fs.samples["iid"].to_numpy()[::3]
    cfg = RecombineConfig(n_samples=200, seed=1)
    g1, _, _, prov = recombine(fs, cfg, populations=hm3_labels, donors=donors)
    assert set(prov["donor_iid"]) <= set(donors)
    g2, *_ = recombine(fs, cfg, populations=hm3_labels, donors=donors)
    assert np.array_equal(g1, g2)
    g3, *_ = recombine(fs, replace(cfg, seed=2), populations=hm3_labels, donors=donors)
    assert not np.array_equal(g1, g3)
    with pytest.raises(GenoptError, match="NOT_A_PERSON"):
        recombine(fs, cfg, donors=["NOT_A_PERSON"])
    one_ceu = hm3_labels.assign(population=np.where(hm3_labels["IID"] == hm3_labels["IID"].iloc[0], "SOLO", "X"))
    with pytest.raises(GenoptError, match="SOLO"):
        recombine(fs, cfg, populations=one_ceu)


# ---------------------------------------------------------------------------
# KING-robust kinship (donor pools) against plink2 --make-king-table
# ---------------------------------------------------------------------------


def test_donor_pool_kinship_matches_plink2(hm3_prefix: Path) -> None:
    """The kinship split_donor_pools groups people by (relatedness.king_robust on all variants)."""
    fs = open_plink(hm3_prefix)
    with gzip.open(FIXTURES / "simulate" / "hm3.kin0.gz", "rt") as handle:
        ref = pd.read_csv(handle, sep="\t")
    kin = king_robust(fs.read_int8()).kinship
    idx = pd.Index(fs.samples["iid"])
    i, j = idx.get_indexer(ref["IID1"]), idx.get_indexer(ref["IID2"])
    assert np.abs(kin[i, j] - ref["KINSHIP"].to_numpy()).max() < 1e-5
    upper = np.triu(kin >= 0.0442, 1)
    assert int(upper.sum()) == len(ref)


# ---------------------------------------------------------------------------
# The bundled data
# ---------------------------------------------------------------------------


def _readme_counts() -> dict[str, tuple[int, int, int]]:
    """Cohort -> (people, cooperate, defect) from the table in data/README.md."""
    text = (DATA / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `(\w+)` \| ([\d,]+) \| ([\d,]+) \| ([\d,]+) \|", text, flags=re.M)
    return {name: tuple(int(x.replace(",", "")) for x in nums) for name, *nums in rows}  # type: ignore[misc]


def test_bundled_cohorts_match_readme() -> None:
    total = sum(p.stat().st_size for p in DATA.iterdir() if p.is_file())
    assert total <= 50 * 2**20
    counts = _readme_counts()
    assert set(counts) == {"discovery", "heldout_a", "heldout_b"}
    summary = json.loads((DATA / "summary.json").read_text())
    truth = pd.read_csv(DATA / "truth.tsv", sep="\t")
    assert list(truth.columns) == TRUTH_COLUMNS and len(truth) == summary["phenotype"]["n_causal"]
    iids: dict[str, set[str]] = {}
    for name, (n, n_coop, n_def) in counts.items():
        fs = open_plink(DATA / name)
        assert fs.n_samples == n and fs.n_variants == 14_079
        assert n >= (4000 if name == "discovery" else 2000)
        pheno = pd.read_csv(DATA / f"{name}.pheno.tsv", sep="\t")
        covar = pd.read_csv(DATA / f"{name}.covar.tsv", sep="\t")
        assert list(pheno.columns) == ["FID", "IID", "cooperate"]
        assert list(covar.columns) == ["FID", "IID", "sex", "age"]
        assert (pheno["IID"].to_numpy() == fs.samples["iid"].to_numpy()).all()
        assert (covar["IID"].to_numpy() == fs.samples["iid"].to_numpy()).all()
        assert set(pheno["cooperate"]) == {0, 1}
        assert (int(pheno["cooperate"].sum()), int((pheno["cooperate"] == 0).sum())) == (n_coop, n_def)
        assert set(covar["sex"]) == {1, 2} and covar["age"].between(18, 80).all()
        assert (fs.samples["sex"].to_numpy() == covar["sex"].to_numpy()).all()
        assert summary["cohorts"][name]["cooperate"] == n_coop
        # Every truth variant is present with the same alleles (maybe another position in kg1).
        bim = fs.variants.set_index("id").loc[truth["rsid"]]
        assert (bim["a1"].to_numpy() == truth["effect_allele"].to_numpy()).all()
        assert (bim["a2"].to_numpy() == truth["other_allele"].to_numpy()).all()
        iids[name] = set(fs.samples["iid"])
    assert not (iids["discovery"] & iids["heldout_a"]) and not (iids["discovery"] & iids["heldout_b"])


def test_bundled_donor_pools_are_disjoint(hm3_prefix: Path) -> None:
    donors = pd.read_csv(DATA / "donors.tsv", sep="\t")
    assert donors["IID"].is_unique  # nobody donates to two cohorts
    hm3_iids = set(open_plink(hm3_prefix).samples["iid"])
    b = donors[donors["pool"] == "heldout_b"]
    assert not (set(b["IID"]) & hm3_iids)  # the 564 people in both sets never reach held-out B
    people = pd.read_csv(DATA / "people.tsv", sep="\t")
    for name, group in people.groupby("cohort"):
        pops = set(donors.loc[donors["pool"] == name, "population"])
        assert set(group["population"]) <= pops


def test_recombine_in_blocks_of_people_and_write(
    hm3_prefix: Path, hm3_labels: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import genopt.simulate.recombination as sim_mod

    fs = open_plink(hm3_prefix)
    monkeypatch.setattr(sim_mod, "_PEOPLE_BLOCK", 7)
    g, v, s, prov = recombine(fs, RecombineConfig(n_samples=30, seed=5), populations=hm3_labels)
    ref = fs.read_int8()
    donor_row = pd.Index(fs.samples["iid"]).get_indexer(prov["donor_iid"])
    person_row = pd.Index(s["iid"]).get_indexer(prov["IID"])
    length = (prov["end_index"] - prov["start_index"] + 1).to_numpy()
    cols = np.concatenate([np.arange(a, b + 1) for a, b in zip(prov["start_index"], prov["end_index"], strict=True)])
    assert length.sum() == 30 * fs.n_variants
    assert np.array_equal(g[np.repeat(person_row, length), cols], ref[np.repeat(donor_row, length), cols])
    paths = write_recombined(tmp_path / "new", g, v, s, prov)
    back = open_plink(tmp_path / "new")
    assert np.array_equal(back.read_int8(), g)
    people = pd.read_csv(paths[3], sep="\t")
    assert people["n_segments"].sum() == len(prov)
    assert len(pd.read_csv(paths[4], sep="\t")) == len(prov)


@pytest.mark.slow
def test_make_bundle_regenerates_the_bundled_files(tmp_path: Path) -> None:
    from genopt.simulate import make_bundle

    shared = SHARED / "data"
    make_bundle(shared, tmp_path)
    for path in DATA.iterdir():
        if path.name == "README.md":
            continue
        assert (tmp_path / path.name).read_bytes() == path.read_bytes(), path.name
