"""LD pruning, PCA and projection (genopt.structure) against PLINK 2 on the real data.

Reference outputs are in tests/fixtures/structure/ (regenerate with its
COMMANDS.sh, PLINK v2.00a3.5). Measured on hm3/kg1 when these tests were
written:

* ``--indep-pairwise`` after ``--maf 0.01``: prune.in identical to plink2's
  (Jaccard 1.0, 0 differences) for all 16 cohort x setting combinations,
  variant-count and kb windows, including settings that remove 80% of the
  variants -- so the tests assert identity, not a tolerance;
* PCA (default, missing calls mean-imputed): PCs 1-5 |r| >= 0.999998 with
  plink2 --pca, PCs 6-10 >= 0.9998, eigenvalues within 0.36%; with
  ``missing="pairwise"`` (plink2's own normalisation) eigenvalues within 2e-6
  and eigenvectors within 5e-7 (plink2 prints 6 significant digits);
* kg1 projected on the hm3 axes vs plink2 --score variance-standardize:
  PCs 1-5 |r| >= 0.999998, PCs 6-10 >= 0.9998.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import subprocess
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from conftest import FIXTURES, require_executable

from genopt.config import LDPruneConfig, PCAConfig
from genopt.errors import GenoptError
from genopt.io.plink import PlinkFileset, founder_mask, open_plink, write_plink
from genopt.structure import (
    PCAModel,
    fit_pca,
    jaccard,
    ld_prune,
    maf_filter,
    run_pca,
)

FIX = FIXTURES / "structure"


def _read_ids(path: Path) -> list[str]:
    with gzip.open(path, "rt") as handle:
        return handle.read().split()


def _config_from_name(name: str) -> LDPruneConfig:
    parts = name.split("_")
    if parts[0].endswith("kb"):
        return LDPruneConfig(window=int(parts[0][:-2]), step=1, r2=float(parts[1]), window_kb=True)
    return LDPruneConfig(window=int(parts[0]), step=int(parts[1]), r2=float(parts[2]))


@pytest.fixture(scope="module")
def hm3(hm3_prefix: Path) -> PlinkFileset:
    return open_plink(hm3_prefix)


@pytest.fixture(scope="module")
def kg1(kg1_prefix: Path) -> PlinkFileset:
    return open_plink(kg1_prefix)


@pytest.fixture(scope="module")
def maf_masks(hm3: PlinkFileset, kg1: PlinkFileset) -> dict[str, np.ndarray]:
    return {"hm3": maf_filter(hm3, 0.01), "kg1": maf_filter(kg1, 0.01)}


# ---------------------------------------------------------------------------
# LD pruning vs plink2 --indep-pairwise
# ---------------------------------------------------------------------------

# Every cohort x setting of COMMANDS.sh. Settings under which plink2 prunes
# (almost) nothing on these LD-thinned data are weak checks and run with
# -m slow; the default run keeps both window kinds and pruning from 0.07% to
# 84% of the variants (~12 s).
SETTINGS = sorted(p.name.removesuffix(".prune.in.gz") for p in FIX.glob("*.prune.in.gz"))
SLOW = {"hm3_50_5_0.2", "hm3_200_50_0.1", "hm3_200_50_0.2", "hm3_1000kb_0.05", "kg1_50_5_0.2", "kg1_200_50_0.2"}


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in SETTINGS])
def test_ld_prune_matches_plink2(name: str, hm3: PlinkFileset, kg1: PlinkFileset, maf_masks: dict) -> None:
    cohort, setting = name.split("_", 1)
    fileset = hm3 if cohort == "hm3" else kg1
    kept = ld_prune(fileset, _config_from_name(setting), variants=maf_masks[cohort])
    ours = fileset.variants["id"].to_numpy()[kept]
    plink = _read_ids(FIX / f"{name}.prune.in.gz")
    # Exact identity: same windows, same integer r^2 arithmetic, same tie-breaks.
    assert set(ours) == set(plink), (
        f"{name}: jaccard {jaccard(ours, plink):.6f}, only ours {sorted(set(ours) - set(plink))[:5]}, "
        f"only plink2 {sorted(set(plink) - set(ours))[:5]}"
    )
    assert list(ours) == plink  # and in .bim order, as plink2 writes them


def test_maf_filter_matches_plink2(maf_masks: dict) -> None:
    # plink2 --maf 0.01 keeps all 14,079 hm3 variants and 14,057 of kg1 (log: 22 removed)
    assert maf_masks["hm3"].sum() == 14079
    assert maf_masks["kg1"].sum() == 14057


def _toy(
    tmp_path: Path,
    genotypes: np.ndarray,
    chrom: list[str],
    pos: list[int],
    ids: list[str] | None = None,
    fam: pd.DataFrame | None = None,
) -> PlinkFileset:
    n, m = genotypes.shape
    variants = pd.DataFrame(
        {
            "chrom": chrom,
            "id": ids or [f"v{i}" for i in range(m)],
            "cm": 0.0,
            "pos": pos,
            "a1": "A",
            "a2": "G",
        }
    )
    samples = pd.DataFrame(
        {
            "fid": [f"f{i}" for i in range(n)],
            "iid": [f"s{i}" for i in range(n)],
            "father": "0",
            "mother": "0",
            "sex": 0,
            "phenotype": "-9",
        }
    )
    if fam is not None:
        samples = fam
    prefix = tmp_path / "toy"
    write_plink(prefix, genotypes, variants, samples)
    return open_plink(prefix)


def test_ld_prune_rules_on_small_cases(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    a = rng.integers(0, 3, 50).astype(float)
    c = a.copy()
    c[a == 1] = 0  # correlated with a, lower MAF than a
    g = np.column_stack(
        [
            a,  # v0
            a,  # v1: identical to v0 (same MAF): tie -> the later one (v1) goes
            np.ones(50),  # v2: all heterozygous -> no variance -> removed
            rng.integers(0, 3, 50),  # v3: independent -> stays
            c,  # v4: in LD with v0, lower MAF -> v4 goes
            np.zeros(50),  # v5: monomorphic but alone on chromosome 2 -> PLINK leaves it
            a,  # v6: chromosome 0 -> ignored (neither kept nor pruned)
        ]
    )
    fs = _toy(tmp_path, g, ["1", "1", "1", "1", "1", "2", "0"], [100, 200, 300, 400, 500, 100, 100])
    kept = ld_prune(fs, LDPruneConfig(window=10, step=1, r2=0.5))
    assert kept.tolist() == [True, False, False, True, False, True, False]


def test_ld_prune_lower_maf_goes_even_when_earlier(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    a = rng.integers(0, 3, 80).astype(float)
    c = a.copy()
    c[a == 1] = 0
    fs = _toy(tmp_path, np.column_stack([c, a]), ["1", "1"], [1, 2])
    kept = ld_prune(fs, LDPruneConfig(window=2, step=1, r2=0.3))
    assert kept.tolist() == [False, True]


def test_ld_prune_bad_input(tmp_path: Path) -> None:
    g = np.random.default_rng(3).integers(0, 3, (20, 4)).astype(float)
    split = _toy(tmp_path, g, ["1", "2", "1", "2"], [1, 1, 2, 2])
    with pytest.raises(GenoptError, match=r"toy\.bim.*chromosome 1 is split"):
        ld_prune(split, LDPruneConfig())
    (tmp_path / "d").mkdir()
    dup = _toy(tmp_path / "d", g, ["1"] * 4, [1, 2, 3, 4], ids=["a", "b", "a", "c"])
    with pytest.raises(GenoptError, match="duplicate variant ID a"):
        ld_prune(dup, LDPruneConfig())
    (tmp_path / "u").mkdir()
    unsorted = _toy(tmp_path / "u", g, ["1"] * 4, [1, 5000, 20, 9000])
    with pytest.raises(GenoptError, match=r"v2 .*sorted by position"):
        ld_prune(unsorted, LDPruneConfig(window=100, step=1, r2=0.2, window_kb=True))
    with pytest.raises(GenoptError, match="r2 threshold"):
        ld_prune(unsorted, LDPruneConfig(r2=1.5))
    with pytest.raises(GenoptError, match="step"):
        ld_prune(unsorted, LDPruneConfig(step=0))
    with pytest.raises(GenoptError, match=r"step must be between 1 and the window size \(7\), got 9"):
        ld_prune(unsorted, LDPruneConfig(window=7, step=9))  # plink2 refuses this too


def test_founders_follow_plink(tmp_path: Path) -> None:
    fam = pd.DataFrame(
        {
            "fid": ["F", "F", "F", "G"],
            "iid": ["dad", "mum", "kid", "x"],
            "father": ["0", "0", "dad", "dad"],  # x's "dad" is not in family G: still a nonfounder
            "mother": ["0", "0", "mum", "nobody"],
        }
    )
    # plink2 v2.00a3.5 and plink1.9 --freq: a named parent makes a nonfounder even when absent
    # from the .fam (tests/test_plink_io.py checks this against plink2 itself).
    assert founder_mask(fam).tolist() == [True, True, False, False]


@pytest.mark.plink
def test_ld_prune_matches_plink2_on_awkward_data(tmp_path: Path) -> None:
    """Round trip through plink2 on a small fileset built to hit the corner cases.

    20% missing calls (pairwise-complete r^2 matters far more than on hm3/kg1,
    0.15% missing), non-founders (left out of r^2 and MAF), monomorphic,
    all-heterozygous and all-missing variants, a one-variant chromosome,
    chromosome-0 variants, and gaps wider than the kb window.
    """
    plink2 = require_executable("plink2")
    rng = np.random.default_rng(7)
    n, m = 120, 300
    # haplotype-like blocks: each variant copies its neighbour with prob 0.8
    g = rng.integers(0, 3, (n, m)).astype(float)
    for j in range(1, m):
        copy = rng.random(n) < 0.8
        g[copy, j] = g[copy, j - 1]
    g[rng.random((n, m)) < 0.2] = np.nan
    g[:, 10] = 0.0  # monomorphic
    g[:, 11] = np.where(rng.random(n) < 0.1, np.nan, 1.0)  # all heterozygous
    g[:, 12] = np.nan  # no calls
    g[20:, 13] = 2.0  # polymorphic only through the non-founders (rows 0-19 below)
    pos = np.cumsum(rng.integers(100, 3000, m))
    pos[200:] += 100_000  # a gap wider than the kb windows
    pos[250:] += 45_000
    chrom = ["1"] * 140 + ["2"] * 150 + ["3"] + ["0"] * 9
    fam = pd.DataFrame(
        {
            "fid": ["fam"] * 20 + [f"f{i}" for i in range(20, n)],
            "iid": [f"s{i}" for i in range(n)],
            "father": ["0"] * 10 + [f"s{i}" for i in range(10)] + ["0"] * (n - 20),  # s10-s19: non-founders
            "mother": "0",
            "sex": 0,
            "phenotype": "-9",
        }
    )
    fs = _toy(tmp_path, g, chrom, pos.tolist(), fam=fam)
    assert founder_mask(fs.samples).sum() == n - 10
    for args, cfg in [
        (["20", "3", "0.3"], LDPruneConfig(window=20, step=3, r2=0.3)),
        (["50", "10", "0.1"], LDPruneConfig(window=50, step=10, r2=0.1)),
        (["7", "7", "0.1"], LDPruneConfig(window=7, step=7, r2=0.1)),  # no overlap between windows
        (["30kb", "1", "0.2"], LDPruneConfig(window=30, step=1, r2=0.2, window_kb=True)),
        (["60kb", "1", "0.05"], LDPruneConfig(window=60, step=1, r2=0.05, window_kb=True)),
    ]:
        out = tmp_path / ("p_" + "_".join(args))
        subprocess.run(
            [plink2, "--bfile", str(fs.prefix), "--indep-pairwise", *args, "--threads", "1", "--out", str(out)],
            check=True,
            capture_output=True,
        )
        plink = Path(str(out) + ".prune.in").read_text().split()
        ours = fs.variants["id"].to_numpy()[ld_prune(fs, cfg)].tolist()
        assert 10 < len(plink) < m - 20
        assert ours == plink, f"{args}: jaccard {jaccard(ours, plink):.4f}"


# ---------------------------------------------------------------------------
# PCA vs plink2 --pca
# ---------------------------------------------------------------------------


def _plink_eigenvec() -> pd.DataFrame:
    return pd.read_csv(FIX / "hm3_pca.eigenvec.gz", sep="\t")


def _abs_corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(abs(np.corrcoef(a, b)[0, 1]))


@pytest.fixture(scope="module")
def pca_run(hm3: PlinkFileset, kg1: PlinkFileset, tmp_path_factory: pytest.TempPathFactory) -> tuple[PCAModel, Path]:
    out = tmp_path_factory.mktemp("pca")
    model = run_pca(hm3, out, PCAConfig(), project=kg1)
    return model, out


def test_run_pca_prunes_like_plink2(pca_run: tuple[PCAModel, Path]) -> None:
    model, out = pca_run
    plink = _read_ids(FIX / "hm3_200_50_0.2.prune.in.gz")
    assert (out / "pca.prune.in").read_text().split() == plink
    assert model.variant_ids.tolist() == plink


def test_pca_agrees_with_plink2(pca_run: tuple[PCAModel, Path]) -> None:
    model, _ = pca_run
    ref = _plink_eigenvec()
    assert ref["IID"].tolist() == model.sample_iid.tolist()
    for i in range(10):
        r = _abs_corr(ref[f"PC{i + 1}"].to_numpy(), model.scores[:, i])
        # brief: >= 0.99 for PCs 1-5; measured >= 0.999998 (1-5) and >= 0.9998 (6-10)
        assert r >= (0.9999 if i < 5 else 0.999), f"PC{i + 1}: |r| = {r}"
    eigenval = np.loadtxt(FIX / "hm3_pca.eigenval")
    # mean imputation vs plink2's pairwise normalisation: measured max 0.36%
    np.testing.assert_allclose(model.eigenvalues, eigenval, rtol=0.005)
    assert np.all(np.diff(model.eigenvalues) <= 0)
    np.testing.assert_allclose(np.linalg.norm(model.scores, axis=0), 1.0, atol=1e-9)


def test_pca_pairwise_missing_reproduces_plink2(hm3: PlinkFileset) -> None:
    kept = hm3.variants["id"].isin(_read_ids(FIX / "hm3_200_50_0.2.prune.in.gz")).to_numpy()
    model = fit_pca(hm3, PCAConfig(), variants=kept, missing="pairwise")
    np.testing.assert_allclose(model.eigenvalues, np.loadtxt(FIX / "hm3_pca.eigenval"), rtol=2e-5)
    ref = _plink_eigenvec()[[f"PC{i}" for i in range(1, 11)]].to_numpy()
    sign = np.sign(np.sum(ref * model.scores, axis=0))
    # plink2 writes 6 significant digits; the largest |entry| is 0.39 -> rounding <= 5e-7
    np.testing.assert_allclose(model.scores * sign, ref, atol=1e-6)


def test_pca_outputs(pca_run: tuple[PCAModel, Path]) -> None:
    model, out = pca_run
    vec = pd.read_csv(out / "pca.eigenvec.tsv", sep="\t")
    assert vec.columns.tolist() == ["FID", "IID"] + [f"PC{i}" for i in range(1, 11)]
    assert vec["IID"].tolist() == model.sample_iid.tolist()
    np.testing.assert_allclose(vec.iloc[:, 2:].to_numpy(), model.scores, rtol=1e-8, atol=1e-12)
    val = pd.read_csv(out / "pca.eigenval.tsv", sep="\t")
    assert val.columns.tolist() == ["PC", "EIGENVALUE"]
    np.testing.assert_allclose(val["EIGENVALUE"], model.eigenvalues, rtol=1e-8)
    load = pd.read_csv(out / "pca.loadings.tsv", sep="\t")
    assert load.columns.tolist()[:5] == ["ID", "A1", "A2", "MEAN", "SCALE"]
    assert len(load) == model.n_variants
    again = PCAModel.load(out / "pca.model.json")
    np.testing.assert_array_equal(again.loadings, model.loadings)
    proj = pd.read_csv(out / "pca.projected.eigenvec.tsv", sep="\t")
    assert len(proj) == 1092
    summary = json.loads((out / "pca.projected.summary.json").read_text())
    assert summary["n_missing"] == 0 and summary["n_model_variants"] == model.n_variants
    assert not list(out.glob(".*.tmp"))  # no temporaries left behind


def test_randomized_svd_agrees_with_exact(hm3: PlinkFileset, pca_run: tuple[PCAModel, Path]) -> None:
    exact, _ = pca_run
    kept = hm3.variants["id"].isin(exact.variant_ids).to_numpy()
    approx = fit_pca(hm3, PCAConfig(n_pcs=5, exact_max_samples=100, seed=3), variants=kept)
    assert approx.method == "randomized" and exact.method == "exact"
    for i in range(5):
        assert _abs_corr(approx.scores[:, i], exact.scores[:, i]) >= 0.999
    np.testing.assert_allclose(approx.eigenvalues, exact.eigenvalues[:5], rtol=1e-3)


# ---------------------------------------------------------------------------
# projection
# ---------------------------------------------------------------------------


def test_projecting_the_fit_cohort_reproduces_its_scores(hm3: PlinkFileset, pca_run: tuple[PCAModel, Path]) -> None:
    model, _ = pca_run
    proj = model.transform(hm3)
    assert proj.n_missing == 0 and proj.n_flipped == 0
    np.testing.assert_allclose(proj.scores, model.scores, atol=1e-10)


def test_kg1_projection_agrees_with_plink2_score(pca_run: tuple[PCAModel, Path]) -> None:
    _, out = pca_run
    ours = pd.read_csv(out / "pca.projected.eigenvec.tsv", sep="\t")
    ref = pd.read_csv(FIX / "kg1_proj_onto_hm3.sscore.gz", sep="\t")
    assert ours["IID"].tolist() == ref["IID"].tolist()
    for i in range(1, 11):
        r = _abs_corr(ours[f"PC{i}"].to_numpy(), ref[f"PC{i}_AVG"].to_numpy())
        # brief: >= 0.99 for PCs 1-5; measured >= 0.999998 (1-5), >= 0.9998 (6-10)
        assert r >= (0.9999 if i <= 5 else 0.999), f"PC{i}: |r| = {r}"


def test_shared_people_land_where_the_fit_put_them(pca_run: tuple[PCAModel, Path]) -> None:
    """The 564 HapMap people re-genotyped in 1000 Genomes (same IID).

    Their kg1 genotypes differ from hm3's at a few calls, so the coordinates
    are close, not identical: measured |r| >= 0.9991 and max difference
    <= 0.08 SD per PC 1-5.
    """
    model, out = pca_run
    proj = pd.read_csv(out / "pca.projected.eigenvec.tsv", sep="\t")
    both = model.scores_frame().merge(proj, on="IID", suffixes=("_fit", "_proj"))
    assert len(both) == 564
    for i in range(1, 6):
        fit, pro = both[f"PC{i}_fit"].to_numpy(), both[f"PC{i}_proj"].to_numpy()
        sd = model.scores[:, i - 1].std()
        assert _abs_corr(fit, pro) >= 0.999
        assert np.max(np.abs(fit - pro)) <= 0.1 * sd


def _swap_alleles_copy(src: PlinkFileset, dest: Path, swap: np.ndarray, keep: np.ndarray | None = None) -> PlinkFileset:
    g = src.read(variants=keep)
    variants = src.variants if keep is None else src.variants.iloc[np.flatnonzero(keep)].reset_index(drop=True)
    variants = variants.copy()
    sw = swap if keep is None else swap[keep]
    g[:, sw] = 2.0 - g[:, sw]
    variants.loc[sw, ["a1", "a2"]] = variants.loc[sw, ["a2", "a1"]].to_numpy()
    write_plink(dest, g, variants, src.samples)
    return open_plink(dest)


def test_projection_flips_swapped_alleles(kg1: PlinkFileset, pca_run: tuple[PCAModel, Path], tmp_path: Path) -> None:
    model, _ = pca_run
    swap = np.zeros(kg1.n_variants, dtype=bool)
    swap[::2] = True
    swapped = _swap_alleles_copy(kg1, tmp_path / "kg1_swapped", swap)
    plain = model.transform(kg1)
    flipped = model.transform(swapped)
    assert flipped.n_flipped == int(kg1.variants["id"].isin(model.variant_ids)[swap].sum()) > 1000
    np.testing.assert_allclose(flipped.scores, plain.scores, atol=1e-10)


def test_projection_counts_and_refuses_missing_variants(
    kg1: PlinkFileset, pca_run: tuple[PCAModel, Path], tmp_path: Path
) -> None:
    model, _ = pca_run
    rng = np.random.default_rng(0)
    keep = rng.random(kg1.n_variants) < 0.7
    part = _swap_alleles_copy(kg1, tmp_path / "part", np.zeros(kg1.n_variants, dtype=bool), keep)
    proj = model.transform(part)
    expected_missing = model.n_variants - int(np.isin(model.variant_ids, part.variants["id"]).sum())
    assert proj.n_missing == expected_missing > 0
    assert proj.summary()["missing_fraction"] == pytest.approx(expected_missing / model.n_variants)
    full = model.transform(kg1)
    for i in range(3):  # 70% of the variants still place people on the main axes
        assert _abs_corr(proj.scores[:, i], full.scores[:, i]) >= 0.98
    few = _swap_alleles_copy(
        kg1, tmp_path / "few", np.zeros(kg1.n_variants, dtype=bool), rng.random(kg1.n_variants) < 0.3
    )
    with pytest.raises(GenoptError, match=r"few\.bim: \d+ of the PCA model's \d+ variants \(\d+\.\d%\) are missing"):
        model.transform(few)


def test_projection_of_an_array(kg1: PlinkFileset, pca_run: tuple[PCAModel, Path]) -> None:
    model, _ = pca_run
    sel = np.arange(0, kg1.n_samples, 10)
    g = kg1.read(samples=sel)
    arr = model.transform(g, variants=kg1.variants, sample_table=kg1.samples.iloc[sel])
    fs = model.transform(kg1, samples=sel)
    np.testing.assert_allclose(arr.scores, fs.scores, atol=1e-10)
    assert arr.samples["iid"].tolist() == kg1.samples["iid"].iloc[sel].tolist()
    # a Cohort-like object (fileset + sample_idx) projects its own samples
    cohort = SimpleNamespace(fileset=kg1, sample_idx=sel[::-1])
    np.testing.assert_allclose(model.transform(cohort).scores, fs.scores[::-1], atol=1e-10)


# ---------------------------------------------------------------------------
# the model object
# ---------------------------------------------------------------------------


def test_model_is_frozen_and_round_trips(pca_run: tuple[PCAModel, Path], tmp_path: Path) -> None:
    model, _ = pca_run
    with pytest.raises(dataclasses.FrozenInstanceError):
        model.loadings = model.loadings  # type: ignore[misc]
    with pytest.raises(ValueError):
        model.loadings[0, 0] = 1.0
    path = tmp_path / "m.json"
    model.save(path)
    again = PCAModel.load(path)
    for name in ("means", "scales", "loadings", "eigenvalues", "scores"):
        np.testing.assert_array_equal(getattr(again, name), getattr(model, name))
    for name in ("variant_ids", "a1", "a2", "sample_fid", "sample_iid"):
        assert getattr(again, name).tolist() == getattr(model, name).tolist()
    # embeddable in a larger JSON document
    doc = json.loads(json.dumps({"pca": model.to_dict()}))
    np.testing.assert_array_equal(PCAModel.from_dict(doc["pca"]).loadings, model.loadings)


def test_model_load_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "genopt.PCAModel/1",\n "n_pcs": ')
    with pytest.raises(GenoptError, match=r"bad\.json, line 2: invalid JSON"):
        PCAModel.load(bad)
    other = tmp_path / "other.json"
    other.write_text('{"format": "something else"}')
    with pytest.raises(GenoptError, match=r"other\.json: not a genopt PCA model"):
        PCAModel.load(other)
    with pytest.raises(GenoptError, match="not found"):
        PCAModel.load(tmp_path / "missing.json")
