#!/usr/bin/env bash
# Runs every example in --quick mode, as CI does, so that none of them rots.
#
#   pip install -e ".[examples]"     # matplotlib, tqdm, scikit-learn, equinox, flax, orbax, optax
#   bash examples/run_all.sh         # or: PYTHON=/path/to/python bash examples/run_all.sh
#
# Every examples/*.py is run (a new example is picked up without editing this script), so each
# must accept --quick. Pictures written in --quick mode go to a temporary folder, never over
# docs/images (regenerate those with the full runs: python examples/optimizer_zoo.py, ...).
# With torch installed, optimizer_zoo.py and lbfgs_fit.py also run torch.optim for comparison.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
export MPLBACKEND=Agg

failed=()
for example in examples/*.py; do
    echo "== $PYTHON $example --quick"
    start=$SECONDS
    if "$PYTHON" "$example" --quick; then
        echo "-- $example: ok in $((SECONDS - start)) s"
    else
        echo "-- $example: FAILED (exit $?) after $((SECONDS - start)) s"
        failed+=("$example")
    fi
done

total=$(find examples -maxdepth 1 -name '*.py' | wc -l)
echo "examples: $((total - ${#failed[@]})) passed, ${#failed[@]} failed"
if ((${#failed[@]})); then
    printf 'failed: %s\n' "${failed[@]}"
    exit 1
fi
