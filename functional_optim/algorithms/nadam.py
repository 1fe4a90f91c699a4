"""NAdam: the :func:`nadam` transform and its state, :class:`NAdamState`."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from functional_optim import native
from functional_optim.elementwise import adam_moments, decay_param_or_grad, divide_by_number
from functional_optim.hyperparams import (
    Hyperparam,
    algorithm_transform,
    cast_like,
    decoupled_decay_factor,
    scalar_dtype,
)
from functional_optim.transform import GradientTransformation
from functional_optim.validation import check_betas, check_eps, check_lr, check_value, check_weight_decay

# The scalars of native/kernels/nadam.cc, in its order.
_NATIVE_SCALARS = (*native.ADAM_FAMILY_SCALARS, "bias_correction2", "eps", "grad_coef", "exp_avg_coef")


class NAdamState(NamedTuple):
    """torch's per-parameter NAdam state; ``mu_product`` is a float32 scalar."""

    step: jax.Array
    mu_product: jax.Array
    exp_avg: Any
    exp_avg_sq: Any


def nadam(
    lr: Hyperparam = 2e-3,
    betas: tuple[Hyperparam, Hyperparam] = (0.9, 0.999),
    eps: Hyperparam = 1e-8,
    weight_decay: Hyperparam = 0.0,
    momentum_decay: Hyperparam = 4e-3,
    decoupled_weight_decay: bool = False,
    *,
    maximize: bool = False,
) -> GradientTransformation:
    r"""Adam with Nesterov momentum, as ``torch.optim.NAdam``.

    .. math::

       \begin{aligned}
       &g_t \leftarrow \pm\nabla f(\theta_{t-1}) && \text{(}-\text{ if maximize)}\\
       &\text{decoupled: } \theta_{t-1} \leftarrow \theta_{t-1}(1 - \gamma\lambda)
           \quad\text{else: } g_t \leftarrow g_t + \lambda\,\theta_{t-1}\\
       &\mu_t \leftarrow \beta_1\bigl(1 - \tfrac12\, 0.96^{\,t\psi}\bigr), \qquad
        \mu_{t+1} \leftarrow \beta_1\bigl(1 - \tfrac12\, 0.96^{\,(t+1)\psi}\bigr)
           && (\psi = \text{momentum\_decay})\\
       &\Pi_t \leftarrow \Pi_{t-1}\,\mu_t && (\Pi_0 = 1)\\
       &m_t \leftarrow \operatorname{lerp}(m_{t-1}, g_t, 1-\beta_1)\\
       &v_t \leftarrow \beta_2 v_{t-1} + (1-\beta_2)\, g_t^2\\
       &d_t \leftarrow \sqrt{v_t / (1-\beta_2^t)} + \epsilon\\
       &\theta_t \leftarrow \theta_{t-1} - \frac{\gamma(1-\mu_t)}{1-\Pi_t}\,\frac{g_t}{d_t}
           - \frac{\gamma\,\mu_{t+1}}{1-\Pi_t\,\mu_{t+1}}\,\frac{m_t}{d_t}
       \end{aligned}

    Args:
      lr: learning rate :math:`\gamma`.
      betas: :math:`(\beta_1, \beta_2)`, each in [0, 1): the decay rates of the two moments.
      eps: :math:`\epsilon`, added to the root of the bias-corrected second moment.
      weight_decay: :math:`\lambda`; L2 on the gradient, or decoupled (see below).
      momentum_decay: :math:`\psi`, how fast the momentum coefficient :math:`\mu_t` rises to
        :math:`\beta_1`.
      decoupled_weight_decay: decay the parameter directly (as AdamW) instead of the gradient.
      maximize: maximise the objective instead of minimising it.

    Returns:
      A :class:`~functional_optim.GradientTransformation` whose state is a
      :class:`~functional_optim.HyperparamsState` holding a :class:`~functional_optim.NAdamState`.

    Example::

        tx = fo.nadam(lr=2e-3, weight_decay=1e-2, decoupled_weight_decay=True)
        state = tx.init(params)
        updates, state = tx.update(grads, state, params)
        params = fo.apply_updates(params, updates)

    torch behaviours reproduced: the momentum product :math:`\Pi` (``mu_product``) is a float32
    scalar even for float64 params, and each step multiplies it by :math:`\mu_t` rounded to
    float32 and rounds the product to float32 again, while :math:`\Pi_t\mu_{t+1}` is formed in
    full precision from the stored float32 value; the second moment is bias-corrected *before*
    the square root and ``eps`` is added after it; the parameter moves in two separate steps,
    the gradient term first, then the momentum term; ``step`` is a float32 scalar incremented
    before use. For bfloat16/float16 params each tensor torch's for-loop step writes is rounded to
    the param's dtype, op by op, the parameter between its two moves included; ``weight_decay`` (as
    an ``alpha``) and ``eps`` are rounded to it too, multipliers and ``addcdiv`` values are not.
    """
    check_lr(lr)
    check_eps(eps)
    check_betas(betas)
    check_weight_decay(weight_decay)
    check_value("momentum_decay", momentum_decay, lambda v: v >= 0, "Invalid momentum_decay value", ">= 0")

    def init(params, hyperparams):
        del hyperparams
        return NAdamState(
            step=jnp.zeros((), jnp.float32),
            mu_product=jnp.ones((), jnp.float32),
            exp_avg=jax.tree.map(jnp.zeros_like, params),
            exp_avg_sq=jax.tree.map(jnp.zeros_like, params),
        )

    def step(grads, state, params, hyperparams, count):
        del count
        lr, eps, weight_decay = hyperparams["lr"], hyperparams["eps"], hyperparams["weight_decay"]
        momentum_decay = hyperparams["momentum_decay"]
        beta1, beta2 = hyperparams["betas"]
        step = state.step + 1
        t = step.astype(scalar_dtype())
        mu = beta1 * (1 - 0.5 * 0.96 ** (t * momentum_decay))
        mu_next = beta1 * (1 - 0.5 * 0.96 ** ((t + 1) * momentum_decay))
        mu_product = state.mu_product * mu.astype(jnp.float32)
        mu_product_value = mu_product.astype(scalar_dtype())
        mu_product_next = mu_product_value * mu_next
        scalars = {
            "decay_factor": decoupled_decay_factor(lr, weight_decay),
            "weight_decay": weight_decay,
            "one_minus_beta1": 1 - beta1,
            "beta2": beta2,
            "one_minus_beta2": 1 - beta2,
            "bias_correction2": 1 - beta2**t,
            "eps": eps,
            "grad_coef": -lr * cast_like(1 - mu, lr) / cast_like(1 - mu_product_value, lr),
            "exp_avg_coef": -lr * cast_like(mu_next, lr) / cast_like(1 - mu_product_next, lr),
        }

        def one_param(s, param, grad, exp_avg, exp_avg_sq, store):
            # store(): a half-precision tensor written by one torch op (see storage_rounding)
            grad = -grad if maximize else grad
            # param.mul_(1 - lr * wd) or grad.add(param, alpha=wd)
            param, grad = decay_param_or_grad(
                param, grad, s["weight_decay"], s["decay_factor"], decoupled_weight_decay, store
            )
            exp_avg, exp_avg_sq = store.hold(
                *adam_moments(exp_avg, exp_avg_sq, grad, s["one_minus_beta1"], s["beta2"], s["one_minus_beta2"], store)
            )
            # exp_avg_sq.div(bias_correction2).sqrt(), then .add_(eps): three ops; add_ rounds eps to the dtype
            root = store(jnp.sqrt(divide_by_number(exp_avg_sq, s["bias_correction2"], store)))
            denom = store(root + store(s["eps"]))
            # param.addcdiv_(grad, denom, value=grad_coef), then the same with exp_avg: (value * t1) / t2 each
            param = store(param + s["grad_coef"] * grad / denom)
            return param + s["exp_avg_coef"] * exp_avg / denom, exp_avg, exp_avg_sq

        moments = (state.exp_avg, state.exp_avg_sq)
        decay = 0 if weight_decay is None else 2 if decoupled_weight_decay else 1  # the kernel's weight_decay
        new_params, exp_avg, exp_avg_sq = native.multi_tensor_step(
            "nadam", one_param, scalars, _NATIVE_SCALARS, params, grads, moments, maximize=maximize, weight_decay=decay
        )
        return new_params, NAdamState(step, mu_product, exp_avg, exp_avg_sq)

    hyperparams = {
        "lr": lr,
        "betas": tuple(betas),
        "eps": eps,
        "weight_decay": weight_decay,
        "momentum_decay": momentum_decay,
    }
    return algorithm_transform(
        "NAdam", init, step, hyperparams, skipped_at_zero=("weight_decay",), native_kernel="nadam"
    )
