//! Dead units, exactly: what `examples/dead_neurons.rs` shows, as assertions.
//!
//! A Dense(2→8) → activation → Dense(8→1) network fits
//! `y = 2·max(0, x₁) + 2·max(0, −x₂)` with mean squared error; units get a
//! bias of −5, which makes them inactive on every sample. Under ReLU such a
//! unit's parameters get a gradient of exactly zero and SGD never changes
//! them (weight decay aside); under Leaky ReLU they get the gradient scaled by
//! the slope.

use approx::assert_relative_eq;
use rectify::loss::mse;
use rectify::ndarray::{s, Array2, ArrayRef2, Axis};
use rectify::rand::{rngs::StdRng, Rng, SeedableRng};
use rectify::{DenseLayer, Layer, LayerError, LeakyReluLayer, Mask, ReluLayer, Sequential, Sgd};

const SAMPLES: usize = 200;
const HIDDEN: usize = 8;
const DEAD: [usize; 3] = [1, 4, 6];
const LIVE: [usize; 5] = [0, 2, 3, 5, 7];
const SLOPE: f64 = 0.01;

/// The example's data and starting weights: `(x, y, hidden, output)`.
fn setup() -> (Array2<f64>, Array2<f64>, DenseLayer, DenseLayer) {
    let mut rng = StdRng::seed_from_u64(0);
    let x = Array2::<f64>::from_shape_simple_fn((SAMPLES, 2), || rng.random_range(-1.0..1.0));
    let y = x
        .map_axis(Axis(1), |p| 2.0 * p[0].max(0.0) + 2.0 * (-p[1]).max(0.0))
        .insert_axis(Axis(1));
    let hidden = DenseLayer::new(2, HIDDEN, &mut rng);
    let output = DenseLayer::new(HIDDEN, 1, &mut rng);
    (x, y, hidden, output)
}

/// The data, and a ReLU and a Leaky ReLU network with the same weights in
/// which the units `dead` have bias −5.
fn networks(dead: &[usize]) -> (Array2<f64>, Array2<f64>, Sequential, Sequential) {
    let (x, y, hidden, output) = setup();
    let mut bias = hidden.bias().to_owned();
    for &unit in dead {
        bias[unit] = -5.0;
    }
    let hidden = DenseLayer::from_parts(hidden.weights().to_owned(), bias).unwrap();
    let mut relu = Sequential::new();
    relu.push(hidden.clone())
        .push(ReluLayer::new())
        .push(output.clone());
    let mut leaky = Sequential::new();
    leaky
        .push(hidden)
        .push(LeakyReluLayer::new(SLOPE).unwrap())
        .push(output);
    (x, y, relu, leaky)
}

/// Forward, mean squared error, backward; returns the loss.
fn backprop(
    net: &mut Sequential,
    x: &ArrayRef2<f64>,
    y: &ArrayRef2<f64>,
) -> Result<f64, LayerError> {
    let prediction = net.forward(x)?;
    let (loss, grad) = mse(&prediction, y)?;
    net.backward_owned(grad)?;
    Ok(loss)
}

/// `steps` steps of `sgd`; returns the loss of the trained network.
fn train(
    net: &mut Sequential,
    mut sgd: Sgd,
    steps: usize,
    x: &Array2<f64>,
    y: &Array2<f64>,
) -> Result<f64, LayerError> {
    for _ in 0..steps {
        backprop(net, x, y)?;
        sgd.step(net)?;
    }
    backprop(net, x, y)
}

fn dense(net: &Sequential, index: usize) -> &DenseLayer {
    net.layer(index).expect("layers 0 and 2 are dense")
}

/// The number of samples of the last forward on which each unit was active.
fn active(net: &Sequential) -> Vec<usize> {
    let mask: &Mask = match net.layer::<ReluLayer>(1) {
        Some(relu) => relu.mask(),
        None => net.layer::<LeakyReluLayer>(1).unwrap().mask(),
    }
    .expect("forward ran");
    mask.active_per_column().to_vec()
}

/// A unit's parameters: its incoming weights, its bias, its outgoing weights.
fn unit_params(net: &Sequential, unit: usize) -> Vec<f64> {
    let (hidden, output) = (dense(net, 0), dense(net, 2));
    let mut values = hidden.weights().column(unit).to_vec();
    values.push(hidden.bias()[unit]);
    values.extend(output.weights().row(unit));
    values
}

/// The gradients of the same parameters, in the same order.
fn unit_grads(net: &Sequential, unit: usize) -> Vec<f64> {
    let (hidden, output) = (dense(net, 0), dense(net, 2));
    let mut values = hidden.weights_grad().column(unit).to_vec();
    values.push(hidden.bias_grad()[unit]);
    values.extend(output.weights_grad().row(unit));
    values
}

fn bits(values: &[f64]) -> Vec<u64> {
    values.iter().map(|v| v.to_bits()).collect()
}

#[test]
fn dead_relu_units_get_exactly_zero_gradient_and_leaky_ones_the_leak() -> Result<(), LayerError> {
    let (x, y, mut relu, mut leaky) = networks(&DEAD);
    let x_transposed_layout = x.t().to_owned();
    let batches: [(&ArrayRef2<f64>, &ArrayRef2<f64>); 3] = [
        (&x, &y),
        (&x_transposed_layout.t(), &y),
        (&x.slice(s![..;2, ..]), &y.slice(s![..;2, ..])),
    ];
    for (x, y) in batches {
        backprop(&mut relu, x, y)?;
        backprop(&mut leaky, x, y)?;
        let counts = active(&relu);
        assert_eq!(counts, active(&leaky));
        for unit in DEAD {
            assert_eq!(counts[unit], 0, "unit {unit} should be dead");
            // Incoming weights, bias and outgoing weights: all exactly zero.
            let grads = unit_grads(&relu, unit);
            assert!(
                grads.iter().all(|&g| g == 0.0),
                "ReLU unit {unit}: {grads:?}"
            );
            let grads = unit_grads(&leaky, unit);
            assert!(
                grads.iter().all(|&g| g != 0.0),
                "Leaky unit {unit}: {grads:?}"
            );
        }
        for unit in LIVE {
            assert!(counts[unit] > 0, "unit {unit} should be live");
            for net in [&relu, &leaky] {
                let grads = unit_grads(net, unit);
                assert!(
                    grads.iter().all(|&g| g != 0.0 && g.is_finite()),
                    "unit {unit}: {grads:?}"
                );
            }
        }
    }

    // The leak, by hand: a dead unit passes SLOPE · (dL/dy · its outgoing
    // weight) back, so its bias gradient is the sum of that over the batch
    // and its weights' gradient is xᵀ times it.
    backprop(&mut leaky, &x, &y)?;
    let (_, dl_dy) = mse(&leaky.predict(&x)?, &y)?;
    let (hidden, output) = (dense(&leaky, 0), dense(&leaky, 2));
    for unit in DEAD {
        let leaked = dl_dy.dot(&output.weights().row(unit)) * SLOPE;
        assert_relative_eq!(hidden.bias_grad()[unit], leaked.sum(), max_relative = 1e-12);
        let expected = x.t().dot(&leaked);
        assert_relative_eq!(
            hidden.weights_grad().column(unit),
            expected,
            max_relative = 1e-12
        );
    }
    Ok(())
}

#[test]
fn sgd_never_changes_a_dead_relu_unit_by_a_single_bit() -> Result<(), LayerError> {
    let optimizers = || -> Result<[Sgd; 3], LayerError> {
        Ok([
            Sgd::new(0.3)?,
            Sgd::new(0.03)?.with_momentum(0.9)?,
            Sgd::new(0.03)?.with_momentum(0.9)?.with_weight_decay(0.0)?,
        ])
    };
    for (relu_sgd, leaky_sgd) in optimizers()?.into_iter().zip(optimizers()?) {
        let (x, y, mut relu, mut leaky) = networks(&DEAD);
        let before: Vec<_> = (0..HIDDEN).map(|u| unit_params(&relu, u)).collect();
        train(&mut relu, relu_sgd.clone(), 200, &x, &y)?;
        train(&mut leaky, leaky_sgd, 200, &x, &y)?;
        for unit in DEAD {
            let start = bits(&before[unit]);
            assert_eq!(
                bits(&unit_params(&relu, unit)),
                start,
                "ReLU unit {unit}, {relu_sgd:?}"
            );
            assert!(
                bits(&unit_params(&leaky, unit)) != start,
                "Leaky unit {unit} did not move"
            );
        }
        for unit in LIVE {
            let start = bits(&before[unit]);
            assert!(
                bits(&unit_params(&relu, unit)) != start,
                "live unit {unit} did not move"
            );
        }
    }
    Ok(())
}

#[test]
fn weight_decay_shrinks_a_dead_relu_unit_but_does_not_revive_it() -> Result<(), LayerError> {
    // The gradient is zero, so each step is w ← w − lr · (0 + decay · w):
    // every parameter of the unit shrinks by the same factor (up to rounding), its
    // pre-activations keep their sign, and it stays dead.
    let (lr, decay, steps) = (0.3, 0.01, 100);
    let (x, y, mut relu, _) = networks(&DEAD);
    let before: Vec<_> = DEAD.iter().map(|&u| unit_params(&relu, u)).collect();
    train(
        &mut relu,
        Sgd::new(lr)?.with_weight_decay(decay)?,
        steps,
        &x,
        &y,
    )?;
    for (unit, start) in DEAD.into_iter().zip(&before) {
        let expected: Vec<f64> = start
            .iter()
            .map(|&w0| (0..steps).fold(w0, |w, _| w - lr * (0.0 + decay * w)))
            .collect();
        let after = unit_params(&relu, unit);
        assert_eq!(bits(&after), bits(&expected), "unit {unit}");
        assert!(after.iter().zip(start).all(|(a, s)| a.abs() < s.abs()));
        assert_eq!(active(&relu)[unit], 0);
    }

    // With momentum too: smaller, still dead.
    let (x, y, mut relu, _) = networks(&DEAD);
    let sgd = Sgd::new(0.03)?
        .with_momentum(0.9)?
        .with_weight_decay(decay)?;
    train(&mut relu, sgd, steps, &x, &y)?;
    for (unit, start) in DEAD.into_iter().zip(&before) {
        let after = unit_params(&relu, unit);
        assert!(
            after.iter().zip(start).all(|(a, s)| a.abs() < s.abs()),
            "unit {unit}"
        );
        assert_eq!(active(&relu)[unit], 0);
    }
    Ok(())
}

#[test]
fn leaky_relu_revives_a_dead_layer_that_relu_cannot() -> Result<(), LayerError> {
    let all: Vec<usize> = (0..HIDDEN).collect();
    let (x, y, mut relu, mut leaky) = networks(&all);
    let before: Vec<_> = all.iter().map(|&u| bits(&unit_params(&relu, u))).collect();
    let relu_loss = train(&mut relu, Sgd::new(0.3)?, 800, &x, &y)?;
    let leaky_loss = train(&mut leaky, Sgd::new(0.3)?, 800, &x, &y)?;

    // ReLU: only the output bias learns, so the best it does is predict the
    // mean, and the loss is the variance of y.
    let after: Vec<_> = all.iter().map(|&u| bits(&unit_params(&relu, u))).collect();
    assert_eq!(after, before);
    assert_eq!(active(&relu), vec![0; HIDDEN]);
    assert_relative_eq!(relu_loss, y.var(0.0), max_relative = 1e-9);

    // Leaky ReLU: the layer learns through the leak, and units come back.
    let revived = active(&leaky).iter().filter(|&&n| n > 0).count();
    assert!(revived > 0, "no unit came back: {:?}", active(&leaky));
    assert!(leaky_loss < relu_loss / 2.0, "{leaky_loss} vs {relu_loss}");
    Ok(())
}
