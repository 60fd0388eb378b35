"""Phenotype and covariate tables: codings detected and forced, encoding, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import SHARED

from genopt.errors import GenoptError
from genopt.io.plink import read_fam
from genopt.io.tables import Phenotype, phenotype_from_fam, read_covariates, read_phenotype, read_population_labels

HM3_LABELS = SHARED / "data" / "hapmap3" / "population_labels.tsv"
KG1_LABELS = SHARED / "data" / "kg1" / "population_labels.tsv"


def write(tmp_path: Path, text: str, name: str = "table.txt") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def outcome(ph: Phenotype) -> dict[str, float]:
    """IID -> value (NaN as the string 'NA' so dicts compare)."""
    return {iid: ("NA" if np.isnan(v) else v) for (_, iid), v in ph.values.items()}


# --------------------------------------------------------------------------- phenotype codings


def test_01_coding_detected(tmp_path: Path) -> None:
    path = write(tmp_path, "FID IID coop\nf1 a 0\nf1 b 1\nf2 c NA\nf2 d 1\n")
    ph = read_phenotype(path)
    assert (ph.coding, ph.detected, ph.n_missing, ph.name) == ("01", True, 1, "coop")
    assert outcome(ph) == {"a": 0.0, "b": 1.0, "c": "NA", "d": 1.0}
    assert (ph.n_cases, ph.n_controls) == (2, 1)
    assert ph.values.index.names == ["fid", "iid"]
    assert "coding 01 (detected" in ph.describe() and "1 missing" in ph.describe()


def test_12_coding_detected_with_plink_missing_codes(tmp_path: Path) -> None:
    # tabs, #FID header, PLINK's 0 and -9 missing codes
    path = write(tmp_path, "#FID\tIID\tcoop\nf a 1\nf b 2\nf c 0\nf d -9\nf e NA\nf g 2\n")
    ph = read_phenotype(path)
    assert (ph.coding, ph.detected, ph.n_missing) == ("12", True, 3)
    # PLINK: 1 = control = defect (0), 2 = case = cooperate (1)
    assert outcome(ph) == {"a": 0.0, "b": 1.0, "c": "NA", "d": "NA", "e": "NA", "g": 1.0}


@pytest.mark.parametrize(
    ("values", "coding", "n_missing"),
    [
        ("0 1 1 0", "01", 0),
        ("1 2 2 1", "12", 0),
        ("0 1 2 1", "12", 1),  # {0,1,2}: PLINK coding with 0 missing
        ("-9 0 1 1", None, None),  # -9 means PLINK: 0 missing, 1 control -> one class: ambiguous
        ("-9 1 2 2", "12", 1),
        ("1.0 2.0 1 2", "12", 0),  # numbers, not strings, are compared
    ],
)
def test_auto_detection_rules(tmp_path: Path, values: str, coding: str | None, n_missing: int | None) -> None:
    lines = [f"f s{i} {v}" for i, v in enumerate(values.split())]
    path = write(tmp_path, "FID IID y\n" + "\n".join(lines) + "\n")
    if coding is None:
        with pytest.raises(GenoptError, match="ambiguous"):
            read_phenotype(path)
        return
    ph = read_phenotype(path)
    assert (ph.coding, ph.n_missing) == (coding, n_missing)
    assert ph.n_cases + ph.n_controls + ph.n_missing == 4


@pytest.mark.parametrize(
    ("values", "shown"),
    [("1 1 NA", "only 1,"), ("0 0", "only 0,"), ("2 2 2", "only 2,"), ("0 2 2", "only 0, 2,"), ("-9 1", "only -9, 1")],
)
def test_ambiguous_coding_refused(tmp_path: Path, values: str, shown: str) -> None:
    lines = [f"f s{i} {v}" for i, v in enumerate(values.split())]
    path = write(tmp_path, "FID IID y\n" + "\n".join(lines) + "\n")
    with pytest.raises(GenoptError, match=rf"table\.txt: phenotype column 'y': coding is ambiguous.*{shown}"):
        read_phenotype(path)


def test_forced_coding_accepts_one_class_and_overrides_detection(tmp_path: Path) -> None:
    ones = write(tmp_path, "FID IID y\nf a 1\nf b 1\nf c NA\n")
    assert outcome(read_phenotype(ones, coding="01")) == {"a": 1.0, "b": 1.0, "c": "NA"}
    assert outcome(read_phenotype(ones, coding="12")) == {"a": 0.0, "b": 0.0, "c": "NA"}
    zero_one = write(tmp_path, "FID IID y\nf a 0\nf b 1\n", "zo.txt")
    ph = read_phenotype(zero_one, coding="12")  # 0 is missing in PLINK coding
    assert (ph.coding, ph.detected, ph.n_missing) == ("12", False, 1)
    assert outcome(ph) == {"a": "NA", "b": 0.0}


def test_value_outside_forced_coding(tmp_path: Path) -> None:
    path = write(tmp_path, "FID IID y\nf a 0\nf b 1\nfam7 c 2\n")
    with pytest.raises(GenoptError, match=r"table\.txt, line 4: .*value '2' for FID=fam7 IID=c is outside coding 01"):
        read_phenotype(path, coding="01")
    path = write(tmp_path, "FID IID y\nf a 1\nf b 2\nf c -9\nf d 3\n")
    with pytest.raises(GenoptError, match=r"line 5: .*value '3' for FID=f IID=d is outside coding 12") as err:
        read_phenotype(path, coding="12")
    assert err.value.line == 5
    path = write(tmp_path, "FID IID y\nf a 1\nf b 0\nf c -9\n")
    with pytest.raises(GenoptError, match=r"line 4: .*value '-9' .* outside coding 01"):
        read_phenotype(path, coding="01")


@pytest.mark.parametrize("bad", ["3", "0.5", "-1", "12"])
def test_value_outside_binary_codes_auto(tmp_path: Path, bad: str) -> None:
    path = write(tmp_path, f"FID IID y\nf a 1\nf b 2\nf c {bad}\nf d 1\n")
    with pytest.raises(GenoptError, match=rf"line 4: .*value '{bad}' for FID=f IID=c is not a binary code"):
        read_phenotype(path)


def test_text_in_phenotype(tmp_path: Path) -> None:
    path = write(tmp_path, "FID IID y\nf a 1\nf b cooperate\n")
    with pytest.raises(GenoptError, match=r"line 3: phenotype column 'y': value 'cooperate' for FID=f IID=b is not a"):
        read_phenotype(path)


def test_all_missing_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "FID IID y\nf a NA\nf b NA\n")
    with pytest.raises(GenoptError, match="no non-missing values"):
        read_phenotype(path)


def test_column_selection(tmp_path: Path) -> None:
    path = write(tmp_path, "FID IID first second\nf a 0 2\nf b 1 1\nf c 1 2\n")
    assert read_phenotype(path).name == "first"
    ph = read_phenotype(path, column="second")
    assert (ph.name, ph.coding) == ("second", "12")
    assert outcome(ph) == {"a": 1.0, "b": 0.0, "c": 1.0}
    with pytest.raises(GenoptError, match=r"table\.txt: no phenotype column 'third'; available columns: first, second"):
        read_phenotype(path, column="third")
    bare = write(tmp_path, "FID IID\nf a\n", "bare.txt")
    with pytest.raises(GenoptError, match="no phenotype column after FID IID"):
        read_phenotype(bare)


def test_unknown_coding_name(tmp_path: Path) -> None:
    path = write(tmp_path, "FID IID y\nf a 0\nf b 1\n")
    with pytest.raises(GenoptError, match="unknown phenotype coding '1/2'"):
        read_phenotype(path, coding="1/2")


# --------------------------------------------------------------------------- table format


def test_duplicate_ids_name_the_id_and_both_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "FID IID y\nf a 0\ng a 1\n\nf b 1\nf a 1\n")  # g/a differs from f/a
    with pytest.raises(GenoptError, match=r"table\.txt: duplicate sample ID FID=f IID=a on lines 2 and 6"):
        read_phenotype(path)
    with pytest.raises(GenoptError, match=r"duplicate sample ID FID=f IID=a on lines 2 and 6"):
        read_covariates(path)


def test_header_is_required(tmp_path: Path) -> None:
    path = write(tmp_path, "f a 0\nf b 1\n")
    with pytest.raises(GenoptError, match=r"table\.txt, line 1: first line must be a header starting 'FID IID'"):
        read_phenotype(path)
    path = write(tmp_path, "IID FID y\na f 0\n")
    with pytest.raises(GenoptError, match="header starting 'FID IID'"):
        read_phenotype(path)
    path = write(tmp_path, "FID IID y y\nf a 0 1\n")
    with pytest.raises(GenoptError, match=r"line 1: column name 'y' appears twice"):
        read_phenotype(path)


def test_field_counts_name_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "FID IID y z\nf a 0 1\nf b 1\nf c 0 1\n")
    with pytest.raises(GenoptError, match=r"line 3: found 3 fields, but the header has 4"):
        read_phenotype(path)
    path = write(tmp_path, "FID IID y\nf a 0\n\nf b 1 5\n")
    with pytest.raises(GenoptError, match=r"line 4: found 4 fields, but the header has 3"):
        read_covariates(path)


def test_missing_empty_and_header_only_files(tmp_path: Path) -> None:
    with pytest.raises(GenoptError, match=r"nope\.txt: phenotype file not found"):
        read_phenotype(tmp_path / "nope.txt")
    with pytest.raises(GenoptError, match=r"nope\.txt: covariate file not found"):
        read_covariates(tmp_path / "nope.txt")
    with pytest.raises(GenoptError, match="phenotype file is empty"):
        read_phenotype(write(tmp_path, ""))
    with pytest.raises(GenoptError, match="covariate file has a header but no samples"):
        read_covariates(write(tmp_path, "FID IID age\n\n"))


def test_phenotype_from_values() -> None:
    index = pd.MultiIndex.from_tuples([("f", "a"), ("f", "b"), ("f", "c")])
    ph = Phenotype.from_values(pd.Series([1, 0, np.nan], index=index))
    assert (ph.coding, ph.n_missing, ph.n_cases, ph.n_controls) == ("01", 1, 1, 1)
    with pytest.raises(ValueError, match="0, 1 or NaN"):
        Phenotype.from_values(pd.Series([1, 2, 0], index=index))
    with pytest.raises(ValueError, match="duplicate"):
        Phenotype.from_values(pd.Series([1, 0], index=pd.MultiIndex.from_tuples([("f", "a"), ("f", "a")])))


def test_phenotype_from_real_fam_files(hm3_prefix: Path, kg1_prefix: Path) -> None:
    hm3 = read_fam(str(hm3_prefix) + ".fam")
    ph = phenotype_from_fam(hm3, str(hm3_prefix) + ".fam")
    assert (ph.coding, ph.n_cases, ph.n_controls, ph.n_missing) == ("12", 957, 0, 0)  # placeholder 2 for all
    with pytest.raises(GenoptError, match=r"hm3\.fam: .fam phenotype column 'PHENO': coding is ambiguous.*only 2,"):
        phenotype_from_fam(hm3, str(hm3_prefix) + ".fam", coding="auto")
    kg1 = read_fam(str(kg1_prefix) + ".fam")
    ph = phenotype_from_fam(kg1, str(kg1_prefix) + ".fam")
    assert (ph.n_missing, ph.n_cases, ph.n_controls) == (1092, 0, 0)  # all -9


# --------------------------------------------------------------------------- covariates


def test_numeric_and_categorical_covariates(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "FID IID age sex batch site\nf a 30 M 1 north\nf b 41.5 F 2 south\nf c NA NA 10 north\nf d -9 F 2 east\n",
    )
    cov = read_covariates(path, categorical=["batch"])
    assert cov.columns == ["age", "sex=M", "batch=2", "batch=10", "site=north", "site=south"]
    expected = np.array(
        [
            [30, 1, 0, 0, 1, 0],
            [41.5, 0, 1, 0, 0, 1],
            [np.nan, np.nan, 0, 1, 1, 0],
            [-9, 0, 1, 0, 0, 0],  # -9 is a number in a covariate table, not missing
        ]
    )
    np.testing.assert_array_equal(cov.frame.to_numpy(), expected)
    assert cov.frame.dtypes.eq(np.float64).all()
    assert list(cov.frame.index) == [("f", "a"), ("f", "b"), ("f", "c"), ("f", "d")]
    enc = {e.column: e for e in cov.encoding}
    assert (enc["age"].kind, enc["age"].n_missing) == ("numeric", 1)
    assert (enc["sex"].kind, enc["sex"].reference, enc["sex"].levels) == ("categorical", "F", ("F", "M"))
    assert enc["batch"].levels == ("1", "2", "10")  # numeric levels in numeric order
    assert enc["site"].reference == "east"
    assert "reference 'east' dropped" in cov.describe()


def test_covariate_column_selection(tmp_path: Path) -> None:
    path = write(tmp_path, "FID IID age sex pc1\nf a 30 M 0.1\nf b 40 F -0.2\n")
    cov = read_covariates(path, columns=["pc1", "age"])
    assert cov.columns == ["pc1", "age"]
    with pytest.raises(GenoptError, match=r"no covariate column 'agee'; available columns: age, sex, pc1"):
        read_covariates(path, columns=["age", "agee"])
    with pytest.raises(GenoptError, match=r"no categorical covariate column 'batch'; available columns: age, sex, pc1"):
        read_covariates(path, categorical=["batch"])


def test_text_in_numeric_covariate(tmp_path: Path) -> None:
    path = write(tmp_path, "FID IID age sex\nf a 30 M\nf b 41 F\nfam3 c thirty F\nf d 22 M\n")
    with pytest.raises(
        GenoptError, match=r"table\.txt, line 4: covariate column 'age' is numeric but has text 'thirty' for FID=fam3"
    ) as err:
        read_covariates(path)
    assert err.value.line == 4
    # the same column named as categorical is accepted
    assert read_covariates(path, categorical=["age"]).encoding[0].levels == ("22", "30", "41", "thirty")


def test_non_finite_covariate(tmp_path: Path) -> None:
    path = write(tmp_path, "FID IID age\nf a 30\nf b -inf\n")
    with pytest.raises(
        GenoptError, match=r"line 3: covariate column 'age': value '-inf' for FID=f IID=b is not finite"
    ):
        read_covariates(path)


def test_one_level_categorical_and_column_clash(tmp_path: Path) -> None:
    path = write(tmp_path, "FID IID site\nf a north\nf b north\n")
    cov = read_covariates(path)
    assert cov.frame.shape == (2, 0) and cov.encoding[0].levels == ("north",)
    clash = write(tmp_path, "FID IID sex sex=M\nf a M 1\nf b F 0\n", "clash.txt")
    with pytest.raises(GenoptError, match=r"output column 'sex=M' would appear twice"):
        read_covariates(clash)


def test_hm3_population_labels_as_categorical_covariate() -> None:
    cov = read_covariates(HM3_LABELS)
    raw = pd.read_csv(HM3_LABELS, sep="\t", dtype=str)
    assert len(cov.frame) == len(raw) == 957
    (enc,) = cov.encoding
    assert enc.kind == "categorical" and enc.reference == "ASW"
    assert enc.levels == ("ASW", "CEU", "CHB", "CHD", "GIH", "JPT", "LWK", "MEX", "MKK", "TSI", "YRI")
    assert cov.columns == [f"population={p}" for p in enc.levels[1:]]
    onehot = cov.frame.to_numpy()
    assert set(np.unique(onehot)) == {0.0, 1.0}
    # each sample is in exactly one non-reference level, or none (the reference)
    assert (onehot.sum(axis=1) == (raw["population"] != "ASW").to_numpy()).all()
    counts = raw["population"].value_counts()
    for j, level in enumerate(enc.levels[1:]):
        assert onehot[:, j].sum() == counts[level]
        # the right samples, not only the right number
        np.testing.assert_array_equal(onehot[:, j] == 1, (raw["population"] == level).to_numpy())


def test_kg1_population_labels_keep_na_as_missing() -> None:
    cov = read_covariates(KG1_LABELS)
    (enc,) = cov.encoding
    assert enc.n_missing == 43 and len(enc.levels) == 14
    assert cov.frame.isna().any(axis=1).sum() == 43
    assert cov.frame.isna().all(axis=1).sum() == 43


def test_population_labels_are_read_by_iid_with_na_kept(tmp_path: Path) -> None:
    labels = read_population_labels(KG1_LABELS)
    raw = pd.read_csv(KG1_LABELS, sep="\t", dtype=str, keep_default_na=False)
    assert len(labels) == len(raw) == 1092
    assert list(labels["IID"]) == list(raw["IID"])
    assert (labels["population"] == "NA").sum() == 43  # unknown, kept as text for recombine to skip
    spaced = write(tmp_path, "fid iid Population\nf1 a CEU\nf2 b  YRI\n")
    assert read_population_labels(spaced)[["IID", "population"]].values.tolist() == [["a", "CEU"], ["b", "YRI"]]
    with pytest.raises(GenoptError, match="lacks a 'population' column") as err:
        read_population_labels(write(tmp_path, "FID IID pop\nf a CEU\n", "bad.txt"))
    assert "bad.txt" in str(err.value) and "line 1" in str(err.value)
    with pytest.raises(GenoptError, match="not found"):
        read_population_labels(tmp_path / "absent.tsv")
