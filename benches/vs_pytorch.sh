#!/bin/sh
# Times the MLP training steps of examples/mlp_step.rs and of
# benches/pytorch_mlp.py in alternating rounds, then prints, per MLP, the
# median and range over the rounds of PyTorch's median step time divided by
# rectify's (above 1: rectify is faster).
#
#   benches/vs_pytorch.sh [ROUNDS] [SECONDS]   # default 5 rounds, 2 s per MLP
#   PYTHON=/path/to/python FEATURES=rayon benches/vs_pytorch.sh
set -eu
cd "$(dirname "$0")/.."
rounds=${1:-5}
seconds=${2:-2}
python=${PYTHON:-/work/venv/bin/python}
cargo build --release --quiet --features "${FEATURES:-}" --example mlp_step
out=target/vs_pytorch.txt
: > "$out"
i=1
while [ "$i" -le "$rounds" ]; do
    target/release/examples/mlp_step "$seconds" | sed "s/^/$i rectify /" >> "$out"
    "$python" benches/pytorch_mlp.py "$seconds" | sed "s/^/$i pytorch /" >> "$out"
    i=$((i + 1))
done
python3 - "$out" <<'PY'
import statistics, sys
times = {}
for line in open(sys.argv[1]):
    rnd, who, name, ms = line.split()[:4]
    times.setdefault(name, {}).setdefault(rnd, {})[who] = float(ms)
print(f"{'mlp':<24} {'rectify ms':>16} {'pytorch ms':>16} {'pytorch/rectify: median (range)':>34}")
for name, rounds in times.items():
    r = [v["rectify"] for v in rounds.values()]
    p = [v["pytorch"] for v in rounds.values()]
    ratios = [v["pytorch"] / v["rectify"] for v in rounds.values()]
    span = lambda xs: f"{min(xs):.3f}-{max(xs):.3f}"
    print(f"{name:<24} {span(r):>16} {span(p):>16} {statistics.median(ratios):>14.2f} ({min(ratios):.2f}-{max(ratios):.2f})")
PY
