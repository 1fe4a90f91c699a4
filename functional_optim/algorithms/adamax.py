"""Adamax: the :func:`adamax` transform and its state, :class:`AdamaxState`."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from functional_optim import native
from functional_optim.elementwise import lerp, maximize_and_decay
from functional_optim.hyperparams import Hyperparam, algorithm_transform, cast_like, scalar_dtype
from functional_optim.transform import GradientTransformation
from functional_optim.validation import check_betas, check_eps, check_lr, check_weight_decay

# The scalars of native/kernels/adamax.cc, in its order.
_NATIVE_SCALARS = ("weight_decay", "one_minus_beta1", "beta2", "eps", "clr")


class AdamaxState(NamedTuple):
    """torch's per-parameter Adamax state."""

    step: jax.Array
    exp_avg: Any
    exp_inf: Any


def adamax(
    lr: Hyperparam = 2e-3,
    betas: tuple[Hyperparam, Hyperparam] = (0.9, 0.999),
    eps: Hyperparam = 1e-8,
    weight_decay: Hyperparam = 0.0,
    *,
    maximize: bool = False,
) -> GradientTransformation:
    r"""Adam with an infinity-norm second moment, as ``torch.optim.Adamax``.

    .. math::

       \begin{aligned}
       &g_t \leftarrow \pm\nabla f(\theta_{t-1}) + \lambda\,\theta_{t-1}
           && \text{(}-\text{ if maximize; } \lambda = \text{weight\_decay)}\\
       &m_t \leftarrow \operatorname{lerp}(m_{t-1}, g_t, 1-\beta_1)\\
       &u_t \leftarrow \max\bigl(\beta_2\, u_{t-1},\ |g_t| + \epsilon\bigr)\\
       &\theta_t \leftarrow \theta_{t-1} - \frac{\gamma}{1-\beta_1^t}\,\frac{m_t}{u_t}
       \end{aligned}

    Args:
      lr: learning rate :math:`\gamma`.
      betas: :math:`(\beta_1, \beta_2)`, each in [0, 1): the decay rates of the first moment
        and of the infinity norm.
      eps: :math:`\epsilon`, added to :math:`|g|` before taking the maximum.
      weight_decay: L2 penalty :math:`\lambda` added to the gradient.
      maximize: maximise the objective instead of minimising it.

    Returns:
      A :class:`~functional_optim.GradientTransformation` whose state is a
      :class:`~functional_optim.HyperparamsState` holding an :class:`~functional_optim.AdamaxState`.

    Example::

        tx = fo.adamax(lr=2e-3, betas=(0.9, 0.99), weight_decay=1e-4)
        state = tx.init(params)
        updates, state = tx.update(grads, state, params)
        params = fo.apply_updates(params, updates)

    torch behaviours reproduced: ``eps`` is added to :math:`|g_t|` *inside* the maximum, not to
    the denominator; the infinity norm has no bias correction, only the first moment does;
    ``step`` is a float32 scalar incremented before use; unlike Adam, ``betas`` may mix Python
    ints and floats. For bfloat16/float16 params each tensor torch's for-loop step writes is
    rounded to the param's dtype, op by op, and so are ``weight_decay`` and ``eps`` (an ``alpha`` and
    an ``add_`` scalar), while the betas multiply in float32.
    """
    check_lr(lr)
    check_eps(eps)
    check_betas(betas)
    check_weight_decay(weight_decay)

    def init(params, hyperparams):
        del hyperparams
        return AdamaxState(
            step=jnp.zeros((), jnp.float32),
            exp_avg=jax.tree.map(jnp.zeros_like, params),
            exp_inf=jax.tree.map(jnp.zeros_like, params),
        )

    def step(grads, state, params, hyperparams, count):
        del count
        lr = hyperparams["lr"]
        beta1, beta2 = hyperparams["betas"]
        step = state.step + 1
        bias_correction = 1 - beta1 ** step.astype(scalar_dtype())
        scalars = {
            "weight_decay": hyperparams["weight_decay"],
            "one_minus_beta1": 1 - beta1,
            "beta2": beta2,
            "eps": hyperparams["eps"],
            "clr": lr / cast_like(bias_correction, lr),
        }

        def one_param(s, param, grad, exp_avg, exp_inf, store):
            # store(): a half-precision tensor written by one torch op (see storage_rounding)
            grad = maximize_and_decay(grad, param, s["weight_decay"], maximize, store)  # grad.add(param, alpha=wd)
            exp_avg = lerp(exp_avg, grad, s["one_minus_beta1"], store)  # exp_avg.lerp_(grad, 1 - beta1)
            # torch.maximum(exp_inf.mul_(beta2), grad.abs().add_(eps)): add_ rounds eps to the dtype
            exp_inf = jnp.maximum(store(exp_inf * s["beta2"]), store(jnp.abs(grad) + store(s["eps"])))
            exp_avg, exp_inf = store.hold(exp_avg, exp_inf)
            # param.addcdiv_(exp_avg, exp_inf, value=-clr), i.e. (value * exp_avg) / exp_inf
            return param - s["clr"] * exp_avg / exp_inf, exp_avg, exp_inf

        new_params, exp_avg, exp_inf = native.multi_tensor_step(
            "adamax",
            one_param,
            scalars,
            _NATIVE_SCALARS,
            params,
            grads,
            (state.exp_avg, state.exp_inf),
            maximize=maximize,
            weight_decay=scalars["weight_decay"] is not None,
        )
        return new_params, AdamaxState(step, exp_avg, exp_inf)

    hyperparams = {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay}
    return algorithm_transform(
        "Adamax", init, step, hyperparams, skipped_at_zero=("weight_decay",), native_kernel="adamax"
    )
