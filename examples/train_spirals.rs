//! Dying ReLUs, seen on three interleaved spirals, for every member of the
//! rectifier family that has an inactive side.
//!
//! Five networks, 2 → 64 → 3, start from the same weights, with ReLU, Leaky
//! ReLU (slope 0.01), PReLU (one learned slope per unit, from 0.25), RReLU
//! (slopes drawn from U(1/8, 1/3)) and ReLU6 between their dense layers.
//! All see the same mini-batches and are trained with softmax cross-entropy
//! and plain SGD at a learning rate (4.0) high enough that single steps push
//! hidden units below zero for every point of the set. Such a ReLU unit
//! outputs 0 and passes no gradient back, so nothing ever moves it again: it
//! is dead. A Leaky unit there still passes `0.01·g`, so it can climb back.
//!
//! Every 20 epochs a line shows, for each network, the loss and accuracy on
//! the training set (from `predict`, so RReLU uses its mean slope) and the
//! fraction of hidden units that are *dead*: on the inactive side for all
//! 300 points, from the hidden layer's mask via `ActivityStats` (for ReLU6
//! that includes units saturated at the cap, which pass no gradient
//! either). A summary at the end counts the units that came back.
//!
//! With this seed ReLU loses 62% of its units in the first 20 epochs, none
//! come back and more follow (75% dead at the end, 75% accuracy); 25 of
//! Leaky ReLU's dead units come back (45% at the end, 89% accuracy). RReLU's
//! larger slopes keep almost every unit alive (at most 8% dead) but the noise
//! costs accuracy (57%). ReLU6 ends 70% dead with 79% accuracy. PReLU diverges:
//! its slopes' gradients sum over the batch, and a step of 4.0 on them
//! overshoots within 20 epochs. The NaN shows in the loss instead of being
//! swallowed, and every unit reads as dead, since a NaN input is on PReLU's
//! slope side. Over seeds 1 to 8, ReLU ended with 73–97% of its units dead,
//! Leaky with 28–58%, and Leaky reached the higher accuracy every time.
//!
//! ```text
//! cargo run --release --example train_spirals
//! ```

#[path = "common/spirals.rs"]
mod spirals;

use std::error::Error;

use indicatif::{ProgressBar, ProgressStyle};
use rectify::loss::softmax_cross_entropy;
use rectify::ndarray::{ArrayRef2, Axis};
use rectify::rand::{rngs::StdRng, seq::SliceRandom, SeedableRng};
use rectify::{
    ActivityStats, ClippedRelu, ClippedReluLayer, Layer, LayerError, LeakyRelu, LeakyReluLayer,
    Mask, Member, NonFinite, PRelu, PReluLayer, RRelu, RReluLayer, Rectifier, Relu, ReluLayer,
    Sequential, Sgd,
};
use spirals::{mlp, spirals, CLASSES, HIDDEN};

const EPOCHS: usize = 200;
const REPORT_EVERY: usize = 20;
const BATCH: usize = 30;
const LEARNING_RATE: f64 = 4.0;
const LEAKY_SLOPE: f64 = 0.01;
const SEED: u64 = 5;

/// Reads the hidden activation's mask of the last forward, whichever
/// rectifier it is.
type HiddenMask = fn(&Sequential) -> Option<&Mask>;

/// The mask of the hidden layer, a `Rectifier<M>`.
fn hidden_mask<M: Member + 'static>(net: &Sequential) -> Option<&Mask> {
    net.layer::<Rectifier<M>>(1)?.mask()
}

/// One network in training, and what its hidden units have been through.
struct Run {
    name: &'static str,
    net: Sequential,
    sgd: Sgd,
    hidden_mask: HiddenMask,
    /// Units found dead at some evaluation.
    ever_dead: Vec<bool>,
    /// The largest dead fraction seen.
    peak_dead: f64,
}

/// A network on the whole training set.
struct Stats {
    loss: f64,
    accuracy: f64,
    dead: f64,
    /// Units that were dead at an evaluation and are alive now.
    revived: usize,
}

impl Run {
    fn new(
        name: &'static str,
        net: Sequential,
        hidden_mask: HiddenMask,
    ) -> Result<Self, LayerError> {
        Ok(Run {
            name,
            net,
            // A diverging network (PReLU here) is part of the story: let its
            // NaN reach the weights, as PyTorch would, and report it.
            sgd: Sgd::new(LEARNING_RATE)?.with_non_finite(NonFinite::Write),
            hidden_mask,
            ever_dead: vec![false; HIDDEN],
            peak_dead: 0.0,
        })
    }

    /// One SGD step on a mini-batch.
    fn step(&mut self, x: &ArrayRef2<f64>, labels: &[usize]) -> Result<(), LayerError> {
        let logits = self.net.forward(x)?;
        let (_, grad) = softmax_cross_entropy(&logits, labels)?;
        self.net.backward_owned(grad)?;
        self.sgd.step(&mut self.net)
    }

    /// Loss and accuracy over the whole set from `predict` (RReLU with its
    /// mean slope), and dead units from the mask of a training `forward`
    /// (`predict` keeps none) with no backward after it.
    fn evaluate(&mut self, x: &ArrayRef2<f64>, labels: &[usize]) -> Result<Stats, Box<dyn Error>> {
        self.net.forward(x)?;
        let logits = self.net.predict(x)?;
        let (loss, _) = softmax_cross_entropy(&logits, labels)?;
        let correct = logits
            .axis_iter(Axis(0))
            .zip(labels)
            .filter(|(row, &label)| argmax(row.iter()) == label)
            .count();

        let mut activity = ActivityStats::new(HIDDEN);
        let mask = (self.hidden_mask)(&self.net).ok_or("the hidden layer has no mask")?;
        activity.record(mask)?;
        let dead = activity.dead_units();
        for &unit in &dead {
            self.ever_dead[unit] = true;
        }
        let ever_dead = self.ever_dead.iter().filter(|&&d| d).count();
        self.peak_dead = self.peak_dead.max(activity.dead_fraction());
        Ok(Stats {
            loss,
            accuracy: correct as f64 / labels.len() as f64,
            dead: activity.dead_fraction(),
            revived: ever_dead - dead.len(),
        })
    }
}

/// The index of the largest value (the first, on ties).
fn argmax<'a>(values: impl Iterator<Item = &'a f64>) -> usize {
    let mut best = (0, f64::NEG_INFINITY);
    for (i, &v) in values.enumerate() {
        if v > best.1 {
            best = (i, v);
        }
    }
    best.0
}

/// The epoch, then `loss acc dead` for each run, side by side.
fn line(epoch: usize, stats: &[Stats]) -> String {
    let cells: Vec<_> = stats
        .iter()
        .map(|s| {
            let (accuracy, dead) = (100.0 * s.accuracy, 100.0 * s.dead);
            format!("{:>6.3} {accuracy:>4.0}% {dead:>4.0}%", s.loss)
        })
        .collect();
    format!("{epoch:>5}  {}", cells.join("    "))
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut rng = StdRng::seed_from_u64(SEED);
    let (x, labels) = spirals(&mut rng)?;
    let mut runs = [
        Run::new("ReLU", mlp(ReluLayer::new(), SEED), hidden_mask::<Relu>)?,
        Run::new(
            "Leaky",
            mlp(LeakyReluLayer::new(LEAKY_SLOPE)?, SEED),
            hidden_mask::<LeakyRelu>,
        )?,
        Run::new(
            "PReLU",
            mlp(PReluLayer::new(HIDDEN, 0.25)?, SEED),
            hidden_mask::<PRelu>,
        )?,
        Run::new(
            "RReLU",
            mlp(RReluLayer::default().with_seed(SEED), SEED),
            hidden_mask::<RRelu>,
        )?,
        Run::new(
            "ReLU6",
            mlp(ClippedReluLayer::relu6(), SEED),
            hidden_mask::<ClippedRelu>,
        )?,
    ];
    println!(
        "{} points on {CLASSES} spirals; 2 → {HIDDEN} → {CLASSES} MLPs from the same init; \
         SGD on batches of {BATCH}, learning rate {LEARNING_RATE}",
        x.nrows()
    );
    println!(
        "dead: hidden units inactive on all {} points (ReLU and ReLU6 pass them no \
         gradient, Leaky ReLU passes {LEAKY_SLOPE}·g, PReLU a·g with a learned per \
         unit from 0.25, RReLU r·g with r drawn from U(1/8, 1/3))\n",
        x.nrows()
    );
    let names: Vec<_> = runs.iter().map(|r| format!("{:<17}", r.name)).collect();
    println!("       {}", names.join("    "));
    println!("epoch{}", "    loss   acc  dead".repeat(runs.len()));

    // Draws to stderr, and not at all when that is not a terminal.
    let style = ProgressStyle::with_template("{bar:40} {pos}/{len} epochs, {elapsed}")?;
    let bar = ProgressBar::new(EPOCHS as u64).with_style(style);
    let mut stats = evaluate(&mut runs, &x, &labels)?;
    println!("{}", line(0, &stats));
    let mut order: Vec<usize> = (0..x.nrows()).collect();
    for epoch in 1..=EPOCHS {
        // Both networks see the same batches in the same order.
        order.shuffle(&mut rng);
        for batch in order.chunks(BATCH) {
            let x = x.select(Axis(0), batch);
            let labels: Vec<usize> = batch.iter().map(|&i| labels[i]).collect();
            for run in &mut runs {
                run.step(&x, &labels)?;
            }
        }
        stats = evaluate(&mut runs, &x, &labels)?;
        if epoch % REPORT_EVERY == 0 {
            bar.suspend(|| println!("{}", line(epoch, &stats)));
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    summary(&runs, &stats);
    Ok(())
}

/// Every run's [`Run::evaluate`].
fn evaluate(
    runs: &mut [Run],
    x: &ArrayRef2<f64>,
    labels: &[usize],
) -> Result<Vec<Stats>, Box<dyn Error>> {
    runs.iter_mut().map(|run| run.evaluate(x, labels)).collect()
}

/// Where each network ended, and how many of its units came back.
fn summary(runs: &[Run], last: &[Stats]) {
    println!();
    for (run, stats) in runs.iter().zip(last) {
        println!(
            "{:<5} accuracy {:>5.1}%, loss {:.3}; dead units: peak {:>3.0}%, final {:>3.0}%, \
             {} of those found dead came back",
            run.name,
            100.0 * stats.accuracy,
            stats.loss,
            100.0 * run.peak_dead,
            100.0 * stats.dead,
            stats.revived
        );
    }
}
