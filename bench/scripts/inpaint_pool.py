"""The model's own conditional, estimated without chains (docs/experiments.md section 6): weight a pool of unconditional
samples by the Gaussian likelihood exp(-|upper half - observed|^2 / (2 s^2)) of each inpainting input's observed pixels,
draw K completions per input by those weights, and put the observed pixels back. With a large pool this is the model's
conditional at noise s (importance sampling); it tells whether inpainting is limited by the MALA chains or by the model.
Usage: /usr/bin/python3 bench/scripts/inpaint_pool.py POOL.csv INPUT.csv MASK.csv S OUT.csv [K=3]
  POOL: samples (cmm sample, or the training digits for the memorising ceiling); INPUT: rows to complete; MASK: one 0/1 row
  (1 = observed). Prints the median effective sample size of the weights (1 means the nearest pool sample decides)."""
import sys
import numpy as np

pool, inputs, mask_path, s, out = sys.argv[1:6]
k = int(sys.argv[6]) if len(sys.argv) > 6 else 3
s = float(s)
P = np.loadtxt(pool, delimiter=',', ndmin=2)
X = np.loadtxt(inputs, delimiter=',', ndmin=2)
m = np.loadtxt(mask_path, delimiter=',').astype(bool)
rng = np.random.default_rng(5)
rows, ess = [], []
for x in X:
    lw = -((P[:, m] - x[m]) ** 2).sum(1) / (2 * s * s)
    w = np.exp(lw - lw.max())
    w /= w.sum()
    ess.append(1 / (w ** 2).sum())
    for i in rng.choice(len(P), size=k, p=w):
        c = P[i].copy()
        c[m] = x[m]
        rows.append(c)
np.savetxt(out, np.array(rows), delimiter=',', fmt='%.6g')
print(f'pool {len(P)}, s {s}: median effective sample size of the weights {np.median(ess):.2f}')
