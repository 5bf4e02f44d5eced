"""Disentanglement: how well single latent dimensions capture single known factors of variation.

Codes (N, D) against factor classes (N, K), as in disentanglement_lib (Locatello et al., 2019):

- MIG (Chen et al., 2018): per factor, the gap between the two largest mutual informations with
  one code dimension (codes binned into 20 equal-width bins), divided by the factor's entropy; mean
  over factors. 1: each factor lives in exactly one dimension.
- FactorVAE score (Kim & Mnih, 2018): a vote picks a factor and a value, takes a batch of images
  sharing that value, and names the code dimension (scaled by its std over all data) with the least
  variance; the score is the accuracy of the majority-vote classifier dimension -> factor on held-out
  votes. The batches are drawn from the images given (those sharing the fixed value), not rendered
  anew, so any dataset with known factors works; on a uniform subset of a full grid it is the same
  distribution.
- SAP (Kumar et al., 2018): per factor and dimension, the held-out accuracy of a linear SVM
  (C = 0.01) predicting the factor from that one dimension; mean over factors of the gap between the
  two best dimensions.
- DCI (Eastwood & Williams, 2018) with random-forest importances (scikit-learn's
  RandomForestClassifier, one per factor; cheaper than disentanglement_lib's gradient boosting):
  disentanglement (each dimension important for one factor), completeness (each factor explained by
  one dimension) and informativeness (the forests' held-out accuracy).

Factors that take a single value (dSprites' colour) are left out: they have nothing to capture.
"""

from __future__ import annotations

import warnings

import numpy as np

BINS = 20


def varying(factors: np.ndarray, names: list[str]) -> tuple[np.ndarray, list[str]]:
    keep = [k for k in range(factors.shape[1]) if len(np.unique(factors[:, k])) > 1]
    return factors[:, keep], [names[k] for k in keep]


def discretize(codes: np.ndarray, bins: int = BINS) -> np.ndarray:
    """Each code dimension into `bins` equal-width bins over its range: (N, D) ints."""
    out = np.zeros(codes.shape, np.int64)
    for d in range(codes.shape[1]):
        edges = np.histogram_bin_edges(codes[:, d], bins)
        out[:, d] = np.digitize(codes[:, d], edges[1:-1])
    return out


def mutual_information(codes: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """(D, K) mutual information (nats) between binned code dimensions and factors."""
    from sklearn.metrics import mutual_info_score

    binned = discretize(codes)
    return np.array([[mutual_info_score(factors[:, k], binned[:, d]) for k in range(factors.shape[1])]
                     for d in range(binned.shape[1])])


def entropy(factors: np.ndarray) -> np.ndarray:
    from sklearn.metrics import mutual_info_score

    return np.array([mutual_info_score(f, f) for f in factors.T])


def mig(codes: np.ndarray, factors: np.ndarray) -> tuple[float, np.ndarray]:
    """(MIG, the (D, K) mutual-information matrix it came from)."""
    mi = mutual_information(codes, factors)
    if mi.shape[0] < 2:
        return float("nan"), mi
    top = np.sort(mi, axis=0)[::-1]
    return float(np.mean((top[0] - top[1]) / entropy(factors))), mi


def factor_vae_score(codes: np.ndarray, factors: np.ndarray, seed: int = 0, batch: int = 64,
                     train_votes: int = 800, test_votes: int = 400) -> float:
    rng = np.random.default_rng(seed)
    scale = codes.std(0)
    active = scale > 0.05 * scale.max() if scale.max() > 0 else np.zeros(len(scale), bool)
    if not active.any():
        return 0.0
    scaled = codes[:, active] / scale[active]
    n_factors = factors.shape[1]
    groups = [{v: np.flatnonzero(factors[:, k] == v) for v in np.unique(factors[:, k])} for k in range(n_factors)]

    def votes(n: int) -> np.ndarray:
        counts = np.zeros((scaled.shape[1], n_factors), np.int64)
        for _ in range(n):
            k = rng.integers(n_factors)
            members = groups[k][rng.choice(list(groups[k]))]
            pick = rng.choice(members, size=min(batch, len(members)), replace=len(members) < 2)
            counts[np.argmin(scaled[pick].var(0)), k] += 1
        return counts

    train, test = votes(train_votes), votes(test_votes)
    predicted = train.argmax(1)  # each dimension votes for the factor it was most often least varied in
    return float(test[np.arange(len(test)), predicted].sum() / test.sum())


def sap(codes: np.ndarray, factors: np.ndarray, seed: int = 0) -> float:
    from sklearn.svm import LinearSVC

    train, test = _halves(len(codes), seed)
    scores = np.zeros((codes.shape[1], factors.shape[1]))
    for d in range(codes.shape[1]):
        x_train, x_test = codes[train, d:d + 1], codes[test, d:d + 1]
        for k in range(factors.shape[1]):
            svm = LinearSVC(C=0.01, class_weight="balanced").fit(x_train, factors[train, k])
            scores[d, k] = np.mean(svm.predict(x_test) == factors[test, k])
    if scores.shape[0] < 2:
        return float("nan")
    top = np.sort(scores, axis=0)[::-1]
    return float(np.mean(top[0] - top[1]))


def dci(codes: np.ndarray, factors: np.ndarray, seed: int = 0) -> dict[str, float]:
    from sklearn.ensemble import RandomForestClassifier

    train, test = _halves(len(codes), seed)
    importance = np.zeros((codes.shape[1], factors.shape[1]))
    accuracy = []
    for k in range(factors.shape[1]):
        forest = RandomForestClassifier(n_estimators=10, max_depth=8, max_features=None,
                                        random_state=seed, n_jobs=1)
        forest.fit(codes[train], factors[train, k])
        importance[:, k] = forest.feature_importances_
        accuracy.append(forest.score(codes[test], factors[test, k]))
    d, k = importance.shape
    per_code = 1 - _entropy_rows(importance, k)  # how much each dimension speaks of one factor
    weight = importance.sum(1) / importance.sum() if importance.sum() > 0 else np.full(d, 1 / d)
    completeness = 1 - _entropy_rows(importance.T, d)
    return {"dci_disentanglement": float((per_code * weight).sum()),
            "dci_completeness": float(completeness.mean()),
            "dci_informativeness": float(np.mean(accuracy))}


def _entropy_rows(matrix: np.ndarray, base: int) -> np.ndarray:
    if base < 2:
        return np.zeros(len(matrix))
    p = matrix / np.maximum(matrix.sum(1, keepdims=True), 1e-12)
    logs = np.log(np.where(p > 0, p, 1)) / np.log(base)
    return -(p * logs).sum(1)


def _halves(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    return order[: n // 2], order[n // 2:]


def disentanglement_metrics(codes: np.ndarray, factors: np.ndarray, names: list[str],
                            seed: int = 0, max_points: int = 10000) -> dict:
    """MIG, FactorVAE score, SAP and DCI, on at most `max_points` (a seeded subset), and per factor the
    code dimension that captures it best (by mutual information)."""
    factors, names = varying(np.asarray(factors), names)
    if len(codes) > max_points:
        keep = np.sort(np.random.default_rng(seed).choice(len(codes), max_points, replace=False))
        codes, factors = codes[keep], factors[keep]
    codes = np.asarray(codes, np.float64)
    score, mi = mig(codes, factors)
    with warnings.catch_warnings():
        # A small test split has fewer images than twice dSprites' 40 orientations, and a 1-D linear
        # SVM rarely converges on 40 classes: both expected here, neither a user's mistake.
        warnings.filterwarnings("ignore", message="The number of unique classes")
        warnings.filterwarnings("ignore", message="Liblinear failed to converge")
        sap_score, dci_scores = sap(codes, factors, seed), dci(codes, factors, seed)
    return {"mig": score, "factor_vae_score": factor_vae_score(codes, factors, seed), "sap": sap_score,
            **dci_scores,
            "factor_of_dimension": [names[k] for k in mi.argmax(1)],  # per code dimension
            # per factor, per code dimension; not "mutual_information", which β-TC-VAE logs as a loss term
            "factor_mutual_information": {name: mi[:, k].round(4).tolist() for k, name in enumerate(names)}}
