"""Fits a Gaussian N(m, S) with `cmm` and compares encoder, latents and samples with the closed forms
(docs/experiments.md, section 1). Run with Debian's python3 (numpy); the command line is found in $CMM_CLI
(default: `cmm`), e.g. CMM_CLI="dotnet /tmp/cli/cmm.dll".

Usage: gaussian_closed_form_check.py [--method mm] TAG D EIGS MNORM MULT ITERATIONS [extra cmm fit options]
  EIGS   comma-separated covariance eigenvalues (a random rotation, seed 5, is applied)
  MNORM  norm of the mean; MULT multiplies the data (mean and spread) afterwards
Writes its files under /tmp/cmm-gauss/TAG and prints one line of errors.

CMM: grad w(y) = A y + b with A = S^(-1/3), b = -(I + A)^(-1) A^2 m; latent N((I + S^(1/3))^(-1) m, S^(1/3)).
MM: the moment measure of the centred data, u(x) = 1/2 x'Sx, latent N(0, S^-1), encoder grad u*(y) = S^-1 (y - m).
"""
import os
import shlex
import subprocess
import sys
import time

import numpy as np

CMM = shlex.split(os.environ.get("CMM_CLI", "cmm"))


def run(*args, out=None):
    """Runs cmm; a non-zero exit fails unless `out` was written (encode exits 1, with a warning, when some solves did not converge)."""
    r = subprocess.run(CMM + list(args), capture_output=True, text=True)
    if r.returncode:
        print(r.stdout, r.stderr, file=sys.stderr)
        if out is None or not os.path.exists(out):
            sys.exit(1)
    return r.stdout


def powm(S, p):
    lam, V = np.linalg.eigh(S)
    return (V * lam ** p) @ V.T


def main(argv):
    method = "cmm"
    if argv[:1] == ["--method"]:
        method, argv = argv[1], argv[2:]
    tag, d, eig, mnorm, mult, iters = argv[0], int(argv[1]), [float(v) for v in argv[2].split(",")], float(argv[3]), float(argv[4]), argv[5]
    extra = argv[6:]
    rng = np.random.default_rng(5)
    Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    S = (Q * np.array(eig)) @ Q.T
    m = rng.standard_normal(d)
    m = m / np.linalg.norm(m) * mnorm
    S, m = S * mult ** 2, m * mult
    L = np.linalg.cholesky(S)
    y = m + rng.standard_normal((20000, d)) @ L.T
    yt = m + rng.standard_normal((2000, d)) @ L.T
    dr = f"/tmp/cmm-gauss/{tag}"
    os.makedirs(dr, exist_ok=True)
    np.savetxt(f"{dr}/train.csv", y, delimiter=",")
    np.savetxt(f"{dr}/test.csv", yt, delimiter=",")
    t = time.time()
    run("fit", "--data", f"{dr}/train.csv", "--method", method, "--iterations", iters, "--checkpoint-every", "0", "--out", f"{dr}/m.cmm", *extra)
    fit_s = time.time() - t
    for f in ("enc.csv", "s.csv", "l.csv"):
        if os.path.exists(f"{dr}/{f}"):
            os.remove(f"{dr}/{f}")
    run("encode", "--model", f"{dr}/m.cmm", "--data", f"{dr}/test.csv", "--out", f"{dr}/enc.csv", out=f"{dr}/enc.csv")
    run("sample", "--model", f"{dr}/m.cmm", "--n", "10000", "--out", f"{dr}/s.csv", "--latent-out", f"{dr}/l.csv")
    enc = np.loadtxt(f"{dr}/enc.csv", delimiter=",").reshape(-1, d)
    lat = np.loadtxt(f"{dr}/l.csv", delimiter=",").reshape(-1, d)
    smp = np.loadtxt(f"{dr}/s.csv", delimiter=",").reshape(-1, d)
    I = np.eye(d)
    if method == "mm":
        ref = (yt - m) @ np.linalg.inv(S).T
        lm, lc = np.zeros(d), np.linalg.inv(S)
        hess = ""
    else:
        A = powm(S, -1 / 3)
        ref = yt @ A.T - np.linalg.solve(I + A, A @ A @ m)
        lm, lc = np.linalg.solve(I + powm(S, 1 / 3), m), powm(S, 1 / 3)
        # The encoder of a Gaussian CMM is affine: its least-squares slope is the Hessian of w.
        X = np.hstack([yt, np.ones((len(yt), 1))])
        coef, *_ = np.linalg.lstsq(X, enc, rcond=None)
        hess = f" hessian {np.linalg.norm(coef[:d].T - A) / np.linalg.norm(A):.3%}"
    enc_err = np.linalg.norm(enc - ref) / np.linalg.norm(ref)
    lm_err = np.linalg.norm(lat.mean(0) - lm) / np.sqrt(np.linalg.eigvalsh(lc).max())
    lc_err = np.linalg.norm(np.cov(lat.T) - lc) / np.linalg.norm(lc)
    sc_err = np.linalg.norm(np.cov(smp.T) - S) / np.linalg.norm(S)
    print(f"{tag}: fit {fit_s:.0f}s encoder {enc_err:.3%}{hess} latent mean err/sd {lm_err:.3f} "
          f"latent cov {lc_err:.2%} sample cov {sc_err:.2%}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
