//! GradCheck on a Sequential checks each layer at the input that reaches it
//! and names the layer whose own backward is wrong: its path, its type and
//! its parameter, never the layers before it.

use rectify::ndarray::{array, Array1, Array2, ArrayRef2, Axis};
use rectify::rand::{rngs::StdRng, SeedableRng};
use rectify::{
    DenseLayer, GradArray, GradCheck, GradCheckReport, Layer, LayerError, LeakyReluLayer, Param,
    ReluLayer, Result, Sequential,
};

/// `y = factor·x`; with `forgetful`, backward forgets the factor.
struct Scale {
    factor: f64,
    forgetful: bool,
}

fn scale(factor: f64) -> Scale {
    Scale {
        factor,
        forgetful: false,
    }
}

fn forgetful(factor: f64) -> Scale {
    Scale {
        factor,
        forgetful: true,
    }
}

impl Layer for Scale {
    fn forward(&mut self, x: &ArrayRef2<f64>) -> Result<Array2<f64>> {
        self.predict(x)
    }
    fn backward(&mut self, g: &ArrayRef2<f64>) -> Result<Array2<f64>> {
        Ok(if self.forgetful {
            g.to_owned()
        } else {
            g * self.factor
        })
    }
    fn predict(&self, x: &ArrayRef2<f64>) -> Result<Array2<f64>> {
        Ok(x * self.factor)
    }
}

/// `y = x ⊙ s`, a learnable scale per feature; with `mean_grad`, the
/// scale's gradient is averaged over the batch instead of summed.
struct FeatureScale {
    s: Array1<f64>,
    ds: Array1<f64>,
    input: Option<Array2<f64>>,
    mean_grad: bool,
}

fn feature_scale(s: Array1<f64>, mean_grad: bool) -> FeatureScale {
    FeatureScale {
        ds: Array1::zeros(s.len()),
        s,
        input: None,
        mean_grad,
    }
}

impl Layer for FeatureScale {
    fn forward(&mut self, x: &ArrayRef2<f64>) -> Result<Array2<f64>> {
        let y = self.predict(x)?;
        self.input = Some(x.to_owned());
        Ok(y)
    }
    fn backward(&mut self, g: &ArrayRef2<f64>) -> Result<Array2<f64>> {
        let x: &ArrayRef2<f64> = self
            .input
            .as_ref()
            .ok_or(LayerError::BackwardBeforeForward {
                layer: "FeatureScale",
            })?;
        let xg = x * g;
        self.ds = if self.mean_grad {
            xg.mean_axis(Axis(0)).unwrap()
        } else {
            xg.sum_axis(Axis(0))
        };
        Ok(g * &*self.s)
    }
    fn predict(&self, x: &ArrayRef2<f64>) -> Result<Array2<f64>> {
        if x.ncols() != self.s.len() {
            let message = format!("{} columns, expected {}", x.ncols(), self.s.len());
            return Err(LayerError::custom("FeatureScale", message));
        }
        Ok(x * &*self.s)
    }
    fn params(&mut self) -> Vec<Param<'_>> {
        vec![Param {
            value: self.s.view_mut().into_dyn(),
            grad: self.ds.view().into_dyn(),
        }]
    }
}

/// Two samples of three features, none near a kink of the networks below.
fn x() -> Array2<f64> {
    array![[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]]
}

fn dense(inputs: usize, outputs: usize, seed: u64) -> DenseLayer {
    DenseLayer::new(inputs, outputs, &mut StdRng::seed_from_u64(seed))
}

fn check(net: &mut Sequential) -> GradCheckReport {
    GradCheck::default().check(net, &x()).unwrap()
}

/// Dense(3→4), LeakyReLU, Dense(4→4), ReLU, with `extra` inserted at `k`.
fn net_with(k: usize, extra: impl Layer + 'static) -> Sequential {
    let mut layers: Vec<Box<dyn Layer>> = vec![
        Box::new(dense(3, 4, 1)),
        Box::new(LeakyReluLayer::new(0.1).unwrap()),
        Box::new(dense(4, 4, 2)),
        Box::new(ReluLayer::new()),
    ];
    layers.insert(k, Box::new(extra));
    let mut net = Sequential::new();
    for layer in layers {
        net.push(layer);
    }
    net
}

#[test]
fn a_wrong_backward_is_named_at_its_layer_and_nowhere_else() {
    for k in 0..=4 {
        let report = check(&mut net_with(k, forgetful(3.0)));
        assert!(!report.passed(), "k = {k}: {report}");
        assert_eq!(report.failing_layers(), vec![k.to_string()], "{report}");
        assert_eq!(report.worst_layer(), Some(k.to_string().as_str()));
        assert_eq!(report.worst().unwrap().array, GradArray::Input);
        let text = report.to_string();
        // Pushed in a box, the layer is still named by its own type.
        let named =
            format!("out of tolerance in layer {k} (Scale); worst: layer {k} (Scale) input [");
        assert!(text.contains(&named), "{text}");

        let report = check(&mut net_with(k, scale(3.0)));
        assert!(report.passed(), "k = {k}: {report}");
        assert!(report.failing_layers().is_empty(), "{report}");
    }

    let mut net = Sequential::new();
    net.push(dense(3, 4, 1))
        .push(ReluLayer::new())
        .push(forgetful(2.0))
        .push(dense(4, 2, 2));
    let report = check(&mut net);
    assert_eq!(report.failing_layers(), vec!["2"]);
    assert!(
        report
            .to_string()
            .contains("worst: layer 2 (Scale) input ["),
        "{report}"
    );
    // The elements of every layer are counted: 6 + 12 + 4, 8, 8, 8 + 8 + 2.
    assert_eq!(report.checked() + report.skipped(), 56, "{report}");
    // Only the Scale's input elements are wrong, and each of them is.
    assert_eq!(report.failed(), 8, "{report}");
}

#[test]
fn a_layer_in_a_nested_sequential_is_named_by_its_path() {
    let mut inner = Sequential::new();
    inner.push(forgetful(-2.0)).push(ReluLayer::new());
    let mut net = Sequential::new();
    net.push(dense(3, 4, 1)).push(inner).push(dense(4, 2, 2));
    let report = check(&mut net);
    assert_eq!(report.failing_layers(), vec!["1.0"], "{report}");
    assert_eq!(report.worst_layer(), Some("1.0"));
    assert!(
        report
            .to_string()
            .contains("in layer 1.0 (Scale); worst: layer 1.0 (Scale) input ["),
        "{report}"
    );

    // Deeper, boxed, and next to an empty Sequential (the identity, checked
    // as one layer); two failing layers are both listed, in order.
    let mut deepest = Sequential::new();
    deepest.push(scale(0.5)).push(forgetful(4.0));
    let mut middle = Sequential::new();
    middle.push(ReluLayer::new()).push(deepest);
    let boxed: Box<dyn Layer> = Box::new(middle);
    let mut net = Sequential::new();
    net.push(Sequential::new())
        .push(dense(3, 4, 1))
        .push(boxed)
        .push(forgetful(0.5));
    let report = check(&mut net);
    assert_eq!(report.failing_layers(), vec!["2.1.1", "3"], "{report}");
    assert!(
        report
            .to_string()
            .contains(" in layers 2.1.1 (Scale), 3 (Scale); "),
        "{report}"
    );

    let mut inner = Sequential::new();
    inner.push(scale(-2.0)).push(ReluLayer::new());
    let mut net = Sequential::new();
    net.push(dense(3, 4, 1)).push(inner).push(dense(4, 2, 2));
    let report = check(&mut net);
    assert!(report.passed(), "{report}");
    assert!(report.failing_layers().is_empty());
}

#[test]
fn a_wrong_parameter_gradient_is_named_with_its_parameter() {
    let mut net = Sequential::new();
    net.push(dense(3, 3, 1))
        .push(LeakyReluLayer::new(0.1).unwrap())
        .push(feature_scale(array![1.5, -0.5, 2.0], true));
    let report = check(&mut net);
    assert_eq!(report.failing_layers(), vec!["2"], "{report}");
    let worst = report.worst().unwrap();
    assert_eq!(worst.array, GradArray::Param(0), "{report}");
    assert!(
        report
            .to_string()
            .contains("worst: layer 2 (FeatureScale) parameter 0 ["),
        "{report}"
    );
    // Only the scale's three gradients are wrong: its input gradient is right.
    assert_eq!(report.failed(), 3, "{report}");

    let mut net = Sequential::new();
    net.push(dense(3, 3, 1))
        .push(LeakyReluLayer::new(0.1).unwrap())
        .push(feature_scale(array![1.5, -0.5, 2.0], false));
    assert!(check(&mut net).passed());
}

#[test]
fn a_kink_downstream_hides_nothing_upstream() {
    // Row 0's first pre-activation is 1·0.5 + (−0.5) = 0 exactly. Checked
    // through the whole network, every input of row 0, W[0][0] and b[0]
    // would cross ReLU's kink; layer by layer only the ReLU's input at 0 is
    // skipped.
    let w = array![[0.5, -1.2, 0.3], [0.8, 0.1, -0.7], [-0.4, 0.9, 1.1]];
    let b = array![-0.5, -0.2, 0.3];
    let mut net = Sequential::new();
    net.push(DenseLayer::from_parts(w, b).unwrap())
        .push(ReluLayer::new());
    let x = array![[1.0, 0.0, 0.0], [0.3, -1.2, 2.0]];
    let report = GradCheck::default().check(&mut net, &x).unwrap();
    assert!(report.passed(), "{report}");
    assert_eq!((report.checked(), report.skipped()), (6 + 9 + 3 + 5, 1));
}

#[test]
fn errors_name_the_layer_and_the_network_keeps_its_parameters_and_a_pass() {
    // Layer 0 overflows to infinity: layer 1 cannot be checked there.
    let mut net = Sequential::new();
    net.push(scale(1e308)).push(ReluLayer::new());
    let err = GradCheck::default()
        .check(&mut net, &array![[10.0, 1.0]])
        .unwrap_err();
    assert!(
        matches!(err, LayerError::InSequential { index: 1, .. }),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .starts_with("Sequential layer 1: GradCheck: invalid input element = inf"),
        "{err}"
    );

    // A user layer's own error, nested.
    let mut inner = Sequential::new();
    inner.push(feature_scale(array![1.0, 2.0], false));
    let mut net = Sequential::new();
    net.push(ReluLayer::new()).push(inner);
    let err = GradCheck::default().check(&mut net, &x()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Sequential layer 1: Sequential layer 0: FeatureScale: 3 columns, expected 2"
    );

    // After a check, parameters are bit for bit as before, and the network
    // holds a pass of its own: backward works without a new forward.
    let mut net = Sequential::new();
    net.push(dense(3, 4, 1))
        .push(feature_scale(array![0.1 + 0.2, -0.0, 1e-3, 7.0], false))
        .push(dense(4, 2, 2));
    let bits = |net: &mut Sequential| -> Vec<u64> {
        net.params()
            .iter()
            .flat_map(|p| p.value.iter().map(|v| v.to_bits()).collect::<Vec<_>>())
            .collect()
    };
    let before = bits(&mut net);
    assert!(check(&mut net).passed());
    let dx = net.backward(&array![[1.0, 0.0], [0.0, 1.0]]).unwrap();
    assert_eq!(dx.dim(), (2, 3));
    assert!(
        net.backward(&array![[1.0, 0.0]]).is_err(),
        "the pass's shape"
    );
    // (Reading the parameters through params() makes that pass stale.)
    assert_eq!(bits(&mut net), before);
}

#[test]
fn a_single_layer_report_names_no_layer() {
    let report = GradCheck::default()
        .check(&mut forgetful(3.0), &x())
        .unwrap();
    assert!(!report.passed());
    assert!(report.failing_layers().is_empty());
    assert_eq!(report.worst_layer(), None);
    assert!(
        report
            .to_string()
            .contains("out of tolerance; worst: input ["),
        "{report}"
    );
    // An empty Sequential is the identity, checked as one layer.
    let report = GradCheck::default()
        .check(&mut Sequential::new(), &x())
        .unwrap();
    assert!(report.passed() && report.failing_layers().is_empty());
    assert_eq!(report.worst_layer(), None);
}
