"""torch's strong-Wolfe line search (``torch.optim.lbfgs._strong_wolfe``, from minFunc), traced.

The bracketing and zoom phases are ``lax.while_loop`` s; the step lengths and losses are
:class:`~.torch_numbers.Number` s, so they round as torch's Python floats and 0-d tensors do.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax import lax

from functional_optim.algorithms.lbfgs_support import tree_vectors as vec
from functional_optim.algorithms.lbfgs_support.torch_numbers import Number, py_max, py_min
from functional_optim.transform import Params

# torch's _strong_wolfe defaults, which LBFGS.step never overrides.
_C1 = 1e-4
_C2 = 0.9
_LINE_SEARCH_TOLERANCE_CHANGE = 1e-9


def _cubic_interpolate(x1, f1, g1, x2, f2, g2, bounds=None) -> Number:
    """The minimiser of the cubic through two points with their slopes, clamped to ``bounds``.

    ``bounds`` defaults to the interval between the points; when the cubic has no real
    minimiser the middle of the bounds is returned.
    """
    if bounds is None:
        ordered = x1 <= x2
        xmin_bound, xmax_bound = Number.where(ordered, x1, x2), Number.where(ordered, x2, x1)
    else:
        xmin_bound, xmax_bound = bounds
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1 * d1 - g1 * g2
    d2 = d2_square.sqrt()
    min_pos = Number.where(
        x1 <= x2,
        x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2)),
        x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2)),
    )
    clamped = py_min(py_max(min_pos, xmin_bound), xmax_bound)
    return Number.where(d2_square >= 0, clamped, (xmin_bound + xmax_bound) / 2.0)


def strong_wolfe(
    evaluate: Callable[[Number], tuple[Number, Params]],
    t: Number,
    d: Params,
    f: Number,
    g: Params,
    gtd: Number,
    max_ls: jax.Array,
) -> tuple[Number, Params, Number, jax.Array]:
    """torch's ``_strong_wolfe`` (from minFunc): returns ``(f, g, t, evaluations)`` at the step found.

    ``evaluate(t)`` returns the loss (a Python-float number) and the gradient at ``x + t d``;
    ``f``, ``g``, ``gtd`` are the loss, gradient and directional derivative at ``x``, ``t`` the
    first step length to try, and ``max_ls`` the most evaluations it may make.
    """
    c1, c2, tolerance_change = _C1, _C2, _LINE_SEARCH_TOLERANCE_CHANGE
    d_norm = t.tensor(vec.abs_max(d))
    f_new, g_new = evaluate(t)
    gtd_new = t.tensor(vec.dot(g_new, d))

    # Bracketing: grow the step until [t_prev, t] brackets a point satisfying the conditions.
    # The state is (ls_iter, t, f_new, g_new, gtd_new, t_prev, f_prev, g_prev, gtd_prev).
    def bracket_outcome(c):
        ls_iter, t, f_new, _, gtd_new, _, f_prev, _, _ = c
        too_high = (f_new > f + c1 * t * gtd) | ((ls_iter > 1) & (f_new >= f_prev))
        # 1: the bracket is [t_prev, t]; 2: t satisfies the strong Wolfe conditions; 0: go on.
        return jnp.where(too_high, 1, jnp.where(abs(gtd_new) <= -c2 * gtd, 2, jnp.where(gtd_new >= 0, 1, 0)))

    def extrapolate(c):
        ls_iter, t, f_new, g_new, gtd_new, t_prev, f_prev, _, gtd_prev = c
        min_step = t + 0.01 * (t - t_prev)
        max_step = t * 10
        t_next = _cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, bounds=(min_step, max_step))
        f_next, g_next = evaluate(t_next)
        return (ls_iter + 1, t_next, f_next, g_next, t.tensor(vec.dot(g_next, d)), t, f_new, g_new, gtd_new)

    start = (jnp.zeros((), jnp.int32), t, f_new, g_new, gtd_new, t.lift(0), f, g, gtd)
    c = lax.while_loop(lambda c: (c[0] < max_ls) & (bracket_outcome(c) == 0), extrapolate, start)
    ls_iter, t, f_new, g_new, gtd_new, t_prev, f_prev, g_prev, gtd_prev = c

    # torch's bracket: [0, t] when the evaluations ran out, [t] when t already satisfies the
    # conditions (stored twice here), else [t_prev, t].
    at_limit = ls_iter >= max_ls
    done = ~at_limit & (bracket_outcome(c) == 2)
    bracket = Number.stack(Number.where(at_limit, t.lift(0), Number.where(done, t, t_prev)), t)
    bracket_f = Number.stack(Number.where(at_limit, f, Number.where(done, f_new, f_prev)), f_new)
    bracket_g = vec.stack(vec.where(at_limit, g, vec.where(done, g_new, g_prev)), g_new)
    bracket_gtd = Number.stack(Number.where(at_limit, gtd, Number.where(done, gtd_new, gtd_prev)), gtd_new)
    low = jnp.where(bracket_f[0] <= bracket_f[1], 0, 1)

    # Zoom: shrink the bracket until a point satisfies the conditions.
    # The state is (ls_iter, done, insuf_progress, low, bracket, bracket_f, bracket_g, bracket_gtd).
    def zooming(z):
        ls_iter, done, _, _, bracket, _, _, _ = z
        too_small = abs(bracket[1] - bracket[0]) * d_norm < tolerance_change
        return ~done & (ls_iter < max_ls) & ~too_small

    def zoom(z):
        ls_iter, _, insuf_progress, low, bracket, bracket_f, bracket_g, bracket_gtd = z
        high = 1 - low
        t = _cubic_interpolate(bracket[0], bracket_f[0], bracket_gtd[0], bracket[1], bracket_f[1], bracket_gtd[1])
        # Insufficient progress: t too close to an end of the bracket twice in a row, or at or
        # beyond an end, is moved to 0.1 of the bracket's length from the nearer end.
        b_max, b_min = py_max(bracket[0], bracket[1]), py_min(bracket[0], bracket[1])
        eps = 0.1 * (b_max - b_min)
        near_end = py_min(b_max - t, t - b_min) < eps
        move = near_end & (insuf_progress | (t >= b_max) | (t <= b_min))
        moved = Number.where(abs(t - b_max) < abs(t - b_min), b_max - eps, b_min + eps)
        t = Number.where(move, moved, t)
        insuf_progress = near_end & ~move

        f_new, g_new = evaluate(t)
        gtd_new = t.tensor(vec.dot(g_new, d))
        too_high = (f_new > f + c1 * t * gtd) | (f_new >= bracket_f[low])
        done = ~too_high & (abs(gtd_new) <= -c2 * gtd)
        # A low point whose slope points away from the high end: the old low becomes the high end.
        flip = ~too_high & ~done & (gtd_new * (bracket[high] - bracket[low]) >= 0)
        bracket = bracket.set(high, Number.where(flip, bracket[low], bracket[high]))
        bracket_f = bracket_f.set(high, Number.where(flip, bracket_f[low], bracket_f[high]))
        bracket_g = vec.set_row(bracket_g, high, vec.where(flip, vec.row(bracket_g, low), vec.row(bracket_g, high)))
        bracket_gtd = bracket_gtd.set(high, Number.where(flip, bracket_gtd[low], bracket_gtd[high]))
        # The new point replaces the high end if it is too high, else the low end.
        at = jnp.where(too_high, high, low)
        bracket, bracket_f = bracket.set(at, t), bracket_f.set(at, f_new)
        bracket_g, bracket_gtd = vec.set_row(bracket_g, at, g_new), bracket_gtd.set(at, gtd_new)
        low = jnp.where(too_high, jnp.where(bracket_f[0] <= bracket_f[1], 0, 1), low)
        return ls_iter + 1, done, insuf_progress, low, bracket, bracket_f, bracket_g, bracket_gtd

    start = (ls_iter, done, jnp.zeros((), bool), low, bracket, bracket_f, bracket_g, bracket_gtd)
    ls_iter, _, _, low, bracket, bracket_f, bracket_g, _ = lax.while_loop(zooming, zoom, start)
    return bracket_f[low], vec.row(bracket_g, low), bracket[low], ls_iter + 1
