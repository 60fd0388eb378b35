"""One frozen dataclass per step; every default lives here.

Configs are read from and written to TOML (:func:`load_config`,
:func:`dump_config`). Unknown keys and wrongly typed values are errors naming
the key, the expected type and the file.
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import tomli_w

from genopt.errors import GenoptError


@dataclass(frozen=True)
class QCConfig:
    """Variant and sample filters, with PLINK's meanings.

    Attributes
    ----------
    maf
        ``--maf``: drop variants whose minor allele frequency is < ``maf``.
    geno
        ``--geno``: drop variants whose missing-call rate is > ``geno``.
    mind
        ``--mind``: drop samples whose missing-call rate is > ``mind``.
    hwe
        ``--hwe``: drop variants whose Hardy-Weinberg exact test p is < ``hwe``
        (Wigginton et al. 2005 exact test, as PLINK computes it).
    hwe_midp
        Use the mid-p variant of the exact test (PLINK's ``--hwe midp``).
    nonfounders
        Count nonfounders in allele frequencies and HWE (PLINK's
        ``--nonfounders``); by default only founders count, as in PLINK.

    ``None`` disables a filter. Out-of-range values (``maf`` outside [0, 0.5],
    ``geno``/``mind`` outside [0, 1], ``hwe`` outside (0, 1]) raise
    :class:`GenoptError` naming the key and value.
    """

    maf: float | None = 0.01
    geno: float | None = 0.05
    mind: float | None = 0.05
    hwe: float | None = 1e-6
    hwe_midp: bool = False
    nonfounders: bool = False

    def __post_init__(self) -> None:
        ranges = {"maf": (0.0, 0.5, "[0, 0.5]"), "geno": (0.0, 1.0, "[0, 1]"), "mind": (0.0, 1.0, "[0, 1]")}
        ranges["hwe"] = (0.0, 1.0, "(0, 1]")
        for key, (lo, hi, text) in ranges.items():
            value = getattr(self, key)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
                raise GenoptError(f"QC setting {key} = {value!r} must be a number in {text}")
            if value < lo or value > hi or (key == "hwe" and value <= 0.0):
                raise GenoptError(f"QC setting {key} = {value!r} is outside {text}")
        for key in ("hwe_midp", "nonfounders"):
            if not isinstance(getattr(self, key), bool):
                raise GenoptError(f"QC setting {key} = {getattr(self, key)!r} must be true or false")


@dataclass(frozen=True)
class LDPruneConfig:
    """LD pruning with the meaning of ``plink2 --indep-pairwise``.

    Attributes
    ----------
    window
        Window size in variants (or in kb when ``window_kb`` is true).
    step
        Number of variants the window shifts each step (ignored with kb windows).
    r2
        Pairwise r^2 threshold above which one variant of the pair is pruned.
    window_kb
        Interpret ``window`` as kilobases.
    """

    window: int = 200
    step: int = 50
    r2: float = 0.2
    window_kb: bool = False


@dataclass(frozen=True)
class PCAConfig:
    """Principal components of LD-pruned, standardised genotypes.

    Attributes
    ----------
    n_pcs
        Number of components.
    maf
        Variants below this MAF are left out of the PCA (after QC).
    prune
        LD pruning applied before the PCA.
    max_missing
        Projection of another cohort fails if more than this fraction of the
        model's variants are missing from it (matched by ID and alleles).
    exact_max_samples
        Exact eigendecomposition of the n x n matrix up to this many samples;
        a seeded randomized SVD above it (on the 4,000-person bundled
        discovery cohort: 5 s instead of 34 s, PCs 1-10 |r| >= 0.999999 with
        the exact ones).
    seed
        Seed of the randomized SVD.
    """

    n_pcs: int = 10
    maf: float = 0.01
    prune: LDPruneConfig = field(default_factory=LDPruneConfig)
    max_missing: float = 0.5
    exact_max_samples: int = 2000
    seed: int = 0


@dataclass(frozen=True)
class HarmoniseConfig:
    """Matching one cohort's variants and alleles to another's.

    Attributes
    ----------
    match_by
        ``"id"`` or ``"position"`` (chromosome:base-pair).
    palindromic_maf_max
        A/T and C/G SNPs are kept only if both cohorts' MAF is below this, so
        that allele frequency can tell the strand; otherwise they are dropped.
    max_freq_diff
        A matched variant whose aligned A1 frequencies differ by more than
        this is dropped as a likely strand or allele error.
    """

    match_by: str = "id"
    palindromic_maf_max: float = 0.4
    max_freq_diff: float = 0.2


@dataclass(frozen=True)
class OverlapConfig:
    """Sample overlap between cohorts by ID and by genotype (KING-robust kinship).

    Attributes
    ----------
    n_variants
        Number of shared, LD-pruned variants used for kinship.
    min_maf
        Only variants with MAF >= this (in both cohorts) are used for kinship.
    min_kinship
        Pairs with kinship below this are not reported (default: second degree).
    duplicate, first_degree, second_degree
        Kinship lower bounds of each relation (KING's 2^-1.5, 2^-2.5, 2^-3.5).
    """

    n_variants: int = 5000
    min_maf: float = 0.05
    min_kinship: float = 0.0884
    duplicate: float = 0.354
    first_degree: float = 0.177
    second_degree: float = 0.0884


@dataclass(frozen=True)
class PhenotypeSimConfig:
    """Liability-threshold simulation of the binary outcome (1 = cooperate).

    Attributes
    ----------
    h2
        Liability-scale heritability explained by the causal variants.
    n_causal
        Number of causal variants, drawn among variants with MAF >= ``causal_maf``.
    causal_maf
        Minimum MAF of a causal variant.
    prevalence
        Proportion of cooperators (cases, outcome 1) in the population.
    sex_effect
        Liability shift (liability SD units) for female vs male.
    age_effect
        Liability change per SD of age.
    ancestry_effect
        Liability variance explained by ancestry (PC1 of the genotypes); a
        confounder that analyses without PCs mistake for genetic signal.
    seed
        Random seed.
    """

    h2: float = 0.5
    n_causal: int = 20
    causal_maf: float = 0.05
    prevalence: float = 0.5
    sex_effect: float = 0.2
    age_effect: float = 0.1
    ancestry_effect: float = 0.0
    seed: int = 0


@dataclass(frozen=True)
class RecombineConfig:
    """New people made by recombining reference genotypes (local LD kept).

    Attributes
    ----------
    n_samples
        Number of new people.
    segment_cm
        Mean length of a copied segment; breakpoints fall as a Poisson process
        along the genetic map (base pairs / 1e6 as cM when the .bim has none).
    within_population
        Draw each new person's donors from one population only (keeps
        ancestry structure) when population labels are given.
    seed
        Random seed.
    """

    n_samples: int = 1000
    segment_cm: float = 10.0
    within_population: bool = True
    seed: int = 0


@dataclass(frozen=True)
class AssocConfig:
    """Per-variant logistic regression of the outcome on each variant plus covariates.

    Attributes
    ----------
    n_pcs
        Principal components (from :class:`PCAConfig`'s fit on the discovery
        samples) added to the covariates.
    exact_top
        Number of top variants (by the screening score test) that get the
        exact Wald test (Firth where the fit separates or fails).
    exact_p
        Also give the exact test to every variant whose screening p is below this.
    firth_fallback
        Refit with Firth's penalised likelihood where the ordinary fit fails
        (PLINK 2's ``firth-fallback``); otherwise such variants get an error code.
    chunk_size
        Variants decoded and tested per chunk (bounds memory).
    max_iter
        Iteration cap of the logistic and Firth fits.
    threads
        Threads testing chunks at once (0: the cores this process may use);
        with ``scheduler = "local"``, the number of dask workers. Results do
        not depend on it.
    scheduler
        Test the chunks on dask.distributed instead (each worker reads its
        chunks from the .bed, so the fileset must be on a file system every
        worker sees): a scheduler address (``tcp://host:8786``), or
        ``"local"`` for a LocalCluster on this machine. Results are identical
        to the local run. Used by ``genopt run``'s discovery scan and
        ``genopt assoc``, and as ``[pool.assoc] scheduler`` by the scans
        that build the search's candidate pools.
    """

    n_pcs: int = 10
    exact_top: int = 1000
    exact_p: float = 1e-4
    firth_fallback: bool = True
    chunk_size: int = 1024
    max_iter: int = 25
    threads: int = 0
    scheduler: str | None = None


@dataclass(frozen=True)
class ClumpConfig:
    """LD clumping with the meaning of ``plink --clump`` (PLINK 1.9).

    Attributes
    ----------
    p1
        Index variants have p below this (``--clump-p1``).
    p2
        Clumped (secondary) variants have p below this (``--clump-p2``).
    r2
        LD threshold for joining a clump (``--clump-r2``).
    kb
        Window around an index variant in kilobases (``--clump-kb``).
    """

    p1: float = 1e-4
    p2: float = 1e-2
    r2: float = 0.5
    kb: int = 250


@dataclass(frozen=True)
class PoolConfig:
    """The candidate pool the search draws variants from.

    Attributes
    ----------
    max_size
        At most this many clump index variants, best p first.
    assoc
        Association settings used to rank variants inside a training fold.
    clump
        Clumping settings; index variants need p < ``clump.p1``, which is
        more permissive here than for reporting, since the search, not the
        p-value, decides what is used; r2 0.1 in 250 kb as in PRSice's
        clumping+thresholding default (PLINK's own default, 0.5, leaves
        near-duplicates in the pool).
    palindromic_maf_max
        A/T and C/G SNPs whose minor allele frequency in the training samples
        is at least this are left out of the pool (before clumping, so an LD
        neighbour can stand in): no replication cohort could tell their strand
        (:class:`HarmoniseConfig` drops them there with the same bound), and
        ``plink2 --score`` would use them unchecked. None keeps every SNP.
    """

    max_size: int = 500
    palindromic_maf_max: float | None = 0.4
    assoc: AssocConfig = field(default_factory=AssocConfig)
    clump: ClumpConfig = field(default_factory=lambda: ClumpConfig(p1=1e-2, p2=5e-2, r2=0.1, kb=250))


@dataclass(frozen=True)
class SearchConfig:
    """The variant-subset and hyperparameter search (:mod:`genopt.search.engine`).

    Attributes
    ----------
    engine
        ``"ga"`` (pygad genetic algorithm), ``"random"`` or ``"grid"``.
    budget
        Fitness evaluations (models actually fitted; cache hits are counted
        apart and are free). Every engine stops at exactly this many.
    population
        GA population size (also the batch size of random/grid history rows).
    parents_mating
        GA parents selected per generation.
    keep_elitism
        GA: best solutions copied unchanged into the next generation.
    tournament_k
        GA tournament size of parent selection.
    crossover_probability
        GA probability that a pair of parents is crossed (uniform crossover).
    mutations
        GA: mean number of variant add/drop/swap moves per offspring (at least one).
    hyper_mutation
        GA: probability that each hyperparameter gene of an offspring is mutated.
    max_variants
        Variant slots of the genome: the largest subset the search can hold.
    size_penalty
        Single objective = mean CV AUC - ``size_penalty`` x number of variants.
    families
        Model families searched (names from ``genopt.search.types.FAMILIES``).
    log10_alpha, log10_C
        Bounds of log10 ridge alpha and log10 logistic C.
    learning_rates, max_depths
        Choices of the gradient-boosting learning rate and tree depth.
    max_generations
        GA generation cap (None: until the budget is spent).
    patience
        GA early stop after this many generations without a better best
        objective (None: off).
    max_seconds
        Stop after this wall time in seconds (None: off).
    multi_objective
        GA: NSGA-II on (mean CV AUC, -number of variants) instead of the
        single penalised objective; the front is taken over all evaluations.
    folds
        k of the inner stratified k-fold CV inside the search part.
    validation_fraction
        Fraction of discovery held out (stratified) as the internal
        validation part on which the Pareto-front candidate is chosen.
    pool_per_fold
        Rebuild the candidate pool inside each CV fold's training rows, so
        that the inner CV AUC is not inflated by pool selection (one more
        association scan per fold). On the bundled data it also lists fewer
        non-causal variants (benchmarks/RESULTS.md); False: one pool from
        all search rows, and the inner CV AUC is labelled optimistic.
    jobs
        Worker processes that evaluate candidates (1: serial, in-process).
        The result does not depend on it.
    scheduler
        Evaluate on dask.distributed instead: a scheduler address
        (``tcp://host:8786``), or ``"local"`` for a LocalCluster of ``jobs``
        workers. None: no dask.
    checkpoint_every
        Write the search checkpoint every this many generations (0: never).
        A killed run continues from it with ``--resume``.
    resamples
        Repeat pool + search on this many random subsamples of discovery to
        estimate each listed variant's ``selection_frequency`` (0: off).
    resample_fraction
        Fraction of discovery drawn (without replacement, stratified) per resample.
    resample_budget
        Evaluation budget of each resampled search (None: ``budget``).
    outer_folds
        Estimate the whole procedure (split, PCA, pool, search, choice) by an
        outer stratified k-fold CV of discovery (0: off; else at least 2).
    warm_start
        A previous run directory whose ``pareto.tsv`` candidates seed the
        initial population (matched by variant ID; None: random start).
    top_k_seeds
        GA: this many members of the first generation are the pool's best
        ``k`` variants by association p (``k`` log-spaced from 1 to
        ``max_variants``; families in turn, middle hyperparameters), so the
        search starts from the clumping + thresholding path as well as from
        random subsets (0: a random first generation only).
    """

    engine: str = "ga"
    budget: int = 2000
    population: int = 50
    parents_mating: int = 20
    keep_elitism: int = 2
    tournament_k: int = 3
    crossover_probability: float = 0.9
    mutations: float = 1.5
    hyper_mutation: float = 0.15
    max_variants: int = 50
    size_penalty: float = 0.001
    families: tuple[str, ...] = ("ridge", "logistic_l2", "logistic_l1", "logistic_enet", "gbm")
    log10_alpha: tuple[float, float] = (-2.0, 4.0)
    log10_C: tuple[float, float] = (-3.0, 2.0)
    learning_rates: tuple[float, ...] = (0.03, 0.1, 0.3)
    max_depths: tuple[int, ...] = (1, 2, 3)
    max_generations: int | None = None
    patience: int | None = None
    max_seconds: float | None = None
    multi_objective: bool = False
    folds: int = 5
    validation_fraction: float = 0.2
    pool_per_fold: bool = True
    jobs: int = 1
    scheduler: str | None = None
    checkpoint_every: int = 1
    resamples: int = 0
    resample_fraction: float = 0.8
    resample_budget: int | None = None
    outer_folds: int = 0
    warm_start: str | None = None
    top_k_seeds: int = 10

    def __post_init__(self) -> None:
        checks = {
            "engine": self.engine in ("ga", "random", "grid"),
            "budget": self.budget >= 1,
            "population": self.population >= 2,
            "folds": self.folds >= 2,
            "validation_fraction": 0.0 < self.validation_fraction < 1.0,
            "jobs": self.jobs >= 1,
            "checkpoint_every": self.checkpoint_every >= 0,
            "resamples": self.resamples >= 0,
            "resample_fraction": 0.0 < self.resample_fraction < 1.0,
            "resample_budget": self.resample_budget is None or self.resample_budget >= 1,
            "outer_folds": self.outer_folds == 0 or self.outer_folds >= 2,
            "top_k_seeds": self.top_k_seeds >= 0,
            "max_variants": self.max_variants >= 1,
        }
        for key, ok in checks.items():
            if not ok:
                raise GenoptError(f"search setting {key} = {getattr(self, key)!r} is out of range")


@dataclass(frozen=True)
class ReplicationConfig:
    """Replication of a frozen discovery model on a held-out cohort (:mod:`genopt.replicate`).

    Attributes
    ----------
    alpha
        Significance level of the verdict's one-sided tests (score effect and
        sign test) and of the per-variant Bonferroni / Benjamini-Hochberg calls.
    prevalence
        Population proportion who cooperate, for the liability-scale R2
        (None: the held-out cohort's own proportion).
    permutations
        Outcome permutations for an empirical p of the score's AUC (0: off).
    min_variants_used
        Fewest model variants that must be harmonised in the held-out cohort;
        fewer is an error naming how many could be used and why the rest were dropped.
    drop_overlap
        Drop held-out people who duplicate discovery people (by ID or by
        genotype) instead of refusing the cohort.
    """

    alpha: float = 0.05
    prevalence: float | None = None
    permutations: int = 0
    min_variants_used: int = 1
    drop_overlap: bool = False

    def __post_init__(self) -> None:
        checks = {
            "alpha": 0.0 < self.alpha < 1.0,
            "prevalence": self.prevalence is None or 0.0 < self.prevalence < 1.0,
            "permutations": self.permutations >= 0,
            "min_variants_used": self.min_variants_used >= 1,
        }
        for key, ok in checks.items():
            if not ok:
                raise GenoptError(f"replication setting {key} = {getattr(self, key)!r} is out of range")


@dataclass(frozen=True)
class CohortSpec:
    """Where one cohort's files are. Relative paths are relative to the config file.

    Attributes
    ----------
    name
        Short name used for output folders (``qc/<name>/``, ``replication/<name>/``).
    bfile
        PLINK 1 fileset prefix.
    pheno
        Phenotype table (``FID IID`` header); None uses .fam column 6.
    pheno_name
        Phenotype column; None takes the first.
    covar
        Covariate table (``FID IID`` header), or None.
    covar_names
        Covariate columns to use; empty uses all.
    categorical
        Covariate columns to one-hot encode (first level dropped); columns
        with no numeric value are encoded without being named here.
    pheno_coding
        ``"auto"`` (detected from the values and reported), ``"01"`` or ``"12"``.
    allow_ungenotyped
        Refuse phenotype rows whose ID is not in the .fam (false, the
        default: an ID mismatch must not pass silently) or count them as
        "not genotyped" (true).
    """

    name: str = ""
    bfile: str = ""
    pheno: str | None = None
    pheno_name: str | None = None
    covar: str | None = None
    covar_names: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    pheno_coding: str = "auto"
    allow_ungenotyped: bool = False


@dataclass(frozen=True)
class MLflowConfig:
    """Logging a finished run to MLflow (:func:`genopt.tracking.log_run`; needs the ``mlflow`` extra).

    Attributes
    ----------
    tracking_uri
        MLflow tracking URI (a server ``http://...``, a ``file:`` folder, or
        ``sqlite:///...``, which needs the full ``mlflow`` package rather than
        the extra's ``mlflow-skinny``). None: a local file store in
        ``RUN_DIR/mlruns`` (the ``file:`` URI of that folder; MLflow >= 3
        keeps file stores in maintenance mode, and genopt opts in to them with
        ``MLFLOW_ALLOW_FILE_STORE`` for the logging call only).
    experiment
        Experiment name (created if missing).
    run_name
        MLflow run name; None: the run directory's name.
    """

    tracking_uri: str | None = None
    experiment: str = "genopt"
    run_name: str | None = None


@dataclass(frozen=True)
class RunConfig:
    """A whole run: the discovery cohort, held-out cohorts and every step's settings.

    Attributes
    ----------
    out
        Run directory (relative to the config file).
    seed
        The one integer seed that drives every random choice.
    discovery
        The cohort everything is fitted and chosen on.
    heldout
        Cohorts that nothing fitted or chosen may see; used only to replicate.
    truth
        Simulation truth table (variants with effects), for simulated data only:
        lets the run report how the known causal variants fare.
    pool
        Candidate pool of the search (built inside discovery only).
    search
        The variant-subset and hyperparameter search; None (no ``[search]``
        table, or ``search = "off"``): the run stops after the association scan.
    replication
        How the frozen model is replicated on each held-out cohort.
    mlflow
        Log the finished run to MLflow; None (no ``[mlflow]`` table): no logging.
    """

    out: str = "runs/run"
    seed: int = 0
    discovery: CohortSpec = field(default_factory=CohortSpec)
    heldout: tuple[CohortSpec, ...] = ()
    truth: str | None = None
    qc: QCConfig = field(default_factory=QCConfig)
    pca: PCAConfig = field(default_factory=PCAConfig)
    harmonise: HarmoniseConfig = field(default_factory=HarmoniseConfig)
    overlap: OverlapConfig = field(default_factory=OverlapConfig)
    assoc: AssocConfig = field(default_factory=AssocConfig)
    clump: ClumpConfig = field(default_factory=ClumpConfig)
    pool: PoolConfig = field(default_factory=PoolConfig)
    search: SearchConfig | None = None
    replication: ReplicationConfig = field(default_factory=ReplicationConfig)
    mlflow: MLflowConfig | None = None


T = TypeVar("T")
#: How a switched-off optional setting is written in TOML (which has no null).
OFF = "off"


def from_dict(cls: type[T], data: dict[str, Any], source: str = "<config>", section: str = "") -> T:
    """Build a (nested) config dataclass from a dict, rejecting unknown keys and bad types."""
    if not isinstance(data, dict):
        raise GenoptError(f"[{section or cls.__name__}] must be a table", source)
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{section}.{key}" if section else key
        if key not in fields:
            raise GenoptError(f"unknown key {name!r} (expected one of: {', '.join(sorted(fields))})", source)
        kwargs[key] = _coerce(hints[key], value, source, name)
    try:
        return cls(**kwargs)
    except GenoptError as exc:
        if exc.path is not None:
            raise
        where = f"[{section}] " if section else ""
        raise GenoptError(where + str(exc), source) from None


def _coerce(hint: Any, value: Any, source: str, name: str) -> Any:
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value, source, name)  # type: ignore[arg-type]
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        tables = [a for a in args if dataclasses.is_dataclass(a)]
        if isinstance(value, dict) and len(tables) == 1:  # an optional section: its own errors name the key
            return from_dict(tables[0], value, source, name)  # type: ignore[arg-type]
        for arg in args:
            try:
                return _coerce(arg, value, source, name)
            except GenoptError:
                continue
        names = " or ".join(getattr(a, "__name__", str(a)) if a is not type(None) else repr(OFF) for a in args)
        raise GenoptError(f"key {name!r} must be {names}, got {value!r}", source)
    if hint is type(None):
        if value is None or value == OFF:
            return None
        raise GenoptError(f"key {name!r} must be {OFF!r}", source)
    if hint is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if hint in (int, str, bool) and type(value) is hint:
        return value
    if origin in (list, tuple) and isinstance(value, list):
        (arg, *_) = typing.get_args(hint) or (Any,)
        items = [v if arg is Any or arg is Ellipsis else _coerce(arg, v, source, name) for v in value]
        return tuple(items) if origin is tuple else items
    raise GenoptError(f"key {name!r} must be {getattr(hint, '__name__', hint)}, got {value!r}", source)


def load_config(cls: type[T], path: str | Path) -> T:
    """Read a TOML file into config dataclass ``cls``."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GenoptError("config file not found", path) from None
    except UnicodeDecodeError:
        raise GenoptError("not a UTF-8 text file", path) from None
    except tomllib.TOMLDecodeError as exc:
        raise GenoptError(f"invalid TOML: {exc}", path) from None
    return from_dict(cls, data, str(path))


def to_dict(config: Any) -> dict[str, Any]:
    """A config dataclass as a TOML-ready dict.

    TOML has no null: a setting that is None where its default is None is left
    out, and one that is None where the default is a value (a filter switched
    off, e.g. ``hwe``) is written as ``"off"``, which :func:`from_dict` reads
    back as None.
    """
    out: dict[str, Any] = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value):
            out[f.name] = to_dict(value)
        elif isinstance(value, tuple | list):
            out[f.name] = [to_dict(v) if dataclasses.is_dataclass(v) else v for v in value]
        elif value is None:
            default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
            if default is not None:
                out[f.name] = OFF
        else:
            out[f.name] = value
    return out


def dump_config(config: Any) -> str:
    """A config dataclass as TOML text."""
    return tomli_w.dumps(to_dict(config))
