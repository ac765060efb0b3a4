//! The MLPs the benches train, and their random data.

use ndarray_rand::rand::{rngs::StdRng, SeedableRng};
use ndarray_rand::rand_distr::Uniform;
use ndarray_rand::RandomExt;
use rectify::ndarray::Array2;
use rectify::{DenseLayer, Float, ReluLayer, Sequential};

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
