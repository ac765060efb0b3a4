//! Three interleaved spirals, and the 2 → 64 → 3 network that learns them:
//! shared by `examples/train_spirals.rs` and `figures/examples/figures.rs`.

use std::error::Error;
use std::f64::consts::TAU;

use ndarray_rand::rand_distr::{Distribution, Normal};
use rectify::ndarray::Array2;
use rectify::rand::{rngs::StdRng, SeedableRng};
use rectify::{DenseLayer, Layer, Sequential};

/// The spiral arms, one class each.
pub const CLASSES: usize = 3;
/// Points on each arm.
pub const POINTS_PER_CLASS: usize = 100;
/// Hidden units of [`mlp`].
pub const HIDDEN: usize = 64;

/// `CLASSES` spiral arms of `POINTS_PER_CLASS` points each in the unit
/// disc, with Gaussian noise on the angle; the label is the arm.
pub fn spirals(rng: &mut StdRng) -> Result<(Array2<f64>, Vec<usize>), Box<dyn Error>> {
    let noise = Normal::new(0.0, 0.2)?;
    let n = CLASSES * POINTS_PER_CLASS;
    let mut x = Array2::zeros((n, 2));
    let mut labels = Vec::with_capacity(n);
    for (i, mut point) in x.rows_mut().into_iter().enumerate() {
        let (class, step) = (i / POINTS_PER_CLASS, i % POINTS_PER_CLASS);
        let radius = step as f64 / (POINTS_PER_CLASS - 1) as f64;
        let angle = class as f64 * TAU / CLASSES as f64 + 4.0 * radius + noise.sample(rng);
        point[0] = radius * angle.sin();
        point[1] = radius * angle.cos();
        labels.push(class);
    }
    Ok((x, labels))
}

/// Dense(2 → HIDDEN) → `activation` → Dense(HIDDEN → CLASSES), initialised
/// from `seed`: the same seed gives the same weights whatever the activation.
pub fn mlp(activation: impl Layer + 'static, seed: u64) -> Sequential {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut net = Sequential::new();
    net.push(DenseLayer::new(2, HIDDEN, &mut rng))
        .push(activation)
        .push(DenseLayer::new(HIDDEN, CLASSES, &mut rng));
    net
}
