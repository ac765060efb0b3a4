//! ReDo, `Redo::recycle`: the recycled units' new incoming weights (the
//! draw `DenseLayer::with_init` makes), their zero outgoing weights and
//! optimizer state, every other bit as it was, the outputs on the scoring
//! batch unchanged; τ = 0 against `ActivityStats`; the errors, which change
//! nothing; nested networks; and the spirals of `examples/redo.rs`.
//!
//! The optimizer state is read here through a step of a copy of the
//! optimizer on a zero network with zero gradients: for Sgd with a learning
//! rate and momentum that are powers of two, that step writes exactly
//! `−lr·momentum·v`. The unit tests in `src/redo.rs` compare the state
//! itself, bit for bit.

mod common {
    pub mod bits;
}
#[path = "../examples/common/redo.rs"]
mod redo;

use common::bits::{same, Bits};
use rectify::ndarray::{array, Array2, ArrayD, Axis};
use rectify::rand::{rngs::StdRng, Rng, SeedableRng};
use rectify::{
    ActivityStats, Adam, DenseLayer, Float, Init, Layer, LayerError, LeakyReluLayer, Optimizer,
    Recyclable, Redo, RedoReport, ReluLayer, Sequential, Sgd,
};

/// The shapes of [`trained`]'s parameters, in `params()` order.
const SHAPES: [&[usize]; 6] = [&[3, 8], &[8], &[8, 6], &[6], &[6, 2], &[2]];

/// Dense(3 → 8) → ReLU → Dense(8 → 6) → ReLU → Dense(6 → 2) drawn by
/// `init`, trained three steps by `optimizer` on 16 random points (random
/// output gradients); and one of the points, to score on, on which each
/// hidden layer has dead and live units. Units active on the 16 and dead
/// on the one have optimizer state to reset.
fn trained<A: Float + Bits>(
    init: Init,
    optimizer: &mut dyn Optimizer<A>,
) -> (Sequential<A>, Array2<A>) {
    let mut rng = StdRng::seed_from_u64(3);
    let mut net = Sequential::<A>::new();
    net.push(DenseLayer::with_init(3, 8, init, &mut rng))
        .push(ReluLayer::new())
        .push(DenseLayer::with_init(8, 6, init, &mut rng))
        .push(ReluLayer::new())
        .push(DenseLayer::with_init(6, 2, init, &mut rng));
    let x = Array2::from_shape_fn((16, 3), |_| A::nearest(rng.random_range(-1.0..1.0)));
    for _ in 0..3 {
        net.forward(&x).unwrap();
        let g = Array2::from_shape_fn((16, 2), |_| A::nearest(rng.random_range(-1.0..1.0)));
        net.backward(&g).unwrap();
        optimizer.step(&mut net).unwrap();
    }
    // The first point on which each hidden layer has dead and live units.
    for point in x.rows() {
        let batch = point.insert_axis(Axis(0)).to_owned();
        net.forward(&batch).unwrap();
        let dead = [dead_units(&net, 1), dead_units(&net, 3)];
        if dead
            .iter()
            .zip([8, 6])
            .all(|(d, n)| !d.is_empty() && d.len() < n)
        {
            return (net, batch);
        }
    }
    panic!("no point has dead and live units in both layers")
}

/// Every parameter's value, in `params()` order.
fn values<A: Float>(net: &mut Sequential<A>) -> Vec<ArrayD<A>> {
    net.params().iter().map(|p| p.value.to_owned()).collect()
}

/// Every parameter's gradient, in `params()` order.
fn grads<A: Float>(net: &mut Sequential<A>) -> Vec<ArrayD<A>> {
    net.params().iter().map(|p| p.grad.to_owned()).collect()
}

/// The bits of every element of `arrays`.
fn bits<'a, A: Bits>(arrays: impl IntoIterator<Item = &'a ArrayD<A>>) -> Vec<Vec<u64>> {
    (arrays.into_iter())
        .map(|a| a.iter().map(|v| Bits::bits(*v)).collect())
        .collect()
}

/// What one step of `optimizer` writes into a network of [`SHAPES`] whose
/// parameters and gradients are all zero: a read-out of its state.
fn read_out<A: Float, O: Optimizer<A>>(mut optimizer: O) -> Vec<ArrayD<A>> {
    let zeros = |shape: &[usize]| Array2::zeros((shape[0], shape[1]));
    let mut probe = Sequential::<A>::new();
    for pair in SHAPES.chunks(2) {
        let bias = rectify::ndarray::Array1::zeros(pair[1][0]);
        probe.push(DenseLayer::from_parts(zeros(pair[0]), bias).unwrap());
    }
    optimizer.step(&mut probe).unwrap();
    values(&mut probe)
}

/// The units of the ReLU at `index` that are inactive on every row of the
/// last forward, from its mask.
fn dead_units<A: Float>(net: &Sequential<A>, index: usize) -> Vec<usize> {
    let mask = net.layer::<ReluLayer>(index).unwrap().mask().unwrap();
    let mut activity = ActivityStats::new(mask.shape().1);
    activity.record(mask).unwrap();
    activity.dead_units()
}

/// Recycles [`trained`]'s network on its point and checks every
/// parameter, gradient and output bit, the report, and (through
/// `read_out(prepare(optimizer))`) the optimizer's state.
fn recycles_exactly<A, O>(init: Init, mut optimizer: O, prepare: fn(O) -> O)
where
    A: Float + Bits,
    O: Optimizer<A> + Recyclable + Clone,
{
    let (mut net, batch) = trained::<A>(init, &mut optimizer);
    net.forward(&batch).unwrap();
    let dead = [dead_units(&net, 1), dead_units(&net, 3)];
    let (before, grads_before) = (values(&mut net), grads(&mut net));
    let state_before = read_out(prepare(optimizer.clone()));
    let outputs = net.predict(&batch).unwrap();
    let seed = 7;
    let mut rng = StdRng::seed_from_u64(seed);

    let report = Redo::new(0.0).unwrap();
    let report = report
        .recycle(&mut net, &mut optimizer, &batch, &mut rng)
        .unwrap();

    // τ = 0: the units the masks found dead on the batch, and some of each
    // layer's units are alive.
    let expected: Vec<(String, usize)> = (dead[0].iter().map(|&j| ("1".to_string(), j)))
        .chain(dead[1].iter().map(|&j| ("3".to_string(), j)))
        .collect();
    assert_eq!(report.units(), expected);
    assert!(
        dead.iter()
            .zip([8, 6])
            .all(|(d, n)| !d.is_empty() && d.len() < n),
        "{dead:?}"
    );
    assert_eq!(
        report.layers(),
        [("1".to_string(), 8), ("3".to_string(), 6)]
    );

    // The parameters: each unit's draw from a twin of the rng, in the
    // report's order; zero outgoing rows; a later run's draw written last.
    let mut twin = StdRng::seed_from_u64(seed);
    let mut expected = before.clone();
    for (path, j) in report.units() {
        let first = if path == "1" { 0 } else { 2 };
        let inputs = SHAPES[first][0];
        let draw = DenseLayer::<A>::with_init(inputs, 1, init, &mut twin);
        (expected[first].index_axis_mut(Axis(1), *j)).assign(&draw.weights().column(0));
        expected[first + 1][[*j]] = draw.bias()[0];
        expected[first + 2]
            .index_axis_mut(Axis(0), *j)
            .fill(A::zero());
    }
    let after = values(&mut net);
    assert_eq!(bits(&after), bits(&expected));
    for (path, j) in report.units() {
        let first = if path == "1" { 0 } else { 2 };
        let changed = (before[first].index_axis(Axis(1), *j).iter())
            .zip(after[first].index_axis(Axis(1), *j))
            .all(|(b, a)| !same(*b, *a));
        assert!(changed, "unit {j} of layer {path}");
    }
    assert_eq!(rng.random::<u64>(), twin.random::<u64>());
    assert_eq!(bits(&grads(&mut net)), bits(&grads_before));
    let again = net.predict(&batch).unwrap();
    assert_eq!(bits([&again.into_dyn()]), bits([&outputs.into_dyn()]));

    // The optimizer's state: 0 at the recycled entries, else as it was.
    let state_after = read_out(prepare(optimizer));
    let mut reset: Vec<_> = SHAPES
        .iter()
        .map(|s| ArrayD::from_elem(*s, false))
        .collect();
    for (path, j) in report.units() {
        let first = if path == "1" { 0 } else { 2 };
        reset[first].index_axis_mut(Axis(1), *j).fill(true);
        reset[first + 1][[*j]] = true;
        reset[first + 2].index_axis_mut(Axis(0), *j).fill(true);
    }
    let mut were_nonzero = 0;
    for ((b, a), r) in state_before.iter().zip(&state_after).zip(&reset) {
        for ((b, a), &r) in b.iter().zip(a).zip(r) {
            if r {
                assert_eq!(a.wide(), 0.0);
                were_nonzero += usize::from(b.wide() != 0.0);
            } else {
                assert_eq!(Bits::bits(*a), Bits::bits(*b));
            }
        }
    }
    assert!(were_nonzero > 10, "{were_nonzero}");
}

/// Sgd whose read-out is exact: `−0.125·0.5·v`.
fn sgd() -> Sgd {
    Sgd::new(0.125).unwrap().with_momentum(0.5).unwrap()
}

/// Adam's read-out: with β = (0.5, 0.5) and a zero gradient, zero exactly
/// where `exp_avg` is (the unit tests check `exp_avg_sq` too).
fn adam_read_out(adam: Adam) -> Adam {
    adam.with_betas(0.5, 0.5).unwrap()
}

#[test]
fn recycling_redraws_the_incoming_weights_zeroes_the_outgoing_and_keeps_every_other_bit() {
    for init in [Init::HeNormal, Init::Rai] {
        recycles_exactly::<f64, _>(init, sgd(), |s| s);
        recycles_exactly::<f32, _>(init, sgd(), |s| s);
        recycles_exactly::<f64, _>(init, Adam::new(0.01).unwrap(), adam_read_out);
        recycles_exactly::<f32, _>(init, Adam::new(0.01).unwrap(), adam_read_out);
    }
}

#[test]
fn adam_keeps_its_step_count() {
    let mut adam = Adam::new(0.01).unwrap();
    let (mut net, batch) = trained::<f64>(Init::HeNormal, &mut adam);
    let mut rng = StdRng::seed_from_u64(0);
    let report = Redo::new(0.0)
        .unwrap()
        .recycle(&mut net, &mut adam, &batch, &mut rng);
    assert!(!report.unwrap().is_empty());
    assert_eq!(adam.steps(), 3);
}

#[test]
fn an_optimizer_without_state_has_nothing_to_reset() {
    let batch = array![[1.0, 1.0], [0.5, -0.5]];
    let mut net = one_dead::<f64>();
    let (mut adam, mut rng) = (Adam::new(0.1).unwrap(), StdRng::seed_from_u64(0));
    let report = Redo::new(0.0).unwrap();
    let report = report.recycle(&mut net, &mut adam, &batch, &mut rng);
    assert_eq!(report.unwrap().units(), [("1".to_string(), 1)]);
    let fresh = Adam::new(0.1).unwrap();
    assert_eq!(format!("{adam:?}"), format!("{fresh:?}"));
    net.forward(&batch).unwrap();
    net.backward(&array![[1.0], [1.0]]).unwrap();
    adam.step(&mut net).unwrap();
    assert_eq!(adam.steps(), 1);
}

/// The mean |h| of each unit over the rows of `h`, over the layer's mean.
fn scores(h: &Array2<f64>) -> Vec<f64> {
    let means = h.mapv(f64::abs).mean_axis(Axis(0)).unwrap();
    let layer = means.mean().unwrap();
    means.iter().map(|m| m / layer).collect()
}

#[test]
fn tau_zero_finds_exactly_the_dead_units_and_a_larger_tau_the_low_scores() {
    // A 2 → 32 → 3 network trained at a learning rate that kills units.
    let mut rng = StdRng::seed_from_u64(11);
    let x = Array2::from_shape_fn((64, 2), |_| rng.random_range(-1.0..1.0));
    let labels: Vec<usize> = (0..64).map(|_| rng.random_range(0..3)).collect();
    let mut net = Sequential::new();
    net.push(DenseLayer::new(2, 32, &mut rng))
        .push(ReluLayer::new())
        .push(DenseLayer::new(32, 3, &mut rng));
    let mut sgd = Sgd::new(4.0).unwrap();
    for _ in 0..30 {
        let logits = net.forward(&x).unwrap();
        let (_, grad) = rectify::loss::softmax_cross_entropy(&logits, &labels).unwrap();
        net.backward(&grad).unwrap();
        sgd.step(&mut net).unwrap();
    }
    net.forward(&x).unwrap();
    let dead = dead_units(&net, 1);
    assert!(!dead.is_empty() && dead.len() < 32, "{dead:?}");

    let report = Redo::new(0.0).unwrap().dormant(&mut net, &x).unwrap();
    let units: Vec<usize> = report.units().iter().map(|(_, j)| *j).collect();
    assert_eq!(units, dead);
    assert_eq!(report.fraction(), dead.len() as f64 / 32.0);

    let hidden: &DenseLayer = net.layer(0).unwrap();
    let h = ReluLayer::new()
        .predict(&hidden.predict(&x).unwrap())
        .unwrap();
    let scores = scores(&h);
    for tau in [0.1, 0.5, 1.0] {
        let report = Redo::new(tau).unwrap().dormant(&mut net, &x).unwrap();
        let units: Vec<usize> = report.units().iter().map(|(_, j)| *j).collect();
        let low: Vec<usize> = (0..32).filter(|&j| scores[j] <= tau).collect();
        assert_eq!(units, low, "tau {tau}");
        assert!(units.len() >= dead.len(), "tau {tau}");
    }
}

#[test]
fn a_tau_that_is_nan_negative_or_infinite_is_an_error_naming_it() {
    for tau in [f64::NAN, -1e-9, -1.0, f64::INFINITY, f64::NEG_INFINITY] {
        let err = Redo::new(tau).unwrap_err();
        let LayerError::InvalidParameter {
            layer, name, value, ..
        } = err
        else {
            panic!("{err:?}")
        };
        assert_eq!(
            (layer, name, value.to_bits()),
            ("Redo", "tau", tau.to_bits())
        );
    }
    assert_eq!(
        Redo::new(-2.5).unwrap_err().to_string(),
        "Redo: invalid tau = -2.5: must be finite and non-negative"
    );
    assert_eq!(Redo::new(0.0).unwrap().tau(), 0.0);
}

/// Dense(2 → 3) → ReLU → Dense(3 → 1) whose unit 1 is dead (bias −100).
fn one_dead<A: Float + Bits>() -> Sequential<A> {
    let a = |v: f64| A::nearest(v);
    let mut net = Sequential::new();
    let w = array![[a(1.0), a(0.5), a(-1.0)], [a(0.5), a(1.0), a(2.0)]];
    net.push(DenseLayer::from_parts(w, array![a(0.0), a(-100.0), a(0.0)]).unwrap())
        .push(ReluLayer::new())
        .push(
            DenseLayer::from_parts(array![[a(1.0)], [a(2.0)], [a(3.0)]], array![a(0.5)]).unwrap(),
        );
    net
}

/// Expects `recycle` to fail with an error that `matches`, leaving the
/// network, the optimizer (its `Debug`, every state element) and the rng
/// as they were.
fn fails_changing_nothing<A: Float + Bits, O: Recyclable + std::fmt::Debug>(
    net: &mut Sequential<A>,
    optimizer: &mut O,
    batch: &Array2<A>,
    matches: impl Fn(&LayerError) -> bool,
) {
    let before = (bits(&values(net)), format!("{optimizer:?}"));
    let mut rng = StdRng::seed_from_u64(1);
    let err = Redo::new(0.0)
        .unwrap()
        .recycle(net, optimizer, batch, &mut rng)
        .unwrap_err();
    assert!(matches(&err), "{err:?}");
    assert_eq!((bits(&values(net)), format!("{optimizer:?}")), before);
    assert_eq!(
        rng.random::<u64>(),
        StdRng::seed_from_u64(1).random::<u64>()
    );
}

#[test]
fn a_mismatched_optimizer_or_batch_is_an_error_and_changes_nothing() {
    let batch = array![[1.0, 1.0], [0.5, -0.5]];
    let mut net = one_dead::<f64>();
    // The batch is fine: with a fitting optimizer, unit 1 is recycled.
    let report = Redo::new(0.0).unwrap().dormant(&mut net, &batch).unwrap();
    assert_eq!(report.units(), [("1".to_string(), 1)]);

    // Adam that has stepped another network.
    let mut rng = StdRng::seed_from_u64(0);
    let mut adam = Adam::new(0.1).unwrap();
    let mut other = DenseLayer::<f64>::new(2, 2, &mut rng);
    other.forward(&batch).unwrap();
    other.backward(&batch).unwrap();
    adam.step(&mut other).unwrap();
    fails_changing_nothing(&mut net, &mut adam, &batch, |e| {
        matches!(e, LayerError::StateMismatch { layer: "Adam", .. })
            && e.to_string()
                .starts_with("Adam::step: the layer has 4 parameters, expected 2")
    });

    // Sgd whose velocities are f64, on an f32 network.
    let mut sgd = Sgd::new(0.1).unwrap().with_momentum(0.9).unwrap();
    let mut wide = one_dead::<f64>();
    wide.forward(&batch).unwrap();
    wide.backward(&array![[1.0], [1.0]]).unwrap();
    sgd.step(&mut wide).unwrap();
    let mut narrow = one_dead::<f32>();
    fails_changing_nothing(&mut narrow, &mut sgd, &batch.mapv(|v| v as f32), |e| {
        *e == LayerError::StateElementType {
            layer: "Sgd",
            state: "f64",
            params: "f32",
        }
    });

    // A batch of the wrong width, or none.
    let mut fresh = Adam::new(0.1).unwrap();
    fails_changing_nothing(&mut net, &mut fresh, &array![[1.0, 2.0, 3.0]], |e| {
        e.to_string()
            == "Sequential layer 0: DenseLayer::predict: input has shape [1, 3], expected [1, 2]"
    });
    fails_changing_nothing(&mut net, &mut sgd, &Array2::zeros((0, 2)), |e| {
        matches!(e, LayerError::EmptyBatch { layer: "Redo", .. })
    });
}

#[test]
fn nested_sequentials_are_walked_as_one_and_named_by_path() {
    let (mut rng, mut draws) = (StdRng::seed_from_u64(5), StdRng::seed_from_u64(6));
    let dense = |w: Array2<f64>, b| DenseLayer::from_parts(w, b).unwrap();
    // [ [Dense a, ReLU], [Dense b, [Leaky]], Dense c ]: the first run
    // crosses from the first block into the second.
    let mut first = Sequential::new();
    let a = DenseLayer::<f64>::new(2, 4, &mut rng);
    let mut a_bias = a.bias().to_owned();
    a_bias[1] = -100.0;
    first
        .push(dense(a.weights().to_owned(), a_bias))
        .push(ReluLayer::new());
    let mut second = Sequential::new();
    let mut leaky = Sequential::new();
    leaky.push(LeakyReluLayer::new(0.1).unwrap());
    let b = DenseLayer::<f64>::new(4, 3, &mut rng);
    second.push(b).push(leaky);
    let mut net = Sequential::new();
    net.push(first)
        .push(second)
        .push(DenseLayer::<f64>::new(3, 2, &mut rng));
    let batch = array![[1.0, 0.5], [-0.5, 2.0], [0.0, -1.0]];
    let outputs = net.predict(&batch).unwrap();
    let before = values(&mut net);
    // τ = 0: a's unit 1 alone (Leaky ReLU's outputs are not 0), whose
    // outputs were 0, so the network's do not change.
    let mut sgd = Sgd::new(0.1).unwrap(); // no momentum: no state
    let redo = Redo::new(0.0).unwrap();
    let report = redo
        .recycle(&mut net, &mut sgd, &batch, &mut draws)
        .unwrap();
    assert_eq!(report.units(), [("0.1".to_string(), 1)]);
    assert_eq!(
        report.layers(),
        [("0.1".to_string(), 4), ("1.1.0".to_string(), 3)]
    );
    let again = net.predict(&batch).unwrap();
    assert_eq!(bits([&again.into_dyn()]), bits([&outputs.into_dyn()]));
    let after = values(&mut net);
    let a_column = |values: &[ArrayD<f64>]| values[0].index_axis(Axis(1), 1).to_owned();
    assert!(a_column(&after)
        .iter()
        .zip(&a_column(&before))
        .all(|(x, y)| x != y));
    assert!(after[2].index_axis(Axis(0), 1).iter().all(|&w| w == 0.0));

    // τ = 10: every unit, the Leaky ones too, whose outputs were not 0:
    // c's rows are all 0 now, and the outputs are c's bias.
    let report = Redo::new(10.0).unwrap();
    let report = report
        .recycle(&mut net, &mut sgd, &batch, &mut draws)
        .unwrap();
    let leaky_units = (0..3).map(|j| ("1.1.0".to_string(), j));
    let expected: Vec<_> = (0..4)
        .map(|j| ("0.1".to_string(), j))
        .chain(leaky_units)
        .collect();
    assert_eq!(report.units(), expected);
    assert_eq!(report.fraction(), 1.0);
    let last = values(&mut net);
    assert!(last[4].iter().all(|&w| w == 0.0));
    assert_eq!(last[5], before[5]);
    for row in net.predict(&batch).unwrap().rows() {
        assert_eq!(row.into_dyn(), before[5]);
    }
    // b's rows were zeroed, then its columns drawn again: every entry new.
    assert!(last[2]
        .iter()
        .zip(&after[2])
        .all(|(x, y)| x != y && *x != 0.0));
    net.forward(&batch).unwrap();
    net.backward(&array![[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
        .unwrap();
    sgd.step(&mut net).unwrap();
}

#[test]
fn a_boxed_dense_layer_is_not_part_of_a_run() {
    let mut net = Sequential::new();
    let mut rng = StdRng::seed_from_u64(0);
    let boxed: Box<dyn Layer> = Box::new(DenseLayer::<f64>::new(2, 3, &mut rng));
    net.push(boxed)
        .push(Box::new(ReluLayer::new()) as Box<dyn Layer>)
        .push(DenseLayer::<f64>::new(3, 1, &mut rng))
        .push(ReluLayer::new())
        .push(DenseLayer::<f64>::new(1, 1, &mut rng));
    let report: RedoReport = Redo::new(0.0)
        .unwrap()
        .dormant(&mut net, &array![[1.0, 2.0]])
        .unwrap();
    assert_eq!(report.layers(), [("3".to_string(), 1)]);
}

#[test]
fn on_the_spirals_redo_keeps_far_fewer_units_dead_at_similar_accuracy() {
    let setup = redo::Setup {
        epochs: 60,
        ..redo::Setup::EXAMPLE
    };
    let series = redo::train(&setup).unwrap();
    let [relu, leaky, redo] = &series[..] else {
        panic!("three runs")
    };
    assert_eq!(
        (relu.name, leaky.name, redo.name),
        ("ReLU", "Leaky ReLU", "ReLU + ReDo")
    );
    assert_eq!(relu.epochs, [0, 10, 20, 30, 40, 50, 60]);
    assert_eq!((redo::HIDDEN, redo::CLASSES), (64, 3));
    assert!(relu.final_dead() >= 0.3, "{relu:?}");
    assert!(relu.dead[1..].iter().all(|&d| d >= 0.3), "{relu:?}");
    assert!(redo.final_dead() <= relu.final_dead() / 4.0, "{redo:?}");
    assert!(
        redo.final_accuracy() >= relu.final_accuracy() - 0.05,
        "{redo:?}"
    );
    assert!(redo.recycled > 0 && relu.recycled == 0 && leaky.recycled == 0);
    assert!(redo.peak_dead() >= redo.final_dead() && leaky.final_accuracy() > 0.5);
    assert!(
        redo.mean_accuracy(3) >= relu.mean_accuracy(3) - 0.05,
        "{redo:?}"
    );
}
