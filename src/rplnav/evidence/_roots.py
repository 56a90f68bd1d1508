"""Root engine behind :mod:`rplnav.evidence.core`: the (RE)ML maximiser and the generalised-Q roots.

One evaluation at tau^2 = x computes, for p = 1, 2, 3 and j = 0, 1, 2, the sums
``S[p, j] = sum_i w_i^p z_i^j`` with ``w_i = 1/(v_i + x)`` and ``z_i = y_i - mu_FE`` (the studies centred
at the fixed-effect mean), as one small matrix product.  From them, with ``m = S[1,1]/S[1,0]`` (the
weighted mean minus mu_FE):

* generalised Q(x) = S[1,2] - m S[1,1]   (Paule & Mandel 1982; DerSimonian & Kacker 2007);
* sum w^2 r^2 = S[2,2] - m (2 S[2,1] - m S[2,0]) with r = y - mu(x), i.e. -dQ/dx;
* twice the (RE)ML score and its derivative (Viechtbauer 2005, eqs. 8-13; Harville 1977 for REML).

Every root is first bracketed on a log grid of tau^2 (0, then 39 points from 1e-10 to 1 times
``top = 2 max(max v_i, 8 d^2)`` with d the range of y; beyond 8 d^2 the (RE)ML score is negative):

* (RE)ML: every grid interval where the score changes sign from + to - holds a local maximum, tau^2 = 0
  is one when the score at 0 is <= 0; each is polished and the one with the highest likelihood is the
  GLOBAL maximum returned (bimodal likelihoods included);
* Q(x) = target (Paule-Mandel, EB, median-unbiased PM, and the two Q-profile bounds of Viechtbauer
  2007): Q is decreasing, so the first grid interval where Q drops to the target brackets the root; past
  the grid, ``[top, 1.1 k d^2 / target]`` does (Q(x) < k d^2 / x).

Inside its bracket each root starts at the secant point of a nearly linear transform (score * (c +
x)^2 with c the harmonic mean of v_i, and 1/Q, both exactly linear when all v_i are equal) and is
polished by safeguarded Newton steps on that transform (bisection whenever a step leaves the bracket);
a root stops when a Newton step is below 1e-9 relative (quadratic convergence leaves ~1e-18), a step
is below 1e-14 relative, or the bracket is down to 4 ulp.  All roots of one analysis (the estimator's
and both Q-profile bounds) are polished together, one evaluation per iteration for all of them, and many
analyses at once; a single analysis is a batch of one (there is no separate scalar path).
"""

from __future__ import annotations

import math

import numpy as np

EPS = float(np.finfo(float).eps)
GRID = 40
MAXIT = 200
FRAC = np.concatenate([[0.0], np.geomspace(1e-10, 1.0, GRID - 1)])  # tau^2 grid as a fraction of its top
_NAN = math.nan


# ------------------------------------------------------------------------------------------------------
# formulas of the score, its derivative and the generalised Q (NumPy arrays over analyses)

def _q_a(A0, A1, A2, B0, B1, B2):
    """Mean shift m, generalised Q and sum w^2 r^2 from the p = 1, 2 sums."""
    m = A1 / A0
    return m, A2 - m * A1, B2 - m * (2.0 * B1 - m * B0)


def _score(A0, B0, a, reml):
    """Twice the (RE)ML score."""
    return a - A0 + B0 / A0 if reml else a - A0


def _hess(A0, B0, B1, C0, C1, C2, m, reml):
    """Twice the observed second derivative of the (RE)ML log-likelihood."""
    c = B1 - m * B0
    b3 = C2 - m * (2.0 * C1 - m * C0)
    ypppy = b3 - c * c / A0
    if reml:
        r = B0 / A0
        return B0 - 2.0 * C0 / A0 + r * r - 2.0 * ypppy
    return B0 - 2.0 * ypppy


def _hermite(x0, x1, f0, f1, d0, d1):
    """Root in [x0, x1] of the cubic Hermite interpolant of f (values f0 > 0 >= f1, slopes d0, d1),
    by three Newton steps from the secant point; the secant point where the cubic step leaves the
    bracket (works on floats and on arrays)."""
    hw = x1 - x0
    a0, a1 = hw * d0, hw * d1
    df = f0 - f1
    t = f0 / df
    sec = t
    # p(t) = f0 + a0 t + c2 t^2 + c3 t^3 (the Hermite basis collected by powers of t), in Horner form
    c3 = 2.0 * df + (a0 + a1)
    c2 = -(3.0 * df + (2.0 * a0 + a1))
    e3, e2 = 3.0 * c3, 2.0 * c2
    for _ in range(3):
        p = ((c3 * t + c2) * t + a0) * t + f0
        dp = (e3 * t + e2) * t + a0
        t = t - p / dp
    return x0 + sec * hw, x0 + t * hw, t


def _grid_lik(bt, reml):
    """(RE)ML score on the grid, its nearly linear transform phi = score (c + x)^2 and phi'."""
    G = bt.G
    A0, B0, B1 = G[..., 0, 0], G[..., 1, 0], G[..., 1, 1]
    m, Q, a = _q_a(A0, G[..., 0, 1], G[..., 0, 2], B0, B1, G[..., 1, 2])
    bt.Qa = Q, a
    s = _score(A0, B0, a, reml)
    h = _hess(A0, B0, B1, G[..., 2, 0], G[..., 2, 1], G[..., 2, 2], m, reml)
    cx = bt.cc[:, None] + bt.grid
    return s, s * cx * cx, (h * cx + 2.0 * s) * cx


def _grid_q(G):
    """Generalised Q on the grid and -dQ/dx."""
    _, Q, a = _q_a(G[..., 0, 0], G[..., 0, 1], G[..., 0, 2], G[..., 1, 0], G[..., 1, 1], G[..., 1, 2])
    return Q, a


class Batch:
    """Precomputed state of B analyses: centred data, the tau^2 grid and the sums on it."""

    def __init__(self, y, v, m, k, w0, sw0, mu0):
        """``w0``, ``sw0``, ``mu0``: fixed-effect weights, their row sums and the fixed-effect means."""
        B, K = y.shape
        z = (y - mu0[:, None]) * m
        Z = np.empty((B, K, 3))
        Z[:, :, 0] = 1.0
        Z[:, :, 1] = z
        np.multiply(z, z, out=Z[:, :, 2])
        self.v, self.m, self.Z, self.k, self.B, self.K = v, m, Z, k, B, K
        self.cc = k / sw0
        used = m > 0
        big = np.maximum.reduce(np.where(used, y, -np.inf), axis=1)
        small = np.minimum.reduce(np.where(used, y, np.inf), axis=1)
        d = big - small
        self.d = np.where(np.isfinite(d), d, 0.0)
        vmax = np.maximum.reduce(np.where(used, v, 0.0), axis=1)
        top = 2.0 * np.maximum(vmax, 8.0 * self.d * self.d) + 1e-12
        self.grid = top[:, None] * FRAC[None, :]
        self.G = self._grid_sums()
        self.Qa = None

    def _grid_sums(self):
        """S[b, x, p, j] on every analysis's grid, returned as a view of an array stored [p, j, b, x]: the scans
        read one (p, j) plane at a time, and contiguous planes make their arithmetic several times faster."""
        B, K = self.B, self.K
        Gc = np.empty((3, 3, B, GRID))
        chunk = max(1, 16384 // max(1, GRID * K))
        W = np.empty((chunk, 3, GRID, K))
        for b0 in range(0, B, chunk):
            b1 = min(B, b0 + chunk)
            n = b1 - b0
            w = W[:n]
            w0 = w[:, 0]
            np.divide(self.m[b0:b1, None, :], self.v[b0:b1, None, :] + self.grid[b0:b1, :, None], out=w0)
            np.multiply(w0, w0, out=w[:, 1])
            np.multiply(w[:, 1], w0, out=w[:, 2])
            S = np.matmul(w.reshape(n, 3 * GRID, K), self.Z[b0:b1]).reshape(n, 3, GRID, 3)
            Gc[:, :, b0:b1, :] = S.transpose(1, 3, 0, 2)
        return Gc.transpose(2, 3, 0, 1)

    def loglik(self, idx, X, reml):
        v, m = self.v[idx], self.m[idx]
        W = np.empty((len(idx), 1, self.K))
        T = v + X[:, None]
        np.divide(m, T, out=W[:, 0])
        S = np.matmul(W, self.Z[idx])
        A0, A1, A2 = S[:, 0, 0], S[:, 0, 1], S[:, 0, 2]
        mm = A1 / A0
        ll = -0.5 * (np.add.reduce(np.log(T) * m, axis=1) + (A2 - mm * A1))
        return ll - 0.5 * np.log(A0) if reml else ll


def _start(lo, hi, f0, f1, d0, d1):
    sec, herm, t = _hermite(lo, hi, f0, f1, d0, d1)
    return np.where((t >= 0.0) & (t <= 1.0), herm, sec)


def lik_rows(bt: Batch, reml, valid):
    """Grid maxima of every analysis: fixed candidates (b, x) and the brackets to polish
    (b, lo, hi and the transform's values and slopes at both ends, for the starting point)."""
    s, phi, dphi = _grid_lik(bt, reml)
    pos = s > 0
    fb0 = np.nonzero(valid & ~pos[:, 0])[0]
    fb1 = np.nonzero(valid & pos[:, -1])[0]
    fixed_b = np.concatenate([fb0, fb1])
    fixed_x = np.concatenate([np.zeros(len(fb0)), bt.grid[fb1, -1]])
    chg = pos[:, :-1] & ~pos[:, 1:] & valid[:, None]
    b, j = np.nonzero(chg)
    g = bt.grid
    return fixed_b, fixed_x, (b, g[b, j], g[b, j + 1], phi[b, j], phi[b, j + 1], dphi[b, j], dphi[b, j + 1])


def q_rows(bt: Batch, T, valid):
    """Brackets of the roots of Q(x) = T[b, n] for every analysis b and target n (zero where Q(0) <= target).

    Returns (b, n, target, lo, hi, start data for the roots inside the grid, x0 for those past it, inside)."""
    if bt.Qa is None:
        bt.Qa = _grid_q(bt.G)
    Q, a = bt.Qa
    pos = T > 0
    ok = valid[:, None] & pos
    Ts = np.where(pos, T, 1.0)
    le = Q[:, None, :] <= Ts[:, :, None]
    b, n = np.nonzero(ok & ~le[:, :, 0])
    i = le[b, n].argmax(axis=1)
    ing = le[b, n, i]
    g = bt.grid
    t = Ts[b, n]
    im1 = np.maximum(i - 1, 0)
    lo_in, hi_in = g[b, im1], g[b, i]
    q0, q1 = Q[b, im1], Q[b, i]
    it = 1.0 / t
    start = (lo_in, hi_in, it - 1.0 / q0, it - 1.0 / q1, -a[b, im1] / (q0 * q0), -a[b, i] / (q1 * q1))
    lo, hi, x_out = lo_in, hi_in, None
    if np.count_nonzero(ing) < len(ing):  # roots past the grid: [top, 1.1 k d^2 / target], one Newton step on 1/Q
        lo_out = g[b, -1]
        dd = bt.d[b]
        hi_out = np.maximum(1.1 * bt.k[b] * dd * dd / t + 1e-12, lo_out)
        q, aa = Q[b, -1], a[b, -1]
        x_out = lo_out + (it - 1.0 / q) * q * q / aa
        x_out = np.where((lo_out <= x_out) & (x_out <= hi_out), x_out, 0.5 * (lo_out + hi_out))
        lo = np.where(ing, lo_in, lo_out)
        hi = np.where(ing, hi_in, hi_out)
    return b, n, t, lo, hi, start, x_out, ing


def polish(bt: Batch, b, kind, tg, lo, hi, x, reml):
    """Safeguarded Newton on every row at once (analysis index ``b``, kind 0 = (RE)ML score, 1 = Q = tg).

    Rows leave the loop as they converge; the arrays are compacted only on the iterations where some do,
    so each iteration costs a fixed number of NumPy calls whatever the number of rows.  Every x is >= 0."""
    n = len(b)
    out = np.empty(n)
    if n == 0:
        return out
    pos = np.arange(n)
    v, m, Z, cc = bt.v[b], bt.m[b], bt.Z[b], bt.cc[b]
    lik = kind == 0
    n_lik = int(np.count_nonzero(lik))
    P = 3 if n_lik else 2
    itg = 1.0 / tg
    prev = np.full(n, np.nan)
    for _ in range(MAXIT):
        W = np.empty((n, P, bt.K))
        w0 = W[:, 0]
        np.divide(m, v + x[:, None], out=w0)
        np.multiply(w0, w0, out=W[:, 1])
        if P == 3:
            np.multiply(W[:, 1], w0, out=W[:, 2])
        S = np.matmul(W, Z)
        A0, B0 = S[:, 0, 0], S[:, 1, 0]
        mq, Q, a = _q_a(A0, S[:, 0, 1], S[:, 0, 2], B0, S[:, 1, 1], S[:, 1, 2])
        # Newton step x - num/den on the nearly linear transform of each kind (den < 0 on the way to the root)
        if n_lik:
            val_l = _score(A0, B0, a, reml)
            h = _hess(A0, B0, S[:, 1, 1], S[:, 2, 0], S[:, 2, 1], S[:, 2, 2], mq, reml)
            cx = cc + x
            num_l, den_l = val_l * cx, h * cx + 2.0 * val_l
        if n_lik < n:
            val_q = itg - 1.0 / Q
            num_q, den_q = val_q * Q * Q, -a
        if not n_lik:
            val, num, den = val_q, num_q, den_q
        elif n_lik == n:
            val, num, den = val_l, num_l, den_l
        else:
            val, num, den = np.where(lik, val_l, val_q), np.where(lik, num_l, num_q), np.where(lik, den_l, den_q)
        nt = np.where(den < 0, x - num / den, np.nan)
        la = np.where(val > 0, x, lo)
        ha = np.where(val < 0, x, hi)
        ok = (la <= nt) & (nt <= ha)
        zero = val == 0
        xn = np.where(zero, x, np.where(ok, nt, 0.5 * (la + ha)))
        dx = np.abs(xn - x)
        conv = (dx <= 1e-9 * x) | ((dx <= 1e-5 * x) & (dx * dx * dx <= 1e-16 * x * prev * prev))
        done = zero | (ok & conv) | (dx <= 1e-14 * x) | (ha - la <= 4 * EPS * ha)
        prev = np.where(ok, dx, np.nan)
        x, lo, hi = xn, la, ha
        nd = int(np.count_nonzero(done))
        if nd == n:
            out[pos] = x
            return out
        if nd:
            out[pos[done]] = x[done]
            keep = ~done
            pos, x, lo, hi, prev, itg = pos[keep], x[keep], lo[keep], hi[keep], prev[keep], itg[keep]
            v, m, Z, cc, lik = v[keep], m[keep], Z[keep], cc[keep], lik[keep]
            n, n_lik = n - nd, int(np.count_nonzero(lik))
    out[pos] = x
    return out


def solve(bt: Batch, reml, lik, targets, valid):
    """Global (RE)ML tau^2 (if ``lik``) and the roots of Q = t for each t in ``targets``, all polished together:
    one bracketing pass for every kind of root, one starting-point computation, one polishing loop."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return _solve(bt, reml, lik, targets, valid)


def _solve(bt: Batch, reml, lik, targets, valid):
    B = bt.B
    nT = len(targets)
    if lik:
        fixed_b, fixed_x, (lb, *lik_start) = lik_rows(bt, reml, valid)
    else:
        lb, lik_start = np.zeros(0, dtype=np.intp), [np.zeros(0)] * 6
    if nT:
        T = np.empty((B, nT))
        for j, t in enumerate(targets):
            T[:, j] = t
        qb, qn, qt, qlo, qhi, q_start, x_out, ing = q_rows(bt, T, valid)
    else:
        qb = qn = np.zeros(0, dtype=np.intp)
        qt = qlo = qhi = np.zeros(0)
        q_start, x_out, ing = [np.zeros(0)] * 6, None, None
    nl = len(lb)
    x0 = _start(*(np.concatenate([p, q]) for p, q in zip(lik_start, q_start, strict=True)))
    if x_out is not None:
        x0[nl:] = np.where(ing, x0[nl:], x_out)
    kind = np.zeros(nl + len(qb), dtype=np.int8)
    kind[nl:] = 1
    xs = polish(bt, np.concatenate([lb, qb]), kind, np.concatenate([np.ones(nl), qt]),
                np.concatenate([lik_start[0], qlo]), np.concatenate([lik_start[1], qhi]), x0, reml)
    R = np.zeros((nT, B))
    R[qn, qb] = xs[nl:]
    out_roots = list(R)
    t2 = None
    if lik:
        cb = np.concatenate([fixed_b, lb])
        cx = np.concatenate([fixed_x, xs[:nl]])
        t2 = np.zeros(B)
        cnt = np.bincount(cb, minlength=B)
        if cnt.max(initial=0) <= 1:
            t2[cb] = cx
            return t2, out_roots
        single = cnt[cb] == 1
        t2[cb[single]] = cx[single]
        multi = np.flatnonzero(~single)
        mb, mx = cb[multi], cx[multi]
        ll = bt.loglik(mb, mx, reml)
        order = np.lexsort((mx, -ll, mb))  # by analysis, best likelihood first, smaller tau^2 on ties
        mb_s = mb[order]
        first = np.ones(len(mb_s), dtype=bool)
        first[1:] = mb_s[1:] != mb_s[:-1]
        t2[mb_s[first]] = mx[order][first]
    return t2, out_roots
