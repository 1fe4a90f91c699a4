"""RAdam: the :func:`radam` transform and its state, :class:`RAdamState`."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from functional_optim import native
from functional_optim.elementwise import adam_moments, decay_param_or_grad, divide_by_number
from functional_optim.hyperparams import (
    Hyperparam,
    algorithm_transform,
    decoupled_decay_factor,
    scalar_dtype,
)
from functional_optim.transform import GradientTransformation
from functional_optim.validation import check_betas, check_eps, check_lr, check_weight_decay

# The scalars of native/kernels/radam.cc, in its order.
_NATIVE_SCALARS = (
    *native.ADAM_FAMILY_SCALARS,
    "bias_correction1",
    "bias_correction2_sqrt",
    "lr",
    "eps",
    "rectify",
    "rect",
)


class RAdamState(NamedTuple):
    """torch's per-parameter RAdam state."""

    step: jax.Array
    exp_avg: Any
    exp_avg_sq: Any


def radam(
    lr: Hyperparam = 1e-3,
    betas: tuple[Hyperparam, Hyperparam] = (0.9, 0.999),
    eps: Hyperparam = 1e-8,
    weight_decay: Hyperparam = 0.0,
    decoupled_weight_decay: bool = False,
    *,
    maximize: bool = False,
) -> GradientTransformation:
    r"""Adam with a rectified adaptive learning rate, as ``torch.optim.RAdam``.

    .. math::

       \begin{aligned}
       &g_t \leftarrow \pm\nabla f(\theta_{t-1}) && \text{(}-\text{ if maximize)}\\
       &\text{decoupled: } \theta_{t-1} \leftarrow \theta_{t-1}(1 - \gamma\lambda)
           \quad\text{else: } g_t \leftarrow g_t + \lambda\,\theta_{t-1}\\
       &m_t \leftarrow \operatorname{lerp}(m_{t-1}, g_t, 1-\beta_1)\\
       &v_t \leftarrow \beta_2 v_{t-1} + (1-\beta_2)\, g_t^2\\
       &\hat m_t \leftarrow m_t / (1-\beta_1^t)\\
       &\rho_\infty \leftarrow \frac{2}{1-\beta_2} - 1, \qquad
        \rho_t \leftarrow \rho_\infty - \frac{2t\,\beta_2^t}{1-\beta_2^t}\\
       &\text{if } \rho_t > 5:\\
       &\quad r_t \leftarrow \sqrt{\frac{(\rho_t-4)(\rho_t-2)\,\rho_\infty}{(\rho_\infty-4)(\rho_\infty-2)\,\rho_t}}\\
       &\quad \theta_t \leftarrow \theta_{t-1} - \hat m_t\,\gamma\,
           \frac{\sqrt{1-\beta_2^t}}{\sqrt{v_t} + \epsilon}\, r_t\\
       &\text{else: } \theta_t \leftarrow \theta_{t-1} - \hat m_t\,\gamma
       \end{aligned}

    Args:
      lr: learning rate :math:`\gamma`.
      betas: :math:`(\beta_1, \beta_2)`, each in [0, 1): the decay rates of the two moments.
      eps: :math:`\epsilon`, added to the root of the uncorrected second moment.
      weight_decay: :math:`\lambda`; L2 on the gradient, or decoupled (see below).
      decoupled_weight_decay: decay the parameter directly (as AdamW) instead of the gradient.
      maximize: maximise the objective instead of minimising it.

    Returns:
      A :class:`~functional_optim.GradientTransformation` whose state is a
      :class:`~functional_optim.HyperparamsState` holding an :class:`~functional_optim.RAdamState`.

    Example::

        tx = fo.radam(lr=1e-3, weight_decay=1e-2, decoupled_weight_decay=True)
        state = tx.init(params)
        update = jax.jit(tx.update)
        updates, state = update(grads, state, params)
        params = fo.apply_updates(params, updates)

    torch behaviours reproduced: the test :math:`\rho_t > 5` is strict, and until it holds (up to
    step 5 for the default :math:`\beta_2`) the step ignores the second moment entirely; ``eps``
    is added to :math:`\sqrt{v_t}` *before* the bias correction, which multiplies from above (unlike
    Adam and NAdam); the step is formed left to right as :math:`((\hat m_t\gamma)\,a_t)\,r_t`;
    ``step`` is a float32 scalar incremented before use. The branch is chosen with a select on
    the traced step, so a jitted update serves both phases. For bfloat16/float16 params each
    tensor torch's for-loop step writes is rounded to the param's dtype, op by op (``weight_decay``
    and ``eps`` too, multipliers not), and :math:`\sqrt{1-\beta_2^t}/(\ldots)` is formed as torch's
    ``reciprocal()`` times the number.
    """
    check_lr(lr)
    check_eps(eps)
    check_betas(betas)
    check_weight_decay(weight_decay)

    def init(params, hyperparams):
        del hyperparams
        return RAdamState(
            step=jnp.zeros((), jnp.float32),
            exp_avg=jax.tree.map(jnp.zeros_like, params),
            exp_avg_sq=jax.tree.map(jnp.zeros_like, params),
        )

    def step(grads, state, params, hyperparams, count):
        del count
        lr, eps, weight_decay = hyperparams["lr"], hyperparams["eps"], hyperparams["weight_decay"]
        beta1, beta2 = hyperparams["betas"]
        step = state.step + 1
        t = step.astype(scalar_dtype())
        bias_correction1 = 1 - beta1**t
        bias_correction2 = 1 - beta2**t
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * t * beta2**t / bias_correction2
        rect = jnp.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
        scalars = {
            "decay_factor": decoupled_decay_factor(lr, weight_decay),
            "weight_decay": weight_decay,
            "one_minus_beta1": 1 - beta1,
            "beta2": beta2,
            "one_minus_beta2": 1 - beta2,
            "bias_correction1": bias_correction1,
            "bias_correction2_sqrt": jnp.sqrt(bias_correction2),
            "lr": lr,
            "eps": eps,
            "rectify": rho_t > 5,
            "rect": rect,
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
            # exp_avg / bias_correction1 * lr: two ops
            momentum_step = store(divide_by_number(exp_avg, s["bias_correction1"], store) * s["lr"])
            root = store(store(jnp.sqrt(exp_avg_sq)) + store(s["eps"]))  # .sqrt().add_(eps): add_ rounds eps
            # torch's float / tensor is tensor.reciprocal() * float: two ops, which only half
            # precision rounds apart (float32/float64 keep the one division they always had)
            if not store.rounds:
                adaptive = s["bias_correction2_sqrt"] / root
            else:
                adaptive = store(store(1 / root) * s["bias_correction2_sqrt"])
            rectified = store(store(momentum_step * adaptive) * s["rect"])
            # param.add_(update, alpha=-1.0)
            return param - jnp.where(s["rectify"], rectified, momentum_step), exp_avg, exp_avg_sq

        moments = (state.exp_avg, state.exp_avg_sq)
        decay = 0 if weight_decay is None else 2 if decoupled_weight_decay else 1  # the kernel's weight_decay
        new_params, exp_avg, exp_avg_sq = native.multi_tensor_step(
            "radam", one_param, scalars, _NATIVE_SCALARS, params, grads, moments, maximize=maximize, weight_decay=decay
        )
        return new_params, RAdamState(step, exp_avg, exp_avg_sq)

    hyperparams = {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay}
    return algorithm_transform(
        "RAdam", init, step, hyperparams, skipped_at_zero=("weight_decay",), native_kernel="radam"
    )
