"""SGD: the :func:`sgd` transform and its state, :class:`SGDState`."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from functional_optim import native
from functional_optim.elementwise import Rounding, maximize_and_decay, per_param
from functional_optim.hyperparams import Hyperparam, algorithm_transform
from functional_optim.transform import GradientTransformation
from functional_optim.validation import check_lr, check_momentum, check_weight_decay, concrete_value

# The scalars of native/kernels/sgd.cc, in its order.
_NATIVE_SCALARS = ("lr", "weight_decay", "momentum", "one_minus_dampening", "first_step")


class SGDState(NamedTuple):
    """torch's per-parameter SGD state.

    Attributes:
      momentum_buffer: torch's ``momentum_buffer``, a tree like the params; None when the
        momentum was given as the Python number 0.
      has_momentum_buffer: for a momentum given as an array or a schedule, a bool scalar: whether
        torch would have the buffer yet, i.e. whether a step has had a non-zero momentum (until
        then ``momentum_buffer`` holds zeros that stand for no buffer). None otherwise: a Python
        number's buffer is created at the first step.
    """

    momentum_buffer: Any
    has_momentum_buffer: Any = None

    def check_hyperparams(self, values: dict[str, Any]) -> None:
        """Refuses a momentum of 0 where the buffer runs at every step (called by ``set_hyperparams``).

        Raises:
          ValueError: for a concrete 0 momentum when the transform was built with a non-zero
            Python number (a traced value cannot be checked).
        """
        tracked = self.has_momentum_buffer is not None
        if self.momentum_buffer is None or tracked or "momentum" not in values:
            return
        if concrete_value("momentum", values["momentum"]) == 0:
            raise ValueError(
                "SGD's momentum was given as a non-zero Python number when the transform was built, so its buffer "
                "runs at every step (on the native CPU kernel) and cannot be skipped as torch skips it at a step "
                "whose momentum is 0; to set it to 0 between steps, build the transform with an array "
                "(momentum=jnp.asarray(0.9)) or a schedule"
            )


def sgd(
    lr: Hyperparam = 1e-3,
    momentum: Hyperparam = 0.0,
    dampening: Hyperparam = 0.0,
    weight_decay: Hyperparam = 0.0,
    nesterov: bool = False,
    *,
    maximize: bool = False,
) -> GradientTransformation:
    r"""Stochastic gradient descent with optional (Nesterov) momentum, as ``torch.optim.SGD``.

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

    Args:
      lr: learning rate :math:`\gamma`.
      momentum: momentum factor :math:`\mu`. Given as a Python number, whether it is 0 is fixed
        when the transform is built: 0 keeps no buffer (as torch), and
        :func:`~functional_optim.set_hyperparams` refuses to change it; another number keeps a
        buffer that every step runs (the native CPU kernel's), and may change to any non-zero
        value. Given as an array or a schedule, it may take any value at any step, as in torch:
        the buffer is created (a copy of the gradient) at the first step whose momentum is not
        0, and a step whose momentum is 0 leaves it alone. Such a transform takes the XLA path
        and keeps ``has_momentum_buffer`` in its state.
      dampening: dampening :math:`\tau` of the momentum (not validated, as in torch).
      weight_decay: L2 penalty :math:`\lambda` added to the gradient.
      nesterov: use Nesterov momentum; needs momentum > 0 and dampening 0.
      maximize: maximise the objective instead of minimising it.

    Returns:
      A :class:`~functional_optim.GradientTransformation` whose state is a
      :class:`~functional_optim.HyperparamsState` holding an :class:`~functional_optim.SGDState`.

    Raises:
      ValueError: for a negative lr, momentum or weight decay, or Nesterov momentum without a
        momentum or with dampening.

    Example::

        tx = fo.sgd(lr=lambda count: 0.1 * 0.95**count, momentum=0.9, nesterov=True)
        state = tx.init(params)
        updates, state = tx.update(grads, state, params)
        params = fo.apply_updates(params, updates)

    torch behaviours reproduced: the momentum buffer starts as a copy of the first (decayed)
    gradient, so dampening applies from the second step on; the state holds only
    ``momentum_buffer``, and only when momentum is non-zero; there is no ``step``.
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
    tracked = not isinstance(momentum, (int, float))  # an array or a schedule: any value at any step

    def init(params, hyperparams):
        if hyperparams["momentum"] is None:  # fixed at 0
            return SGDState(momentum_buffer=None)
        return SGDState(jax.tree.map(jnp.zeros_like, params), jnp.zeros((), bool) if tracked else None)

    def one_param(s: dict[str, Any], param, grad, buf, store: Rounding):
        # store(): the rounding of a half-precision tensor written by one torch op (see
        # storage_rounding); torch also rounds an ``alpha`` to the tensor's dtype first
        grad = maximize_and_decay(grad, param, s["weight_decay"], maximize, store)  # grad.add(param, alpha=wd)
        if buf is None:
            return param - store(s["lr"]) * grad, None  # param.add_(grad, alpha=-lr)
        # buf.mul_(momentum).add_(grad, alpha=1 - dampening): two ops; or buf = clone(grad)
        stepped = jnp.where(
            s["first_step"], grad, store(store(buf * s["momentum"]) + store(s["one_minus_dampening"]) * grad)
        )
        if tracked:  # torch's ``if momentum != 0``, at run time
            stepped = jnp.where(s["use_momentum"], stepped, buf)
        (buf,) = store.hold(stepped)
        direction = store(grad + store(s["momentum"]) * buf) if nesterov else buf  # grad.add(buf, alpha=momentum)
        if tracked:
            direction = jnp.where(s["use_momentum"], direction, grad)
        return param - store(s["lr"]) * direction, buf  # param.add_(grad, alpha=-lr)

    def step(grads, state, params, hyperparams, count):
        momentum = hyperparams["momentum"]
        scalars = {
            "lr": hyperparams["lr"],
            "weight_decay": hyperparams["weight_decay"],
            "momentum": momentum,
            "one_minus_dampening": 1 - hyperparams["dampening"],
            "first_step": count == 0,
        }
        if tracked:  # XLA only: the native kernel cannot skip the buffer at a run-time 0
            use_momentum = momentum != 0
            scalars.update(first_step=~state.has_momentum_buffer, use_momentum=use_momentum)
            buffers = state.momentum_buffer
            new_params, momentum_buffer = per_param(one_param, scalars, params, grads, buffers, with_store=True)
            return new_params, SGDState(momentum_buffer, state.has_momentum_buffer | use_momentum)
        new_params, momentum_buffer = native.multi_tensor_step(
            "sgd",
            one_param,
            scalars,
            _NATIVE_SCALARS,
            params,
            grads,
            [state.momentum_buffer],
            maximize=maximize,
            weight_decay=scalars["weight_decay"] is not None,
            momentum=state.momentum_buffer is not None,
            nesterov=nesterov,
        )
        return new_params, SGDState(momentum_buffer)

    hyperparams = {"lr": lr, "momentum": momentum, "dampening": dampening, "weight_decay": weight_decay}
    return algorithm_transform(
        "SGD",
        init,
        step,
        hyperparams,
        skipped_at_zero=("weight_decay", "momentum"),
        native_kernel=None if tracked else "sgd",
    )
