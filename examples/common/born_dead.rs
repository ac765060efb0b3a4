//! Monte Carlo estimates of the probability that a freshly initialised,
//! deep and narrow ReLU network is *born dead* at an input: some hidden
//! layer has no active unit there, so the output is constant near that
//! input and no gradient reaches the layers below. Shared by
//! `examples/born_dead.rs` and `tests/born_dead.rs`.

use rectify::ndarray::{ArrayView1, Axis};
use rectify::rand::{rngs::StdRng, SeedableRng};
use rectify::{DenseLayer, Init, Layer, LayerError, ReluLayer};

/// How many of `trials` networks were dead by each depth.
pub struct Estimate {
    /// `dead[k - 1]`: the trials whose first `k` hidden layers include one
    /// with no active unit.
    dead: Vec<u64>,
    trials: u64,
}

impl Estimate {
    /// The estimated probability that a network of `depth` hidden layers
    /// is born dead.
    pub fn probability(&self, depth: usize) -> f64 {
        self.dead[depth - 1] as f64 / self.trials as f64
    }

    /// The standard error of [`probability`](Self::probability),
    /// `√(p(1 − p)/trials)`.
    pub fn standard_error(&self, depth: usize) -> f64 {
        let p = self.probability(depth);
        (p * (1.0 - p) / self.trials as f64).sqrt()
    }
}

/// The probability that a ReLU network of `depth` hidden layers of `width`
/// units with symmetric weights and zero biases (He's initialization) is
/// born dead at a nonzero input: each layer, given a nonzero input, has all
/// its units inactive with probability 2⁻ʷⁱᵈᵗʰ, so 1 − (1 − 2⁻ʷⁱᵈᵗʰ)ᵈᵉᵖᵗʰ.
pub fn formula(width: usize, depth: usize) -> f64 {
    let all_off = 0.5_f64.powi(width as i32);
    1.0 - (1.0 - all_off).powi(depth as i32)
}

/// Draws `trials` networks of `max_depth` hidden layers `width → width`
/// with `init`, from one generator seeded with `seed`, and runs `input` (of `width`
/// values) through each: a network counts as dead by depth `k` if one of
/// its first `k` ReLU layers has an all-inactive mask. The first `k`
/// layers of a deeper network are a network of depth `k`, so one pass
/// serves every depth.
pub fn estimate(
    width: usize,
    max_depth: usize,
    init: Init,
    input: ArrayView1<'_, f64>,
    trials: u64,
    seed: u64,
) -> Result<Estimate, LayerError> {
    let mut dead = vec![0; max_depth];
    let mut relu = ReluLayer::new();
    let mut rng = StdRng::seed_from_u64(seed);
    for _ in 0..trials {
        let mut h = input.insert_axis(Axis(0)).to_owned();
        for depth in 1..=max_depth {
            let dense = DenseLayer::with_init(width, width, init, &mut rng);
            h = relu.forward_owned(dense.predict(&h)?)?;
            let active = relu.mask().map_or(0, |mask| mask.count_active());
            if active == 0 {
                dead[depth - 1..].iter_mut().for_each(|d| *d += 1);
                break;
            }
        }
    }
    Ok(Estimate { dead, trials })
}
