#!/usr/bin/python3
"""Python baselines for the CMM.Gpu side-by-side benchmarks (benchmarks only; never a dependency of the library or tests).

Same workloads and JSON keys as `dotnet run -c Release --project bench/CMM.Gpu.Bench -- compare`:
  pairwise n=N m=M d=D        0.5 |x_i - y_j|^2 as an n x m float32 matrix
  sinkhorn_iter n=N m=M d=D   one log-domain Sinkhorn iteration (f update, then g update), seconds per iteration
  icnn_value n=N w=W d=D      ICNN w(x) over n points (docs/icnn.md: 3 hidden layers of width W, softplus, rank-2 quadratic)
  icnn_grad n=N w=W d=D       grad_x w(x) via autograd
  icnn_lossgrad n=N w=W d=D   L = mean_i |grad w(y_i) - t_i|^2 and dL/dtheta via create_graph=True double backward

Implementations (median of repetitions after one warm-up call):
  torch-matmul       pairwise via |x|^2 + |y|^2 - 2 x y' (the usual tensorised form)
  torch-broadcast    pairwise via ((x[:, None] - y[None]) ** 2).sum(-1), where the n x m x d temporary fits
  torch-stored       Sinkhorn iteration with torch.logsumexp over a precomputed cost matrix
  torch-recompute    the same, recomputing the cost (matmul form) inside the iteration (what "online" costs in torch)
  pot-numpy          ot.sinkhorn(..., method='sinkhorn_log') on numpy float32 arrays, numItermax=K, stopThr=0, time / K
  pot-torch          the same on torch tensors (POT's torch backend)
  torch-autograd     the ICNN workloads (float32, batched matmuls; the parameters are softplus-reparameterised as in the library)

Run: /usr/bin/python3 bench/scripts/baselines.py [--quick] [--threads 2] [--out FILE.json] [--only icnn,pairwise,sinkhorn] [--icnn-n 1000,10000]
ICNN sizes: quick n = 10^3, 10^4, width 64, 256, d = 2, 16; full adds n = 10^5, 10^6 and d = 64. A size whose estimated
autograd temporaries exceed --max-bytes is skipped (printed); on a large machine pass e.g. --max-bytes 6e10.
Needs the Debian packages python3-torch, python3-pot, python3-numpy.
"""
import argparse
import datetime
import json
import math
import os
import platform
import statistics
import sys
import time


def median_time(call, warmup=1, reps=3, budget=3.0):
    for _ in range(warmup):
        call()
    samples, total = [], 0.0
    for _ in range(reps):
        t0 = time.perf_counter()
        call()
        dt = time.perf_counter() - t0
        samples.append(dt)
        total += dt
        if len(samples) >= 3 and total > budget:
            break
    return statistics.median(samples), samples


def key(workload, n, m, d):
    return f"{workload} n={n} m={m} d={d}"


def icnn_key(workload, n, width, d):
    return f"{workload} n={n} w={width} d={d}"


def icnn_baselines(args, torch, reps, budget, add):
    """The ICNN of docs/icnn.md in torch: s_1 = W_0 x + b_0, s_(k+1) = P_k z_k + W_k x + b_k, z = softplus(s),
    w = p'z_L + 1/2 x'(alpha I + D + R R')x + c'x with P, p, D = softplus(theta); three hidden layers, rank 2, alpha 0.1."""
    import torch.nn.functional as F

    sizes = ([int(v) for v in args.icnn_n.split(",")] if args.icnn_n else
             [1000, 10000] if args.quick else [1000, 10000, 100000, 1000000])
    dims = (2, 16) if args.quick else (2, 16, 64)
    alpha, rank = 0.1, 2

    def inv_softplus(y):
        return y + math.log(-math.expm1(-y))

    for n in sizes:
        for width in (64, 256):
            for d in dims:
                g = torch.Generator().manual_seed(1)
                widths = [width] * 3
                params = []
                prev = 0
                for h in widths:
                    params.append((torch.randn(h, d, generator=g) / math.sqrt(d)).requires_grad_())
                    params.append(torch.zeros(h).requires_grad_())
                    if prev:
                        params.append((inv_softplus(1.0 / prev) + 0.1 * torch.randn(h, prev, generator=g)).requires_grad_())
                    prev = h
                params.append(torch.full((prev,), inv_softplus(0.01 / prev)).requires_grad_())  # theta_p
                params.append(torch.full((d,), inv_softplus(1.0 - alpha)).requires_grad_())     # theta_D
                params.append((0.01 * torch.randn(d, rank, generator=g)).requires_grad_())      # R
                params.append(torch.zeros(d).requires_grad_())                                  # c

                def w(x):
                    i = 0
                    z = None
                    for layer in range(3):
                        s = x @ params[i].T + params[i + 1]
                        i += 2
                        if layer > 0:
                            s = s + z @ F.softplus(params[i]).T
                            i += 1
                        z = F.softplus(s)
                    p, dg, r, c = F.softplus(params[i]), F.softplus(params[i + 1]), params[i + 2], params[i + 3]
                    quad = ((alpha + dg) * x * x).sum(1) + ((x @ r) ** 2).sum(1)
                    return z @ p + 0.5 * quad + x @ c

                x = torch.rand(n, d, generator=g) * 4 - 2
                t = torch.rand(n, d, generator=g) * 4 - 2
                hsum = sum(widths)
                for kind, temps in (("icnn_value", 2), ("icnn_grad", 6), ("icnn_lossgrad", 14)):
                    k = icnn_key(kind, n, width, d)
                    if n * hsum * 4 * temps > args.max_bytes:
                        print(f"  {k:32s} torch-autograd      skipped: ~{n * hsum * 4 * temps / 1e9:.1f} GB of temporaries > --max-bytes",
                              file=sys.stderr, flush=True)
                        continue
                    if kind == "icnn_value":
                        def call():
                            with torch.no_grad():
                                return w(x)
                    elif kind == "icnn_grad":
                        def call():
                            xx = x.detach().requires_grad_()
                            return torch.autograd.grad(w(xx).sum(), xx)[0]
                    else:
                        def call():
                            yy = x.detach().requires_grad_()
                            gy = torch.autograd.grad(w(yy).sum(), yy, create_graph=True)[0]
                            loss = ((gy - t) ** 2).sum(1).mean()
                            return torch.autograd.grad(loss, params)
                    sec, ss = median_time(call, reps=reps, budget=budget)
                    results_note = "autograd" if kind != "icnn_lossgrad" else "create_graph=True double backward"
                    add(kind, n, width, d, "torch-autograd", sec, ss, results_note, key_override=k)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=None)
    ap.add_argument("--max-bytes", type=float, default=2e9, help="skip a variant whose largest temporary exceeds this")
    ap.add_argument("--only", default=None, help="comma-separated workload prefixes (pairwise, sinkhorn_iter, icnn)")
    ap.add_argument("--icnn-n", default=None, help="comma-separated ICNN batch sizes (overrides the mode's list)")
    args = ap.parse_args()

    import numpy as np
    import torch
    import ot

    load_before = os.getloadavg()
    torch.set_num_threads(args.threads)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    reps, budget = (3, 3.0) if args.quick else (7, 10.0)
    results = []

    def add(workload, n, m, d, impl, seconds, samples, note="", key_override=None):
        k = key_override or key(workload, n, m, d)
        results.append(dict(key=k, workload=workload, n=n, m=m, d=d, impl=impl,
                            seconds=seconds, samples=samples, note=note))
        print(f"  {k:32s} {impl:18s} {seconds * 1e3:10.3f} ms", file=sys.stderr, flush=True)

    def uniform(count, d, seed):
        g = torch.Generator().manual_seed(seed)
        return torch.rand(count, d, generator=g, dtype=torch.float32)

    def cost_matmul(x, y):
        xx = (x * x).sum(1)[:, None]
        yy = (y * y).sum(1)[None, :]
        return (0.5 * (xx + yy - 2.0 * x @ y.T)).clamp_(min=0)

    only = args.only.split(",") if args.only else None

    def wants(workload):
        return only is None or any(workload.startswith(o) for o in only)

    pair_sizes = ([1000, 2047] if args.quick else [1000, 2047, 4001]) if wants("pairwise") else []
    with torch.no_grad():
        for n in pair_sizes:
            for d in (2, 16, 64):
                x, y = uniform(n, d, 1), uniform(n, d, 2)
                s, ss = median_time(lambda: cost_matmul(x, y), reps=reps, budget=budget)
                add("pairwise", n, n, d, "torch-matmul", s, ss)
                if n * n * d * 4 <= args.max_bytes:
                    s, ss = median_time(lambda: 0.5 * ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1), reps=reps, budget=budget)
                    add("pairwise", n, n, d, "torch-broadcast", s, ss)

        sink = ([(1000, 2), (1000, 16), (1000, 64), (2047, 2), (2047, 16), (2047, 64), (4001, 2)] if args.quick else
                [(1000, 2), (1000, 16), (1000, 64), (2047, 2), (2047, 16), (2047, 64), (4001, 2), (4001, 16), (4001, 64),
                 (10007, 2), (10007, 16), (20011, 2)])
        for n, d in (sink if wants("sinkhorn_iter") else []):
            m = n
            x, y = uniform(n, d, 3), uniform(m, d, 4)
            eps = 0.05 * d / 12.0  # 5 % of the mean cost of uniform [0, 1]^d clouds, as in the C# runner
            log_a = torch.full((n,), -math.log(n))
            log_b = torch.full((m,), -math.log(m))
            if 3 * n * m * 4 > args.max_bytes:
                continue
            c = cost_matmul(x, y)
            state = {"f": torch.zeros(n), "g": torch.zeros(m)}

            def iteration(cm):
                f = eps * (log_a - torch.logsumexp((state["g"][None, :] - cm) / eps + log_b[None, :], dim=1))
                g = eps * (log_b - torch.logsumexp((f[:, None] - cm) / eps + log_a[:, None], dim=0))
                state["f"], state["g"] = f, g

            s, ss = median_time(lambda: iteration(c), reps=reps, budget=budget)
            add("sinkhorn_iter", n, m, d, "torch-stored", s, ss)
            s, ss = median_time(lambda: iteration(cost_matmul(x, y)), reps=reps, budget=budget)
            add("sinkhorn_iter", n, m, d, "torch-recompute", s, ss, "cost recomputed (matmul form) every iteration")

            K = 10
            a = np.full(n, 1.0 / n, dtype=np.float32)
            b = np.full(m, 1.0 / m, dtype=np.float32)
            cn = c.numpy()
            s, ss = median_time(lambda: ot.sinkhorn(a, b, cn, eps, method="sinkhorn_log", numItermax=K, stopThr=0.0, warn=False),
                                reps=reps, budget=budget)
            add("sinkhorn_iter", n, m, d, "pot-numpy", s / K, [v / K for v in ss], f"ot.sinkhorn sinkhorn_log, {K} iterations per call, float32")
            ta, tb = torch.from_numpy(a), torch.from_numpy(b)
            s, ss = median_time(lambda: ot.sinkhorn(ta, tb, c, eps, method="sinkhorn_log", numItermax=K, stopThr=0.0, warn=False),
                                reps=reps, budget=budget)
            add("sinkhorn_iter", n, m, d, "pot-torch", s / K, [v / K for v in ss], f"ot.sinkhorn sinkhorn_log, torch backend, {K} iterations per call")

    if wants("icnn"):
        icnn_baselines(args, torch, reps, budget, add)

    doc = dict(tool="python-baselines",
               date_utc=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
               host=dict(python=platform.python_version(), torch=torch.__version__, pot=ot.__version__, numpy=np.__version__,
                         torch_threads=torch.get_num_threads(), cpu_count=os.cpu_count(), machine=platform.machine(),
                         load_average_before=load_before, load_average_after=os.getloadavg()),
               quick=args.quick, results=results)
    text = json.dumps(doc, indent=2)
    if args.out:
        tmp = args.out + ".tmp"
        with open(tmp, "w") as fh:
            fh.write(text)
        os.replace(tmp, args.out)
        print("wrote " + args.out)
    else:
        print(text)


if __name__ == "__main__":
    main()
