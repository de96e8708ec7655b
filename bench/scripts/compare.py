#!/usr/bin/python3
"""Side-by-side table of the C# compare runner's JSON and baselines.py's JSON (same workload keys).

Usage: python3 bench/scripts/compare.py CSHARP.json PYTHON.json [--markdown]

For every workload key it prints the median seconds of each implementation and its ratio to the CMM.Gpu kernel
(cmm-online-* for sinkhorn_iter, the accelerator's auto form for pairwise): ratio > 1 means slower than CMM.Gpu.
CPU-accelerator figures are simulator figures, not GPU figures.
"""
import json
import sys


def reference(rows):
    """The CMM.Gpu row the others are compared with."""
    for pred in (lambda r: r["impl"].startswith("cmm-online"),
                 lambda r: r["impl"].startswith("cmm-") and "(auto)" in r["impl"],
                 lambda r: r["impl"].startswith("cmm-")):
        hit = [r for r in rows if pred(r)]
        if hit:
            return hit[0]
    return None


def main(argv):
    md = "--markdown" in argv
    files = [a for a in argv if not a.startswith("--")]
    if len(files) != 2:
        print(__doc__)
        return 2
    cs, py = (json.load(open(f)) for f in files)
    rows = cs["results"] + py["results"]
    keys = list(dict.fromkeys(r["key"] for r in rows))
    sim = " (cmm-* rows: CPU-accelerator SIMULATOR figures)" if cs.get("simulator") else ""
    print(f"C#: {cs.get('accelerator')} {cs.get('date_utc')}; Python: torch {py['host']['torch']} "
          f"({py['host']['torch_threads']} threads), POT {py['host']['pot']}, {py['date_utc']}{sim}")
    if md:
        print("| workload | implementation | median ms | time / CMM.Gpu |")
        print("|---|---|---:|---:|")
    for k in keys:
        group = [r for r in rows if r["key"] == k]
        ref = reference(group)
        if not md:
            print(k)
        for r in sorted(group, key=lambda r: r["seconds"]):
            ratio = f"{r['seconds'] / ref['seconds']:.2f}" if ref else "-"
            if md:
                print(f"| {k} | {r['impl']} | {r['seconds'] * 1e3:.3f} | {ratio} |")
            else:
                print(f"    {r['impl']:24s} {r['seconds'] * 1e3:12.3f} ms   x{ratio} vs {ref['impl'] if ref else '-'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
