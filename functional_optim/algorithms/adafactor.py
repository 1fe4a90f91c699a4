"""Adafactor: the :func:`adafactor` transform and its state, :class:`AdafactorState`."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from functional_optim.elementwise import lerp, per_param, zeros_keepdims_like
from functional_optim.hyperparams import (
    Hyperparam,
    algorithm_transform,
    cast_like,
    decoupled_decay_factor,
    scalar_dtype,
)
from functional_optim.transform import GradientTransformation
from functional_optim.validation import check_value


class AdafactorState(NamedTuple):
    """torch's per-parameter Adafactor state, one field per torch state key.

    torch keeps ``row_var`` and ``col_var`` for a parameter of 2 or more dimensions and
    ``variance`` for a 0-d or 1-d one. Each field here is a tree with the params' structure
    holding ``None`` at the leaves whose torch state lacks that key, so parameter ``i``'s
    torch state dict is ``{"step": step}`` plus every field whose leaf ``i`` is not None. A
    field that is None at every leaf (e.g. ``variance`` when all params are matrices) is
    None, as :func:`functional_optim.elementwise.per_param` returns it.

    Attributes:
      step: float32 scalar shared by all parameters.
      row_var: per-parameter ``[..., n, 1]`` row factors (None at 0-d/1-d leaves).
      col_var: per-parameter ``[..., 1, m]`` column factors (None at 0-d/1-d leaves).
      variance: per-parameter full second moments (None at leaves of 2 or more dimensions).
    """

    step: jax.Array
    row_var: Any
    col_var: Any
    variance: Any


def _none_if_empty(tree: Any) -> Any:
    return tree if jax.tree.leaves(tree) else None


def _python_max(a: jax.Array, b: jax.Array) -> jax.Array:
    """Python's ``max(a, b)``: ``b`` only if ``b > a`` (so a NaN ``b`` gives ``a``)."""
    return jnp.where(b > a, b, a)


def adafactor(
    lr: Hyperparam = 1e-2,
    beta2_decay: Hyperparam = -0.8,
    eps: tuple[Hyperparam | None, Hyperparam] = (None, 1e-3),
    d: Hyperparam = 1.0,
    weight_decay: Hyperparam = 0.0,
    *,
    maximize: bool = False,
) -> GradientTransformation:
    r"""A factored second moment and relative step sizes, as ``torch.optim.Adafactor``.

    .. math::

       \begin{aligned}
       &g_t \leftarrow \pm\nabla f(\theta_{t-1}) && \text{(}-\text{ if maximize)}\\
       &w_t \leftarrow t^{\tau}, \qquad \rho_t \leftarrow \min(\gamma, 1/\sqrt t), \qquad
        \alpha_t \leftarrow \max(\epsilon_2, \operatorname{RMS}(\theta_{t-1}))\,\rho_t
           && (\tau = \text{beta2\_decay})\\
       &\theta_{t-1} \leftarrow \theta_{t-1}(1 - \gamma\lambda) && (\lambda = \text{weight\_decay})\\
       &\text{if } \dim\theta \ge 2: \quad
        R_t \leftarrow \operatorname{lerp}(R_{t-1}, \operatorname{mean}_{-1}(g_t^2), w_t), \quad
        C_t \leftarrow \operatorname{lerp}(C_{t-1}, \operatorname{mean}_{-2}(g_t^2), w_t),\\
       &\hphantom{\text{if } \dim\theta \ge 2: \quad}
        \hat V_t \leftarrow \frac{R_t\, C_t}{\max(\operatorname{mean}_{-2} R_t,\ \epsilon_1)}\\
       &\text{else}: \quad \hat V_t \leftarrow V_t \leftarrow \operatorname{lerp}(V_{t-1}, g_t^2, w_t)\\
       &U_t \leftarrow \frac{g_t}{\sqrt{\max(\hat V_t, \epsilon_1^2)}}, \qquad
        \theta_t \leftarrow \theta_{t-1} - \frac{\alpha_t}{\max(1, \operatorname{RMS}(U_t)/d)}\, U_t
       \end{aligned}

    :math:`R_t` (``row_var``, shape ``[..., n, 1]``) and :math:`C_t` (``col_var``, shape
    ``[..., 1, m]``) factor the second moment over the *last two* axes; leading axes are batch
    axes, each slice factored on its own. 0-d and 1-d parameters keep a full ``variance``.

    Args:
      lr: :math:`\gamma`, the cap on the relative step size :math:`\rho_t` and the rate of
        the decoupled weight decay.
      beta2_decay: :math:`\tau \le 0`; the second moments are averaged with weight
        :math:`t^{\tau}` on the new squared gradient.
      eps: :math:`(\epsilon_1, \epsilon_2)`. :math:`\epsilon_1` floors the variance
        estimate (None: ``finfo(dtype).eps`` of the first parameter, see below);
        :math:`\epsilon_2` floors the parameter RMS that scales the step.
      d: clipping threshold :math:`d \ge 1` on the RMS of the update.
      weight_decay: :math:`\lambda`, decoupled: the parameter is multiplied by
        :math:`1 - \gamma\lambda`.
      maximize: maximise the objective instead of minimising it.

    Returns:
      A :class:`~functional_optim.GradientTransformation` whose state is a
      :class:`~functional_optim.HyperparamsState` holding an :class:`~functional_optim.AdafactorState`.

    Example::

        tx = fo.adafactor(lr=1e-2, weight_decay=1e-2)
        state = tx.init(params)
        params, state = fo.apply_gradients(tx, grads, state, params)
        state = fo.set_hyperparams(state, lr=5e-3)  # between steps, without recompiling

    torch behaviours reproduced: ``lr`` is both the cap on the relative step size :math:`\rho_t`
    and the decoupled weight-decay rate; :math:`\alpha_t` uses the RMS of the parameter *before*
    the decay; :math:`\epsilon_1` clamps the column-normalising mean and the variance (squared),
    not the factors; ``step`` is a float32 scalar incremented before use, so :math:`w_1 = 1` and
    the first step replaces the zero-initialised moments; the RMS values and the clipping
    denominator are computed from the parameter's dtype and combined as Python floats (the
    scalar dtype here); the default ``weight_decay`` is 0 (torch's docstring says 1e-2); the
    argument checks use Adafactor's own messages; complex parameters are rejected.

    ``eps=(None, eps2)``: torch resolves :math:`\epsilon_1` to ``finfo(dtype).eps`` of the *first*
    parameter of the group (with a gradient) and reuses it for the rest of the group. All leaves
    of the params tree form one group here, so :math:`\epsilon_1` is ``finfo(dtype).eps`` of the
    first leaf in ``jax.tree.leaves`` order (1.19e-7 for float32, 2.22e-16 for float64), for
    every leaf; for a tree of mixed dtypes, order the tree as torch's parameter list is ordered.

    The outer product :math:`R_t C_t` is an elementwise broadcast product rather than a matmul
    (the same single rounding as torch's ``row_var @ col_var``, without GPU matmul precision modes).
    """
    check_value("lr", lr, lambda v: v >= 0, "Learning rate should be >= 0 but is", ">= 0")
    check_value("beta2_decay", beta2_decay, lambda v: v <= 0, "beta2_decay should be <= 0 but is", "<= 0")
    if not isinstance(eps, (tuple, list)) or len(eps) != 2:
        raise TypeError(f"eps must be a pair (eps1, eps2), but got {eps!r}")
    if eps[0] is not None:
        check_value("eps[0]", eps[0], lambda v: v >= 0, "epsilon1 should be >= 0 but is", ">= 0")
    check_value("eps[1]", eps[1], lambda v: v >= 0, "epsilon2 should be >= 0 but is", ">= 0")
    check_value("d", d, lambda v: v >= 1, "Clipping threshold d should be >= 1 but is", ">= 1")
    check_value("weight_decay", weight_decay, lambda v: v >= 0, "weight_decay should be >= 0 but is", ">= 0")

    def init(params, hyperparams):
        del hyperparams

        def factor(p, axis):
            return zeros_keepdims_like(p, axis) if p.ndim > 1 else None  # sharded like p on its other axes

        return AdafactorState(
            step=jnp.zeros((), jnp.float32),
            row_var=_none_if_empty(jax.tree.map(lambda p: factor(p, p.ndim - 1), params)),
            col_var=_none_if_empty(jax.tree.map(lambda p: factor(p, p.ndim - 2), params)),
            variance=_none_if_empty(jax.tree.map(lambda p: None if p.ndim > 1 else jnp.zeros_like(p), params)),
        )

    def step(grads, state, params, hyperparams, count):
        del count
        sd = scalar_dtype()
        lr = hyperparams["lr"]
        eps1, eps2 = hyperparams["eps"]
        if eps1 is None:  # torch: finfo(dtype).eps of the group's first param, reused for the others
            leaves = jax.tree.leaves(params)
            eps1 = jnp.finfo(leaves[0].dtype).eps if leaves else 0.0
        eps1, eps2, d = jnp.asarray(eps1, sd), eps2.astype(sd), hyperparams["d"].astype(sd)
        step = state.step + 1
        t = step.astype(sd)
        inv_sqrt_t = 1 / t**0.5
        # rho = min(lr, 1/sqrt(t)): with a tensor lr torch's alpha is then float32 tensor maths.
        rho_is_lr = ~(cast_like(inv_sqrt_t, lr) < lr)
        scalars = {
            "w": t ** hyperparams["beta2_decay"].astype(sd),
            "decay_factor": decoupled_decay_factor(lr, hyperparams["weight_decay"]),
            "eps1": eps1,
            "eps1_squared": eps1 * eps1,
        }

        def norm(x):  # torch: x.norm(2).item(), a Python float
            return jnp.linalg.norm(x).astype(sd)

        def mean_square(grad, axis):  # torch: norm(grad, dim=axis, keepdim=True).square_().div_(size)
            return jnp.square(jnp.linalg.norm(grad, axis=axis, keepdims=True)) / grad.shape[axis]

        def one_param(s, param, grad, row_var, col_var, variance):
            grad = -grad if maximize else grad
            scale = _python_max(eps2, norm(param) / param.size**0.5)
            if s["decay_factor"] is not None:
                param = param * s["decay_factor"]
            if grad.ndim > 1:
                row_var = lerp(row_var, mean_square(grad, -1), s["w"])
                col_var = lerp(col_var, mean_square(grad, -2), s["w"])
                var_estimate = row_var * col_var / jnp.maximum(jnp.mean(row_var, axis=-2, keepdims=True), s["eps1"])
            else:
                variance = lerp(variance, grad * grad, s["w"])
                var_estimate = variance
            update = jax.lax.rsqrt(jnp.maximum(var_estimate, s["eps1_squared"])) * grad
            clip = _python_max(jnp.asarray(1.0, sd), norm(update) / (update.size**0.5 * d))
            alpha_over_clip = jnp.where(
                rho_is_lr,
                (cast_like(scale, lr) * lr / cast_like(clip, lr)).astype(sd),
                scale * inv_sqrt_t / clip,
            )
            return param + (-alpha_over_clip).astype(param.dtype) * update, row_var, col_var, variance

        new_params, row_var, col_var, variance = per_param(
            one_param, scalars, params, grads, state.row_var, state.col_var, state.variance
        )
        return new_params, AdafactorState(step, row_var, col_var, variance)

    hyperparams = {"lr": lr, "beta2_decay": beta2_decay, "eps": tuple(eps), "d": d, "weight_decay": weight_decay}
    return algorithm_transform(
        "Adafactor", init, step, hyperparams, supports_complex=False, skipped_at_zero=("weight_decay",)
    )
