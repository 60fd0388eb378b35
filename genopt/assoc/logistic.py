"""Logistic regression for association: null model, score test, batched Wald/Firth fits.

Everything here works on plain numpy arrays:

* :func:`fit_null` -- the covariates-only logistic model, fitted once by IRLS
  (Newton-Raphson), after checks that turn bad designs into
  :class:`~genopt.errors.GenoptError` naming the culprit;
* :func:`score_test` -- the score (Rao) test of every variant of a chunk from
  that one null fit, vectorised over the chunk;
* :func:`fit_variants` -- the exact per-variant logistic regression
  ``y ~ 1 + g + covariates`` (samples missing at the variant dropped, as
  ``plink2 --glm`` does), many variants at once by batched Newton-Raphson, with
  Firth's penalised likelihood where the ordinary fit fails (separation or no
  convergence), as PLINK 2's default ``firth-fallback``.

Genotypes are always counts of the .bim **A1** allele (0, 1, 2); the effect
(beta, odds ratio) is per copy of A1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.linalg
import scipy.special

from genopt.errors import GenoptError

__all__ = [
    "ERROR_CODES",
    "NullModel",
    "VariantFit",
    "fit_null",
    "fit_variants",
    "score_test",
]

#: Per-variant error codes (PLINK 2 ERRCODE style); ``"."`` means no error.
ERROR_CODES: dict[str, str] = {
    ".": "no error",
    "SAMPLE_CT<=PREDICTOR_CT": "no more samples called at the variant than predictors (e.g. all missing)",
    "CONST_OMITTED_ALLELE": "the variant is monomorphic among the called samples (no test possible)",
    "VIF_INFINITE": "the genotype is collinear with the covariates (no information left after adjustment)",
    "LOGISTIC_CONVERGE_FAIL": "logistic regression did not converge (separation?) and Firth fallback is off",
    "FIRTH_CONVERGE_FAIL": "neither logistic nor Firth regression converged",
}

#: Smallest p reported (the smallest normal double, as ``plink2 --output-min-p 2.23e-308``):
#: p-values that underflow to 0 are written as this, so -log10 p stays finite.
MIN_P = float(np.finfo(np.float64).tiny)
#: Median of the chi-square distribution with 1 degree of freedom (genomic control).
CHI2_MEDIAN_1DF = float(scipy.special.chdtri(1, 0.5))  # median of chi2(1), 0.4549
#: Relative size of the adjusted genotype variance below which a variant is called collinear.
_COLLINEAR_TOL = 1e-8
#: Newton-Raphson convergence: largest absolute coefficient change.
_CONVERGE_TOL = 1e-8
#: Firth steps are capped at this (logistf's ``maxstep``).
_FIRTH_MAXSTEP = 5.0


@dataclass(frozen=True, eq=False)
class NullModel:
    """The covariates-only logistic model fitted once, with what the score test needs.

    Attributes
    ----------
    y
        float64 outcome ``(n,)``, 1 = cooperate, 0 = defect.
    X
        float64 design ``(n, p)``: intercept column then the covariates,
        centred and scaled to unit SD (the scaling changes no genotype
        statistic).
    names
        ``p`` column names (``"intercept"`` first).
    beta
        Coefficients ``(p,)`` on the scaled design.
    mu
        Fitted probabilities ``(n,)``.
    q
        ``(n, p)`` orthonormal basis of ``sqrt(W) X`` (``W = mu (1 - mu)``),
        used to project covariates out of the score variance.
    n_iter
        Newton-Raphson iterations used.
    """

    y: npt.NDArray[np.float64]
    X: npt.NDArray[np.float64]
    names: tuple[str, ...]
    beta: npt.NDArray[np.float64]
    mu: npt.NDArray[np.float64]
    q: npt.NDArray[np.float64]
    n_iter: int

    @property
    def n(self) -> int:
        return int(self.y.size)

    @property
    def w(self) -> npt.NDArray[np.float64]:
        """IRLS weights ``mu (1 - mu)``, shape ``(n,)``."""
        return self.mu * (1.0 - self.mu)


def _check_design(
    y: npt.NDArray[np.float64], covariates: npt.NDArray[np.float64], names: list[str], where: str
) -> None:
    n, k = covariates.shape
    n_cases = int((y == 1).sum())
    if n_cases == 0 or n_cases == n:
        only = "1 (cooperate)" if n_cases == n else "0 (defect)"
        raise GenoptError(f"the outcome has one class only: all {n} samples are {only}; nothing to test", where)
    if k + 1 >= n:
        raise GenoptError(
            f"more covariates than samples: {k} covariates + intercept for {n} samples "
            "(logistic regression needs fewer predictors than samples)",
            where,
        )
    if not np.isfinite(covariates).all():
        bad = names[int(np.flatnonzero(~np.isfinite(covariates).all(axis=0))[0])]
        raise GenoptError(f"covariate {bad!r} has missing or infinite values", where)
    sd = covariates.std(axis=0) if k else np.zeros(0)
    for j in np.flatnonzero(sd == 0):
        raise GenoptError(f"covariate {names[j]!r} is constant (= {covariates[0, j]:g} for all {n} samples)", where)
    if k == 0:
        return
    # Collinearity: QR of [1, standardised covariates] without pivoting; a tiny
    # R[j, j] means column j is a combination of the columns before it.
    z = np.column_stack([np.ones(n), (covariates - covariates.mean(axis=0)) / sd]) / np.sqrt(n)
    r = scipy.linalg.qr(z, mode="r")[0]
    diag = np.abs(np.diag(r))
    for j in range(1, k + 1):
        if diag[j] < 1e-7:
            coef = np.linalg.lstsq(z[:, :j], z[:, j], rcond=None)[0]
            partners = [(["intercept", *names][i]) for i in np.flatnonzero(np.abs(coef) > 1e-6)]
            others = ", ".join(repr(p) for p in partners) or "the intercept"
            raise GenoptError(
                f"covariate {names[j - 1]!r} is collinear with {others} (it is a linear combination of them; drop one)",
                where,
            )


def fit_null(
    y: npt.ArrayLike,
    covariates: npt.ArrayLike | None = None,
    names: list[str] | None = None,
    max_iter: int = 25,
    where: str | None = None,
) -> NullModel:
    """Fit ``logit P(y = 1) = intercept + covariates`` by Newton-Raphson (IRLS).

    Parameters
    ----------
    y
        Outcome ``(n,)``, 0/1 (1 = cooperate).
    covariates
        ``(n, k)`` covariates (PCs included as extra columns); None or
        ``k = 0`` for the intercept-only model.
    names
        ``k`` covariate names for error messages.
    max_iter
        Iteration cap (step-halving on the log-likelihood keeps it monotone).
    where
        File or context named in error messages.

    Raises
    ------
    GenoptError
        An outcome with one class only; more predictors than samples; a
        covariate that is constant, non-finite or collinear with others
        (named); no convergence (e.g. a covariate separates the outcome).
    """
    yv = np.asarray(y, dtype=np.float64).ravel()
    n = yv.size
    cov = np.zeros((n, 0)) if covariates is None else np.asarray(covariates, dtype=np.float64).reshape(n, -1)
    k = cov.shape[1]
    names = list(names) if names is not None else [f"covariate{j + 1}" for j in range(k)]
    if len(names) != k:
        raise ValueError(f"{len(names)} names for {k} covariates")
    if not np.isin(yv, (0.0, 1.0)).all():
        raise GenoptError("the outcome must be coded 0/1", where)
    _check_design(yv, cov, names, where or "null model")
    X = np.column_stack([np.ones(n), (cov - cov.mean(axis=0)) / cov.std(axis=0)]) if k else np.ones((n, 1))
    ybar = yv.mean()
    beta = np.zeros(X.shape[1])
    beta[0] = np.log(ybar / (1 - ybar))

    def loglik(b: npt.NDArray[np.float64]) -> float:
        eta = X @ b
        return float(np.sum(yv * eta - np.logaddexp(0.0, eta)))

    ll = loglik(beta)
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 (it is used after the loop)
        mu = scipy.special.expit(X @ beta)
        w = mu * (1 - mu)
        h = (X * w[:, None]).T @ X
        try:
            step = scipy.linalg.solve(h, X.T @ (yv - mu), assume_a="pos")
        except (np.linalg.LinAlgError, scipy.linalg.LinAlgError):
            break
        t = 1.0
        for _ in range(30):
            new = beta + t * step
            ll_new = loglik(new)
            if ll_new >= ll - 1e-12 * abs(ll):
                break
            t /= 2
        beta, ll = new, ll_new
        if np.max(np.abs(t * step)) < _CONVERGE_TOL:
            break
    else:
        it = max_iter + 1
    mu = scipy.special.expit(X @ beta)
    if (
        it > max_iter
        or not np.isfinite(beta).all()
        or np.max(np.abs(beta)) > 30
        or mu.min() < 1e-12
        or mu.max() > 1 - 1e-12
    ):
        raise GenoptError(
            f"the null model (outcome ~ {' + '.join(names) or 'intercept'}) did not converge in {max_iter} iterations; "
            "a covariate may separate the outcome perfectly",
            where,
        )
    q, _ = np.linalg.qr(X * np.sqrt(mu * (1 - mu))[:, None])
    return NullModel(y=yv, X=X, names=("intercept", *names), beta=beta, mu=mu, q=q, n_iter=it)


@dataclass(frozen=True)
class ScoreStats:
    """Score-test results for a chunk of variants (all arrays ``(m,)``).

    ``beta = U / V`` and ``se = 1 / sqrt(V)`` are the one-step (score)
    approximations of the per-A1-allele log odds ratio and its SE;
    ``chi2 = U^2 / V`` (1 df). NaN only where ``error`` is not ``"."``.
    """

    a1_freq: npt.NDArray[np.float64]
    n_called: npt.NDArray[np.int64]
    u: npt.NDArray[np.float64]
    v: npt.NDArray[np.float64]
    chi2: npt.NDArray[np.float64]
    p: npt.NDArray[np.float64]
    beta: npt.NDArray[np.float64]
    se: npt.NDArray[np.float64]
    error: npt.NDArray[np.object_]


def score_test(genotypes: npt.NDArray[np.integer] | npt.NDArray[np.floating], null: NullModel) -> ScoreStats:
    """Score test of every variant of a chunk against the fitted null model.

    Parameters
    ----------
    genotypes
        ``(n, m)`` A1 counts of the null model's samples (int8 with -1 for
        missing, or float with NaN).
    null
        From :func:`fit_null` on the same samples, same order.

    Notes
    -----
    Missing calls are **mean-imputed** (the variant's mean A1 count among the
    called samples), so every sample stays in the test; the exact Wald test
    (:func:`fit_variants`) instead drops them, as PLINK does. With ``r = y -
    mu`` and ``W = diag(mu (1 - mu))`` of the null fit,
    ``U = g' r`` and ``V = g' W g - g' W X (X' W X)^-1 X' W g``
    (computed as ``|sqrt(W) g|^2 - |Q' sqrt(W) g|^2`` with ``Q`` an orthonormal
    basis of ``sqrt(W) X``). Memory: about ``11 n m`` bytes (one float64
    work array, the int8 input, a bool mask and an int8 temporary).
    """
    g = np.asarray(genotypes)
    n, m = g.shape
    missing = (g < 0) if g.dtype.kind in "iu" else (np.isnan(g) | (g < 0))
    n_missing = np.count_nonzero(missing, axis=0)
    n_called = n - n_missing
    if g.dtype.kind in "iu":  # missing calls are -1: add them back instead of masking a copy
        count = (g.sum(axis=0, dtype=np.int64) + n_missing).astype(np.float64)
    else:
        count = np.where(missing, 0, g).sum(axis=0, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = count / n_called
    # one float64 work array: centred genotypes, 0 (the mean) where missing;
    # the cast is fused into the subtraction (one pass instead of two)
    gc = np.empty((n, m), dtype=np.float64, order="F")
    np.subtract(g, mean, out=gc, dtype=np.float64, casting="unsafe")
    np.copyto(gc, 0.0, where=missing)
    u = gc.T @ (null.y - null.mu)
    gc *= np.sqrt(null.w)[:, None]
    raw = np.einsum("ij,ij->j", gc, gc)
    b = gc.T @ null.q
    v = raw - np.einsum("ij,ij->i", b, b)
    error = np.full(m, ".", dtype=object)
    # raw == 0 exactly when every called genotype equals the mean (monomorphic)
    const = raw <= 0.0
    collinear = v <= _COLLINEAR_TOL * np.maximum(raw, 1e-300)
    error[collinear] = "VIF_INFINITE"
    error[const] = "CONST_OMITTED_ALLELE"
    error[n_called <= null.X.shape[1] + 1] = "SAMPLE_CT<=PREDICTOR_CT"
    ok = error == "."
    with np.errstate(invalid="ignore", divide="ignore"):
        chi2 = np.where(ok, u * u / v, np.nan)
        beta = np.where(ok, u / v, np.nan)
        se = np.where(ok, 1.0 / np.sqrt(v), np.nan)
        freq = count / (2.0 * n_called)
    p = np.maximum(scipy.special.chdtrc(1, chi2), MIN_P)
    return ScoreStats(
        a1_freq=np.where(n_called > 0, freq, np.nan),
        n_called=n_called,
        u=u,
        v=v,
        chi2=chi2,
        p=p,
        beta=beta,
        se=se,
        error=error,
    )


@dataclass(frozen=True)
class VariantFit:
    """Exact per-variant fits (all arrays ``(s,)``).

    ``beta`` is the log odds ratio per A1 allele, ``se`` its Wald SE,
    ``p`` the two-sided Wald p; ``test`` is ``"wald"`` (ordinary logistic
    regression) or ``"firth"`` (penalised likelihood after the ordinary fit
    failed); ``n`` the samples used (called at the variant).
    """

    beta: npt.NDArray[np.float64]
    se: npt.NDArray[np.float64]
    z: npt.NDArray[np.float64]
    p: npt.NDArray[np.float64]
    test: npt.NDArray[np.object_]
    error: npt.NDArray[np.object_]
    n: npt.NDArray[np.int64]
    n_iter: npt.NDArray[np.int64]


def _batched_inv(h: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Inverses of a stack of matrices; NaN for the singular ones."""
    try:
        return np.linalg.inv(h)
    except np.linalg.LinAlgError:
        out = np.full_like(h, np.nan)
        for k in range(h.shape[0]):  # rare: isolate the singular ones
            try:
                out[k] = np.linalg.inv(h[k])
            except np.linalg.LinAlgError:
                pass
        return out


def _information(
    c: npt.NDArray[np.float64], cpairs: npt.NDArray[np.float64], g: npt.NDArray[np.float64], w: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Stack of ``X_j' diag(w_j) X_j`` with ``X_j = (g_j, c)``: shape ``(s, q + 1, q + 1)``."""
    q = c.shape[1]
    iu, ju = np.triu_indices(q)
    h = np.empty((g.shape[1], q + 1, q + 1))
    hcc = (cpairs.T @ w).T
    h[:, 1 + iu, 1 + ju] = hcc
    h[:, 1 + ju, 1 + iu] = hcc
    wg = w * g
    hcg = (c.T @ wg).T
    h[:, 0, 1:] = hcg
    h[:, 1:, 0] = hcg
    h[:, 0, 0] = np.einsum("ij,ij->j", wg, g)
    return h


def _pairs(q: int) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    return np.triu_indices(q)


def _newton(
    y: npt.NDArray[np.float64],
    c: npt.NDArray[np.float64],
    cpairs: npt.NDArray[np.float64],
    g: npt.NDArray[np.float64],
    mask: npt.NDArray[np.float64],
    start: npt.NDArray[np.float64],
    firth: bool,
    max_iter: int,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.bool_], npt.NDArray[np.int64]]:
    """Batched Newton-Raphson for ``s`` models ``y ~ g_j + C`` (rows where mask = 0 dropped).

    Parameters: ``c`` (n, q) shared covariates incl. intercept, ``cpairs``
    (n, q(q+1)/2) products of pairs of columns of ``c``, ``g`` (n, s) genotypes
    with 0 at missing, ``mask`` (n, s) 1 = called, ``start`` (s, q + 1) with the
    genotype coefficient first. Returns coefficients (s, p), the inverse
    information (s, p, p), converged flags and iteration counts.
    """
    q = c.shape[1]
    s = g.shape[1]
    p = q + 1
    iu, ju = _pairs(q)
    beta = start.copy()
    converged = np.zeros(s, dtype=bool)
    n_iter = np.zeros(s, dtype=np.int64)
    cov = np.full((s, p, p), np.nan)
    active = np.ones(s, dtype=bool)
    # Firth: last accepted point and its penalised log-likelihood (step-halving)
    prev_beta = beta.copy()
    prev_pll = np.full(s, -np.inf)
    halvings = np.zeros(s, dtype=np.int64)
    g2 = g * g
    for it in range(1, max_iter + 1):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        ga, ma, g2a = g[:, idx], mask[:, idx], g2[:, idx]
        b = beta[idx]
        eta = c @ b[:, 1:].T + ga * b[:, 0]
        mu = scipy.special.expit(eta)
        w = mu * (1.0 - mu) * ma
        r = (y[:, None] - mu) * ma
        h = _information(c, cpairs, ga, w)
        hinv = _batched_inv(h)
        n_iter[idx] = it
        if firth:
            # penalised log-likelihood l(b) + log det(X'WX) / 2; halve steps that lower it
            sign, logdet = np.linalg.slogdet(h)
            ll = np.einsum("ij,ij->j", ma, y[:, None] * eta - np.logaddexp(0.0, eta))
            pll = np.where(sign > 0, ll + 0.5 * logdet, -np.inf)
            worse = (pll < prev_pll[idx] - 1e-10 * np.abs(prev_pll[idx])) & (halvings[idx] < 25)
            if worse.any():
                wi = idx[worse]
                beta[wi] = 0.5 * (beta[wi] + prev_beta[wi])
                halvings[wi] += 1
            keep = ~worse
            idx, b, pll = idx[keep], b[keep], pll[keep]
            if idx.size == 0:
                continue
            ga, g2a, mu, w, r, hinv = ga[:, keep], g2a[:, keep], mu[:, keep], w[:, keep], r[:, keep], hinv[keep]
            prev_beta[idx] = b
            prev_pll[idx] = pll
            halvings[idx] = 0
            # hat diagonal h_i = w_i x_i' H^-1 x_i with x_i = (g_i, c_i)
            a = hinv[:, 1 + iu, 1 + ju] * np.where(iu == ju, 1.0, 2.0)
            quad = cpairs @ a.T + 2.0 * ga * (c @ hinv[:, 0, 1:].T) + g2a * hinv[:, 0, 0]
            hat = w * quad
            r = r + hat * (0.5 - mu)
            # Step with the information weighted by (1 + h) w, as logistf >= 1.24
            # and PLINK 2: it accounts for the penalty's curvature (plain X'WX
            # overshoots about 2-fold for a variant with one carrier and oscillates).
            hinv = _batched_inv(_information(c, cpairs, ga, w * (1.0 + hat)))
        ug = np.einsum("ij,ij->j", ga, r)
        uc = (c.T @ r).T
        u = np.column_stack([ug, uc])
        step = np.einsum("sab,sb->sa", hinv, u)
        big = np.max(np.abs(step), axis=1)
        if firth:
            scale = np.where(big > _FIRTH_MAXSTEP, _FIRTH_MAXSTEP / np.maximum(big, 1e-300), 1.0)
            step = step * scale[:, None]
        bad = ~np.isfinite(step).all(axis=1)
        beta[idx] = np.where(bad[:, None], beta[idx], b + step)
        done = (big < _CONVERGE_TOL) & ~bad
        converged[idx[done]] = True
        active[idx[done | bad]] = False
    # information at the final coefficients of the converged fits
    idx = np.flatnonzero(converged)
    if idx.size:
        ga, ma = g[:, idx], mask[:, idx]
        b = beta[idx]
        mu = scipy.special.expit(c @ b[:, 1:].T + ga * b[:, 0])
        w = mu * (1.0 - mu) * ma
        cov[idx] = _batched_inv(_information(c, cpairs, ga, w))
    return beta, cov, converged, n_iter


def fit_variants(
    y: npt.ArrayLike,
    covariates: npt.ArrayLike,
    genotypes: npt.ArrayLike,
    firth_fallback: bool = True,
    max_iter: int = 25,
    start: npt.ArrayLike | None = None,
) -> VariantFit:
    """Exact logistic regression ``y ~ 1 + g_j + covariates`` for each column ``g_j``.

    Parameters
    ----------
    y
        Outcome ``(n,)``, 0/1.
    covariates
        ``(n, q)`` design **including** the intercept column (e.g.
        :attr:`NullModel.X`).
    genotypes
        ``(n, s)`` A1 counts; NaN (or negative) = missing. A sample missing
        at variant ``j`` is dropped from fit ``j`` only (as ``plink2 --glm``).
    firth_fallback
        Refit with Firth's penalised likelihood where the ordinary fit does
        not converge within ``max_iter`` Newton steps or has a singular
        information matrix (separation drives the MLE to infinity, so Newton
        never settles); without it those variants get
        ``LOGISTIC_CONVERGE_FAIL``.
    max_iter
        Newton-Raphson iterations per fit (the logistic fit converges in
        4-7 when the MLE exists).
    start
        Optional ``(q,)`` covariate coefficients to start from (the null
        fit's); the genotype coefficient starts at 0.

    Notes
    -----
    All ``s`` fits run together: each Newton step costs a few GEMMs of the
    ``(n, s)`` weight matrix against the ``q(q+1)/2`` products of covariate
    columns, then ``s`` small ``(q+1) x (q+1)`` inversions. Converged when the
    largest coefficient change is below 1e-8. The Firth fit solves
    ``X' (y - mu + h (1/2 - mu)) = 0`` (``h`` the hat diagonal) with steps
    capped at 5 (logistf's ``maxstep``); its SE is from ``(X' W X)^-1`` at the
    penalised estimate, as logistf and PLINK 2 report.
    """
    yv = np.asarray(y, dtype=np.float64).ravel()
    c = np.asarray(covariates, dtype=np.float64)
    garr = np.asarray(genotypes, dtype=np.float64)
    if garr.ndim == 1:
        garr = garr[:, None]
    q = c.shape[1]
    s = garr.shape[1]
    called = (garr >= 0) & np.isfinite(garr)
    mask = called.astype(np.float64)
    g = np.where(called, garr, 0.0)
    n_obs = called.sum(axis=0).astype(np.int64)
    iu, ju = _pairs(q)
    cpairs = c[:, iu] * c[:, ju]

    error = np.full(s, ".", dtype=object)
    test = np.full(s, "wald", dtype=object)
    gmax = np.where(called, g, -np.inf).max(axis=0)
    gmin = np.where(called, g, np.inf).min(axis=0)
    error[gmax == gmin] = "CONST_OMITTED_ALLELE"
    error[n_obs <= q + 1] = "SAMPLE_CT<=PREDICTOR_CT"
    # Collinearity of the genotype with the covariates (among called samples).
    ok = error == "."
    if ok.any():
        gm = g[:, ok]
        mm = mask[:, ok]
        cw_pairs = (cpairs.T @ mm).T  # C'C per variant
        ctc = np.empty((gm.shape[1], q, q))
        ctc[:, iu, ju] = cw_pairs
        ctc[:, ju, iu] = cw_pairs
        ctg = (c.T @ gm).T
        gtg = np.einsum("ij,ij->j", gm, gm)
        coef = np.linalg.solve(ctc + 1e-12 * np.eye(q), ctg[..., None])[..., 0]
        rss = gtg - np.einsum("sq,sq->s", coef, ctg)
        tss = gtg - (gm.sum(axis=0) ** 2) / n_obs[ok]
        err_ok = error[ok]
        err_ok[rss <= _COLLINEAR_TOL * np.maximum(tss, 1e-300)] = "VIF_INFINITE"
        error[ok] = err_ok
    ok = error == "."

    beta = np.full(s, np.nan)
    se = np.full(s, np.nan)
    iters = np.zeros(s, dtype=np.int64)
    b0 = np.zeros((s, q + 1))
    if start is not None:
        b0[:, 1:] = np.asarray(start, dtype=np.float64)
    idx = np.flatnonzero(ok)
    if idx.size:
        b, cov, conv, it = _newton(yv, c, cpairs, g[:, idx], mask[:, idx], b0[idx], False, max_iter)
        bad = conv & ~(np.isfinite(cov[:, 0, 0]) & (cov[:, 0, 0] > 0))
        conv &= ~bad
        beta[idx[conv]] = b[conv, 0]
        se[idx[conv]] = np.sqrt(cov[conv, 0, 0])
        iters[idx] = it
        failed = idx[~conv]
        if failed.size and firth_fallback:
            bf, covf, convf, itf = _newton(
                yv, c, cpairs, g[:, failed], mask[:, failed], np.zeros((failed.size, q + 1)), True, 10 * max_iter
            )
            good = convf & np.isfinite(covf[:, 0, 0]) & (covf[:, 0, 0] > 0)
            beta[failed[good]] = bf[good, 0]
            se[failed[good]] = np.sqrt(covf[good, 0, 0])
            test[failed] = "firth"
            iters[failed] = itf
            error[failed[~good]] = "FIRTH_CONVERGE_FAIL"
        elif failed.size:
            error[failed] = "LOGISTIC_CONVERGE_FAIL"
    with np.errstate(invalid="ignore", divide="ignore"):
        z = beta / se
    p = np.maximum(scipy.special.erfc(np.abs(z) / np.sqrt(2.0)), MIN_P)
    return VariantFit(beta=beta, se=se, z=z, p=p, test=test, error=error, n=n_obs, n_iter=iters)
