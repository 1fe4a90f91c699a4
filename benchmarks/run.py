"""Optimizer-step benchmark: functional_optim vs optax vs torch.optim, measured in one run.

    python -m benchmarks            # full suite (needs optax and torch==2.13.0 for the comparisons)
    python -m benchmarks --quick    # 10x smaller problems, fewer repeats
    python -m benchmarks --algorithms adam --cases tiny

For each algorithm and case it times, in the same process:

* functional_optim's jitted functional step as a training loop should write it,
  ``fo.apply_gradients`` with the params and state donated, on both kernel paths
  (:mod:`functional_optim.native`): the native C++ kernels and the XLA path. The native
  column is "—" where the algorithm has no native kernel or the kernels were not built;
* the older ``tx.update`` + ``fo.apply_updates`` step (donated too) on the default (``auto``)
  path, what code written before ``apply_gradients`` gets;
* its torch-style wrapper's ``step()`` (``fo.optim.Adam`` ...) on both paths (each optimizer
  is built and first stepped, which traces its compiled step, inside ``fo.native.use(...)``);
* optax's equivalent (jit + donation) and torch.optim's for-loop, foreach and fused
  implementations (where torch has them).

The JAX steps of a row take turns (one of each per round, then torch's the same way), so that
the machine's load, which on a shared machine moves a step's time by 2x within minutes, does
not pass for a difference between them (see :func:`interleaved_medians`). It prints medians,
the native path's effective bandwidth (the algorithm's minimum bytes per
parameter x params / time) and that bandwidth as a fraction of a streaming probe
(``a += s * b``) measured in the same run, ratios (native vs xla, optax and torch fused; the
wrapper on the native path vs torch fused and vs the functional native step), and each donated
step's peak memory per parameter (XLA's memory analysis of the compiled step: arguments +
temporaries + outputs not aliased to an argument). It also reports the compile time of Adam's
``apply_gradients`` step over 10 to 2000 leaves on both paths, next to optax's. Results go to
``benchmarks/results/`` as JSON and markdown. A benchmark, not a test: ratios within one run are
what count.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import pathlib
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import functional_optim as fo

RESULTS_DIR = pathlib.Path(__file__).parent / "results"
KERNEL_PATHS = ("native", "xla")  # the two paths timed side by side


@dataclasses.dataclass(frozen=True)
class Algorithm:
    name: str
    bytes_per_param: int  # minimum traffic in float32: reads + writes of params, grads and state
    functional: Callable[[], fo.GradientTransformation]
    optax_factory: Callable[[], object] | None
    torch_name: str  # also the name of functional_optim.optim's class
    torch_kwargs: dict
    torch_fused: bool


def _optax():
    import optax

    return optax


ALGORITHMS = {
    "adam": Algorithm("adam", 28, lambda: fo.adam(1e-3), lambda: _optax().adam(1e-3), "Adam", {"lr": 1e-3}, True),
    "adamw": Algorithm(
        "adamw",
        28,
        lambda: fo.adamw(1e-3),
        lambda: _optax().adamw(1e-3, weight_decay=1e-2),
        "AdamW",
        {"lr": 1e-3},
        True,
    ),
    "sgd_momentum": Algorithm(
        "sgd_momentum",
        20,
        lambda: fo.sgd(1e-2, momentum=0.9),
        lambda: _optax().sgd(1e-2, momentum=0.9),
        "SGD",
        {"lr": 1e-2, "momentum": 0.9},
        True,
    ),
    "rmsprop": Algorithm(
        "rmsprop",
        20,
        lambda: fo.rmsprop(1e-2),
        lambda: _optax().rmsprop(1e-2, decay=0.99, eps=1e-8),
        "RMSprop",
        {"lr": 1e-2},
        False,
    ),
    "adagrad": Algorithm(
        "adagrad", 20, lambda: fo.adagrad(1e-2), lambda: _optax().adagrad(1e-2), "Adagrad", {"lr": 1e-2}, True
    ),
    # The kernels added later; optax's nearest counterpart (its nadam has no momentum-decay schedule).
    "adamax": Algorithm(
        "adamax", 28, lambda: fo.adamax(2e-3), lambda: _optax().adamax(2e-3), "Adamax", {"lr": 2e-3}, False
    ),
    "nadam": Algorithm("nadam", 28, lambda: fo.nadam(2e-3), lambda: _optax().nadam(2e-3), "NAdam", {"lr": 2e-3}, False),
    "radam": Algorithm("radam", 28, lambda: fo.radam(1e-3), lambda: _optax().radam(1e-3), "RAdam", {"lr": 1e-3}, False),
    "adadelta": Algorithm(
        "adadelta",
        28,
        lambda: fo.adadelta(1.0),
        lambda: _optax().adadelta(1.0, rho=0.9, eps=1e-6),
        "Adadelta",
        {"lr": 1.0},
        False,
    ),
    "rprop": Algorithm(
        "rprop",
        28,
        lambda: fo.rprop(1e-2),
        lambda: _optax().rprop(1e-2, eta_minus=0.5, eta_plus=1.2, min_step_size=1e-6, max_step_size=50.0),
        "Rprop",
        {"lr": 1e-2},
        False,
    ),
    "asgd": Algorithm("asgd", 20, lambda: fo.asgd(1e-2), None, "ASGD", {"lr": 1e-2}, False),
}


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    shapes: tuple[tuple[int, ...], ...]
    dtype: str = "float32"

    @property
    def num_params(self) -> int:
        return sum(int(np.prod(s)) for s in self.shapes)


def cases(quick: bool) -> dict[str, Case]:
    scale = 10 if quick else 1
    mlp = ((64, 256), (256,), (256, 128), (128,), (128, 10), (10,))  # ~50k params, 6 leaves
    return {
        "large": Case("large", tuple((10_000_000 // scale,) for _ in range(10))),
        "large_bf16": Case("large_bf16", tuple((10_000_000 // scale,) for _ in range(10)), "bfloat16"),
        "many_leaves": Case("many_leaves", tuple((20_000 // scale,) for _ in range(500))),
        "tiny": Case("tiny", mlp),
    }


@dataclasses.dataclass(frozen=True)
class Step:
    """One step ready to be timed: ``run()`` takes a step and waits for it; XLA's peak memory of
    a compiled step per parameter (None where not analysed)."""

    run: Callable[[], object]
    peak_bytes_per_param: float | None = None


def median_seconds(fn: Callable[[], object], repeats: int, warmup: int = 3) -> float:
    return interleaved_medians({"step": Step(fn)}, repeats, warmup)["step"]


def interleaved_medians(steps: dict[str, Step | None], repeats: int, warmup: int = 3) -> dict[str, float | None]:
    """Each step's median seconds (None for a step that is None), the steps taking turns.

    On a shared machine a step's time moves by 2x within minutes, which a ratio of two steps
    timed one after the other takes for a difference between them; taking turns, each round
    runs every step, so the load weighs on all alike. A turn is two steps of one kind, the
    second timed: a step right after another kind of step runs slower (caches, XLA's worker
    threads; tiny Adam here 62 -> 83 us), which no training loop repeating one step sees.
    """
    ready = {name: step for name, step in steps.items() if step is not None}
    for step in ready.values():
        for _ in range(warmup):
            step.run()
    times: dict[str, list[float]] = {name: [] for name in ready}
    for _ in range(repeats):
        for name, step in ready.items():
            step.run()
            start = time.perf_counter()
            step.run()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(times[name]) if name in times else None for name in steps}


def make_tree(case: Case, seed: int) -> list[jax.Array]:
    rng = np.random.default_rng(seed)
    return [jnp.asarray(rng.standard_normal(s, dtype=np.float32), case.dtype) for s in case.shapes]


def native_supported(tx: Any) -> bool:
    """Whether ``tx``'s steps can run on the native path here: kernels built and a kernel for the algorithm."""
    if not fo.native.available():
        return False
    with fo.native.use("native"):
        return fo.native.path(tx) == "native"


def kernel_path(kernels: str | None) -> contextlib.AbstractContextManager:
    """``fo.native.use(kernels)``, or nothing for ``None`` (optax, which has no kernel path)."""
    return contextlib.nullcontext() if kernels is None else fo.native.use(kernels)


def training_step(tx: Any, use_apply_gradients: bool = True) -> Callable[[Any, Any, Any], tuple[Any, Any]]:
    """A training loop's step ``(params, state, grads) -> (new_params, new_state)`` with ``tx``.

    ``fo.apply_gradients`` (the way to write it now), or the older ``tx.update`` followed by
    ``fo.apply_updates`` (for an optax transform the two are the same computation).
    """
    if use_apply_gradients:

        def step(params: Any, state: Any, grads: Any) -> tuple[Any, Any]:
            return fo.apply_gradients(tx, grads, state, params)

    else:

        def step(params: Any, state: Any, grads: Any) -> tuple[Any, Any]:
            updates, state = tx.update(grads, state, params)
            return fo.apply_updates(params, updates), state

    return step


def peak_bytes_per_param(compiled: jax.stages.Compiled, case: Case) -> float | None:
    """The donated step's peak memory per parameter, from XLA's memory analysis of the compiled step.

    Arguments (params, state, grads) + temporaries + outputs that do not reuse an argument's buffer.
    """
    memory = compiled.memory_analysis()
    if memory is None:
        return None
    total = (
        memory.argument_size_in_bytes
        + memory.temp_size_in_bytes
        + memory.output_size_in_bytes
        - memory.alias_size_in_bytes
    )
    return total / case.num_params


def prepared_step(
    tx: Any, case: Case, kernels: str | None, grads: list[jax.Array], use_apply_gradients: bool = True
) -> Step | None:
    """The jitted step with params and state donated, as a training loop runs it, traced on ``kernels``.

    The step is compiled once (``lower(...).compile()``, inside ``fo.native.use(kernels)``): that
    executable is both timed and memory-analysed. None for the native path where ``tx`` cannot
    take it (no kernel for the algorithm, or the kernels were not built).
    """
    if kernels == "native" and not native_supported(tx):
        return None
    params = make_tree(case, 0)
    state = tx.init(params)
    with kernel_path(kernels):
        step = jax.jit(training_step(tx, use_apply_gradients), donate_argnums=(0, 1))
        compiled = step.lower(params, state, grads).compile()
    box = [params, state]

    def run() -> None:
        box[0], box[1] = compiled(box[0], box[1], grads)
        jax.block_until_ready(box[0])

    return Step(run, peak_bytes_per_param(compiled, case))


def prepared_wrapper(algorithm: Algorithm, case: Case, kernels: str, grads: list[jax.Array]) -> Step | None:
    """``optimizer.step()`` of functional_optim.optim's class over Parameters with grads set, on ``kernels``.

    The optimizer is built and first stepped (which traces its compiled step) inside
    ``fo.native.use(kernels)``. None for the native path where the algorithm cannot take it.
    """
    if kernels == "native" and not native_supported(algorithm.functional()):
        return None
    params = fo.parameters(make_tree(case, 0))
    for p, g in zip(params, grads):
        p.grad = g

    def run() -> None:
        optimizer.step()
        jax.block_until_ready(params[0].data)

    with fo.native.use(kernels):
        optimizer = getattr(fo.optim, algorithm.torch_name)(params, **algorithm.torch_kwargs)
        run()
    return Step(run)


def prepared_torch(algorithm: Algorithm, case: Case, impl: str) -> Step | None:
    """torch.optim's step of ``impl`` (``forloop``, ``foreach``, ``fused``); None without torch or such a kernel."""
    try:
        import torch
    except ImportError:
        return None
    if impl == "fused" and not algorithm.torch_fused:
        return None
    dtype = getattr(torch, case.dtype)
    params = [torch.zeros(s, dtype=dtype, requires_grad=True) for s in case.shapes]
    for p in params:
        p.grad = torch.randn(p.shape, dtype=dtype)
    flags = {"forloop": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}[impl]
    optimizer = getattr(torch.optim, algorithm.torch_name)(params, **algorithm.torch_kwargs, **flags)
    return Step(optimizer.step)


def streaming_probe(num_floats: int, repeats: int) -> float:
    """GB/s of ``a += s * b`` in float32 (read a, b; write a = 12 bytes per element)."""
    try:
        import torch

        a, b = torch.zeros(num_floats), torch.ones(num_floats)
        seconds = median_seconds(lambda: a.add_(b, alpha=0.5), repeats)
    except ImportError:
        axpy = jax.jit(lambda a, b: a + 0.5 * b, donate_argnums=0)
        box = [jnp.zeros(num_floats), jnp.ones(num_floats)]

        def run():
            box[0] = axpy(box[0], box[1])
            box[0].block_until_ready()

        seconds = median_seconds(run, repeats)
    return 12 * num_floats / seconds / 1e9


def compile_seconds(tx: Any, case: Case, kernels: str | None) -> float | None:
    """Seconds to trace, lower and compile the donated ``apply_gradients`` step on ``kernels``."""
    if kernels == "native" and not native_supported(tx):
        return None
    params = make_tree(case, 0)
    state = tx.init(params)
    with kernel_path(kernels):
        start = time.perf_counter()
        jax.jit(training_step(tx), donate_argnums=(0, 1)).lower(params, state, params).compile()
        return time.perf_counter() - start


def cpu_model() -> str:
    """The CPU's ``model name`` from /proc/cpuinfo (Linux), else what :mod:`platform` says."""
    with contextlib.suppress(OSError):
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                return value.strip()
    return platform.processor() or platform.machine()


def default_kernel_path() -> str:
    """The path steps take by default here (``FUNCTIONAL_OPTIM_KERNELS``, else auto), or the error it raises."""
    try:
        return fo.native.path()
    except (RuntimeError, ValueError) as error:
        return f"error: {error}"


def environment() -> dict:
    info = {
        "cpu_model": cpu_model(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "device": str(jax.devices()[0].device_kind),
        "native_kernels_available": fo.native.available(),
        "default_kernel_path": default_kernel_path(),
        "FUNCTIONAL_OPTIM_KERNELS": os.environ.get(fo.native.ENVIRONMENT_VARIABLE, ""),
        "XLA_FLAGS": os.environ.get("XLA_FLAGS", ""),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", ""),
    }
    try:
        import optax

        info["optax"] = optax.__version__
    except ImportError:
        pass
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
    except ImportError:
        pass
    return info


def _divide(numerator: float | None, denominator: float | None) -> float | None:
    return None if numerator is None or not denominator else numerator / denominator


def measure_row(algorithm: Algorithm, case: Case, repeats: int, probe: float) -> dict:
    """Every timing of one algorithm on one case, and the bandwidth, ratios and peak memory derived from them."""
    row = {"algorithm": algorithm.name, "case": case.name, "params": case.num_params, "dtype": case.dtype}
    # The JAX steps take turns, then torch's (whose OpenMP threads keep spinning after a step,
    # which would slow the JAX step timed next). They share one grads tree, which none donates.
    grads = make_tree(case, 1)
    steps = {"update_apply_auto": prepared_step(algorithm.functional(), case, "auto", grads, False)}
    for kernels in KERNEL_PATHS:
        steps[f"functional_{kernels}"] = prepared_step(algorithm.functional(), case, kernels, grads)
        steps[f"wrapper_{kernels}"] = prepared_wrapper(algorithm, case, kernels, grads)
    steps["optax"] = None  # optax not installed, or no counterpart
    if algorithm.optax_factory is not None:
        with contextlib.suppress(ImportError):
            steps["optax"] = prepared_step(algorithm.optax_factory(), case, None, grads, False)
    row.update(interleaved_medians(steps, repeats))
    for name in ("functional_native", "functional_xla", "optax"):
        row[f"{name}_peak_bytes_per_param"] = None if steps[name] is None else steps[name].peak_bytes_per_param
    del steps, grads  # the JAX steps' arrays, before torch's are made
    torch_steps = {f"torch_{impl}": prepared_torch(algorithm, case, impl) for impl in ("forloop", "foreach", "fused")}
    row.update(interleaved_medians(torch_steps, repeats))

    native = row["functional_native"]
    bytes_per_param = algorithm.bytes_per_param * np.dtype(jnp.dtype(case.dtype)).itemsize // 4
    row["native_gbps"] = _divide(bytes_per_param * case.num_params / 1e9, native)
    row["native_fraction_of_probe"] = _divide(row["native_gbps"], probe)
    row["native_vs_xla"] = _divide(native, row["functional_xla"])
    row["native_vs_optax"] = _divide(native, row["optax"])
    row["native_vs_torch_fused"] = _divide(native, row["torch_fused"])
    row["wrapper_native_vs_torch_fused"] = _divide(row["wrapper_native"], row["torch_fused"])
    row["wrapper_native_vs_functional_native"] = _divide(row["wrapper_native"], native)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--algorithms", nargs="*", default=list(ALGORITHMS))
    parser.add_argument("--cases", nargs="*", default=["large", "large_bf16", "many_leaves", "tiny"])
    args = parser.parse_args()
    repeats = 5 if args.quick else 20
    all_cases = cases(args.quick)
    started = time.perf_counter()

    print(f"CPU: {cpu_model()}; native kernels {'built' if fo.native.available() else 'NOT built'}")
    probe = streaming_probe(all_cases["large"].num_params, repeats)
    print(f"streaming probe (a += s*b, float32): {probe:.1f} GB/s")
    print(TIMES_HEADER)
    rows = []
    for algorithm_name in args.algorithms:
        algorithm = ALGORITHMS[algorithm_name]
        for case_name in args.cases:
            case = all_cases[case_name]
            if case.dtype != "float32" and algorithm_name not in ("adam", "sgd_momentum"):
                continue
            rows.append(measure_row(algorithm, case, repeats, probe))
            print(format_times_row(rows[-1]), flush=True)
    compiles = {}
    for leaves in (10, 100, 500) if args.quick else (10, 100, 500, 2000):
        compile_case = Case(f"{leaves} leaves", tuple((20_000,) for _ in range(leaves)))
        compiles[leaves] = {
            f"functional_{kernels}_adam": compile_seconds(fo.adam(1e-3), compile_case, kernels)
            for kernels in KERNEL_PATHS
        }
        with contextlib.suppress(ImportError):
            compiles[leaves]["optax_adam"] = compile_seconds(_optax().adam(1e-3), compile_case, None)
        print(f"compile, {leaves}-leaf Adam:", ", ".join(f"{k} {_seconds(v)} s" for k, v in compiles[leaves].items()))
    elapsed = time.perf_counter() - started
    print()
    print(write_results(rows, compiles, probe, args.quick, elapsed))


def _ms(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds * 1e3:.3f}"


def _seconds(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds:.2f}"


def _ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}×"


def _number(value: float | None, spec: str = ".1f") -> str:
    return "—" if value is None else format(value, spec)


TIMES_HEADER = (
    "| algorithm | case | functional native ms | functional xla ms | update+apply (auto) ms | wrapper native ms "
    "| wrapper xla ms | optax ms | torch for-loop ms | torch foreach ms | torch fused ms |"
)
DERIVED_HEADER = (
    "| algorithm | case | native GB/s | native of probe | native / xla | native / optax | native / torch fused "
    "| wrapper native / torch fused | wrapper native / functional native | peak B/param native | peak B/param xla "
    "| peak B/param optax |"
)


def _separator(header: str) -> str:
    return "|---" * (header.count("|") - 1) + "|"


def format_times_row(row: dict) -> str:
    times = (
        "functional_native",
        "functional_xla",
        "update_apply_auto",
        "wrapper_native",
        "wrapper_xla",
        "optax",
        "torch_forloop",
        "torch_foreach",
        "torch_fused",
    )
    return f"| {row['algorithm']} | {row['case']} | " + " | ".join(_ms(row[key]) for key in times) + " |"


def format_derived_row(row: dict) -> str:
    ratios = (
        "native_vs_xla",
        "native_vs_optax",
        "native_vs_torch_fused",
        "wrapper_native_vs_torch_fused",
        "wrapper_native_vs_functional_native",
    )
    peaks = ("functional_native", "functional_xla", "optax")
    return (
        f"| {row['algorithm']} | {row['case']} | {_number(row['native_gbps'])} "
        f"| {_number(row['native_fraction_of_probe'], '.0%')} | "
        + " | ".join(_ratio(row[key]) for key in ratios)
        + " | "
        + " | ".join(_number(row[f"{key}_peak_bytes_per_param"]) for key in peaks)
        + " |"
    )


def format_compile_row(leaves: int, seconds: dict[str, float | None]) -> str:
    native, xla, optax = (seconds.get(k) for k in ("functional_native_adam", "functional_xla_adam", "optax_adam"))
    return f"| {leaves} | {_seconds(native)} | {_seconds(xla)} | {_seconds(optax)} | {_ratio(_divide(native, optax))} |"


def machine_line(env: dict, probe: float) -> str:
    """The machine, the library versions, which kernel path was available, and the streaming probe."""
    if env["native_kernels_available"]:
        kernels = f"native kernels built (default path: {env['default_kernel_path']})"
    else:
        kernels = "native kernels NOT built: only the XLA path was available, native columns are —"
    return (
        f"Machine: {env['cpu_model']}, {env['cpus']} CPUs ({env['machine']}); jax {env['jax']}, "
        f"optax {env.get('optax', '—')}, torch {env.get('torch', '—')} ({env.get('torch_threads', '—')} threads); "
        f"{kernels}; streaming probe {probe:.1f} GB/s."
    )


def write_results(rows: list[dict], compiles: dict, probe: float, quick: bool, elapsed: float) -> str:
    """Writes ``benchmarks/results/{quick,full}.{json,md}``; returns the markdown."""
    RESULTS_DIR.mkdir(exist_ok=True)
    stem = "quick" if quick else "full"
    env = environment()
    (RESULTS_DIR / f"{stem}.json").write_text(
        json.dumps(
            {
                "environment": env,
                "probe_gbps": probe,
                "elapsed_seconds": elapsed,
                "rows": rows,
                "compile_seconds": compiles,
            },
            indent=2,
        )
    )
    lines = [
        machine_line(env, probe),
        "",
        "Step time, median ms. functional: the jitted `fo.apply_gradients` step with params and state donated; "
        "update+apply: `tx.update` + `fo.apply_updates` on the default path; wrapper: `fo.optim`'s `step()`.",
        "",
        TIMES_HEADER,
        _separator(TIMES_HEADER),
        *(format_times_row(r) for r in rows),
        "",
        "Bandwidth and ratios of the functional native step (a ratio is time / time: below 1× is faster); "
        "peak memory per parameter of the donated step (XLA's memory analysis).",
        "",
        DERIVED_HEADER,
        _separator(DERIVED_HEADER),
        *(format_derived_row(r) for r in rows),
        "",
        "| compile, Adam, leaves of 20k params | functional native s | functional xla s | optax s | native / optax |",
        "|---|---|---|---|---|",
        *(format_compile_row(leaves, seconds) for leaves, seconds in compiles.items()),
    ]
    markdown = "\n".join(lines) + "\n"
    (RESULTS_DIR / f"{stem}.md").write_text(markdown)
    return markdown + f"\nwrote {RESULTS_DIR / stem}.json and .md ({elapsed:.0f} s)"


if __name__ == "__main__":
    main()
