"""functional_optim: torch.optim's algorithms as pure (init, update) transforms for JAX.

Each algorithm is a function with torch.optim's arguments and defaults that returns a
:class:`GradientTransformation`::

    import functional_optim as fo
    tx = fo.adam(lr=1e-3, weight_decay=0.1, amsgrad=True)
    state = tx.init(params)
    updates, state = tx.update(grads, state, params)   # inside jax.jit
    params = fo.apply_updates(params, updates)
"""

from functional_optim.algorithms.adadelta import adadelta
from functional_optim.algorithms.adagrad import adagrad
from functional_optim.algorithms.adam import adam, adamw
from functional_optim.algorithms.adamax import adamax
from functional_optim.algorithms.asgd import asgd
from functional_optim.algorithms.muon import muon
from functional_optim.algorithms.nadam import nadam
from functional_optim.algorithms.radam import radam
from functional_optim.algorithms.rmsprop import rmsprop
from functional_optim.algorithms.rprop import rprop
from functional_optim.algorithms.sgd import sgd
from functional_optim.hyperparams import HyperparamsState
from functional_optim.transform import GradientTransformation, apply_updates, chain

__version__ = "0.1.0"

__all__ = [
    "GradientTransformation",
    "HyperparamsState",
    "adadelta",
    "adagrad",
    "adam",
    "adamax",
    "adamw",
    "apply_updates",
    "asgd",
    "chain",
    "muon",
    "nadam",
    "radam",
    "rmsprop",
    "rprop",
    "sgd",
]
