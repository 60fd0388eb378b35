"""Phenotype and covariate tables in PLINK style.

Both tables have a header line whose first two fields are ``FID IID`` (``#FID``
is accepted for the first, as plink2 writes it), then one line per sample.
Fields are separated by any run of tabs or spaces (as PLINK reads them); blank
lines are skipped; ``NA`` (also ``nan``/``NaN``) is a missing value. Every
sample is identified by the pair (FID, IID); a pair appearing twice is an
error naming the pair and both lines.

The binary outcome uses genopt's internal coding: **1 = cooperate, 0 =
defect**. A phenotype file may code it as ``01`` (0/1, ``NA`` missing) or as
PLINK's ``12`` (1 = control = 0, 2 = case = 1; ``0``, ``-9`` and ``NA``
missing); :func:`read_phenotype` detects which and reports it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from genopt.errors import GenoptError
from genopt.io.plink import check_unique_ids, read_fields

#: Field values read as missing in every column of a phenotype or covariate table.
NA_TOKENS: tuple[str, ...] = ("NA", "nan", "NaN")
#: Index level names of every table returned here (the .fam column names).
ID_LEVELS: list[str] = ["fid", "iid"]

Coding = Literal["01", "12"]
#: Codes of each binary coding: value -> internal outcome (1 cooperate, 0 defect), and missing codes.
CODINGS: dict[str, tuple[dict[float, int], frozenset[float]]] = {
    "01": ({0.0: 0, 1.0: 1}, frozenset()),
    "12": ({1.0: 0, 2.0: 1}, frozenset({0.0, -9.0})),
}
_CODING_TEXT = {"01": "0/1 (NA missing)", "12": "PLINK 1/2 (1 = control, 2 = case; 0, -9, NA missing)"}


def _id_text(fid: object, iid: object) -> str:
    return f"FID={fid} IID={iid}"


@dataclass(frozen=True, eq=False)
class _Table:
    """A parsed table: all-str values, the 1-based file line of each row."""

    path: Path
    frame: pd.DataFrame  # columns: the header's names (first two renamed fid, iid)
    columns: list[str]  # data columns after FID IID, as in the header
    line_no: npt.NDArray[np.intp]

    def where(self, row: int) -> tuple[int, str]:
        """File line and ``FID=.. IID=..`` text of row ``row``."""
        return int(self.line_no[row]), _id_text(self.frame["fid"].iat[row], self.frame["iid"].iat[row])

    def index(self) -> pd.MultiIndex:
        return pd.MultiIndex.from_arrays([self.frame["fid"], self.frame["iid"]], names=ID_LEVELS)

    def select(self, names: Sequence[str] | None, kind: str) -> list[str]:
        """Validate requested column names against the header (None = all)."""
        if names is None:
            return list(self.columns)
        unknown = [n for n in names if n not in self.columns]
        if unknown:
            raise GenoptError(
                f"no {kind} column {unknown[0]!r}; available columns: {', '.join(self.columns) or '(none)'}",
                self.path,
            )
        return list(dict.fromkeys(names))


def _read_table(path: str | Path, kind: str) -> _Table:
    """Read a PLINK-style table with a ``FID IID`` header (see module docstring)."""
    path = Path(path)
    if not path.exists():
        raise GenoptError(f"{kind} file not found", path)
    raw = read_fields(
        path,
        empty=f"{kind} file is empty (expected a header line starting 'FID IID')",
        malformed=f"malformed {kind} file ({{exc}})",
        width="found {saw} fields, but the header has {expected}",
    )
    present = raw.notna() & (raw != "")
    keep = present.any(axis=1).to_numpy()
    line_no = np.flatnonzero(keep).astype(np.intp) + 1
    raw, present = raw.loc[keep], present.loc[keep]
    if raw.empty:
        raise GenoptError(f"{kind} file is empty (expected a header line starting 'FID IID')", path)
    n_header = int(present.iloc[0].sum())
    header = [str(h) for h in raw.iloc[0, :n_header]]
    if n_header < 2 or header[0] not in ("FID", "#FID") or header[1] != "IID":
        raise GenoptError(
            f"first line must be a header starting 'FID IID' (or '#FID IID'), found {' '.join(header[:3])!r}",
            path,
            int(line_no[0]),
        )
    seen: dict[str, int] = {}
    for pos, name in enumerate(header):
        if name in seen:
            raise GenoptError(f"column name {name!r} appears twice in the header", path, int(line_no[0]))
        seen[name] = pos
    counts = present.sum(axis=1).to_numpy()
    bad = np.flatnonzero(counts != n_header)
    if bad.size:
        row = int(bad[0])
        raise GenoptError(f"found {int(counts[row])} fields, but the header has {n_header}", path, int(line_no[row]))
    if len(raw) == 1:
        raise GenoptError(f"{kind} file has a header but no samples", path)
    frame = raw.iloc[1:, :n_header].reset_index(drop=True)
    frame.columns = ["fid", "iid", *header[2:]]
    table = _Table(path=path, frame=frame, columns=header[2:], line_no=line_no[1:])
    check_unique_ids(frame, table.line_no, path)
    return table


def _numeric(
    table: _Table, column: str, what: str
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Parse a column as numbers: (values with NaN for missing/text, missing mask, text mask)."""
    text = table.frame[column]
    missing = text.isin(NA_TOKENS).to_numpy()
    values = pd.to_numeric(text.where(~missing), errors="coerce").to_numpy(dtype=np.float64)
    nonnumeric = np.isnan(values) & ~missing
    infinite = np.isinf(values)
    if infinite.any():
        row = int(np.flatnonzero(infinite)[0])
        line, ids = table.where(row)
        raise GenoptError(
            f"{what} column {column!r}: value {text.iat[row]!r} for {ids} is not finite", table.path, line
        )
    return values, missing, nonnumeric


# --------------------------------------------------------------------------- phenotype


@dataclass(frozen=True, eq=False)
class Phenotype:
    """A binary outcome read from a table, in genopt's internal coding.

    Attributes
    ----------
    values
        float64 Series indexed by (``fid``, ``iid``) in file order: 1.0 =
        cooperate (case), 0.0 = defect (control), NaN = missing.
    name
        Column the values came from (``"PHENO"`` for .fam column 6).
    coding
        ``"01"`` or ``"12"``: the coding used to read the file.
    detected
        True when ``coding`` was detected from the values (``coding="auto"``),
        False when it was forced.
    n_missing
        Number of rows whose value was treated as missing (``NA``; also ``0``
        and ``-9`` under coding ``"12"``).
    path
        File read (None for phenotypes built in memory, e.g. by simulation).
    """

    values: pd.Series
    name: str
    coding: str
    detected: bool
    n_missing: int
    path: Path | None = None

    @property
    def n_cases(self) -> int:
        """Rows with outcome 1 (cooperate)."""
        return int((self.values == 1).sum())

    @property
    def n_controls(self) -> int:
        """Rows with outcome 0 (defect)."""
        return int((self.values == 0).sum())

    def describe(self) -> str:
        """One line for logs: where it came from, the coding and the counts."""
        how = "detected" if self.detected else "forced"
        return (
            f"phenotype {self.name!r} from {self.path or '(memory)'}: coding {self.coding} ({how}; "
            f"{_CODING_TEXT[self.coding]}), {self.n_cases} cooperate (1), {self.n_controls} defect (0), "
            f"{self.n_missing} missing"
        )

    @classmethod
    def from_values(cls, values: pd.Series, name: str = "PHENO") -> Phenotype:
        """Wrap an in-memory 0/1/NaN Series indexed by (fid, iid), e.g. a simulated outcome."""
        v = pd.Series(np.asarray(values, dtype=np.float64), index=values.index, name=name)
        if not isinstance(v.index, pd.MultiIndex) or v.index.nlevels != 2:
            raise ValueError("phenotype values must be indexed by (fid, iid)")
        if v.index.has_duplicates:
            raise ValueError(f"duplicate sample ID {v.index[v.index.duplicated()][0]!r} in phenotype values")
        v.index = v.index.set_names(ID_LEVELS)
        bad = ~(v.isna() | v.isin([0.0, 1.0]))
        if bad.any():
            raise ValueError(f"phenotype values must be 0, 1 or NaN; got {v[bad].iloc[0]!r}")
        return cls(values=v, name=name, coding="01", detected=False, n_missing=int(v.isna().sum()))


def _detect_coding(table: _Table, column: str, values: npt.NDArray[np.float64]) -> Coding:
    """Auto-detection rules, see :func:`read_phenotype`."""
    observed = values[~np.isnan(values)]
    allowed = np.isin(observed, [-9.0, 0.0, 1.0, 2.0])
    if not allowed.all():
        row = int(np.flatnonzero(~np.isnan(values))[np.flatnonzero(~allowed)[0]])
        line, ids = table.where(row)
        raise GenoptError(
            f"phenotype column {column!r}: value {table.frame[column].iat[row]!r} for {ids} is not a binary code: "
            f"the column fits neither coding {_CODING_TEXT['01']} nor {_CODING_TEXT['12']}",
            table.path,
            line,
        )
    return "12" if np.isin(observed, [-9.0, 2.0]).any() else "01"


def _code_phenotype(
    table: _Table, column: str, coding: str, text_name: str = "phenotype"
) -> tuple[pd.Series, str, bool, int]:
    if coding not in ("auto", "01", "12"):
        raise GenoptError(f"unknown phenotype coding {coding!r} (expected 'auto', '01' or '12')", table.path)
    values, na, nonnumeric = _numeric(table, column, text_name)
    if nonnumeric.any():
        row = int(np.flatnonzero(nonnumeric)[0])
        line, ids = table.where(row)
        raise GenoptError(
            f"{text_name} column {column!r}: value {table.frame[column].iat[row]!r} for {ids} is not a number "
            "(missing values are written NA)",
            table.path,
            line,
        )
    if (~na).sum() == 0:
        raise GenoptError(f"{text_name} column {column!r} has no non-missing values", table.path)
    detected = coding == "auto"
    used: str = _detect_coding(table, column, values) if detected else coding
    mapping, missing_codes = CODINGS[used]
    codes = np.fromiter(mapping, dtype=np.float64)
    missing = na | np.isin(values, np.fromiter(missing_codes, dtype=np.float64, count=len(missing_codes)))
    outside = ~missing & ~np.isin(values, codes)
    if outside.any():
        row = int(np.flatnonzero(outside)[0])
        line, ids = table.where(row)
        raise GenoptError(
            f"{text_name} column {column!r}: value {table.frame[column].iat[row]!r} for {ids} is outside coding "
            f"{used} ({_CODING_TEXT[used]})",
            table.path,
            line,
        )
    out = np.full(values.shape, np.nan)
    for code, outcome in mapping.items():
        out[values == code] = outcome
    out[missing] = np.nan
    if detected:
        classes = np.unique(out[~np.isnan(out)])
        if classes.size < 2:
            raw = np.unique(table.frame[column].to_numpy(dtype=str)[~na]).tolist()
            raise GenoptError(
                f"{text_name} column {column!r}: coding is ambiguous: the non-missing values are only "
                f"{', '.join(raw)}, which leaves one outcome class under coding {used} "
                f"({_CODING_TEXT[used]}); check the column, or force the coding if this is intended",
                table.path,
            )
    series = pd.Series(out, index=table.index(), name=column)
    return series, used, detected, int(missing.sum())


def read_phenotype(path: str | Path, column: str | None = None, coding: str = "auto") -> Phenotype:
    """Read a binary outcome (1 = cooperate, 0 = defect) from a PLINK-style table.

    Parameters
    ----------
    path
        Table with a header starting ``FID IID`` (or ``#FID IID``), tab or
        space separated.
    column
        Phenotype column name; None takes the first column after ``IID``.
    coding
        ``"01"``: 0 = defect, 1 = cooperate, ``NA`` missing.
        ``"12"``: PLINK's case/control coding, 1 = control = defect (0),
        2 = case = cooperate (1); ``0``, ``-9`` and ``NA`` missing.
        ``"auto"`` (default) detects it from the column's values:

        * any value other than -9, 0, 1, 2 (or ``NA``) fits neither coding:
          error naming the line, ID and value;
        * any ``2`` or ``-9`` present: ``"12"`` (so ``{0, 1, 2}`` is PLINK
          coding with ``0`` missing, and ``{-9, 1, 2}`` likewise);
        * otherwise (values in ``{0, 1}``): ``"01"``;
        * if the detected coding leaves fewer than two outcome classes (only
          one distinct value, such as all ``1`` which could be all cooperators
          in 0/1 or all controls in 1/2; or ``{0, 2}`` which is cases only once
          ``0`` is missing) the coding is ambiguous: error. Forcing the coding
          accepts a one-class column.

    Returns
    -------
    Phenotype
        Values in file order, indexed by (``fid``, ``iid``), with the coding
        used, whether it was detected, and the number of missing values.

    Raises
    ------
    GenoptError
        Missing file, no ``FID IID`` header, a line with the wrong number of
        fields, duplicate (FID, IID) (naming both lines), unknown column
        (listing the available ones), text or a value outside the coding
        (naming the line, ID and value), an ambiguous column, or no
        non-missing value.
    """
    table = _read_table(path, "phenotype")
    if column is None:
        if not table.columns:
            raise GenoptError("phenotype file has no phenotype column after FID IID", table.path)
        column = table.columns[0]
    (column,) = table.select([column], "phenotype")
    values, used, detected, n_missing = _code_phenotype(table, column, coding)
    return Phenotype(values=values, name=column, coding=used, detected=detected, n_missing=n_missing, path=table.path)


def phenotype_from_fam(samples: pd.DataFrame, path: str | Path | None = None, coding: str = "12") -> Phenotype:
    """The binary outcome in .fam column 6, PLINK coding by default.

    Parameters
    ----------
    samples
        .fam table (columns ``fid iid ... phenotype``), e.g.
        :attr:`genopt.io.plink.PlinkFileset.samples`.
    path
        The .fam path, for messages.
    coding
        ``"12"`` (default, PLINK's: 1 control = defect, 2 case = cooperate;
        0, -9, NA missing), ``"01"``, or ``"auto"`` (rules of
        :func:`read_phenotype`, refusing a one-class column).

    Returns
    -------
    Phenotype named ``"PHENO"``; an all-missing column (e.g. all ``-9``) is an
    error because no sample would have an outcome.
    """
    frame = pd.DataFrame(
        {"fid": samples["fid"].to_numpy(), "iid": samples["iid"].to_numpy(), "PHENO": samples["phenotype"].to_numpy()}
    ).astype(str)
    table = _Table(
        path=Path(path) if path is not None else Path("<.fam>"),
        frame=frame,
        columns=["PHENO"],
        line_no=np.arange(1, len(frame) + 1, dtype=np.intp),
    )
    values, used, detected, n_missing = _code_phenotype(table, "PHENO", coding, ".fam phenotype")
    return Phenotype(values=values, name="PHENO", coding=used, detected=detected, n_missing=n_missing, path=table.path)


# --------------------------------------------------------------------------- covariates


@dataclass(frozen=True)
class CovariateEncoding:
    """How one input covariate column became model columns.

    Attributes
    ----------
    column
        Input column name.
    kind
        ``"numeric"`` (used as is) or ``"categorical"`` (one-hot encoded).
    output
        Output column names: ``(column,)`` for numeric; ``column=level`` for
        each categorical level except the reference.
    levels
        Categorical levels in encoding order (numeric order when every level
        is a number, else lexicographic); empty for numeric.
    reference
        The dropped first level (its samples are all-zero in ``output``).
    n_missing
        Rows with ``NA`` in this column (NaN in every output column).
    """

    column: str
    kind: str
    output: tuple[str, ...]
    levels: tuple[str, ...] = ()
    reference: str | None = None
    n_missing: int = 0

    def describe(self) -> str:
        if self.kind == "numeric":
            return f"{self.column}: numeric, {self.n_missing} missing"
        return (
            f"{self.column}: categorical with {len(self.levels)} levels, reference {self.reference!r} dropped, "
            f"columns {', '.join(self.output) or '(none: one level)'}, {self.n_missing} missing"
        )


@dataclass(frozen=True, eq=False)
class Covariates:
    """Covariates read from a table, ready for a model.

    Attributes
    ----------
    frame
        float64 DataFrame indexed by (``fid``, ``iid``) in file order, one
        column per numeric covariate and per non-reference categorical level;
        NaN where the input was ``NA`` (the Cohort drops such samples).
    encoding
        One :class:`CovariateEncoding` per input column used, in order.
    path
        File read.
    """

    frame: pd.DataFrame
    encoding: tuple[CovariateEncoding, ...]
    path: Path | None = None

    @property
    def columns(self) -> list[str]:
        """Output column names."""
        return list(self.frame.columns)

    def describe(self) -> str:
        """Multi-line text for logs and reports."""
        head = f"covariates from {self.path or '(memory)'}: {self.frame.shape[1]} model columns"
        return "\n".join([head, *("  " + e.describe() for e in self.encoding)])


def _level_order(levels: list[str]) -> list[str]:
    as_num = pd.to_numeric(pd.Series(levels, dtype=object), errors="coerce")
    if not as_num.isna().any():
        return [levels[i] for i in np.argsort(as_num.to_numpy(), kind="stable")]
    return sorted(levels)


def read_covariates(
    path: str | Path, columns: Sequence[str] | None = None, categorical: Sequence[str] = ()
) -> Covariates:
    """Read covariates from a PLINK-style table, validating and encoding them.

    Parameters
    ----------
    path
        Table with a header starting ``FID IID`` (or ``#FID IID``), tab or
        space separated; ``NA`` is missing (``-9`` is *not* missing here: it
        is a number).
    columns
        Columns to use, in this order; None (or empty) uses every column after
        ``IID``.
    categorical
        Columns to one-hot encode even if their values are numbers (e.g. a
        batch number). A column none of whose non-missing values is a number
        is categorical without being named. Each categorical column becomes
        one 0/1 column per level except the first (the reference), named
        ``column=level``.

    Returns
    -------
    Covariates
        float64 frame indexed by (``fid``, ``iid``) and the encoding of each
        column.

    Raises
    ------
    GenoptError
        Missing file, no header, wrong field counts, duplicate (FID, IID),
        unknown column (listing the available ones), a numeric column holding
        text (naming the line, ID, column and value) or a non-finite number.
    """
    table = _read_table(path, "covariate")
    use = table.select(list(columns) if columns else None, "covariate")
    unknown_cat = [c for c in categorical if c not in table.columns]
    if unknown_cat:
        table.select(unknown_cat, "categorical covariate")
    categorical_set = set(categorical)
    index = table.index()
    parts: list[pd.DataFrame] = []
    encodings: list[CovariateEncoding] = []
    for column in use:
        values, missing, nonnumeric = _numeric(table, column, "covariate")
        n_missing = int(missing.sum())
        is_cat = column in categorical_set or (nonnumeric.any() and not (~missing & ~nonnumeric).any())
        if not is_cat:
            if nonnumeric.any():
                row = int(np.flatnonzero(nonnumeric)[0])
                line, ids = table.where(row)
                raise GenoptError(
                    f"covariate column {column!r} is numeric but has text {table.frame[column].iat[row]!r} for {ids}"
                    f" (missing values are written NA; name the column as categorical if it is one)",
                    table.path,
                    line,
                )
            parts.append(pd.DataFrame({column: values}, index=index))
            encodings.append(CovariateEncoding(column=column, kind="numeric", output=(column,), n_missing=n_missing))
            continue
        text = table.frame[column].to_numpy(dtype=object)
        levels = _level_order(sorted(set(text[~missing])))
        out_names = [f"{column}={level}" for level in levels[1:]]
        onehot = np.zeros((len(text), len(out_names)), dtype=np.float64)
        if out_names:
            codes = pd.Categorical(table.frame[column].where(~missing), categories=levels).codes
            onehot = (codes[:, None] == np.arange(1, len(levels))[None, :]).astype(np.float64)
            onehot[missing] = np.nan
        parts.append(pd.DataFrame(onehot, index=index, columns=out_names))
        encodings.append(
            CovariateEncoding(
                column=column,
                kind="categorical",
                output=tuple(out_names),
                levels=tuple(levels),
                reference=levels[0] if levels else None,
                n_missing=n_missing,
            )
        )
    frame = pd.concat(parts, axis=1) if parts else pd.DataFrame(index=index)
    clash = frame.columns[frame.columns.duplicated()]
    if len(clash):
        raise GenoptError(f"covariate output column {clash[0]!r} would appear twice; rename a column", table.path)
    return Covariates(frame=frame.astype(np.float64), encoding=tuple(encodings), path=table.path)


# --------------------------------------------------------------------------- population labels


def read_population_labels(path: str | Path) -> pd.DataFrame:
    """Read a population label table: header naming ``IID`` and ``population`` (any case), tab or spaces.

    Used to recombine within populations (:func:`genopt.simulate.recombine`).
    Unlike the phenotype and covariate tables, only the IID identifies a
    sample here.

    Returns
    -------
    DataFrame of str, the file's columns with the IID and population columns
    renamed ``IID`` and ``population``; ``NA`` is kept as the text ``"NA"``
    (an unknown population; :func:`genopt.simulate.recombine` skips it).

    Raises
    ------
    GenoptError
        The file is missing, empty or not text, its header lacks an IID or
        population column or names a column twice, or a line has a different
        number of fields than the header (naming the line).
    """
    path = Path(path)
    if not path.exists():
        raise GenoptError("population label file not found", path)
    empty = "population label file is empty (expected a header naming IID and population)"
    raw = read_fields(
        path,
        empty=empty,
        malformed="malformed population label file ({exc})",
        width="found {saw} fields, but the header has {expected}",
    )
    present = raw.notna() & (raw != "")
    keep = present.any(axis=1).to_numpy()
    line_no = np.flatnonzero(keep) + 1
    raw, present = raw.loc[keep], present.loc[keep]
    if raw.empty:
        raise GenoptError(empty, path)
    n_header = int(present.iloc[0].sum())
    header = [str(h) for h in raw.iloc[0, :n_header]]
    bad = np.flatnonzero(present.sum(axis=1).to_numpy() != n_header)
    if bad.size:
        found = int(present.iloc[bad[0]].sum())
        raise GenoptError(f"found {found} fields, but the header has {n_header}", path, int(line_no[bad[0]]))
    if len(set(header)) < len(header):
        raise GenoptError(f"the header names a column twice ({' '.join(header)})", path, int(line_no[0]))
    table = pd.DataFrame(raw.iloc[1:, :n_header].to_numpy(), columns=header)
    cols = {c.lower(): c for c in table.columns}
    for need in ("iid", "population"):
        if need not in cols:
            raise GenoptError(f"header lacks a {need!r} column (found {' '.join(table.columns)})", path, 1)
    return table.rename(columns={cols["iid"]: "IID", cols["population"]: "population"})
