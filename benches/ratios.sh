#!/bin/sh
# Runs the activation benches (extra arguments go to criterion, e.g. a filter
# such as `step/`), then prints every benchmark's median as a ratio to the
# `copy` baseline of its group and shape, measured in the same run.
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
    cargo bench --features "${FEATURES:-}" --bench activation -- "$@"
    echo "bench run took $(($(date +%s) - start)) s"
fi
python3 - <<'PY'
import json, pathlib

root = pathlib.Path("target/criterion")
medians = {}
for f in root.glob("*/*/*/new/estimates.json"):
    group, function, shape = f.parts[-5:-2]
    medians[(group, shape, function)] = json.loads(f.read_text())["median"]["point_estimate"]

def shape_key(s):
    r, c = s.split("x")
    return int(r) * int(c)

order = ["forward_owned", "backward_owned", "step", "forward", "predict", "dense_step"]
groups = sorted({g for g, _, _ in medians}, key=lambda g: (order.index(g) if g in order else 99, g))
print(f"{'group':<15} {'shape':<10} {'function':<12} {'median':>12} {'/ copy':>7}")
for group in groups:
    shapes = sorted({s for g, s, _ in medians if g == group}, key=shape_key)
    for shape in shapes:
        base = medians.get((group, shape, "copy"))
        functions = sorted(f for g, s, f in medians if g == group and s == shape)
        functions.sort(key=lambda f: (f != "copy", f != "alloc_copy", f))
        for function in functions:
            m = medians[(group, shape, function)]
            ratio = f"{m / base:7.2f}" if base else "      -"
            print(f"{group:<15} {shape:<10} {function:<12} {m / 1e3:10.1f}us {ratio}")
PY
