"""ASGD: the :func:`asgd` transform and its state, :class:`ASGDState`."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from functional_optim import native
from functional_optim.elementwise import maximize_and_decay
from functional_optim.hyperparams import Hyperparam, algorithm_transform, cast_like, scalar_dtype
from functional_optim.transform import GradientTransformation
from functional_optim.validation import check_lr, check_weight_decay

# The scalars of native/kernels/asgd.cc, in its order.
_NATIVE_SCALARS = ("weight_decay", "decay_factor", "neg_eta", "mu", "copy")


class ASGDState(NamedTuple):
    """torch's per-parameter ASGD state; ``eta`` and ``mu`` are float32 scalars."""

    step: jax.Array
    eta: jax.Array
    mu: jax.Array
    ax: Any


def asgd(
    lr: Hyperparam = 1e-2,
    lambd: Hyperparam = 1e-4,
    alpha: Hyperparam = 0.75,
    t0: Hyperparam = 1e6,
    weight_decay: Hyperparam = 0.0,
    *,
    maximize: bool = False,
) -> GradientTransformation:
    r"""Averaged stochastic gradient descent, as ``torch.optim.ASGD``.

    .. math::

       \begin{aligned}
       &g_t \leftarrow \pm\nabla f(\theta_{t-1}) + \lambda\,\theta_{t-1}
           && \text{(}-\text{ if maximize; } \lambda = \text{weight\_decay)}\\
       &\theta_t \leftarrow \theta_{t-1}\,(1 - \kappa\,\eta_{t-1}) - \eta_{t-1}\, g_t
           && (\kappa = \text{lambd})\\
       &\bar\theta_t \leftarrow \theta_t \text{ if } \mu_{t-1} = 1
           \text{ else } \bar\theta_{t-1} + \mu_{t-1}(\theta_t - \bar\theta_{t-1})\\
       &\eta_t \leftarrow \frac{\gamma}{(1 + \kappa\,\gamma\, t)^{\alpha}}, \qquad
        \mu_t \leftarrow \frac{1}{\max(1,\ t - t_0)}
       \end{aligned}

    with :math:`\eta_0 = \gamma` (the lr) and :math:`\mu_0 = 1`; :math:`\bar\theta` is the
    running average ``ax``, kept in the state (the parameters themselves are not averaged).

    Args:
      lr: learning rate :math:`\gamma`; it sets the first ``eta`` and the later ones.
      lambd: decay term :math:`\kappa`, both of the parameters and of ``eta``.
      alpha: power :math:`\alpha` of the ``eta`` decay.
      t0: the step :math:`t_0` after which ``ax`` starts averaging.
      weight_decay: L2 penalty :math:`\lambda` added to the gradient.
      maximize: maximise the objective instead of minimising it.

    Returns:
      A :class:`~functional_optim.GradientTransformation` whose state is a
      :class:`~functional_optim.HyperparamsState` holding an :class:`~functional_optim.ASGDState`.

    Example::

        tx = fo.asgd(lr=1e-2, t0=1000)
        state = tx.init(params)
        params, state = fo.apply_gradients(tx, grads, state, params)
        averaged = state.inner_state.ax  # the averaged parameters, e.g. to evaluate

    torch behaviours reproduced: ``eta`` and ``mu`` are float32 scalars even for float64 params,
    so both are rounded to float32 each time they are stored (the first ``eta`` is the lr rounded
    to float32); step ``t`` uses the ``eta`` and ``mu`` computed at the end of step ``t-1``, from
    the lr of that step; ``ax`` is a plain copy of the parameter for as long as the stored ``mu``
    is exactly 1, which for an integer ``t0`` lasts up to step ``t0 + 2``; the decay
    :math:`1 - \kappa\eta` shrinks the parameters at every step, so they move even with zero
    gradients; ``lambd``, ``alpha`` and ``t0`` are not validated. For bfloat16/float16 params every
    tensor op rounds its result to the param's dtype, and ``-eta`` and ``weight_decay`` (``alpha``
    arguments) are rounded to it too, while ``mu`` and the decay factor multiply in float32.
    """
    check_lr(lr)
    check_weight_decay(weight_decay)

    def init(params, hyperparams):
        return ASGDState(
            step=jnp.zeros((), jnp.float32),
            eta=jnp.array(hyperparams["lr"], jnp.float32),  # a copy: no buffer shared with the lr
            mu=jnp.ones((), jnp.float32),
            ax=jax.tree.map(jnp.zeros_like, params),
        )

    def step(grads, state, params, hyperparams, count):
        del count
        lr, lambd, alpha, t0 = hyperparams["lr"], hyperparams["lambd"], hyperparams["alpha"], hyperparams["t0"]
        step = state.step + 1
        t = step.astype(scalar_dtype())
        eta = state.eta.astype(scalar_dtype())
        scalars = {
            "weight_decay": hyperparams["weight_decay"],
            "decay_factor": 1 - lambd * eta,
            "neg_eta": -eta,
            "mu": state.mu,
            "copy": state.mu == 1,
        }

        def one_param(s, param, grad, ax, store):
            # store(): a half-precision tensor written by one torch op (see storage_rounding); an
            # ``alpha`` is rounded to the tensor's dtype first, a multiplier (even the 0-d mu) is not
            grad = maximize_and_decay(grad, param, s["weight_decay"], maximize, store)  # grad.add(param, alpha=wd)
            param = store(param * s["decay_factor"])  # param.mul_(1 - lambd * eta)
            param = store(param + store(s["neg_eta"]) * grad)  # param.add_(grad, alpha=-eta)
            # ax.add_(param.sub(ax).mul_(mu)): three ops
            ax = jnp.where(s["copy"], param, store(ax + store(store(param - ax) * s["mu"])))
            return param, ax

        new_params, ax = native.multi_tensor_step(
            "asgd",
            one_param,
            scalars,
            _NATIVE_SCALARS,
            params,
            grads,
            [state.ax],
            maximize=maximize,
            weight_decay=scalars["weight_decay"] is not None,
        )
        # torch does this scalar maths in the lr's type (Python floats, or a tensor lr's dtype),
        # except the power, which it takes in float64 even for a float32 tensor base.
        base = 1 + cast_like(lambd, lr) * lr * cast_like(t, lr)
        next_eta = lr / (base.astype(scalar_dtype()) ** alpha).astype(base.dtype)
        next_mu = 1 / jnp.maximum(1, t - t0)
        return new_params, ASGDState(step, next_eta.astype(jnp.float32), next_mu.astype(jnp.float32), ax)

    hyperparams = {"lr": lr, "lambd": lambd, "alpha": alpha, "t0": t0, "weight_decay": weight_decay}
    return algorithm_transform("ASGD", init, step, hyperparams, skipped_at_zero=("weight_decay",), native_kernel="asgd")
