"""``torch.optim``'s classes over functional_optim's transforms: ``fo.optim.Adam(params, lr=1e-3)``.

Each class takes torch's arguments, defaults and parameter groups, keeps torch's ``state`` and
``state_dict`` layout, and delegates the maths to the functional algorithm of the same name
(see :mod:`functional_optim.optim.optimizer`). Parameters are :class:`functional_optim.Parameter` s.
:mod:`functional_optim.optim.functional` has the functions the classes call in torch, over lists.
"""

from functional_optim.optim import functional, lr_scheduler, swa_utils
from functional_optim.optim.adadelta import Adadelta
from functional_optim.optim.adafactor import Adafactor
from functional_optim.optim.adagrad import Adagrad
from functional_optim.optim.adam import Adam
from functional_optim.optim.adamax import Adamax
from functional_optim.optim.adamw import AdamW
from functional_optim.optim.asgd import ASGD
from functional_optim.optim.hooks import register_optimizer_step_post_hook, register_optimizer_step_pre_hook
from functional_optim.optim.lbfgs import LBFGS
from functional_optim.optim.muon import Muon
from functional_optim.optim.nadam import NAdam
from functional_optim.optim.optimizer import Optimizer
from functional_optim.optim.radam import RAdam
from functional_optim.optim.rmsprop import RMSprop
from functional_optim.optim.rprop import Rprop
from functional_optim.optim.sgd import SGD
from functional_optim.optim.sparse_adam import SparseAdam
from functional_optim.optim.zero_redundancy import zero1

__all__ = [
    "ASGD",
    "LBFGS",
    "SGD",
    "Adadelta",
    "Adafactor",
    "Adagrad",
    "Adam",
    "AdamW",
    "Adamax",
    "Muon",
    "NAdam",
    "Optimizer",
    "RAdam",
    "RMSprop",
    "Rprop",
    "SparseAdam",
    "functional",
    "lr_scheduler",
    "register_optimizer_step_post_hook",
    "register_optimizer_step_pre_hook",
    "swa_utils",
    "zero1",
]
