//! The machine's limit, and how close an MLP training step comes to it, in
//! one run.
//!
//! ```text
//! cargo bench -p rectify-benches --bench peak            # about 40 s
//! cargo bench -p rectify-benches --bench peak -- 0.5     # seconds per cell
//! ```
//!
//! 1. **FMA peak**: each thread runs 12 independent chains of fused
//!    multiply-adds on the widest lanes the CPU has (`pulp` chooses AVX-512,
//!    AVX2 with FMA, or narrower), in f64 and f32, on 1 and 2 threads; the
//!    best of 5 runs, in GFLOP/s (an FMA is 2 flops).
//! 2. **Each MLP of `benches/mlp.rs`**, in f64 and f32, on 1 and 2 threads
//!    (a rayon pool of that size): the median time of
//!    - `gemms`: the step's eight bare products (each layer's `x·W` and
//!      `xᵀ·g`, and `g·Wᵀ` for every layer but the first), called as rectify
//!      calls `gemm`: on the pool's threads from 2²³ multiply-adds on
//!      (`PARALLEL_MIN_WORK` in `src/matmul.rs`), otherwise on one;
//!    - `step`: rectify's whole training step, as `examples/mlp_step.rs`
//!      times it (`forward_owned` through a `Sequential`, softmax
//!      cross-entropy, `backward_params`, `Sgd` with momentum 0.9);
//!
//!    each in GFLOP/s of the eight products' flops, as a share of the peak
//!    of the same element type and thread count; and `step ÷ gemms`.
//!
//! `cargo test --benches` runs it once with tiny sizes, as a test that it
//! works.

use std::hint::black_box;
use std::marker::PhantomData;
use std::sync::Barrier;
use std::time::Instant;

use pulp::{Arch, Simd, WithSimd};
use rectify::loss::softmax_cross_entropy;
use rectify::{Float, Layer, Sgd};

mod common;
use common::mlp::{mlp, random, Products, MLPS};

/// Independent FMA chains per thread: enough to cover the FMA latency on
/// both FMA ports of the CPUs seen so far (4 cycles × 2 ports, plus slack).
const CHAINS: usize = 12;

/// `iterations` rounds of [`CHAINS`] FMAs on one thread, in `A`.
struct Chains<A> {
    iterations: u64,
    element: PhantomData<A>,
}

/// What [`Chains`] returns: the lanes' sum (kept, so that the work is not
/// optimised away) and the number of lanes of a vector.
type ChainsOutput = (f64, usize);

macro_rules! chains {
    ($a:ty, $vector:ident, $splat:ident, $fma:ident, $add:ident, $sum:ident) => {
        impl WithSimd for Chains<$a> {
            type Output = ChainsOutput;

            #[inline(always)]
            fn with_simd<S: Simd>(self, simd: S) -> ChainsOutput {
                let (a, b) = (simd.$splat(0.999_999), simd.$splat(1e-6));
                // Different starting values, so that no two chains are the
                // same computation.
                let mut acc: [S::$vector; CHAINS] =
                    std::array::from_fn(|i| simd.$splat(1.0 + i as $a / 64.0));
                for _ in 0..black_box(self.iterations) {
                    for c in &mut acc {
                        *c = simd.$fma(*c, a, b);
                    }
                }
                let total = acc.iter().fold(simd.$splat(0.0), |t, &c| simd.$add(t, c));
                let lanes = size_of::<S::$vector>() / size_of::<$a>();
                (f64::from(simd.$sum(total)), lanes)
            }
        }
    };
}
chains!(
    f64,
    f64s,
    splat_f64s,
    mul_add_f64s,
    add_f64s,
    reduce_sum_f64s
);
chains!(
    f32,
    f32s,
    splat_f32s,
    mul_add_f32s,
    add_f32s,
    reduce_sum_f32s
);

/// The best of 5 runs of `iterations` rounds on each of `threads` threads
/// at once, in GFLOP/s, and the lanes of a vector.
fn peak<A>(threads: usize, iterations: u64) -> (f64, usize)
where
    Chains<A>: WithSimd<Output = ChainsOutput>,
{
    let run = || {
        Arch::new().dispatch(Chains::<A> {
            iterations,
            element: PhantomData,
        })
    };
    let mut best = 0.0f64;
    let mut lanes = 0;
    for _ in 0..5 {
        let start = Barrier::new(threads + 1);
        let seconds = std::thread::scope(|s| {
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    s.spawn(|| {
                        start.wait();
                        black_box(run())
                    })
                })
                .collect();
            let clock = Instant::now();
            start.wait();
            for w in workers {
                lanes = w.join().expect("no panic").1;
            }
            clock.elapsed().as_secs_f64()
        });
        let flops = 2.0 * (CHAINS * lanes) as f64 * iterations as f64 * threads as f64;
        best = best.max(flops / seconds / 1e9);
    }
    (best, lanes)
}

/// The median of `f`'s times in seconds, over at least `seconds` of calls
/// and at least 5 calls, after 3 calls to warm up.
fn median(seconds: f64, mut f: impl FnMut() -> f64) -> f64 {
    for _ in 0..3 {
        f();
    }
    let mut times = Vec::new();
    let mut spent = 0.0;
    while times.len() < 5 || spent < seconds {
        let t = f();
        spent += t;
        times.push(t);
    }
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// The median times in seconds of the eight bare products of a step of the
/// MLP of `widths` on `batch` rows, and of rectify's step, in `A`, on the
/// current rayon pool.
fn gemms_and_step<A: Float>(widths: [usize; 4], batch: usize, seconds: f64) -> (f64, f64) {
    let mut products = Products::<A>::new(widths, batch, rayon::current_num_threads());
    let gemms = median(seconds, || {
        let start = Instant::now();
        products.run();
        start.elapsed().as_secs_f64()
    });

    let mut net = mlp::<A>(widths);
    let mut sgd = Sgd::new(0.01)
        .and_then(|s| s.with_momentum(0.9))
        .expect("valid");
    let x = random::<A>((batch, widths[0]), 1);
    let labels: Vec<usize> = (0..batch).map(|i| (i * 7) % widths[3]).collect();
    let step = median(seconds, || {
        let input = x.clone();
        let start = Instant::now();
        let logits = net.forward_owned(input).expect("shapes fit");
        let (_, grad) = softmax_cross_entropy(&logits, &labels).expect("labels fit");
        net.backward_params(grad).expect("shapes fit");
        sgd.step(&mut net).expect("same parameters");
        start.elapsed().as_secs_f64()
    });
    (gemms, step)
}

/// Prints one row per MLP and thread count for element type `A`.
fn rows<A: Float>(name: &str, peaks: [f64; 2], mlps: &[(&str, [usize; 4], usize)], seconds: f64) {
    for &(mlp, widths, batch) in mlps {
        let multiply_adds: usize = widths
            .windows(2)
            .map(|p| 3 * batch * p[0] * p[1])
            .sum::<usize>()
            - batch * widths[0] * widths[1];
        let gflop = 2.0 * multiply_adds as f64 / 1e9;
        for (threads, peak) in [1, 2].into_iter().zip(peaks) {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("a thread pool");
            let (gemms, step) = pool.install(|| gemms_and_step::<A>(widths, batch, seconds));
            let rate = |t: f64| gflop / t;
            println!(
                "{mlp:<22} {name} {threads}  gemms {:>9.4} ms {:>6.1} GF/s {:>3.0}% | step {:>9.4} ms {:>6.1} GF/s {:>3.0}% | step/gemms {:.2}",
                gemms * 1e3,
                rate(gemms),
                100.0 * rate(gemms) / peak,
                step * 1e3,
                rate(step),
                100.0 * rate(step) / peak,
                step / gemms,
            );
        }
    }
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not, and
    // then a tiny run checks that everything works.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let full = args.iter().any(|a| a == "--bench");
    let seconds: f64 =
        args.iter()
            .find_map(|a| a.parse().ok())
            .unwrap_or(if full { 1.0 } else { 0.0 });
    let (iterations, mlps): (u64, &[_]) = if full {
        (100_000_000, &MLPS)
    } else {
        (1000, &[("16-8-8-4_b4", [16, 8, 8, 4], 4)])
    };

    let mut peaks = [[0.0; 2]; 2];
    for (e, name) in ["f64", "f32"].into_iter().enumerate() {
        for (t, threads) in [1, 2].into_iter().enumerate() {
            let (gflops, lanes) = if e == 0 {
                peak::<f64>(threads, iterations)
            } else {
                peak::<f32>(threads, iterations)
            };
            peaks[e][t] = gflops;
            println!(
                "peak {name} {threads} thread(s): {gflops:7.1} GFLOP/s ({CHAINS} chains of {lanes}-lane FMAs a thread)"
            );
        }
    }
    println!("mlp                    type threads  time, GFLOP/s, share of that peak");
    rows::<f64>("f64", peaks[0], mlps, seconds);
    rows::<f32>("f32", peaks[1], mlps, seconds);
    assert!(peaks.iter().flatten().all(|p| p.is_finite() && *p > 0.0));
}
