"""Phenotypes and cohorts with a known truth.

Two simulators live here:

* :func:`simulate_phenotype` / :func:`apply_truth`: a binary outcome
  (1 = cooperate, 0 = defect) on real genotypes under a liability-threshold
  model, with a truth table of causal variants and their per-allele effects
  (effect allele = the .bim A1, the allele genopt counts everywhere);
* :func:`recombine`: new people made as mosaics of real people's diploid
  genotype segments, so that a cohort can be larger than its reference while
  local linkage disequilibrium (LD) survives; :func:`ld_decay` measures it.

:func:`make_bundle` builds the cohorts shipped in ``data/`` from the reference
genotypes in ``../shared/data``.

One module per job, their public names re-exported here:
:mod:`~genopt.simulate.phenotype` (liability model, truth tables, ancestry
axis), :mod:`~genopt.simulate.recombination` (recombined cohorts),
:mod:`~genopt.simulate.ld` (LD decay), :mod:`~genopt.simulate.bundle` (the
bundled data) and ``_common`` (helpers they share). Allele frequencies come
from :func:`genopt.io.plink.allele_frequencies`, KING-robust kinship from
:func:`genopt.relatedness.king_robust`, population labels from
:func:`genopt.io.tables.read_population_labels`.

Liability model
---------------
For person ``i`` the liability is::

    L_i = G_i + S_i + A_i + Y_i + E_i

* ``G_i = sum_j beta_j (x_ij - 2 p_j)``: genetic liability over the causal
  variants ``j``, ``x_ij`` the count of the .bim A1 allele (missing calls
  imputed to ``2 p_j``), ``p_j`` the A1 frequency. Standardised effects are
  drawn N(0, 1) and rescaled so that ``var(G) = h2`` exactly in the simulated
  sample; ``beta_j = beta_std_j / sqrt(2 p_j (1 - p_j))`` is the effect on the
  liability per A1 allele.
* ``S_i = sex_effect * (female_i - mean(female))``; ``Y_i = age_effect * z(age_i)``.
* ``A_i = sqrt(ancestry_effect) * a_i`` with ``a_i`` a standardised ancestry
  score (by default PC1 of the standardised genotypes): a confounder that
  shifts liability along ancestry, so allele-frequency differences between
  populations look like associations to an analysis without PCs.
* ``E_i ~ N(0, 1 - h2 - var(S) - var(Y) - ancestry_effect)`` (population
  variances), so that the liability has unit variance when G, A and the
  covariates are uncorrelated.

The outcome is 1 (cooperate) for the ``prevalence`` fraction of people with
the highest liability (threshold = the sample's ``1 - prevalence`` quantile).

Recombination
-------------
Each new person is a mosaic of diploid genotype segments copied from donor
individuals. Along each chromosome, breakpoints fall as a Poisson process in
genetic distance with mean segment length ``segment_cm`` (genetic positions
from the .bim; when the .bim has none, 1 cM per Mb of base-pair position).
Between two adjacent variants ``d`` cM apart, a new segment therefore starts
with probability ``1 - exp(-d / segment_cm)``, independently across gaps and
people, and each chromosome starts a new segment. Each segment's donor is
drawn uniformly from the donor pool (from the person's own population when
labels are given and ``within_population`` is set; each new person gets one
population, drawn in proportion to the donors' population sizes). Within a
segment the genotypes are the donor's, so LD between variants in one segment is
the donor population's, and allele and genotype frequencies match the donors'.
LD between variants in different segments is lost, so LD decays faster than in
the reference only at distances comparable to ``segment_cm``.
"""

from genopt.simulate.bundle import (
    BUNDLE_COHORTS,
    BUNDLE_PHENOTYPE,
    make_bundle,
    split_donor_pools,
)
from genopt.simulate.ld import LD_BINS, ld_decay, plot_ld_decay
from genopt.simulate.phenotype import (
    ANCESTRY_VARIANTS,
    PHENOTYPE_COLUMN,
    TRUTH_COLUMNS,
    AncestryAxis,
    SimulatedPhenotype,
    apply_truth,
    fit_ancestry_axis,
    read_truth,
    simulate_covariates,
    simulate_phenotype,
    write_phenotype_files,
)
from genopt.simulate.recombination import genetic_positions, recombine, shuffle_genotypes, write_recombined

__all__ = [
    "ANCESTRY_VARIANTS",
    "BUNDLE_COHORTS",
    "BUNDLE_PHENOTYPE",
    "LD_BINS",
    "PHENOTYPE_COLUMN",
    "TRUTH_COLUMNS",
    "AncestryAxis",
    "SimulatedPhenotype",
    "apply_truth",
    "fit_ancestry_axis",
    "genetic_positions",
    "ld_decay",
    "make_bundle",
    "plot_ld_decay",
    "read_truth",
    "recombine",
    "shuffle_genotypes",
    "simulate_covariates",
    "simulate_phenotype",
    "split_donor_pools",
    "write_phenotype_files",
    "write_recombined",
]
