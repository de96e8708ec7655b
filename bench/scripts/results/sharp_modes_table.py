"""Markdown table of bench/scripts/results/sharp-modes-runs.jsonl, one row per run:
    /usr/bin/python3 bench/scripts/results/sharp_modes_table.py [tag-prefix]"""
import json, os, sys

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sharp-modes-runs.jsonl")
pre = sys.argv[1] if len(sys.argv) > 1 else ""
print("| tag | precision (floor) | recall (floor) | gap (target) | gap4 | sd tan / rad | particles gap | Hess w gap min | fit s | eval s |")
print("|---|---|---|---|---|---|---|---|---|---|")
f = lambda r, k, fmt="{:.3f}": fmt.format(r[k]) if r.get(k) is not None else "-"
for line in open(path):
    r = json.loads(line)
    if not r["tag"].startswith(pre):
        continue
    gap = f"{r['gap']:.3f} ({r['gap_target']:.3f})" if "gap" in r else "-"
    if "hole" in r:
        gap += f"; hole {r['hole']:.3f} ({r['hole_target']:.3f})"
    sd = f"{r['sd_tan']:.2f} / {r['sd_rad']:.2f}" if "sd_tan" in r else "-"
    print(f"| {r['tag']} | {r['precision']:.3f} ({r['precision_floor']:.3f}) | {r['recall']:.3f} ({r['recall_floor']:.3f}) | "
          f"{gap} | {f(r, 'gap4')} | {sd} | {f(r, 'gap_particles')} | {f(r, 'hess_min_eig_gapmid', '{:.2f}')} | "
          f"{r['fit_s']:.0f} | {r['eval_s']:.0f} |")
