"""A cohort: genotypes, variants, samples, phenotype and covariates aligned by ID.

:class:`Cohort` keeps the samples of a PLINK fileset that have a non-missing
binary outcome and complete covariates, in .fam order, and counts the samples
it dropped with the reason:

* ``"no phenotype"``: a .fam sample absent from the phenotype table, or whose
  value is missing there;
* ``"missing covariate"``: a .fam sample with a phenotype but absent from the
  covariate table or with ``NA`` in one of the covariates used;
* ``"not genotyped"``: a (FID, IID) of the phenotype or covariate table that is
  not in the .fam (counted once per distinct ID across both tables).

Samples are matched on the exact (FID, IID) pair, as PLINK matches them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from genopt.errors import GenoptError
from genopt.io.plink import DEFAULT_CHUNK, PlinkFileset, open_plink
from genopt.io.tables import Covariates, Phenotype, phenotype_from_fam, read_covariates, read_phenotype

#: Reasons a sample is dropped, in the order they are tested.
DROP_REASONS: tuple[str, ...] = ("no phenotype", "missing covariate", "not genotyped")
#: How many example IDs error messages list.
_N_EXAMPLES = 5


def _examples(frame: pd.DataFrame) -> str:
    shown = [f"{f}/{i}" for f, i in zip(frame["fid"][:_N_EXAMPLES], frame["iid"][:_N_EXAMPLES], strict=True)]
    more = f" and {len(frame) - _N_EXAMPLES} more" if len(frame) > _N_EXAMPLES else ""
    return ", ".join(shown) + more


def _ids(index: pd.Index) -> pd.DataFrame:
    """(fid, iid) of a table index as a two-column frame."""
    return pd.DataFrame({"fid": index.get_level_values(0).astype(str), "iid": index.get_level_values(1).astype(str)})


@dataclass(frozen=True, eq=False)
class Cohort:
    """Genotypes, variants, samples, phenotype and covariates aligned by (FID, IID).

    Build with :meth:`from_files` or :meth:`from_tables`.

    Attributes
    ----------
    fileset
        The PLINK fileset (all its samples; the cohort uses ``sample_idx``).
    sample_idx
        intp array, indices into the .fam of the kept samples, increasing
        (.fam order).
    y
        int8 array, shape ``(n,)``: 1 = cooperate, 0 = defect.
    covariates
        float64 DataFrame, shape ``(n, k)``, indexed by (``fid``, ``iid``) in
        the order of ``sample_idx``; no missing values. ``k`` may be 0.
    dropped
        Samples dropped per reason, keys :data:`DROP_REASONS` (all present).
    dropped_samples
        One row per dropped ID: columns ``fid iid reason``.
    phenotype
        The phenotype as read (all rows, before alignment).
    covariate_info
        The covariates as read, with their encoding; None without covariates.
    """

    fileset: PlinkFileset
    sample_idx: npt.NDArray[np.intp]
    y: npt.NDArray[np.int8]
    covariates: pd.DataFrame
    dropped: Mapping[str, int]
    dropped_samples: pd.DataFrame = field(repr=False)
    phenotype: Phenotype = field(repr=False)
    covariate_info: Covariates | None = field(default=None, repr=False)

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_tables(
        cls,
        fileset: PlinkFileset,
        phenotype: Phenotype,
        covariates: Covariates | None = None,
        allow_ungenotyped: bool = False,
    ) -> Cohort:
        """Align a fileset with a phenotype and (optionally) covariates.

        Parameters
        ----------
        fileset
            Opened PLINK fileset.
        phenotype
            Binary outcome indexed by (fid, iid), e.g. from
            :func:`genopt.io.tables.read_phenotype`.
        covariates
            Covariates indexed by (fid, iid), or None.
        allow_ungenotyped
            If False (default), phenotype IDs absent from the .fam are an
            error naming the first few IDs and the phenotype file (an ID
            mismatch should never pass silently); if True they are counted as
            ``"not genotyped"`` (for phenotype files that describe a larger
            study than the genotyped people). Covariate IDs absent from
            the .fam are always only counted (covariate files often describe a
            larger study).

        Raises
        ------
        GenoptError
            Ungenotyped phenotype IDs with ``allow_ungenotyped=False``, or no
            sample left after alignment (the message gives the counts and
            example IDs of both sides, to show an ID mismatch).
        """
        fam = fileset.samples
        fam_path = fileset.prefix.with_name(fileset.prefix.name + ".fam")
        fam_index = pd.MultiIndex.from_arrays([fam["fid"].astype(str), fam["iid"].astype(str)], names=["fid", "iid"])
        n = len(fam)

        pheno = phenotype.values
        pheno_pos = pheno.index.get_indexer(fam_index)
        y_all = np.full(n, np.nan)
        y_all[pheno_pos >= 0] = pheno.to_numpy(dtype=np.float64)[pheno_pos[pheno_pos >= 0]]
        has_pheno = ~np.isnan(y_all)

        if covariates is not None:
            cov = covariates.frame
            cov_pos = cov.index.get_indexer(fam_index)
            complete = np.zeros(n, dtype=bool)
            found = cov_pos >= 0
            if cov.shape[1]:
                complete[found] = ~np.isnan(cov.to_numpy(dtype=np.float64)[cov_pos[found]]).any(axis=1)
            else:
                complete[found] = True
        else:
            cov_pos = None
            complete = np.ones(n, dtype=bool)

        reason = np.full(n, "", dtype=object)
        reason[~has_pheno] = "no phenotype"
        reason[has_pheno & ~complete] = "missing covariate"
        keep = has_pheno & complete

        # IDs in the tables but not in the .fam.
        pheno_absent = ~pheno.index.isin(fam_index)
        if pheno_absent.any() and not allow_ungenotyped:
            ids = _ids(pheno.index[pheno_absent])
            raise GenoptError(
                f"{int(pheno_absent.sum())} phenotype IDs (FID/IID) are not in {fam_path}: {_examples(ids)} "
                "(set allow_ungenotyped = true for the cohort to count them as not genotyped)",
                phenotype.path,
            )
        absent = pheno.index[pheno_absent]
        if covariates is not None:
            cov_absent = covariates.frame.index[~covariates.frame.index.isin(fam_index)]
            absent = absent.append(cov_absent).unique()
        not_genotyped = _ids(absent)

        sample_idx = np.flatnonzero(keep).astype(np.intp)
        dropped_fam = fam.loc[~keep, ["fid", "iid"]].astype(str).assign(reason=reason[~keep])
        dropped_samples = pd.concat(
            [dropped_fam, not_genotyped.assign(reason="not genotyped")], ignore_index=True
        ).astype({"reason": str})
        dropped = {r: int((dropped_samples["reason"] == r).sum()) for r in DROP_REASONS}

        if sample_idx.size == 0:
            counts = ", ".join(f"{dropped[r]} {r}" for r in DROP_REASONS)
            pheno_ids = _ids(pheno.index[pheno.notna().to_numpy()])
            raise GenoptError(
                f"no sample left after aligning {fam_path} ({n} samples) with phenotype {phenotype.name!r} "
                f"from {phenotype.path or '(memory)'}"
                + (f" and covariates from {covariates.path}" if covariates is not None else "")
                + f": dropped {counts}. IDs in the .fam look like {_examples(_ids(fam_index))}; IDs with a "
                f"phenotype look like {_examples(pheno_ids) or '(none)'}"
            )

        kept_index = fam_index[sample_idx]
        if covariates is not None and cov_pos is not None:
            cov_frame = covariates.frame.iloc[cov_pos[sample_idx]].astype(np.float64)
            cov_frame.index = kept_index
        else:
            cov_frame = pd.DataFrame(index=kept_index, dtype=np.float64)
        return cls(
            fileset=fileset,
            sample_idx=sample_idx,
            y=y_all[sample_idx].astype(np.int8),
            covariates=cov_frame,
            dropped=dropped,
            dropped_samples=dropped_samples,
            phenotype=phenotype,
            covariate_info=covariates,
        )

    @classmethod
    def from_files(
        cls,
        bfile: str | Path,
        pheno: str | Path | None = None,
        pheno_name: str | None = None,
        covar: str | Path | None = None,
        covar_names: Sequence[str] | None = None,
        categorical: Sequence[str] = (),
        pheno_coding: str = "auto",
        allow_ungenotyped: bool = False,
    ) -> Cohort:
        """Open a fileset, read the phenotype and covariates, and align them.

        Parameters
        ----------
        bfile
            PLINK 1 fileset prefix.
        pheno
            Phenotype table (``FID IID`` header); None uses .fam column 6 with
            PLINK coding (1 = control = defect, 2 = case = cooperate; 0, -9
            missing), unless ``pheno_coding`` forces ``"01"``.
        pheno_name
            Phenotype column; None takes the first after ``IID``.
        covar
            Covariate table (``FID IID`` header), or None.
        covar_names
            Covariate columns to use; None or empty uses all.
        categorical
            Covariate columns to one-hot encode even though they hold numbers
            (text columns are categorical anyway).
        pheno_coding
            ``"auto"``, ``"01"`` or ``"12"``; see
            :func:`genopt.io.tables.read_phenotype`.
        allow_ungenotyped
            See :meth:`from_tables`.
        """
        fileset = open_plink(bfile)
        if pheno is None:
            fam_path = fileset.prefix.with_name(fileset.prefix.name + ".fam")
            phenotype = phenotype_from_fam(fileset.samples, fam_path, "12" if pheno_coding == "auto" else pheno_coding)
        else:
            phenotype = read_phenotype(pheno, pheno_name, pheno_coding)
        covariates = None
        if covar is not None:
            covariates = read_covariates(covar, list(covar_names) if covar_names else None, categorical)
        elif covar_names or categorical:
            raise GenoptError("covariate columns were named but no covariate file was given")
        return cls.from_tables(fileset, phenotype, covariates, allow_ungenotyped)

    # ------------------------------------------------------------------ views

    @property
    def n(self) -> int:
        """Number of samples kept."""
        return int(self.sample_idx.size)

    @property
    def n_cases(self) -> int:
        """Samples with outcome 1 (cooperate)."""
        return int(self.y.sum())

    @property
    def n_controls(self) -> int:
        """Samples with outcome 0 (defect)."""
        return self.n - self.n_cases

    @property
    def variants(self) -> pd.DataFrame:
        """The .bim table (``chrom id cm pos a1 a2``; A1 is counted)."""
        return self.fileset.variants

    @property
    def samples(self) -> pd.DataFrame:
        """The kept .fam rows (``fid iid father mother sex phenotype``) in cohort order, plus ``y``."""
        table = self.fileset.samples.iloc[self.sample_idx].reset_index(drop=True)
        return table.assign(y=self.y)

    def genotypes(self, variants: Any = None) -> npt.NDArray[np.float32]:
        """Decode A1 counts of the cohort's samples.

        Parameters
        ----------
        variants
            Variant selection (None, slice, bool mask or indices into
            :attr:`variants`).

        Returns
        -------
        float32 array ``(n, n_selected_variants)``: count of the .bim A1
        allele (0, 1, 2), NaN where missing; rows in cohort order.
        """
        return self.fileset.read(variants=variants, samples=self.sample_idx).astype(np.float32, copy=False)

    def iter_variant_chunks(
        self, chunk_size: int = DEFAULT_CHUNK, variants: Any = None
    ) -> Iterator[tuple[npt.NDArray[np.intp], npt.NDArray[np.int8]]]:
        """Stream int8 A1 counts (-1 missing) of the cohort's samples, ``(n, chunk)`` per block.

        See :meth:`genopt.io.plink.PlinkFileset.iter_variant_chunks`.
        """
        return self.fileset.iter_variant_chunks(chunk_size, samples=self.sample_idx, variants=variants)

    def subset(self, keep: npt.ArrayLike, reason: str) -> Cohort:
        """The cohort restricted to some of its samples, the others counted as dropped for ``reason``.

        Parameters
        ----------
        keep
            Bool mask over the cohort's rows (length :attr:`n`).
        reason
            Why the others are dropped (e.g. ``"failed sample QC"``); added to
            :attr:`dropped` and :attr:`dropped_samples`.
        """
        mask = np.asarray(keep, dtype=bool)
        if mask.shape != (self.n,):
            raise ValueError(f"keep mask has shape {mask.shape}, expected ({self.n},)")
        if not mask.any():
            raise GenoptError(f"no samples left in {self.fileset.prefix} after dropping {self.n} for {reason!r}")
        gone = self.fileset.samples.iloc[self.sample_idx[~mask]][["fid", "iid"]].assign(reason=reason)
        dropped = dict(self.dropped)
        dropped[reason] = dropped.get(reason, 0) + int((~mask).sum())
        return replace(
            self,
            sample_idx=self.sample_idx[mask],
            y=self.y[mask],
            covariates=self.covariates.iloc[np.flatnonzero(mask)],
            dropped=dropped,
            dropped_samples=pd.concat([self.dropped_samples, gone], ignore_index=True),
        )

    def summary(self) -> dict[str, Any]:
        """Counts for logs, manifests and reports (JSON-ready)."""
        return {
            "bfile": str(self.fileset.prefix),
            "n_fam": self.fileset.n_samples,
            "n_variants": self.fileset.n_variants,
            "n": self.n,
            "n_cooperate": self.n_cases,
            "n_defect": self.n_controls,
            "phenotype": {
                "file": None if self.phenotype.path is None else str(self.phenotype.path),
                "column": self.phenotype.name,
                "coding": self.phenotype.coding,
                "coding_detected": self.phenotype.detected,
                "n_missing": self.phenotype.n_missing,
            },
            "covariates": list(self.covariates.columns),
            "dropped": dict(self.dropped),
        }

    def describe(self) -> str:
        """A few lines for the terminal: sizes, outcome counts, drops."""
        drops = ", ".join(f"{count} {reason}" for reason, count in self.dropped.items())
        lines = [
            f"cohort {self.fileset.prefix}: {self.n} of {self.fileset.n_samples} samples kept "
            f"({self.n_cases} cooperate, {self.n_controls} defect), {self.fileset.n_variants} variants; "
            f"dropped: {drops}",
            self.phenotype.describe(),
        ]
        if self.covariate_info is not None:
            lines.append(self.covariate_info.describe())
        return "\n".join(lines)
