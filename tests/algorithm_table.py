"""One table of algorithms and their configurations drives the parity, jit, dtype and
validation tests, like torch's ``OptimizerInfo`` database: adding an algorithm is adding a row.

Each ``configs`` entry is one of torch 2.13's own CPU test configurations
(``common_optimizers.optim_inputs_func_*``, torch-only flags dropped), plus the extra ones the
reference recommends to reach branches torch's list misses. ``TorchTensor(v)`` marks a
hyperparameter torch receives as a float32 0-d tensor (a float32 jax array here).
"""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass(frozen=True)
class TorchTensor:
    value: float

    def __str__(self) -> str:
        return f"tensor({self.value})"


@dataclasses.dataclass(frozen=True)
class ErrorInput:
    kwargs: dict[str, Any]
    error: type[Exception]
    match: str


@dataclasses.dataclass(frozen=True)
class AlgorithmInfo:
    name: str  # the functional_optim function
    torch_name: str  # the torch.optim class
    configs: tuple[dict[str, Any], ...]
    error_inputs: tuple[ErrorInput, ...] = ()
    problem: str = "mixed"
    steps: int = 50
    float64_rtol: float = 1e-10
    float32_rtol: float = 1e-5
    # Why a step is not elementwise (it reduces over a parameter or the tree), or None: sharded
    # steps of such an algorithm need collectives, and the per-entry tests leave it out.
    reduction: str | None = None
    # Between a jitted and an eager step (XLA fuses multiply-adds under jit only); None: the
    # parity tolerances above.
    jit_rtol: float | None = None
    # torch's functional step (torch.optim.functional.<name>): its state lists in its order, each
    # with the state key its entries hold; and the lists the class passes as Nones before the state
    # exists, which the step fills (SGD's momentum buffers).
    functional_state: tuple[tuple[str, str], ...] = ()
    functional_created: tuple[str, ...] = ()

    def config_id(self, config: dict[str, Any]) -> str:
        return ",".join(f"{k}={v}" for k, v in config.items()) or "default"


def _betas_error(index: int, betas: tuple[float, float]) -> ErrorInput:
    return ErrorInput({"betas": betas}, ValueError, f"Invalid beta parameter at index {index}: {betas[index]}")


_LR_ERROR = ErrorInput({"lr": -1e-2}, ValueError, "Invalid learning rate: -0.01")
_LR_SHAPE_ERROR = ErrorInput({"lr": TorchTensor((0.001, 0.001))}, ValueError, "Tensor lr must be 1-element")
_WD_ERROR = ErrorInput({"weight_decay": -1.0}, ValueError, "Invalid weight_decay value: -1.0")
_EPS_ERROR = ErrorInput({"eps": -1e-8}, ValueError, "Invalid epsilon value: -1e-08")

ALGORITHMS: tuple[AlgorithmInfo, ...] = (
    AlgorithmInfo(
        "sgd",
        "SGD",
        functional_state=(("momentum_buffer_list", "momentum_buffer"),),
        functional_created=("momentum_buffer_list",),
        configs=(
            {},
            {"lr": 1e-2},
            {"lr": TorchTensor(0.001)},
            {"weight_decay": 0.5},
            {"momentum": 0.9},
            {"weight_decay": 0.1, "maximize": True},
            {"momentum": 0.9, "dampening": 0.5},
            {"momentum": 0.9, "weight_decay": 0.1},
            {"momentum": 0.9, "nesterov": True, "weight_decay": 0.1},
            {"momentum": 0.9, "dampening": 0.3, "weight_decay": 0.1, "maximize": True},
        ),
        error_inputs=(
            _LR_ERROR,
            _LR_SHAPE_ERROR,
            _WD_ERROR,
            ErrorInput({"momentum": -0.5}, ValueError, "Invalid momentum value: -0.5"),
            ErrorInput({"nesterov": True}, ValueError, "Nesterov momentum requires a momentum and zero dampening"),
            ErrorInput(
                {"nesterov": True, "momentum": 0.9, "dampening": 0.1},
                ValueError,
                "Nesterov momentum requires a momentum and zero dampening",
            ),
        ),
    ),
    *(
        AlgorithmInfo(
            name,
            torch_name,
            functional_state=(
                ("exp_avgs", "exp_avg"),
                ("exp_avg_sqs", "exp_avg_sq"),
                ("max_exp_avg_sqs", "max_exp_avg_sq"),
                ("state_steps", "step"),
            ),
            configs=(
                {},
                {"lr": 0.01},
                {"weight_decay": 0.1},
                {"weight_decay": 0.1, "maximize": True},
                {"weight_decay": 0.1, "amsgrad": True},
                {"lr": TorchTensor(0.001)},
                *([{"weight_decay": 0.1, "decoupled_weight_decay": True, "amsgrad": True}] if name == "adam" else []),
            ),
            error_inputs=(
                _LR_ERROR,
                _LR_SHAPE_ERROR,
                _EPS_ERROR,
                _WD_ERROR,
                _betas_error(0, (1.0, 0.0)),
                _betas_error(1, (0.9, 1.0)),
                ErrorInput({"betas": (0, 0.99)}, ValueError, "betas must be either both floats or both Tensors"),
                ErrorInput(
                    {"betas": (0.9, TorchTensor(0.99))}, ValueError, "betas must be either both floats or both Tensors"
                ),
            ),
        )
        for name, torch_name in (("adam", "Adam"), ("adamw", "AdamW"))
    ),
    AlgorithmInfo(
        "adamax",
        "Adamax",
        functional_state=(("exp_avgs", "exp_avg"), ("exp_infs", "exp_inf"), ("state_steps", "step")),
        configs=(
            {},
            {"lr": 0.1},
            {"weight_decay": 0.1},
            {"maximize": True},
            {"weight_decay": 0.1, "maximize": True},
            {"lr": TorchTensor(0.001)},  # extra: the step size lr / bias_correction is float32 tensor maths
        ),
        error_inputs=(
            _LR_ERROR,
            _LR_SHAPE_ERROR,
            _EPS_ERROR,
            _WD_ERROR,
            _betas_error(0, (1.0, 0.0)),
            _betas_error(1, (0.0, 1.0)),
        ),
    ),
    AlgorithmInfo(
        "adagrad",
        "Adagrad",
        functional_state=(("state_sums", "sum"), ("state_steps", "step")),
        configs=(
            {},
            {"weight_decay": 0.1},
            {"weight_decay": 0.1, "maximize": True},
            {"lr": 0.1},
            {"initial_accumulator_value": 0.1, "weight_decay": 0.1},
            {"lr": 0.1, "lr_decay": 0.5, "weight_decay": 0.1},
            {"lr": TorchTensor(0.001)},
            # extra: with lr_decay the decayed lr is float32 tensor maths (2e-9 away from float maths)
            {"lr": TorchTensor(0.1), "lr_decay": 0.5},
        ),
        error_inputs=(
            _LR_ERROR,
            _LR_SHAPE_ERROR,
            _EPS_ERROR,
            _WD_ERROR,
            ErrorInput({"lr_decay": -0.5}, ValueError, "Invalid lr_decay value: -0.5"),
            ErrorInput(
                {"initial_accumulator_value": -1.0}, ValueError, "Invalid initial_accumulator_value value: -1.0"
            ),
        ),
    ),
    AlgorithmInfo(
        "adadelta",
        "Adadelta",
        functional_state=(("square_avgs", "square_avg"), ("acc_deltas", "acc_delta"), ("state_steps", "step")),
        configs=(
            {},
            {"lr": 0.01},
            {"weight_decay": 0.1},
            {"maximize": True},
            {"weight_decay": 0.1, "maximize": True},
            {"rho": 0.95, "weight_decay": 0.9},
            # rho = 1 is accepted (delta = g); with the default lr=1 this problem diverges to |p| ~ 1e3 and
            # float32 noise grows to 2.6e-5 relative, so the row uses lr=0.1 (then 1e-7 in float32)
            {"rho": 1.0, "lr": 0.1},
            {"lr": TorchTensor(0.001)},
        ),
        error_inputs=(
            _LR_ERROR,
            _LR_SHAPE_ERROR,
            _EPS_ERROR,
            _WD_ERROR,
            ErrorInput({"lr": 1e-2, "rho": 1.1}, ValueError, "Invalid rho value: 1.1"),
        ),
    ),
    AlgorithmInfo(
        "rmsprop",
        "RMSprop",
        functional_state=(
            ("square_avgs", "square_avg"),
            ("grad_avgs", "grad_avg"),
            ("momentum_buffer_list", "momentum_buffer"),
            ("state_steps", "step"),
        ),
        configs=(
            {},
            {"lr": 1e-3},
            {"weight_decay": 0.1},
            {"maximize": True},
            {"weight_decay": 0.1, "centered": True},
            {"maximize": True, "weight_decay": 0.1},
            {"weight_decay": 0.1, "centered": True, "momentum": 0.1},
            {"weight_decay": 0.1, "centered": True, "momentum": 0.1, "maximize": True},
            {"momentum": 0.9, "alpha": 1.2},  # alpha > 1 is accepted; square_avg < 0 makes every step NaN
            {"momentum": 0.9},  # extra: torch's momentum configurations are all centered
            {"lr": TorchTensor(0.001)},
        ),
        error_inputs=(
            _LR_ERROR,
            _LR_SHAPE_ERROR,
            _EPS_ERROR,
            _WD_ERROR,
            ErrorInput({"momentum": -1.0}, ValueError, "Invalid momentum value: -1.0"),
            ErrorInput({"alpha": -0.5}, ValueError, "Invalid alpha value: -0.5"),
        ),
    ),
    AlgorithmInfo(
        "rprop",
        "Rprop",
        functional_state=(("prevs", "prev"), ("step_sizes", "step_size"), ("state_steps", "step")),
        configs=(
            {},
            {"lr": 2e-4},
            {"etas": (0.5, 1.5)},
            {"step_sizes": (2e-6, 100)},
            {"maximize": True},
            {"lr": 100.0},  # extra: the first step is clamped to step_sizes[1]
            {"lr": TorchTensor(0.001)},  # extra: step_size starts as the float32 lr
            {"step_sizes": (1e-3, 1e-4)},  # extra: min > max is accepted, every step size is pinned to max
        ),
        error_inputs=(
            _LR_ERROR,
            _LR_SHAPE_ERROR,
            ErrorInput({"etas": (1.0, 0.5)}, ValueError, "Invalid eta values: 1.0, 0.5"),
            ErrorInput({"etas": (0.5, 1.0)}, ValueError, "Invalid eta values: 0.5, 1.0"),
            ErrorInput({"etas": (0.0, 1.2)}, ValueError, "Invalid eta values: 0.0, 1.2"),
        ),
        # maximize drives the "mixed" problem's params until tanh saturates, where JAX's and torch's
        # own gradients differ in sign at ~1e-15 (Rprop then diverges from step 29) or by ~1e-4
        # relative in float32 (ASGD drifts to 3e-3 by step 50), measured; the bounded problem has
        # stationary points to settle at, and every config then matches over 50 steps.
        problem="bounded",
    ),
    AlgorithmInfo(
        "asgd",
        "ASGD",
        functional_state=(("axs", "ax"), ("mus", "mu"), ("etas", "eta"), ("state_steps", "step")),
        configs=(
            {},
            {"lambd": 0.1},
            {"lr": 0.02},
            {"t0": 100},
            {"maximize": True},
            {"weight_decay": 0.1},
            {"weight_decay": 0.1, "maximize": True},
            {"t0": 5, "lambd": 0.01},
            {"t0": 0},
            # extra: eta's update is float32 tensor maths (its power taken in float64, as torch does)
            {"lr": TorchTensor(0.001), "weight_decay": 0.1, "maximize": True},
            {"lr": 0.05, "lambd": 0.5, "alpha": 0.5, "t0": 3.5},  # extra: fractional mu from step 5
        ),
        error_inputs=(
            _LR_ERROR,
            _LR_SHAPE_ERROR,
            ErrorInput({"weight_decay": -0.5}, ValueError, "Invalid weight_decay value: -0.5"),
        ),
        # maximize drives the "mixed" problem's params until tanh saturates, where JAX's and torch's
        # own gradients differ in sign at ~1e-15 (Rprop then diverges from step 29) or by ~1e-4
        # relative in float32 (ASGD drifts to 3e-3 by step 50), measured; the bounded problem has
        # stationary points to settle at, and every config then matches over 50 steps.
        problem="bounded",
    ),
    AlgorithmInfo(
        "nadam",
        "NAdam",
        functional_state=(
            ("exp_avgs", "exp_avg"),
            ("exp_avg_sqs", "exp_avg_sq"),
            ("mu_products", "mu_product"),
            ("state_steps", "step"),
        ),
        configs=(
            {},
            {"lr": 1e-3},
            {"momentum_decay": 6e-3},
            {"weight_decay": 0.1},
            {"weight_decay": 0.1, "momentum_decay": 6e-3},
            {"weight_decay": 0.1, "momentum_decay": 6e-3, "decoupled_weight_decay": True},
            {"weight_decay": 0.1, "maximize": True},
            # extra: torch's CUDA-only tensor-lr config; both step coefficients are float32 tensor maths
            {"lr": TorchTensor(0.001), "weight_decay": 0.9, "momentum_decay": 6e-3, "decoupled_weight_decay": True},
        ),
        error_inputs=(
            _LR_ERROR,
            _LR_SHAPE_ERROR,
            _EPS_ERROR,
            _WD_ERROR,
            _betas_error(0, (1.0, 0.0)),
            _betas_error(1, (0.9, 1.0)),
            ErrorInput({"momentum_decay": -0.2}, ValueError, "Invalid momentum_decay value: -0.2"),
        ),
    ),
    AlgorithmInfo(
        "radam",
        "RAdam",
        functional_state=(("exp_avgs", "exp_avg"), ("exp_avg_sqs", "exp_avg_sq"), ("state_steps", "step")),
        configs=(
            {},
            {"lr": 2e-3},
            {"eps": 1e-6},
            {"weight_decay": 0.1},
            {"weight_decay": 0.1, "decoupled_weight_decay": True},
            {"weight_decay": 0.1, "maximize": True},
            {"betas": (0.9, 0.9)},
            {"lr": TorchTensor(0.001), "weight_decay": 0.1, "decoupled_weight_decay": True},  # extra: decay in float32
        ),
        error_inputs=(
            _LR_ERROR,
            _LR_SHAPE_ERROR,
            _EPS_ERROR,
            _WD_ERROR,
            _betas_error(0, (1.0, 0.0)),
            _betas_error(1, (0.9, 1.0)),
        ),
    ),
    AlgorithmInfo(
        "adafactor",
        "Adafactor",
        functional_state=(
            ("row_vars", "row_var"),
            ("col_vars", "col_var"),
            ("variances", "variance"),
            ("state_steps", "step"),
        ),
        configs=(
            {},
            {"weight_decay": 0.1, "lr": 0.01},
            {"weight_decay": 0.1, "maximize": True},
            {"beta2_decay": -1.0},
            {"d": 1.5},
            {"eps": (1e-3, 1e-2), "d": 1.2},  # extra: eps1 given (test_adafactor.py covers rho = 1/sqrt(t) < lr)
            {"lr": TorchTensor(0.001), "weight_decay": 0.1},  # extra: alpha and the decay are float32 tensor maths
        ),
        error_inputs=(
            ErrorInput({"lr": -1e-2}, ValueError, "Learning rate should be >= 0 but is: -0.01"),
            _LR_SHAPE_ERROR,
            ErrorInput({"beta2_decay": 0.8}, ValueError, "beta2_decay should be <= 0 but is: 0.8"),
            ErrorInput({"eps": (-1e-30, 1e-3)}, ValueError, "epsilon1 should be >= 0 but is: -1e-30"),
            ErrorInput({"eps": (None, -1e-3)}, ValueError, "epsilon2 should be >= 0 but is: -0.001"),
            ErrorInput({"d": 0.0}, ValueError, "Clipping threshold d should be >= 1 but is: 0.0"),
            ErrorInput({"weight_decay": -0.1}, ValueError, "weight_decay should be >= 0 but is: -0.1"),
        ),
        reduction="row/column means and the RMS norms of each parameter",
    ),
    AlgorithmInfo(
        "sparse_adam",
        "SparseAdam",
        functional_state=(("exp_avgs", "exp_avg"), ("exp_avg_sqs", "exp_avg_sq"), ("state_steps", "step")),
        # Sparse gradients need an embedding problem: its configs and parity tests are in
        # tests/make_sparse_golden.py and tests/test_sparse_adam.py; the dense-grad tests skip it.
        configs=(),
        error_inputs=(
            ErrorInput({"lr": 0.0}, ValueError, "Invalid learning rate: 0.0"),
            _LR_ERROR,
            _LR_SHAPE_ERROR,
            ErrorInput({"eps": 0.0}, ValueError, "Invalid epsilon value: 0.0"),
            _EPS_ERROR,
            _betas_error(0, (1.0, 0.0)),
            _betas_error(1, (0.9, 1.0)),
        ),
        problem="embedding",
        reduction="gathers and scatters of the gradient's rows",
    ),
    AlgorithmInfo(
        "muon",
        "Muon",
        functional_state=(("muon_momentum_bufs", "momentum_buffer"),),
        configs=(
            {},
            {"lr": 0.01},
            {"lr": TorchTensor(0.001)},
            {"weight_decay": 0.2},
            {"momentum": 0.8},
            {"ns_steps": 6},
            {"ns_coefficients": (3.4, -4.7, 2.0)},
            {"nesterov": False},  # extra: the buffer itself is orthogonalised
            {"adjust_lr_fn": "match_rms_adamw"},  # extra: the other lr ratio
        ),
        error_inputs=(
            _LR_SHAPE_ERROR,
            ErrorInput({"lr": -1e-2}, ValueError, "Learning rate should be >= 0 but is: -0.01"),
            ErrorInput({"momentum": -0.1}, ValueError, "momentum should be >= 0 but is: -0.1"),
            ErrorInput({"weight_decay": -0.1}, ValueError, "weight decay should be >= 0 but is: -0.1"),
            ErrorInput(
                {"adjust_lr_fn": "arbitrary"}, ValueError, "Adjust learning rate function arbitrary is not supported"
            ),
        ),
        problem="matrices",
        reduction="Newton-Schulz matmuls and the Frobenius norm",
        # The bfloat16 Newton-Schulz turns a last-bit difference into one bfloat16 unit.
        jit_rtol=2**-7,
        # Default tolerances: measured over 50 steps, float64 differs from torch by <= 1.7e-15 and
        # float32 by <= 4.7e-10 (7 of 9 configs bit-identical), as the bf16 Newton-Schulz matches.
    ),
)

ALGORITHMS_BY_NAME = {info.name: info for info in ALGORITHMS}

PARITY_CASES = [(info, config) for info in ALGORITHMS for config in info.configs]
ERROR_CASES = [(info, error) for info in ALGORITHMS for error in info.error_inputs]
