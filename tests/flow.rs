//! GradientFlow: healthy networks on real data raise no problem, and a
//! network with one broken layer (a zeroed, NaN, ×1e12 or ×1e-12 gradient on
//! its way down, or a layer of dead units) is flagged at exactly that
//! layer's path, nested or not.

#[path = "../examples/common/digits.rs"]
mod digits;
#[path = "../examples/common/spirals.rs"]
mod spirals;

use std::error::Error;

use digits::{evaluate, train_epoch, Digits};
use rectify::loss::softmax_cross_entropy;
use rectify::ndarray::{Array1, Array2, ArrayRef2, Axis};
use rectify::rand::{rngs::StdRng, SeedableRng};
use rectify::{
    Adam, ClippedReluLayer, DenseLayer, FlowProblem, FlowProblemKind, FlowThresholds, GradientFlow,
    Layer, LayerError, LeakyReluLayer, PReluLayer, Param, ReluLayer, Result, Sequential,
};

/// The identity forward; backward multiplies the gradient by `factor`
/// (0 zeroes it, NaN poisons it).
struct Break {
    factor: f64,
}

impl Layer for Break {
    fn forward(&mut self, x: &ArrayRef2<f64>) -> Result<Array2<f64>> {
        self.predict(x)
    }
    fn backward(&mut self, g: &ArrayRef2<f64>) -> Result<Array2<f64>> {
        Ok(g * self.factor)
    }
    fn predict(&self, x: &ArrayRef2<f64>) -> Result<Array2<f64>> {
        Ok(x.to_owned())
    }
}

/// `y = x ⊙ s`, a learnable scale per feature, written outside the crate;
/// unless `writes_grad`, backward leaves the scale's gradient at zero.
struct FeatureScale {
    s: Array1<f64>,
    ds: Array1<f64>,
    input: Option<Array2<f64>>,
    writes_grad: bool,
}

fn feature_scale(features: usize, writes_grad: bool) -> FeatureScale {
    FeatureScale {
        s: Array1::from_elem(features, 0.5),
        ds: Array1::zeros(features),
        input: None,
        writes_grad,
    }
}

impl Layer for FeatureScale {
    fn forward(&mut self, x: &ArrayRef2<f64>) -> Result<Array2<f64>> {
        self.input = Some(x.to_owned());
        self.predict(x)
    }
    fn backward(&mut self, g: &ArrayRef2<f64>) -> Result<Array2<f64>> {
        let x: &ArrayRef2<f64> =
            (self.input.as_ref()).ok_or(LayerError::BackwardBeforeForward {
                layer: "FeatureScale",
            })?;
        if self.writes_grad {
            self.ds = (x * g).sum_axis(Axis(0));
        }
        Ok(g * &*self.s)
    }
    fn predict(&self, x: &ArrayRef2<f64>) -> Result<Array2<f64>> {
        Ok(x * &*self.s)
    }
    fn params(&mut self) -> Vec<Param<'_>> {
        vec![Param {
            value: self.s.view_mut().into_dyn(),
            grad: self.ds.view().into_dyn(),
        }]
    }
}

/// The breaks planted below, with the problem each must raise.
const BREAKS: [(f64, FlowProblemKind); 5] = [
    (0.0, FlowProblemKind::NoGradient),
    (f64::NAN, FlowProblemKind::NonFinite),
    (f64::INFINITY, FlowProblemKind::NonFinite),
    (1e12, FlowProblemKind::Exploding),
    (1e-12, FlowProblemKind::Vanishing),
];

/// Dense layers `widths[0] → widths[1] → …`, He-normal from `seed`, with a
/// ReLU between each two.
fn mlp(widths: &[usize], seed: u64) -> Vec<Box<dyn Layer>> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut layers: Vec<Box<dyn Layer>> = Vec::new();
    for (i, pair) in widths.windows(2).enumerate() {
        if i > 0 {
            layers.push(Box::new(ReluLayer::new()));
        }
        layers.push(Box::new(DenseLayer::new(pair[0], pair[1], &mut rng)));
    }
    layers
}

fn sequential(layers: Vec<Box<dyn Layer>>) -> Sequential {
    let mut net = Sequential::new();
    for layer in layers {
        net.push(layer);
    }
    net
}

/// The spiral arms, drawn from a fixed seed.
fn spirals() -> (Array2<f64>, Vec<usize>) {
    spirals::spirals(&mut StdRng::seed_from_u64(0)).expect("a valid noise scale")
}

/// One forward and backward of softmax cross-entropy on the spirals; then
/// the flow.
fn measure(net: &mut Sequential) -> GradientFlow {
    let (x, labels) = spirals();
    let logits = net.forward(&x).unwrap();
    let (_, grad) = softmax_cross_entropy(&logits, &labels).unwrap();
    net.backward_owned(grad).unwrap();
    GradientFlow::measure(net)
}

fn problem(path: &str, kind: FlowProblemKind) -> FlowProblem {
    FlowProblem {
        path: path.to_owned(),
        kind,
    }
}

#[test]
fn healthy_mlps_on_the_digits_raise_no_problem_before_or_after_training(
) -> std::result::Result<(), Box<dyn Error>> {
    let (train, test) = Digits::load()?.split(360, 3);
    let activations: [fn() -> Box<dyn Layer>; 4] = [
        || Box::new(ReluLayer::new()),
        || Box::new(LeakyReluLayer::default()),
        || Box::new(PReluLayer::new(1, 0.25).unwrap()),
        || Box::new(ClippedReluLayer::relu6()),
    ];
    for (seed, activation) in activations.into_iter().enumerate() {
        let mut net = digits::mlp(64, activation(), seed as u64);
        let mut adam = Adam::new(3e-3)?;
        let mut rng = StdRng::seed_from_u64(seed as u64);
        for _ in 0..3 {
            let (_, grad) = softmax_cross_entropy(&net.forward(&train.x)?, &train.labels)?;
            net.backward_owned(grad)?;
            let flow = GradientFlow::measure(&mut net);
            assert!(flow.problems().is_empty(), "{flow}");
            assert_eq!(flow.layers().len(), 3);
            for path in ["0", "2"] {
                let g = flow.layer(path).unwrap().gradient().unwrap();
                assert!(g.is_finite() && g.norm > 0.0 && g.relative_norm().unwrap() > 0.0);
            }
            assert!(
                flow.layer("1").unwrap().dead_fraction.unwrap() < 0.5,
                "{flow}"
            );
            train_epoch(&mut net, &mut adam, train.samples(), 32, &mut rng)?;
        }
        let e = evaluate(&net, test.samples())?;
        let learned = format!("accuracy {}, loss {}, dead {}", e.accuracy, e.loss, e.dead);
        assert!(e.accuracy > 0.9, "{learned}");
    }
    Ok(())
}

#[test]
fn a_healthy_deep_mlp_and_the_spirals_net_raise_no_problem() {
    let mut deep = sequential(mlp(&[2, 64, 64, 32, 32, 3], 1));
    let flow = measure(&mut deep);
    assert!(flow.problems().is_empty(), "{flow}");
    assert_eq!(flow.layers().len(), 9);
    let mut small = spirals::mlp(ReluLayer::new(), 2);
    let flow = measure(&mut small);
    assert!(flow.problems().is_empty(), "{flow}");
}

#[test]
fn each_break_is_flagged_at_the_dense_layer_below_it_and_nowhere_else() {
    // Dense at 0, 2, 4 and 6; the break goes in at every position. The
    // gradient it breaks reaches every layer before it, and is flagged at
    // the dense layer right before it alone: that one at the top, through
    // the absolute bounds; none below the first.
    for (factor, kind) in BREAKS {
        for at in 0..=7 {
            let mut layers = mlp(&[2, 32, 32, 16, 3], 4);
            layers.insert(at, Box::new(Break { factor }));
            let flow = measure(&mut sequential(layers));
            let below = [0, 2, 4, 6].into_iter().filter(|&k| k < at).max();
            let expected: Vec<_> = below
                .map(|k| problem(&k.to_string(), kind))
                .into_iter()
                .collect();
            assert_eq!(flow.problems(), expected, "×{factor} at {at}\n{flow}");
            assert_eq!(flow.layer(&at.to_string()).unwrap().type_name, "Break");
        }
    }
}

#[test]
fn a_milder_break_needs_a_tighter_jump() {
    let mut layers = mlp(&[2, 32, 32, 3], 5);
    layers.insert(3, Box::new(Break { factor: 1e4 }));
    let mut net = sequential(layers);
    assert!(measure(&mut net).problems().is_empty());
    let tight = FlowThresholds::default().with_jump(1e3).unwrap();
    let flow = GradientFlow::measure_with(&mut net, &tight);
    assert_eq!(flow.problems(), [problem("2", FlowProblemKind::Exploding)]);
}

#[test]
fn a_layer_of_dead_units_is_flagged_and_the_zero_gradients_below_it_are_not() {
    // Dense 2's bias pushes every unit of the ReLU at 3 below zero: Dense 2
    // and Dense 0 then get no gradient, because of it.
    let mut net = sequential(mlp(&[2, 32, 32, 3], 6));
    net.forward(&spirals().0).unwrap();
    let mut params = net.params();
    params[3].value.fill(-100.0);
    drop(params);
    let flow = measure(&mut net);
    assert_eq!(
        flow.problems(),
        [problem("3", FlowProblemKind::AllDead)],
        "{flow}"
    );
    assert_eq!(flow.layer("3").unwrap().dead_fraction, Some(1.0));
    assert!(flow.layer("2").unwrap().gradient().unwrap().is_zero());
    assert!(flow.layer("0").unwrap().gradient().unwrap().is_zero());

    // Half of them dead is a figure, not a problem.
    let mut net = sequential(mlp(&[2, 32, 32, 3], 6));
    net.forward(&spirals().0).unwrap();
    let mut params = net.params();
    params[3]
        .value
        .iter_mut()
        .step_by(2)
        .for_each(|b| *b = -100.0);
    drop(params);
    let flow = measure(&mut net);
    assert!(flow.problems().is_empty(), "{flow}");
    // The units whose bias was pushed down, and any dead of themselves.
    let dead = flow.layer("3").unwrap().dead_fraction.unwrap();
    assert!((0.5..0.75).contains(&dead), "{flow}");
    assert_eq!(dead * 32.0, (dead * 32.0).round());
}

#[test]
fn nested_sequentials_are_walked_and_a_break_flags_the_layer_below_it_across_them() {
    // 0 Dense, 1 ReLU, 2 [0 Dense, 1 ReLU, 2 Break, 3 Dense], 3 Break,
    // 4 ReLU, 5 Dense: the inner break with `inner`, the outer one else.
    let make = |factor: f64, inner: bool| {
        let factors = if inner { (factor, 1.0) } else { (1.0, factor) };
        let mut rng = StdRng::seed_from_u64(7);
        let mut nested = Sequential::new();
        nested
            .push(DenseLayer::new(16, 16, &mut rng))
            .push(ReluLayer::new())
            .push(Break { factor: factors.0 })
            .push(DenseLayer::new(16, 16, &mut rng));
        let mut outer = Sequential::new();
        outer
            .push(DenseLayer::new(2, 16, &mut rng))
            .push(ReluLayer::new())
            .push(nested)
            .push(Break { factor: factors.1 })
            .push(ReluLayer::new())
            .push(DenseLayer::new(16, 3, &mut rng));
        outer
    };
    let flow = measure(&mut make(1.0, true));
    let paths: Vec<&str> = flow.layers().iter().map(|l| l.path.as_str()).collect();
    assert_eq!(paths, ["0", "1", "2.0", "2.1", "2.2", "2.3", "3", "4", "5"]);
    assert!(flow.problems().is_empty(), "{flow}");
    for (factor, kind) in BREAKS {
        let flow = measure(&mut make(factor, true));
        assert_eq!(flow.problems(), [problem("2.0", kind)], "×{factor}\n{flow}");
        let flow = measure(&mut make(factor, false));
        assert_eq!(flow.problems(), [problem("2.3", kind)], "×{factor}\n{flow}");
    }
}

#[test]
fn layers_written_outside_the_crate_are_measured_and_named() {
    let mut rng = StdRng::seed_from_u64(8);
    let mut net = Sequential::new();
    net.push(DenseLayer::new(2, 8, &mut rng))
        .push(Box::new(ReluLayer::new()) as Box<dyn Layer>)
        .push(feature_scale(8, true))
        .push(Break { factor: 1.0 })
        .push(DenseLayer::new(8, 3, &mut rng));
    let flow = measure(&mut net);
    assert!(flow.problems().is_empty(), "{flow}");
    let names: Vec<&str> = flow.layers().iter().map(|l| l.type_name.as_str()).collect();
    assert_eq!(
        names,
        [
            "DenseLayer",
            "ReluLayer",
            "FeatureScale",
            "Break",
            "DenseLayer"
        ]
    );
    // The boxed ReLU's mask, seen through the box.
    assert!(flow.layer("1").unwrap().dead_fraction.is_some());
    let scale = flow.layer("2").unwrap();
    assert_eq!(scale.params.len(), 1);
    assert_eq!(scale.params[0].elements, 8);
    assert_eq!(scale.gradient(), Some(scale.params[0]));
    assert_eq!(scale.dead_fraction, None);
    let breaks = flow.layer("3").unwrap();
    assert!(breaks.params.is_empty() && breaks.gradient().is_none());
    // The dense layer's two parameters, together.
    let dense = flow.layer("0").unwrap();
    let (w, b) = (dense.params[0], dense.params[1]);
    let g = dense.gradient().unwrap();
    assert_eq!((g.elements, g.zeros), (16 + 8, w.zeros + b.zeros));
    assert!((g.norm - w.norm.hypot(b.norm)).abs() <= 1e-15 * g.norm);
    assert_eq!(g.max_abs, w.max_abs.max(b.max_abs));

    // A layer of your own that forgets its parameter's gradient.
    let mut net = Sequential::new();
    net.push(DenseLayer::new(2, 8, &mut rng))
        .push(ReluLayer::new())
        .push(feature_scale(8, false))
        .push(DenseLayer::new(8, 3, &mut rng));
    let flow = measure(&mut net);
    assert_eq!(
        flow.problems(),
        [problem("2", FlowProblemKind::NoGradient)],
        "{flow}"
    );
}

#[test]
fn before_any_backward_only_the_last_parametric_layer_has_no_gradient() {
    let mut net = sequential(mlp(&[2, 8, 8, 3], 9));
    let flow = GradientFlow::measure(&mut net);
    assert_eq!(flow.problems(), [problem("4", FlowProblemKind::NoGradient)]);
    assert_eq!(flow.layer("1").unwrap().dead_fraction, None);
    let flow = GradientFlow::measure(&mut Sequential::<f64>::new());
    assert!(flow.layers().is_empty() && flow.problems().is_empty());
}

#[test]
fn display_is_a_table_of_every_layer_with_its_problem() {
    let mut layers = mlp(&[2, 16, 16, 3], 10);
    layers.insert(3, Box::new(Break { factor: 1e12 }));
    let flow = measure(&mut sequential(layers));
    let text = flow.to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "gradient flow: 1 problem in 6 layers", "{text}");
    for header in [
        "path",
        "type",
        "grad norm",
        "max |g|",
        "zeros",
        "relative",
        "dead",
    ] {
        assert!(lines[1].contains(header), "{text}");
    }
    assert_eq!(lines.len(), 2 + 6, "{text}");
    // Rows: 0 Dense, 1 ReLU, 2 Dense (broken), 3 Break, 4 ReLU, 5 Dense.
    assert!(
        lines[4].starts_with("2  ") && lines[4].ends_with("  Exploding"),
        "{text}"
    );
    assert!(
        lines[3].starts_with("1  ") && lines[3].contains("ReluLayer"),
        "{text}"
    );
    assert!(
        lines[5].contains("Break") && lines[5].ends_with("  -"),
        "{text}"
    );
    assert_eq!(flow.problems()[0].to_string(), "layer 2: Exploding");
}

#[test]
fn thresholds_are_validated_and_errors_name_the_value() {
    let t = FlowThresholds::default();
    assert_eq!(
        (t.jump(), t.min_relative(), t.max_relative()),
        (1e6, 1e-10, 1e4)
    );
    for jump in [1.0, 0.5, -3.0, f64::NAN, f64::INFINITY] {
        let err = t.with_jump(jump).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("FlowThresholds: invalid jump = "),
            "{err}"
        );
    }
    let err = t.with_relative_range(-1e-3, 1.0).unwrap_err();
    assert_eq!(
        err.to_string(),
        "FlowThresholds: invalid min_relative = -0.001: must be finite and non-negative"
    );
    let err = t.with_relative_range(0.0, f64::INFINITY).unwrap_err();
    assert_eq!(
        err.to_string(),
        "FlowThresholds: invalid max_relative = inf: must be finite"
    );
    let err = t.with_relative_range(2.0, 2.0).unwrap_err();
    assert_eq!(
        err.to_string(),
        "FlowThresholds: invalid max_relative = 2: must be above min_relative = 2"
    );
    let t = t
        .with_jump(10.0)
        .unwrap()
        .with_relative_range(0.0, 1.0)
        .unwrap();
    assert_eq!(
        (t.jump(), t.min_relative(), t.max_relative()),
        (10.0, 0.0, 1.0)
    );
}
