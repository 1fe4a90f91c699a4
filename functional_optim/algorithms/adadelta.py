"""Adadelta: the :func:`adadelta` transform and its state, :class:`AdadeltaState`."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from functional_optim import native
from functional_optim.elementwise import maximize_and_decay, running_square
from functional_optim.hyperparams import Hyperparam, algorithm_transform
from functional_optim.transform import GradientTransformation
from functional_optim.validation import check_eps, check_lr, check_value, check_weight_decay

# The scalars of native/kernels/adadelta.cc, in its order.
_NATIVE_SCALARS = ("weight_decay", "rho", "one_minus_rho", "eps", "lr")


class AdadeltaState(NamedTuple):
    """torch's per-parameter Adadelta state."""

    step: jax.Array
    square_avg: Any
    acc_delta: Any


def adadelta(
    lr: Hyperparam = 1.0,
    rho: Hyperparam = 0.9,
    eps: Hyperparam = 1e-6,
    weight_decay: Hyperparam = 0.0,
    *,
    maximize: bool = False,
) -> GradientTransformation:
    r"""Step sizes from running averages of squared gradients and updates, as ``torch.optim.Adadelta``.

    .. math::

       \begin{aligned}
       &g_t \leftarrow \pm\nabla f(\theta_{t-1}) + \lambda\,\theta_{t-1}
           && \text{(}-\text{ if maximize; } \lambda = \text{weight\_decay)}\\
       &v_t \leftarrow \rho\, v_{t-1} + (1-\rho)\, g_t^2\\
       &\Delta_t \leftarrow \frac{\sqrt{u_{t-1} + \epsilon}}{\sqrt{v_t + \epsilon}}\, g_t\\
       &u_t \leftarrow \rho\, u_{t-1} + (1-\rho)\, \Delta_t^2\\
       &\theta_t \leftarrow \theta_{t-1} - \gamma\, \Delta_t
       \end{aligned}

    Args:
      lr: learning rate :math:`\gamma`, scaling the delta.
      rho: :math:`\rho` in [0, 1], the decay rate of both running averages.
      eps: :math:`\epsilon`, added inside both square roots.
      weight_decay: L2 penalty :math:`\lambda` added to the gradient.
      maximize: maximise the objective instead of minimising it.

    Returns:
      A :class:`~functional_optim.GradientTransformation` whose state is a
      :class:`~functional_optim.HyperparamsState` holding an :class:`~functional_optim.AdadeltaState`.

    Example::

        tx = fo.adadelta(rho=0.95, eps=1e-6)
        state = tx.init(params)
        params, state = fo.apply_gradients(tx, grads, state, params)

    torch behaviours reproduced: ``eps`` is added *inside* both square roots; the update uses the
    accumulated delta :math:`u_{t-1}` of the previous step, before it is updated; ``rho = 1`` is
    allowed (the averages then stay at zero and the step is :math:`\gamma g_t`); ``step`` is a
    float32 scalar incremented before use, though nothing reads it. For bfloat16/float16 params
    every tensor op rounds its result to the param's dtype, ``weight_decay``, ``eps`` and ``lr``
    are rounded to it too (``rho`` is not), and ``addcmul`` rounds once (fused).
    """
    check_lr(lr)
    check_value("rho", rho, lambda v: 0 <= v <= 1, "Invalid rho value", "in [0, 1]")
    check_eps(eps)
    check_weight_decay(weight_decay)

    def init(params, hyperparams):
        del hyperparams
        return AdadeltaState(
            step=jnp.zeros((), jnp.float32),
            square_avg=jax.tree.map(jnp.zeros_like, params),
            acc_delta=jax.tree.map(jnp.zeros_like, params),
        )

    def step(grads, state, params, hyperparams, count):
        del count
        rho = hyperparams["rho"]
        scalars = {
            "weight_decay": hyperparams["weight_decay"],
            "rho": rho,
            "one_minus_rho": 1 - rho,
            "eps": hyperparams["eps"],
            "lr": hyperparams["lr"],
        }

        def one_param(s, param, grad, square_avg, acc_delta, store):
            # store(): a half-precision tensor written by one torch op (see storage_rounding); an
            # alpha or an added scalar is rounded to the tensor's dtype first, a multiplier is not
            grad = maximize_and_decay(grad, param, s["weight_decay"], maximize, store)  # grad.add(param, alpha=wd)
            # square_avg.mul_(rho).addcmul_(grad, grad, value=1 - rho), and the same for acc_delta below
            (square_avg,) = store.hold(running_square(square_avg, grad, s["rho"], s["one_minus_rho"], store))
            eps = store(s["eps"])
            std = store(jnp.sqrt(store(square_avg + eps)))  # square_avg.add(eps).sqrt_()
            # acc_delta.add(eps).sqrt_(), then delta.div_(std).mul_(grad)
            delta = store(store(store(jnp.sqrt(store(acc_delta + eps))) / std) * grad)
            acc_delta = running_square(acc_delta, delta, s["rho"], s["one_minus_rho"], store)
            return param - store(s["lr"]) * delta, square_avg, acc_delta  # param.add_(delta, alpha=-lr)

        new_params, square_avg, acc_delta = native.multi_tensor_step(
            "adadelta",
            one_param,
            scalars,
            _NATIVE_SCALARS,
            params,
            grads,
            (state.square_avg, state.acc_delta),
            maximize=maximize,
            weight_decay=scalars["weight_decay"] is not None,
        )
        return new_params, AdadeltaState(state.step + 1, square_avg, acc_delta)

    hyperparams = {"lr": lr, "rho": rho, "eps": eps, "weight_decay": weight_decay}
    return algorithm_transform(
        "Adadelta", init, step, hyperparams, skipped_at_zero=("weight_decay",), native_kernel="adadelta"
    )
