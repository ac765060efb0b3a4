//! Training an MLP, against the bare GEMMs it is made of, measured in the
//! same run.
//!
//! ```text
//! cargo bench --bench mlp                    # everything (see benches/ratios.sh)
//! cargo bench --bench mlp -- mlp_step/       # one group
//! benches/ratios.sh                          # both benches, then ratios to the baselines
//! ```
//!
//! Three MLPs, `inputs-hidden-hidden-classes` at a batch size: 784-256-256-10
//! at 128, 784-1024-1024-10 at 256, and the digits size 64-64-64-10 at 32.
//!
//! - `dense_layer`, shapes `{mlp}_{layer}_{inputs}x{outputs}`: each `DenseLayer` of the
//!   MLP on its own: `forward_owned` (`y = x·W + b`) against `gemm_forward`, the bare
//!   `x·W` into a preallocated array; `backward` (`dW = xᵀ·g`, `db`, and a new
//!   `dx = g·Wᵀ`) against `gemm_backward`, the bare `xᵀ·g` and `g·Wᵀ` into
//!   preallocated arrays.
//! - `mlp_step` (f64) and `mlp_step_f32`, shapes `{mlp}`: a whole training
//!   step: `forward_owned` through a `Sequential` of Dense, ReLU, Dense,
//!   ReLU, Dense, softmax cross-entropy, `backward_params` (no gradient of
//!   the network's input), `Sgd` with momentum; against `gemms`, the same
//!   eight bare GEMMs one after another.
//!
//! Throughput is in multiply-adds (`Throughput::Elements`). The bare GEMMs
//! call `gemm` exactly as rectify does, on one thread.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion, Throughput,
};
use rectify::loss::softmax_cross_entropy;
use rectify::ndarray::Array2;
use rectify::{DenseLayer, Float, Layer, Sgd};

mod common;
use common::gemm::gemm_into;
use common::mlp::{mlp, random, Products, MLPS};

fn group<'a>(
    c: &'a mut Criterion,
    name: &str,
    multiply_adds: usize,
) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(multiply_adds as u64))
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    g
}

/// Times `f` on a fresh copy of `input`, made outside the timed region.
fn timed_with_copy<'a, A: Float, T>(
    input: &'a Array2<A>,
    mut f: impl FnMut(Array2<A>) -> T + 'a,
) -> impl FnMut(u64) -> Duration + 'a {
    move |iters| {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            let x = input.clone();
            let start = Instant::now();
            black_box(f(black_box(x)));
            total += start.elapsed();
        }
        total
    }
}

fn dense_layer(c: &mut Criterion) {
    for (mlp, widths, batch) in MLPS {
        for (i, pair) in widths.windows(2).enumerate() {
            let (inputs, outputs) = (pair[0], pair[1]);
            let x = random::<f64>((batch, inputs), 1 + i as u64);
            let grad = random((batch, outputs), 11 + i as u64);
            let weights = random((inputs, outputs), 21 + i as u64) / (inputs as f64).sqrt();
            let bias = random((1, outputs), 31).row(0).to_owned();
            let mut dense = DenseLayer::from_parts(weights.clone(), bias).expect("parts fit");
            let shape = format!("{mlp}_{}_{inputs}x{outputs}", i + 1);
            let id = |function| BenchmarkId::new(function, &shape);
            let mut g = group(c, "dense_layer", batch * inputs * outputs);

            let mut y = Array2::zeros((batch, outputs));
            g.bench_function(id("gemm_forward"), |b| {
                b.iter(|| gemm_into(&mut y, black_box(&x), &weights))
            });
            g.bench_function(id("forward_owned"), |b| {
                b.iter_custom(timed_with_copy(&x, |x| {
                    dense.forward_owned(x).expect("shapes fit")
                }))
            });

            let (mut dw, mut dx) = (
                Array2::zeros((inputs, outputs)),
                Array2::zeros((batch, inputs)),
            );
            g.bench_function(id("gemm_backward"), |b| {
                b.iter(|| {
                    gemm_into(&mut dw, &x.t(), black_box(&grad));
                    gemm_into(&mut dx, black_box(&grad), &weights.t());
                })
            });
            dense.forward(&x).expect("shapes fit");
            g.bench_function(id("backward"), |b| {
                b.iter(|| dense.backward(black_box(&grad)).expect("shapes fit"))
            });
            g.finish();
        }
    }
}

fn mlp_step(c: &mut Criterion) {
    mlp_step_of::<f64>(c, "mlp_step");
    mlp_step_of::<f32>(c, "mlp_step_f32");
}

/// The step of each MLP in `A`, against its eight bare products, in group
/// `group_name`.
fn mlp_step_of<A: Float>(c: &mut Criterion, group_name: &str) {
    for (name, widths, batch) in MLPS {
        let x = random::<A>((batch, widths[0]), 1);
        let labels: Vec<usize> = (0..batch).map(|i| (i * 7) % widths[3]).collect();
        // Forward, dW and dx of every layer but the first's dx.
        let products: usize = widths.windows(2).map(|p| 3 * batch * p[0] * p[1]).sum();
        let multiply_adds = products - batch * widths[0] * widths[1];
        let mut g = group(c, group_name, multiply_adds);

        // The same eight products, on arrays of the step's shapes.
        let mut products = Products::<A>::new(widths, batch, 1);
        g.bench_function(BenchmarkId::new("gemms", name), |b| {
            b.iter(|| products.run())
        });

        let mut net = mlp::<A>(widths);
        let mut sgd = Sgd::new(0.01)
            .and_then(|s| s.with_momentum(0.9))
            .expect("valid");
        g.bench_function(BenchmarkId::new("step", name), |b| {
            b.iter_custom(timed_with_copy(&x, |x| {
                let logits = net.forward_owned(x).expect("shapes fit");
                let (loss, grad) = softmax_cross_entropy(&logits, &labels).expect("labels fit");
                net.backward_params(grad).expect("shapes fit");
                sgd.step(&mut net).expect("same parameters");
                loss
            }))
        });
        g.finish();
    }
}

criterion_group!(benches, dense_layer, mlp_step);
criterion_main!(benches);
