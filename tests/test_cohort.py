"""Cohort: aligning a fileset with phenotype and covariates by (FID, IID), drops counted by reason."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import SHARED

from genopt.cohort import DROP_REASONS, Cohort
from genopt.errors import GenoptError
from genopt.io.plink import open_plink
from genopt.io.tables import Phenotype, read_covariates

HM3_LABELS = SHARED / "data" / "hapmap3" / "population_labels.tsv"
KG1_LABELS = SHARED / "data" / "kg1" / "population_labels.tsv"


def write_table(path: Path, frame: pd.DataFrame) -> Path:
    frame.to_csv(path, sep="\t", index=False, na_rep="NA")
    return path


@pytest.fixture(scope="module")
def hm3_fam(hm3_prefix: Path) -> pd.DataFrame:
    return open_plink(hm3_prefix).samples


@pytest.fixture
def scenario(tmp_path: Path, hm3_fam: pd.DataFrame) -> dict:
    """Phenotype and covariate tables over hm3 with known gaps, shuffled, plus strangers.

    - 100 .fam samples are absent from the phenotype file, 50 have NA there;
    - 30 others lack a covariate row, 20 have NA age;
    - 7 phenotype rows and 3 covariate rows are people not in the .fam (2 in both).
    """
    rng = np.random.default_rng(5)
    n = len(hm3_fam)
    order = rng.permutation(n)
    no_pheno_row, na_pheno = order[:100], order[100:150]
    no_cov_row, na_age = order[150:180], order[180:200]
    y = rng.integers(0, 2, n).astype(float)
    y[na_pheno] = np.nan
    pheno = pd.DataFrame({"FID": hm3_fam["fid"], "IID": hm3_fam["iid"], "coop": y})
    pheno = pheno.drop(index=no_pheno_row)
    strangers = pd.DataFrame({"FID": [f"X{i}" for i in range(7)], "IID": [f"ghost{i}" for i in range(7)], "coop": 1.0})
    strangers.loc[0, "coop"] = 0.0
    pheno = pd.concat([pheno, strangers]).sample(frac=1, random_state=1)  # file order differs from .fam order
    age = rng.normal(40, 10, n).round(1)
    age[na_age] = np.nan
    sex = np.where(rng.random(n) < 0.5, "M", "F")
    cov = pd.DataFrame({"FID": hm3_fam["fid"], "IID": hm3_fam["iid"], "age": age, "sex": sex}).drop(index=no_cov_row)
    cov_strangers = pd.DataFrame({"FID": ["X0", "X1", "Y9"], "IID": ["ghost0", "ghost1", "other"], "age": 1.0})
    cov = pd.concat([cov, cov_strangers.assign(sex="M")]).sample(frac=1, random_state=2)
    pheno_codes = pheno.assign(coop=pheno["coop"].map({0.0: "0", 1.0: "1"}))
    return {
        "pheno": write_table(tmp_path / "pheno.txt", pheno_codes),
        "covar": write_table(tmp_path / "covar.txt", cov),
        "y": y,
        "age": age,
        "sex": sex,
        "keep": np.setdiff1d(np.arange(n), np.concatenate([no_pheno_row, na_pheno, no_cov_row, na_age])),
    }


def test_alignment_keeps_fam_order_and_counts_drops(hm3_prefix: Path, scenario: dict) -> None:
    cohort = Cohort.from_files(hm3_prefix, pheno=scenario["pheno"], covar=scenario["covar"], allow_ungenotyped=True)
    keep = scenario["keep"]
    np.testing.assert_array_equal(cohort.sample_idx, keep)
    assert cohort.n == len(keep) == 957 - 200
    assert cohort.y.dtype == np.int8
    np.testing.assert_array_equal(cohort.y, scenario["y"][keep].astype(np.int8))
    assert cohort.dropped == {"no phenotype": 150, "missing covariate": 50, "not genotyped": 8}
    assert tuple(cohort.dropped) == DROP_REASONS
    # covariates: float64, aligned to the .fam order although both files were shuffled
    assert list(cohort.covariates.columns) == ["age", "sex=M"]
    assert cohort.covariates.dtypes.eq(np.float64).all()
    np.testing.assert_array_equal(cohort.covariates["age"].to_numpy(), scenario["age"][keep])
    np.testing.assert_array_equal(cohort.covariates["sex=M"].to_numpy(), (scenario["sex"][keep] == "M").astype(float))
    assert not cohort.covariates.isna().any().any()
    fam = cohort.fileset.samples
    assert list(cohort.covariates.index) == list(zip(fam["fid"].iloc[keep], fam["iid"].iloc[keep], strict=True))
    # samples table: the kept .fam rows with y
    np.testing.assert_array_equal(cohort.samples["iid"].to_numpy(), fam["iid"].to_numpy()[keep])
    np.testing.assert_array_equal(cohort.samples["y"].to_numpy(), cohort.y)
    # the dropped table lists each ID once, with its reason
    ds = cohort.dropped_samples
    assert len(ds) == 208 and not ds.duplicated(["fid", "iid"]).any()
    assert set(ds.loc[ds["reason"] == "not genotyped", "iid"]) == {f"ghost{i}" for i in range(7)} | {"other"}
    assert set(ds["iid"]).isdisjoint(set(cohort.samples["iid"]))
    summary = cohort.summary()
    assert summary["n"] == 757 and summary["n_cooperate"] + summary["n_defect"] == 757
    assert summary["phenotype"]["coding"] == "01" and summary["phenotype"]["coding_detected"] is True
    assert "757 of 957 samples kept" in cohort.describe()


def test_genotypes_are_the_cohort_samples(hm3_prefix: Path, scenario: dict) -> None:
    cohort = Cohort.from_files(hm3_prefix, pheno=scenario["pheno"], covar=scenario["covar"], allow_ungenotyped=True)
    fs = cohort.fileset
    variants = [5, 17, 2000, 14078]
    g = cohort.genotypes(variants)
    assert g.dtype == np.float32 and g.shape == (cohort.n, 4)
    np.testing.assert_array_equal(g, fs.read(variants=variants)[scenario["keep"]])
    assert cohort.genotypes().shape == (cohort.n, fs.n_variants)
    chunks = list(cohort.iter_variant_chunks(chunk_size=5000))
    assert [len(i) for i, _ in chunks] == [5000, 5000, 4079]
    block = chunks[1][1]
    expected = fs.read_int8(variants=slice(5000, 10000))[scenario["keep"]]
    np.testing.assert_array_equal(block, expected)


def test_ungenotyped_phenotype_ids_strict(hm3_prefix: Path, scenario: dict) -> None:
    with pytest.raises(
        GenoptError, match=r"pheno\.txt: 7 phenotype IDs \(FID/IID\) are not in .*hm3\.fam: X\d/ghost\d, .* and 2 more"
    ):
        Cohort.from_files(hm3_prefix, pheno=scenario["pheno"], allow_ungenotyped=False)
    # covariate-only strangers are not an error in strict mode
    cohort = Cohort.from_files(hm3_prefix, pheno=scenario["pheno"], allow_ungenotyped=True)
    assert cohort.dropped == {"no phenotype": 150, "missing covariate": 0, "not genotyped": 7}


def test_strict_mode_passes_when_all_ids_are_genotyped(tmp_path: Path, hm3_prefix: Path, hm3_fam: pd.DataFrame) -> None:
    y = np.arange(len(hm3_fam)) % 2
    path = write_table(tmp_path / "p.txt", pd.DataFrame({"FID": hm3_fam["fid"], "IID": hm3_fam["iid"], "y": y + 1}))
    cohort = Cohort.from_files(hm3_prefix, pheno=path, allow_ungenotyped=False)
    assert cohort.n == 957 and cohort.phenotype.coding == "12"
    np.testing.assert_array_equal(cohort.y, y)  # PLINK 2 -> cooperate (1), 1 -> defect (0)
    assert cohort.covariates.shape == (957, 0)


def test_empty_cohort_says_why(tmp_path: Path, hm3_prefix: Path, hm3_fam: pd.DataFrame) -> None:
    # FID written as 0 while the .fam has family IDs: a typical mistake; nobody matches
    table = pd.DataFrame({"FID": "0", "IID": hm3_fam["iid"], "y": 1 + (np.arange(957) % 2)})
    path = write_table(tmp_path / "fid0.txt", table)
    with pytest.raises(
        GenoptError,
        match=r"no sample left after aligning .*hm3\.fam \(957 samples\) with phenotype 'y' from .*fid0\.txt: "
        r"dropped 957 no phenotype, 0 missing covariate, 957 not genotyped\. IDs in the \.fam look like 2431/NA19916.*"
        r"IDs with a phenotype look like 0/NA19916",
    ):
        Cohort.from_files(hm3_prefix, pheno=path, allow_ungenotyped=True)


def test_fam_phenotype_when_no_file(hm3_prefix: Path, kg1_prefix: Path) -> None:
    cohort = Cohort.from_files(hm3_prefix)  # column 6 is a placeholder 2 (case) for everybody
    assert cohort.n == 957 and (cohort.y == 1).all()
    assert (cohort.phenotype.name, cohort.phenotype.coding) == ("PHENO", "12")
    with pytest.raises(
        GenoptError, match=r"no sample left after aligning .*kg1\.fam \(1092 samples\).*1092 no phenotype"
    ):
        Cohort.from_files(kg1_prefix)  # column 6 is -9 (missing) for everybody


def test_hm3_population_as_categorical_covariate(tmp_path: Path, hm3_prefix: Path, hm3_fam: pd.DataFrame) -> None:
    labels = pd.read_csv(HM3_LABELS, sep="\t", dtype=str)
    shuffled = write_table(tmp_path / "pop.tsv", labels.sample(frac=1, random_state=3))
    y = (np.arange(957) % 3 == 0).astype(int)
    pheno = write_table(tmp_path / "p.txt", pd.DataFrame({"FID": hm3_fam["fid"], "IID": hm3_fam["iid"], "y": y}))
    cohort = Cohort.from_files(hm3_prefix, pheno=pheno, covar=shuffled)
    assert cohort.n == 957 and sum(cohort.dropped.values()) == 0
    assert len(cohort.covariates.columns) == 10
    by_iid = labels.set_index("IID")["population"]
    pop = by_iid.loc[hm3_fam["iid"]].to_numpy()
    for level in ("CEU", "YRI", "MKK"):
        np.testing.assert_array_equal(cohort.covariates[f"population={level}"].to_numpy(), (pop == level).astype(float))
    assert (cohort.covariates.sum(axis=1).to_numpy() == (pop != "ASW")).all()
    # the same labels with a numeric-looking column forced categorical through from_files
    codes = labels.assign(popcode=labels["population"].map({p: str(i) for i, p in enumerate(sorted(set(pop)))}))
    path = write_table(tmp_path / "pop2.tsv", codes)
    c2 = Cohort.from_files(hm3_prefix, pheno=pheno, covar=path, covar_names=["popcode"], categorical=["popcode"])
    assert list(c2.covariates.columns) == [f"popcode={i}" for i in range(1, 11)]
    np.testing.assert_array_equal(c2.covariates.to_numpy(), cohort.covariates.to_numpy())


def test_kg1_unlabelled_samples_dropped_as_missing_covariate(tmp_path: Path, kg1_prefix: Path) -> None:
    fam = open_plink(kg1_prefix).samples
    pheno = write_table(
        tmp_path / "p.txt", pd.DataFrame({"FID": fam["fid"], "IID": fam["iid"], "y": np.arange(1092) % 2})
    )
    cohort = Cohort.from_files(kg1_prefix, pheno=pheno, covar=KG1_LABELS)
    assert cohort.dropped == {"no phenotype": 0, "missing covariate": 43, "not genotyped": 0}
    assert cohort.n == 1092 - 43
    labels = pd.read_csv(KG1_LABELS, sep="\t", dtype=str)
    unlabelled = set(labels.loc[labels["population"].isna(), "IID"])
    assert set(cohort.dropped_samples["iid"]) == unlabelled
    assert unlabelled.isdisjoint(cohort.samples["iid"])


def test_forced_coding_and_named_columns_flow_through(tmp_path: Path, hm3_prefix: Path, hm3_fam: pd.DataFrame) -> None:
    table = pd.DataFrame({"FID": hm3_fam["fid"], "IID": hm3_fam["iid"], "a": 1, "b": np.arange(957) % 2})
    path = write_table(tmp_path / "p.txt", table)
    with pytest.raises(GenoptError, match="coding is ambiguous"):
        Cohort.from_files(hm3_prefix, pheno=path)  # column a: all 1
    forced = Cohort.from_files(hm3_prefix, pheno=path, pheno_coding="12")
    assert forced.n == 957 and (forced.y == 0).all()  # PLINK 1 = control = defect
    named = Cohort.from_files(hm3_prefix, pheno=path, pheno_name="b")
    np.testing.assert_array_equal(named.y, np.arange(957) % 2)
    with pytest.raises(GenoptError, match="covariate columns were named but no covariate file"):
        Cohort.from_files(hm3_prefix, pheno=path, pheno_name="b", covar_names=["age"])


def test_from_tables_with_in_memory_phenotype(hm3_prefix: Path, hm3_fam: pd.DataFrame) -> None:
    fs = open_plink(hm3_prefix)
    index = pd.MultiIndex.from_arrays([hm3_fam["fid"], hm3_fam["iid"]])
    values = pd.Series(np.where(np.arange(957) < 10, np.nan, np.arange(957) % 2), index=index)
    cohort = Cohort.from_tables(fs, Phenotype.from_values(values), read_covariates(HM3_LABELS))
    assert cohort.n == 947 and cohort.dropped["no phenotype"] == 10
    np.testing.assert_array_equal(cohort.sample_idx, np.arange(10, 957))
