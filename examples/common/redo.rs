//! ReDo on the spirals: plain ReLU, Leaky ReLU and ReLU with ReDo, trained
//! side by side at a learning rate that kills ReLU units. Shared by
//! `examples/redo.rs` and `tests/redo.rs`, and meant for the figures.

#[path = "spirals.rs"]
pub mod spirals;

use std::error::Error;

use rectify::loss::softmax_cross_entropy;
use rectify::ndarray::{Array2, ArrayRef2, Axis};
use rectify::rand::{rngs::StdRng, seq::SliceRandom, SeedableRng};
use rectify::{ActivityStats, DenseLayer, Layer, LeakyReluLayer, Redo, ReluLayer, Sequential, Sgd};

pub use spirals::{CLASSES, HIDDEN};

/// One training setup for the three networks.
#[derive(Debug, Clone, Copy)]
pub struct Setup {
    /// Seeds the data, the shared initial weights, the batches and ReDo's
    /// draws.
    pub seed: u64,
    pub epochs: usize,
    /// Points per SGD step (the spirals have 300).
    pub batch: usize,
    /// Plain SGD's learning rate.
    pub learning_rate: f64,
    pub leaky_slope: f64,
    /// ReDo runs before every step that follows a multiple of this many
    /// steps, scoring the whole training set.
    pub redo_every: usize,
    /// ReDo's threshold τ.
    pub tau: f64,
    /// Epochs between checkpoints (epoch 0 is one).
    pub report_every: usize,
}

impl Setup {
    /// `examples/redo.rs`'s setup: `train_spirals`'s data, network and
    /// learning rate.
    pub const EXAMPLE: Setup = Setup {
        seed: 5,
        epochs: 200,
        batch: 30,
        learning_rate: 4.0,
        leaky_slope: 0.01,
        redo_every: 100,
        tau: 0.0,
        report_every: 10,
    };
}

/// One network's training, at each checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: &'static str,
    /// The checkpoints' epochs, 0 first.
    pub epochs: Vec<usize>,
    /// The fraction of hidden units dead on the whole training set: their
    /// pre-activation is not above 0 for any point (the definition of
    /// `examples/common/digits.rs`, the same for every activation). Taken
    /// at the end of the epoch, before the recycling due then (if any), so
    /// ReDo's is the worst of its cycle there.
    pub dead: Vec<f64>,
    /// The training-set accuracy, from `predict`.
    pub accuracy: Vec<f64>,
    /// Units recycled over the whole run (0 without ReDo).
    pub recycled: usize,
}

impl Series {
    /// The accuracy at the last checkpoint.
    pub fn final_accuracy(&self) -> f64 {
        *self.accuracy.last().expect("epoch 0 is a checkpoint")
    }

    /// The dead fraction at the last checkpoint.
    pub fn final_dead(&self) -> f64 {
        *self.dead.last().expect("epoch 0 is a checkpoint")
    }

    /// The mean accuracy over the last `n` checkpoints: at this learning
    /// rate, the accuracy swings from one checkpoint to the next.
    pub fn mean_accuracy(&self, n: usize) -> f64 {
        let last = &self.accuracy[self.accuracy.len().saturating_sub(n)..];
        last.iter().sum::<f64>() / last.len() as f64
    }

    /// The largest dead fraction at a checkpoint.
    pub fn peak_dead(&self) -> f64 {
        self.dead.iter().copied().fold(0.0, f64::max)
    }
}

/// A network in training.
struct Run {
    net: Sequential,
    sgd: Sgd,
    redo: Option<Redo>,
    series: Series,
}

impl Run {
    fn new(
        name: &'static str,
        activation: impl Layer + 'static,
        redo: Option<Redo>,
        setup: &Setup,
    ) -> Result<Self, Box<dyn Error>> {
        Ok(Run {
            net: spirals::mlp(activation, setup.seed),
            sgd: Sgd::new(setup.learning_rate)?,
            redo,
            series: Series {
                name,
                epochs: Vec::new(),
                dead: Vec::new(),
                accuracy: Vec::new(),
                recycled: 0,
            },
        })
    }

    /// Records epoch `epoch` on the training set.
    fn checkpoint(
        &mut self,
        epoch: usize,
        (x, labels): (&ArrayRef2<f64>, &[usize]),
    ) -> Result<(), Box<dyn Error>> {
        let logits = self.net.predict(x)?;
        let correct = (logits.axis_iter(Axis(0)).zip(labels))
            .filter(|(row, &label)| argmax(row.iter()) == label)
            .count();
        let hidden: &DenseLayer = self.net.layer(0).ok_or("layer 0 is a DenseLayer")?;
        let mut probe = ReluLayer::new();
        probe.forward_owned(hidden.predict(x)?)?;
        let mut activity = ActivityStats::new(HIDDEN);
        activity.record(probe.mask().ok_or("the probe ran")?)?;
        self.series.epochs.push(epoch);
        self.series.dead.push(activity.dead_fraction());
        (self.series.accuracy).push(correct as f64 / labels.len() as f64);
        Ok(())
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

/// Trains plain ReLU, Leaky ReLU and ReLU with ReDo from the same weights
/// on the same batches, and returns their series, in that order.
pub fn train(setup: &Setup) -> Result<Vec<Series>, Box<dyn Error>> {
    let mut rng = StdRng::seed_from_u64(setup.seed);
    let (x, labels) = spirals::spirals(&mut rng)?;
    let mut redo_rng = StdRng::seed_from_u64(setup.seed ^ 0x5eed_4ed0);
    let mut runs = [
        Run::new("ReLU", ReluLayer::new(), None, setup)?,
        Run::new(
            "Leaky ReLU",
            LeakyReluLayer::new(setup.leaky_slope)?,
            None,
            setup,
        )?,
        Run::new(
            "ReLU + ReDo",
            ReluLayer::new(),
            Some(Redo::new(setup.tau)?),
            setup,
        )?,
    ];
    for run in &mut runs {
        run.checkpoint(0, (&x, &labels))?;
    }
    let mut order: Vec<usize> = (0..x.nrows()).collect();
    let mut steps = 0;
    for epoch in 1..=setup.epochs {
        order.shuffle(&mut rng);
        for rows in order.chunks(setup.batch) {
            let batch: Array2<f64> = x.select(Axis(0), rows);
            let batch_labels: Vec<usize> = rows.iter().map(|&i| labels[i]).collect();
            let due = steps > 0 && steps % setup.redo_every == 0;
            for run in &mut runs {
                if let (Some(redo), true) = (run.redo, due) {
                    let report = redo.recycle(&mut run.net, &mut run.sgd, &x, &mut redo_rng)?;
                    run.series.recycled += report.len();
                }
                let logits = run.net.forward(&batch)?;
                let (_, grad) = softmax_cross_entropy(&logits, &batch_labels)?;
                run.net.backward_owned(grad)?;
                run.sgd.step(&mut run.net)?;
            }
            steps += 1;
        }
        if epoch % setup.report_every == 0 || epoch == setup.epochs {
            for run in &mut runs {
                run.checkpoint(epoch, (&x, &labels))?;
            }
        }
    }
    Ok(runs.into_iter().map(|run| run.series).collect())
}
