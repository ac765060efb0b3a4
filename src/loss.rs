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

use ndarray::{Array2, ArrayRef2, ArrayViewMut1};

use crate::alloc::need;
use crate::{Float, LayerError, Result};

const LOSS: &str = "loss";

/// Mean squared error over all elements, `Σ (p − t)² / n`, and its gradient
/// `2 (p − t) / n`, where `n` is the number of elements (PyTorch's
/// `MSELoss()`).
///
/// An infinite difference gives an infinite loss and gradient element. A
/// NaN, or the same infinity in both arrays (inf − inf), has no limit and
/// gives NaN there, and so a NaN loss.
///
/// # Shapes
///
/// `prediction` and `target` have the same shape, with at least one
/// element; the gradient has it too.
///
/// # Errors
///
/// [`LayerError::ShapeMismatch`] if the shapes differ,
/// [`LayerError::EmptyBatch`] if there are no elements, and
/// [`LayerError::TooLarge`] if the gradient cannot be allocated (a huge
/// broadcast view).
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
pub fn mse<A: Float>(prediction: &ArrayRef2<A>, target: &ArrayRef2<A>) -> Result<(A, Array2<A>)> {
    if prediction.dim() != target.dim() {
        let (expected, actual) = (prediction.shape(), target.shape());
        return Err(LayerError::shape(LOSS, "mse", "target", expected, actual));
    }
    if prediction.is_empty() {
        return Err(empty("mse", "prediction", prediction));
    }
    let n = A::round_from(prediction.len() as f64);
    let shape = [prediction.nrows(), prediction.ncols()];
    let mut diff = need(LOSS, "mse", "gradient", shape).copy(prediction)?;
    diff.zip_mut_with(target, |d, &t| *d -= t);
    let loss = diff.iter().fold(A::zero(), |s, &d| s + d * d) / n;
    let norm = A::round_from(2.0) / n;
    diff.mapv_inplace(|d| norm * d);
    Ok((loss, diff))
}

/// Softmax cross-entropy of `logits` against class indices, averaged over
/// the rows, and its gradient `(softmax(logits) − onehot(labels)) / rows`
/// (PyTorch's `CrossEntropyLoss()` with class-index targets).
///
/// Computed as `log_sum_exp(row) − row[label]` with the row's maximum
/// subtracted first (as in PyTorch's `log_softmax`), so finite logits of any
/// size (1000.0 and beyond) give finite results.
///
/// Infinite logits give the limits of the loss and its gradient where they
/// exist, where PyTorch gives NaN. Each row gives a loss term and a
/// gradient row (below, before the division by `rows`):
///
/// | logits of the row | loss term | gradient row |
/// | --- | --- | --- |
/// | finite, or finite and -inf | `log_sum_exp(row) − row[label]`; +inf if `row[label]` is -inf | `softmax(row) − onehot(label)`; a -inf has probability 0 |
/// | one +inf, at the label; the rest finite or -inf | 0 | all 0 |
/// | one +inf, not at the label; the rest finite or -inf | +inf | `onehot(+inf) − onehot(label)` |
/// | a NaN, two or more +inf, or every logit -inf | NaN | all NaN |
///
/// The loss is the mean of the terms, so it is NaN if one row's term is.
/// Each gradient row depends only on its own row of logits: a NaN row
/// leaves the others exact.
///
/// # Shapes
///
/// - logits: `(rows, classes)`, `rows > 0`; the gradient has this shape
/// - labels: `rows` entries, each below `classes`
///
/// # Errors
///
/// [`LayerError::ShapeMismatch`] if `labels.len()` is not the number of
/// rows, [`LayerError::EmptyBatch`] if there are no rows, and
/// [`LayerError::LabelOutOfRange`] naming the row, label and class count
/// (with no classes, every label is out of range), and
/// [`LayerError::TooLarge`] if the gradient cannot be allocated.
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
///
/// // An infinite logit at the label: the limit, loss 0 and no gradient.
/// let (value, grad) = softmax_cross_entropy(&array![[f64::INFINITY, 0.0]], &[0])?;
/// assert_eq!((value, grad), (0.0, array![[0.0, 0.0]]));
/// # Ok::<(), rectify::LayerError>(())
/// ```
pub fn softmax_cross_entropy<A: Float>(
    logits: &ArrayRef2<A>,
    labels: &[usize],
) -> Result<(A, Array2<A>)> {
    const OP: &str = "softmax_cross_entropy";
    let (rows, classes) = logits.dim();
    if labels.len() != rows {
        let actual = [labels.len()];
        return Err(LayerError::shape(LOSS, OP, "labels", &[rows], &actual));
    }
    if rows == 0 {
        return Err(empty(OP, "logits", logits));
    }
    if let Some((row, &label)) = labels.iter().enumerate().find(|(_, &l)| l >= classes) {
        return Err(LayerError::LabelOutOfRange {
            layer: LOSS,
            operation: OP,
            row,
            label,
            classes,
        });
    }
    let n = A::round_from(rows as f64);
    let mut grad = need(LOSS, OP, "gradient", [rows, classes]).copy(logits)?;
    let mut loss = A::zero();
    for (row, &label) in grad.rows_mut().into_iter().zip(labels) {
        loss += cross_entropy_row(row, label, n);
    }
    Ok((loss / n, grad))
}

/// Overwrites `row`, one sample's logits, with its gradient row
/// `(softmax(row) − onehot(label)) / n` and returns its loss term (the
/// table of [`softmax_cross_entropy`]).
fn cross_entropy_row<A: Float>(mut row: ArrayViewMut1<'_, A>, label: usize, n: A) -> A {
    // NaN is passed over: a row with a NaN is NaN on either branch.
    let max = row.fold(A::neg_infinity(), |m, &x| m.max(x));
    if max == A::infinity() {
        return infinite_row(row, label, n);
    }
    // Shifted so the largest logit is 0: no exp overflows, and the label's
    // term loses no bits to the magnitude of the logits. A -inf becomes
    // exp(-inf) = 0; a row of nothing but -inf becomes -inf − -inf = NaN.
    row.mapv_inplace(|x| x - max);
    let log_sum = row.fold(A::zero(), |s, &x| s + x.exp()).ln();
    let loss = log_sum - row[label];
    row.mapv_inplace(|x| (x - log_sum).exp() / n);
    row[label] -= A::one() / n;
    loss
}

/// [`cross_entropy_row`] for a row with a +inf, where the shifted logits
/// would be inf − inf: if it is the only +inf and no logit is NaN, softmax is
/// its one-hot row; otherwise there is no limit and the row is NaN.
fn infinite_row<A: Float>(mut row: ArrayViewMut1<'_, A>, label: usize, n: A) -> A {
    let infinities = row.iter().filter(|&&x| x == A::infinity()).count();
    if infinities > 1 || row.iter().any(|x| x.is_nan()) {
        row.fill(A::nan());
        return A::nan();
    }
    let loss = if row[label] == A::infinity() {
        A::zero()
    } else {
        A::infinity()
    };
    row.mapv_inplace(|x| {
        if x == A::infinity() {
            A::one() / n
        } else {
            A::zero()
        }
    });
    row[label] -= A::one() / n;
    loss
}

/// The [`LayerError::EmptyBatch`] of `array`, argument `what` of `operation`.
fn empty<A>(operation: &'static str, what: &'static str, array: &ArrayRef2<A>) -> LayerError {
    LayerError::EmptyBatch {
        layer: LOSS,
        operation,
        what,
        shape: array.shape().to_vec(),
    }
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
        let err = mse::<f64>(&Array2::zeros((0, 3)), &Array2::zeros((0, 3))).unwrap_err();
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
        let err = softmax_cross_entropy::<f64>(&Array2::zeros((0, 3)), &[]).unwrap_err();
        assert!(matches!(err, LayerError::EmptyBatch { what: "logits", .. }));
    }

    #[test]
    fn cross_entropy_without_classes_names_the_label() {
        let err = softmax_cross_entropy::<f64>(&Array2::zeros((2, 0)), &[0, 0]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "loss::softmax_cross_entropy: label 0 in row 0 is out of range for 0 classes"
        );
        let err = softmax_cross_entropy::<f64>(&Array2::zeros((0, 0)), &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "loss::softmax_cross_entropy: logits has shape [0, 0], an empty batch"
        );
    }

    /// The loss and gradient of one row, alone in its batch.
    fn one_row(logits: &[f64], label: usize) -> (f64, Vec<f64>) {
        let row = Array2::from_shape_vec((1, logits.len()), logits.to_vec()).unwrap();
        let (loss, grad) = softmax_cross_entropy(&row, &[label]).unwrap();
        (loss, grad.into_raw_vec_and_offset().0)
    }

    /// Equal as bits, so that 0.0 is not -0.0, or both NaN.
    fn same_bits(a: &[f64], b: &[f64]) -> bool {
        let same = |x: &f64, y: &f64| x.to_bits() == y.to_bits() || x.is_nan() && y.is_nan();
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y))
    }

    #[test]
    fn cross_entropy_takes_the_limits_of_infinite_logits() {
        const INF: f64 = f64::INFINITY;
        const NAN: f64 = f64::NAN;
        let cases: [(&[f64], usize, f64, &[f64]); 13] = [
            // One +inf, at the label: softmax is exactly the one-hot label.
            (&[INF, 0.0], 0, 0.0, &[0.0, 0.0]),
            (&[3.0, INF, -2.0], 1, 0.0, &[0.0, 0.0, 0.0]),
            (&[INF, -INF], 0, 0.0, &[0.0, 0.0]),
            (&[-INF, INF, -INF], 1, 0.0, &[0.0, 0.0, 0.0]),
            // One +inf elsewhere: all the probability leaves the label.
            (&[INF, 0.0], 1, INF, &[1.0, -1.0]),
            (&[1e300, -5.0, INF], 0, INF, &[-1.0, 0.0, 1.0]),
            (&[INF, -INF], 1, INF, &[1.0, -1.0]),
            // -inf beside a finite maximum: probability 0; at the label, loss +inf.
            (&[-INF, 0.0], 1, 0.0, &[0.0, 0.0]),
            (&[-INF, 0.0], 0, INF, &[-1.0, 1.0]),
            // No limit: a NaN, +inf twice, or nothing but -inf.
            (&[INF, INF], 0, NAN, &[NAN, NAN]),
            (&[INF, 1.0, INF], 1, NAN, &[NAN, NAN, NAN]),
            (&[INF, NAN], 0, NAN, &[NAN, NAN]),
            (&[-INF, -INF], 0, NAN, &[NAN, NAN]),
        ];
        for (logits, label, loss, grad) in cases {
            let (got_loss, got_grad) = one_row(logits, label);
            assert!(
                same_bits(&[got_loss], &[loss]) && same_bits(&got_grad, grad),
                "{logits:?}, label {label}: loss {got_loss}, gradient {got_grad:?}"
            );
        }
        // A -inf beside a finite maximum gets probability 0 and leaves the
        // rest of the row as without it.
        let (loss, grad) = one_row(&[-INF, 0.0, 3f64.ln()], 2);
        let (loss_without, grad_without) = one_row(&[0.0, 3f64.ln()], 1);
        assert_eq!((loss, &grad[1..]), (loss_without, &grad_without[..]));
        assert_eq!(grad[0].to_bits(), 0);
    }

    #[test]
    fn a_row_without_a_limit_does_not_touch_the_others() {
        const INF: f64 = f64::INFINITY;
        let finite = array![[0.0, 3f64.ln()], [2.0, -1.0]];
        let (_, finite_grad) = softmax_cross_entropy(&finite, &[1, 0]).unwrap();
        for bad in [[INF, INF], [f64::NAN, 0.0], [-INF, -INF]] {
            let logits = array![
                [finite[[0, 0]], finite[[0, 1]]],
                bad,
                [finite[[1, 0]], finite[[1, 1]]]
            ];
            let (loss, grad) = softmax_cross_entropy(&logits, &[1, 0, 0]).unwrap();
            assert!(loss.is_nan(), "{bad:?}");
            assert!(grad.row(1).iter().all(|g| g.is_nan()), "{bad:?}");
            // The same rows, averaged over three rows instead of two.
            let rescaled = finite_grad.mapv(|g| g * 2.0 / 3.0);
            assert_abs_diff_eq!(grad.row(0), rescaled.row(0), epsilon = 1e-16);
            assert_abs_diff_eq!(grad.row(2), rescaled.row(1), epsilon = 1e-16);
        }

        // Limits mixed with finite rows: the mean of the terms.
        let logits = array![[INF, 0.0], [0.0, 3f64.ln()], [-INF, 1.0]];
        let (loss, grad) = softmax_cross_entropy(&logits, &[0, 1, 1]).unwrap();
        let third = 1.0 / 3.0;
        assert_abs_diff_eq!(loss, (4.0 / 3f64).ln() / 3.0, epsilon = 1e-16);
        assert_abs_diff_eq!(
            grad,
            array![[0.0, 0.0], [0.25 * third, -0.25 * third], [0.0, 0.0]],
            epsilon = 1e-16
        );
        let (loss, grad) = softmax_cross_entropy(&logits, &[1, 1, 0]).unwrap();
        assert_eq!(loss, INF);
        assert_eq!(grad.row(0), array![third, -third]);
        assert_eq!(grad.row(2), array![-third, third]);
    }

    #[test]
    fn mse_of_infinities_is_inf_or_a_genuine_nan() {
        const INF: f64 = f64::INFINITY;
        let (value, grad) = mse(&array![[INF, 1.0]], &array![[0.0, 1.0]]).unwrap();
        assert_eq!((value, grad), (INF, array![[INF, 0.0]]));
        let (value, grad) = mse(&array![[INF, 1.0]], &array![[INF, 1.0]]).unwrap();
        assert!(value.is_nan() && grad[[0, 0]].is_nan()); // inf − inf
        assert_eq!(grad[[0, 1]], 0.0);
    }
}
