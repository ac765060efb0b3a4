#!/bin/sh
# Runs the activation and MLP benches (extra arguments go to criterion, e.g.
# a filter such as `step/`), then prints every benchmark's median as a ratio
# to the baseline of its group and shape, measured in the same run: `copy`
# for the activation groups, the bare GEMMs for `dense_step` (`gemm`),
# `dense_layer` (`gemm_forward`, `gemm_backward`) and `mlp_step` (`gemms`).
#
#   benches/ratios.sh                  # full run, one thread
#   FEATURES=rayon benches/ratios.sh   # the same with the rayon feature
#   benches/ratios.sh --report-only    # only print the ratios of the last run
set -eu
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--report-only" ]; then
    shift
else
    start=$(date +%s)
    cargo bench -p rectify-benches --features "${FEATURES:-}" --bench activation --bench mlp -- "$@"
    echo "bench run took $(($(date +%s) - start)) s"
fi
python3 - <<'PY'
import json, pathlib

root = pathlib.Path("target/criterion")
medians = {}
for f in root.glob("*/*/*/new/estimates.json"):
    group, function, shape = f.parts[-5:-2]
    medians[(group, shape, function)] = json.loads(f.read_text())["median"]["point_estimate"]

order = ["forward_owned", "backward_owned", "step", "forward_owned_f32", "backward_owned_f32",
         "step_f32", "forward", "predict", "dense_step",
         "dense_layer", "mlp_step"]
baselines = {"dense_step": "gemm", "mlp_step": "gemms"}

def baseline(group, function):
    if group == "dense_layer":
        return "gemm_backward" if "backward" in function else "gemm_forward"
    return "copy" if function == "copy" else baselines.get(group, "copy")

def shape_key(s):
    if "x" in s and s.replace("x", "").isdigit():
        r, c = s.split("x")
        return (0, int(r) * int(c), s)
    return (1, 0, s)

groups = sorted({g for g, _, _ in medians}, key=lambda g: (order.index(g) if g in order else 99, g))
print(f"{'group':<15} {'shape':<30} {'function':<14} {'median':>12} {'ratio':>6}  baseline")
for group in groups:
    shapes = sorted({s for g, s, _ in medians if g == group}, key=shape_key)
    for shape in shapes:
        functions = sorted(f for g, s, f in medians if g == group and s == shape)
        bases = {baseline(group, f) for f in functions}
        functions.sort(key=lambda f: (f not in bases, f != "alloc_copy", f))
        for function in functions:
            m = medians[(group, shape, function)]
            name = baseline(group, function)
            base = medians.get((group, shape, name))
            ratio = f"{m / base:6.2f}" if base else "     -"
            print(f"{group:<15} {shape:<30} {function:<14} {m / 1e3:10.1f}us {ratio}  {name}")
PY
