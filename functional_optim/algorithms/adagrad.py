"""Adagrad: the :func:`adagrad` transform and its state, :class:`AdagradState`."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from functional_optim import native
from functional_optim.elementwise import maximize_and_decay
from functional_optim.hyperparams import Hyperparam, algorithm_transform, cast_like, scalar_dtype
from functional_optim.transform import GradientTransformation
from functional_optim.validation import check_eps, check_lr, check_value, check_weight_decay

# The scalars of native/kernels/adagrad.cc, in its order.
_NATIVE_SCALARS = ("clr", "weight_decay", "eps")


class AdagradState(NamedTuple):
    """torch's per-parameter Adagrad state."""

    step: jax.Array
    sum: Any


def adagrad(
    lr: Hyperparam = 1e-2,
    lr_decay: Hyperparam = 0.0,
    weight_decay: Hyperparam = 0.0,
    initial_accumulator_value: Hyperparam = 0.0,
    eps: Hyperparam = 1e-10,
    *,
    maximize: bool = False,
) -> GradientTransformation:
    r"""Per-coordinate step sizes from the sum of squared gradients, as ``torch.optim.Adagrad``.

    .. math::

       \begin{aligned}
       &g_t \leftarrow \pm\nabla f(\theta_{t-1}) + \lambda\,\theta_{t-1}
           && \text{(}-\text{ if maximize; } \lambda = \text{weight\_decay)}\\
       &\tilde\gamma_t \leftarrow \frac{\gamma}{1 + (t-1)\,\eta}
           && \text{(}\eta = \text{lr\_decay)}\\
       &s_t \leftarrow s_{t-1} + g_t^2 && (s_0 = \text{initial\_accumulator\_value})\\
       &\theta_t \leftarrow \theta_{t-1} - \tilde\gamma_t\,\frac{g_t}{\sqrt{s_t} + \epsilon}
       \end{aligned}

    Args:
      lr: learning rate :math:`\gamma`.
      lr_decay: :math:`\eta`; step :math:`t` uses the lr :math:`\gamma / (1 + (t-1)\eta)`.
      weight_decay: L2 penalty :math:`\lambda` added to the gradient.
      initial_accumulator_value: the starting value of the sum of squared gradients. Only
        read by ``init``.
      eps: :math:`\epsilon`, added to the square root of the sum.
      maximize: maximise the objective instead of minimising it.

    Returns:
      A :class:`~functional_optim.GradientTransformation` whose state is a
      :class:`~functional_optim.HyperparamsState` holding an :class:`~functional_optim.AdagradState`.

    Example::

        tx = fo.adagrad(lr=1e-2, lr_decay=1e-4, initial_accumulator_value=0.1)
        state = tx.init(params)
        updates, state = tx.update(grads, state, params)
        params = fo.apply_updates(params, updates)

    torch behaviours reproduced: the accumulator ``sum`` starts at ``initial_accumulator_value``
    (in both the real and imaginary part of a complex parameter), not at zero; the lr decay uses
    :math:`t-1`, so the first step uses the full lr; ``eps`` is added *after* the square root;
    ``step`` is a float32 scalar incremented before use; with an array ``lr`` (torch's Tensor lr)
    the decayed lr is computed in the array's dtype, as torch's tensor arithmetic does. For
    bfloat16/float16 params every tensor op rounds its result to the param's dtype, and
    ``weight_decay`` and ``eps`` are rounded to it too (the decayed lr is not).
    """
    check_lr(lr)
    check_value("lr_decay", lr_decay, lambda v: v >= 0, "Invalid lr_decay value", ">= 0")
    check_weight_decay(weight_decay)
    check_value(
        "initial_accumulator_value",
        initial_accumulator_value,
        lambda v: v >= 0,
        "Invalid initial_accumulator_value value",
        ">= 0",
    )
    check_eps(eps)

    def init(params, hyperparams):
        initial = hyperparams["initial_accumulator_value"]
        return AdagradState(
            step=jnp.zeros((), jnp.float32),
            # a copy: for a 0-d param of its dtype, full_like returns ``initial`` itself, and the state
            # must not share a buffer with the hyperparameters (a donated step passes both)
            sum=jax.tree.map(lambda p: jnp.array(jnp.full_like(p, initial), copy=True), params),
        )

    def step(grads, state, params, hyperparams, count):
        del count
        lr = hyperparams["lr"]
        step = state.step + 1
        decay = 1 + (step.astype(scalar_dtype()) - 1) * hyperparams["lr_decay"]
        scalars = {
            "weight_decay": hyperparams["weight_decay"],
            "clr": lr / cast_like(decay, lr),
            "eps": hyperparams["eps"],
        }

        def one_param(s, param, grad, sum_, store):
            # store(): a half-precision tensor written by one torch op (see storage_rounding); an
            # alpha is rounded to the tensor's dtype first, addcdiv's value is not
            grad = maximize_and_decay(grad, param, s["weight_decay"], maximize, store)  # grad.add(param, alpha=wd)
            (sum_,) = store.hold(store(sum_ + grad * grad))  # sum.addcmul_(grad, grad, value=1): an exact product
            std = store(store(jnp.sqrt(sum_)) + store(s["eps"]))  # sum.sqrt().add_(eps)
            return param - s["clr"] * grad / std, sum_  # param.addcdiv_(grad, std, value=-clr): (value * grad) / std

        new_params, sum_ = native.multi_tensor_step(
            "adagrad",
            one_param,
            scalars,
            _NATIVE_SCALARS,
            params,
            grads,
            [state.sum],
            maximize=maximize,
            weight_decay=scalars["weight_decay"] is not None,
        )
        return new_params, AdagradState(step, sum_)

    hyperparams = {
        "lr": lr,
        "lr_decay": lr_decay,
        "eps": eps,
        "weight_decay": weight_decay,
        "initial_accumulator_value": initial_accumulator_value,
    }
    return algorithm_transform(
        "Adagrad", init, step, hyperparams, skipped_at_zero=("weight_decay",), native_kernel="adagrad"
    )
