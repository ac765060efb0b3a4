//! Gradient flow: `GradCheck` agrees with every layer's `backward` (every
//! member of the rectifier family and Dense), alone and chained into MLPs, on standard, transposed and sliced inputs; and a
//! layer whose backward is off by 1% inside a `Sequential` is caught, and
//! named.

use ndarray_rand::rand_distr::StandardNormal;
use ndarray_rand::RandomExt;
use rectify::ndarray::{s, Array2, ArrayRef2};
use rectify::rand::{rngs::StdRng, SeedableRng};
use rectify::{
    ClippedReluLayer, DenseLayer, GradArray, GradCheck, Layer, LeakyReluLayer, PReluLayer, Param,
    RReluLayer, ReluLayer, Result, Sequential, ThresholdLayer,
};

/// A named maker of one rectifier.
type Activation = (&'static str, fn() -> Box<dyn Layer>);

/// Every member of the family under test: ReLU, Leaky ReLU with the
/// default slope, a large one and a negative one, clipped ReLU with a cap
/// that normal inputs cross, a threshold, PReLU (its slope checked too),
/// and RReLU with equal bounds (the checker differentiates `predict`, which
/// uses the mean slope, so only then is it the forward's function).
const ACTIVATIONS: [Activation; 9] = [
    ("relu", || Box::new(ReluLayer::new())),
    ("leaky 0.01", || Box::new(LeakyReluLayer::default())),
    ("leaky 0.2", || Box::new(LeakyReluLayer::new(0.2).unwrap())),
    ("leaky -0.3", || {
        Box::new(LeakyReluLayer::new(-0.3).unwrap())
    }),
    ("clipped 1", || {
        Box::new(ClippedReluLayer::new(1.0).unwrap())
    }),
    ("relu6", || Box::new(ClippedReluLayer::relu6())),
    ("threshold", || {
        Box::new(ThresholdLayer::new(0.3, -2.0).unwrap())
    }),
    ("prelu", || Box::new(PReluLayer::new(1, -0.3).unwrap())),
    ("rrelu", || Box::new(RReluLayer::new(0.2, 0.2).unwrap())),
];

/// Dense layers `widths[0] → widths[1] → …` with the activation `make`
/// between them (none after the last), He-initialised from `seed`.
fn mlp(widths: &[usize], make: fn() -> Box<dyn Layer>, seed: u64) -> Sequential {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut net = Sequential::new();
    for (i, pair) in widths.windows(2).enumerate() {
        if i > 0 {
            net.push(make());
        }
        net.push(DenseLayer::new(pair[0], pair[1], &mut rng));
    }
    net
}

/// Standard-normal `(rows, cols)` values drawn from `seed`.
fn normal(rows: usize, cols: usize, seed: u64) -> Array2<f64> {
    Array2::random_using(
        (rows, cols),
        StandardNormal,
        &mut StdRng::seed_from_u64(seed),
    )
}

/// The same batch of `rows × cols` inputs in three layouts: standard, a
/// transposed view, and a strided slice (every other row, columns reversed)
/// of a larger array.
struct Layouts {
    standard: Array2<f64>,
    transposed: Array2<f64>,
    strided: Array2<f64>,
}

impl Layouts {
    fn new(rows: usize, cols: usize, seed: u64) -> Self {
        Layouts {
            standard: normal(rows, cols, seed),
            transposed: normal(cols, rows, seed + 1),
            strided: normal(2 * rows, cols, seed + 2),
        }
    }

    /// Runs `test` on each layout, with the layout's name.
    fn each(&self, mut test: impl FnMut(&str, &ArrayRef2<f64>)) {
        test("standard", &self.standard);
        let transposed = self.transposed.t();
        assert!(!transposed.is_standard_layout());
        test("transposed", &transposed);
        let strided = self.strided.slice(s![..;2, ..;-1]);
        assert!(!strided.is_standard_layout());
        test("strided", &strided);
    }
}

/// Checks `layer` at `x` and asserts the check passed having compared at
/// least 90% of the input and parameter elements (random inputs rarely sit
/// within eps of a kink); `hidden` more input elements for a network,
/// checked layer by layer: the inputs of its layers after the first.
fn assert_gradients_flow(layer: &mut dyn Layer, x: &ArrayRef2<f64>, hidden: usize, what: &str) {
    let params = layer.params().iter().map(|p| p.value.len()).sum::<usize>();
    let elements = x.len() + hidden + params;
    let report = GradCheck::default().check(layer, x).unwrap();
    assert!(report.passed(), "{what}: {report}");
    assert_eq!(
        report.checked() + report.skipped(),
        elements,
        "{what}: {report}"
    );
    assert!(
        report.checked() * 10 >= elements * 9,
        "{what}: only {} of {elements} elements checked: {report}",
        report.checked()
    );
}

/// The fraction of `dense`'s weight gradient that is non-zero.
fn nonzero_weight_grads(dense: &DenseLayer) -> f64 {
    let grad = dense.weights_grad();
    grad.iter().filter(|&&g| g != 0.0).count() as f64 / grad.len() as f64
}

#[test]
fn each_activation_alone() {
    let inputs = Layouts::new(6, 5, 10);
    for (name, make) in ACTIVATIONS {
        let mut layer = make();
        inputs.each(|layout, x| {
            assert_gradients_flow(layer.as_mut(), x, 0, &format!("{name}, {layout}"));
        });
    }
}

#[test]
fn dense_alone() {
    let inputs = Layouts::new(6, 4, 20);
    let mut dense = DenseLayer::new(4, 3, &mut StdRng::seed_from_u64(21));
    inputs.each(|layout, x| {
        assert_gradients_flow(&mut dense, x, 0, layout);
        assert_eq!(nonzero_weight_grads(&dense), 1.0, "{layout}");
    });
}

#[test]
fn two_dense_layers_with_each_activation() {
    let inputs = Layouts::new(8, 4, 30);
    for (name, make) in ACTIVATIONS {
        let mut net = mlp(&[4, 6, 3], make, 31);
        inputs.each(|layout, x| {
            // The activation's input and the second dense layer's.
            let hidden = 8 * (6 + 6);
            assert_gradients_flow(&mut net, x, hidden, &format!("{name}, {layout}"));
            // The gradient reached the first layer, not just the last.
            let first: &DenseLayer = net.layer(0).unwrap();
            assert!(nonzero_weight_grads(first) > 0.5, "{name}, {layout}");
        });
    }
}

#[test]
fn three_dense_layers_with_each_activation() {
    let inputs = Layouts::new(8, 4, 40);
    for (name, make) in ACTIVATIONS {
        let mut net = mlp(&[4, 7, 5, 3], make, 41);
        inputs.each(|layout, x| {
            let hidden = 8 * (7 + 7 + 5 + 5);
            assert_gradients_flow(&mut net, x, hidden, &format!("{name}, {layout}"));
            let first: &DenseLayer = net.layer(0).unwrap();
            assert!(nonzero_weight_grads(first) > 0.5, "{name}, {layout}");
        });
    }
}

/// A correct layer whose backward returns its gradient times `scale`.
struct ScaledBackward<L> {
    inner: L,
    scale: f64,
}

impl<L: Layer> Layer for ScaledBackward<L> {
    fn forward(&mut self, input: &ArrayRef2<f64>) -> Result<Array2<f64>> {
        self.inner.forward(input)
    }
    fn backward(&mut self, grad_output: &ArrayRef2<f64>) -> Result<Array2<f64>> {
        Ok(self.inner.backward(grad_output)? * self.scale)
    }
    fn predict(&self, input: &ArrayRef2<f64>) -> Result<Array2<f64>> {
        self.inner.predict(input)
    }
    fn params(&mut self) -> Vec<Param<'_>> {
        self.inner.params()
    }
}

/// Dense → ReLU (backward scaled by `scale`) → Dense.
fn net_with_scaled_relu(scale: f64) -> Sequential {
    let mut rng = StdRng::seed_from_u64(51);
    let mut net = Sequential::new();
    net.push(DenseLayer::new(4, 6, &mut rng))
        .push(ScaledBackward {
            inner: ReluLayer::new(),
            scale,
        })
        .push(DenseLayer::new(6, 3, &mut rng));
    net
}

#[test]
fn a_backward_off_by_one_percent_inside_a_sequential_is_caught() {
    let x = normal(8, 4, 50);
    let check = GradCheck::default();

    // The control: the same network with an honest backward passes.
    let report = check.check(&mut net_with_scaled_relu(1.0), &x).unwrap();
    assert!(report.passed(), "{report}");

    let mut net = net_with_scaled_relu(1.01);
    let report = check.check(&mut net, &x).unwrap();
    assert!(!report.passed(), "not caught: {report}");
    // Checked layer by layer, only the ReLU's own check fails, at each
    // input element where it is active: its input gradient is 1% off
    // there. The first layer, whose gradients in the whole network are 1%
    // off because of it, is not blamed, nor is the last.
    assert_eq!(report.failing_layers(), vec!["1"], "{report}");
    let first: &DenseLayer = net.layer(0).unwrap();
    let active = first
        .predict(&x)
        .unwrap()
        .iter()
        .filter(|&&v| v > 0.0)
        .count();
    assert!(active > 0 && active < 48);
    assert_eq!(report.failed(), active, "{report}");
    // Dense 4 → 6 (32 inputs, 24 + 6 parameters), the ReLU's 48 inputs,
    // Dense 6 → 3 (48 inputs, 18 + 3 parameters).
    assert_eq!(
        report.checked(),
        (32 + 24 + 6) + 48 + (48 + 18 + 3),
        "{report}"
    );
    assert_eq!(report.worst_layer(), Some("1"));
    let worst = report.worst().unwrap();
    assert_eq!(worst.array, GradArray::Input, "{report}");
    assert!(
        report
            .to_string()
            .contains("worst: layer 1 (ScaledBackward<Rectifier<Relu>>) input ["),
        "{report}"
    );
    // A 1% error in the gradient, not a kink.
    let ratio = worst.analytic / worst.numeric;
    assert!((ratio - 1.01).abs() < 1e-4, "{report}");
}
