"""PyTorch replica of the CMM semi-dual fitting recipe on the 2-D toys (sharp-modes study).

Reference for bench/scripts/results/sharp-modes-study.md, not part of the library. It replicates the library's
default recipe in data coordinates:

- ICNN v(u), u = (y - mu)/s (mu: data mean, s: RMS standard deviation), w(y) = kappa v(u) with kappa = s^(4/3);
  hidden 32,32 softplus, P = softplus(theta) >= 0, output p = softplus(theta) >= 0, quadratic
  1/2 u'(alpha~ I + D + R R')u + c~'u with D = softplus(theta) diagonal and R of rank min(d, 16).
- Gaussian start: the quadratic + linear part of w equals the closed-form CMM potential of the data's Gaussian
  approximation N(m, S): w(y) = 1/2 (y - mu)'A(y - mu) + c_y'(y - mu), A = S^(-1/3), c_y = (I + A)^(-1) A mu;
  strong convexity alpha_y = alpha lambda_min(A); D = half the smallest eigenvalue of s^2 (A - alpha_y I)/kappa,
  R R' the rest; p = softplus^-1(1e-4/h_L); W ~ N(0, 1/d), b ~ N(0, 2^2), P = softplus^-1(e^(0.1 N)/h_prev).
- 512 persistent MALA chains started from the Gaussian start's latent N(mu - A^(-1) c_y, A^(-1)); 5 MALA steps of
  tau = 0.3/lambda_max(A) per outer iteration; the particles are decoded by damped Newton (Armijo, <= 50 its,
  |grad w(y) - x| <= 1e-4 + 1e-4 |x|) from y = x; loss = mean_i w(y_i) - mean_j w(stopgrad(y_j)) on a batch of
  512 data points; one Adam step per iteration, lr cosine 0.1 -> 1e-3 over the iterations, clipping at norm 10.
- Evaluation: 4,000 fresh chains from the latent Gaussian start, MALA with its step adapted towards 55 %
  acceptance, 300 burn-in steps, decoded by the conjugate solve, against 4,000 fresh target points: k-NN (k = 3)
  precision and recall as in SampleMetrics.ManifoldCoverage / MetricsEvaluator (2,000 vs 2,000, 5 splits, each
  beside the same metric between the two halves of the target sample) and the mode metrics of the study.

Flags select every factor of the study (activation and its temperature, quadratic input terms, widths, init, the
quadratic term's training, optimiser, sampler, objective) and the parametrisation: --param conj makes the ICNN
represent u = w* instead of w (samples y = grad u(x) explicitly; w = u* is evaluated by the same damped-Newton solve,
inside every Langevin step and for the data batch; the semi-dual gradient is unchanged). The study's result
(bench/scripts/results/sharp-modes-study.md): --param conj with a sharp activation (--beta 8, or --act celu --beta 4)
separates the eight-gaussians' modes; nothing tried in the w parametrisation does. The derivatives w, grad w, Hess w
are computed in closed form by forward-mode propagation (d is 2, so per-unit Hessians are 2 x 2); the parameter
gradient of the loss by autograd. --check 1 compares them with autograd.
Run with /usr/bin/python3 (needs torch), one process at a time:
    OMP_NUM_THREADS=1 /usr/bin/python3 bench/scripts/cmm_replica_2d.py --data eight-gaussians --seed 1
    OMP_NUM_THREADS=1 /usr/bin/python3 bench/scripts/cmm_replica_2d.py --data eight-gaussians --param conj --beta 8
Prints one result line per run; --out appends the same as a JSON line; --fig writes data | generated | latent;
--save writes the samples. Dataset points use numpy's generator, so they follow the library's laws, not its draws.
"""
import argparse, json, math, os, time
import numpy as np
import torch

os.environ.setdefault("OMP_NUM_THREADS", "1")
torch.set_num_threads(1)

ap = argparse.ArgumentParser()
ap.add_argument("--data", default="eight-gaussians")
ap.add_argument("--n", type=int, default=20000, help="training points")
ap.add_argument("--seed", type=int, default=1)
ap.add_argument("--it", type=int, default=1200)
ap.add_argument("--lr", type=float, default=0.1)
ap.add_argument("--lrf", type=float, default=1e-3)
ap.add_argument("--clip", type=float, default=10.0)
ap.add_argument("--h", default="32,32", help="hidden widths")
ap.add_argument("--act", default="softplus", choices=["softplus", "celu", "leaky"],
                help="softplus(beta a)/beta; celu: a if a > 0 else (exp(beta a) - 1)/beta; "
                     "leaky: slope*a + (1 - slope) softplus(beta a)/beta")
ap.add_argument("--beta", type=float, default=1.0, help="activation sharpness (temperature 1/beta)")
ap.add_argument("--learn-beta", type=int, default=0, help="1: per-unit learnable beta (softplus-parametrised)")
ap.add_argument("--slope", type=float, default=0.01, help="negative-side slope of --act leaky")
ap.add_argument("--quad-in", default="none", choices=["none", "first", "all"],
                help="add sum of (q_j'u)^2 to the pre-activation of unit j of the first / every layer (convex)")
ap.add_argument("--quad-init", type=float, default=0.1, help="std of the q_j entries of --quad-in")
ap.add_argument("--quad-rank", type=int, default=1, help="--quad-in adds sum_r (q_jr'u)^2, r = 1..rank (2: ellipses)")
ap.add_argument("--init", default="gauss", choices=["gauss", "identity"],
                help="gauss: quadratic part = CMM potential of the Gaussian approximation; identity: 1/2 |u|^2 in "
                     "normalised coordinates, c = 0")
ap.add_argument("--param", default="w", choices=["w", "conj"],
                help="w: the ICNN is w (library); conj: the ICNN is u = w*, so samples are y = grad u(x) explicitly and "
                     "the conjugate solves move to the Langevin steps (w = u*) and to the data batch")
ap.add_argument("--objective", default="semidual", choices=["semidual", "ml"],
                help="semidual (library): E_rho[w] - E_model[w]; ml: maximum likelihood, loss E_rho[w(grad w(y)) - "
                     "log det Hess w(y)] - E_latent[w(x)] (its gradient is -d E_rho log q_w; the particles give log Z_w's "
                     "gradient, no conjugate solve in training; --param w only)")
ap.add_argument("--alpha", type=float, default=0.1, help="strong convexity, relative to lambda_min(A)")
ap.add_argument("--quad-train", default="train", choices=["train", "freeze", "anneal", "none"],
                help="the D + R R' term: train (default) | freeze at its init | anneal: multiplied by a factor going "
                     "linearly from 1 to 0 over --anneal-it iterations (trained meanwhile) | none: absent, the "
                     "network alone carries the curvature above alpha")
ap.add_argument("--anneal-it", type=int, default=400)
ap.add_argument("--quad-decay", type=float, default=0.0,
                help="penalty lambda (tr D + |R|_F^2) (v units) added to the loss: pushes the curvature into the net")
ap.add_argument("--pinit", type=float, default=1e-4, help="output weights p = pinit/h_L at init")
ap.add_argument("--P", type=int, default=512, help="particles")
ap.add_argument("--B", type=int, default=512, help="batch")
ap.add_argument("--K", type=int, default=5, help="MALA steps per iteration")
ap.add_argument("--tau", type=float, default=0.3, help="MALA step, relative to 1/lambda_max(A)")
ap.add_argument("--sampler", default="mala", choices=["mala", "ula"])
ap.add_argument("--refresh", type=float, default=0.0,
                help="share of the persistent chains restarted from the latent Gaussian start every iteration")
ap.add_argument("--warm", type=int, default=0, help="1: warm-start the particles' conjugate solve at last decode")
ap.add_argument("--newton", type=int, default=50)
ap.add_argument("--eval-n", type=int, default=4000)
ap.add_argument("--burn", type=int, default=300)
ap.add_argument("--dtype", default="float64", choices=["float32", "float64"])
ap.add_argument("--out", default="", help="append a JSON line here")
ap.add_argument("--fig", default="", help="write a PNG figure here")
ap.add_argument("--tag", default="")
ap.add_argument("--save", default="", help="write the generated samples, their latents and the target to this .npz")
ap.add_argument("--log-every", type=int, default=0)
ap.add_argument("--check", type=int, default=0, help="1: check the closed-form derivatives against autograd and exit")
a = ap.parse_args()

DT = torch.float64 if a.dtype == "float64" else torch.float32
torch.manual_seed(a.seed)
np.random.seed(a.seed)

# ----------------------------------------------------------------------------------------------- datasets


def dataset(name, n, rng):
    N = rng.standard_normal
    if name == "eight-gaussians":
        k = rng.integers(0, 8, n)
        ang = k * math.pi / 4
        p = np.stack([4 * np.cos(ang) + 0.5 * N(n), 4 * np.sin(ang) + 0.5 * N(n)], 1) / 1.414
    elif name == "checkerboard":
        x1 = rng.random(n) * 4 - 2
        x2 = rng.random(n) - rng.integers(0, 2, n) * 2
        x2 = x2 + np.floor(x1) % 2
        p = 2 * np.stack([x1, x2], 1)
    elif name == "circles":
        t = 2 * math.pi * rng.random(n)
        r = np.where(np.arange(n) % 2 == 0, 1.0, 0.5)
        p = 3 * np.stack([r * np.cos(t) + 0.08 * N(n), r * np.sin(t) + 0.08 * N(n)], 1)
    elif name == "moons":
        t = math.pi * rng.random(n)
        ev = np.arange(n) % 2 == 0
        x = np.where(ev, np.cos(t), 1 - np.cos(t)) + 0.1 * N(n)
        y = np.where(ev, np.sin(t), 0.5 - np.sin(t)) + 0.1 * N(n)
        p = np.stack([2 * x - 1, 2 * y - 0.2], 1)
    elif name == "swiss-roll":
        t = 1.5 * math.pi * (1 + 2 * rng.random(n))
        p = np.stack([t * np.cos(t) + N(n), t * np.sin(t) + N(n)], 1) / 5
    elif name == "pinwheel":
        f0 = 1 + 0.3 * N(n)
        f1 = 0.1 * N(n)
        ang = 2 * math.pi * (np.arange(n) % 5) / 5 + 0.25 * np.exp(f0)
        c, s = np.cos(ang), np.sin(ang)
        p = 2 * np.stack([f0 * c + f1 * s, -f0 * s + f1 * c], 1)
    elif name == "gaussian":  # DefaultGaussian(2): sanity check of the Gaussian start (should be at the floor)
        S = np.array([[2.0, 0.6], [0.6, 0.5]])
        p = np.array([1.0, -0.5]) + N((n, 2)) @ np.linalg.cholesky(S).T
    else:
        raise SystemExit("unknown dataset " + name)
    return p.astype(np.float64)


CENTRES8 = np.array([[4 * math.cos(k * math.pi / 4), 4 * math.sin(k * math.pi / 4)] for k in range(8)]) / 1.414
SD8 = 0.5 / 1.414


def mode_metrics(name, y):
    """Dataset-specific share of mass where the target has (almost) none."""
    out = {}
    if name == "eight-gaussians":
        dist = np.linalg.norm(y[:, None, :] - CENTRES8[None], axis=2)
        near = dist.argmin(1)
        share = np.bincount(near, minlength=8) / len(y)
        out["gap"] = float(np.mean(dist.min(1) > 3 * SD8))  # farther than 3 sd from every centre
        out["gap4"] = float(np.mean(dist.min(1) > 4 * SD8))  # farther than 4 sd: bridges, not wider modes
        # spread of each mode: radial and tangential sd of the points nearest it (target 0.354 each; a mode 20 %
        # wider alone puts exp(-4.5/1.44) = 4.4 % of its mass beyond 3 sd)
        rel = y - CENTRES8[near]
        radial = CENTRES8[near] / np.linalg.norm(CENTRES8[near], axis=1, keepdims=True)
        rr = (rel * radial).sum(1)
        tt = rel[:, 0] * radial[:, 1] - rel[:, 1] * radial[:, 0]
        out["sd_rad"] = float(np.sqrt(np.mean(rr ** 2)))
        out["sd_tan"] = float(np.sqrt(np.mean(tt ** 2)))
        out["mode_min"] = float(share.min())
        out["mode_max"] = float(share.max())
    elif name == "checkerboard":
        q = y / 2
        inside = (np.abs(q) <= 2).all(1) & ((np.floor(q[:, 0]) + np.floor(q[:, 1])) % 2 == 0)
        out["gap"] = float(1 - inside.mean())  # outside the 8 occupied squares
    elif name == "circles":
        r = np.linalg.norm(y, axis=1)
        out["gap"] = float(np.mean(np.abs(r - 2.25) < 0.25))  # between the rings (radii 1.5 and 3, sd 0.24)
        out["hole"] = float(np.mean(r < 0.75))  # inside the inner ring
    elif name == "moons":
        # the bridge region: points farther than 0.4 from both noiseless half-circles (noise sd 0.2)
        t = np.linspace(0, math.pi, 400)
        c1 = np.stack([2 * np.cos(t) - 1, 2 * np.sin(t) - 0.2], 1)
        c2 = np.stack([2 * (1 - np.cos(t)) - 1, 2 * (0.5 - np.sin(t)) - 0.2], 1)
        curve = np.concatenate([c1, c2])
        d = np.sqrt(((y[:, None, :] - curve[None]) ** 2).sum(2)).min(1)
        out["gap"] = float(np.mean(d > 0.6))
    return out


# ----------------------------------------------------------------------------------------------- metrics


def coverage(query, ref, k=3):
    """SampleMetrics.ManifoldCoverage: share of query points inside the union of the k-NN balls of ref."""
    dr = ((ref[:, None, :] - ref[None]) ** 2).sum(2)
    np.fill_diagonal(dr, np.inf)
    rad2 = np.partition(dr, k - 1, axis=1)[:, k - 1]
    dq = ((query[:, None, :] - ref[None]) ** 2).sum(2)
    return float(np.mean((dq <= rad2[None]).any(1)))


def knn_metrics(gen, held, splits=5, seed=12345):
    h = min(len(held) // 2, len(gen))
    acc = np.zeros(4)
    for r in range(splits):
        rng = np.random.default_rng(seed + 2 * r)
        perm = rng.permutation(len(held))
        A, B = held[perm[:h]], held[perm[h:2 * h]]
        G = gen[np.random.default_rng(seed + 2 * r + 1).permutation(len(gen))[:h]]
        acc += [coverage(G, B), coverage(A, B), coverage(B, G), coverage(B, A)]
    return acc / splits


# ----------------------------------------------------------------------------------------------- model

rng = np.random.default_rng(1000 + a.seed)
data_np = dataset(a.data, a.n, rng)
d = 2
mu_np = data_np.mean(0)
S_np = np.cov(data_np.T, bias=True)
s = math.sqrt(np.trace(S_np) / d)
kappa = s ** (4 / 3)
ev, U = np.linalg.eigh(S_np)
A_np = U @ np.diag(ev ** (-1 / 3)) @ U.T
lamA = np.linalg.eigvalsh(A_np)
cy_np = np.linalg.solve(np.eye(d) + A_np, A_np @ mu_np)
lat_mean_np = mu_np - np.linalg.solve(A_np, cy_np)
if a.param == "w":  # the ICNN v lives on u = (y - mu)/s, w(y) = kappa v(u)
    centre_np, scale, kap = mu_np, s, kappa
    alpha_y = a.alpha * lamA.min()
    alpha_t = alpha_y * s * s / kappa
    if a.init == "gauss":
        M = s * s * (A_np - alpha_y * np.eye(d)) / kappa
        c_t = cy_np * s / kappa
        lat_cov_np = np.linalg.inv(A_np)
    else:  # v = 1/2 |u|^2: w = kappa/(2 s^2) |y - mu|^2 = s^(-2/3)/2 |y - mu|^2, latent N(mu, s^(2/3) I)
        M = (1 - alpha_t) * np.eye(d)
        c_t = np.zeros(d)
        lat_mean_np = mu_np.copy()
        lat_cov_np = s ** (2 / 3) * np.eye(d)
else:  # the ICNN is u = w* on t = (x - m_x)/s_x, u(x) = kappa_u v(t), kappa_u = s s_x; start u = w0*
    if a.init != "gauss":
        raise SystemExit("--param conj supports --init gauss only")
    Ainv = np.linalg.inv(A_np)
    lat_cov_np = Ainv
    s_x = math.sqrt(np.trace(Ainv) / d)
    centre_np, scale, kap = lat_mean_np, s_x, s * s_x
    alpha_x = a.alpha * np.linalg.eigvalsh(Ainv).min()
    alpha_t = alpha_x * s_x ** 2 / kap
    M = s_x ** 2 * (Ainv - alpha_x * np.eye(d)) / kap
    c_t = (s_x / kap) * (mu_np + Ainv @ (lat_mean_np - cy_np))  # grad w0*(m_x), w0*(x) = mu'x + 1/2 (x - c_y)'A^-1(x - c_y)
Mev, MU = np.linalg.eigh(M)
D0 = 0.5 * Mev.min()
R0 = MU @ np.diag(np.sqrt(np.maximum(Mev - D0, 0)))  # d x r, r = d
TAU = a.tau / lamA.max()  # 0.3 / lambda_max(A): the Gaussian start's latent is N(m_x, A^-1) in both parametrisations

T = lambda x: torch.tensor(x, dtype=DT)
mu, lat_mean, centre = T(mu_np), T(lat_mean_np), T(centre_np)
A_t, cy_t = T(A_np), T(cy_np)
lat_chol = T(np.linalg.cholesky(lat_cov_np))
data = T(data_np)
H = [int(x) for x in a.h.split(",")]
sp = torch.nn.functional.softplus


def isp(y):
    return math.log(math.expm1(y))


class Pot(torch.nn.Module):
    def __init__(self):
        super().__init__()
        P_ = torch.nn.Parameter
        self.W = torch.nn.ParameterList([P_(torch.randn(h, d, dtype=DT) / math.sqrt(d)) for h in H])
        self.b = torch.nn.ParameterList([P_(2.0 * torch.randn(h, dtype=DT)) for h in H])
        self.P = torch.nn.ParameterList([
            P_(T(np.vectorize(isp)(np.exp(0.1 * np.random.randn(H[l], H[l - 1])) / H[l - 1])))
            for l in range(1, len(H))])
        self.p = P_(torch.full((H[-1],), isp(a.pinit / H[-1]), dtype=DT))
        self.beta = torch.nn.ParameterList([P_(torch.full((h,), isp(a.beta), dtype=DT)) for h in H]) \
            if a.learn_beta else None
        nq = {"none": 0, "first": 1, "all": len(H)}[a.quad_in]
        self.q = torch.nn.ParameterList([P_(a.quad_init * torch.randn(H[l], a.quad_rank, d, dtype=DT))
                                        for l in range(nq)])
        self.Dt = P_(torch.full((d,), isp(D0), dtype=DT))
        self.R = P_(T(R0))
        self.c = P_(T(c_t))
        if a.quad_train in ("freeze", "none"):
            self.Dt.requires_grad_(False)
            self.R.requires_grad_(False)
        self.qscale = 0.0 if a.quad_train == "none" else 1.0

    def betas(self, l):
        return sp(self.beta[l]) if self.beta is not None else a.beta

    def act(self, x, l):
        """f, f', f'' of layer l's activation."""
        bt = self.betas(l)
        if a.act == "celu":
            e = torch.exp(torch.clamp(bt * x, max=0.0))
            pos = x > 0
            f = torch.where(pos, x, (e - 1) / bt)
            f1 = torch.where(pos, torch.ones_like(x), e)
            f2 = torch.where(pos, torch.zeros_like(x), bt * e)
            return f, f1, f2
        sg = torch.sigmoid(bt * x)
        f, f1, f2 = sp(bt * x) / bt, sg, bt * sg * (1 - sg)
        if a.act == "leaky":
            k = a.slope
            f, f1, f2 = k * x + (1 - k) * f, k + (1 - k) * f1, (1 - k) * f2
        return f, f1, f2

    def Q(self):
        return alpha_t * torch.eye(d, dtype=DT) + self.qscale * (torch.diag(sp(self.Dt)) + self.R @ self.R.T)

    def forward(self, u):
        """v(u), differentiable in the parameters."""
        z = None
        for l in range(len(H)):
            x = u @ self.W[l].T + self.b[l]
            if l > 0:
                x = x + z @ sp(self.P[l - 1]).T
            if l < len(self.q):
                x = x + (torch.einsum("nd,jrd->njr", u, self.q[l]) ** 2).sum(2)
            z = self.act(x, l)[0]
        return z @ sp(self.p) + 0.5 * ((u @ self.Q()) * u).sum(1) + u @ self.c

    @torch.no_grad()
    def derivs(self, u, order):
        return self.derivs_graph(u, order)

    def derivs_graph(self, u, order):
        """v, grad_u v, Hess_u v by forward-mode propagation (order 0, 1 or 2), differentiable in the parameters."""
        n = u.shape[0]
        z = Jz = Hz = None
        for l in range(len(H)):
            W = self.W[l]
            x = u @ W.T + self.b[l]
            Jx = W.expand(n, -1, -1) if order >= 1 else None
            Hx = None
            if l > 0:
                P = sp(self.P[l - 1])
                x = x + z @ P.T
                if order >= 1:
                    Jx = Jx + torch.einsum("nid,ji->njd", Jz, P)
                if order >= 2:
                    Hx = torch.einsum("nide,ji->njde", Hz, P)
            if l < len(self.q):
                q = self.q[l]  # [h, rank, d]
                qu = torch.einsum("nd,jrd->njr", u, q)
                x = x + (qu ** 2).sum(2)
                if order >= 1:
                    Jx = Jx + 2 * torch.einsum("njr,jrd->njd", qu, q)
                if order >= 2:
                    qq = 2 * torch.einsum("jrd,jre->jde", q, q)
                    Hx = qq.expand(n, -1, -1, -1) if Hx is None else Hx + qq
            z, f1, f2 = self.act(x, l)
            if order >= 1:
                Jz = f1[:, :, None] * Jx
            if order >= 2:
                Hz = f2[:, :, None, None] * Jx[:, :, :, None] * Jx[:, :, None, :]
                if Hx is not None:
                    Hz = Hz + f1[:, :, None, None] * Hx
        p = sp(self.p)
        Q = self.Q()
        v = z @ p + 0.5 * ((u @ Q) * u).sum(1) + u @ self.c
        g = torch.einsum("nid,i->nd", Jz, p) + u @ Q + self.c if order >= 1 else None
        Hs = torch.einsum("nide,i->nde", Hz, p) + Q if order >= 2 else None
        return v, g, Hs


pot = Pot()
if a.check:
    with torch.no_grad():  # make the network part matter for the check
        pot.p.add_(8.0)
    u = torch.randn(7, d, dtype=DT, requires_grad=True)
    v = pot(u)
    g, = torch.autograd.grad(v.sum(), u, create_graph=True)
    Hs = torch.stack([torch.autograd.grad(g[:, i].sum(), u, retain_graph=True)[0] for i in range(d)], 1)
    v2, g2, H2 = pot.derivs(u.detach(), 2)
    print("check: |dv|", (v - v2).abs().max().item(), "|dg|", (g - g2).abs().max().item(), "|dH|",
          (Hs - H2).abs().max().item(), "|H|", Hs.abs().max().item())
    raise SystemExit


def ufun(y, order):
    """The ICNN in outer coordinates: kap v((y - centre)/scale) and its derivatives (w itself, or u = w* for conj)."""
    v, g, Hs = pot.derivs((y - centre) / scale, order)
    return kap * v, (None if g is None else g * (kap / scale)), (None if Hs is None else Hs * (kap / scale ** 2))


def newton(fun, x, y0, iters):
    """argmin_y fun(y) - <x, y> (i.e. grad fun^-1(x)): damped Newton with Armijo backtracking, per point;
    stops at |grad fun(y) - x| <= 1e-4 + 1e-4 |x|; returns y, converged share, mean iterations."""
    y = y0.clone()
    act = torch.arange(len(x))
    its = torch.zeros(len(x))
    tolv = 1e-4 + 1e-4 * x.norm(dim=1)
    for _ in range(iters):
        ya, xa = y[act], x[act]
        w, g, Hs = fun(ya, 2)
        r = g - xa
        keep = r.norm(dim=1) > tolv[act]
        if not keep.any():
            act = act[:0]
            break
        act, ya, xa, w, r, Hs = act[keep], ya[keep], xa[keep], w[keep], r[keep], Hs[keep]
        its[act] += 1
        step = -torch.linalg.solve(Hs, r.unsqueeze(-1)).squeeze(-1)
        phi = w - (xa * ya).sum(1)
        slope = (r * step).sum(1)
        t = torch.ones(len(act), dtype=DT)
        todo = torch.ones(len(act), dtype=torch.bool)
        for _ in range(30):
            yn = ya[todo] + t[todo, None] * step[todo]
            wn = fun(yn, 0)[0]
            ok = wn - (xa[todo] * yn).sum(1) <= phi[todo] + 1e-4 * t[todo] * slope[todo]
            idx = todo.nonzero().squeeze(1)
            todo[idx[ok]] = False
            t[idx[~ok]] *= 0.5
            if not todo.any():
                break
        y[act] = ya + t[:, None] * step
    conv = 1 - len(act) / len(x)
    return y, conv, its.mean().item()


SOLVES = []  # (converged share, mean iterations) of the solves inside the Langevin steps (conj)


def energy(x, z0=None):
    """The latent energy w(x) and grad w(x), plus a warm-start state: w = ICNN, or w = u* (conj: z = grad u*(x))."""
    if a.param == "w":
        w, g, _ = ufun(x, 1)
        return w, g, None
    z, conv, its = newton(ufun, x, x.clone() if z0 is None else z0, a.newton)
    SOLVES.append((conv, its))
    return (x * z).sum(1) - ufun(z, 0)[0], z, z


def decode(x, iters, y0=None):
    """Samples from latents: grad w*(x) by the conjugate solve, or grad u(x) explicitly (conj)."""
    if a.param == "w":
        return newton(ufun, x, x.clone() if y0 is None else y0, iters)
    return ufun(x, 1)[1], 1.0, 0.0


def hess_w(y):
    """Hess w at data points y (conj: the inverse of Hess u at grad w(y))."""
    if a.param == "w":
        return ufun(y, 2)[2]
    z = newton(ufun, y, (y - mu) @ A_t + cy_t, 100)[0]
    return torch.linalg.inv(ufun(z, 2)[2])


def langevin(x, tau, K, adapt=False, state=None):
    """K MALA (or ULA) steps on exp(-w); adapt: per-step tau update towards 55 % acceptance. state: warm starts of the
    conj solves (grad w(x)), carried along; returns x, acceptance, tau, state."""
    w, g, st = energy(x, state)
    accs = []
    for _ in range(K):
        xp = x - tau * g + math.sqrt(2 * tau) * torch.randn_like(x)
        wp, gp, stp = energy(xp, st)
        if a.sampler == "ula" and not adapt:
            x, w, g, st = xp, wp, gp, stp
            accs.append(1.0)
            continue
        lq_fwd = -((xp - x + tau * g) ** 2).sum(1) / (4 * tau)
        lq_bwd = -((x - xp + tau * gp) ** 2).sum(1) / (4 * tau)
        la = -wp + w + lq_bwd - lq_fwd
        acc = torch.log(torch.rand(len(x), dtype=DT)) < la
        x = torch.where(acc[:, None], xp, x)
        w = torch.where(acc, wp, w)
        g = torch.where(acc[:, None], gp, g)
        if st is not None:
            st = torch.where(acc[:, None], stp, st)
        ar = acc.to(DT).mean().item()
        accs.append(ar)
        if adapt:
            tau *= math.exp(ar - 0.55)
    return x, float(np.mean(accs)), tau, st


def latent_start(n):
    return lat_mean + torch.randn(n, d, dtype=DT) @ lat_chol.T


# ----------------------------------------------------------------------------------------------- fit

params = [q for q in pot.parameters() if q.requires_grad]
opt = torch.optim.Adam(params, lr=a.lr)
X = latent_start(a.P)
Y = X.clone()
Zx = None  # conj: grad w at the particles (warm starts)
Zdata = (data - mu) @ A_t + cy_t  # conj: grad w at every training point, warm starts of the batch solves
t0 = time.time()
acc_hist, conv_hist, its_hist = [], [], []
Ytrain = []
for it in range(a.it):
    lr = a.lrf + 0.5 * (a.lr - a.lrf) * (1 + math.cos(math.pi * it / max(a.it - 1, 1)))
    for gr in opt.param_groups:
        gr["lr"] = lr
    if a.quad_train == "anneal":
        pot.qscale = max(0.0, 1 - it / a.anneal_it)
    if a.refresh > 0:
        m = torch.rand(a.P) < a.refresh
        if m.any():
            X[m] = latent_start(int(m.sum()))
            Zx = None
    X, acc, _, Zx = langevin(X, TAU, a.K, state=Zx)
    ib = torch.randint(0, len(data), (a.B,))
    yb = data[ib]
    if a.objective == "ml":
        ub = (yb - centre) / scale
        _, gb, Hb = pot.derivs_graph(ub, 2)
        xb = gb * (kap / scale)  # grad w(y)
        loss = (kap * pot((xb - centre) / scale) - torch.logdet(Hb)).mean() - kap * pot((X - centre) / scale).mean()
        if a.log_every and (it + 1) % a.log_every == 0:
            Y, conv, its = decode(X, a.newton)
        else:
            conv, its = 1.0, 0.0
    elif a.param == "w":
        Y, conv, its = decode(X, a.newton, Y if a.warm else None)
        loss = kap * (pot((yb - centre) / scale).mean() - pot((Y.detach() - centre) / scale).mean())
    else:  # same gradient, E_rho[d w] - E_model[d w], written with u = w*: E_model[d u(x)] - E_rho[d u(grad w(y))]
        Zb, conv, its = newton(ufun, yb, Zdata[ib], a.newton)
        Zdata[ib] = Zb
        loss = kap * (pot((X - centre) / scale).mean() - pot((Zb - centre) / scale).mean())
    if a.quad_decay > 0 and pot.Dt.requires_grad:
        loss = loss + a.quad_decay * (sp(pot.Dt).sum() + (pot.R ** 2).sum())
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, a.clip)
    opt.step()
    acc_hist.append(acc), conv_hist.append(conv), its_hist.append(its)
    if it >= a.it - 50:  # the model's own view: decoded training particles of the last 50 iterations
        Yd = decode(X, a.newton)[0] if a.objective == "ml" else (Y if a.param == "w" else ufun(X, 1)[1])
        Ytrain.append((X, Yd))
    if a.log_every and (it + 1) % a.log_every == 0:
        Yp = (Y if a.param == "w" else ufun(X, 1)[1]).numpy()
        mp = mode_metrics(a.data, Yp)
        print(f"  it {it + 1} particles " + " ".join(f"{k} {v:.3f}" for k, v in mp.items()) + f" loss {loss.item():+.4f} acc {np.mean(acc_hist[-a.log_every:]):.2f} "
              f"newton {np.mean(its_hist[-a.log_every:]):.1f} conv {np.mean(conv_hist[-a.log_every:]):.3f} "
              f"{time.time() - t0:.0f}s", flush=True)
fit_time = time.time() - t0

# ----------------------------------------------------------------------------------------------- evaluate

t1 = time.time()
Xs = latent_start(a.eval_n)
Xs, _, tau_e, st = langevin(Xs, TAU, a.burn // 2, adapt=True)
sampler, a.sampler = a.sampler, "mala"
Xs, acc_e, _, _ = langevin(Xs, tau_e, a.burn - a.burn // 2, state=st)
a.sampler = sampler
Ys, conv_e, its_e = decode(Xs, 100)
gen = Ys.numpy()
held = dataset(a.data, a.eval_n, np.random.default_rng(424242))
prec, prec_f, rec, rec_f = knn_metrics(gen, held)
mm = mode_metrics(a.data, gen)
mm_t = mode_metrics(a.data, held)
mm_p = mode_metrics(a.data, torch.cat([y for _, y in Ytrain]).numpy()) if Ytrain else {}

# curvature diagnostics in y units: quadratic part vs A; Hessian of w at the modes and in the gaps
Qy = (kap / scale ** 2) * pot.Q().detach().numpy()  # conj: the quadratic part of u
diag = {"quad_eig": [float(v) for v in np.linalg.eigvalsh(Qy)], "A_eig": [float(v) for v in lamA],
        "p_sum": float(sp(pot.p).sum()), "W_max": float(max(w_.abs().max() for w_ in pot.W))}
if a.learn_beta:
    diag["beta_median"] = [float(sp(b_).median()) for b_ in pot.beta]
if a.data == "eight-gaussians":
    mids = np.stack([(CENTRES8[k] + CENTRES8[(k + 1) % 8]) / 2 for k in range(8)] + [np.zeros(2)])
    Hc = hess_w(T(CENTRES8)).numpy()
    Hm = hess_w(T(mids)).numpy()
    diag["hess_min_eig_centres"] = float(np.mean([np.linalg.eigvalsh(h)[0] for h in Hc]))
    diag["hess_max_eig_centres"] = float(np.mean([np.linalg.eigvalsh(h)[1] for h in Hc]))
    diag["hess_min_eig_gapmid"] = float(np.mean([np.linalg.eigvalsh(h)[0] for h in Hm[:8]]))
    diag["hess_max_eig_gapmid"] = float(np.mean([np.linalg.eigvalsh(h)[1] for h in Hm[:8]]))
    diag["hess_max_eig_origin"] = float(np.linalg.eigvalsh(Hm[8])[1])
eval_time = time.time() - t1

res = {"tag": a.tag, "args": vars(a), "precision": prec, "precision_floor": prec_f, "recall": rec,
       "recall_floor": rec_f, **{k: v for k, v in mm.items()}, **{k + "_target": v for k, v in mm_t.items()},
       **{k + "_particles": v for k, v in mm_p.items()},
       "train_acc": float(np.mean(acc_hist[-100:])), "train_newton_its": float(np.mean(its_hist[-100:])),
       "train_conv": float(np.mean(conv_hist[-100:])), "eval_acc": acc_e, "eval_tau": tau_e, "eval_conv": conv_e,
       "eval_newton_its": its_e,
       "langevin_solve_conv": float(np.mean([c for c, _ in SOLVES])) if SOLVES else None,
       "langevin_solve_its": float(np.mean([i for _, i in SOLVES])) if SOLVES else None, "fit_s": fit_time, "eval_s": eval_time, **diag}
flags = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(a).items()
                 if v != ap.get_default(k) and k not in ("out", "fig", "tag", "log_every"))
mtxt = " ".join(f"{k} {mm[k]:.3f} ({mm_t[k]:.3f})" for k in mm) + \
    (f" | particles gap {mm_p['gap']:.3f}" if "gap" in mm_p else "")
print(f"{a.data} seed {a.seed} [{flags}] precision {prec:.3f} ({prec_f:.3f}) recall {rec:.3f} ({rec_f:.3f}) {mtxt} "
      f"| acc {res['train_acc']:.2f} newton {res['train_newton_its']:.1f} conv {res['train_conv']:.3f} "
      f"| quad eig {diag['quad_eig'][0]:.3f},{diag['quad_eig'][1]:.3f} (A {lamA[0]:.3f},{lamA[1]:.3f})"
      + (f" hess centre {diag['hess_min_eig_centres']:.2f}..{diag['hess_max_eig_centres']:.2f} gap "
         f"{diag['hess_min_eig_gapmid']:.2f}..{diag['hess_max_eig_gapmid']:.2f} origin {diag['hess_max_eig_origin']:.2f}"
         if a.data == "eight-gaussians" else "")
      + f" | fit {fit_time:.0f}s eval {eval_time:.0f}s", flush=True)
if a.save:
    np.savez_compressed(a.save, gen=gen, latent=Xs.numpy(), target=held)
if a.out:
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "a") as f:
        f.write(json.dumps(res) + "\n")

if a.fig:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    os.makedirs(os.path.dirname(os.path.abspath(a.fig)), exist_ok=True)
    lim = np.abs(held).max() * 1.1
    fig, ax = plt.subplots(1, 3, figsize=(13.5, 4.5))
    ax[0].scatter(held[:, 0], held[:, 1], s=1, alpha=0.4)
    ax[0].set_title(f"{a.data}: target (4,000)")
    ax[1].scatter(gen[:, 0], gen[:, 1], s=1, alpha=0.4, c="C1")
    ax[1].set_title(f"generated: precision {prec:.3f} ({prec_f:.3f})" + (f", gap {mm['gap']:.3f}" if mm else ""))
    for k in (0, 1):
        ax[k].set_xlim(-lim, lim), ax[k].set_ylim(-lim, lim), ax[k].set_aspect("equal")
    xs = Xs.numpy()
    if a.data == "eight-gaussians":
        dist = np.linalg.norm(gen[:, None, :] - CENTRES8[None], axis=2)
        col = np.where(dist.min(1) > 3 * SD8, 8, dist.argmin(1))
        cmap = plt.get_cmap("tab10")
        ax[2].scatter(xs[:, 0], xs[:, 1], s=1, c=[cmap(int(c)) if c < 8 else (0, 0, 0, 1) for c in col])
        ax[2].set_title("latent x, coloured by the mode of grad w*(x) (black: gap)")
    else:
        ax[2].scatter(xs[:, 0], xs[:, 1], s=1, alpha=0.4, c="C2")
        ax[2].set_title("latent x ~ exp(-w)")
    ax[2].set_aspect("equal")
    fig.suptitle(a.tag or flags or "default recipe", fontsize=9)
    fig.tight_layout()
    fig.savefig(a.fig, dpi=80)
