"""Adam and AdamW: the :func:`adam` and :func:`adamw` transforms and their state, :class:`AdamState`."""

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
from functional_optim.validation import check_betas, check_eps, check_lr, check_weight_decay

# The scalars of native/kernels/adam.cc, in its order.
_NATIVE_SCALARS = (*native.ADAM_FAMILY_SCALARS, "step_size", "bias_correction2_sqrt", "eps")


class AdamState(NamedTuple):
    """torch's per-parameter Adam state; ``max_exp_avg_sq`` is None unless amsgrad."""

    step: jax.Array
    exp_avg: Any
    exp_avg_sq: Any
    max_exp_avg_sq: Any


def _check_betas_types(betas: Any) -> None:
    """torch: both floats or both tensors (so ``(0, 0.99)`` raises); a schedule may join either."""
    kinds = {"schedule" if callable(b) else "float" if isinstance(b, float) else "array" for b in betas}
    is_array = [isinstance(b, jax.Array) for b in betas]
    if {"float", "array"} <= kinds or not all(
        callable(b) or isinstance(b, float) or array for b, array in zip(betas, is_array)
    ):
        raise ValueError(f"betas must be either both floats or both Tensors, but got betas={betas!r}")


def _adam(name, lr, betas, eps, weight_decay, amsgrad, maximize, decoupled_weight_decay) -> GradientTransformation:
    check_lr(lr)
    check_eps(eps)
    check_betas(betas)
    check_weight_decay(weight_decay)
    _check_betas_types(betas)

    def init(params, hyperparams):
        del hyperparams
        return AdamState(
            step=jnp.zeros((), jnp.float32),
            exp_avg=jax.tree.map(jnp.zeros_like, params),
            exp_avg_sq=jax.tree.map(jnp.zeros_like, params),
            max_exp_avg_sq=jax.tree.map(jnp.zeros_like, params) if amsgrad else None,
        )

    def step(grads, state, params, hyperparams, count):
        del count
        lr, eps, weight_decay = hyperparams["lr"], hyperparams["eps"], hyperparams["weight_decay"]
        beta1, beta2 = hyperparams["betas"]
        step = state.step + 1
        t = step.astype(scalar_dtype())
        bias_correction1 = 1 - beta1**t
        bias_correction2 = 1 - beta2**t
        scalars = {
            "decay_factor": decoupled_decay_factor(lr, weight_decay),
            "weight_decay": weight_decay,
            "one_minus_beta1": 1 - beta1,
            "beta2": beta2,
            "one_minus_beta2": 1 - beta2,
            "step_size": lr / cast_like(bias_correction1, lr),
            "bias_correction2_sqrt": jnp.sqrt(bias_correction2),
            "eps": eps,
        }

        def one_param(s, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, store):
            # store(): a half-precision tensor written by one torch op (see storage_rounding)
            grad = -grad if maximize else grad
            # param.mul_(1 - lr * wd) or grad.add(param, alpha=wd)
            param, grad = decay_param_or_grad(
                param, grad, s["weight_decay"], s["decay_factor"], decoupled_weight_decay, store
            )
            exp_avg, exp_avg_sq = store.hold(
                *adam_moments(exp_avg, exp_avg_sq, grad, s["one_minus_beta1"], s["beta2"], s["one_minus_beta2"], store)
            )
            if amsgrad:
                (max_exp_avg_sq,) = store.hold(jnp.maximum(max_exp_avg_sq, exp_avg_sq))
            second_moment = max_exp_avg_sq if amsgrad else exp_avg_sq
            # (v.sqrt() / bias_correction2_sqrt).add_(eps): three ops; add_ rounds eps to the dtype
            root = store(jnp.sqrt(second_moment))
            denom = store(divide_by_number(root, s["bias_correction2_sqrt"], store) + store(s["eps"]))
            # torch: param.addcdiv_(exp_avg, denom, value=-step_size), i.e. (value * exp_avg) / denom
            return param - s["step_size"] * exp_avg / denom, exp_avg, exp_avg_sq, max_exp_avg_sq

        moments = (state.exp_avg, state.exp_avg_sq, state.max_exp_avg_sq)
        new_params, exp_avg, exp_avg_sq, max_exp_avg_sq = native.multi_tensor_step(
            "adam",
            one_param,
            scalars,
            _NATIVE_SCALARS,
            params,
            grads,
            moments,
            maximize=maximize,
            amsgrad=amsgrad,
            weight_decay=0 if weight_decay is None else 2 if decoupled_weight_decay else 1,
        )
        return new_params, AdamState(step, exp_avg, exp_avg_sq, max_exp_avg_sq)

    hyperparams = {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay}
    return algorithm_transform(name, init, step, hyperparams, skipped_at_zero=("weight_decay",), native_kernel="adam")


def adam(
    lr: Hyperparam = 1e-3,
    betas: tuple[Hyperparam, Hyperparam] = (0.9, 0.999),
    eps: Hyperparam = 1e-8,
    weight_decay: Hyperparam = 0.0,
    amsgrad: bool = False,
    *,
    maximize: bool = False,
    decoupled_weight_decay: bool = False,
) -> GradientTransformation:
    r"""Adam, with optional AMSGrad and decoupled weight decay, as ``torch.optim.Adam``.

    .. math::

       \begin{aligned}
       &g_t \leftarrow \pm\nabla f(\theta_{t-1}) && \text{(}-\text{ if maximize)}\\
       &\text{decoupled: } \theta_{t-1} \leftarrow \theta_{t-1}(1 - \gamma\lambda)
           \quad\text{else: } g_t \leftarrow g_t + \lambda\,\theta_{t-1}\\
       &m_t \leftarrow \operatorname{lerp}(m_{t-1}, g_t, 1-\beta_1)\\
       &v_t \leftarrow \beta_2 v_{t-1} + (1-\beta_2)\, g_t^2\\
       &\hat v_t \leftarrow \max(\hat v_{t-1}, v_t) \text{ if amsgrad else } v_t\\
       &\theta_t \leftarrow \theta_{t-1} - \frac{\gamma}{1-\beta_1^t}\,
           \frac{m_t}{\sqrt{\hat v_t}\,/\sqrt{1-\beta_2^t} + \epsilon}
       \end{aligned}

    Args:
      lr: learning rate :math:`\gamma`.
      betas: :math:`(\beta_1, \beta_2)`, each in [0, 1): the decay rates of the two moments.
      eps: :math:`\epsilon`, added to the bias-corrected root of the second moment.
      weight_decay: :math:`\lambda`; L2 on the gradient, or decoupled (see below).
      amsgrad: use the running maximum of the second moment (AMSGrad).
      maximize: maximise the objective instead of minimising it.
      decoupled_weight_decay: decay the parameter directly (AdamW) instead of the gradient.

    Returns:
      A :class:`~functional_optim.GradientTransformation` whose state is a
      :class:`~functional_optim.HyperparamsState` holding an :class:`~functional_optim.AdamState`.

    Example::

        tx = fo.adam(lr=1e-3, weight_decay=0.1, amsgrad=True)
        state = tx.init(params)
        updates, state = tx.update(grads, state, params)
        params = fo.apply_updates(params, updates)

    torch behaviours reproduced: ``eps`` is added *after* dividing :math:`\sqrt{v}` by
    :math:`\sqrt{1-\beta_2^t}`; amsgrad keeps the running max of the uncorrected :math:`v`; the
    decoupled decay multiplies the parameter by :math:`1-\gamma\lambda` with the current lr before
    the moment update; ``step`` is a float32 scalar incremented before use; ``betas`` must be both
    Python floats or both arrays (so ``(0, 0.99)`` raises, as in torch).
    """
    return _adam("Adam", lr, betas, eps, weight_decay, amsgrad, maximize, decoupled_weight_decay)


def adamw(
    lr: Hyperparam = 1e-3,
    betas: tuple[Hyperparam, Hyperparam] = (0.9, 0.999),
    eps: Hyperparam = 1e-8,
    weight_decay: Hyperparam = 1e-2,
    amsgrad: bool = False,
    *,
    maximize: bool = False,
) -> GradientTransformation:
    r"""Adam with decoupled weight decay, as ``torch.optim.AdamW``.

    :func:`adam` with ``decoupled_weight_decay=True`` and a default ``weight_decay`` of 1e-2: at
    each step, before the moment update, the parameter itself decays (the gradient does not),

    .. math::

       \theta_{t-1} \leftarrow \theta_{t-1}\,(1 - \gamma\lambda),

    and the rest of the step is :func:`adam`'s, whose docstring lists the torch behaviours
    reproduced. ``lr``, ``betas``, ``eps``, ``amsgrad`` and ``maximize`` are :func:`adam`'s.

    Args:
      weight_decay: :math:`\lambda`, the rate of the decoupled decay.

    Returns:
      A :class:`~functional_optim.GradientTransformation` whose state is a
      :class:`~functional_optim.HyperparamsState` holding an :class:`~functional_optim.AdamState`.

    Example::

        tx = fo.adamw(lr=3e-4, betas=(0.9, 0.95), weight_decay=0.1)
        state = tx.init(params)
        params, state = fo.apply_gradients(tx, grads, state, params)
    """
    return _adam("AdamW", lr, betas, eps, weight_decay, amsgrad, maximize, decoupled_weight_decay=True)
