"""Every file genopt hands to people or other tools (formats in ../shared/DESIGN.md).

All writers are atomic (:mod:`genopt.io.atomic`): a file either appears
complete or not at all. The effect allele everywhere is the discovery .bim A1.

========================  =====================================================
file                      writer
========================  =====================================================
``model.json``            :func:`write_model_json` / :func:`read_model_json`
``score.tsv``             :func:`write_score_tsv` (``ID A1 WEIGHT``, for
                          ``plink2 --score score.tsv 1 2 3 header-read``)
``extract.txt``           :func:`write_extract` (one ID a line)
``variants.tsv``          :func:`write_variants_tsv` (GWAS-SSF columns)
``variants.yaml``         :func:`write_variants_yaml` (GWAS-SSF metadata)
``score.pgs.txt``         :func:`write_pgs_scoring` (PGS Catalog scoring
                          file, format 2.0)
========================  =====================================================

PLINK and the score
-------------------
``plink2 --bfile X --score score.tsv 1 2 3 header-read cols=+scoresums``
reports ``WEIGHT_SUM`` (the column is named after the header of column 3;
``SCORE1_SUM`` without a header) = ``sum_j WEIGHT_j * (A1 count)_j``. PLINK
matches alleles by their codes (a target with A1/A2 swapped is handled, a
complemented strand is not, nor are palindromic SNPs checked), and imputes a
missing call with the **target** cohort's mean, genopt with the discovery
``2p``. So:

* with no missing call, ``WEIGHT_SUM`` equals
  :meth:`genopt.search.final.FinalModel.genetic_score` (to PLINK's 6 printed
  significant digits; tested on the bundled held-out cohorts);
* with ``no-mean-imputation`` a missing call adds 0, so ``WEIGHT_SUM`` =
  genopt's score minus ``weight_j * 2p_j`` for every missing call (tested);
* the default ``WEIGHT_AVG`` (``SCORE1_AVG``) is ``WEIGHT_SUM / (2 x variants
  in the score)`` with mean imputation, ``WEIGHT_SUM / ALLELE_CT`` with
  ``no-mean-imputation``; ``ALLELE_CT`` counts called alleles only.

``gbm`` models have no per-allele weights, so :func:`write_score_tsv` refuses
them.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from genopt import __version__
from genopt.errors import GenoptError
from genopt.io.atomic import write_text, write_tsv
from genopt.search.final import FinalModel

__all__ = [
    "MODEL_FORMAT",
    "MODEL_FORMAT_VERSION",
    "VARIANTS_COLUMNS",
    "read_model_json",
    "write_extract",
    "write_model_json",
    "write_pgs_scoring",
    "write_score_tsv",
    "write_variants_tsv",
    "write_variants_yaml",
]

#: ``format`` field of model.json.
MODEL_FORMAT = "genopt-final-model"
#: Version of the model.json layout; :func:`read_model_json` refuses other major versions.
MODEL_FORMAT_VERSION = 1

#: Columns of variants.tsv, in order (GWAS-SSF names, then genopt's).
VARIANTS_COLUMNS: tuple[str, ...] = (
    "chromosome",
    "base_pair_location",
    "effect_allele",
    "other_allele",
    "effect_allele_frequency",
    "beta",
    "standard_error",
    "p_value",
    "rsid",
    "odds_ratio",
    "n",
    "model_weight",
    "selection_frequency",
)


# ---------------------------------------------------------------------------- model.json


def write_model_json(model: FinalModel, path: str | Path) -> None:
    """Write the frozen model as JSON (atomic).

    Floats are written with Python's shortest round-trip repr, so
    :func:`read_model_json` gives back exactly the same numbers. The top level
    holds ``format`` (:data:`MODEL_FORMAT`), ``format_version``
    (:data:`MODEL_FORMAT_VERSION`) and the fields of
    :meth:`FinalModel.to_dict`: ``family``, ``params``, ``seed``,
    ``genopt_version``, ``samples`` (``n``, ``n_cases``, ``n_controls``),
    ``intercept``, ``variants`` (parallel lists: ``id``, ``chromosome``,
    ``position``, ``effect_allele`` = discovery A1, ``other_allele``,
    ``bim_index``, ``effect_allele_frequency``, ``impute_mean`` (A1 copies),
    ``std_mean``, ``std_sd``, ``beta_std``, ``weight`` (per A1 copy; null for
    gbm)) and ``covariates`` (``names``, ``coef`` per original unit, ``mean``,
    ``sd``).
    """
    doc = {"format": MODEL_FORMAT, "format_version": MODEL_FORMAT_VERSION, **model.to_dict()}
    write_text(path, json.dumps(doc, indent=1, allow_nan=False) + "\n")


def read_model_json(path: str | Path) -> FinalModel:
    """Read a model written by :func:`write_model_json`.

    Raises
    ------
    GenoptError
        The file is missing, not JSON (with the line), not a genopt model, of
        another format version, or lacks a field (named).
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise GenoptError(f"cannot read model file: {exc.strerror}", p) from exc
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise GenoptError(f"not valid JSON: {exc.msg}", p, exc.lineno) from exc
    if not isinstance(doc, dict) or doc.get("format") != MODEL_FORMAT:
        raise GenoptError(f'not a genopt model file (expected "format": "{MODEL_FORMAT}")', p)
    version = doc.get("format_version")
    if version != MODEL_FORMAT_VERSION:
        raise GenoptError(
            f"model format_version {version!r} is not supported (this genopt reads {MODEL_FORMAT_VERSION})", p
        )
    try:
        return FinalModel.from_dict(doc)
    except KeyError as exc:
        raise GenoptError(f"model file lacks the field {exc.args[0]!r}", p) from exc
    except (TypeError, ValueError) as exc:
        raise GenoptError(f"malformed model file: {exc}", p) from exc


# ---------------------------------------------------------------------------- PLINK hand-off


def _weights_or_refuse(model: FinalModel, path: str | Path, what: str) -> npt.NDArray[np.float64]:
    """The model's per-A1 weights; a GenoptError naming ``path`` for a model without them (``gbm``)."""
    if model.weights is None:
        raise GenoptError(
            f"model family {model.family!r} has no per-allele weights; {what} written only for "
            "linear families (ridge, logistic_l2, logistic_l1, logistic_enet)",
            path,
        )
    return model.weights


def write_score_tsv(model: FinalModel, path: str | Path) -> None:
    """Write ``score.tsv``: header ``ID A1 WEIGHT``, one row per model variant.

    ``A1`` is the discovery .bim A1 (the allele counted), ``WEIGHT`` the
    model's weight per copy of it (shortest round-trip repr of the float64).
    Use with ``plink2 --score score.tsv 1 2 3 header-read cols=+scoresums``
    (module notes: SUM vs AVG and missing calls).

    Raises
    ------
    GenoptError
        The model has no per-allele weights (``gbm``).
    """
    weights = _weights_or_refuse(model, path, "score.tsv is")
    frame = pd.DataFrame({"ID": list(model.variant_id), "A1": list(model.a1), "WEIGHT": weights})
    write_tsv(path, frame, float_format=None)


#: Columns of the PGS Catalog scoring file (format 2.0) that genopt fills.
PGS_COLUMNS = (
    "rsID",
    "chr_name",
    "chr_position",
    "effect_allele",
    "other_allele",
    "effect_weight",
    "allelefrequency_effect",
)


def write_pgs_scoring(
    model: FinalModel,
    path: str | Path,
    pgs_name: str = "genopt",
    trait: str = "cooperate vs defect",
    genome_build: str | None = None,
) -> None:
    """Write the model as a PGS Catalog scoring file (format 2.0).

    Header lines ``###PGS CATALOG SCORING FILE``, ``#format_version=2.0``,
    ``#pgs_name``, ``#trait_reported``, ``#weight_type`` (``beta`` = log odds
    ratio per allele for the logistic families; ``NR`` for ridge, whose
    weights are on the least-squares scale of the 0/1 outcome),
    ``#genome_build`` (``NR`` when unknown) and ``#variants_number``; then the
    tab-separated columns :data:`PGS_COLUMNS`: effect allele = discovery A1,
    ``effect_weight`` = the model's weight per A1 copy (as in ``score.tsv``),
    ``allelefrequency_effect`` = the discovery A1 frequency.

    Raises
    ------
    GenoptError
        The model has no per-allele weights (``gbm``).
    """
    weights = _weights_or_refuse(model, path, "a scoring file is")
    header = [
        "###PGS CATALOG SCORING FILE - see https://www.pgscatalog.org/downloads/#dl_ftp_scoring for additional "
        "information",
        "#format_version=2.0",
        "##POLYGENIC SCORE (PGS) INFORMATION",
        f"#pgs_name={pgs_name}",
        f"#trait_reported={trait}",
        f"#weight_type={'NR' if model.family == 'ridge' else 'beta'}",
        f"#genome_build={genome_build or 'NR'}",
        f"#variants_number={model.n_variants}",
        f"##SOURCE INFORMATION: genopt {model.genopt_version}, family {model.family}, "
        f"n = {model.n_samples} ({model.n_cases} cooperate, {model.n_controls} defect)",
    ]
    rows = pd.DataFrame(
        {
            "rsID": list(model.variant_id),
            "chr_name": list(model.chromosome),
            "chr_position": model.position,
            "effect_allele": list(model.a1),
            "other_allele": list(model.a2),
            "effect_weight": [repr(float(w)) for w in weights],
            "allelefrequency_effect": [repr(float(f)) for f in model.a1_freq],
        },
        columns=list(PGS_COLUMNS),
    )
    write_text(path, "\n".join(header) + "\n" + rows.to_csv(sep="\t", index=False, lineterminator="\n"))


def write_extract(model: FinalModel, path: str | Path) -> None:
    """Write ``extract.txt``: one model variant ID a line (for ``plink2 --extract``)."""
    write_text(path, "".join(f"{v}\n" for v in model.variant_id))


# ---------------------------------------------------------------------------- variants.tsv / .yaml


def _assoc_rows(model: FinalModel, assoc_table: pd.DataFrame) -> pd.DataFrame:
    """Rows of a discovery association table for the model's variants (NaN where absent).

    Matched on ``variant_index`` (discovery .bim row) when the table has it,
    else on ``rsid``. An association row whose effect allele is the model's
    A2 (i.e. reported for the other allele) is flipped: beta negated, odds
    ratio inverted, frequency ``1 - f``.
    """
    cols = ["beta", "standard_error", "p_value", "odds_ratio", "n", "effect_allele", "effect_allele_frequency"]
    table = assoc_table
    if "variant_index" in table.columns:
        keyed = table.drop_duplicates("variant_index").set_index("variant_index")
        rows = keyed.reindex(model.bim_index)
    elif "rsid" in table.columns:
        keyed = table.drop_duplicates("rsid").set_index("rsid")
        rows = keyed.reindex(list(model.variant_id))
    else:
        raise GenoptError("association table has neither 'variant_index' nor 'rsid' column")
    out = pd.DataFrame({c: rows[c].to_numpy() if c in rows.columns else np.nan for c in cols})
    if "effect_allele" in rows.columns:
        effect = np.char.upper(out["effect_allele"].to_numpy().astype(str))
        flip = effect == np.char.upper(np.asarray(model.a2, dtype=str))
        if flip.any():
            for c in ("beta", "odds_ratio", "effect_allele_frequency"):
                out[c] = pd.to_numeric(out[c], errors="coerce")
            out.loc[flip, "beta"] = -out.loc[flip, "beta"]
            out.loc[flip, "odds_ratio"] = 1.0 / out.loc[flip, "odds_ratio"]
            out.loc[flip, "effect_allele_frequency"] = 1.0 - out.loc[flip, "effect_allele_frequency"]
    return out


def write_variants_tsv(
    model: FinalModel,
    path: str | Path,
    assoc_table: pd.DataFrame | None = None,
    selection_frequency: Mapping[str, float] | npt.ArrayLike | None = None,
) -> pd.DataFrame:
    """Write ``variants.tsv``: one row per model variant, columns :data:`VARIANTS_COLUMNS`.

    Parameters
    ----------
    model
        The final model (effect allele = discovery A1).
    path
        Output path (atomic write; missing values ``NA``).
    assoc_table
        Discovery association table (``genopt.assoc.scan.AssocResult.table``:
        ``beta`` = log odds ratio per A1 copy from logistic regression with the
        covariates, ``standard_error``, ``p_value``, ``odds_ratio``, ``n``),
        matched by ``variant_index`` or else ``rsid``; None writes ``NA``.
    selection_frequency
        Fraction of repeated searches that selected each variant: a mapping
        ID -> frequency, or an array in model variant order; None writes ``NA``.

    Returns
    -------
    The table written. ``effect_allele_frequency`` is the model's discovery
    A1 frequency; ``model_weight`` the weight per A1 copy (``NA`` for gbm).
    """
    m = model.n_variants
    stats = (
        _assoc_rows(model, assoc_table)
        if assoc_table is not None
        else pd.DataFrame({c: np.full(m, np.nan) for c in ("beta", "standard_error", "p_value", "odds_ratio", "n")})
    )
    if selection_frequency is None:
        sel = np.full(m, np.nan)
    elif isinstance(selection_frequency, Mapping):
        sel = np.array([float(selection_frequency.get(v, np.nan)) for v in model.variant_id])
    else:
        sel = np.asarray(selection_frequency, dtype=np.float64).reshape(-1)
        if sel.size != m:
            raise GenoptError(f"selection_frequency has {sel.size} values for {m} model variants", path)
    n = pd.to_numeric(stats["n"], errors="coerce").astype("Int64")
    table = pd.DataFrame(
        {
            "chromosome": list(model.chromosome),
            "base_pair_location": model.position,
            "effect_allele": list(model.a1),
            "other_allele": list(model.a2),
            "effect_allele_frequency": model.a1_freq,
            "beta": pd.to_numeric(stats["beta"], errors="coerce").to_numpy(dtype=np.float64),
            "standard_error": pd.to_numeric(stats["standard_error"], errors="coerce").to_numpy(dtype=np.float64),
            "p_value": pd.to_numeric(stats["p_value"], errors="coerce").to_numpy(dtype=np.float64),
            "rsid": list(model.variant_id),
            "odds_ratio": pd.to_numeric(stats["odds_ratio"], errors="coerce").to_numpy(dtype=np.float64),
            "n": n.to_numpy(),
            "model_weight": model.weights if model.weights is not None else np.full(m, np.nan),
            "selection_frequency": sel,
        },
        columns=list(VARIANTS_COLUMNS),
    )
    write_tsv(path, table)
    return table


def _yaml_scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return repr(float(value)) if math.isfinite(value) else ".nan"
    return json.dumps(str(value))  # a JSON string is a valid YAML double-quoted scalar


def _yaml(obj: Mapping[str, Any], indent: int = 0) -> str:
    pad = " " * indent
    lines = []
    for key, value in obj.items():
        if isinstance(value, Mapping):
            lines.append(f"{pad}{key}:")
            lines.append(_yaml(value, indent + 2))
        elif isinstance(value, (list, tuple)):
            lines.append(f"{pad}{key}:" + ("" if value else " []"))
            lines.extend(f"{pad}  - {_yaml_scalar(v)}" for v in value)
        else:
            lines.append(f"{pad}{key}: {_yaml_scalar(value)}")
    return "\n".join(lines)


def write_variants_yaml(
    model: FinalModel,
    path: str | Path,
    trait: str = "cooperate vs defect",
    genome_build: str = "unknown",
    data_file_name: str = "variants.tsv",
    date: _dt.date | None = None,
    extra: Mapping[str, Any] | None = None,
) -> str:
    """Write ``variants.yaml``: GWAS-SSF-style metadata of ``variants.tsv`` (atomic).

    Fields: ``trait_description``, ``sample_size``, ``case_count``
    (cooperate = 1), ``control_count`` (defect = 0), ``genome_assembly``
    (``"unknown"`` unless given), ``effect_allele`` note (discovery .bim A1),
    ``analysis_software`` (genopt and version), ``file_type``,
    ``data_file_name``, ``date_metadata_last_modified`` (ISO date, today
    unless given), ``model`` (family, hyperparameters, seed, number of
    variants, covariates) and anything in ``extra``. Written without a YAML
    library (plain block mappings; strings double-quoted).

    Returns
    -------
    The YAML text written.
    """
    day = (date or _dt.datetime.now(_dt.UTC).date()).isoformat()
    doc: dict[str, Any] = {
        "file_type": "GWAS-SSF v1.0 style (genopt variant list)",
        "data_file_name": data_file_name,
        "date_metadata_last_modified": day,
        "trait_description": [trait],
        "sample_size": model.n_samples,
        "case_count": model.n_cases,
        "control_count": model.n_controls,
        "case_control_study": True,
        "genome_assembly": genome_build,
        "coordinate_system": "1-based",
        "effect_allele": "discovery .bim A1; beta and odds_ratio per copy of it",
        "analysis_software": f"genopt {__version__}",
        "model": {
            "family": model.family,
            "params": {k: float(v) for k, v in sorted(model.params.items())},
            "seed": model.seed,
            "n_variants": model.n_variants,
            "covariates": list(model.covariate_names),
            "fitted_with": f"genopt {model.genopt_version}",
        },
    }
    if extra:
        doc.update(extra)
    text = _yaml(doc) + "\n"
    write_text(path, text)
    return text
