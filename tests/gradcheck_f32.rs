//! GradCheck on `f32` networks, with `f32`'s default step and tolerances
//! (eps 2⁻⁸, atol = rtol = 2⁻¹⁰; see `GradCheck`): a correct MLP of Dense,
//! ReLU, LeakyReLU and PReLU layers passes for every seed tried, and a
//! layer of one's own whose backward is off by 1% (its input gradient or
//! its parameter gradient) is caught and named by its path.
//!
//! Measured over 200 seeds of this file's network (input, weights and
//! upstream gradient), the worst correct element used 0.29 of its
//! tolerance, and the best-hidden 1% error exceeded its tolerance 6.8
//! times: the defaults leave a margin of more than 3 either way.

use rectify::ndarray::{Array1, Array2, ArrayRef2, Axis};
use rectify::rand::{rngs::StdRng, Rng, SeedableRng};
use rectify::{
    DenseLayer, GradArray, GradCheck, Layer, LayerError, LeakyReluLayer, PReluLayer, Param,
    ReluLayer, Result, Sequential,
};

/// `y = x ⊙ s`, a learnable scale per feature, in `f32`; its backward
/// multiplies the input gradient by `dx_factor` and the scale's gradient by
/// `ds_factor` (1 for a correct layer).
struct FeatureScale {
    s: Array1<f32>,
    ds: Array1<f32>,
    input: Option<Array2<f32>>,
    dx_factor: f32,
    ds_factor: f32,
}

impl Layer<f32> for FeatureScale {
    fn forward(&mut self, x: &ArrayRef2<f32>) -> Result<Array2<f32>> {
        let y = self.predict(x)?;
        self.input = Some(x.to_owned());
        Ok(y)
    }
    fn backward(&mut self, g: &ArrayRef2<f32>) -> Result<Array2<f32>> {
        let x: &ArrayRef2<f32> = self
            .input
            .as_ref()
            .ok_or(LayerError::BackwardBeforeForward {
                layer: "FeatureScale",
            })?;
        let ds_factor = self.ds_factor;
        self.ds = (x * g).sum_axis(Axis(0)).mapv(|v| v * ds_factor);
        Ok((g * &*self.s).mapv(|v| v * self.dx_factor))
    }
    fn predict(&self, x: &ArrayRef2<f32>) -> Result<Array2<f32>> {
        Ok(x * &*self.s)
    }
    fn params(&mut self) -> Vec<Param<'_, f32>> {
        vec![Param {
            value: self.s.view_mut().into_dyn(),
            grad: self.ds.view().into_dyn(),
        }]
    }
}

/// An `f32` array of `shape` of roughly standard normal values (the sum
/// of 12 uniforms, less 6).
fn normal(rng: &mut StdRng, shape: (usize, usize)) -> Array2<f32> {
    Array2::from_shape_fn(shape, |_| {
        let v: f64 = (0..12).map(|_| rng.random::<f64>()).sum::<f64>() - 6.0;
        v as f32
    })
}

/// Dense(8→16), ReLU, Dense(16→16), LeakyReLU(0.1), Dense(16→16),
/// PReLU(16), Dense(16→4), He-normal weights and random slopes from
/// `seed`, with a `FeatureScale` of the given factors inserted at 3 if
/// `scale`; and a batch of 8 inputs.
fn mlp(seed: u64, scale: Option<(f32, f32)>) -> (Sequential<f32>, Array2<f32>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let slopes = Array1::from_shape_fn(16, |_| rng.random_range(-0.3f32..0.5));
    let mut layers: Vec<Box<dyn Layer<f32>>> = vec![
        Box::new(DenseLayer::<f32>::new(8, 16, &mut rng)),
        Box::new(ReluLayer::new()),
        Box::new(DenseLayer::<f32>::new(16, 16, &mut rng)),
        Box::new(LeakyReluLayer::new(0.1).unwrap()),
        Box::new(DenseLayer::<f32>::new(16, 16, &mut rng)),
        Box::new(PReluLayer::<f32>::from_slopes(slopes).unwrap()),
        Box::new(DenseLayer::<f32>::new(16, 4, &mut rng)),
    ];
    if let Some((dx_factor, ds_factor)) = scale {
        let s = Array1::from_shape_fn(16, |_| rng.random_range(0.5f32..1.5));
        layers.insert(
            3,
            Box::new(FeatureScale {
                ds: Array1::zeros(16),
                s,
                input: None,
                dx_factor,
                ds_factor,
            }),
        );
    }
    let mut net = Sequential::<f32>::new();
    for layer in layers {
        net.push(layer);
    }
    let x = normal(&mut rng, (8, 8));
    (net, x)
}

#[test]
fn the_defaults_in_f32_are_derived_from_its_epsilon_and_f64s_are_unchanged() {
    let c = GradCheck::default();
    assert_eq!(
        (c.eps_in::<f32>(), c.atol_in::<f32>(), c.rtol_in::<f32>()),
        (2f64.powi(-8), 2f64.powi(-10), 2f64.powi(-10))
    );
    // 2⁻⁸ is the power of two nearest ε^(1/3); 2⁻¹⁰ is 32·ε / eps.
    let eps = f64::from(f32::EPSILON);
    assert_eq!(eps.cbrt().log2().round(), -8.0);
    assert_eq!(32.0 * eps / c.eps_in::<f32>(), c.atol_in::<f32>());
    assert_eq!((c.eps(), c.atol(), c.rtol()), (1e-6, 1e-5, 1e-3));
    assert_eq!(
        (c.eps_in::<f64>(), c.atol_in::<f64>(), c.rtol_in::<f64>()),
        (1e-6, 1e-5, 1e-3)
    );
    // Set values hold for both types.
    let set = c.with_eps(1e-3).unwrap().with_atol(0.5).unwrap();
    assert_eq!((set.eps_in::<f32>(), set.eps_in::<f64>()), (1e-3, 1e-3));
    assert_eq!(
        (set.atol_in::<f32>(), set.rtol_in::<f32>()),
        (0.5, 2f64.powi(-10))
    );
}

#[test]
fn a_correct_f32_mlp_passes_with_the_defaults() -> Result<()> {
    for seed in 0..20 {
        let (mut net, x) = mlp(seed, None);
        let before: Vec<Vec<u32>> = (net.params().iter())
            .map(|p| p.value.iter().map(|v| v.to_bits()).collect())
            .collect();
        let report = GradCheck::default().with_seed(seed).check(&mut net, &x)?;
        assert!(report.passed(), "seed {seed}: {report}");
        assert!(report.failing_layers().is_empty());
        // Dense: 8·8 + 16·8 + 16, 8·16 + 16·16 + 16 twice, 8·16 + 16·4 + 4;
        // the three activations' inputs, 8·16 each, and PReLU's 16 slopes.
        let elements = 208 + 400 * 2 + 196 + 3 * 128 + 16;
        assert_eq!(report.checked() + report.skipped(), elements, "{report}");
        assert!(report.skipped() * 50 < elements, "{report}");
        let after: Vec<Vec<u32>> = (net.params().iter())
            .map(|p| p.value.iter().map(|v| v.to_bits()).collect())
            .collect();
        assert_eq!(before, after, "parameters restored bit for bit");
    }
    // With a correct layer of one's own inserted, too.
    let (mut net, x) = mlp(7, Some((1.0, 1.0)));
    let report = GradCheck::default().check(&mut net, &x)?;
    assert!(report.passed(), "{report}");
    Ok(())
}

#[test]
fn a_backward_off_by_one_percent_in_f32_is_caught_and_named() -> Result<()> {
    for seed in 0..10 {
        for (dx_factor, ds_factor, array) in [
            (1.01, 1.0, GradArray::Input),
            (0.99, 1.0, GradArray::Input),
            (1.0, 1.01, GradArray::Param(0)),
        ] {
            let (mut net, x) = mlp(seed, Some((dx_factor, ds_factor)));
            let report = GradCheck::default().with_seed(seed).check(&mut net, &x)?;
            assert!(!report.passed(), "seed {seed}: {report}");
            assert_eq!(report.failing_layers(), vec!["3"], "{report}");
            assert_eq!(report.worst_layer(), Some("3"));
            assert_eq!(report.worst().unwrap().array, array, "{report}");
            assert!(
                report
                    .to_string()
                    .contains("in layer 3 (FeatureScale); worst: layer 3 (FeatureScale) "),
                "{report}"
            );
        }
    }
    Ok(())
}

#[test]
fn an_f32_dense_layer_passes_alone_and_is_named_by_its_type() -> Result<()> {
    let mut rng = StdRng::seed_from_u64(3);
    let mut dense = DenseLayer::<f32>::new(4, 3, &mut rng);
    let x = normal(&mut rng, (5, 4));
    let report = GradCheck::default().check(&mut dense, &x)?;
    assert!(report.passed(), "{report}");
    assert_eq!((report.checked(), report.skipped()), (20 + 12 + 3, 0));

    let mut net = Sequential::<f32>::new();
    net.push(dense);
    let report = GradCheck::default().check(&mut net, &x)?;
    let named = "worst: layer 0 (DenseLayer<f32>) ";
    assert!(report.to_string().contains(named), "{report}");
    Ok(())
}

#[test]
fn an_eps_that_f32_cannot_hold_is_an_error() {
    let mut relu = ReluLayer::new();
    let x = Array2::<f32>::ones((1, 2));
    let tiny = GradCheck::default().with_eps(1e-50).unwrap();
    let err = tiny.check(&mut relu, &x).unwrap_err();
    assert_eq!(
        err.to_string(),
        "GradCheck: invalid eps = 1e-50: rounds to 0 in the element type"
    );
    // In f64 it is not 0, but lost next to 1.
    let err = tiny
        .check(&mut relu, &Array2::<f64>::ones((1, 2)))
        .unwrap_err();
    assert!(err.to_string().contains("is lost in rounding"), "{err}");
    let huge = GradCheck::default().with_eps(1e39).unwrap();
    let err = huge.check(&mut relu, &x).unwrap_err();
    assert_eq!(
        err.to_string(),
        "GradCheck: invalid eps = 1e39: overflows f32, the element type"
    );
    // An element so large that 2⁻⁸ vanishes beside it (2²³·2⁻⁸ = 32768).
    let big = Array2::from_elem((1, 1), 1e5f32);
    let err = GradCheck::default().check(&mut relu, &big).unwrap_err();
    assert!(
        err.to_string()
            .contains(": is lost in rounding next to the element = 100000"),
        "{err}"
    );
}
