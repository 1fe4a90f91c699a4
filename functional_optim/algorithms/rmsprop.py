"""RMSprop: the :func:`rmsprop` transform and its state, :class:`RMSpropState`."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from functional_optim import native
from functional_optim.elementwise import lerp, maximize_and_decay, running_square
from functional_optim.hyperparams import Hyperparam, algorithm_transform
from functional_optim.transform import GradientTransformation
from functional_optim.validation import (
    check_eps,
    check_lr,
    check_momentum,
    check_value,
    check_weight_decay,
)

# The scalars of native/kernels/rmsprop.cc, in its order.
_NATIVE_SCALARS = ("lr", "weight_decay", "alpha", "one_minus_alpha", "eps", "momentum", "use_momentum")


class RMSpropState(NamedTuple):
    """torch's per-parameter RMSprop state.

    ``momentum_buffer`` is None when momentum was given as the Python number 0; ``grad_avg``
    is None unless centered.
    """

    step: jax.Array
    square_avg: Any
    momentum_buffer: Any
    grad_avg: Any


def rmsprop(
    lr: Hyperparam = 1e-2,
    alpha: Hyperparam = 0.99,
    eps: Hyperparam = 1e-8,
    weight_decay: Hyperparam = 0.0,
    momentum: Hyperparam = 0.0,
    centered: bool = False,
    *,
    maximize: bool = False,
) -> GradientTransformation:
    r"""Gradients scaled by a running root mean square, as ``torch.optim.RMSprop``.

    .. math::

       \begin{aligned}
       &g_t \leftarrow \pm\nabla f(\theta_{t-1}) + \lambda\,\theta_{t-1}
           && \text{(}-\text{ if maximize; } \lambda = \text{weight\_decay)}\\
       &v_t \leftarrow \alpha\, v_{t-1} + (1-\alpha)\, g_t^2\\
       &\text{if centered: } \bar g_t \leftarrow \operatorname{lerp}(\bar g_{t-1}, g_t, 1-\alpha),
           \quad d_t \leftarrow \sqrt{v_t - \bar g_t^2} + \epsilon
           \qquad\text{else: } d_t \leftarrow \sqrt{v_t} + \epsilon\\
       &\text{if } \mu > 0: \quad b_t \leftarrow \mu\, b_{t-1} + g_t / d_t,
           \quad \theta_t \leftarrow \theta_{t-1} - \gamma\, b_t\\
       &\text{else: } \theta_t \leftarrow \theta_{t-1} - \gamma\, g_t / d_t
       \end{aligned}

    Args:
      lr: learning rate :math:`\gamma`.
      alpha: :math:`\alpha` >= 0, the decay rate of the running averages.
      eps: :math:`\epsilon`, added to the root mean square.
      weight_decay: L2 penalty :math:`\lambda` added to the gradient.
      momentum: momentum factor :math:`\mu`. Given as the Python number 0, it is fixed: no
        buffer exists and :func:`~functional_optim.set_hyperparams` refuses to change it (torch
        raises a KeyError when a group's momentum becomes positive after its first step).
        Otherwise (another number, an array or a schedule) the buffer exists from the start, at
        zero, and may take any value at any step: a step whose momentum is 0 skips the buffer, as
        torch does, and the first positive one finds it at zero, as torch's new buffer.
      centered: normalise by an estimate of the gradient's variance instead of its second moment.
      maximize: maximise the objective instead of minimising it.

    Returns:
      A :class:`~functional_optim.GradientTransformation` whose state is a
      :class:`~functional_optim.HyperparamsState` holding an :class:`~functional_optim.RMSpropState`.

    Raises:
      ValueError: for a negative lr, eps, weight decay, momentum or alpha.

    Example::

        tx = fo.rmsprop(lr=1e-3, alpha=0.9, momentum=0.9, centered=True)
        state = tx.init(params)
        updates, state = tx.update(grads, state, params)
        params = fo.apply_updates(params, updates)

    torch behaviours reproduced: ``eps`` is added *after* the square root; there is no bias
    correction; the momentum buffer starts at zero (unlike SGD's), and exists unless momentum is
    given as the Python number 0 (then fixed: torch creates the buffer at the first step only if
    momentum is positive then); the centered variant subtracts the square of an EMA of
    the gradient; ``alpha`` is only required to be >= 0, so ``alpha > 1`` is accepted; ``step`` is
    a float32 scalar incremented before use, though nothing reads it. For bfloat16/float16 params
    every tensor op rounds its result to the param's dtype, ``weight_decay``, ``eps`` and (with
    momentum) ``lr`` are rounded to it too, and ``addcmul`` and ``lerp`` round once (fused).
    """
    check_lr(lr)
    check_eps(eps)
    check_momentum(momentum)
    check_weight_decay(weight_decay)
    check_value("alpha", alpha, lambda v: v >= 0, "Invalid alpha value", ">= 0")

    def init(params, hyperparams):
        def zeros():
            return jax.tree.map(jnp.zeros_like, params)

        return RMSpropState(
            step=jnp.zeros((), jnp.float32),
            square_avg=zeros(),
            momentum_buffer=None if hyperparams["momentum"] is None else zeros(),  # None: fixed at 0
            grad_avg=zeros() if centered else None,
        )

    def step(grads, state, params, hyperparams, count):
        del count
        alpha, momentum = hyperparams["alpha"], hyperparams["momentum"]
        scalars = {
            "weight_decay": hyperparams["weight_decay"],
            "alpha": alpha,
            "one_minus_alpha": 1 - alpha,
            "eps": hyperparams["eps"],
            "momentum": momentum,
            "use_momentum": None if momentum is None else momentum > 0,
            "lr": hyperparams["lr"],
        }

        def one_param(s, param, grad, square_avg, momentum_buffer, grad_avg, store):
            # store(): a half-precision tensor written by one torch op (see storage_rounding); an
            # alpha is rounded to the tensor's dtype first, a multiplier or addcdiv's value is not
            grad = maximize_and_decay(grad, param, s["weight_decay"], maximize, store)  # grad.add(param, alpha=wd)
            # square_avg.mul_(alpha).addcmul_(grad, grad, value=1 - alpha)
            square_avg = running_square(square_avg, grad, s["alpha"], s["one_minus_alpha"], store)
            if centered:  # grad_avg.lerp_(grad, 1 - alpha)
                grad_avg = lerp(grad_avg, grad, s["one_minus_alpha"], store)
            square_avg, grad_avg = store.hold(square_avg, grad_avg)
            # square_avg.addcmul(grad_avg, grad_avg, value=-1) (an exact product), .sqrt(), .add_(eps)
            second_moment = store(square_avg - grad_avg * grad_avg) if centered else square_avg
            avg = store(store(jnp.sqrt(second_moment)) + store(s["eps"]))
            plain = param - s["lr"] * grad / avg  # param.addcdiv_(grad, avg, value=-lr): (value * grad) / avg
            if momentum_buffer is None:
                return plain, square_avg, momentum_buffer, grad_avg
            # buf.mul_(momentum).addcdiv_(grad, avg); param.add_(buf, alpha=-lr)
            stepped_buffer = store(store(momentum_buffer * s["momentum"]) + grad / avg)
            (momentum_buffer,) = store.hold(jnp.where(s["use_momentum"], stepped_buffer, momentum_buffer))
            new_param = jnp.where(s["use_momentum"], param - store(s["lr"]) * momentum_buffer, plain)
            return new_param, square_avg, momentum_buffer, grad_avg

        averages = (state.square_avg, state.momentum_buffer, state.grad_avg)
        new_params, square_avg, momentum_buffer, grad_avg = native.multi_tensor_step(
            "rmsprop",
            one_param,
            scalars,
            _NATIVE_SCALARS,
            params,
            grads,
            averages,
            maximize=maximize,
            weight_decay=scalars["weight_decay"] is not None,
            has_momentum=state.momentum_buffer is not None,
            centered=centered,
        )
        return new_params, RMSpropState(state.step + 1, square_avg, momentum_buffer, grad_avg)

    hyperparams = {"lr": lr, "momentum": momentum, "alpha": alpha, "eps": eps, "weight_decay": weight_decay}
    return algorithm_transform(
        "RMSprop", init, step, hyperparams, skipped_at_zero=("weight_decay", "momentum"), native_kernel="rmsprop"
    )
