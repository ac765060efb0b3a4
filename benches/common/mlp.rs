//! The MLPs the benches train, and their random data.

use std::hint::black_box;

use gemm::Parallelism;
use ndarray_rand::rand::{rngs::StdRng, SeedableRng};
use ndarray_rand::rand_distr::Uniform;
use ndarray_rand::RandomExt;
use rectify::ndarray::Array2;
use rectify::{DenseLayer, Float, ReluLayer, Sequential};

use super::gemm::gemm_par_into;

/// (name, layer widths, batch), as in `examples/mlp_step.rs`.
pub const MLPS: [(&str, [usize; 4], usize); 3] = [
    ("784-256-256-10_b128", [784, 256, 256, 10], 128),
    ("784-1024-1024-10_b256", [784, 1024, 1024, 10], 256),
    ("64-64-64-10_b32", [64, 64, 64, 10], 32),
];

/// An array of `shape` drawn from U(-1, 1) with `seed`.
pub fn random<A: Float>(shape: (usize, usize), seed: u64) -> Array2<A> {
    let uniform = Uniform::new(-1.0, 1.0).expect("valid range");
    let x = Array2::random_using(shape, uniform, &mut StdRng::seed_from_u64(seed));
    x.mapv(|v: f64| A::from(v).expect("in range"))
}

/// The MLP of `widths`: Dense and ReLU, the last Dense without.
pub fn mlp<A: Float>(widths: [usize; 4]) -> Sequential<A> {
    let mut rng = StdRng::seed_from_u64(7);
    let mut net = Sequential::new();
    for (i, pair) in widths.windows(2).enumerate() {
        net.push(DenseLayer::new(pair[0], pair[1], &mut rng));
        if i + 2 < widths.len() {
            net.push(ReluLayer::new());
        }
    }
    net
}

/// The multiply-adds from which rectify runs a product on several threads
/// (`PARALLEL_MIN_WORK` in `src/matmul.rs`).
const PARALLEL_MIN_WORK: usize = 1 << 23;

/// One layer's bare products: weights, input, upstream gradient, the
/// outputs `[x·W, xᵀ·g, g·Wᵀ]`, and the threads `gemm` may use.
type LayerProducts<A> = (Array2<A>, Array2<A>, Array2<A>, [Array2<A>; 3], Parallelism);

/// The eight bare products of a training step of an MLP (each layer's
/// `x·W` and `xᵀ·g`, and `g·Wᵀ` for every layer but the first), on arrays
/// of the step's shapes, called as rectify calls `gemm`: with `threads`
/// threads from 2²³ multiply-adds on, otherwise on one.
pub struct Products<A>(Vec<LayerProducts<A>>);

impl<A: Float> Products<A> {
    pub fn new(widths: [usize; 4], batch: usize, threads: usize) -> Self {
        let layers = widths.windows(2).enumerate().map(|(i, p)| {
            let w = random::<A>((p[0], p[1]), 21 + i as u64);
            let (input, grad) = (random((batch, p[0]), 2), random((batch, p[1]), 3));
            let outputs = [
                Array2::zeros((batch, p[1])),
                Array2::zeros((p[0], p[1])),
                Array2::zeros((batch, p[0])),
            ];
            let par = if threads > 1 && batch * p[0] * p[1] >= PARALLEL_MIN_WORK {
                Parallelism::Rayon(threads)
            } else {
                Parallelism::None
            };
            (w, input, grad, outputs, par)
        });
        Products(layers.collect())
    }

    /// Runs the eight products once.
    pub fn run(&mut self) {
        for (i, (w, input, grad, [y, dw, dx], par)) in self.0.iter_mut().enumerate() {
            gemm_par_into(y, black_box(&*input), w, *par);
            gemm_par_into(dw, &input.t(), black_box(&*grad), *par);
            if i > 0 {
                gemm_par_into(dx, black_box(&*grad), &w.t(), *par);
            }
        }
    }
}
