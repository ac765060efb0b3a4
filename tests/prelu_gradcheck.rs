//! PReluLayer's input and slope gradients against finite differences, shared
//! and per column, and Sgd training its slopes.

use rectify::loss::mse;
use rectify::ndarray::{array, Array1, Array2, ArrayRef2, ArrayView1};
use rectify::{GradArray, GradCheck, Layer, LayerError, PReluLayer, Param, Sgd};

/// 3 × 4 values at least 0.1 from the kink, each column with a negative.
fn x() -> Array2<f64> {
    array![
        [-1.5, 0.7, -0.3, 2.0],
        [0.4, -2.2, 1.1, -0.9],
        [-0.6, 1.3, -1.8, 0.2]
    ]
}

/// A layer with the given slopes, set through `params` as an optimizer would.
fn with_slopes(slopes: &[f64]) -> PReluLayer {
    let mut prelu = PReluLayer::new(slopes.len(), 0.0).unwrap();
    prelu.params()[0]
        .value
        .assign(&ArrayView1::from(slopes).into_dyn());
    prelu
}

/// PReLU whose slope gradient is reported doubled: a bug only the check of
/// the parameter can catch.
struct DoubledSlopeGrad {
    inner: PReluLayer,
    grad: Array1<f64>,
}

impl Layer for DoubledSlopeGrad {
    fn forward(&mut self, input: &ArrayRef2<f64>) -> Result<Array2<f64>, LayerError> {
        self.inner.forward(input)
    }
    fn backward(&mut self, grad_output: &ArrayRef2<f64>) -> Result<Array2<f64>, LayerError> {
        let dx = self.inner.backward(grad_output)?;
        self.grad = 2.0 * &self.inner.slopes_grad();
        Ok(dx)
    }
    fn predict(&self, input: &ArrayRef2<f64>) -> Result<Array2<f64>, LayerError> {
        self.inner.predict(input)
    }
    fn params(&mut self) -> Vec<Param<'_>> {
        let value = self.inner.params().remove(0).value;
        vec![Param {
            value,
            grad: self.grad.view().into_dyn(),
        }]
    }
}

#[test]
fn shared_slope_passes_with_the_slope_checked() -> Result<(), LayerError> {
    let x = x();
    for slope in [0.25, -0.5, 0.0, 3.0] {
        let mut prelu = PReluLayer::new(1, slope)?;
        for input in [x.view(), x.t()] {
            let report = GradCheck::default().check(&mut prelu, &input)?;
            assert!(report.passed(), "slope {slope}: {report}");
            // Every input element and the one slope.
            assert_eq!(
                (report.checked(), report.skipped()),
                (12 + 1, 0),
                "{report}"
            );
        }
    }
    Ok(())
}

#[test]
fn per_column_slopes_pass_with_every_slope_checked() -> Result<(), LayerError> {
    let mut prelu = with_slopes(&[0.25, -0.5, 2.0, 0.0]);
    let stored_transposed = x().reversed_axes();
    for input in [x().view(), stored_transposed.t()] {
        let report = GradCheck::default().check(&mut prelu, &input)?;
        assert!(report.passed(), "{report}");
        assert_eq!(
            (report.checked(), report.skipped()),
            (12 + 4, 0),
            "{report}"
        );
    }
    // The slopes are exactly as before the check.
    assert_eq!(prelu.slopes(), array![0.25, -0.5, 2.0, 0.0]);
    Ok(())
}

#[test]
fn inputs_at_the_kink_are_skipped_and_the_slopes_still_checked() -> Result<(), LayerError> {
    let x = array![[0.0, -1.0], [2.0, 3e-7]];
    let mut prelu = with_slopes(&[0.25, 2.0]);
    let report = GradCheck::default().check(&mut prelu, &x)?;
    assert!(report.passed(), "{report}");
    assert_eq!((report.checked(), report.skipped()), (2 + 2, 2), "{report}");
    Ok(())
}

#[test]
fn a_wrong_slope_gradient_is_caught() -> Result<(), LayerError> {
    for slopes in [&[0.25][..], &[0.25, -0.5, 2.0, 0.1]] {
        let mut layer = DoubledSlopeGrad {
            inner: with_slopes(slopes),
            grad: Array1::zeros(slopes.len()),
        };
        let report = GradCheck::default().check(&mut layer, &x())?;
        assert!(!report.passed(), "{report}");
        assert_eq!(report.failed(), slopes.len(), "{report}");
        assert_eq!(report.worst().unwrap().array, GradArray::Param(0));
    }
    Ok(())
}

#[test]
fn sgd_steps_the_slopes_by_their_gradient() -> Result<(), LayerError> {
    let x = array![[-2.0, 3.0], [-1.0, -4.0]];
    let g = array![[1.0, 1.0], [0.5, 2.0]];
    // Shared: -2·1 + -1·0.5 + -4·2 = -10.5. Per column: -2.5 and -8.
    for (mut prelu, grad) in [
        (PReluLayer::default(), vec![-10.5]),
        (PReluLayer::new(2, 0.25)?, vec![-2.5, -8.0]),
    ] {
        prelu.forward(&x)?;
        prelu.backward(&g)?;
        assert_eq!(prelu.slopes_grad().to_vec(), grad);
        Sgd::new(0.1)?.step(&mut prelu)?;
        let stepped: Vec<f64> = grad.iter().map(|d| 0.25 - 0.1 * d).collect();
        assert_eq!(prelu.slopes().to_vec(), stepped);
    }
    Ok(())
}

#[test]
fn sgd_learns_a_teachers_slopes() -> Result<(), LayerError> {
    let x = Array2::from_shape_fn((64, 2), |(r, c)| ((r * 2 + c) as f64 * 1.7).sin());
    let target = with_slopes(&[0.1, -0.3]).predict(&x)?;
    let mut student = PReluLayer::new(2, 0.25)?;
    let mut sgd = Sgd::new(1.0)?;
    let mut losses = Vec::new();
    for _ in 0..200 {
        let (loss, grad) = mse(&student.forward(&x)?, &target)?;
        student.backward_owned(grad)?;
        sgd.step(&mut student)?;
        losses.push(loss);
    }
    assert!(losses.windows(2).all(|w| w[1] <= w[0]), "{losses:?}");
    assert!(losses[199] < 1e-20 * losses[0], "{losses:?}");
    let slopes = student.slopes();
    assert!(
        (slopes[0] - 0.1).abs() < 1e-9 && (slopes[1] + 0.3).abs() < 1e-9,
        "{slopes}"
    );
    Ok(())
}
