"""Rprop: the :func:`rprop` transform and its state, :class:`RpropState`."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from functional_optim import native
from functional_optim.hyperparams import Hyperparam, algorithm_transform
from functional_optim.transform import GradientTransformation
from functional_optim.validation import check_lr, concrete_value

# The scalars of native/kernels/rprop.cc, in its order.
_NATIVE_SCALARS = ("etaminus", "etaplus", "min", "max")


class RpropState(NamedTuple):
    """torch's per-parameter Rprop state."""

    step: jax.Array
    prev: Any
    step_size: Any


def _sign(x: jax.Array) -> jax.Array:
    """torch.sign on CPU: 1, -1 or 0, and 0 for NaN (``jnp.sign`` keeps the NaN)."""
    return (x > 0).astype(x.dtype) - (x < 0).astype(x.dtype)


def _check_etas(etas: Any) -> None:
    if not isinstance(etas, (tuple, list)) or len(etas) != 2:
        raise TypeError(f"etas must be a pair (etaminus, etaplus), but got {etas!r}")
    etaminus, etaplus = (concrete_value(f"etas[{i}]", eta) for i, eta in enumerate(etas))
    if (etaminus is not None and not 0 < etaminus < 1) or (etaplus is not None and not etaplus > 1):
        raise ValueError(f"Invalid eta values: {etas[0]}, {etas[1]} (etas must satisfy 0 < etas[0] < 1 < etas[1])")


def rprop(
    lr: Hyperparam = 1e-2,
    etas: tuple[Hyperparam, Hyperparam] = (0.5, 1.2),
    step_sizes: tuple[Hyperparam, Hyperparam] = (1e-6, 50),
    *,
    maximize: bool = False,
) -> GradientTransformation:
    r"""Resilient backpropagation, as ``torch.optim.Rprop``.

    .. math::

       \begin{aligned}
       &g_t \leftarrow \pm\nabla f(\theta_{t-1}) && \text{(}-\text{ if maximize; no weight decay)}\\
       &f_t \leftarrow \begin{cases}
           \eta_+ & g_t\, g_{t-1} > 0\\
           \eta_- & g_t\, g_{t-1} < 0\\
           1 & \text{otherwise}
       \end{cases}\\
       &\Delta_t \leftarrow \operatorname{clamp}(\Delta_{t-1} f_t,\ \Delta_{\min},\ \Delta_{\max})\\
       &g_t \leftarrow 0 \text{ where } f_t = \eta_-\\
       &\theta_t \leftarrow \theta_{t-1} - \operatorname{sign}(g_t)\, \Delta_t
       \end{aligned}

    with :math:`\Delta_0 = \gamma` (the lr) and :math:`g_0 = 0`.

    Args:
      lr: the initial step size :math:`\Delta_0` of every element. Read once, by ``init``.
      etas: :math:`(\eta_-, \eta_+)`, the factors that shrink and grow a step size, with
        :math:`0 < \eta_- < 1 < \eta_+`.
      step_sizes: :math:`(\Delta_{\min}, \Delta_{\max})`, the bounds of the step sizes (not
        validated, as in torch).
      maximize: maximise the objective instead of minimising it.

    Returns:
      A :class:`~functional_optim.GradientTransformation` whose state is a
      :class:`~functional_optim.HyperparamsState` holding an :class:`~functional_optim.RpropState`.

    Example::

        tx = fo.rprop(lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 1.0))
        state = tx.init(params)
        grads = jax.grad(loss_fn)(params)  # full-batch: Rprop follows the gradient's signs
        params, state = fo.apply_gradients(tx, grads, state, params)

    torch behaviours reproduced: ``lr`` only fills the initial step sizes when the state is
    created and is never read again, so changing it later (by hand or by a schedule) has no
    effect; after a sign flip the gradient is zeroed, so that parameter does not move and the
    stored ``prev`` is 0 (its next factor is 1); the first step therefore moves every parameter
    by ``clamp(lr, min, max)``; the clamp applies the minimum and then the maximum, so a
    ``step_sizes`` pair with min > max (accepted, as in torch) pins every step size to max; torch's
    CPU ``sign`` of NaN is 0, so a NaN gradient leaves its parameter and step size unchanged (and
    is stored as ``prev``); ``step`` is a float32 scalar that torch keeps but never uses. For
    bfloat16/float16 params each tensor op rounds its result to the param's dtype, and the etas
    are rounded to it, as torch writes them into a tensor of that dtype (an etaminus that rounds
    to 1 then zeroes every gradient whose factor is 1, so those parameters never move).
    """
    check_lr(lr)
    _check_etas(etas)

    def init(params, hyperparams):
        lr = hyperparams["lr"]
        return RpropState(
            step=jnp.zeros((), jnp.float32),
            prev=jax.tree.map(jnp.zeros_like, params),
            step_size=jax.tree.map(lambda p: jnp.full_like(p, lr), params),
        )

    def step(grads, state, params, hyperparams, count):
        del count
        etaminus, etaplus = hyperparams["etas"]
        step_size_min, step_size_max = hyperparams["step_sizes"]
        scalars = {"etaminus": etaminus, "etaplus": etaplus, "min": step_size_min, "max": step_size_max}

        def one_param(s, param, grad, prev, step_size, store):
            # store(): a half-precision tensor written by one torch op (see storage_rounding); the
            # etas are written into the half ``sign`` tensor, and its ``eq(etaminus)`` compares in the dtype
            etaplus, etaminus = store(s["etaplus"]), store(s["etaminus"])
            grad = -grad if maximize else grad
            sign = _sign(store(grad * prev))  # grad.mul(prev).sign(): the product may round to 0
            factor = jnp.where(sign > 0, etaplus, jnp.where(sign < 0, etaminus, 1))
            # step_size.mul_(sign).clamp_(min, max): two ops
            step_size = store(jnp.minimum(jnp.maximum(store(step_size * factor), s["min"]), s["max"]))
            step_size, grad = store.hold(step_size, jnp.where(factor == etaminus, 0, grad))
            return param - _sign(grad) * step_size, grad, step_size

        new_params, prev, step_size = native.multi_tensor_step(
            "rprop",
            one_param,
            scalars,
            _NATIVE_SCALARS,
            params,
            grads,
            (state.prev, state.step_size),
            maximize=maximize,
        )
        return new_params, RpropState(state.step + 1, prev, step_size)

    hyperparams = {"lr": lr, "etas": tuple(etas), "step_sizes": tuple(step_sizes)}
    return algorithm_transform("Rprop", init, step, hyperparams, native_kernel="rprop")
