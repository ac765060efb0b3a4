//! [`ReluLayer`] and the scalar [`relu`]: `max(0, x)`, with NaN propagated.

use super::kernel::{apply, derivative, Rule};
use super::rectifier::{Rectifier, Simple, ZeroSided};
use super::AtZero;
use crate::{Float, Result};

/// The ReLU member and its rule, the slope-0 rectifier. See [`ReluLayer`].
///
/// Its inactive side gives `+0.0`: never `-0.0`, never NaN.
#[derive(Debug, Clone, Copy, Default)]
pub struct Relu;

impl<A: Float> Rule<A> for Relu {
    #[inline(always)]
    #[allow(clippy::neg_cmp_op_on_partial_ord)] // true for NaN, on purpose
    fn forward(self, x: A, _slope: A, zero: AtZero) -> (bool, A) {
        // `!(x <= 0)` rather than `x > 0`: a NaN is active, so its gradient
        // passes, as in PyTorch's `threshold_backward`, and its output is
        // NaN (`f64::max(0.0, NaN)` would give 0.0 and hide a diverged
        // network); `-0.0` is not above zero, so it gives `+0.0`.
        let above = !(x <= A::zero());
        (above || zero.holds(x), if above { x } else { A::zero() })
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

impl Simple for Relu {
    const LAYER: &'static str = "ReluLayer";
    type Rule<A: Float> = Relu;

    fn rule<A: Float>(&self) -> Result<Relu> {
        Ok(Relu)
    }
}

impl ZeroSided for Relu {}

/// ReLU of one value: `x` if `x > 0`, `+0.0` otherwise, NaN for NaN.
///
/// The tutorial's `max(0.0, x)`, except that NaN propagates instead of
/// becoming 0.0, and `-0.0` gives `+0.0`.
///
/// | x | relu(x) |
/// | --- | --- |
/// | `x > 0`, `+inf` | `x` |
/// | `x <= 0`, `-0.0`, `-inf` | `+0.0` |
/// | NaN | NaN |
///
/// # Examples
///
/// ```
/// use rectify::relu;
///
/// assert_eq!(relu(15.0), 15.0);
/// assert_eq!(relu(-20.0), 0.0);
/// assert!(relu(-0.0f64).is_sign_positive());
/// assert!(relu(f64::NAN).is_nan()); // f64::max(0.0, NaN) would give 0.0
/// assert_eq!(relu(-1.5f32), 0.0f32);
/// ```
pub fn relu<A: Float>(x: A) -> A {
    apply(Relu, x, A::zero())
}

/// dReLU/dx at `x`, with ReLU'(0) = 0 as in PyTorch ([`AtZero::Inactive`]).
///
/// 1 for `x > 0`, `+inf` and NaN (a NaN's gradient is passed on, so the
/// divergence shows upstream), 0 for `x <= 0` including `±0.0`. For the
/// tutorial's f'(0) = 1, use a layer with [`AtZero::Active`].
///
/// # Examples
///
/// ```
/// use rectify::relu_grad;
///
/// assert_eq!(relu_grad(1.0), 1.0);
/// assert_eq!(relu_grad(-10.0), 0.0);
/// assert_eq!(relu_grad(0.0), 0.0);
/// assert_eq!(relu_grad(f64::NAN), 1.0);
/// ```
pub fn relu_grad<A: Float>(x: A) -> A {
    derivative(Relu, x, A::zero())
}

/// Rectified linear unit, `y = max(0, x)` element-wise, as a layer.
///
/// `forward` caches a one-bit-per-element [`Mask`](crate::Mask) of the
/// active inputs; `backward` passes the upstream gradient where the mask is
/// set and `+0.0` elsewhere. NaN propagates in both directions: its output
/// is NaN and its gradient passes.
///
/// | input x | output | gradient |
/// | --- | --- | --- |
/// | `x > 0`, `+inf` | `x` | `g` |
/// | `x < 0`, `-inf` | `+0.0` | `0` |
/// | `±0.0` | `+0.0` | `0` (`g` with [`AtZero::Active`]) |
/// | NaN | NaN | `g` |
///
/// In `f32` and `f64`, on any number of axes, as [`Rectifier`] says.
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
/// use rectify::{ndarray::array, ReluLayer};
///
/// let mut relu = ReluLayer::new();
/// let y = relu.forward(&array![[-1.0, 0.0, 2.0]])?;
/// assert_eq!(y, array![[0.0, 0.0, 2.0]]);
/// let dx = relu.backward(&array![[10.0, 20.0, 30.0]])?;
/// assert_eq!(dx, array![[0.0, 0.0, 30.0]]);
/// # Ok::<(), rectify::LayerError>(())
/// ```
pub type ReluLayer = Rectifier<Relu>;

impl Rectifier<Relu> {
    /// A ReLU layer with ReLU'(0) = 0 ([`AtZero::Inactive`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use rectify::ReluLayer;
    ///
    /// let relu = ReluLayer::new();
    /// assert!(relu.mask().is_none());
    /// ```
    pub fn new() -> Self {
        Rectifier::of(Relu)
    }
}

#[cfg(test)]
mod tests {
    use ndarray::{array, Array2};

    use super::*;
    use crate::activation::test_util::{check_table, same, Examples, G, INF, NAN, X};
    use crate::LayerError;

    #[test]
    fn semantics_table_inactive_at_zero() {
        let y = [1.0, 0.0, 0.0, 15.0, 0.0, 0.0, INF, 0.0, NAN];
        let dx = [0.5, 0.0, 0.0, -4.0, 0.0, 0.0, 7.0, 0.0, 9.0];
        check_table(&mut ReluLayer::new(), &X, &y, &G, &dx);
    }

    #[test]
    fn semantics_table_active_at_zero() {
        let y = [1.0, 0.0, 0.0, 15.0, 0.0, 0.0, INF, 0.0, NAN];
        let dx = [0.5, 0.0, 3.0, -4.0, 0.0, 6.0, 7.0, 0.0, 9.0];
        let mut relu = ReluLayer::new().at_zero(AtZero::Active);
        check_table(&mut relu, &X, &y, &G, &dx);
    }

    #[test]
    fn scalar_functions_match_the_table() {
        let y = [1.0, 0.0, 0.0, 15.0, 0.0, 0.0, INF, 0.0, NAN];
        let d = [1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 1.0];
        for ((&x, &y), &d) in X.iter().zip(&y).zip(&d) {
            assert!(same(relu(x), y), "relu({x}) = {}", relu(x));
            assert!(same(relu_grad(x), d), "relu_grad({x}) = {}", relu_grad(x));
        }
        // The tutorial's printed values.
        assert_eq!(
            [1.0, -10.0, 0.0, 15.0, -20.0].map(relu),
            [1.0, 0.0, 0.0, 15.0, 0.0]
        );
    }

    #[test]
    fn outputs_are_never_negative_zero() {
        let y = ReluLayer::new()
            .predict(&array![[-0.0, -1e-300, -INF]])
            .unwrap();
        assert!(y.iter().all(|v| v.to_bits() == 0), "{y:?}");
    }

    #[test]
    fn backward_before_forward_is_an_error_and_layer_still_works() {
        let mut relu = ReluLayer::new();
        let err = relu.backward(&array![[1.0]]).unwrap_err();
        assert_eq!(
            err,
            LayerError::BackwardBeforeForward { layer: "ReluLayer" }
        );
        let err = relu.backward_owned(array![[1.0]]).unwrap_err();
        assert_eq!(
            err,
            LayerError::BackwardBeforeForward { layer: "ReluLayer" }
        );
        relu.forward(&array![[-1.0, 2.0]]).unwrap();
        assert_eq!(
            relu.backward(&array![[3.0, 4.0]]).unwrap(),
            array![[0.0, 4.0]]
        );
    }

    #[test]
    fn wrong_gradient_shape_names_layer_and_both_shapes() {
        let mut relu = ReluLayer::new();
        relu.forward(&array![[-1.0, 2.0, 3.0], [4.0, -5.0, 6.0]])
            .unwrap();
        let wrong = Array2::<f64>::ones((3, 2));
        for err in [
            relu.backward(&wrong).unwrap_err(),
            relu.backward_owned(wrong.clone()).unwrap_err(),
        ] {
            let msg = err.to_string();
            assert!(msg.contains("ReluLayer"), "{msg}");
            assert!(msg.contains("[3, 2]") && msg.contains("[2, 3]"), "{msg}");
        }
        // The transpose of the right shape is accepted and the cache survived.
        let g = array![[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]];
        assert_eq!(
            relu.backward(&g).unwrap(),
            array![[0.0, 2.0, 3.0], [4.0, 0.0, 6.0]]
        );
    }

    #[test]
    fn empty_arrays_in_both_directions() {
        let mut relu = ReluLayer::new();
        for shape in [(0, 3), (3, 0), (0, 0)] {
            let x = Array2::<f64>::zeros(shape);
            assert_eq!(relu.forward(&x).unwrap().dim(), shape);
            assert_eq!(relu.mask().unwrap().shape(), shape);
            assert_eq!(relu.backward(&x).unwrap().dim(), shape);
            assert_eq!(relu.forward_owned(x.clone()).unwrap().dim(), shape);
            assert_eq!(relu.backward_owned(x.clone()).unwrap().dim(), shape);
            assert_eq!(relu.predict(&x).unwrap().dim(), shape);
        }
    }

    #[test]
    fn long_uneven_arrays_match_the_scalar_function() {
        // Lengths around the 64-bit mask word and every SIMD width.
        let mut layer = ReluLayer::new();
        for n in [1, 3, 7, 63, 64, 65, 127, 129, 1000] {
            let x = Array2::from_shape_fn((1, n), |(_, j)| (j as f64 * 0.37).sin() * 3.0);
            let g = Array2::from_shape_fn((1, n), |(_, j)| j as f64 + 1.0);
            let y = layer.forward(&x).unwrap();
            let dx = layer.backward(&g).unwrap();
            for j in 0..n {
                assert!(same(y[[0, j]], relu(x[[0, j]])), "n={n} j={j}");
                assert_eq!(dx[[0, j]], relu_grad(x[[0, j]]) * g[[0, j]], "n={n} j={j}");
            }
        }
    }

    impl<A: Float> Examples<A> for ReluLayer {
        type Member = Relu;
        fn examples(_cols: usize) -> Vec<ReluLayer> {
            [AtZero::Inactive, AtZero::Active]
                .map(|side| ReluLayer::new().at_zero(side))
                .into()
        }
    }
}
