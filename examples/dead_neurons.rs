//! Dead ReLU units, and what Leaky ReLU changes, in exact numbers.
//!
//! A Dense(2→8) → activation → Dense(8→1) network fits
//! `y = 2·max(0, x₁) + 2·max(0, −x₂)` on 200 random points. Two copies start
//! from the same weights, one with ReLU and one with Leaky ReLU (slope 0.01),
//! and some hidden units are killed by a bias of −3: their pre-activation is
//! negative on every sample.
//!
//! 1. Three dead units among five live ones. Under ReLU a dead unit's
//!    incoming weights and bias get a gradient of exactly zero, so training
//!    never changes them by a single bit. Under Leaky ReLU they get the
//!    gradient scaled by the slope and keep moving, but slowly: the live units
//!    fit the data long before anything pulls the dead ones back above zero.
//!    (A unit can also die during training, as unit 3 does here under ReLU.)
//! 2. The whole hidden layer dead. ReLU can only learn its output bias, so the
//!    loss stops at the variance of `y`. Leaky ReLU's layer learns through the
//!    leak: the loss falls to a sixth of ReLU's and a unit comes back to life,
//!    active on most samples.
//!
//! Run with `cargo run --release --example dead_neurons`.

use std::error::Error;

use rectify::loss::mse;
use rectify::ndarray::{Array1, Array2, Axis};
use rectify::rand::{rngs::StdRng, Rng, SeedableRng};
use rectify::{
    ActivityStats, DenseLayer, Layer, LayerError, LeakyReluLayer, Mask, ReluLayer, Sequential, Sgd,
};

const SAMPLES: usize = 200;
const HIDDEN: usize = 8;
const DEAD_BIAS: f64 = -3.0;
const SLOPE: f64 = 0.01;
const STEPS: usize = 800;
const LEARNING_RATE: f64 = 0.3;

fn main() -> Result<(), Box<dyn Error>> {
    let mut rng = StdRng::seed_from_u64(0);
    let x = Array2::<f64>::from_shape_simple_fn((SAMPLES, 2), || rng.random_range(-1.0..1.0));
    let y = x
        .map_axis(Axis(1), |p| 2.0 * p[0].max(0.0) + 2.0 * (-p[1]).max(0.0))
        .insert_axis(Axis(1));
    let first = DenseLayer::new(2, HIDDEN, &mut rng);
    let second = DenseLayer::new(HIDDEN, 1, &mut rng);

    println!("Dense(2→{HIDDEN}) → ReLU or Leaky ReLU (slope {SLOPE}) → Dense({HIDDEN}→1)");
    println!("fits y = 2·max(0, x₁) + 2·max(0, −x₂) on {SAMPLES} points by full-batch SGD");
    println!("(learning rate {LEARNING_RATE}); both nets start from the same weights.");

    println!("\n1. Units 1, 4 and 6 dead (bias {DEAD_BIAS})\n");
    let [relu, leaky] = networks(&first, &second, &[1, 4, 6])?;
    a_few_dead_units(relu, leaky, &x, &y)?;

    println!("\n2. The whole hidden layer dead (all {HIDDEN} biases {DEAD_BIAS})\n");
    let all: Vec<usize> = (0..HIDDEN).collect();
    let [relu, leaky] = networks(&first, &second, &all)?;
    a_dead_layer(relu, leaky, &x, &y)?;
    Ok(())
}

/// Prints the gradient each hidden unit gets, trains both networks and
/// prints how far each unit moved.
fn a_few_dead_units(
    mut relu: Sequential,
    mut leaky: Sequential,
    x: &Array2<f64>,
    y: &Array2<f64>,
) -> Result<(), LayerError> {
    backprop(&mut relu, x, y)?;
    backprop(&mut leaky, x, y)?;
    let active = activity(&relu)?;
    let (relu_w, relu_b) = unit_gradients(&relu);
    let (leaky_w, leaky_b) = unit_gradients(&leaky);
    println!("Before training: activity, and the gradient reaching each unit's incoming");
    println!("weights (norm) and bias");
    println!("                     ReLU                 Leaky ReLU");
    println!("unit  active   ‖grad w‖   |grad b|    ‖grad w‖   |grad b|");
    for unit in 0..HIDDEN {
        println!(
            "{unit:>4}  {:>6}  {:>9}  {:>9}   {:>9}  {:>9}",
            percent(&active, unit),
            sci(relu_w[unit]),
            sci(relu_b[unit]),
            sci(leaky_w[unit]),
            sci(leaky_b[unit]),
        );
    }

    let (relu_start, leaky_start) = (hidden(&relu).clone(), hidden(&leaky).clone());
    let relu_loss = train(&mut relu, x, y)?;
    let leaky_loss = train(&mut leaky, x, y)?;
    let (relu_active, leaky_active) = (activity(&relu)?, activity(&leaky)?);
    println!("\nAfter {STEPS} steps: activity, and the largest change in each unit's");
    println!("incoming weights and bias");
    println!("            ReLU                        Leaky ReLU");
    println!("unit  active  change               active  change");
    for unit in 0..HIDDEN {
        println!(
            "{unit:>4}  {:>6}  {:<19}  {:>6}  {}",
            percent(&relu_active, unit),
            change(&relu_start, hidden(&relu), unit),
            percent(&leaky_active, unit),
            change(&leaky_start, hidden(&leaky), unit),
        );
    }
    println!(
        "Dead units: ReLU {:?}, Leaky ReLU {:?}",
        relu_active.dead_units(),
        leaky_active.dead_units()
    );
    println!(
        "Final loss: ReLU {}, Leaky ReLU {}",
        sci(relu_loss),
        sci(leaky_loss)
    );
    Ok(())
}

/// Trains both networks, every hidden unit dead, and prints what came of it.
fn a_dead_layer(
    mut relu: Sequential,
    mut leaky: Sequential,
    x: &Array2<f64>,
    y: &Array2<f64>,
) -> Result<(), LayerError> {
    let start_loss = backprop(&mut relu, x, y)?;
    let relu_start = weight_bits(&relu);
    let relu_loss = train(&mut relu, x, y)?;
    let leaky_loss = train(&mut leaky, x, y)?;
    let unchanged = if weight_bits(&relu) == relu_start {
        "yes"
    } else {
        "NO"
    };
    let leaky_active = activity(&leaky)?;
    let revived: Vec<String> = (0..HIDDEN)
        .filter(|&unit| leaky_active.active_counts()[unit] > 0)
        .map(|unit| format!("unit {unit} ({})", percent(&leaky_active, unit).trim()))
        .collect();
    println!("Loss before training: {start_loss:.4}. After {STEPS} steps:");
    println!(
        "ReLU        loss {relu_loss:.4}, the variance of y ({:.4}):",
        y.var(0.0)
    );
    println!("            only the output bias can learn. Hidden weights, biases");
    println!("            and output weights unchanged, bit for bit: {unchanged}");
    println!(
        "Leaky ReLU  loss {leaky_loss:.4}; active again: {}",
        revived.join(", ")
    );
    Ok(())
}

/// A ReLU and a Leaky ReLU network with the weights of `first` and `second`,
/// in which the units `dead` get the bias [`DEAD_BIAS`].
fn networks(
    first: &DenseLayer,
    second: &DenseLayer,
    dead: &[usize],
) -> Result<[Sequential; 2], LayerError> {
    let mut bias = first.bias().to_owned();
    for &unit in dead {
        bias[unit] = DEAD_BIAS;
    }
    let hidden = DenseLayer::from_parts(first.weights().to_owned(), bias)?;
    let mut relu = Sequential::new();
    relu.push(hidden.clone())
        .push(ReluLayer::new())
        .push(second.clone());
    let mut leaky = Sequential::new();
    leaky
        .push(hidden)
        .push(LeakyReluLayer::new(SLOPE)?)
        .push(second.clone());
    Ok([relu, leaky])
}

/// Forward and backward over the whole batch: returns the mean squared
/// error, and leaves the gradients in the dense layers and the mask in the
/// activation.
fn backprop(net: &mut Sequential, x: &Array2<f64>, y: &Array2<f64>) -> Result<f64, LayerError> {
    let prediction = net.forward(x)?;
    let (loss, grad) = mse(&prediction, y)?;
    net.backward_owned(grad)?;
    Ok(loss)
}

/// [`STEPS`] steps of plain SGD; returns the loss of the trained network.
fn train(net: &mut Sequential, x: &Array2<f64>, y: &Array2<f64>) -> Result<f64, LayerError> {
    let mut sgd = Sgd::new(LEARNING_RATE)?;
    for _ in 0..STEPS {
        backprop(net, x, y)?;
        sgd.step(net)?;
    }
    backprop(net, x, y)
}

/// The hidden layer, layer 0 of every network here.
fn hidden(net: &Sequential) -> &DenseLayer {
    net.layer(0).expect("layer 0 is the hidden DenseLayer")
}

/// The mask of the last forward through the activation, layer 1.
fn mask(net: &Sequential) -> Option<&Mask> {
    match net.layer::<ReluLayer>(1) {
        Some(relu) => relu.mask(),
        None => net.layer::<LeakyReluLayer>(1)?.mask(),
    }
}

/// On how many samples of the last forward each hidden unit was active.
fn activity(net: &Sequential) -> Result<ActivityStats, LayerError> {
    let mut stats = ActivityStats::new(HIDDEN);
    stats.record(mask(net).expect("the network ran forward"))?;
    Ok(stats)
}

/// Per hidden unit: the norm of the gradient of its incoming weights (its
/// column of W's gradient) and the size of its bias's gradient.
fn unit_gradients(net: &Sequential) -> (Array1<f64>, Array1<f64>) {
    let dense = hidden(net);
    let weights = dense.weights_grad().map_axis(Axis(0), |w| w.dot(&w).sqrt());
    (weights, dense.bias_grad().mapv(f64::abs))
}

/// The largest change in a unit's incoming weights and bias, or a note that
/// they are the same bit for bit.
fn change(before: &DenseLayer, after: &DenseLayer, unit: usize) -> String {
    let incoming = |dense: &DenseLayer| {
        let mut values = dense.weights().column(unit).to_vec();
        values.push(dense.bias()[unit]);
        values
    };
    let (before, after) = (incoming(before), incoming(after));
    if bits(&before) == bits(&after) {
        return "none, bit for bit".to_string();
    }
    let largest = (before.iter().zip(&after)).fold(0.0_f64, |m, (b, a)| m.max((a - b).abs()));
    sci(largest)
}

/// The bits of the hidden weights and biases and of the output weights.
fn weight_bits(net: &Sequential) -> [Vec<u64>; 3] {
    let output: &DenseLayer = net.layer(2).expect("layer 2 is the output DenseLayer");
    let dense = hidden(net);
    [
        bits(dense.weights()),
        bits(dense.bias()),
        bits(output.weights()),
    ]
}

/// The bit patterns of `values`, to compare floats exactly.
fn bits<'a>(values: impl IntoIterator<Item = &'a f64>) -> Vec<u64> {
    values.into_iter().map(|v| v.to_bits()).collect()
}

/// A unit's share of active samples, as `42.5 %`.
fn percent(stats: &ActivityStats, unit: usize) -> String {
    let share = stats.active_counts()[unit] as f64 / stats.samples() as f64;
    format!("{:.1} %", 100.0 * share)
}

/// `0` for an exact zero, so that it stands out, else three significant
/// digits in scientific notation.
fn sci(value: f64) -> String {
    if value == 0.0 {
        "0".to_string()
    } else {
        format!("{value:.2e}")
    }
}
