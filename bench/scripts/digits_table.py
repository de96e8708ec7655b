"""The digits table of docs/experiments.md section 6 from the outputs of bench/scripts/digits_experiment.sh.
Usage: /usr/bin/python3 bench/scripts/digits_table.py OUTDIR. Missing files are skipped; means over the seeds found."""
import json, os, statistics as st, sys

d = sys.argv[1]


def load(name):
    p = os.path.join(d, name)
    return json.load(open(p)) if os.path.exists(p) and os.path.getsize(p) > 0 else None


def mean(vals):
    vals = [v for v in vals if v is not None]
    return (st.mean(vals), len(vals)) if vals else (None, 0)


def fmt(v, pct=False):
    return '-' if v is None else (f'{100 * v:.1f} %' if pct else f'{v:.3f}')


cols = [('k-NN precision', lambda e: e['precision'], False), ('k-NN recall', lambda e: e['recall'], False),
        ('two-sample accuracy', lambda e: e['classifier_accuracy'], False),
        ('near-copies', lambda e: e['near_copy_share'], True),
        ('smallest class', lambda e: e['class_balance']['min_generated_share'], True),
        ('largest class', lambda e: e['class_balance']['max_generated_share'], True),
        ('confidence', lambda e: e['class_balance']['generated_confidence'], True)]
print('| model | seeds | ' + ' | '.join(c[0] for c in cols) + ' | inpainting: true label | fit seconds |')
print('|---' * (len(cols) + 4) + '|')
first = None
for model in ('cmm', 'mm', 'gaussian'):
    evals = [(s, load(f'{model}-s{s}.eval.json')) for s in (1, 2, 3)]
    evals = [(s, e) for s, e in evals if e]
    if not evals:
        continue
    first = first or evals[0][1]
    cells = [fmt(mean([f(e) for _, e in evals])[0], pct) for _, f, pct in cols]
    inpaint = mean([(load(f'{model}-s{s}.classify.json') or {}).get('accuracy') for s, _ in evals])[0]
    secs = []
    for s, _ in evals:
        p = os.path.join(d, f'{model}-s{s}.time')
        if os.path.exists(p):
            secs.append(float(open(p).read().split()[-1]))
    print(f'| {model} | {",".join(str(s) for s, _ in evals)} | ' + ' | '.join(cells)
          + f' | {fmt(inpaint, True)} | {f"{mean(secs)[0]:.0f}" if secs else "-"} |')
if first:
    print(f'| held-out (floor) | | {fmt(first["precision_noise_floor"])} | {fmt(first["recall_noise_floor"])} | '
          f'{fmt(first["classifier_accuracy_noise_floor"])} | {fmt(first["near_copy_share_noise_floor"], True)} | '
          f'{fmt(min(first["class_balance"]["held_out_share"]), True)} | {fmt(max(first["class_balance"]["held_out_share"]), True)} | '
          f'{fmt(first["class_balance"]["held_out_confidence"], True)} | - | - |')
    print(f'\nclassifier accuracy on the held-out digits: {fmt(first["class_balance"]["held_out_accuracy"], True)}')
