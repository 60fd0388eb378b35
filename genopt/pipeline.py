"""The only place that knows the whole flow; driven by a :class:`~genopt.config.RunConfig`.

:func:`run_foundation` (``genopt run``): load and align cohorts, QC each
cohort, harmonise held-out cohorts to the discovery alleles, check sample
overlap, fit ancestry axes on discovery and project the held-out cohorts onto
them, scan discovery, summarise the (simulated) outcome and, when the config
has a ``[search]`` table, run the search on discovery and write the hand-off
files. :func:`search_discovery` (``genopt search``): QC of one discovery
cohort, then the search. Nothing fitted or chosen here sees a held-out
cohort: QC thresholds are the config's, the PCA, pool, search and final model
are fitted on discovery only, and held-out cohorts are only projected.
"""

from __future__ import annotations

import hashlib
import json
import logging
import platform
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from genopt import __version__
from genopt.assoc.clump import clump, write_clumps
from genopt.assoc.scan import scan, write_assoc
from genopt.cluster import dask_client
from genopt.cohort import Cohort
from genopt.config import CohortSpec, RunConfig, SearchConfig, dump_config, load_config, to_dict
from genopt.errors import GenoptError
from genopt.harmonise import harmonise
from genopt.io.atomic import write_text, write_tsv
from genopt.qc import QCResult, compute_qc
from genopt.relatedness import OverlapResult, find_overlap, write_overlap
from genopt.resume import StepRecord, fingerprint
from genopt.simulate import read_truth
from genopt.structure import PCAModel, PCAProjection, fit_pca, pca_variants

log = logging.getLogger("genopt")

_T = TypeVar("_T")


def _resolve(spec: CohortSpec, base: Path, source: Path | None = None) -> CohortSpec:
    """Make a cohort's paths absolute relative to the config file's folder (``source``: that file, for errors)."""

    def absolute(p: str | None) -> str | None:
        return None if p is None else str((base / p).resolve())

    if not spec.name or not spec.bfile:
        raise GenoptError("every cohort needs a name and a bfile", source)
    return replace(spec, bfile=absolute(spec.bfile) or "", pheno=absolute(spec.pheno), covar=absolute(spec.covar))


def _load_cohort(spec: CohortSpec) -> Cohort:
    return Cohort.from_files(
        spec.bfile,
        pheno=spec.pheno,
        pheno_name=spec.pheno_name,
        covar=spec.covar,
        covar_names=list(spec.covar_names) or None,
        categorical=spec.categorical,
        pheno_coding=spec.pheno_coding,
        allow_ungenotyped=spec.allow_ungenotyped,
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _input_files(specs: list[CohortSpec], truth: str | None) -> list[Path]:
    files: list[Path] = []
    for spec in specs:
        files += [Path(spec.bfile + ext) for ext in (".bed", ".bim", ".fam")]
        files += [Path(p) for p in (spec.pheno, spec.covar) if p]
    if truth:
        files.append(Path(truth))
    return files


def _versions() -> dict[str, str]:
    out = {"genopt": __version__, "python": platform.python_version()}
    for name in ("numpy", "pandas", "scipy", "scikit-learn", "statsmodels", "pandas-plink", "pygad"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def _outcome_summary(cohort: Cohort) -> dict[str, Any]:
    y = cohort.y
    summary: dict[str, Any] = {
        "n_samples": int(y.size),
        "n_cooperate": int((y == 1).sum()),
        "n_defect": int((y == 0).sum()),
        "samples_dropped": {k: int(v) for k, v in cohort.dropped.items()},
    }
    for name in cohort.covariates.columns:
        values = cohort.covariates[name].to_numpy(dtype=float)
        summary.setdefault("covariates", {})[name] = {"mean": float(values.mean()), "sd": float(values.std())}
    return summary


def _oracle_auc(cohort: Cohort, truth: pd.DataFrame) -> dict[str, Any]:
    """AUC of the true genetic score (simulation truth), the ceiling a perfect variant list reaches."""
    ids = pd.Index(cohort.fileset.variants["id"])
    pos = ids.get_indexer(truth["rsid"])
    found = pos >= 0
    a1 = cohort.fileset.variants["a1"].to_numpy()[pos[found]]
    beta = truth["beta"].to_numpy(dtype=float)[found]
    beta = np.where(a1 == truth["effect_allele"].to_numpy()[found], beta, -beta)
    g = cohort.genotypes(variants=pos[found]).astype(np.float64)
    g = np.where(np.isnan(g), np.nanmean(g, axis=0), g)
    score = g @ beta
    return {
        "n_causal_found": int(found.sum()),
        "n_causal": len(truth),
        "auc_true_genetic_score": float(roc_auc_score(cohort.y, score)),
        "how": "AUC of sum(beta * A1 count) over the simulation's causal variants with their true effects; "
        "uses the simulation truth, so it is the ceiling for a genetic score, not an estimate of any method",
    }


GENOME_WIDE = 5e-8


def _assoc_summary(
    table: pd.DataFrame, lambda_gc: float, n_clumps: int, config: RunConfig, n_pcs: int
) -> dict[str, Any]:
    p = table["p_value"].to_numpy(dtype=float)
    return {
        "n_variants": len(table),
        "lambda_gc": float(lambda_gc),
        "n_genome_wide": int(np.sum(p < GENOME_WIDE)),
        "n_exact": int(table["test"].isin(["wald", "firth"]).sum()),
        "n_clumps": n_clumps,
        "how": f"logistic regression of the outcome on each discovery QC-passed variant with "
        f"{', '.join(config.discovery.covar_names) or 'the covariates'} and {n_pcs} PCs; score test for every "
        f"variant, exact Wald (Firth fallback) for the top {config.assoc.exact_top} and any with screening "
        f"p < {config.assoc.exact_p:g}; lambda_GC = median screening chi2 / 0.4549; clumps as plink --clump "
        f"(p1 {config.clump.p1:g}, p2 {config.clump.p2:g}, r2 {config.clump.r2:g}, {config.clump.kb} kb). "
        "These are discovery-wide statistics for reporting; the search rebuilds its pool inside each CV fold",
    }


def _truth_recovery(table: pd.DataFrame, truth: pd.DataFrame) -> dict[str, Any]:
    """How the simulation's causal variants fare in the scan (simulated data only)."""
    causal = table["rsid"].isin(truth["rsid"]).to_numpy()
    hit = table["p_value"].to_numpy(dtype=float) < GENOME_WIDE
    return {
        "n_causal": len(truth),
        "n_causal_tested": int(causal.sum()),
        "n_causal_genome_wide": int((causal & hit).sum()),
        "n_null_genome_wide": int((~causal & hit).sum()),
        "how": f"p < {GENOME_WIDE:g} in the discovery scan; null = not one of the simulation's causal variants "
        "(a null hit can still be in LD with a causal one)",
    }


def _search_step(
    cohort: Cohort,
    variant_pass: np.ndarray,
    config: RunConfig,
    run_dir: Path,
    resume: bool = False,
    progress: bool = False,
) -> tuple[dict[str, Any], Any]:
    """Search on the QC'd discovery cohort and write the hand-off files into ``run_dir``."""
    from genopt.search.study import search_and_export

    search = config.search or SearchConfig()
    study = search_and_export(
        cohort, run_dir, search, config.pool, config.pca, seed=config.seed, variants=variant_pass,
        progress=progress, resume=resume,
    )  # fmt: skip
    o = study.outcome
    summary = {
        "chosen_n_variants": o.chosen.candidate.n_variants,
        "chosen_family": o.chosen.candidate.family,
        "chosen_params": dict(o.chosen.candidate.params),
        "validation_auc": o.validation_auc,
        "validation_se": o.validation_se,
        "inner_cv_auc": o.inner_cv_auc,
        "optimism": o.optimism,
        "n_evaluations": o.result.n_evaluations,
        "pool_size": len(o.pool),
        "files": [str(p.relative_to(run_dir)) for p in study.files],
        "how": "search_summary.json gives how each number was computed; the validation AUC is on the "
        f"internal validation part ({search.validation_fraction:g} of discovery), never seen by the pool, "
        "PCs or search; the inner CV AUC is " + str(o.summary["inner_cv_auc"]["how"]),
    }
    return summary, study


def _replication_step(
    heldout: dict[str, Cohort],
    discovery: Cohort,
    config: RunConfig,
    run_dir: Path,
    overlaps: dict[str, OverlapResult],
) -> dict[str, Any]:
    """Replicate the run's frozen model on each held-out cohort (``replication/``); the per-cohort verdicts.

    ``overlaps``: the overlap step's results (same discovery, cohorts and configs), not recomputed.
    """
    from genopt.replicate import replicate_many

    results = replicate_many(
        run_dir, heldout, config.replication, out_dir=run_dir, discovery=discovery.fileset,
        harmonise_config=config.harmonise, overlap_config=config.overlap, seed=config.seed, overlaps=overlaps,
    )  # fmt: skip
    keys = ["verdict", "rule", "auc", "auc_ci95", "score_or_per_sd", "score_p", "n_variants_used", "n_variants_listed"]
    keys += ["sign_concordance", "sign_test_p", "n_replicated_bonferroni", "n_replicated_fdr"]
    return {name: {k: r.summary.get(k) for k in keys} for name, r in results.items()}


def with_workers(config: RunConfig, jobs: int | None, scheduler: str | None) -> RunConfig:
    """``config`` with ``--jobs`` / ``--scheduler`` applied to the search, the discovery scan and the pool scans."""
    if scheduler is not None:
        pool_assoc = replace(config.pool.assoc, scheduler=scheduler)
        config = replace(config, assoc=replace(config.assoc, scheduler=scheduler))
        config = replace(config, pool=replace(config.pool, assoc=pool_assoc))
    if config.search is not None and (jobs is not None or scheduler is not None):
        search = config.search
        search = replace(search, jobs=search.jobs if jobs is None else jobs, scheduler=scheduler or search.scheduler)
        config = replace(config, search=search)
    return config


def _result_settings(config: RunConfig) -> dict[str, Any]:
    """The resolved config without the settings that leave every result alone (for :func:`fingerprint`)."""
    settings = to_dict(config)
    for key in ("out", "mlflow"):
        settings.pop(key, None)
    for key in ("threads", "scheduler"):
        settings.get("assoc", {}).pop(key, None)
        settings.get("pool", {}).get("assoc", {}).pop(key, None)
    for key in ("jobs", "scheduler", "checkpoint_every"):
        (settings.get("search") or {}).pop(key, None)
    return settings


class _Steps:
    """Runs a pipeline's steps in order: logs each, keeps its compute time and its result for ``--resume``."""

    def __init__(self, run_dir: Path, config: RunConfig, specs: list[CohortSpec], truth: str | None, resume: bool):
        self.inputs = {str(p): _sha256(p) for p in _input_files(specs, truth)}
        self.record = StepRecord(run_dir, fingerprint(_result_settings(config), self.inputs, __version__), resume)
        self.seconds: dict[str, float] = {}

    def __call__(self, name: str, compute: Callable[[], _T]) -> _T:
        log.info("- %s", name)
        value, self.seconds[name] = self.record.run(name, compute)
        return value


def _qc_step(cohort: Cohort, config: RunConfig, out_dir: Path) -> QCResult:
    """QC of one cohort on its own genotypes (no phenotype), tables written into ``out_dir``."""
    qc = compute_qc(cohort.fileset, config.qc, samples=cohort.sample_idx)
    qc.write(out_dir)
    return qc


def search_discovery(
    spec: CohortSpec, config: RunConfig, run_dir: Path, resume: bool = False, progress: bool = False
) -> tuple[dict[str, Any], Any]:
    """``genopt search``: QC of the discovery cohort, then the search and the hand-off files.

    Writes ``qc/<name>/`` (QC tables of the discovery cohort: variants and
    samples that fail ``config.qc`` are left out of everything after), the
    search's files (:func:`genopt.search.study.search_and_export`),
    ``config.toml`` and ``manifest.json`` into ``run_dir``. Returns the search
    summary and the :class:`~genopt.search.study.Study`. ``resume`` continues
    a killed run from its finished steps and the search's checkpoints (same
    result as an uninterrupted run); ``progress`` shows progress bars on stderr.
    """
    run_dir = Path(run_dir).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    cohort = _load_cohort(spec)
    steps = _Steps(run_dir, config, [spec], None, resume)
    qc = steps("QC", lambda: _qc_step(cohort, config, run_dir / "qc" / spec.name))
    cohort = cohort.subset(np.isin(cohort.sample_idx, qc.kept_sample_idx), "failed sample QC")
    if not qc.variant_pass.any():
        raise GenoptError("no variant passes QC; loosen [qc] (maf, geno, hwe)", spec.bfile + ".bim")
    # The Study (with the fitted model) is what the caller prints from, so the search is never skipped: on
    # resume it replays its own checkpoints instead.
    log.info("- search")
    start = time.perf_counter()
    summary, study = _search_step(cohort, qc.variant_pass, config, run_dir, resume, progress)
    steps.seconds["search"] = round(time.perf_counter() - start, 3)
    summary["report"] = steps("report", lambda: _report_step(run_dir))
    summary["qc"] = qc.counts()
    summary["timings_seconds"] = steps.seconds
    write_text(run_dir / "config.toml", dump_config(config))
    _write_manifest(run_dir, config, started, steps)
    if config.mlflow is not None:
        from genopt.tracking import log_run

        summary["mlflow_run_id"] = log_run(run_dir, config.mlflow)
    return summary, study


def _report_step(run_dir: Path) -> str:
    from genopt.report import build_report

    return str(build_report(run_dir))


def _write_manifest(run_dir: Path, config: RunConfig, started: datetime, steps: _Steps) -> None:
    manifest = {
        "genopt_version": __version__,
        "started": started.isoformat(),
        "finished": datetime.now(UTC).isoformat(),
        "host": platform.node(),
        "seed": config.seed,
        "config": to_dict(config),
        "inputs": steps.inputs,
        "versions": _versions(),
        "timings_seconds": steps.seconds,
        "resumed_steps": steps.record.reused,
        "how": "timings_seconds are each step's compute time, also for steps finished by an interrupted run and "
        "reused by --resume (listed in resumed_steps)",
    }
    write_text(run_dir / "manifest.json", json.dumps(manifest, indent=2))


def run_foundation(
    config_path: Path,
    out: Path | None = None,
    resume: bool = False,
    jobs: int | None = None,
    scheduler: str | None = None,
    progress: bool = False,
) -> Path:
    """Run the whole flow described by a TOML config; return the path of ``summary.md``.

    Writes into the run directory: ``config.toml`` (resolved), ``manifest.json``
    (seed, input sha256, versions, step timings), ``qc/<cohort>/`` tables,
    ``pca/`` (discovery eigenvectors, projected held-out coordinates),
    ``harmonise/<cohort>.drops.tsv``, ``overlap/<cohort>.tsv``, ``assoc/``
    (discovery scan, clumps, Manhattan and QQ plots), with a ``[search]``
    table the search's hand-off files, ``replication/`` and ``report.html``,
    then ``summary.json`` and ``summary.md``.

    Parameters
    ----------
    resume
        Reuse the steps an interrupted run of the same config and inputs
        finished (``checkpoints/pipeline/``, :mod:`genopt.resume`) and continue
        its search from its last checkpoint; the outputs equal an
        uninterrupted run's.
    jobs, scheduler
        Override ``[search] jobs`` and ``scheduler`` (and run the discovery
        scan and the search's pool scans on the same dask scheduler);
        results do not depend on them.
    progress
        Progress bar over the search on stderr.
    """
    config_path = Path(config_path)
    config = load_config(RunConfig, config_path)
    base = config_path.resolve().parent
    run_dir = (Path(out) if out is not None else base / config.out).resolve()
    discovery = _resolve(config.discovery, base, config_path)
    heldout = [_resolve(spec, base, config_path) for spec in config.heldout]
    names = [discovery.name] + [s.name for s in heldout]
    if len(set(names)) != len(names):
        raise GenoptError(f"cohort names must be unique, got {names}", config_path)
    config = with_workers(config, jobs, scheduler)
    truth_path = str((base / config.truth).resolve()) if config.truth else None
    run_dir.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    cohorts = {spec.name: _load_cohort(spec) for spec in [discovery, *heldout]}
    steps = _Steps(run_dir, config, [discovery, *heldout], truth_path, resume)
    summary: dict[str, Any] = {"run_dir": str(run_dir), "seed": config.seed, "cohorts": {}}
    # Each cohort's QC sees only its own genotypes (no phenotype): it is not fitted to anything a held-out
    # cohort is judged on.
    qc_results = steps("QC", lambda: {n: _qc_step(c, config, run_dir / "qc" / n) for n, c in cohorts.items()})
    for name, qc in qc_results.items():
        cohorts[name] = cohorts[name].subset(np.isin(cohorts[name].sample_idx, qc.kept_sample_idx), "failed sample QC")
        summary["cohorts"][name] = {"outcome": _outcome_summary(cohorts[name]), "qc": qc.counts()}
    disc = cohorts[discovery.name]
    disc_pass = qc_results[discovery.name].variant_pass

    def harmonise_and_overlap() -> dict[str, tuple[dict[str, Any], OverlapResult]]:
        parts = {}
        for spec in heldout:
            h = harmonise(
                disc.fileset.variants[disc_pass].reset_index(drop=True),
                cohorts[spec.name].fileset.variants,
                ref_freq=qc_results[discovery.name].a1_freq[disc_pass],
                other_freq=qc_results[spec.name].a1_freq,
                config=config.harmonise,
            )
            write_tsv(run_dir / "harmonise" / f"{spec.name}.drops.tsv", h.drops)
            overlap = find_overlap(disc.fileset, cohorts[spec.name].fileset, config.overlap, config.harmonise)
            write_overlap(overlap, run_dir / "overlap" / f"{spec.name}.tsv")
            parts[spec.name] = ({"harmonisation": h.counts(), "overlap_with_discovery": overlap.counts()}, overlap)
        return parts

    overlaps = {}
    for name, (part, overlap) in steps("harmonise and overlap", harmonise_and_overlap).items():
        summary["cohorts"][name].update(part)
        overlaps[name] = overlap

    def pca() -> tuple[PCAModel, dict[str, PCAProjection]]:
        keep = pca_variants(disc.fileset, config.pca, samples=disc.sample_idx, variants=disc_pass)
        model = fit_pca(disc.fileset, config.pca, samples=disc.sample_idx, variants=keep)
        model.save(run_dir / "pca" / "model.json")
        projections = {name: model.transform(cohort) for name, cohort in cohorts.items()}
        for name, projection in projections.items():
            write_tsv(run_dir / "pca" / f"{name}.eigenvec.tsv", projection.as_frame())
        return model, projections

    model, projections = steps("PCA on discovery, projection of held-out cohorts", pca)
    for name, projection in projections.items():
        r_pc1 = float(np.corrcoef(projection.scores[:, 0], cohorts[name].y)[0, 1])
        summary["cohorts"][name]["pc1_outcome_correlation"] = r_pc1
    summary["pca"] = {
        "n_variants": model.n_variants,
        "n_pcs": model.n_pcs,
        "fitted_on": discovery.name,
        "how": f"MAF >= {config.pca.maf} among discovery's QC-passed variants, LD-pruned "
        f"(--indep-pairwise {config.pca.prune.window}{'kb' if config.pca.prune.window_kb else ''} "
        f"{config.pca.prune.step} {config.pca.prune.r2}), standardised, mean-imputed; "
        "held-out cohorts are projected with the discovery loadings",
    }

    def association() -> tuple[pd.DataFrame, dict[str, Any]]:
        k = min(config.assoc.n_pcs, model.n_pcs)
        with dask_client(config.assoc.scheduler, config.assoc.threads) as client:
            result = scan(
                disc,
                config.assoc,
                covariates=projections[discovery.name].scores[:, :k],
                covariate_names=[f"PC{i + 1}" for i in range(k)],
                variants=np.flatnonzero(disc_pass),
                client=client,
            )
        write_assoc(result, run_dir / "assoc" / "discovery.tsv")
        clumps = clump(result.table, disc.fileset, config.clump, samples=disc.sample_idx)
        write_clumps(clumps, run_dir / "assoc" / "discovery.clumps.tsv")
        return result.table, _assoc_summary(result.table, result.lambda_gc, len(clumps.index), config, k)

    assoc_table, summary["assoc"] = steps("association scan and clumping on discovery", association)

    truth = read_truth(truth_path) if truth_path else None
    if truth is not None:
        for name, cohort in cohorts.items():
            summary["cohorts"][name]["oracle"] = _oracle_auc(cohort, truth)
        summary["assoc"]["truth"] = _truth_recovery(assoc_table, truth)

    def plots() -> None:
        from genopt.assoc.plots import manhattan_plot, qq_plot  # matplotlib only when plotting

        causal = list(truth["rsid"]) if truth is not None else None
        manhattan_plot(assoc_table, run_dir / "assoc" / "discovery.manhattan.png", highlight=causal, title="discovery")
        qq_plot(assoc_table, run_dir / "assoc" / "discovery.qq.png", lambda_gc=summary["assoc"]["lambda_gc"])

    steps("plots", plots)

    if config.search is not None:
        summary["search"] = steps(
            "search on discovery, final model, hand-off files",
            lambda: _search_step(disc, disc_pass, config, run_dir, resume, progress)[0],
        )
        if heldout:
            summary["replication"] = steps(
                "replication on the held-out cohorts",
                lambda: _replication_step({s.name: cohorts[s.name] for s in heldout}, disc, config, run_dir, overlaps),
            )
        summary["report"] = steps("report", lambda: _report_step(run_dir))

    summary["timings_seconds"] = steps.seconds
    write_text(run_dir / "config.toml", dump_config(config))
    _write_manifest(run_dir, config, started, steps)
    write_text(run_dir / "summary.json", json.dumps(summary, indent=2))
    report = run_dir / "summary.md"
    write_text(report, render_summary(summary))
    if config.mlflow is not None:
        from genopt.tracking import log_run

        log_run(run_dir, config.mlflow)
    return report


def _fmt(value: Any, spec: str) -> str:
    """A number in ``spec`` format, or ``NA`` for None."""
    return "NA" if value is None else format(value, spec)


def _drops_text(counts: dict[str, int]) -> str:
    parts = [f"{n} {reason}" for reason, n in counts.items() if n]
    return ", ".join(parts) if parts else "none"


def render_summary(summary: dict[str, Any]) -> str:
    """A plain-language Markdown summary of a foundation run, saying how each number was computed."""
    lines = [
        "# genopt run summary",
        "",
        f"Run directory: `{summary['run_dir']}`; seed {summary['seed']}. "
        "Numbers below come from `summary.json` in the same folder; every table they rest on is in "
        "`qc/`, `pca/`, `harmonise/`, `overlap/` and `assoc/`.",
        "",
    ]
    if "pca" in summary:
        p = summary["pca"]
        lines += [
            f"Ancestry axes: {p['n_pcs']} PCs from {p['n_variants']} variants of `{p['fitted_on']}` ({p['how']}).",
            "",
        ]
    if "search" in summary:
        s = summary["search"]
        lines += [
            f"Search on discovery: chose {s['chosen_n_variants']} variants ({s['chosen_family']}, "
            f"{s['chosen_params']}) from a pool of {s['pool_size']} after {s['n_evaluations']} evaluations; "
            f"validation AUC {s['validation_auc']:.3f} (DeLong SE {s['validation_se']:.3f}), inner CV AUC "
            f"{s['inner_cv_auc']:.3f}, optimism {s['optimism']:+.3f}. Hand-off files: "
            f"{', '.join(f'`{f}`' for f in s['files'])} ({s['how']}).",
            "",
        ]
    if "replication" in summary:
        lines += ["Replication of the frozen model on the held-out cohorts (`replication/<cohort>/summary.json`):", ""]
        for name, r in summary["replication"].items():
            lo, hi = r["auc_ci95"]
            lines.append(
                f"- **{name}: {r['verdict']}**: AUC {r['auc']:.3f} (95% CI {lo:.3f}-{hi:.3f}, DeLong), OR per SD "
                f"of the score {r['score_or_per_sd']:.2f} (one-sided p {r['score_p']:.2g}, with the covariates and "
                f"projected PCs); {r['n_variants_used']} of {r['n_variants_listed']} variants used; sign "
                f"concordance {_fmt(r['sign_concordance'], '.2f')} (sign test p {_fmt(r['sign_test_p'], '.2g')}); "
                f"{r['n_replicated_bonferroni']} variants replicate after Bonferroni, {r['n_replicated_fdr']} at "
                f"FDR 5%. Rule: {r['rule']}."
            )
        lines.append("")
    if "assoc" in summary:
        a = summary["assoc"]
        lines += [
            f"Association scan of discovery: {a['n_variants']} variants, lambda_GC {a['lambda_gc']:.3f}, "
            f"{a['n_genome_wide']} at p < 5e-8, {a['n_clumps']} clumps (`assoc/`; {a['how']}).",
            "",
        ]
        if "truth" in a:
            t = a["truth"]
            lines += [
                f"Simulation truth: {t['n_causal_genome_wide']} of {t['n_causal']} causal variants reach p < 5e-8; "
                f"{t['n_null_genome_wide']} non-causal variants do ({t['how']}).",
                "",
            ]
    for name, c in summary["cohorts"].items():
        o, q = c["outcome"], c["qc"]
        lines += [
            f"## {name}",
            "",
            f"- **People**: {o['n_samples']} analysed ({o['n_cooperate']} cooperate, {o['n_defect']} defect); "
            f"dropped: {_drops_text(o['samples_dropped'])}.",
            f"- **QC** (each cohort on its own genotypes, PLINK's --geno/--hwe/--maf/--mind meanings): "
            f"{q['variants_pass']} of {q['variants']} variants pass "
            f"({q['removed_variants_geno']} removed by missing rate, {q['removed_variants_hwe']} by HWE, "
            f"{q['removed_variants_maf']} by MAF; {q['monomorphic']} monomorphic; "
            f"{q['duplicate_id_variants']} with duplicate IDs); {q['samples_pass']} of {q['samples']} people pass "
            "the sample missing-rate filter.",
            "- **Ancestry and outcome**: Pearson correlation of PC1 with the outcome "
            f"{c['pc1_outcome_correlation']:+.3f} "
            "(PC1 from the discovery fit; projected for held-out cohorts). A non-zero value means ancestry "
            "confounds a test that leaves PCs out.",
        ]
        if "harmonisation" in c:
            h = c["harmonisation"]
            kept = sum(h[k] for k in ("as-is", "swapped", "strand-flipped", "strand-flipped+swapped"))
            dropped = {
                k: v for k, v in h.items() if k not in ("as-is", "swapped", "strand-flipped", "strand-flipped+swapped")
            }
            lines.append(
                f"- **Harmonisation** to the discovery A1 alleles (discovery QC-passed variants): {kept} matched "
                f"({h['as-is']} as-is, {h['swapped']} swapped, {h['strand-flipped'] + h['strand-flipped+swapped']} "
                f"strand-flipped); dropped: {_drops_text(dropped)}."
            )
            ov = c["overlap_with_discovery"]
            lines.append(
                f"- **Overlap with discovery** (shared IDs, and KING-robust kinship on shared common variants): "
                f"{ov['shared IID']} shared IIDs; {ov['duplicate']} duplicate, {ov['first-degree']} first-degree and "
                f"{ov['second-degree']} second-degree pairs."
            )
            if ov["duplicate"] or ov["first-degree"] or ov["shared IID"]:
                lines.append(
                    f"- **Warning**: {name} shares people or close relatives with discovery; replication on it "
                    "would not be independent. Remove them (see `overlap/` for the pairs) before replicating."
                )
        if "oracle" in c:
            orc = c["oracle"]
            lines.append(
                f"- **True genetic score** (simulation only): AUC {orc['auc_true_genetic_score']:.3f} with "
                f"{orc['n_causal_found']} of {orc['n_causal']} causal variants present. {orc['how']}."
            )
        lines.append("")
    if "report" in summary:
        lines += [f"Report with the figures: `{summary['report']}`.", ""]
    lines += ["## Timings (seconds)", "", *(f"- {k}: {v}" for k, v in summary["timings_seconds"].items()), ""]
    return "\n".join(lines)
