//! Real data: the UCI optical digits (1797 8x8 images, scikit-learn's copy,
//! CC BY 4.0, see `examples/data/LICENSE-digits.md`), classified by
//! Dense(64 → 128) → activation → Dense(128 → 10) networks, for ReLU, Leaky
//! ReLU, PReLU, RReLU and ReLU6.
//!
//! Every network starts from the same He-normal weights and sees the same
//! mini-batches: a fixed, seeded split holds out 360 test images and trains
//! on the other 1437. Each activation is trained twice, with SGD (momentum
//! 0.9) and with Adam, on softmax cross-entropy. Each epoch prints the loss
//! and accuracy on the training set and the fraction of hidden units that
//! are dead on it (pre-activation never above 0, by `ActivityStats`); the
//! end prints each network's test accuracy and wall time. Every network is
//! trained twice more in `f32` (PyTorch's default element type) from the
//! same weights rounded to `f32`.
//!
//! ```text
//! cargo run --release --example train_digits
//! ```

#[path = "common/digits.rs"]
mod digits;

use std::error::Error;
use std::time::{Duration, Instant};

use digits::{evaluate, mlp, train_epoch, Digits};
use indicatif::{ProgressBar, ProgressStyle};
use rectify::ndarray::ArrayRef2;
use rectify::rand::{rngs::StdRng, SeedableRng};
use rectify::{
    Adam, ClippedReluLayer, Float, Layer, LayerError, LeakyReluLayer, Optimizer, PReluLayer,
    RReluLayer, ReluLayer, Sgd,
};

const HIDDEN: usize = 128;
const TEST: usize = 360;
const EPOCHS: usize = 40;
const BATCH: usize = 32;
const SEED: u64 = 1797;

/// A hidden activation: its name and how to make one.
type Activation<A> = (&'static str, fn() -> Result<Box<dyn Layer<A>>, LayerError>);
/// An optimizer: its name and how to make one.
type Choice<A> = (
    &'static str,
    fn() -> Result<Box<dyn Optimizer<A>>, LayerError>,
);

/// The activations compared, one line each.
fn activations<A: Float>() -> Vec<Activation<A>> {
    vec![
        ("ReLU", || Ok(Box::new(ReluLayer::new()))),
        ("Leaky ReLU 0.01", || {
            Ok(Box::new(LeakyReluLayer::new(0.01)?))
        }),
        ("PReLU (per unit, 0.25)", || {
            Ok(Box::new(PReluLayer::new(HIDDEN, 0.25)?))
        }),
        ("RReLU (1/8, 1/3)", || {
            Ok(Box::new(RReluLayer::default().with_seed(SEED)))
        }),
        ("ReLU6", || Ok(Box::new(ClippedReluLayer::relu6()))),
    ]
}

/// The optimizers each activation is trained with.
fn optimizers<A: Float>() -> Vec<Choice<A>> {
    vec![
        ("SGD lr 0.05, momentum 0.9", || {
            Ok(Box::new(Sgd::new(0.05)?.with_momentum(0.9)?))
        }),
        ("Adam lr 0.003", || Ok(Box::new(Adam::new(3e-3)?))),
    ]
}

/// Where one network ended.
struct Outcome {
    name: String,
    test_accuracy: f64,
    dead: f64,
    time: Duration,
}

fn main() -> Result<(), Box<dyn Error>> {
    let (train, test) = Digits::load()?.split(TEST, SEED);
    println!(
        "UCI optical digits: {} training and {} test images; 64 → {HIDDEN} → 10 MLPs from the \
         same weights, mini-batches of {BATCH}, {EPOCHS} epochs, in f64 and in f32",
        train.labels.len(),
        test.labels.len()
    );
    let runs = 2 * activations::<f64>().len() * optimizers::<f64>().len();
    // Draws to stderr, and not at all when that is not a terminal.
    let style = ProgressStyle::with_template("{bar:40} {pos}/{len} epochs, {elapsed}")?;
    let bar = ProgressBar::new((runs * EPOCHS) as u64).with_style(style);
    let mut outcomes = run(train.samples(), test.samples(), &bar)?;
    let (train_f32, test_f32) = (train.x.mapv(|p| p as f32), test.x.mapv(|p| p as f32));
    outcomes.extend(run(
        (&train_f32, &train.labels),
        (&test_f32, &test.labels),
        &bar,
    )?);
    bar.finish_and_clear();
    let width = outcomes
        .iter()
        .map(|o| o.name.chars().count())
        .max()
        .unwrap_or(0);
    println!("\n{:<width$}  test acc  dead (train)  wall time", "network");
    for o in &outcomes {
        println!(
            "{:<width$}  {:>7.2}%  {:>11.1}%  {:>7.2} s",
            o.name,
            100.0 * o.test_accuracy,
            100.0 * o.dead,
            o.time.as_secs_f64()
        );
    }
    Ok(())
}

/// Trains every activation with every optimizer in `A`, on the `train`
/// samples, and evaluates each on the `test` samples.
fn run<A: Float>(
    train: (&ArrayRef2<A>, &[usize]),
    test: (&ArrayRef2<A>, &[usize]),
    bar: &ProgressBar,
) -> Result<Vec<Outcome>, Box<dyn Error>> {
    let mut outcomes = Vec::new();
    for (activation_name, activation) in activations::<A>() {
        for (optimizer_name, optimizer) in optimizers::<A>() {
            let name = format!("{activation_name}, {optimizer_name}, {}", A::NAME);
            bar.suspend(|| println!("\n{name}\nepoch   loss  train acc  dead"));
            let start = Instant::now();
            let mut net = mlp(HIDDEN, activation()?, SEED);
            let mut optimizer = optimizer()?;
            let mut rng = StdRng::seed_from_u64(SEED);
            let mut dead = 0.0;
            for epoch in 1..=EPOCHS {
                train_epoch(&mut net, optimizer.as_mut(), train, BATCH, &mut rng)?;
                let e = evaluate(&net, train)?;
                bar.suspend(|| {
                    println!(
                        "{epoch:>5}  {:.4}    {:>5.1}%  {:>4.1}%",
                        e.loss,
                        100.0 * e.accuracy,
                        100.0 * e.dead
                    )
                });
                bar.inc(1);
                dead = e.dead;
            }
            outcomes.push(Outcome {
                name,
                test_accuracy: evaluate(&net, test)?.accuracy,
                dead,
                time: start.elapsed(),
            });
        }
    }
    Ok(outcomes)
}
