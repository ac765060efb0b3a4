//! Loss functions: each returns the loss and its gradient with respect to the
//! prediction, ready for [`Layer::backward`](crate::Layer::backward).
//!
//! Both average over the batch, like PyTorch's default `reduction='mean'`.
//!
//! ```
//! use rectify::{loss, ndarray::array, DenseLayer, Layer};
//!
//! let mut dense = DenseLayer::from_parts(array![[1.0], [1.0]], array![0.0])?;
//! let prediction = dense.forward(&array![[1.0, 2.0]])?;
//! let (value, grad) = loss::mse(&prediction, &array![[1.0]])?;
//! assert_eq!(value, 4.0); // (3 - 1)²
//! dense.backward(&grad)?;
//! assert_eq!(dense.bias_grad(), array![4.0]); // 2 · (3 - 1)
//! # Ok::<(), rectify::LayerError>(())
//! ```

use ndarray::{Array2, ArrayRef2};

use crate::{LayerError, Result};

const LOSS: &str = "loss";

/// Mean squared error over all elements, `Σ (p − t)² / n`, and its gradient
/// `2 (p − t) / n`, where `n` is the number of elements (PyTorch's
/// `MSELoss()`).
///
/// # Shapes
///
/// `prediction` and `target` have the same shape, with at least one
/// element; the gradient has it too.
///
/// # Errors
///
/// [`LayerError::ShapeMismatch`] if the shapes differ,
/// [`LayerError::EmptyBatch`] if there are no elements.
///
/// # Examples
///
/// ```
/// use rectify::{loss::mse, ndarray::array};
///
/// let (value, grad) = mse(&array![[1.0, 2.0]], &array![[0.0, 4.0]])?;
/// assert_eq!(value, 2.5); // (1 + 4) / 2
/// assert_eq!(grad, array![[1.0, -2.0]]);
/// # Ok::<(), rectify::LayerError>(())
/// ```
pub fn mse(prediction: &ArrayRef2<f64>, target: &ArrayRef2<f64>) -> Result<(f64, Array2<f64>)> {
    if prediction.dim() != target.dim() {
        let (expected, actual) = (prediction.shape(), target.shape());
        return Err(LayerError::shape(LOSS, "mse", "target", expected, actual));
    }
    check_not_empty("mse", "prediction", prediction)?;
    let n = prediction.len() as f64;
    let mut diff = prediction - target;
    let loss = diff.iter().map(|d| d * d).sum::<f64>() / n;
    let norm = 2.0 / n;
    diff.mapv_inplace(|d| norm * d);
    Ok((loss, diff))
}

/// Softmax cross-entropy of `logits` against class indices, averaged over
/// the rows, and its gradient `(softmax(logits) − onehot(labels)) / rows`
/// (PyTorch's `CrossEntropyLoss()` with class-index targets).
///
/// Computed as `log_sum_exp(row) − row[label]` with the row's maximum
/// subtracted first (as in PyTorch's `log_softmax`), so logits of any size
/// (1000.0 and beyond) give finite results. A NaN logit gives a NaN loss.
///
/// # Shapes
///
/// - logits: `(rows, classes)`, `rows > 0`; the gradient has this shape
/// - labels: `rows` entries, each below `classes`
///
/// # Errors
///
/// [`LayerError::ShapeMismatch`] if `labels.len()` is not the number of
/// rows, [`LayerError::LabelOutOfRange`] naming the row, label and class
/// count, and [`LayerError::EmptyBatch`] if there are no rows.
///
/// # Examples
///
/// ```
/// use rectify::{loss::softmax_cross_entropy, ndarray::array};
///
/// // Equal logits: softmax is uniform, the loss is ln(classes).
/// let (value, grad) = softmax_cross_entropy(&array![[1000.0, 1000.0]], &[0])?;
/// assert!((value - 2f64.ln()).abs() < 1e-15);
/// assert_eq!(grad, array![[-0.5, 0.5]]);
/// # Ok::<(), rectify::LayerError>(())
/// ```
pub fn softmax_cross_entropy(
    logits: &ArrayRef2<f64>,
    labels: &[usize],
) -> Result<(f64, Array2<f64>)> {
    const OP: &str = "softmax_cross_entropy";
    let (rows, classes) = logits.dim();
    if labels.len() != rows {
        let actual = [labels.len()];
        return Err(LayerError::shape(LOSS, OP, "labels", &[rows], &actual));
    }
    check_not_empty(OP, "logits", logits)?;
    if let Some((row, &label)) = labels.iter().enumerate().find(|(_, &l)| l >= classes) {
        return Err(LayerError::LabelOutOfRange {
            layer: LOSS,
            operation: OP,
            row,
            label,
            classes,
        });
    }
    let n = rows as f64;
    let mut grad = logits.to_owned();
    let mut loss = 0.0;
    for (mut row, &label) in grad.rows_mut().into_iter().zip(labels) {
        // Shifted so the largest logit is 0: no exp overflows, and the
        // label's term loses no bits to the magnitude of the logits.
        let max = row.fold(f64::NEG_INFINITY, |m, &x| m.max(x));
        row.mapv_inplace(|x| x - max);
        let log_sum = row.fold(0.0, |s, &x| s + x.exp()).ln();
        loss += log_sum - row[label];
        row.mapv_inplace(|x| (x - log_sum).exp() / n);
        row[label] -= 1.0 / n;
    }
    Ok((loss / n, grad))
}

/// Errors if `array` has no elements.
fn check_not_empty(
    operation: &'static str,
    what: &'static str,
    array: &ArrayRef2<f64>,
) -> Result<()> {
    if array.is_empty() {
        let shape = array.shape().to_vec();
        return Err(LayerError::EmptyBatch {
            layer: LOSS,
            operation,
            what,
            shape,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_abs_diff_eq;
    use ndarray::{array, s};

    #[test]
    fn mse_is_the_mean_over_all_elements() {
        let p = array![[1.0, 2.0], [3.0, 4.0]];
        let t = array![[0.0, 2.0], [5.0, 3.5]];
        let (value, grad) = mse(&p, &t).unwrap();
        assert_eq!(value, 1.3125); // (1 + 0 + 4 + 0.25) / 4
        assert_eq!(grad, array![[0.5, 0.0], [-1.0, 0.25]]);

        let (value, grad) = mse(&p.t(), &t.t()).unwrap();
        assert_eq!(value, 1.3125);
        assert_eq!(grad, array![[0.5, -1.0], [0.0, 0.25]]);
        let (value, _) = mse(&p.slice(s![1.., ..]), &t.slice(s![1.., ..])).unwrap();
        assert_eq!(value, 2.125); // (4 + 0.25) / 2

        let (value, grad) = mse(&array![[f64::NAN, 1.0]], &array![[0.0, 1.0]]).unwrap();
        assert!(value.is_nan() && grad[[0, 0]].is_nan());
        assert_eq!(grad[[0, 1]], 0.0);
    }

    #[test]
    fn mse_rejects_mismatched_shapes_and_empty_batches() {
        let err = mse(&array![[1.0, 2.0]], &array![[1.0], [2.0]]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "loss::mse: target has shape [2, 1], expected [1, 2]"
        );
        let err = mse(&Array2::zeros((0, 3)), &Array2::zeros((0, 3))).unwrap_err();
        assert_eq!(
            err.to_string(),
            "loss::mse: prediction has shape [0, 3], an empty batch"
        );
    }

    #[test]
    fn cross_entropy_matches_hand_computed_values() {
        let uniform = array![[0.5, 0.5, 0.5, 0.5]];
        let (value, grad) = softmax_cross_entropy(&uniform, &[2]).unwrap();
        assert_abs_diff_eq!(value, 4f64.ln(), epsilon = 1e-15);
        assert_eq!(grad, array![[0.25, 0.25, -0.75, 0.25]]);

        // Row 0: softmax [1/4, 3/4], label 1. Row 1: softmax [1/2, 1/2], label 0.
        let logits = array![[0.0, 3f64.ln()], [1000.0, 1000.0]];
        let (value, grad) = softmax_cross_entropy(&logits, &[1, 0]).unwrap();
        assert_abs_diff_eq!(
            value,
            ((4.0 / 3f64).ln() + 2f64.ln()) / 2.0,
            epsilon = 1e-15
        );
        let expected = array![[0.125, -0.125], [-0.25, 0.25]];
        assert_abs_diff_eq!(grad, expected, epsilon = 1e-15);

        let transposed = logits.t().to_owned();
        let (again, grad_t) = softmax_cross_entropy(&transposed.t(), &[1, 0]).unwrap();
        assert_eq!((again, grad_t), (value, grad));
    }

    #[test]
    fn cross_entropy_is_finite_for_huge_logits() {
        // A naive exp(1000.0) is inf, and inf / inf is NaN.
        let logits = array![[1000.0, 0.0], [1000.0, 0.0], [-1000.0, 1000.0]];
        let (value, grad) = softmax_cross_entropy(&logits, &[0, 1, 0]).unwrap();
        assert_eq!(value, (0.0 + 1000.0 + 2000.0) / 3.0);
        let third = 1.0 / 3.0;
        assert_eq!(grad, array![[0.0, 0.0], [third, -third], [-third, third]]);

        let (value, _) = softmax_cross_entropy(&array![[1000.0, f64::NAN]], &[0]).unwrap();
        assert!(value.is_nan());
    }

    #[test]
    fn cross_entropy_rejects_bad_labels_and_empty_batches() {
        let logits = array![[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]];
        let err = softmax_cross_entropy(&logits, &[0]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "loss::softmax_cross_entropy: labels has shape [1], expected [2]"
        );
        let err = softmax_cross_entropy(&logits, &[0, 3]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "loss::softmax_cross_entropy: label 3 in row 1 is out of range for 3 classes"
        );
        let err = softmax_cross_entropy(&Array2::zeros((0, 3)), &[]).unwrap_err();
        assert!(matches!(err, LayerError::EmptyBatch { what: "logits", .. }));
        let err = softmax_cross_entropy(&Array2::zeros((1, 0)), &[0]).unwrap_err();
        assert!(matches!(err, LayerError::EmptyBatch { .. }));
    }
}
