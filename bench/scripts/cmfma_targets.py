#!/usr/bin/env python3
"""The energy files of issue 17's CMFMA experiments (docs/experiments.md section 7).

gauss-d{2,5,10}.json: N(m, S) with condition number 100: eigenvalues log-spaced over [0.1, 10], a random rotation
(numpy default_rng(d)), mean m_k = (-1)^k / 2.
mix2.json: weights 0.3/0.7, means (-2, 0) and (2, 0), sd 0.5 (the issue's example).
ring8.json: eight equal modes on a circle of radius 4, sd 0.5 (neighbours 6.1 sd apart).
banana10.json, funnel10.json: Haario's banana (curvature 0.1, scale 10) and Neal's funnel (scale 3) in d = 10.
logreg.json: Bayesian logistic regression on the embedded breast-cancer data (standardised, intercept, prior N(0, I); d = 31).
The energy files go to OUTDIR/targets/NAME.json; OUTDIR/NAME-exact.csv holds 4,000 exact samples of each target but the posterior.
Usage: /usr/bin/python3 cmfma_targets.py OUTDIR
"""
import json
import os
import sys

import numpy as np


def write(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f)


def exact(spec, n, rng):
    """Exact samples of a target of this script (none for the posterior)."""
    t = spec["type"]
    if t == "gaussian":
        return rng.multivariate_normal(spec["mean"], spec["covariance"], size=n)
    if t == "gaussian-mixture":
        k = rng.choice(len(spec["weights"]), size=n, p=spec["weights"])
        return np.array([rng.multivariate_normal(spec["means"][j], spec["covariances"][j]) for j in k])
    d = spec["dim"]
    if t == "banana":
        b, s = spec["curvature"], spec["scale"]
        z = rng.standard_normal((n, d))
        y = z.copy()
        y[:, 0] = s * z[:, 0]
        y[:, 1] = z[:, 1] - b * (y[:, 0] ** 2 - s * s)
        return y
    if t == "funnel":
        v = spec["scale"] * rng.standard_normal(n)
        return np.column_stack([v, rng.standard_normal((n, d - 1)) * np.exp(v / 2)[:, None]])
    return None


def main(root):
    out = f"{root}/targets"
    os.makedirs(out, exist_ok=True)
    for d in (2, 5, 10):
        rng = np.random.default_rng(d)
        q, r = np.linalg.qr(rng.standard_normal((d, d)))
        q = q * np.sign(np.diag(r))
        eig = np.geomspace(0.1, 10.0, d)
        cov = (q * eig) @ q.T
        cov = (cov + cov.T) / 2
        mean = [0.5 * (-1) ** k for k in range(d)]
        write(f"{out}/gauss-d{d}.json", {"type": "gaussian", "mean": mean, "covariance": cov.tolist()})
    sd2 = 0.25
    eye = [[sd2, 0.0], [0.0, sd2]]
    write(f"{out}/mix2.json", {"type": "gaussian-mixture", "weights": [0.3, 0.7], "means": [[-2, 0], [2, 0]],
                               "covariances": [eye, eye]})
    angles = 2 * np.pi * np.arange(8) / 8
    write(f"{out}/ring8.json", {"type": "gaussian-mixture", "weights": [0.125] * 8,
                                "means": [[4 * np.cos(a), 4 * np.sin(a)] for a in angles], "covariances": [eye] * 8})
    write(f"{out}/banana10.json", {"type": "banana", "dim": 10, "curvature": 0.1, "scale": 10})
    write(f"{out}/funnel10.json", {"type": "funnel", "dim": 10, "scale": 3})
    write(f"{out}/logreg.json", {"type": "logistic-regression", "data": "breast-cancer", "prior_variance": 1})
    # 4,000 exact samples of each target that has them (numpy seed 7), for the reweighted Sinkhorn divergence of cmfma_table.py.
    for name in ("gauss-d2", "gauss-d5", "gauss-d10", "mix2", "ring8", "banana10", "funnel10"):
        with open(f"{out}/{name}.json") as f:
            spec = json.load(f)
        np.savetxt(f"{root}/{name}-exact.csv", exact(spec, 4000, np.random.default_rng(7)), delimiter=",", fmt="%.7g")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".")
