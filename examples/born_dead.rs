//! Born dead: how likely a freshly initialised deep, narrow ReLU network
//! is dead at an input before any training.
//!
//! A network of `k` hidden layers of `n` units (every layer `n → n`, fed
//! a fixed input of `n` values) is *dead* at that input if some hidden
//! layer has no active unit there: everything above it sees a constant,
//! and no gradient flows below it. With symmetric weights and zero biases
//! (He's initialization) each layer is all-inactive with probability 2⁻ⁿ
//! whatever its nonzero input, so the network is dead with probability
//! 1 − (1 − 2⁻ⁿ)ᵏ, which tends to 1 with depth (Lu, Shin, Su and
//! Karniadakis 2020). Their randomized asymmetric initialization (RAI,
//! `Init::Rai`) draws biases too and puts one positive Beta(2, 1) entry in
//! each unit's row, which makes dead layers much rarer. Unlike He's, its
//! probability depends on the input: the table shows two, all ones and
//! the first unit vector e₁.
//!
//! Each cell is a Monte Carlo estimate ± its standard error, from networks
//! built from the crate's `DenseLayer::with_init` and `ReluLayer`, a layer
//! counting as dead when its mask has no active unit; `z` is (He −
//! formula) / standard error.
//!
//! ```text
//! cargo run --release --example born_dead
//! ```

#[path = "common/born_dead.rs"]
mod born_dead;

use std::error::Error;
use std::time::Instant;

use born_dead::{estimate, formula, Estimate};
use rectify::ndarray::Array1;
use rectify::Init;

const WIDTHS: [usize; 4] = [2, 3, 4, 5];
const DEPTHS: [usize; 7] = [1, 2, 3, 5, 10, 15, 20];
const TRIALS: u64 = 20_000;
/// The paper's arXiv number.
const SEED: u64 = 1903_06733;

/// `p ± se` at `depth`.
fn cell(estimate: &Estimate, depth: usize) -> String {
    let (p, se) = (estimate.probability(depth), estimate.standard_error(depth));
    format!("{p:.4} ± {se:.4}")
}

fn main() -> Result<(), Box<dyn Error>> {
    let start = Instant::now();
    let max_depth = DEPTHS[DEPTHS.len() - 1];
    println!(
        "P(born dead) of ReLU nets, n units in each of k hidden layers; {TRIALS} networks per \
         column and width, every depth from the same networks\n"
    );
    println!(" n   k  1−(1−2⁻ⁿ)ᵏ   He, x = 1          z     RAI, x = 1         RAI, x = e₁");
    for (i, &width) in WIDTHS.iter().enumerate() {
        let ones = Array1::ones(width);
        let mut e1 = Array1::zeros(width);
        e1[0] = 1.0;
        let seed = SEED + 3 * i as u64;
        let he = estimate(width, max_depth, Init::HeNormal, ones.view(), TRIALS, seed)?;
        let rai = estimate(width, max_depth, Init::Rai, ones.view(), TRIALS, seed + 1)?;
        let rai_e1 = estimate(width, max_depth, Init::Rai, e1.view(), TRIALS, seed + 2)?;
        for depth in DEPTHS {
            let exact = formula(width, depth);
            let z =
                (he.probability(depth) - exact) / he.standard_error(depth).max(f64::MIN_POSITIVE);
            println!(
                "{width:>2} {depth:>3}  {exact:>10.4}   {}  {z:>+5.1}   {}   {}",
                cell(&he, depth),
                cell(&rai, depth),
                cell(&rai_e1, depth)
            );
        }
        println!();
    }
    println!("{:.1} s", start.elapsed().as_secs_f64());
    Ok(())
}
