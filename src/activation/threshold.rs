//! [`ThresholdLayer`] and the scalar [`threshold()`]: `x` if `x > threshold`,
//! else `value`.

use super::kernel::{apply, derivative, Rule};
use super::rectifier::{Rectifier, Simple};
use super::AtZero;
use crate::validate::hyper;
use crate::{Float, Result};

/// The threshold member: `x` above the threshold, a constant at or below
/// it. See [`ThresholdLayer`].
#[derive(Debug, Clone, Copy)]
pub struct Threshold<T = f64> {
    threshold: T,
    value: T,
}

impl<A: Float> Rule<A> for Threshold<A> {
    /// `!(x <= t)`: PyTorch's `x <= t ? v : x`, so NaN passes through with
    /// its gradient. The kink is at the threshold, whatever the side of zero.
    #[inline(always)]
    #[allow(clippy::neg_cmp_op_on_partial_ord)] // true for NaN, on purpose
    fn forward(self, x: A, _slope: A, _zero: AtZero) -> (bool, A) {
        let active = !(x <= self.threshold);
        (active, if active { x } else { self.value })
    }

    #[inline(always)]
    fn backward(self, g: A, active: bool, _slope: A) -> A {
        if active {
            g
        } else {
            A::zero()
        }
    }
}

impl Simple for Threshold {
    const LAYER: &'static str = "ThresholdLayer";
    type Rule<A: Float> = Threshold<A>;

    fn rule<A: Float>(&self) -> Result<Threshold<A>> {
        Ok(Threshold {
            threshold: A::hyper(Self::LAYER, "threshold", self.threshold)?,
            value: A::hyper(Self::LAYER, "value", self.value)?,
        })
    }
}

/// The threshold function of one value: `x` if `x > threshold` (or NaN),
/// else `value`, exactly (its sign included).
///
/// Not validated here; [`ThresholdLayer::new`] validates its parameters.
///
/// # Examples
///
/// ```
/// use rectify::threshold;
///
/// assert_eq!(threshold(2.0, 1.0, -5.0), 2.0);
/// assert_eq!(threshold(1.0, 1.0, -5.0), -5.0);
/// assert!(threshold(f64::NAN, 1.0, -5.0).is_nan());
/// ```
pub fn threshold<A: Float>(x: A, threshold: A, value: A) -> A {
    apply(Threshold { threshold, value }, x, A::zero())
}

/// The derivative of [`threshold()`] at `x`: 1 for `x > threshold` and NaN,
/// 0 otherwise, including `x = threshold`.
///
/// # Examples
///
/// ```
/// use rectify::threshold_grad;
///
/// assert_eq!(threshold_grad(2.0, 1.0), 1.0);
/// assert_eq!(threshold_grad(1.0, 1.0), 0.0);
/// ```
pub fn threshold_grad<A: Float>(x: A, threshold: A) -> A {
    let value = A::zero();
    derivative(Threshold { threshold, value }, x, A::zero())
}

/// PyTorch's `nn.Threshold(threshold, value)` as a layer: `y = x` if
/// `x > threshold`, else `value`. ReLU is `Threshold(0, 0)` but for the
/// sign of zero outputs (`value` exactly, here).
///
/// | input x | output | gradient |
/// | --- | --- | --- |
/// | `x > threshold`, `+inf` | `x` | `g` |
/// | `x = threshold` | `value` | `0` |
/// | `x < threshold`, `-inf` | `value` (its sign included) | `0` |
/// | NaN | NaN | `g` |
///
/// The mask marks `x > threshold` and NaN. There is no [`AtZero`](crate::AtZero)
/// choice: the kink is at the threshold, and the threshold itself is on the
/// `value` side, as in PyTorch.
///
/// In `f32` both parameters are rounded to `f32`, as PyTorch rounds them.
///
/// # Shapes
///
/// - input: any shape (`(batch, features)` in the [`Layer`](crate::Layer)
///   impl), any layout (standard, transposed, permuted, sliced)
/// - output: same as input, standard layout
/// - grad_output and grad_input: same as the last forward's input
///
/// # Examples
///
/// ```
/// use rectify::{ndarray::array, ThresholdLayer};
///
/// let mut layer = ThresholdLayer::new(0.5, -1.0)?;
/// assert_eq!(layer.forward(&array![[0.2, 0.5, 0.7]])?, array![[-1.0, -1.0, 0.7]]);
/// assert_eq!(layer.backward(&array![[4.0, 5.0, 6.0]])?, array![[0.0, 0.0, 6.0]]);
/// # Ok::<(), rectify::LayerError>(())
/// ```
pub type ThresholdLayer = Rectifier<Threshold>;

impl Rectifier<Threshold> {
    /// A threshold layer: `x` above `threshold`, `value` at or below it.
    ///
    /// # Errors
    ///
    /// [`LayerError::InvalidParameter`](crate::LayerError::InvalidParameter)
    /// naming the value if `threshold` or `value` is NaN or infinite.
    ///
    /// # Examples
    ///
    /// ```
    /// use rectify::ThresholdLayer;
    ///
    /// let layer = ThresholdLayer::new(0.1, 20.0)?;
    /// assert_eq!((layer.threshold(), layer.value()), (0.1, 20.0));
    /// let err = ThresholdLayer::new(0.0, f64::INFINITY).unwrap_err();
    /// assert_eq!(err.to_string(), "ThresholdLayer: invalid value = inf: must be finite");
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn new(threshold: f64, value: f64) -> Result<Self> {
        let threshold = hyper(Threshold::LAYER, "threshold", threshold).finite()?;
        let value = hyper(Threshold::LAYER, "value", value).finite()?;
        Ok(Rectifier::of(Threshold { threshold, value }))
    }

    /// The threshold.
    pub fn threshold(&self) -> f64 {
        self.member().threshold
    }

    /// The value given to inputs at or below the threshold.
    pub fn value(&self) -> f64 {
        self.member().value
    }
}

#[cfg(test)]
mod tests {
    use ndarray::array;

    use super::*;
    use crate::activation::test_util::{check_table, same, Examples, G, INF, NAN, X};
    use crate::LayerError;

    /// X is 1, -10, 0, 15, -20, -0.0, inf, -inf, NaN.
    #[test]
    fn semantics_table_with_the_threshold_in_it() {
        let y = [-7.5, -7.5, -7.5, 15.0, -7.5, -7.5, INF, -7.5, NAN];
        let dx = [0.0, 0.0, 0.0, -4.0, 0.0, 0.0, 7.0, 0.0, 9.0];
        check_table(
            &mut ThresholdLayer::new(1.0, -7.5).unwrap(),
            &X,
            &y,
            &G,
            &dx,
        );
        let y = [1.0, -0.0, -0.0, 15.0, -0.0, -0.0, INF, -0.0, NAN];
        let dx = [0.5, 0.0, 0.0, -4.0, 0.0, 0.0, 7.0, 0.0, 9.0];
        check_table(
            &mut ThresholdLayer::new(0.0, -0.0).unwrap(),
            &X,
            &y,
            &G,
            &dx,
        );
    }

    #[test]
    fn the_neighbours_of_the_threshold_and_subnormals() {
        // The floats on either side of the negative threshold -2.5.
        let t = -2.5f64;
        let (below, above) = (
            f64::from_bits(t.to_bits() + 1),
            f64::from_bits(t.to_bits() - 1),
        );
        let x = [below, t, above, 5e-324, -5e-324];
        let y = [9.0, 9.0, above, 5e-324, -5e-324];
        let dx = [0.0, 0.0, 3.0, 3.0, 3.0];
        for (i, &xi) in x.iter().enumerate() {
            assert!(same(threshold(xi, t, 9.0), y[i]), "threshold({xi:e})");
            assert_eq!(threshold_grad(xi, t) * 3.0, dx[i], "grad at {xi:e}");
        }
        check_table(
            &mut ThresholdLayer::new(t, 9.0).unwrap(),
            &x,
            &y,
            &[3.0; 5],
            &dx,
        );
    }

    #[test]
    fn parameters_must_be_finite() {
        for bad in [NAN, INF, -INF] {
            for (t, v, name) in [(bad, 0.0, "threshold"), (0.0, bad, "value")] {
                match ThresholdLayer::new(t, v).unwrap_err() {
                    LayerError::InvalidParameter {
                        layer,
                        name: n,
                        value,
                        ..
                    } => {
                        assert_eq!((layer, n), ("ThresholdLayer", name));
                        assert!(same(value, bad));
                    }
                    other => panic!("unexpected {other:?}"),
                }
            }
        }
    }

    #[test]
    fn the_mask_marks_inputs_above_the_threshold() {
        let mut layer = ThresholdLayer::new(1.0, 0.0).unwrap();
        layer.forward(&array![[0.5, 1.0, 1.5, NAN]]).unwrap();
        let mask = layer.mask().unwrap().to_array();
        assert_eq!(mask, array![[false, false, true, true]]);
    }

    impl<A: Float> Examples<A> for ThresholdLayer {
        type Member = Threshold;
        fn examples(_cols: usize) -> Vec<ThresholdLayer> {
            let parameters = [
                (0.0, 0.0),
                (1.5, -2.0),
                (-1.0, 7.0),
                (0.0, -0.0),
                (0.3, 0.7),
            ];
            parameters
                .map(|(t, v)| ThresholdLayer::new(t, v).unwrap())
                .into()
        }
    }
}
