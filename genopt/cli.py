"""Command-line interface: argument parsing only; every command is one call into the library.

Exit codes: 0 success, 1 user error (bad file, ID, value or option: one line
on stderr naming it), 2 internal error (a bug: please report it).
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import fields, replace
from pathlib import Path
from typing import Any, NoReturn

from genopt import __version__
from genopt.errors import GenoptError

log = logging.getLogger("genopt")

EXIT_OK, EXIT_USER, EXIT_INTERNAL = 0, 1, 2
#: SearchConfig fields that ``genopt search`` takes as flags (``--max-generations`` etc.).
SEARCH_FLAGS = (
    "budget",
    "engine",
    "population",
    "max_generations",
    "patience",
    "max_seconds",
    "jobs",
    "scheduler",
    "resamples",
    "resample_fraction",
    "resample_budget",
    "outer_folds",
    "warm_start",
)


class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Show an option's default where it has a meaningful one and the help does not say it already."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if default is None or default is False or default == argparse.SUPPRESS or "default" in text or action.required:
            return text
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """argparse with usage errors reported as user errors (exit 1, one line)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USER, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _defaults(cls: type) -> dict[str, Any]:
    return {f.name: getattr(cls(), f.name) for f in fields(cls)}


_UNSET = object()


def _threshold(text: str) -> float | None:
    """A filter threshold: a number, or ``off`` to disable the filter."""
    if text.lower() == "off":
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'off', got {text!r}") from None


def _override(config: Any, args: argparse.Namespace, names: Sequence[str]) -> Any:
    """Replace config fields by the command-line values that were given ('off' gives None)."""
    given = {n: getattr(args, n) for n in names if getattr(args, n, _UNSET) is not _UNSET}
    return replace(config, **given)


# --------------------------------------------------------------------------- commands


def _cmd_qc(args: argparse.Namespace) -> None:
    from genopt.config import QCConfig
    from genopt.io.plink import open_plink
    from genopt.qc import run_qc

    config = _override(QCConfig(), args, ["maf", "geno", "mind", "hwe"])
    config = replace(config, hwe_midp=args.hwe_midp or config.hwe_midp, nonfounders=args.nonfounders)
    fileset = open_plink(args.bfile)
    result = run_qc(fileset, Path(args.out), config)
    print(result.summary())


def _cmd_pca(args: argparse.Namespace) -> None:
    from genopt.config import PCAConfig
    from genopt.io.plink import open_plink
    from genopt.structure import run_pca

    config = PCAConfig()
    if args.pcs is not None:
        config = replace(config, n_pcs=args.pcs)
    fileset = open_plink(args.bfile)
    other = open_plink(args.project) if args.project else None
    model = run_pca(fileset, Path(args.out), config, project=other)
    print(f"{model.n_pcs} PCs from {model.n_variants} LD-pruned variants of {fileset.n_samples} samples -> {args.out}")


def _cmd_overlap(args: argparse.Namespace) -> None:
    from genopt.config import OverlapConfig
    from genopt.io.plink import open_plink
    from genopt.relatedness import find_overlap, write_overlap

    result = find_overlap(open_plink(args.prefix_a), open_plink(args.prefix_b), OverlapConfig())
    write_overlap(result, Path(args.out))
    print(result.summary())


def _cmd_assoc(args: argparse.Namespace) -> None:
    import numpy as np

    from genopt.assoc import run_assoc

    out = Path(args.out)
    result = run_assoc(
        args.bfile,
        args.pheno,
        args.pheno_name,
        covar=args.covar,
        covar_names=args.covar_name,
        n_pcs=args.pcs,
        out=out,
        exact_top=args.exact_top,
        scheduler=args.scheduler,
    )
    table = result.table
    stem = out.with_suffix("") if out.suffix == ".tsv" else out
    written = [out]
    if not args.no_plots:
        from genopt.assoc.plots import manhattan_plot, qq_plot  # matplotlib: imported only when plotting

        written.append(manhattan_plot(table, f"{stem}.manhattan.png", title=f"Manhattan plot: {out.name}"))
        written.append(qq_plot(table, f"{stem}.qq.png", lambda_gc=result.lambda_gc, title=f"QQ plot: {out.name}"))
    tests = table["test"].value_counts().to_dict()
    best = table.iloc[int(np.nanargmin(table["p_value"].to_numpy()))] if table["p_value"].notna().any() else None
    print(
        f"{len(table)} variants tested on {len(result.samples)} samples "
        f"({', '.join(f'{v} {k}' for k, v in tests.items())}); lambda_GC {result.lambda_gc:.3f} "
        "(median screening chi2 / 0.4549)"
        + (f"; best {best['rsid']} p={best['p_value']:.3g}" if best is not None else "")
    )
    print("wrote " + ", ".join(str(p) for p in written))


def _cmd_search(args: argparse.Namespace) -> None:
    from genopt.config import CohortSpec, RunConfig, SearchConfig, load_config
    from genopt.pipeline import search_discovery, with_workers

    config = load_config(RunConfig, args.config) if args.config else RunConfig()
    if config.discovery.bfile:
        log.info("genopt search: the cohorts of %s are not used; --bfile names the discovery cohort", args.config)
    search = _override(config.search or SearchConfig(), args, SEARCH_FLAGS)
    config = replace(config, search=search, seed=args.seed if args.seed is not None else config.seed)
    config = with_workers(config, None, getattr(args, "scheduler", None))  # the pool scans too
    name = Path(args.bfile).name or "discovery"
    spec = CohortSpec(
        name=name,
        bfile=str(Path(args.bfile).resolve()),
        pheno=str(Path(args.pheno).resolve()) if args.pheno else None,
        pheno_name=args.pheno_name,
        covar=str(Path(args.covar).resolve()) if args.covar else None,
        covar_names=tuple(args.covar_name or ()),
    )
    progress = not args.quiet and sys.stderr.isatty()
    summary, study = search_discovery(spec, config, Path(args.out), resume=args.resume, progress=progress)
    o = study.outcome
    print(
        f"chose {o.chosen.candidate.n_variants} variants ({o.chosen.candidate.family}); "
        f"validation AUC {o.validation_auc:.3f} (SE {o.validation_se:.3f}, DeLong, on the internal validation part); "
        f"inner CV AUC {o.inner_cv_auc:.3f} ({o.summary['inner_cv_auc']['how'].split(';')[0]}); "
        f"optimism {o.optimism:+.3f}"
    )
    print("wrote " + ", ".join(str(p) for p in study.files) + f" and the search tables in {args.out}")
    print(f"report: {summary['report']}")


def _cmd_report(args: argparse.Namespace) -> None:
    from genopt.report import build_report

    print(f"report: {build_report(Path(args.run))}")


def _cmd_track(args: argparse.Namespace) -> None:
    from genopt.config import MLflowConfig
    from genopt.tracking import log_run

    config = MLflowConfig(tracking_uri=args.tracking_uri, experiment=args.experiment, run_name=args.run_name)
    print(f"MLflow run {log_run(Path(args.run), config)}")


def _per_cohort(values: list[str] | None, n: int, flag: str) -> list[str | None]:
    """One value per cohort: none given, one per --bfile, or a single one for every cohort."""
    if not values:
        return [None] * n
    if len(values) == n:
        return list(values)
    if len(values) == 1:
        return [values[0]] * n
    raise GenoptError(f"{flag} given {len(values)} times for {n} --bfile cohorts; give it once, or once per --bfile")


def _cmd_replicate(args: argparse.Namespace) -> None:
    from genopt.cohort import Cohort
    from genopt.config import RunConfig, load_config
    from genopt.replicate import replicate_many

    config = load_config(RunConfig, args.config) if args.config else RunConfig()
    replication = _override(config.replication, args, ["alpha", "prevalence", "permutations"])
    if args.drop_overlap:
        replication = replace(replication, drop_overlap=True)
    n = len(args.bfile)
    names = args.name or [Path(b).name for b in args.bfile]
    if len(names) != n:
        raise GenoptError(f"--name given {len(names)} times for {n} --bfile cohorts; give one name per --bfile")
    if len(set(names)) != n:
        raise GenoptError(f"cohort names must be unique, got {names}")
    phenos = _per_cohort(args.pheno, n, "--pheno")
    covars = _per_cohort(args.covar, n, "--covar")
    cohorts = {
        name: Cohort.from_files(bfile, pheno, args.pheno_name, covar, args.covar_name)
        for name, bfile, pheno, covar in zip(names, args.bfile, phenos, covars, strict=True)
    }
    results = replicate_many(
        Path(args.run), cohorts, replication, out_dir=Path(args.run), discovery=args.discovery,
        harmonise_config=config.harmonise, overlap_config=config.overlap, seed=config.seed,
    )  # fmt: skip
    for name, r in results.items():
        sm = r.summary
        lo, hi = sm["auc_ci95"]
        print(
            f"{name}: {r.verdict} (AUC {sm['auc']:.3f} [{lo:.3f}, {hi:.3f}] DeLong; "
            f"OR per SD {sm['score_or_per_sd']:.2f}, one-sided p {sm['score_p']:.2g}; "
            f"{sm['n_variants_used']} of {sm['n_variants_listed']} variants used)"
        )
    print(f"wrote {Path(args.run) / 'replication'}")


def _cmd_export(args: argparse.Namespace) -> None:
    from genopt.export import read_model_json, write_extract, write_pgs_scoring, write_score_tsv

    run = Path(args.run)
    model = read_model_json(run / "model.json")
    out = Path(args.out) if args.out else run
    written = []
    if args.format in ("plink", "all"):
        write_score_tsv(model, out / "score.tsv")
        write_extract(model, out / "extract.txt")
        written += [out / "score.tsv", out / "extract.txt"]
    if args.format in ("pgs", "all"):
        write_pgs_scoring(model, out / "score.pgs.txt", pgs_name=args.pgs_name, genome_build=args.genome_build)
        written.append(out / "score.pgs.txt")
    print("wrote " + ", ".join(str(p) for p in written))


def _cmd_simulate_bundle(args: argparse.Namespace) -> None:
    from genopt.simulate import make_bundle

    make_bundle(Path(args.shared), Path(args.out), seed=args.seed)
    print(f"bundled cohorts written to {args.out}")


def _cmd_simulate_phenotype(args: argparse.Namespace) -> None:
    from genopt.config import PhenotypeSimConfig
    from genopt.io.plink import open_plink
    from genopt.simulate import apply_truth, read_truth, simulate_phenotype, write_phenotype_files

    names = ["h2", "n_causal", "causal_maf", "prevalence", "sex_effect", "age_effect", "ancestry_effect", "seed"]
    config = _override(PhenotypeSimConfig(), args, names)
    fileset = open_plink(args.bfile)
    if args.truth:
        sim = apply_truth(fileset, read_truth(args.truth), config)
    else:
        sim = simulate_phenotype(fileset, config)
    written = write_phenotype_files(sim, args.out, truth=not args.truth)
    print(
        f"simulated outcome for {fileset.n_samples} people: {int(sim.phenotype_table()['cooperate'].sum())} cooperate; "
        f"realised liability-scale h2 {sim.realised_h2:.3f}; wrote {', '.join(str(p) for p in written)}"
    )


def _cmd_simulate_recombine(args: argparse.Namespace) -> None:
    from genopt.config import RecombineConfig
    from genopt.io.plink import open_plink
    from genopt.io.tables import read_population_labels
    from genopt.simulate import recombine, write_recombined

    config = _override(RecombineConfig(), args, ["n_samples", "segment_cm", "seed"])
    fileset = open_plink(args.bfile)
    labels = read_population_labels(args.populations) if args.populations else None
    g, variants, samples, provenance = recombine(fileset, config, populations=labels, prefix=args.id_prefix)
    written = write_recombined(args.out, g, variants, samples, provenance)
    print(f"{len(samples)} recombined people x {len(variants)} variants: {', '.join(str(p) for p in written)}")


def _cmd_run(args: argparse.Namespace) -> None:
    from genopt.pipeline import run_foundation

    summary = run_foundation(
        Path(args.config),
        out=Path(args.out) if args.out else None,
        resume=args.resume,
        jobs=args.jobs,
        scheduler=args.scheduler,
        progress=not args.quiet and sys.stderr.isatty(),
    )
    report = summary.parent / "report.html"
    print(f"run finished: summary at {summary}" + (f", report at {report}" if report.is_file() else ""))


# --------------------------------------------------------------------------- parser


def _cmd_help(args: argparse.Namespace) -> None:
    raise GenoptError(f"'genopt {args.command}' needs a subcommand; see genopt {args.command} --help")


def _add_bfile(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bfile", required=True, metavar="PREFIX", help="PLINK 1 fileset prefix (PREFIX.bed/.bim/.fam)")


def _add_cohort(p: argparse.ArgumentParser) -> None:
    """--bfile plus the phenotype and covariate options that define a Cohort."""
    _add_bfile(p)
    p.add_argument("--pheno", metavar="FILE", help="phenotype table (FID IID header); default: .fam column 6")
    p.add_argument("--pheno-name", metavar="COL", help="phenotype column (default: the first)")
    p.add_argument("--covar", metavar="FILE", help="covariate table (FID IID header)")
    p.add_argument("--covar-name", nargs="+", metavar="COL", help="covariate columns to use (default: all)")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (exposed for tests and documentation)."""
    from genopt.config import QCConfig, ReplicationConfig

    qc_defaults = _defaults(QCConfig)
    parser = _Parser(
        prog="genopt",
        description="Genotype-to-phenotype variant selection with honest replication on held-out cohorts.",
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=f"genopt {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="only print errors")
    parser.add_argument("-v", "--verbose", action="store_true", help="print progress details and tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def command(name: str, func: Callable[[argparse.Namespace], None], help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help, formatter_class=_Formatter)
        p.set_defaults(func=func)
        return p

    p = command("qc", _cmd_qc, "variant and sample QC with PLINK's --maf/--geno/--mind/--hwe meanings")
    _add_bfile(p)
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    for flag, meaning in (
        ("maf", "drop variants with minor allele frequency < X"),
        ("geno", "drop variants with missing-call rate > X"),
        ("mind", "drop samples with missing-call rate > X"),
        ("hwe", "drop variants with Hardy-Weinberg exact p < X"),
    ):
        p.add_argument(
            f"--{flag}",
            type=_threshold,
            metavar="X",
            default=argparse.SUPPRESS,
            help=f"{meaning}; 'off' disables (default {qc_defaults[flag]})",
        )
    p.add_argument("--hwe-midp", action="store_true", help="use the mid-p Hardy-Weinberg test (PLINK's --hwe midp)")
    p.add_argument("--nonfounders", action="store_true", help="count non-founders in frequencies and HWE")

    p = command("pca", _cmd_pca, "LD-pruned PCA of one cohort, optionally projecting another onto its axes")
    _add_bfile(p)
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.add_argument("--pcs", type=int, help="number of principal components (default from PCAConfig)")
    p.add_argument("--project", metavar="PREFIX", help="fileset to project onto the fitted axes")

    from genopt.config import AssocConfig, SearchConfig

    assoc_defaults = AssocConfig()
    p = command(
        "assoc",
        _cmd_assoc,
        "per-variant logistic regression with covariates: score-test screening of every variant, exact "
        "Wald (Firth fallback) for the top ones; GWAS-SSF columns, effect allele = .bim A1",
    )
    _add_cohort(p)
    p.add_argument(
        "--pcs",
        type=int,
        default=assoc_defaults.n_pcs,
        help="principal components of the cohort's LD-pruned genotypes added as covariates (0 for none)",
    )
    p.add_argument("--out", required=True, metavar="FILE.tsv", help="results table; plots go beside it")
    p.add_argument(
        "--exact-top",
        type=int,
        default=assoc_defaults.exact_top,
        help="number of top screening variants given the exact Wald/Firth test",
    )
    p.add_argument("--no-plots", action="store_true", help="skip the Manhattan and QQ plots")
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="test the chunks on dask.distributed: a scheduler address, or 'local' (default: threads here); "
        "workers must see the fileset",
    )

    p = command(
        "search",
        _cmd_search,
        "genetic-algorithm search over variant subsets and models on discovery (pool, PCs and CV on a search "
        "part; choice on an internal validation part); writes model.json, score.tsv, variants.tsv, pareto.tsv, "
        "history.tsv",
    )
    _add_cohort(p)
    p.add_argument("--out", required=True, metavar="RUN_DIR", help="output directory")
    p.add_argument(
        "--config",
        metavar="FILE.toml",
        help="settings: [qc] [pca] [pool] [search] tables and seed, as in a workflow file (its cohorts are not used)",
    )
    p.add_argument("--seed", type=int, help="the one seed of the split, PCs, folds and search (default: config's, 0)")
    sd = SearchConfig()
    flag_help = {
        "budget": (int, f"fitness evaluations: models actually fitted (default {sd.budget})"),
        "engine": (str, f"search engine: ga, random or grid (default {sd.engine})"),
        "population": (int, f"GA population size (default {sd.population})"),
        "max_generations": (int, "stop after this many GA generations (default: when the budget is spent)"),
        "patience": (int, "stop after this many generations without a better best (default: off)"),
        "max_seconds": (float, "stop the search after this many seconds (default: off)"),
        "jobs": (int, f"worker processes evaluating candidates; the result does not depend on it (default {sd.jobs})"),
        "scheduler": (
            str,
            "evaluate candidates and scan for the pools on dask.distributed: a scheduler address, "
            "or 'local' (default: no dask)",
        ),
        "resamples": (int, f"repeat the search on this many subsamples: selection_frequency (default {sd.resamples})"),
        "resample_fraction": (float, f"fraction of discovery drawn per resample (default {sd.resample_fraction})"),
        "resample_budget": (int, "evaluation budget of each resampled search (default: --budget)"),
        "outer_folds": (int, f"estimate the whole procedure by a k-fold outer CV (default {sd.outer_folds}: off)"),
        "warm_start": (str, "seed the GA's first generation with a previous RUN_DIR's pareto.tsv (default: off)"),
    }
    for key, (kind, text) in flag_help.items():
        flag = "--generations" if key == "max_generations" else "--" + key.replace("_", "-")
        metavar = {"engine": "NAME", "scheduler": "ADDRESS", "warm_start": "RUN_DIR"}.get(key)
        metavar = metavar or ("N" if kind is int else "X")
        p.add_argument(flag, dest=key, type=kind, default=argparse.SUPPRESS, metavar=metavar, help=text)
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue a killed run in --out from its checkpoints (same result as an uninterrupted run)",
    )

    p = command(
        "replicate",
        _cmd_replicate,
        "replicate a run's frozen model on held-out cohorts: score AUC and OR per SD, per-variant tests, sign test, "
        "meta-analysis and a verdict; writes RUN_DIR/replication/<cohort>/summary.json and variants.tsv",
    )
    p.add_argument("--run", required=True, metavar="RUN_DIR", help="run directory of genopt search (model.json)")
    p.add_argument("--bfile", required=True, action="append", metavar="PREFIX", help="held-out fileset (repeatable)")
    p.add_argument("--name", action="append", metavar="COHORT", help="cohort name, one per --bfile (default: PREFIX)")
    p.add_argument("--pheno", action="append", metavar="FILE", help="phenotype table, once or once per --bfile")
    p.add_argument("--pheno-name", metavar="COL", help="phenotype column (default: the first)")
    p.add_argument("--covar", action="append", metavar="FILE", help="covariate table, once or once per --bfile")
    p.add_argument(
        "--covar-name", nargs="+", metavar="COL", help="covariate columns to read (default: all; the model's are used)"
    )
    p.add_argument(
        "--discovery",
        metavar="PREFIX",
        help="discovery fileset for the genotype overlap check (default: the run's manifest.json)",
    )
    p.add_argument("--config", metavar="FILE.toml", help="settings: [replication], [harmonise], [overlap], seed")
    rd = ReplicationConfig()
    p.add_argument("--alpha", type=float, default=argparse.SUPPRESS, help=f"significance level (default {rd.alpha})")
    p.add_argument(
        "--prevalence",
        type=float,
        default=argparse.SUPPRESS,
        help="population proportion who cooperate, for liability R2 (default: the cohort's)",
    )
    p.add_argument(
        "--permutations",
        type=int,
        default=argparse.SUPPRESS,
        help=f"outcome permutations for an empirical AUC p (default {rd.permutations})",
    )
    p.add_argument(
        "--drop-overlap",
        action="store_true",
        help="drop held-out people who duplicate discovery people instead of refusing the cohort",
    )

    p = command("report", _cmd_report, "rebuild a run's self-contained HTML report (RUN_DIR/report.html)")
    p.add_argument("--run", required=True, metavar="RUN_DIR", help="run directory of genopt search or genopt run")

    p = command("track", _cmd_track, "log a finished run directory to MLflow (params, metrics, artifacts)")
    p.add_argument("--run", required=True, metavar="RUN_DIR", help="run directory of genopt search or genopt run")
    p.add_argument("--tracking-uri", metavar="URI", help="MLflow tracking URI (default: file store RUN_DIR/mlruns)")
    p.add_argument("--experiment", default="genopt", help="MLflow experiment name")
    p.add_argument("--run-name", metavar="NAME", help="MLflow run name (default: the run directory's name)")

    p = command("export", _cmd_export, "rewrite a run's hand-off files from its model.json")
    p.add_argument("--run", required=True, metavar="RUN_DIR", help="run directory (model.json)")
    p.add_argument(
        "--format",
        choices=["plink", "pgs", "all"],
        default="all",
        help="plink: score.tsv + extract.txt; pgs: score.pgs.txt (PGS Catalog scoring file 2.0)",
    )
    p.add_argument("--out", metavar="DIR", help="output folder (default: RUN_DIR)")
    p.add_argument("--pgs-name", default="genopt", help="#pgs_name of the scoring file")
    p.add_argument("--genome-build", metavar="BUILD", help="#genome_build of the scoring file (default NR)")

    p = command("overlap", _cmd_overlap, "shared people and relatives between two cohorts (by ID and KING kinship)")
    p.add_argument("prefix_a", metavar="PREFIX_A")
    p.add_argument("prefix_b", metavar="PREFIX_B")
    p.add_argument("--out", required=True, metavar="FILE.tsv", help="pairs table (IID_A IID_B KINSHIP RELATION)")

    p = command("simulate", _cmd_help, "simulate outcomes and cohorts with a known truth")
    sim = p.add_subparsers(dest="sim_command", metavar="WHAT", parser_class=_Parser)

    def subcommand(name: str, func: Callable[[argparse.Namespace], None], help: str) -> argparse.ArgumentParser:
        q = sim.add_parser(name, help=help, description=help, formatter_class=_Formatter)
        q.set_defaults(func=func)
        return q

    from genopt.config import PhenotypeSimConfig, RecombineConfig

    ph, rc = PhenotypeSimConfig(), RecombineConfig()
    q = subcommand("phenotype", _cmd_simulate_phenotype, "a cooperate/defect outcome under a liability-threshold model")
    _add_bfile(q)
    q.add_argument("--out", required=True, metavar="PREFIX", help="writes PREFIX.pheno.tsv, .covar.tsv, .truth.tsv")
    q.add_argument("--truth", metavar="FILE", help="apply this truth (causal variants, effects) instead of drawing one")
    q.add_argument("--h2", type=float, default=ph.h2, help="liability-scale heritability")
    q.add_argument("--n-causal", dest="n_causal", type=int, default=ph.n_causal, help="number of causal variants")
    q.add_argument("--causal-maf", dest="causal_maf", type=float, default=ph.causal_maf, help="minimum causal MAF")
    q.add_argument("--prevalence", type=float, default=ph.prevalence, help="proportion who cooperate")
    q.add_argument("--sex-effect", dest="sex_effect", type=float, default=ph.sex_effect, help="liability SD, F vs M")
    q.add_argument("--age-effect", dest="age_effect", type=float, default=ph.age_effect, help="liability SD per age SD")
    q.add_argument(
        "--ancestry-effect",
        dest="ancestry_effect",
        type=float,
        default=ph.ancestry_effect,
        help="liability variance explained by ancestry (PC1), a confounder",
    )
    q.add_argument("--seed", type=int, default=ph.seed, help="random seed")

    q = subcommand("recombine", _cmd_simulate_recombine, "new people as mosaics of reference genotype segments")
    _add_bfile(q)
    q.add_argument("--out", required=True, metavar="PREFIX", help="writes PREFIX.bed/.bim/.fam and provenance tables")
    q.add_argument("--n", dest="n_samples", type=int, default=rc.n_samples, help="number of new people")
    q.add_argument("--segment-cm", dest="segment_cm", type=float, default=rc.segment_cm, help="mean segment length")
    q.add_argument("--populations", metavar="FILE", help="FID IID population table: donors from one population each")
    q.add_argument("--id-prefix", default="sim", help="prefix of the new people's IDs")
    q.add_argument("--seed", type=int, default=rc.seed, help="random seed")

    q = subcommand("bundle", _cmd_simulate_bundle, "regenerate the bundled cohorts in data/ from ../shared/data")
    q.add_argument("--shared", required=True, metavar="DIR", help="the shared data folder (hapmap3/, kg1/)")
    q.add_argument("--out", required=True, metavar="DIR", help="output folder")
    q.add_argument("--seed", type=int, default=2026, help="random seed (2026 made the bundled data)")

    p = command("run", _cmd_run, "run a whole workflow described by a TOML config")
    p.add_argument("config", metavar="CONFIG.toml")
    p.add_argument("--out", metavar="DIR", help="run directory (overrides the config's)")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue a killed run: reuse its finished steps and the search's checkpoints (refused if the config "
        "or inputs changed); the outputs equal an uninterrupted run's",
    )
    p.add_argument("--jobs", type=int, metavar="N", help="search worker processes (overrides [search] jobs)")
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run the discovery scan, the pool scans and the search on dask.distributed: a scheduler address, or "
        "'local' (overrides [assoc], [pool.assoc] and [search] scheduler); results do not depend on it",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``genopt`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING if args.quiet else logging.DEBUG if args.verbose else logging.INFO
    logging.basicConfig(level=level, format="%(message)s", stream=sys.stderr)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USER
    try:
        args.func(args)
    except GenoptError as exc:
        print(f"genopt: error: {exc}", file=sys.stderr)
        return EXIT_USER
    except OSError as exc:  # unreadable input, unwritable output, full disk
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"genopt: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return EXIT_USER
    except KeyboardInterrupt:
        print("genopt: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug, not a user mistake
        if args.verbose:
            traceback.print_exc()
        print(
            f"genopt: internal error: {type(exc).__name__}: {exc} (please report; rerun with --verbose for details)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
