#!/usr/bin/env python3
"""The table of docs/experiments.md section 7 from the outputs of cmfma_experiment.sh.

Per target, the mean over seeds (and the range) of: fit seconds; the diagnostics (ESS of the importance weights, log Z
against the truth); the Hessian error of w against S^(-1/3) (Gaussians); the largest mode-weight error, as drawn and
reweighted (mixtures); the Sinkhorn divergence and energy distance over their noise floors (exact samples); for the
posterior, moment errors against the long MALA reference in reference sd; and effective samples per second and per
energy evaluation of CMFMA and of MALA at the fit's number of evaluations.

CMFMA's ESS is Kish's (sum w)^2 / sum w^2 of the importance weights of SAMPLES independent samples; MALA's is the smallest
over the coordinates of the multi-chain autocorrelation ESS (cmm mala). CMFMA's cost counts the fit (seconds and energy
evaluations) plus drawing the samples with their weights; the 'sampling only' column leaves the fit out (a fitted model
is reused).
The reweighted Sinkhorn divergence is computed here with POT (500 of the samples with their weights as the marginal,
epsilon 0.05 of the mean cost, debiased), against its own floor: the mean over three pairs of exact sample sets of 500.
Usage: /usr/bin/python3 cmfma_table.py OUTDIR [SEEDS] [TARGETS]
"""
import json
import os
import sys

import numpy as np


def load(path):
    with open(path) as f:
        return json.load(f)


def seconds(path):
    with open(path) as f:
        return float(f.read().split()[-1])


def kish(log_w):
    w = np.exp(log_w - log_w.max())
    return w.sum() ** 2 / (w ** 2).sum()


def weighted_sinkhorn(x, a, y, eps_rel=0.05):
    import ot

    def cost(p, wp, q, wq, eps):
        m = ot.dist(p, q) / 2
        return float(ot.sinkhorn2(wp, wq, m, eps, method="sinkhorn_log", numItermax=2000, stopThr=1e-5))
    b = np.full(len(y), 1.0 / len(y))
    eps = eps_rel * float((ot.dist(x[:500], y[:500]) / 2).mean())
    return cost(x, a, y, b, eps) - 0.5 * cost(x, a, x, a, eps) - 0.5 * cost(y, b, y, b, eps)


def fmt(values, spec="{:.3f}"):
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    mean = np.mean(values)
    if len(values) == 1:
        return spec.format(mean)
    return spec.format(mean) + " (" + spec.format(min(values)) + "-" + spec.format(max(values)) + ")"


def main(out, seeds, targets):
    rows = []
    floors = {}
    reference = None
    if os.path.exists(f"{out}/logreg-reference.npy"):
        reference = np.load(f"{out}/logreg-reference.npy").astype(np.float64)
    for t in targets:
        cols = {k: [] for k in ["fit_s", "ess", "logz", "hess", "mode_raw", "mode_rew", "sk_raw", "sk_rew", "ed_raw", "mom_raw", "mom_rew",
                                 "mala_mom", "cm_ess_s", "cm_ess_s_sampling", "cm_ess_eval", "mala_ess_s", "mala_ess_eval", "mala_acc",
                                 "plain_ess_s", "plain_ess_eval"]}
        for s in seeds:
            name = f"{out}/{t}-s{s}"
            if not os.path.exists(name + ".eval.json"):
                continue
            fit = load(name + ".fit.json")
            ev = load(name + ".eval.json")
            mala = load(name + ".mala.json")
            diag = fit["diagnostics"]
            m = ev["metrics"]
            cols["fit_s"].append(fit["seconds"])
            cols["ess"].append(diag["effective_sample_fraction"])
            cols["logz"].append(diag["log_normalizer"] - (diag["true_log_normalizer"] or 0) if diag["true_log_normalizer"] is not None else None)
            cols["hess"].append(m.get("hessian_relative_error"))
            if diag.get("mode_weights"):
                true = np.array(diag["true_mode_weights"])
                cols["mode_raw"].append(float(np.abs(np.array(diag["mode_weights"]) - true).max()))
                cols["mode_rew"].append(float(np.abs(np.array(diag["reweighted_mode_weights"]) - true).max()))
            if t != "logreg":
                cols["sk_raw"].append(m["sinkhorn_divergence"] / m["sinkhorn_divergence_noise_floor"])
                cols["ed_raw"].append(m["energy_distance"] / m["energy_distance_noise_floor"])
            x = np.loadtxt(name + ".samples.csv", delimiter=",", ndmin=2)
            lw = np.loadtxt(name + ".weights.csv", delimiter=",", ndmin=2)[:, 1]
            ess = kish(lw)
            fit_seconds = fit["seconds"]
            sample_seconds = seconds(name + ".sample.time")
            evaluations = diag["fit_energy_evaluations"]
            cols["cm_ess_s"].append(ess / (fit_seconds + sample_seconds))
            cols["cm_ess_s_sampling"].append(ess / sample_seconds)
            cols["cm_ess_eval"].append(ess / (evaluations + len(lw)))
            cols["mala_ess_s"].append(mala["ess_min_per_second"])
            cols["mala_ess_eval"].append(mala["ess_min_per_evaluation"])
            cols["mala_acc"].append(mala["acceptance"])
            if os.path.exists(name + ".mala-plain.json"):
                plain = load(name + ".mala-plain.json")
                cols["plain_ess_s"].append(plain["ess_min_per_second"])
                cols["plain_ess_eval"].append(plain["ess_min_per_evaluation"])
            w = np.exp(lw - lw.max())
            w /= w.sum()
            if t == "logreg" and reference is not None:
                rm, rs = reference.mean(0), reference.std(0)
                def errors(p, weights):
                    mean = (weights[:, None] * p).sum(0)
                    sd = np.sqrt((weights[:, None] * (p - mean) ** 2).sum(0))
                    return (np.abs(mean - rm) / rs).max(), (np.abs(sd - rs) / rs).max()
                uniform = np.full(len(x), 1.0 / len(x))
                cols["mom_raw"].append(errors(x, uniform))
                cols["mom_rew"].append(errors(x, w))
                mx = np.load(name + ".mala.npy").astype(np.float64)
                cols["mala_mom"].append(errors(mx, np.full(len(mx), 1.0 / len(mx))))
            elif t != "logreg":
                # Reweighted Sinkhorn divergence against exact samples, over the floor of two exact sets (POT).
                exact = np.loadtxt(f"{out}/{t}-exact.csv", delimiter=",", ndmin=2) if os.path.exists(f"{out}/{t}-exact.csv") else None
                if exact is not None:
                    n = 500
                    idx = np.random.default_rng(int(s)).choice(len(x), size=n, replace=False)
                    wi = w[idx] / w[idx].sum()
                    sk = weighted_sinkhorn(x[idx], wi, exact[:n])
                    if t not in floors:
                        floors[t] = np.mean([weighted_sinkhorn(exact[n * (j + 1):n * (j + 2)], np.full(n, 1.0 / n), exact[:n]) for j in range(3)])
                    cols["sk_rew"].append(sk / floors[t])
        if not cols["fit_s"]:
            continue
        mom = lambda v: "-" if not v else f"{np.mean([a for a, _ in v]):.3f} / {np.mean([b for _, b in v]):.3f}"
        rows.append([t, str(len(cols["fit_s"])), fmt(cols["fit_s"], "{:.0f}"), fmt(cols["ess"]), fmt(cols["logz"]), fmt(cols["hess"], "{:.2g}"),
                     fmt(cols["mode_raw"]) + " / " + fmt(cols["mode_rew"]) if cols["mode_raw"] else "-",
                     (fmt(cols["sk_raw"], "{:.1f}") + " / " + fmt(cols["sk_rew"], "{:.1f}")) if cols["sk_raw"] else "-",
                     fmt(cols["ed_raw"], "{:.1f}"),
                     (mom(cols["mom_raw"]) + " ; " + mom(cols["mom_rew"]) + " ; MALA " + mom(cols["mala_mom"])) if cols["mom_raw"] else "-",
                     fmt(cols["cm_ess_s"], "{:.3g}") + " / " + fmt(cols["cm_ess_s_sampling"], "{:.3g}"),
                     fmt(cols["mala_ess_s"], "{:.3g}") + " / " + fmt(cols["plain_ess_s"], "{:.3g}"),
                     fmt(cols["cm_ess_eval"], "{:.2g}") + " / " + fmt(cols["mala_ess_eval"], "{:.2g}") + " / " + fmt(cols["plain_ess_eval"], "{:.2g}")])
    header = ["target", "seeds", "fit s", "ESS", "log Z - true", "Hessian err", "mode weight err (drawn / reweighted)",
              "Sinkhorn / floor (drawn / reweighted)", "energy dist / floor", "moments vs reference (mean / sd; drawn ; reweighted ; MALA)",
              "CMFMA ESS/s (with fit / sampling only)", "MALA ESS/s (preconditioned / plain)", "ESS per evaluation (CMFMA / MALA / plain MALA)"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    text = "\n".join(lines)
    print(text)
    with open(f"{out}/table.md", "w") as f:
        f.write(text + "\n")


if __name__ == "__main__":
    out = sys.argv[1]
    seeds = (sys.argv[2] if len(sys.argv) > 2 else "1 2 3").split()
    targets = (sys.argv[3] if len(sys.argv) > 3 else "gauss-d2 gauss-d5 gauss-d10 mix2 ring8 banana10 funnel10 logreg").split()
    main(out, seeds, targets)
