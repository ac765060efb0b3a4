#!/bin/sh
# Times the MLP training steps of examples/mlp_step.rs (the default build, and
# RAYON_NUM_THREADS=1) and of benches/pytorch_mlp.py (1 and 2 threads) in
# alternating rounds, after the machine's FMA peak (benches/peak.rs). Prints,
# per MLP and element type:
# - the median and range over the rounds of PyTorch's faster median step
#   time (of 1 and 2 threads) divided by the default build's (above 1:
#   rectify is faster);
# - each product's GFLOP/s (the flops of the step's eight products: each
#   layer's x·W and xᵀ·g, and g·Wᵀ for every layer but the first), as a share
#   of the FMA peak of the same element type and thread count.
#
#   benches/vs_pytorch.sh [ROUNDS] [SECONDS]   # default 5 rounds, 2 s per MLP
#   PYTHON=/path/to/python benches/vs_pytorch.sh
set -eu
cd "$(dirname "$0")/.."
rounds=${1:-5}
seconds=${2:-2}
python=${PYTHON:-/work/venv/bin/python}
threads=$(nproc)
cargo build --release --quiet --example mlp_step
out=target/vs_pytorch.txt
peak=target/vs_pytorch_peak.txt
cargo bench --quiet -p rectify-benches --bench peak -- 0 | grep '^peak' > "$peak"
: > "$out"
i=1
while [ "$i" -le "$rounds" ]; do
    target/release/examples/mlp_step "$seconds" | sed "s/^/$i rectify-$threads /" >> "$out"
    RAYON_NUM_THREADS=1 target/release/examples/mlp_step "$seconds" | sed "s/^/$i rectify-1 /" >> "$out"
    "$python" benches/pytorch_mlp.py "$seconds" | sed -E "s/^(.*) \(([0-9]+) steps, ([0-9]+) threads\)$/$i pytorch-\3 \1/" >> "$out"
    i=$((i + 1))
done
python3 - "$out" "$peak" "$threads" <<'PY'
import re, statistics, sys

out, peak_file, threads = sys.argv[1], sys.argv[2], sys.argv[3]
peaks = {}
for line in open(peak_file):
    m = re.match(r"peak (f\d\d) (\d) thread\(s\):\s+([\d.]+)", line)
    peaks[(m[1], m[2])] = float(m[3])
    print(line.rstrip())

times = {}  # name -> who -> round -> ms
for line in open(out):
    rnd, who, name, ms = line.split()[:4]
    times.setdefault(name, {}).setdefault(who, {})[rnd] = float(ms)


def gflop(name):
    widths, batch = re.match(r"([\d-]+)_b(\d+)_f", name).groups()
    w, b = [int(x) for x in widths.split("-")], int(batch)
    pairs = list(zip(w, w[1:]))
    return 2 * (sum(3 * b * i * o for i, o in pairs) - b * pairs[0][0] * pairs[0][1]) / 1e9


span = lambda xs: f"{min(xs):.3f}-{max(xs):.3f}"
default = f"rectify-{threads}"
print(f"\n{'mlp':<26} {'rectify ms':>14} {'pytorch ms':>14} {'pytorch/rectify: median (range)':>32}")
for name, who in times.items():
    rounds = who[default].keys()
    r = [who[default][k] for k in rounds]
    p = [min(who["pytorch-1"][k], who["pytorch-2"][k]) for k in rounds]
    ratios = [pk / rk for pk, rk in zip(p, r)]
    print(f"{name:<26} {span(r):>14} {span(p):>14} {statistics.median(ratios):>16.2f} ({min(ratios):.2f}-{max(ratios):.2f})")

print(f"\nGFLOP/s of the median round (share of the FMA peak of that type and thread count)")
print(f"{'mlp':<26} {'rectify 1 thread':>18} {'rectify ' + threads + ' threads':>18} {'pytorch 1 thread':>18} {'pytorch 2 threads':>18}")
for name, who in times.items():
    dtype = name[-3:]
    cells = []
    for w, t in (("rectify-1", "1"), (default, threads), ("pytorch-1", "1"), ("pytorch-2", "2")):
        rate = gflop(name) / (statistics.median(who[w].values()) / 1e3)
        peak = peaks.get((dtype, t))
        cells.append(f"{rate:.1f} ({100 * rate / peak:.0f}%)" if peak else f"{rate:.1f}")
    print(f"{name:<26} " + " ".join(f"{c:>18}" for c in cells))
PY
