"""Draws every learning-rate schedule in functional_optim.schedules into one PNG.

    python examples/schedules_gallery.py            # writes docs/images/schedules_gallery.png
    python examples/schedules_gallery.py --quick    # fewer epochs, into a temporary folder (CI)

Each panel is a pure ``epoch -> lr`` function evaluated under ``jax.jit`` over all epochs at
once with ``jax.vmap``; the values equal torch's ``get_last_lr()`` sequence
(tests/test_schedules.py), and the dashed lines are the momentum that CyclicLR and OneCycleLR
cycle.
"""

from __future__ import annotations

import argparse
import pathlib
import tempfile

import jax
import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from functional_optim import schedules

OUTPUT = pathlib.Path(__file__).resolve().parent.parent / "docs" / "images" / "schedules_gallery.png"


def gallery(epochs: int) -> dict[str, schedules.Schedule]:
    base = 0.1
    return {
        "lambda_lr(0.95 ** epoch)": schedules.lambda_lr(base, lambda epoch: 0.95**epoch),
        "multiplicative_lr(0.97)": schedules.multiplicative_lr(base, lambda epoch: 0.97),
        "step_lr(step_size=30, gamma=0.5)": schedules.step_lr(base, step_size=30, gamma=0.5),
        "multi_step_lr([30, 80], gamma=0.3)": schedules.multi_step_lr(base, milestones=[30, 80], gamma=0.3),
        "constant_lr(factor=0.3, total_iters=40)": schedules.constant_lr(base, factor=0.3, total_iters=40),
        "linear_lr(0.1, 1.0, total_iters=50)": schedules.linear_lr(base, 0.1, 1.0, total_iters=50),
        "exponential_lr(gamma=0.97)": schedules.exponential_lr(base, gamma=0.97),
        "polynomial_lr(total_iters=100, power=2)": schedules.polynomial_lr(base, total_iters=100, power=2.0),
        "cosine_annealing_lr(T_max=50)": schedules.cosine_annealing_lr(base, T_max=50, eta_min=0.01),
        "cosine_annealing_warm_restarts(20, 2)": schedules.cosine_annealing_warm_restarts(base, T_0=20, T_mult=2),
        "cyclic_lr(triangular2)": schedules.cyclic_lr(0.01, base, step_size_up=15, mode="triangular2"),
        "cyclic_lr(exp_range, gamma=0.99)": schedules.cyclic_lr(
            0.01, base, step_size_up=15, mode="exp_range", gamma=0.99
        ),
        "one_cycle_lr(cos)": schedules.one_cycle_lr(base, total_steps=epochs),
        "one_cycle_lr(linear, three_phase)": schedules.one_cycle_lr(
            base, total_steps=epochs, anneal_strategy="linear", three_phase=True
        ),
        "sequential_lr(linear warm-up, cosine)": schedules.sequential_lr(
            [
                schedules.linear_lr(base, 0.1, 1.0, total_iters=20),
                schedules.cosine_annealing_lr(base, T_max=epochs - 20),
            ],
            milestones=[20],
        ),
        "chained(step_lr, exponential_lr)": schedules.chained(
            [schedules.step_lr(base, step_size=40, gamma=0.5), schedules.exponential_lr(base, gamma=0.99)]
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer epochs, written to a temporary folder (CI)")
    quick = parser.parse_args().quick
    epochs = 60 if quick else 150
    output = pathlib.Path(tempfile.mkdtemp()) / OUTPUT.name if quick else OUTPUT
    epoch_grid = jnp.arange(epochs)
    panels = gallery(epochs)
    figure, axes = plt.subplots(4, 4, figsize=(16, 12), sharex=True)
    for axis, (title, schedule) in zip(axes.flat, panels.items()):
        axis.plot(epoch_grid, jax.jit(jax.vmap(schedule))(epoch_grid), color="tab:blue")
        if schedule.momentum is not None:
            twin = axis.twinx()
            twin.plot(epoch_grid, jax.jit(jax.vmap(schedule.momentum))(epoch_grid), "--", color="tab:orange")
            twin.set_ylabel("momentum", color="tab:orange")
        axis.set_title(title, fontsize=9)
        axis.set_ylabel("lr")
    for axis in axes[-1]:
        axis.set_xlabel("epoch")
    figure.suptitle("functional_optim.schedules: torch's lr schedulers as pure functions")
    figure.tight_layout()
    output.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(output, dpi=80)
    print(f"wrote {output} ({len(panels)} schedules, {epochs} epochs)")


if __name__ == "__main__":
    main()
