"""Data files for the digits experiments (docs/experiments.md section 6), from scikit-learn's copy of the 8x8 digits
(the same file the library embeds). Usage: /usr/bin/python3 bench/scripts/digits_data.py OUTDIR
Writes, with a fixed random split (numpy seed 0): digits-train.csv (1,437 rows) and digits-test.csv (360 rows) with their
labels (*-labels.csv, one per row); bottom-half.csv, a mask that observes the upper four rows of pixels; a Gaussian baseline
fitted to the dequantised training rows (gaussian-s<seed>.csv, 360 samples each, seeds 1-3, floored, as cmm eval floors
the samples of a model of integer data); and MNIST-sized proxies for timing, 14x14 and 28x28 IDX files (digits enlarged, randomly shifted and rotated so
that the images span every direction, as MNIST's do; they are not MNIST, which this machine cannot download). Also the
Gaussian's inpainting of the first 100 held-out digits' lower halves (gaussian-s<seed>.inpaint.csv, its exact conditional)."""
import gzip, os, struct, sys

import numpy as np
from scipy.ndimage import rotate, shift, zoom

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
src = '/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz'
a = np.loadtxt(gzip.open(src), delimiter=',')
X, y = a[:, :64].astype(int), a[:, 64].astype(int)
p = np.random.default_rng(0).permutation(len(X))
split = {'train': p[:1437], 'test': p[1437:]}
for name, idx in split.items():
    np.savetxt(os.path.join(out, f'digits-{name}.csv'), X[idx], fmt='%d', delimiter=',')
    np.savetxt(os.path.join(out, f'digits-{name}-labels.csv'), y[idx], fmt='%d')
mask = np.zeros((8, 8), dtype=int)
mask[:4] = 1
np.savetxt(os.path.join(out, 'bottom-half.csv'), mask.reshape(1, 64), fmt='%d', delimiter=',')

train = X[split['train']].astype(float)
mean, cov = train.mean(0), np.cov(train, rowvar=False)
for seed in (1, 2, 3):
    g = np.random.default_rng(seed).multivariate_normal(mean + 0.5, cov + np.eye(64) / 12, size=360, method='eigh')
    np.savetxt(os.path.join(out, f'gaussian-s{seed}.csv'), np.floor(g), fmt='%d', delimiter=',')

# The Gaussian's inpainting: its exact conditional given the upper half, 3 completions of the first 100 held-out digits each
# (the rows and layout of cmm inpaint --completions 3), floored like its samples.
m2, c2 = mean + 0.5, cov + np.eye(64) / 12
obs, free = np.arange(32), np.arange(32, 64)
gain = c2[np.ix_(free, obs)] @ np.linalg.inv(c2[np.ix_(obs, obs)])
cond_cov = c2[np.ix_(free, free)] - gain @ c2[np.ix_(obs, free)]
test = X[split['test']][:100].astype(float)
for seed in (1, 2, 3):
    g = np.random.default_rng(100 + seed)
    rows = []
    for y in test:
        mu = m2[free] + gain @ (y[obs] + 0.5 - m2[obs])
        for _ in range(3):
            row = y.copy()
            row[free] = np.floor(g.multivariate_normal(mu, cond_cov, method='eigh'))
            rows.append(row)
    np.savetxt(os.path.join(out, f'gaussian-s{seed}.inpaint.csv'), np.array(rows), fmt='%d', delimiter=',')

rng = np.random.default_rng(1)
for side in (14, 28):
    inner = round(side * 20 / 28)  # MNIST: a 20x20 digit in a 28x28 frame
    imgs = []
    for x in X[split['train']]:
        im = zoom(x.reshape(8, 8).astype(float), inner / 8, order=1)
        frame = np.zeros((side, side))
        o = (side - inner) // 2
        frame[o:o + inner, o:o + inner] = im
        frame = rotate(frame, rng.uniform(-12, 12), reshape=False, order=1)
        frame = shift(frame, rng.uniform(-1.5, 1.5, size=2) * side / 28, order=1)
        imgs.append(np.clip(np.round(frame / 16 * 255), 0, 255))
    imgs = np.array(imgs, dtype=np.uint8)
    with open(os.path.join(out, f'proxy{side}-images-idx3-ubyte'), 'wb') as f:
        f.write(struct.pack('>HBBIII', 0, 8, 3, len(imgs), side, side))
        f.write(imgs.tobytes())
    flat = imgs.reshape(len(imgs), -1).astype(float)
    print(f'proxy {side}x{side}: {len(imgs)} images, constant pixels {(flat.std(0) == 0).sum()}, '
          f'rank {np.linalg.matrix_rank(flat - flat.mean(0))}')
