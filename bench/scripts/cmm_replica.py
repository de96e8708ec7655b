"""PyTorch replica of the library's default fitting recipe (`cmm fit --data FILE` with every default) and of `cmm sample`,
for any dimension d, to time the library against "the same recipe in PyTorch" side by side. Not part of the library.

Run with /usr/bin/python3 (numpy and torch >= 1.13, CPU; no torch.func needed):

    /usr/bin/python3 bench/scripts/cmm_replica.py gaussian-data --dim 16 --n 20000 --out /tmp/g16.csv
        writes /tmp/g16.csv (20,000 rows of Datasets.DefaultGaussian(16), no header), /tmp/g16.mean.csv,
        /tmp/g16.cov.csv and /tmp/g16.test.csv (2,000 fresh points for the Hessian check)
    /usr/bin/python3 bench/scripts/cmm_replica.py fit --data /tmp/g16.csv --iterations 20 \\
        --truth-mean /tmp/g16.mean.csv --truth-cov /tmp/g16.cov.csv [--seed 1] [--threads 2] [--out res.jsonl]
        [--save-model model.json]
    /usr/bin/python3 bench/scripts/cmm_replica.py sample --data /tmp/g16.csv --iterations 5 --n 2000 [--burn-in 300]
    /usr/bin/python3 bench/scripts/cmm_replica.py hessian-error --test /tmp/g16.test.csv --encoded enc.csv \\
        --truth-cov /tmp/g16.cov.csv      (the same measurement for the library: enc.csv from `cmm encode`)

`fit` prints and (--out) appends as one JSON line: d, iterations, solver, start-up seconds, loop seconds, seconds per
iteration, peak resident memory (ru_maxrss, MiB), mean solver iterations per point and converged share of the
Langevin solves and of the data-batch solves, MALA acceptance and, with --truth-cov, the Hessian error of the fitted w
at iteration 0 and at the end. `sample` fits --iterations, then times generation as `cmm sample --n N` does.

What is replicated (read from the C# sources; file names under src/CMM.Gpu unless stated):

- Data: float32 rows; CSV without or with one header line, or .npy. The fit is in data coordinates (CMM: no
  normalisation; Fitting/CmmFitter.cs, Normalization = identity translation). Dequantisation does not act (float data).
- Gaussian start (Fitting/GaussianStart.cs, network u = w*): sample mean and covariance (n - 1), eigenvalues floored at
  1e-6 of the largest; A = S^(-1/3), latent covariance A^-1, x0 = (I + A)^-1 A m; u's Hessian A^-1 and gradient m at x0;
  preconditioner (Icnn/IcnnPreconditioner.cs): centre x0, input scale s_x = RMS sd of the latent, output scale
  kappa = s s_x (s the data's RMS sd), quadratic scale q = min(1, 1/D), D = sqrt((m - x0)'A(m - x0)), linear scale
  l = min(1, s / sqrt(s / s_x)); alpha = 0.1 lambda_min(A^-1) (in input units); Langevin step tau = 0.3 / lambda_max(A).
- ICNN (docs/icnn.md, Icnn/IcnnArchitecture.cs, kernels/.../IcnnKernels.cs Forward): hidden 32,32, softplus,
  sharpness 4, rank r = min(d, 16); u(x) = p'z_L + 1/2 xc'(alpha I + D + R R')xc + c'xc, xc = x - x0,
  s_1 = W_0 xc + b_0, s_(l+1) = P_l z_l + W_l xc + b_l, z = softplus(s); effective parameters = fixed scale times
  theta (softplus(theta) for P, p, D): W beta/s_x, b beta, P 1, p kappa/beta, D q^2 kappa/s_x^2, R q sqrt(kappa)/s_x,
  c l sqrt(kappa)/s_x (IcnnLayout.ParameterScales). Adam acts on theta in the library's flat layout.
- Initialisation (IcnnPotential.InitialParameters, GaussianStart.WriteInto), with the same draws: .NET's seeded
  System.Random (the Net5-compatible subtractive generator) is re-implemented below, so W ~ N(0, 1/d), b ~ N(0, 4),
  P = softplus^-1(e^(0.1 N)/h_prev) are the library's values for the same --seed; D + R R' = the start's Hessian
  (top r eigen-directions exactly, the rest on D), c from u's gradient at x0, p = softplus^-1(1e-4/h_L). The 512
  particles are the library's draws too (Affine.SampleNormal with seed ^ 0x1A7E); batches are the library's
  (new Random((seed * 1000003) ^ (t * 7919) ^ 0x5EED).Next(n), CmmFitter.FillBatch).
- One outer iteration (CmmFitter.Step): 5 MALA steps of every particle on exp(-w), w = u* (Sampling/LangevinChains.cs,
  kernels/.../LangevinKernels.cs): the run's first w, grad w at the particles by a conjugate solve warm-started at the
  gradients the last run left (the fit's first run: cold), then per step a proposal x - tau g + sqrt(2 tau) N, its
  w and grad w by a conjugate solve warm-started at the chain's current gradient, followed by one value pass of u
  (ConjugatePotential.ValueAndGradient: solve, u(z), w = <x, z> - u(z)); Metropolis test on
  log a = w - w' + (|x' - x + tau g|^2 - |x - x' + tau g'|^2) / (4 tau); non-finite proposals are rejected and halve tau
  at the end of the run (divergence back-off). Then the batch of 512 (the library's indices), encoded z = grad w(y)
  by a cold conjugate solve from the isotropic start z0 = x0 + (y - grad u(x0)) / curvature scale
  (ConjugatePotential.Solve), the semi-dual gradient E_particles[d_theta u(x_j)] - E_batch[d_theta u(z_i)]
  (GeneratorSemiDualObjective, IcnnPotential.SemiDualParameterGradient; by autograd here), one Adam step
  (beta 0.9/0.999, eps 1e-8, bias-corrected; Icnn/IcnnOptimizer.cs, IcnnKernels.AdamStep) on the gradient clipped to
  global norm 10, learning rate 1e-3 + 0.5 (0.1 - 1e-3)(1 + cos(pi t / (T - 1))) (FitOptions.LearningRateAt).
  Non-finite loss or parameters roll back and halve the learning rate (6 times at most); the health monitor's
  acceptance window (10 iterations, floor 5 %: halve tau, at most 4 times) and solver floor (50 % converged: stop).
- Conjugate solves (Conjugate/ConjugateSolver.cs, ConjugateOptions.cs, kernels/.../IcnnSolveKernels.cs and
  ConjugateKernels.cs): the generator's options (CmmFitter.GeneratorSolveOptions): at most 100 iterations, converged
  when |grad u(z) - x| <= 1e-4 s + 1e-4 |x|; damped Newton (d x d Hessian, Cholesky, steepest descent when not
  positive definite or not a descent direction) for d <= 16, or up to d = 64 when the start's Hessian A^-1 has a
  condition number above 100; otherwise L-BFGS with 8 pairs (two-loop recursion, gamma = s'y/y'y of the newest
  usable pair, pairs with s'y <= 1e-10 |s||y| skipped, steepest descent at the first iteration and as fallback).
  Both: Armijo backtracking (c = 1e-4, halvings from t = 1 down to 2^-30, then the point "stalls") with the
  library's float slack 8 eps (|w| + sum|x_k y_k| + |phi|); per-point statuses and iteration counts as the library's.
  The run prints which method the rule chose and why.
- Generation (`sample`; Cli/Commands/SampleCommands.cs, CmmModel.DefaultSampling, Fitting/FittedModel.cs,
  Sampling/SampleGenerator.cs, GenerationOptions.cs): solve options judged from u's Hessian at the centre (as a loaded
  model); chains start at the latent mode grad u(0) plus N(0, I) / sqrt(latent curvature), curvature = s_x / s;
  step 0.1 / curvature; a tuning run of 1,024 chains, 300 MALA steps, the step adapted every 10 steps by
  exp(2 (rate - 0.574) / sqrt(check)); then chunks of up to 65,536 chains (one kept draw each), each 300 + 1 MALA
  steps at the tuned step (divergence checks every 10), the diagnostics' cold solve at the final states (1,024
  diagnostic chains > 0), and y = grad u(x) (no solve). The time reported is that of tuning + chunks (the library's
  `seconds` in `cmm sample --json`), samples per second = n / that time.

Known differences from the library (everything else above is meant to be the same):

1. Random numbers of the Langevin steps (proposal noise, acceptance uniforms, the generation chains' starts) come from
   torch's generator, not Philox(seed, chain, step): same laws, different draws. Initial parameters, initial
   particles and batch indices are the library's own draws (re-implemented .NET Random; checked: the free parameters
   and the preconditioner equal those of a library model written after one step at learning rate 1e-30, bit for bit
   except the sign of R's columns and 1 ulp in D, at d = 2, 16 and 64).
2. Float32 arithmetic in a different order (BLAS matmuls over a batch instead of one thread per point), and the
   eigenvector bases of the start come from LAPACK instead of Math.NET (R's columns may differ in sign; R R' is the
   same; with a repeated eigenvalue the split between R and D can differ). Trajectories therefore diverge from the
   library's after a few iterations (MALA accept/reject decisions are discontinuous), while following the same recipe.
   Checked on library models: grad u equals `cmm decode` and the conjugate solve equals `cmm encode` to 2e-6 (d = 2,
   16 with Newton, 64 with L-BFGS).
3. Derivatives: u and grad u by a forward pass and a closed-form reverse pass; the d x d Hessian as
   sum_l J_l' diag(zbar_l softplus''(s_l)) J_l + alpha I + D + R R' with the Jacobians J_l = ds_l/dx propagated forward
   (the library: d Hessian-vector products, one tangent pass per column). Same matrix (checked against autograd), other
   flop count. The parameter gradient is by autograd (the library: its own reverse pass with per-thread partial sums
   and a double-precision reduction).
4. Solver batching: the library's Newton runs each point's whole solve in one thread (IcnnSolveKernels.SolveNewton);
   here Newton iterations run batched over the still-active points (same iteration per point, same statuses). The
   library's L-BFGS evaluates u at every still-active point in each line-search round (points already accepted
   re-evaluate y); here only the points whose line search is still pending are evaluated (fewer network passes per
   round; the iterates are the same).
5. Not replicated (no effect on the iterates of a healthy default fit): checkpoints (time `cmm fit` with
   --checkpoint-every 0), early stopping (off by default), the health monitor's warnings (its actions are replicated),
   the per-iteration parameter download the library does for its rollback copy, and in generation the Stein/R-hat
   diagnostics computed on the host after the diagnostic solve (the solve itself is replicated), writing the samples
   to a file and dealing chunks to several devices (one device).
6. Threads: torch gets --threads intra-op threads and OpenBLAS the same number; OMP_WAIT_POLICY defaults to PASSIVE
   (set it to ACTIVE for torch's usual spinning): on the shared 2-core machine (load average 15-45) spinning OpenMP
   threads made --threads 2 10-30x slower than --threads 1. The library's CPU accelerator uses one thread per core.
7. The Hessian check encodes 2,000 test points with a cold conjugate solve, as `cmm encode` does (FittedModel.Encode,
   solve options judged from Hess u at the centre), and regresses z on [y, 1]: the same measurement as
   bench/scripts/gaussian_closed_form_check.py. The test points are drawn by this script (gaussian-data writes the same
   points to FILE.test.csv for the library's side). For d > 16 the start is not exact (rank min(d, 16): the remaining
   directions of the start's Hessian sit on the diagonal D): the library's and this replica's iteration-0 error on the
   d = 64 default Gaussian are both 22.6 %.
8. `cmm fit --json` reports no solver statistics; the library's progress line shows the data-batch solves' converged
   share only when it is below 100 % ("conj NN %") and the MALA acceptance ("accept NN %").
"""
import argparse
import json
import math
import os
import resource
import sys
import time


def _threads_from_argv(argv):
    for i, v in enumerate(argv):
        if v == "--threads" and i + 1 < len(argv):
            return argv[i + 1]
        if v.startswith("--threads="):
            return v.split("=", 1)[1]
    return "2"


# Before numpy and torch load their BLAS (both may map the same OpenBLAS, which reads these once). OpenMP threads wait
# passively unless OMP_WAIT_POLICY says otherwise: on a machine shared with other jobs (more runnable threads than cores)
# spinning threads made 2-thread runs 10-30x slower than 1-thread runs (measured on the 2-core development machine).
for _k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_k] = _threads_from_argv(sys.argv[1:])
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402

EPS32 = 1.1920929e-7
STATUS_RUNNING, STATUS_CONVERGED, STATUS_STALLED, STATUS_NONFINITE = 0, 1, 2, 3


# ------------------------------------------------------------------------------------------------ command line


def parse_args(argv):
    ap = argparse.ArgumentParser(description="PyTorch replica of cmm fit / cmm sample (default recipe).")
    sub = ap.add_subparsers(dest="cmd", required=True)

    def common(p):
        p.add_argument("--data", required=True, help="training data (.csv or .npy), float values")
        p.add_argument("--iterations", type=int, default=1200, help="outer iterations (library default 1200)")
        p.add_argument("--seed", type=int, default=1)
        p.add_argument("--threads", type=int, default=2, help="torch / BLAS threads")
        p.add_argument("--out", default="", help="append the result as one JSON line to this file")
        p.add_argument("--log-every", type=int, default=0, help="print progress every this many iterations")
        p.add_argument("--tag", default="")

    f = sub.add_parser("fit", help="replicate `cmm fit --data FILE` with all defaults")
    common(f)
    f.add_argument("--truth-mean", default="", help="CSV of the true mean (Gaussian data): Hessian error of w")
    f.add_argument("--truth-cov", default="", help="CSV of the true covariance (Gaussian data): Hessian error of w")
    f.add_argument("--test", default="", help="test points for the Hessian check (default: 2,000 drawn from the truth "
                                              "as gaussian-data writes them to FILE.test.csv)")
    f.add_argument("--save-model", default="", help="write the fitted model (free parameters theta in the library's "
                                                    "layout, architecture, preconditioner) as JSON")

    s = sub.add_parser("sample", help="fit --iterations, then replicate `cmm sample --n N`")
    common(s)
    s.add_argument("--n", type=int, required=True, help="number of samples")
    s.add_argument("--burn-in", type=int, default=300, help="Langevin steps before the draw (library default 300)")
    s.add_argument("--chunk", type=int, default=1 << 16, help="chains per chunk (library default 65536)")
    s.add_argument("--sample-seed", type=int, default=0, help="seed of the generation chains (cmm sample --seed)")
    s.add_argument("--save-samples", default="", help="write the samples here (.npy or .csv)")

    g = sub.add_parser("gaussian-data", help="write Datasets.DefaultGaussian(d) data, its mean, covariance and test points")
    g.add_argument("--dim", type=int, required=True)
    g.add_argument("--n", type=int, default=20000)
    g.add_argument("--seed", type=int, default=1)
    g.add_argument("--out", required=True, help="FILE.csv; also writes FILE.mean.csv, FILE.cov.csv, FILE.test.csv")

    h = sub.add_parser("hessian-error", help="Hessian error of an encoder output (e.g. `cmm encode`) against S^(-1/3)")
    h.add_argument("--test", required=True, help="the points that were encoded")
    h.add_argument("--encoded", required=True, help="their encodings z = grad w(y)")
    h.add_argument("--truth-cov", required=True)
    h.add_argument("--truth-mean", default="")
    return ap.parse_args(argv)


# ------------------------------------------------------------------------------------------------ .NET System.Random


class DotNetRandom:
    """System.Random(seed) of .NET (Core) with a seed: the Net5-compatible Knuth subtractive generator
    (Random.Net5CompatImpl.cs, CompatPrng). NextDouble() = InternalSample() / int.MaxValue; Next(n) = (int)(Sample() * n)."""
    INT_MAX = 2147483647
    MSEED = 161803398

    def __init__(self, seed):
        seed = int32(seed)
        sub = self.INT_MAX if seed == -2147483648 else abs(seed)
        a = [0] * 56
        mj = self.MSEED - sub
        a[55] = mj
        mk = 1
        ii = 0
        for i in range(1, 55):
            ii += 21
            if ii >= 55:
                ii -= 55
            a[ii] = mk
            mk = mj - mk
            if mk < 0:
                mk += self.INT_MAX
            mj = a[ii]
        for _ in range(1, 5):
            for i in range(1, 56):
                n = i + 30
                if n >= 55:
                    n -= 55
                a[i] -= a[1 + n]
                if a[i] < 0:
                    a[i] += self.INT_MAX
        self.a, self.inext, self.inextp = a, 0, 21

    def internal_sample(self):
        i = self.inext + 1
        if i >= 56:
            i = 1
        j = self.inextp + 1
        if j >= 56:
            j = 1
        r = self.a[i] - self.a[j]
        if r == self.INT_MAX:
            r -= 1
        if r < 0:
            r += self.INT_MAX
        self.a[i] = r
        self.inext, self.inextp = i, j
        return r

    def next_double(self):
        return self.internal_sample() * (1.0 / self.INT_MAX)

    def next(self, max_value):
        return int(self.next_double() * max_value)

    def normal(self):
        """Box-Muller as the library writes it: sqrt(-2 log(1 - U1)) cos(2 pi U2)."""
        u1 = 1.0 - self.next_double()
        u2 = self.next_double()
        return math.sqrt(-2 * math.log(u1)) * math.cos(2 * math.pi * u2)


def int32(v):
    """C# unchecked int arithmetic."""
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >= (1 << 31) else v


def inverse_softplus(y):
    return y if y > 30 else y + math.log(1.0 - math.exp(-y))


# ------------------------------------------------------------------------------------------------ data


def read_points(path, dtype=np.float32):
    if path.lower().endswith(".npy"):
        x = np.load(path)
    else:
        with open(path) as f:
            lines = [ln for ln in f if ln.strip() and not ln.lstrip().startswith("#")]
        first = lines[0].split(",")
        try:
            [float(v) for v in first]
            start = 0
        except ValueError:
            start = 1  # a header line (no numeric field)
        x = np.loadtxt(lines[start:], delimiter=",", dtype=np.float64, ndmin=2)
    if x.ndim == 1:
        x = x[:, None]
    return np.ascontiguousarray(x, dtype=dtype)


def write_points(path, x):
    if path.lower().endswith(".npy"):
        np.save(path, np.asarray(x, dtype=np.float32))
    else:
        np.savetxt(path, np.asarray(x, dtype=np.float64), delimiter=",", fmt="%.9g")


def default_gaussian(d):
    """Datasets.DefaultGaussian(d): m_k = 1 - 1.5 t, sd_k = sqrt(2) 0.5^t (t = k/(d-1)), correlation 0.6^|i-j|."""
    t = np.zeros(d) if d == 1 else np.arange(d) / (d - 1)
    m = 1 - 1.5 * t
    sd = math.sqrt(2) * 0.5 ** t
    idx = np.arange(d)
    S = sd[:, None] * sd[None, :] * 0.6 ** np.abs(idx[:, None] - idx[None, :])
    return m, S


def test_points(mean, cov, n=2000, seed=424242):
    """The 2,000 test points of the Hessian check (the same for the replica and, via FILE.test.csv, the library)."""
    rng = np.random.default_rng(seed)
    L = np.linalg.cholesky(cov)
    return (mean + rng.standard_normal((n, len(mean))) @ L.T).astype(np.float32)


def powm(S, p):
    S = (S + S.T) / 2
    lam, V = np.linalg.eigh(S)
    r = (V * lam ** p) @ V.T
    return (r + r.T) / 2


def hessian_error(y, z, cov):
    """Relative Frobenius error of the least-squares slope of z on [y, 1] against A = S^(-1/3)
    (bench/scripts/gaussian_closed_form_check.py)."""
    d = y.shape[1]
    A = powm(cov, -1 / 3)
    X = np.hstack([y.astype(np.float64), np.ones((len(y), 1))])
    coef, *_ = np.linalg.lstsq(X, z.astype(np.float64), rcond=None)
    return float(np.linalg.norm(coef[:d].T - A) / np.linalg.norm(A))


# ------------------------------------------------------------------------------------------------ the start


class Start:
    """GaussianStart.Estimate for CMM with the network u = w* (float64, as Math.NET computes it)."""

    def __init__(self, data, alpha_option=0.1):
        x = data.astype(np.float64)
        n, d = x.shape
        m = x.mean(0)
        xc = x - m
        cov = xc.T @ xc / (n - 1)
        cov = (cov + cov.T) / 2
        lam, V = np.linalg.eigh(cov)
        largest = lam.max()
        floor = 1e-6 * largest if largest > 0 else 1.0
        self.raised = int(np.sum(~(lam >= floor)))
        if self.raised:
            cov = (V * np.maximum(lam, floor)) @ V.T
            cov = (cov + cov.T) / 2
        self.d, self.mean, self.cov = d, m, cov
        rms = math.sqrt(np.mean(np.diag(cov)))
        A = powm(cov, -1 / 3)
        latcov = powm(A, -1.0)
        lat_rms = math.sqrt(np.mean(np.diag(latcov)))
        x0 = np.linalg.solve(np.eye(d) + A, A @ m)
        self.A, self.latent_cov, self.latent_mean = A, latcov, x0
        self.mode_distance = math.sqrt((m - x0) @ (A @ (m - x0)))
        q = min(1.0, 1.0 / max(self.mode_distance, 1e-300))
        self.hessian, self.linear = latcov, m  # u around x0: Hess A^-1, gradient m
        f32 = np.float32
        self.centre = x0.astype(f32)
        self.input_scale = np.full(d, lat_rms, dtype=f32)
        self.output_scale = f32(rms * lat_rms)
        self.quadratic_scale = f32(q)
        self.linear_scale = f32(min(1.0, rms / math.sqrt(rms / lat_rms)))  # GaussianStart.LinearStep
        eigA = np.linalg.eigvalsh(A)
        self.smallest, self.largest = float(eigA.min()), float(eigA.max())
        self.alpha = alpha_option * float(np.linalg.eigvalsh(latcov).min())
        s2 = float(np.mean(self.input_scale.astype(np.float64) ** 2))
        self.gradient_scale = float(self.output_scale) / math.sqrt(s2)  # IcnnPreconditioner.GradientScale
        self.curvature_scale = float(self.output_scale) / s2  # IcnnPreconditioner.CurvatureScale
        self.rms, self.latent_rms = rms, lat_rms


class Arch:
    """IcnnArchitecture + IcnnLayout of the default fit."""

    def __init__(self, d, start, widths=(32, 32), sharpness=4.0, rank=None):
        self.d, self.widths, self.sharpness = d, list(widths), float(np.float32(sharpness))
        self.rank = min(d, 16) if rank is None else rank
        self.alpha = float(np.float32(start.alpha))
        self.centre, self.input_scale = start.centre, start.input_scale
        self.kappa, self.q, self.l = start.output_scale, start.quadratic_scale, start.linear_scale
        o, prev, self.layers = 0, 0, []
        for i, h in enumerate(self.widths):
            w = o
            o += h * d
            b = o
            o += h
            p = -1
            if i > 0:
                p = o
                o += h * prev
            self.layers.append((h, w, b, p))
            prev = h
        self.out_off = o
        o += prev
        self.diag_off = o
        o += d
        self.lowrank_off = o
        o += d * self.rank
        self.lin_off = o
        o += d
        self.count = o

    def mask(self):
        m = np.zeros(self.count, dtype=bool)
        for i, (h, _, _, p) in enumerate(self.layers):
            if i > 0:
                m[p:p + h * self.layers[i - 1][0]] = True
        m[self.out_off:self.lowrank_off] = True  # p and D
        return m

    def scales(self):
        """IcnnLayout.ParameterScales (float32)."""
        d, beta = self.d, self.sharpness
        sc = np.ones(self.count, dtype=np.float64)
        for (h, w, b, _) in self.layers:
            for k in range(d):
                sc[w + k:w + h * d:d] = np.float32(beta / float(self.input_scale[k]))
            sc[b:b + h] = np.float32(beta)
        kappa, fq = float(self.kappa), float(self.q)
        sc[self.out_off:self.diag_off] = np.float32(kappa / beta)
        for k in range(d):
            sk = float(self.input_scale[k])
            sc[self.diag_off + k] = np.float32(fq * fq * kappa / (sk * sk))
            sc[self.lin_off + k] = np.float32(float(self.l) * math.sqrt(kappa) / sk)
            sc[self.lowrank_off + k * self.rank:self.lowrank_off + (k + 1) * self.rank] = np.float32(fq * math.sqrt(kappa) / sk)
        return sc.astype(np.float32)

    def describe(self):
        return {"dimension": self.d, "hidden": self.widths, "activation": "softplus", "sharpness": self.sharpness,
                "rank": self.rank, "alpha": self.alpha, "centre": [float(v) for v in self.centre],
                "input_scale": [float(v) for v in self.input_scale], "output_scale": float(self.kappa),
                "quadratic_scale": float(self.q), "linear_scale": float(self.l)}


def initial_parameters(arch, seed):
    """IcnnPotential.InitialParameters (the same .NET draws), float32."""
    theta = np.zeros(arch.count, dtype=np.float32)
    rng = DotNetRandom(seed)
    d = arch.d
    wscale = 1.0 / math.sqrt(d)
    for i, (h, w, b, p) in enumerate(arch.layers):
        for j in range(h * d):
            theta[w + j] = wscale * rng.normal()
        for j in range(h):
            theta[b + j] = 2 * rng.normal()
        if p >= 0:
            hp = arch.layers[i - 1][0]
            for j in range(h * hp):
                theta[p + j] = inverse_softplus(math.exp(0.1 * rng.normal()) / hp)
    htop = arch.layers[-1][0]
    theta[arch.out_off:arch.out_off + htop] = inverse_softplus(0.01 / htop)
    s2 = float(np.mean(arch.input_scale.astype(np.float64) ** 2))
    diag = 1.0 - arch.alpha / (float(arch.kappa) / s2)
    theta[arch.diag_off:arch.diag_off + d] = inverse_softplus(diag) if diag > 1e-6 else -30.0
    for j in range(d * arch.rank):
        theta[arch.lowrank_off + j] = 0.01 * rng.normal()
    return theta


def write_start(theta, arch, start):
    """GaussianStart.WriteInto: alpha I + D + R R' = u's start Hessian (in normalised units), c its gradient at x0,
    p = 1e-4 / h_L."""
    d, r = arch.d, arch.rank
    kappa = float(arch.kappa)
    q2 = float(arch.q) * float(arch.q)
    s = arch.input_scale.astype(np.float64)
    H = start.hessian
    Q = s[:, None] * s[None, :] * (H - arch.alpha * np.eye(d)) / (kappa * q2)
    lam, V = np.linalg.eigh((Q + Q.T) / 2)
    order = np.argsort(-lam, kind="stable")
    floor = max(lam.min(), 1e-12 * max(lam.max(), 1e-30)) / 2
    for mm in range(r):
        e = order[mm]
        f = math.sqrt(max(lam[e] - floor, 0.0))
        for k in range(d):
            theta[arch.lowrank_off + k * r + mm] = V[k, e] * f
    R = theta[arch.lowrank_off:arch.lowrank_off + d * r].astype(np.float64).reshape(d, r)
    rr = R @ R.T
    for k in range(d):
        theta[arch.diag_off + k] = inverse_softplus(max(Q[k, k] - rr[k, k], floor))
        theta[arch.lin_off + k] = 0.0 if float(arch.l) == 0 else start.linear[k] * s[k] / (float(arch.l) * math.sqrt(kappa))
    htop = arch.layers[-1][0]
    theta[arch.out_off:arch.out_off + htop] = inverse_softplus(1e-4 / htop)


def sample_normal_dotnet(mean, cov, n, seed):
    """Affine.SampleNormal: z from .NET Random (float32), x = mean + L z (Cholesky), float32."""
    d = len(mean)
    rng = DotNetRandom(seed)
    z = np.array([rng.normal() for _ in range(n * d)], dtype=np.float32).reshape(n, d)
    L = np.linalg.cholesky(cov)
    return (mean[None, :] + z.astype(np.float64) @ L.T).astype(np.float32)


def batch_indices(seed, iteration, count, b):
    """CmmFitter.FillBatch: new Random((seed * 1000003) ^ (iteration * 7919) ^ 0x5EED), b x Next(count)."""
    rng = DotNetRandom(int32(int32(int32(seed * 1000003) ^ int32(iteration * 7919)) ^ 0x5EED))
    return [rng.next(count) for _ in range(b)]


# ------------------------------------------------------------------------------------------------ the ICNN in torch


class Icnn:
    """u(x) of the library's ICNN with its preconditioned parametrisation; theta is the flat free-parameter vector."""

    def __init__(self, arch, theta):
        import torch
        self.torch = torch
        self.arch = arch
        self.theta = torch.tensor(theta, dtype=torch.float32)
        self.mask = torch.tensor(arch.mask())
        self.scale = torch.tensor(arch.scales())
        self.centre = torch.tensor(arch.centre, dtype=torch.float32)
        self.alpha = arch.alpha
        self.E = None
        self.refresh()

    def effective(self, theta):
        """Effective parameters (differentiable in theta): scale * softplus(theta) where masked, else scale * theta."""
        torch = self.torch
        F = torch.nn.functional
        a = self.arch
        eff = self.scale * torch.where(self.mask, F.softplus(theta), theta)
        E = {"W": [], "b": [], "P": [None]}
        for i, (h, w, b, p) in enumerate(a.layers):
            E["W"].append(eff[w:w + h * a.d].view(h, a.d))
            E["b"].append(eff[b:b + h])
            if i > 0:
                E["P"].append(eff[p:p + h * a.layers[i - 1][0]].view(h, a.layers[i - 1][0]))
        E["p"] = eff[a.out_off:a.diag_off]
        E["diag"] = self.alpha + eff[a.diag_off:a.diag_off + a.d]
        E["R"] = eff[a.lowrank_off:a.lowrank_off + a.d * a.rank].view(a.d, a.rank)
        E["c"] = eff[a.lin_off:a.lin_off + a.d]
        E["Wt"] = [w.t() for w in E["W"]]
        E["Pt"] = [None] + [p.t() for p in E["P"][1:]]
        return E

    def refresh(self):
        """Effective parameters after a step (the library's Materialize / AdamStep output), for the solves."""
        with self.torch.no_grad():
            E = self.effective(self.theta)
            E["Wt"] = [w.contiguous() for w in E["Wt"]]
            E["Pt"] = [None] + [p.contiguous() for p in E["Pt"][1:]]
            E["RRt"] = E["R"] @ E["R"].t()
            E["quad"] = self.torch.diag(E["diag"]) + E["RRt"]
        self.E = E

    def value(self, x, E=None):
        """u(x) [n]."""
        torch = self.torch
        E = self.E if E is None else E
        xc = x - self.centre
        z = None
        for i in range(len(E["W"])):
            s = torch.addmm(E["b"][i], xc, E["Wt"][i])
            if i > 0:
                s = s + z @ E["Pt"][i]
            z = torch.nn.functional.softplus(s)
        xr = xc @ E["R"]
        return z @ E["p"] + 0.5 * ((E["diag"] * xc * xc).sum(1) + (xr * xr).sum(1)) + xc @ E["c"]

    def value_grad(self, x, keep=False):
        """u(x), grad u(x) (forward and closed-form reverse pass); keep: also the state the Hessian needs."""
        torch = self.torch
        E = self.E
        xc = x - self.centre
        S, z = [], None
        for i in range(len(E["W"])):
            s = torch.addmm(E["b"][i], xc, E["Wt"][i])
            if i > 0:
                s = s + z @ E["Pt"][i]
            z = torch.nn.functional.softplus(s)
            S.append(s)
        xr = xc @ E["R"]
        u = z @ E["p"] + 0.5 * ((E["diag"] * xc * xc).sum(1) + (xr * xr).sum(1)) + xc @ E["c"]
        g = E["diag"] * xc + xr @ E["R"].t() + E["c"]
        L = len(S)
        SIG, ZBAR = [None] * L, [None] * L
        zbar = E["p"]
        for i in reversed(range(L)):
            sig = torch.sigmoid(S[i])
            SIG[i], ZBAR[i] = sig, zbar
            sbar = zbar * sig
            g = g + sbar @ E["W"][i]
            if i > 0:
                zbar = sbar @ E["P"][i]
        return u, g, ((SIG, ZBAR) if keep else None)

    def hessian(self, state, idx=None):
        """Hess u = sum_l J_l' diag(zbar_l softplus''(s_l)) J_l + alpha I + D + R R', J_l = ds_l/dx propagated forward
        (J_0 = W_0, J_l = W_l + P_l diag(softplus'(s_(l-1))) J_(l-1)); J_l kept as [h_l, n, d]."""
        torch = self.torch
        E = self.E
        SIG, ZBAR = state
        if idx is not None:
            SIG = [s[idx] for s in SIG]
            ZBAR = [z if z.dim() == 1 else z[idx] for z in ZBAR]
        n, d = SIG[0].shape[0], self.arch.d
        W0 = E["W"][0]
        h0 = W0.shape[0]
        c = ZBAR[0] * SIG[0] * (1 - SIG[0])  # [n, h0]
        H = (c @ (W0.unsqueeze(2) * W0.unsqueeze(1)).reshape(h0, d * d)).view(n, d, d) + E["quad"]
        J = None
        for i in range(1, len(SIG)):
            W, P = E["W"][i], E["P"][i]
            h, hp = W.shape[0], P.shape[1]
            T = SIG[i - 1].t().unsqueeze(2) * (W0.unsqueeze(1) if J is None else J)  # [hp, n, d]
            J = W.unsqueeze(1) + (P @ T.reshape(hp, n * d)).view(h, n, d)
            c = ZBAR[i] * SIG[i] * (1 - SIG[i])  # [n, h]
            if d <= 16:
                H = H + torch.einsum("nj,jna,jnb->nab", c, J, J)
            else:
                Jn = J.permute(1, 0, 2)
                H = H + torch.bmm(Jn.transpose(1, 2), c.unsqueeze(2) * Jn)
        return H


# ------------------------------------------------------------------------------------------------ conjugate solves


class SolveOptions:
    def __init__(self, d, hessian, gradient_scale, label):
        """CmmFitter.GeneratorSolveOptions: defaults (100 iterations, tolerances 1e-4, 8 pairs, 30 halvings, Armijo 1e-4),
        the absolute tolerance times u's gradient scale; Newton up to d = 16, or up to d = 64 when the Hessian's
        condition number exceeds 100."""
        self.max_iterations, self.rtol, self.history, self.armijo = 100, 1e-4, 8, 1e-4
        self.min_step = 2.0 ** -30
        self.atol = float(np.float32(1e-4 * gradient_scale))
        newton_max = 16
        self.condition = None
        if d <= 64:
            ev = np.linalg.eigvalsh((hessian + hessian.T) / 2)
            self.condition = float(ev.max() / ev.min())
            if self.condition > 100:
                newton_max = 64
        self.method = "newton" if d <= newton_max else "lbfgs"
        cond = "n/a (d > 64)" if self.condition is None else f"{self.condition:.3g}"
        self.reason = (f"{self.method}: d = {d}, condition number of {label} {cond} "
                       f"({'<= 100: Newton up to d = 16, L-BFGS above' if newton_max == 16 else '> 100: Newton up to d = 64'})")


class SolveStats:
    def __init__(self):
        self.solves = self.points = self.iterations = self.converged = self.stalled = self.capped = self.nonfinite = 0

    def add(self, status, iters):
        self.solves += 1
        self.points += status.numel()
        self.iterations += int(iters.sum())
        self.converged += int((status == STATUS_CONVERGED).sum())
        self.stalled += int((status == STATUS_STALLED).sum())
        self.nonfinite += int((status == STATUS_NONFINITE).sum())
        self.capped += int((status == STATUS_RUNNING).sum())

    def summary(self):
        p = max(self.points, 1)
        return {"solves": self.solves, "points": self.points, "mean_iterations": self.iterations / p,
                "converged_share": self.converged / p, "stalled": self.stalled, "capped": self.capped,
                "nonfinite": self.nonfinite}


class Conjugate:
    """w = u* (ConjugatePotential): grad w(x) = z with grad u(z) = x, w(x) = <x, z> - u(z)."""

    def __init__(self, net, options):
        self.net, self.o = net, options
        self.torch = net.torch

    def cold_start(self, x):
        """z0 = centre + (x - grad u(centre)) / curvature scale (ConjugatePotentialKernels.Start)."""
        torch = self.torch
        image = self.net.value_grad(self.net.centre.unsqueeze(0))[1][0]
        s2 = float((self.net.arch.input_scale.astype("float64") ** 2).mean())
        ratio = float(torch.tensor(1.0 / (float(self.net.arch.kappa) / s2), dtype=torch.float32))
        return self.net.centre + ratio * (x - image)

    def solve(self, x, z0, stats):
        z, status, iters = (newton if self.o.method == "newton" else lbfgs)(self.net, x, z0, self.o)
        if stats is not None:
            stats.add(status, iters)
        return z, status

    def gradient(self, x, z0=None, stats=None):
        return self.solve(x, self.cold_start(x) if z0 is None else z0, stats)

    def value_and_gradient(self, x, z0=None, stats=None):
        z, status = self.gradient(x, z0, stats)
        w = (x * z).sum(1) - self.net.value(z)  # Inner.Value + Legendre
        return w, z


def line_search(net, x, y, w, direction, slope, o):
    """Armijo backtracking on phi(y) = u(y) - <x, y> from t = 1, halving down to 2^-30, with the library's float slack.
    Evaluates u only at the points still pending. Returns the new y and the accepted mask."""
    torch = net.torch
    xy = (x * y).sum(1)
    axy = (x * y).abs().sum(1)
    phi = w - xy
    slack = 8 * EPS32 * (w.abs() + axy + phi.abs())
    n = y.shape[0]
    t = torch.ones(n, dtype=y.dtype)
    accepted = torch.zeros(n, dtype=torch.bool)
    pend = torch.arange(n)
    y = y.clone()
    while pend.numel():
        tp = t[pend]
        trial = y[pend] + tp.unsqueeze(1) * direction[pend]
        phit = net.value(trial) - (x[pend] * trial).sum(1)
        ok = torch.isfinite(phit) & (phit <= phi[pend] + o.armijo * tp * slope[pend] + slack[pend])
        if ok.any():
            idx = pend[ok]
            y[idx] = trial[ok]
            accepted[idx] = True
        rej = pend[~ok]
        t[rej] = t[rej] * 0.5
        pend = rej[t[rej] >= o.min_step]
    return y, accepted


def tolerance_test(net, g, xa, tol, act, it, iters, status):
    """The library's tolerance test (ConjugateKernels.Residual) on the active points: r = grad - x, whether |r| is finite and
    within tol; records the iteration count and the NonFinite / Converged statuses in place."""
    torch = net.torch
    r = g - xa
    res = r.norm(dim=1)
    fin = torch.isfinite(res)
    conv = fin & (res <= tol[act])
    iters[act] = it
    status[act[~fin]] = STATUS_NONFINITE
    status[act[conv]] = STATUS_CONVERGED
    return r, fin, conv


def newton(net, x, y0, o):
    """Damped Newton (IcnnSolveKernels.SolveNewton), batched over the still-active points."""
    torch = net.torch
    n = x.shape[0]
    y = y0.clone()
    status = torch.zeros(n, dtype=torch.int32)
    iters = torch.zeros(n, dtype=torch.int32)
    tol = o.atol + o.rtol * x.norm(dim=1)
    act = torch.arange(n)
    it = 0
    while act.numel():
        ya, xa = y[act], x[act]
        w, g, st = net.value_grad(ya, keep=True)
        r, fin, conv = tolerance_test(net, g, xa, tol, act, it, iters, status)
        if it == o.max_iterations:
            break
        keep = fin & ~conv
        if not keep.any():
            break
        if bool(keep.all()):
            H = net.hessian(st)
        else:
            kidx = keep.nonzero().squeeze(1)
            act, ya, xa, w, r = act[kidx], ya[kidx], xa[kidx], w[kidx], r[kidx]
            H = net.hessian(st, kidx)
        Lc, info = torch.linalg.cholesky_ex(H)
        ok = info == 0
        direction = torch.cholesky_solve((-r).unsqueeze(2), Lc).squeeze(2)
        slope = (r * direction).sum(1)
        ok = ok & (slope < 0) & torch.isfinite(slope)
        if not bool(ok.all()):
            direction = torch.where(ok.unsqueeze(1), direction, -r)
            slope = torch.where(ok, slope, -(r * r).sum(1))
        ya, accepted = line_search(net, xa, ya, w, direction, slope, o)
        y[act] = ya
        status[act[~accepted]] = STATUS_STALLED
        act = act[accepted]
        it += 1
    return y, status, iters


def lbfgs(net, x, y0, o):
    """L-BFGS with backtracking (ConjugateSolver's host-driven path, ConjugateKernels), batched over active points."""
    torch = net.torch
    n, d = x.shape
    m = o.history
    y = y0.clone()
    S = torch.zeros(n, m, d)
    Yv = torch.zeros(n, m, d)
    rho = torch.zeros(n, m)
    yprev = torch.zeros(n, d)
    gprev = torch.zeros(n, d)
    status = torch.zeros(n, dtype=torch.int32)
    iters = torch.zeros(n, dtype=torch.int32)
    tol = o.atol + o.rtol * x.norm(dim=1)
    act = torch.arange(n)
    it = 0
    while True:
        ya, xa = y[act], x[act]
        w, g, _ = net.value_grad(ya)
        if it > 0:  # LbfgsUpdate: pair (y - yPrev, g - gPrev) into slot (it - 1) % m
            slot = (it - 1) % m
            s = ya - yprev[act]
            v = g - gprev[act]
            sy, ss, vv = (s * v).sum(1), (s * s).sum(1), (v * v).sum(1)
            good = (sy > 1e-10 * torch.sqrt(ss * vv)) & (sy > 0) & torch.isfinite(sy)
            S[act, slot] = s
            Yv[act, slot] = v
            rho[act, slot] = torch.where(good, 1.0 / torch.where(good, sy, torch.ones_like(sy)), torch.zeros_like(sy))
        r, fin, conv = tolerance_test(net, g, xa, tol, act, it, iters, status)
        keep = fin & ~conv
        if not keep.any() or it == o.max_iterations:
            break
        if not bool(keep.all()):
            kidx = keep.nonzero().squeeze(1)
            act, ya, xa, w, g, r = act[kidx], ya[kidx], xa[kidx], w[kidx], g[kidx], r[kidx]
        # two-loop recursion (LbfgsDirection): newest = max(0, (it - 1) % m), count = min(it, m)
        q = r.clone()
        newest, cnt = max(0, (it - 1) % m), min(it, m)
        Sa, Ya, ra = S[act], Yv[act], rho[act]
        gamma = torch.ones(len(act))
        have = torch.zeros(len(act), dtype=torch.bool)
        alphas = {}
        for j in range(cnt):
            sl = (newest - j + m) % m
            rj = ra[:, sl]
            nz = rj != 0
            a_ = torch.where(nz, rj * (Sa[:, sl] * q).sum(1), torch.zeros_like(rj))
            alphas[sl] = a_
            q = torch.where(nz.unsqueeze(1), q - a_.unsqueeze(1) * Ya[:, sl], q)
            yy = (Ya[:, sl] * Ya[:, sl]).sum(1)
            newg = nz & ~have & (yy > 0)
            gamma = torch.where(newg, 1.0 / torch.where(newg, rj * yy, torch.ones_like(yy)), gamma)
            have = have | newg
        q = q * gamma.unsqueeze(1)
        for j in reversed(range(cnt)):
            sl = (newest - j + m) % m
            rj = ra[:, sl]
            nz = rj != 0
            b_ = rj * (Ya[:, sl] * q).sum(1)
            q = torch.where(nz.unsqueeze(1), q + (alphas[sl] - b_).unsqueeze(1) * Sa[:, sl], q)
        direction = -q
        slope = (r * direction).sum(1)
        bad = ~(slope < 0) | ~torch.isfinite(slope)
        if bool(bad.any()):
            direction = torch.where(bad.unsqueeze(1), -r, direction)
            slope = torch.where(bad, -(r * r).sum(1), slope)
        yprev[act] = ya
        gprev[act] = g
        ya, accepted = line_search(net, xa, ya, w, direction, slope, o)
        y[act] = ya
        status[act[~accepted]] = STATUS_STALLED
        act = act[accepted]
        it += 1
        if not act.numel():
            break
    return y, status, iters


# ------------------------------------------------------------------------------------------------ MALA


class Chains:
    """LangevinChains on exp(-w), w = u*: states, the gradients grad w = z (warm starts) and w at the states."""

    def __init__(self, x):
        self.x = x
        self.g = None
        self.w = None
        self.grads_valid = False

    def run(self, conj, tau, steps, gen, stats, check_every, adapt=False, burn_in=0, target=0.574, max_backoffs=20):
        """LangevinChains.RunCore with MALA: returns (tau, acceptance rate, diverged chains, status)."""
        torch = conj.torch
        x = self.x
        n, d = x.shape
        if self.grads_valid:
            w, g = conj.value_and_gradient(x, self.g, stats)
        else:
            w, g = conj.value_and_gradient(x, None, stats)
        checkpoint = x.clone()
        accepted = torch.zeros(n, dtype=torch.int64)
        diverged_since = torch.zeros(n, dtype=torch.bool)
        diverged_total, last_diverged, backoffs, checks, last_acc = 0, 0, 0, 0, 0
        adapt_chains = min(n, 4096)
        status = "Ok"
        done = 0
        for s in range(steps):
            noise = torch.randn(n, d, generator=gen)
            prop = x - tau * g + math.sqrt(2 * tau) * noise
            wp, gp = conj.value_and_gradient(prop, g.clone(), stats)
            finite = torch.isfinite(prop).all(1) & torch.isfinite(wp) & torch.isfinite(gp).all(1)
            fwd = ((prop - x + tau * g) ** 2).sum(1)
            bwd = ((x - prop + tau * gp) ** 2).sum(1)
            log_a = w - wp + (fwd - bwd) / (4 * tau)
            u = torch.rand(n, generator=gen).clamp_min(2.0 ** -24)
            acc = finite & (torch.log(u) <= log_a)
            x = torch.where(acc.unsqueeze(1), prop, x)
            g = torch.where(acc.unsqueeze(1), gp, g)
            w = torch.where(acc, wp, w)
            accepted += acc
            nd = int((~finite).sum())
            if nd:
                diverged_since |= ~finite
                diverged_total += nd
            done += 1
            if (s + 1) % check_every == 0 or s + 1 == steps:
                checks += 1
                if diverged_total > last_diverged:
                    last_diverged = diverged_total
                    x = torch.where(diverged_since.unsqueeze(1), checkpoint, x)
                    diverged_since[:] = False
                    w, g = conj.value_and_gradient(x, None, stats)
                    backoffs += 1
                    if backoffs > max_backoffs:
                        status = "Diverged"
                        break
                    tau *= 0.5
                    status = "StepSizeReduced"
                else:
                    checkpoint = x.clone()
                if adapt and s < burn_in:
                    tot = int(accepted[:adapt_chains].sum())
                    rate = (tot - last_acc) / (adapt_chains * check_every)
                    last_acc = tot
                    tau *= math.exp(2.0 * (rate - target) / math.sqrt(checks))
        self.x, self.g, self.w, self.grads_valid = x, g, w, True
        rate = float(accepted.sum()) / (n * max(done, 1))
        return tau, rate, diverged_total, status


# ------------------------------------------------------------------------------------------------ fit


def blas_report(torch):
    """Which BLAS torch uses (the shared library mapped into this process, and the build's BLAS_INFO) and a measured
    float32 matmul rate."""
    a = torch.randn(1024, 1024)
    b = torch.randn(1024, 1024)
    a @ b
    times = []
    for _ in range(5):
        t = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t)
    libs = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                p = line.split()[-1] if len(line.split()) >= 6 else ""
                base = os.path.basename(p).lower()
                if any(k in base for k in ("blas", "mkl", "lapack", "blis", "accelerate")):
                    libs.add(os.path.realpath(p))
    except OSError:
        pass
    cfg = torch.__config__.show()
    info = [ln.strip() for ln in cfg.splitlines() if "BLAS" in ln or "LAPACK" in ln or "MKL" in ln]
    blas_info = ""
    for ln in cfg.splitlines():
        for part in ln.split(","):
            if "BLAS_INFO" in part or "LAPACK_INFO" in part:
                blas_info += part.strip() + " "
    gflops = 2 * 1024 ** 3 / min(times) / 1e9
    return {"blas_libraries": sorted(libs), "blas_info": blas_info.strip(), "config_blas_lines": info,
            "matmul_1024_gflops": gflops, "threads": torch.get_num_threads(),
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", ""), "load_average": list(os.getloadavg())}


def peak_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def encode_error(net, y_test, cov):
    """Hessian error of the fitted w: z = grad w(y) by a cold solve with the loaded model's options (FittedModel.Encode),
    regressed on [y, 1]."""
    torch = net.torch
    a = net.arch
    with torch.no_grad():
        Hc = net.hessian(net.value_grad(net.centre.unsqueeze(0), keep=True)[2])[0].double().numpy()
        s2 = float((a.input_scale.astype("float64") ** 2).mean())
        o = SolveOptions(a.d, Hc, float(a.kappa) / math.sqrt(s2), "Hess u at the centre")
        conj = Conjugate(net, o)
        stats = SolveStats()
        z, _ = conj.gradient(torch.tensor(y_test), None, stats)
    return hessian_error(y_test, z.numpy(), cov), stats.summary()


class Fitter:
    def __init__(self, a, torch):
        self.a, self.torch = a, torch
        t0 = time.perf_counter()
        self.data_np = read_points(a.data)
        n, d = self.data_np.shape
        self.n, self.d = n, d
        self.start = Start(self.data_np)
        self.arch = Arch(d, self.start)
        theta = initial_parameters(self.arch, a.seed)
        write_start(theta, self.arch, self.start)
        self.net = Icnn(self.arch, theta)
        self.opts = SolveOptions(d, self.start.hessian, self.start.gradient_scale, "the start's Hessian A^-1")
        self.conj = Conjugate(self.net, self.opts)
        x0 = sample_normal_dotnet(self.start.latent_mean, self.start.latent_cov, 512, int32(a.seed ^ 0x1A7E))
        self.chains = Chains(torch.tensor(x0))
        self.data = torch.tensor(self.data_np)
        self.tau = 0.3 / self.start.largest
        self.gen = torch.Generator().manual_seed(a.seed)
        self.m = torch.zeros(self.arch.count)
        self.v = torch.zeros(self.arch.count)
        self.steps = 0
        self.lr_scale = 1.0
        self.recoveries = 0
        self.last_good = self.net.theta.clone()
        self.acc_window, self.conv_window, self.halvings = [], [], 0
        self.lang_stats, self.batch_stats = SolveStats(), SolveStats()
        self.acc_hist, self.conv_hist, self.loss_hist = [], [], []
        self.startup_s = time.perf_counter() - t0

    def lr_at(self, it):
        T = self.a.iterations
        t = 1.0 if T <= 1 else min(max(it / (T - 1), 0.0), 1.0)
        return 1e-3 + 0.5 * (0.1 - 1e-3) * (1 + math.cos(math.pi * t))

    def adam(self, grad, lr):
        """IcnnOptimizer.Step: clip factor min(1, 10 / |g|) (0 when |g| is not finite), Adam with bias corrections."""
        torch = self.torch
        norm = float(torch.sqrt((grad.double() ** 2).sum()))
        f = 0.0 if not math.isfinite(norm) else (10.0 / norm if norm > 10.0 else 1.0)
        self.steps += 1
        if f == 0.0:
            return norm
        g = grad * f
        self.m.mul_(0.9).add_(0.1 * g)
        self.v.mul_(0.999).add_(0.001 * g * g)
        c1 = 1.0 / (1.0 - 0.9 ** self.steps)
        c2 = 1.0 / (1.0 - 0.999 ** self.steps)
        self.net.theta = self.net.theta - lr * (self.m * c1) / (torch.sqrt(self.v * c2) + 1e-8)
        self.net.refresh()
        return norm

    def step(self, it):
        torch = self.torch
        lr = float(torch.tensor(self.lr_at(it) * self.lr_scale, dtype=torch.float32))
        with torch.no_grad():
            self.tau, acc, _, _ = self.chains.run(self.conj, self.tau, 5, self.gen, self.lang_stats, check_every=5)
            # the whole data set when it holds at most 512 points, else the library's seeded draw
            yb = self.data if self.n <= 512 else self.data[torch.tensor(batch_indices(self.a.seed, it, self.n, 512))]
            zb, status = self.conj.gradient(yb, None, self.batch_stats)
            conv = float((status == STATUS_CONVERGED).float().mean())
        theta = self.net.theta.clone().requires_grad_(True)
        E = self.net.effective(theta)
        loss = self.net.value(self.chains.x, E).mean() - self.net.value(zb, E).mean()
        grad, = torch.autograd.grad(loss, theta)
        self.adam(grad.detach(), lr)
        return float(loss), acc, conv

    def run(self, log_every=0):
        torch = self.torch
        t0 = time.perf_counter()
        it = 0
        status = "Completed"
        while it < self.a.iterations:
            loss, acc, conv = self.step(it)
            if not math.isfinite(loss) or not bool(torch.isfinite(self.net.theta).all()):
                self.recoveries += 1
                self.net.theta = self.last_good.clone()
                self.net.refresh()
                if self.recoveries > 6:
                    status = "Diverged"
                    break
                self.m.zero_()
                self.v.zero_()
                self.steps = 0
                self.lr_scale *= 0.5
                continue
            self.last_good = self.net.theta.clone()
            it += 1
            self.loss_hist.append(loss)
            self.acc_hist.append(acc)
            self.conv_hist.append(conv)
            # FitHealth: windows of 10; acceptance < 5 % halves tau (4 times at most), converged < 50 % stops.
            for win, v in ((self.acc_window, acc), (self.conv_window, conv)):
                win.append(v)
                if len(win) > 10:
                    win.pop(0)
            if len(self.acc_window) >= 10:
                low_acc = not (sum(self.acc_window) / len(self.acc_window) >= 0.05)
                low_conv = not (sum(self.conv_window) / len(self.conv_window) >= 0.5)
                if low_acc and self.halvings < 4:
                    self.halvings += 1
                    self.tau *= 0.5
                    self.acc_window.clear()
                    self.conv_window.clear()
                elif low_conv:
                    status = "SolverFailed"
                    break
                elif low_acc:
                    status = "SamplerFailed"
                    break
            if log_every and it % log_every == 0:
                ls, bs = self.lang_stats.summary(), self.batch_stats.summary()
                print(f"  it {it} loss {loss:+.5f} acc {np.mean(self.acc_hist[-log_every:]):.3f} "
                      f"langevin solves {ls['mean_iterations']:.2f} it {ls['converged_share']:.4f} conv | "
                      f"batch {bs['mean_iterations']:.2f} it {bs['converged_share']:.4f} conv | "
                      f"{time.perf_counter() - t0:.1f}s", flush=True)
        self.loop_s = time.perf_counter() - t0
        self.done = it
        return status


def cmd_fit(a, torch):
    rep = blas_report(torch)
    print(f"torch {torch.__version__}, {rep['threads']} threads (OMP_WAIT_POLICY {rep['omp_wait_policy']}, load average "
          f"{rep['load_average'][0]:.1f}); BLAS: {', '.join(rep['blas_libraries']) or '?'} "
          f"[{rep['blas_info']}]; float32 matmul 1024^3: {rep['matmul_1024_gflops']:.1f} GFLOP/s", flush=True)
    for ln in rep["config_blas_lines"]:
        print("  torch config: " + ln[:200])
    f = Fitter(a, torch)
    st = f.start
    print(f"data {a.data}: n {f.n}, d {f.d}; start: lambda(A) {st.smallest:.4g}..{st.largest:.4g}, tau {f.tau:.4g}, "
          f"mode distance {st.mode_distance:.3g}, alpha {f.arch.alpha:.4g}; {f.arch.count} parameters; "
          f"solver {f.opts.reason}", flush=True)
    cov = mean = y_test = None
    err0 = err1 = None
    if a.truth_cov:
        cov = read_points(a.truth_cov, np.float64)
        mean = read_points(a.truth_mean, np.float64).ravel() if a.truth_mean else st.mean
        y_test = read_points(a.test) if a.test else test_points(mean, cov)
        err0, es0 = encode_error(f.net, y_test, cov)
        print(f"iteration 0: Hessian error {err0:.3%} (encode: {es0['mean_iterations']:.2f} it, "
              f"{es0['converged_share']:.4f} converged)", flush=True)
    status = f.run(a.log_every)
    ls, bs = f.lang_stats.summary(), f.batch_stats.summary()
    res = {"tag": a.tag, "command": "fit", "d": f.d, "n": f.n, "iterations": f.done, "status": status,
           "solver": f.opts.method, "solver_reason": f.opts.reason, "startup_s": f.startup_s, "loop_s": f.loop_s,
           "s_per_iteration": f.loop_s / max(f.done, 1), "peak_rss_mib": peak_mib(),
           "langevin_solves": ls, "batch_solves": bs,
           "mala_acceptance": float(np.mean(f.acc_hist)) if f.acc_hist else None,
           "final_loss": f.loss_hist[-1] if f.loss_hist else None, "tau": f.tau, "recoveries": f.recoveries,
           "step_halvings": f.halvings, "seed": a.seed, "threads": rep["threads"], "blas": rep}
    if cov is not None:
        err1, es1 = encode_error(f.net, y_test, cov)
        res.update({"hessian_error_start": err0, "hessian_error_end": err1, "encode_solves_end": es1})
    print(f"fit: d {f.d}, {f.done} iterations ({status}), solver {f.opts.method}; start-up {f.startup_s:.2f}s, "
          f"loop {f.loop_s:.1f}s = {res['s_per_iteration']:.3f} s/iteration; peak RSS {res['peak_rss_mib']:.0f} MiB; "
          f"MALA acceptance {res['mala_acceptance']:.3f}; Langevin solves {ls['mean_iterations']:.2f} it/point, "
          f"{ls['converged_share']:.4f} converged; batch solves {bs['mean_iterations']:.2f} it/point, "
          f"{bs['converged_share']:.4f} converged"
          + (f"; Hessian error {err0:.3%} at iteration 0, {err1:.3%} at the end" if cov is not None else ""), flush=True)
    if a.save_model:
        with open(a.save_model, "w") as fh:
            json.dump({"architecture": f.arch.describe(), "theta": [float(v) for v in f.net.theta],
                       "network": "conjugate", "iterations": f.done, "seed": a.seed}, fh)
    emit(a, res)
    return f, res


def emit(a, res):
    if a.out:
        d = os.path.dirname(os.path.abspath(a.out))
        os.makedirs(d, exist_ok=True)
        with open(a.out, "a") as fh:
            fh.write(json.dumps(res) + "\n")


# ------------------------------------------------------------------------------------------------ sample


def cmd_sample(a, torch):
    """Fits --iterations, then cmm sample --n N: FittedModel.Relative + SampleGenerator.Generate (one device)."""
    a.truth_cov = a.truth_mean = a.test = a.save_model = ""
    out, a.out = a.out, ""
    f, fit_res = cmd_fit(a, torch)
    a.out = out
    net, arch = f.net, f.arch
    torch.manual_seed(a.sample_seed)
    gen = torch.Generator().manual_seed(a.sample_seed)
    with torch.no_grad():
        # Model load: the solve options judged from Hess u at the centre; the latent mode grad u(0).
        t_load = time.perf_counter()
        Hc = net.hessian(net.value_grad(net.centre.unsqueeze(0), keep=True)[2])[0].double().numpy()
        s2 = float((arch.input_scale.astype("float64") ** 2).mean())
        opts = SolveOptions(arch.d, Hc, float(arch.kappa) / math.sqrt(s2), "Hess u at the centre")
        conj = Conjugate(net, opts)
        mode = net.value_grad(torch.zeros(1, arch.d))[1][0]
        curvature = 1.0 / (float(arch.kappa) / s2)  # FittedModel.LatentCurvature = 1 / CurvatureScale
        init_scale = 1.0 / math.sqrt(curvature)
        step = 0.1 / curvature
        load_s = time.perf_counter() - t_load
        print(f"sample: solver {opts.reason}; latent mode {mode[:4].tolist()}..., initial scale {init_scale:.4g}, "
              f"step {step:.4g}", flush=True)

        t0 = time.perf_counter()
        tune_stats, run_stats, diag_stats = SolveStats(), SolveStats(), SolveStats()
        tuning = Chains(mode + init_scale * torch.randn(1024, arch.d, generator=gen))
        tau, tune_acc, _, tune_status = tuning.run(conj, step, a.burn_in, gen, tune_stats, check_every=10, adapt=True,
                                                   burn_in=a.burn_in)
        t_tune = time.perf_counter() - t0
        chunk_chains = max(1, a.chunk)
        samples, accs, conv = [], [], []
        for c0 in range(0, a.n, chunk_chains):
            nc = min(chunk_chains, a.n - c0)
            ch = Chains(mode + init_scale * torch.randn(nc, arch.d, generator=gen))
            _, acc, _, _ = ch.run(conj, tau, a.burn_in + 1, gen, run_stats, check_every=10)
            accs.append(acc * nc)
            _, status = conj.gradient(ch.x, None, diag_stats)  # the diagnostics' cold solve at the final states
            conv.append(int((status == STATUS_CONVERGED).sum()))
            samples.append(net.value_grad(ch.x)[1])  # y = grad u(x)
        elapsed = time.perf_counter() - t0
    ys = torch.cat(samples).numpy()
    if a.save_samples:
        write_points(a.save_samples, ys)
    rs = run_stats.summary()
    res = {"tag": a.tag, "command": "sample", "d": arch.d, "n": a.n, "fit_iterations": f.done,
           "solver": opts.method, "solver_reason": opts.reason, "model_load_s": load_s, "tuning_s": t_tune,
           "sampling_s": elapsed, "samples_per_s": a.n / elapsed, "tuned_step": tau, "tuning_acceptance": tune_acc,
           "acceptance": sum(accs) / a.n, "langevin_solves": rs, "tuning_solves": tune_stats.summary(),
           "diagnostic_solve_converged_share": sum(conv) / a.n, "sample_mean": ys.mean(0)[:8].tolist(),
           "peak_rss_mib": peak_mib(), "fit": fit_res, "threads": torch.get_num_threads()}
    print(f"sample: n {a.n}, d {arch.d}: {elapsed:.2f}s (tuning {t_tune:.2f}s) = {res['samples_per_s']:.1f} samples/s; "
          f"step {tau:.4g}, acceptance {res['acceptance']:.3f}; solves {rs['mean_iterations']:.2f} it/point, "
          f"{rs['converged_share']:.4f} converged; peak RSS {res['peak_rss_mib']:.0f} MiB", flush=True)
    emit(a, res)


# ------------------------------------------------------------------------------------------------ main


def main(argv):
    a = parse_args(argv)
    if a.cmd == "gaussian-data":
        m, S = default_gaussian(a.dim)
        rng = np.random.default_rng(a.seed)
        y = (m + rng.standard_normal((a.n, a.dim)) @ np.linalg.cholesky(S).T).astype(np.float32)
        base = a.out[:-4] if a.out.lower().endswith(".csv") else a.out
        write_points(a.out, y)
        np.savetxt(base + ".mean.csv", m[None, :], delimiter=",", fmt="%.17g")
        np.savetxt(base + ".cov.csv", S, delimiter=",", fmt="%.17g")
        write_points(base + ".test.csv", test_points(m, S))
        print(f"wrote {a.out} ({a.n} x {a.dim}), {base}.mean.csv, {base}.cov.csv, {base}.test.csv (2000 test points)")
        return
    if a.cmd == "hessian-error":
        cov = read_points(a.truth_cov, np.float64)
        y, z = read_points(a.test), read_points(a.encoded)
        err = hessian_error(y, z, cov)
        print(json.dumps({"hessian_error": err}))
        return
    import torch
    torch.set_num_threads(max(1, a.threads))
    torch.manual_seed(a.seed)
    if a.cmd == "fit":
        cmd_fit(a, torch)
    else:
        cmd_sample(a, torch)


if __name__ == "__main__":
    main(sys.argv[1:])
