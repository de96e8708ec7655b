"""Summarises a directory of `cmm eval --json` outputs (and `/usr/bin/time -f %e` files) into the markdown tables of
docs/experiments.md. Usage: python3 bench/scripts/experiments_table.py DIR
Files read: DIR/<dataset>-s<seed>.eval.json and .time (2-D toys, seeds 1-3), DIR/gaussian-<d>.eval.json,
DIR/<name>.eval.json for the 1-D targets. Missing files are skipped."""
import json, os, sys, statistics as st

d = sys.argv[1]


def load(name):
    p = os.path.join(d, name)
    return json.load(open(p)) if os.path.exists(p) and os.path.getsize(p) > 0 else None


def secs(name):
    p = os.path.join(d, name)
    try:
        return float(open(p).read().split()[-1])
    except Exception:
        return None


def f(v, fmt="{:.3f}"):
    return "-" if v is None else fmt.format(v)


toys = ["eight-gaussians", "checkerboard", "circles", "moons", "swiss-roll", "pinwheel"]
print("| dataset | seed | fit s | k-NN precision (floor) | recall (floor) | mode shares min-max | gap share (held-out, exact) | off-support (floor) | log-lik model / Gaussian |")
print("|---|---|---|---|---|---|---|---|---|")
summary = {}
for ds in toys:
    rows = []
    for seed in (1, 2, 3):
        r = load(f"{ds}-s{seed}.eval.json")
        if r is None:
            continue
        mc = r.get("mode_coverage")
        shares = [m["generated"] for m in mc["modes"]] if mc else []
        gap = mc["gap_share"] if mc else None
        rows.append((r["precision"], r["recall"], gap, shares))
        print(f"| {ds} | {seed} | {f(secs(f'{ds}-s{seed}.time'), '{:.0f}')} | {r['precision']:.3f} ({r['precision_noise_floor']:.3f}) | "
              f"{r['recall']:.3f} ({r['recall_noise_floor']:.3f}) | "
              + (f"{100 * min(shares):.1f}-{100 * max(shares):.1f} %" if shares else "-") + " | "
              + (f"{100 * gap:.2f} % ({100 * mc['held_out_gap_share']:.2f} %, " + (f"{100 * mc['exact_gap_share']:.2f} %)" if mc.get('exact_gap_share') is not None else "-)") if mc else "-") + " | "
              f"{r['off_support_share']:.4f} ({r['off_support_share_noise_floor']:.4f}) | "
              f"{f(r.get('log_likelihood'), '{:.3f}')} / {f(r.get('gaussian_log_likelihood'), '{:.3f}')} |")
    if rows:
        summary[ds] = (st.mean(x[0] for x in rows), st.mean(x[1] for x in rows),
                       st.mean(x[2] for x in rows) if rows[0][2] is not None else None,
                       min(min(x[3]) for x in rows) if rows[0][3] else None, max(max(x[3]) for x in rows) if rows[0][3] else None, len(rows),
                       [st.mean(x[3][k] for x in rows) for k in range(len(rows[0][3]))] if rows[0][3] else [])
print()
print("| dataset | seeds | mean precision | mean recall | mean gap share | mode shares over the seeds | each mode's mean share over the seeds |")
print("|---|---|---|---|---|---|---|")
for ds, (p, rc, g, lo, hi, n, means) in summary.items():
    print(f"| {ds} | {n} | {p:.3f} | {rc:.3f} | {f(g, '{:.4f}') if g is None else f'{100 * g:.2f} %'} | "
          + (f"{100 * lo:.1f}-{100 * hi:.1f} %" if lo is not None else "-") + " | "
          + (f"{100 * min(means):.1f}-{100 * max(means):.1f} %" if means else "-") + " |")
print()
print("| d | fit s | Hessian error mean / max | grad w error | covariance error | mean error | energy / floor |")
print("|---|---|---|---|---|---|---|")
for dim in range(2, 9):
    r = load(f"gaussian-{dim}.eval.json")
    if r is None:
        continue
    print(f"| {dim} | {f(secs(f'gaussian-{dim}.time'), '{:.0f}')} | {100 * r['hessian_relative_error']:.2f} % / {100 * r['hessian_relative_error_max']:.2f} % | "
          f"{100 * r['gradient_relative_error']:.2f} % | {100 * r['covariance_error']:.2f} % | {r['mean_error']:.3f} | "
          f"{r['energy_distance'] / r['energy_distance_noise_floor']:.2f} |")
print()
print("| target | fit s | W1 / floor | gap share | log-lik model / Gaussian |")
print("|---|---|---|---|---|")
for name in ("bimodal", "bimodal-mm", "exponential", "uniform"):
    r = load(f"{name}.eval.json")
    if r is None:
        continue
    mc = r.get("mode_coverage")
    print(f"| {name} | {f(secs(f'{name}.time'), '{:.0f}')} | {r['wasserstein1'] / r['wasserstein1_noise_floor']:.2f} | "
          + (f"{100 * mc['gap_share']:.2f} % (exact {100 * mc['exact_gap_share']:.2f} %)" if mc else "-") + " | "
          f"{f(r.get('log_likelihood'), '{:.3f}')} / {f(r.get('gaussian_log_likelihood'), '{:.3f}')} |")
