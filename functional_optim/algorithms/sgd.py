r"""SGD: stochastic gradient descent with optional (Nesterov) momentum, as ``torch.optim.SGD``.

.. math::

   \begin{aligned}
   &g_t \leftarrow \pm\nabla f(\theta_{t-1}) + \lambda\,\theta_{t-1}
       && \text{(}-\text{ if maximize; } \lambda = \text{weight\_decay)}\\
   &\text{if } \mu \neq 0:\\
   &\quad b_t \leftarrow g_t \text{ if } t = 1 \text{ else } \mu\, b_{t-1} + (1-\tau)\, g_t
       && \text{(}\tau = \text{dampening)}\\
   &\quad g_t \leftarrow g_t + \mu\, b_t \text{ if nesterov else } b_t\\
   &\theta_t \leftarrow \theta_{t-1} - \gamma\, g_t
   \end{aligned}

torch behaviours reproduced: the momentum buffer starts as a copy of the first (decayed)
gradient, so dampening applies from the second step on; the state holds only
``momentum_buffer``, and only when momentum is non-zero; there is no ``step``.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from functional_optim import native
from functional_optim.elementwise import maximize_and_decay, per_param
from functional_optim.hyperparams import Hyperparam, algorithm_transform
from functional_optim.transform import GradientTransformation
from functional_optim.validation import check_lr, check_momentum, check_weight_decay, concrete_value

# The scalars of native/kernels/sgd.cc, in its order.
_NATIVE_SCALARS = ("lr", "weight_decay", "momentum", "one_minus_dampening", "first_step")


class SGDState(NamedTuple):
    """torch's per-parameter SGD state; ``momentum_buffer`` is None when momentum is 0."""

    momentum_buffer: Any


def sgd(
    lr: Hyperparam = 1e-3,
    momentum: Hyperparam = 0.0,
    dampening: Hyperparam = 0.0,
    weight_decay: Hyperparam = 0.0,
    nesterov: bool = False,
    *,
    maximize: bool = False,
) -> GradientTransformation:
    """``torch.optim.SGD`` as a transform.

    Args:
      lr: learning rate :math:`\\gamma`.
      momentum: momentum factor :math:`\\mu`. Whether it is zero is fixed when the transform is
        built (it decides whether a buffer exists); its value may change between steps.
      dampening: dampening :math:`\\tau` of the momentum (not validated, as in torch).
      weight_decay: L2 penalty :math:`\\lambda` added to the gradient.
      nesterov: use Nesterov momentum; needs momentum > 0 and dampening 0.
      maximize: maximise the objective instead of minimising it.
    """
    check_lr(lr)
    check_momentum(momentum)
    check_weight_decay(weight_decay)
    momentum_value = concrete_value("momentum", momentum)
    dampening_value = concrete_value("dampening", dampening)
    if nesterov and (
        (momentum_value is not None and momentum_value <= 0) or (dampening_value is not None and dampening_value != 0)
    ):
        raise ValueError(
            "Nesterov momentum requires a momentum and zero dampening "
            f"(nesterov=True needs momentum > 0 and dampening == 0, got momentum={momentum!r}, dampening={dampening!r})"
        )
    has_momentum = momentum_value != 0

    def init(params, hyperparams):
        del hyperparams
        return SGDState(momentum_buffer=jax.tree.map(jnp.zeros_like, params) if has_momentum else None)

    def step(grads, state, params, hyperparams, count):
        scalars = {
            "lr": hyperparams["lr"],
            "weight_decay": hyperparams["weight_decay"],
            "momentum": hyperparams["momentum"],
            "one_minus_dampening": 1 - hyperparams["dampening"],
            "first_step": count == 0,
        }

        def one_param(s, param, grad, buf, store):
            # store(): the rounding of a half-precision tensor written by one torch op (see
            # storage_rounding); torch also rounds an ``alpha`` to the tensor's dtype first
            grad = maximize_and_decay(grad, param, s["weight_decay"], maximize, store)  # grad.add(param, alpha=wd)
            if has_momentum:
                # buf.mul_(momentum).add_(grad, alpha=1 - dampening): two ops
                update = store(store(buf * s["momentum"]) + store(s["one_minus_dampening"]) * grad)
                (buf,) = store.hold(jnp.where(s["first_step"], grad, update))
                grad = store(grad + store(s["momentum"]) * buf) if nesterov else buf  # grad.add(buf, alpha=momentum)
            return param - store(s["lr"]) * grad, buf  # param.add_(grad, alpha=-lr)

        new_params, momentum_buffer = native.multi_tensor_step(
            "sgd",
            functools.partial(per_param, one_param, with_store=True),
            scalars,
            _NATIVE_SCALARS,
            params,
            grads,
            [state.momentum_buffer],
            maximize=maximize,
            weight_decay=scalars["weight_decay"] is not None,
            momentum=has_momentum,
            nesterov=nesterov,
        )
        return new_params, SGDState(momentum_buffer)

    hyperparams = {"lr": lr, "momentum": momentum, "dampening": dampening, "weight_decay": weight_decay}
    return algorithm_transform("SGD", init, step, hyperparams, skipped_at_zero=("weight_decay",), native_kernel="sgd")
