"""functional_optim: torch.optim's algorithms as pure (init, update) transforms for JAX.

Each algorithm is a function with torch.optim's arguments and defaults that returns a
:class:`GradientTransformation`::

    import functional_optim as fo
    tx = fo.adam(lr=1e-3, weight_decay=0.1, amsgrad=True)
    state = tx.init(params)
    updates, state = tx.update(grads, state, params)   # inside jax.jit
    params = fo.apply_updates(params, updates)

torch.optim's stateful API is :mod:`functional_optim.optim`, over :class:`Parameter` s::

    params = fo.parameters(arrays)                       # a tree of Parameters
    optimizer = fo.optim.Adam(fo.parameter_list(params), lr=1e-3)
    optimizer.zero_grad()
    loss = fo.backward(loss_fn, params, batch)           # accumulates into .grad
    optimizer.step()
"""

from functional_optim import averaging, native, optim, schedules
from functional_optim.algorithms.adadelta import AdadeltaState, adadelta
from functional_optim.algorithms.adafactor import AdafactorState, adafactor
from functional_optim.algorithms.adagrad import AdagradState, adagrad
from functional_optim.algorithms.adam import AdamState, adam, adamw
from functional_optim.algorithms.adamax import AdamaxState, adamax
from functional_optim.algorithms.asgd import ASGDState, asgd
from functional_optim.algorithms.lbfgs import LBFGSState, lbfgs
from functional_optim.algorithms.muon import MuonState, muon
from functional_optim.algorithms.nadam import NAdamState, nadam
from functional_optim.algorithms.radam import RAdamState, radam
from functional_optim.algorithms.rmsprop import RMSpropState, rmsprop
from functional_optim.algorithms.rprop import RpropState, rprop
from functional_optim.algorithms.sgd import SGDState, sgd
from functional_optim.algorithms.sparse_adam import SparseAdamState, sparse_adam
from functional_optim.checkpoint import load, save
from functional_optim.clipping import ClipGradNormState, clip_grad_norm, clip_grad_value
from functional_optim.hyperparam_access import get_hyperparams, set_hyperparams
from functional_optim.hyperparams import HyperparamsState
from functional_optim.parameter import (
    Parameter,
    backward,
    clip_grad_norm_,
    clip_grad_value_,
    named_parameter_list,
    parameter_list,
    parameters,
    values,
)
from functional_optim.parameter_groups import ParamGroupsState, param_groups
from functional_optim.sharding import Zero1State, zero1
from functional_optim.transform import (
    GradientTransformation,
    apply_gradients,
    apply_updates,
    chain,
    takes_extra_args,
)

__version__ = "0.1.0"

__all__ = [
    "ASGDState",
    "AdadeltaState",
    "AdafactorState",
    "AdagradState",
    "AdamState",
    "AdamaxState",
    "ClipGradNormState",
    "GradientTransformation",
    "HyperparamsState",
    "LBFGSState",
    "MuonState",
    "NAdamState",
    "ParamGroupsState",
    "Parameter",
    "RAdamState",
    "RMSpropState",
    "RpropState",
    "SGDState",
    "SparseAdamState",
    "Zero1State",
    "adadelta",
    "adafactor",
    "adagrad",
    "adam",
    "adamax",
    "adamw",
    "apply_gradients",
    "apply_updates",
    "asgd",
    "averaging",
    "backward",
    "chain",
    "clip_grad_norm",
    "clip_grad_norm_",
    "clip_grad_value",
    "clip_grad_value_",
    "get_hyperparams",
    "lbfgs",
    "load",
    "muon",
    "nadam",
    "named_parameter_list",
    "native",
    "optim",
    "param_groups",
    "parameter_list",
    "parameters",
    "radam",
    "rmsprop",
    "rprop",
    "save",
    "schedules",
    "set_hyperparams",
    "sgd",
    "sparse_adam",
    "takes_extra_args",
    "values",
    "zero1",
]
