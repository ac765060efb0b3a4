//! Throughput of the rectifier layers, each group against a `copy_from_slice`
//! of the same bytes measured in the same run.
//!
//! ```text
//! cargo bench --bench activation            # everything (see benches/ratios.sh)
//! cargo bench --bench activation -- step/   # one group
//! benches/ratios.sh                         # run, then print medians as ratios to `copy`
//! ```
//!
//! Groups (one per operation, each with the shapes in [`SHAPES`]):
//!
//! - `forward_owned`, `backward_owned`: the in-place passes, for every
//!   member of the family ([`family`]), in `f64`; `forward_owned_f32` and
//!   `backward_owned_f32` the same in `f32` (against a copy of the `f32`
//!   bytes). Their input is
//!   refilled from a fixed random array before every timed call, outside the
//!   timed region: a ReLU output fed back in is all positive (flattering
//!   branchy code) and a Leaky output fed back sinks into subnormals.
//! - `forward`, `predict`: a new array from `&ArrayRef2`, for ReLU and
//!   Leaky ReLU ([`layers`]), against both
//!   `copy` and `alloc_copy` (`to_owned`: the same allocation plus a copy).
//! - `step`: a training step through one activation, `forward_owned` then
//!   `backward_owned`, inputs refilled outside the timed region; alone
//!   (every member) and inside a `Sequential` (`seq_relu`, `seq_leaky`).
//!   `step_f32` the same in `f32`, and ReLU's step on the same bytes as a
//!   4-D `(rows, cols / 16, 4, 4)` array (`relu_4d`). Besides `copy`, both
//!   have `copy_refilled`: the same copy with its two arrays refilled as a
//!   step's are, so that the caches hold what they hold for a step (at
//!   1024x4096, four arrays of 16 or 32 MB between the refill and the pass).
//! - `dense_step`: the same step through a `Sequential` of Dense(n → n) and
//!   ReLU, against the Dense alone and its three bare GEMMs (`gemm`), at the
//!   two smaller shapes.
//!
//! Inputs are uniform in [-1, 1) (half the elements on each side, in random
//! order) from fixed seeds.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion, SamplingMode,
    Throughput,
};
use ndarray_rand::rand::{rngs::StdRng, SeedableRng};
use ndarray_rand::rand_distr::Uniform;
use ndarray_rand::RandomExt;
use rectify::ndarray::{Array, Array1, Array2, Dimension};
use rectify::{
    ClippedReluLayer, DenseLayer, Float, Layer, LeakyReluLayer, PReluLayer, RReluLayer, ReluLayer,
    Sequential, ThresholdLayer,
};

mod common;
use common::gemm::gemm_into;

/// (rows, columns): in L1/L2, in L2, about the size of L3, far beyond L3.
const SHAPES: [(usize, usize); 4] = [(64, 128), (256, 1024), (1024, 4096), (4096, 4096)];

/// ReLU and Leaky ReLU, by name: the layers every group measures.
fn layers<A: Float>() -> Vec<(&'static str, Box<dyn Layer<A>>)> {
    vec![
        ("relu", Box::new(ReluLayer::new())),
        ("leaky", Box::new(LeakyReluLayer::default())),
    ]
}

/// Every member of the family, by name, for inputs with `cols` columns:
/// the layers the in-place groups measure. PReLU has one slope per column.
fn family<A: Float>(cols: usize) -> Vec<(&'static str, Box<dyn Layer<A>>)> {
    let mut all = layers();
    all.extend([
        (
            "relu6",
            Box::new(ClippedReluLayer::relu6()) as Box<dyn Layer<A>>,
        ),
        (
            "threshold",
            Box::new(ThresholdLayer::new(0.1, -1.0).expect("finite")),
        ),
        ("rrelu", Box::new(RReluLayer::default())),
        (
            "prelu",
            Box::new(PReluLayer::<A>::new(cols, 0.25).expect("valid")),
        ),
    ]);
    all
}

/// A fixed array, uniform in [-1, 1).
fn random<A: Float>(shape: (usize, usize), seed: u64) -> Array2<A> {
    let uniform = Uniform::new(-1.0, 1.0).expect("valid range");
    let x = Array2::random_using(shape, uniform, &mut StdRng::seed_from_u64(seed));
    x.mapv(|v: f64| A::from(v).expect("in range"))
}

fn id(function: &str, (rows, cols): (usize, usize)) -> BenchmarkId {
    BenchmarkId::new(function, format!("{rows}x{cols}"))
}

/// A group with modest sample counts, so the whole run stays short on 2
/// cores; `A` is its element type.
fn group<'a, A>(
    c: &'a mut Criterion,
    name: &str,
    shape: (usize, usize),
) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(name);
    let bytes = (shape.0 * shape.1 * size_of::<A>()) as u64;
    g.throughput(Throughput::Bytes(bytes))
        .warm_up_time(Duration::from_millis(700))
        .measurement_time(Duration::from_secs(2))
        .sample_size(if bytes >= 32 << 20 { 10 } else { 30 });
    if bytes >= 32 << 20 {
        g.sampling_mode(SamplingMode::Flat);
    }
    g
}

/// The yardstick: `copy_from_slice` of the same bytes into a preallocated array.
fn copy<A: Float>(g: &mut BenchmarkGroup<'_, WallTime>, x: &Array2<A>) {
    let src = x.as_slice().expect("standard layout");
    let mut dst = Array2::<A>::zeros(x.dim());
    g.bench_function(id("copy", x.dim()), |b| {
        b.iter(|| {
            dst.as_slice_mut()
                .expect("standard layout")
                .copy_from_slice(black_box(src))
        })
    });
}

/// `copy_from_slice` of `x` into a second array, after both were refilled
/// from `x` and `grad` outside the timed region, as a step's arrays are.
fn copy_refilled<A: Float>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    shape: (usize, usize),
    x: &Array2<A>,
    grad: &Array2<A>,
) {
    refilled(g, "copy_refilled", shape, [x, grad], |[a, mut d]| {
        let src = a.as_slice().expect("standard layout");
        d.as_slice_mut()
            .expect("standard layout")
            .copy_from_slice(src);
        [a, d]
    });
}

/// Times `pass` on buffers refilled from `inputs` before each call, outside
/// the timed region. `pass` gets the buffers by value and hands them back.
fn refilled<A: Float, D: Dimension, const N: usize>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    shape: (usize, usize),
    inputs: [&Array<A, D>; N],
    mut pass: impl FnMut([Array<A, D>; N]) -> [Array<A, D>; N],
) {
    let mut bufs = Some(inputs.map(|a| a.clone()));
    g.bench_function(id(name, shape), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let mut arrays = bufs.take().expect("buffers are handed back");
                for (buf, input) in arrays.iter_mut().zip(inputs) {
                    buf.as_slice_mut()
                        .expect("standard layout")
                        .copy_from_slice(input.as_slice().expect("standard layout"));
                }
                let start = Instant::now();
                let out = black_box(pass(black_box(arrays)));
                total += start.elapsed();
                bufs = Some(out);
            }
            total
        })
    });
}

fn forward_owned(c: &mut Criterion) {
    forward_owned_of::<f64>(c, "forward_owned");
    forward_owned_of::<f32>(c, "forward_owned_f32");
}

fn forward_owned_of<A: Float>(c: &mut Criterion, name: &str) {
    for shape in SHAPES {
        let x = random::<A>(shape, 1);
        let mut g = group::<A>(c, name, shape);
        copy(&mut g, &x);
        for (name, mut layer) in family::<A>(shape.1) {
            refilled(&mut g, name, shape, [&x], |[a]| {
                [layer.forward_owned(a).expect("shapes fit")]
            });
        }
        g.finish();
    }
}

fn backward_owned(c: &mut Criterion) {
    backward_owned_of::<f64>(c, "backward_owned");
    backward_owned_of::<f32>(c, "backward_owned_f32");
}

fn backward_owned_of<A: Float>(c: &mut Criterion, name: &str) {
    for shape in SHAPES {
        let x = random::<A>(shape, 1);
        let grad = random::<A>(shape, 2);
        let mut g = group::<A>(c, name, shape);
        copy(&mut g, &grad);
        for (name, mut layer) in family::<A>(shape.1) {
            layer.forward(&x).expect("shapes fit");
            refilled(&mut g, name, shape, [&grad], |[a]| {
                [layer.backward_owned(a).expect("shapes fit")]
            });
        }
        g.finish();
    }
}

/// `forward` and `predict` both make a new array from `&ArrayRef2`.
fn new_array(c: &mut Criterion, op: &str) {
    for shape in SHAPES {
        let x = random::<f64>(shape, 1);
        let mut g = group::<f64>(c, op, shape);
        copy(&mut g, &x);
        g.bench_function(id("alloc_copy", shape), |b| {
            b.iter(|| black_box(&x).to_owned())
        });
        for (name, mut layer) in layers() {
            g.bench_function(id(name, shape), |b| match op {
                "forward" => b.iter(|| layer.forward(black_box(&x)).expect("shapes fit")),
                _ => b.iter(|| layer.predict(black_box(&x)).expect("shapes fit")),
            });
        }
        g.finish();
    }
}

fn forward(c: &mut Criterion) {
    new_array(c, "forward");
}

fn predict(c: &mut Criterion) {
    new_array(c, "predict");
}

/// A training step through one activation: `forward_owned`, then
/// `backward_owned` of an upstream gradient.
fn step(c: &mut Criterion) {
    for shape in SHAPES {
        let x = random::<f64>(shape, 1);
        let grad = random::<f64>(shape, 2);
        let mut g = group::<f64>(c, "step", shape);
        copy(&mut g, &x);
        copy_refilled(&mut g, shape, &x, &grad);
        family_steps(&mut g, shape, &x, &grad);
        // The same step with the activation inside a `Sequential`, which
        // passes the arrays by value.
        for (name, layer) in layers() {
            let mut net = Sequential::new();
            net.push(layer);
            refilled(
                &mut g,
                &format!("seq_{name}"),
                shape,
                [&x, &grad],
                |[a, d]| {
                    let y = net.forward_owned(a).expect("shapes fit");
                    [y, net.backward_owned(d).expect("shapes fit")]
                },
            );
        }
        g.finish();
    }
}

/// [`step`] in `f32`, and ReLU's step on the same data as a 4-D array.
fn step_f32(c: &mut Criterion) {
    for shape in SHAPES {
        let x = random::<f32>(shape, 1);
        let grad = random::<f32>(shape, 2);
        let mut g = group::<f32>(c, "step_f32", shape);
        copy(&mut g, &x);
        copy_refilled(&mut g, shape, &x, &grad);
        family_steps(&mut g, shape, &x, &grad);
        let four = |a: &Array2<f32>| {
            let dim = (shape.0, shape.1 / 16, 4, 4);
            a.clone()
                .into_shape_with_order(dim)
                .expect("16 divides the columns")
        };
        let mut relu = ReluLayer::new();
        refilled(
            &mut g,
            "relu_4d",
            shape,
            [&four(&x), &four(&grad)],
            |[a, d]| {
                let y = relu.forward_owned(a).expect("shapes fit");
                [y, relu.backward_owned(d).expect("shapes fit")]
            },
        );
        g.finish();
    }
}

/// The step of every member of the family.
fn family_steps<A: Float>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    shape: (usize, usize),
    x: &Array2<A>,
    grad: &Array2<A>,
) {
    for (name, mut layer) in family::<A>(shape.1) {
        refilled(g, name, shape, [x, grad], |[a, d]| {
            let y = layer.forward_owned(a).expect("shapes fit");
            [y, layer.backward_owned(d).expect("shapes fit")]
        });
    }
}

/// A training step of a `Sequential` Dense(n → n) + ReLU against the same
/// Dense alone: the difference is what the activation adds to a real step;
/// and against `gemm`, the step's three bare GEMMs (`x·W`, `xᵀ·g`, `g·Wᵀ`)
/// into preallocated arrays.
/// Only the two smaller shapes: beyond them the matrix product is all there
/// is to see.
fn dense_step(c: &mut Criterion) {
    for shape in &SHAPES[..2] {
        let cols = shape.1;
        let x = random::<f64>(*shape, 1);
        let grad = random::<f64>(*shape, 2);
        let weights = random::<f64>((cols, cols), 3) / (cols as f64).sqrt();
        let mut g = group::<f64>(c, "dense_step", *shape);
        copy(&mut g, &x);
        let mut outputs = [*shape, (cols, cols), *shape].map(Array2::zeros);
        g.bench_function(id("gemm", *shape), |b| {
            b.iter(|| {
                let [y, dw, dx] = &mut outputs;
                gemm_into(y, black_box(&x), &weights);
                gemm_into(dw, &x.t(), black_box(&grad));
                gemm_into(dx, black_box(&grad), &weights.t());
            })
        });
        for with_relu in [false, true] {
            let dense =
                DenseLayer::from_parts(weights.clone(), Array1::zeros(cols)).expect("parts fit");
            let mut net = Sequential::new();
            net.push(dense);
            if with_relu {
                net.push(ReluLayer::new());
            }
            let name = if with_relu { "dense_relu" } else { "dense" };
            refilled(&mut g, name, *shape, [&x, &grad], |[a, d]| {
                let y = net.forward_owned(a).expect("shapes fit");
                [y, net.backward_owned(d).expect("shapes fit")]
            });
        }
        g.finish();
    }
}

criterion_group!(
    benches,
    forward_owned,
    backward_owned,
    forward,
    predict,
    step,
    step_f32,
    dense_step
);
criterion_main!(benches);
