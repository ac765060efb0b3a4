//! [`ClippedReluLayer`] and the scalar [`clipped_relu`]: `min(max(0, x), cap)`.

use super::kernel::{apply, derivative, Rule};
use super::rectifier::{Rectifier, Simple, ZeroSided};
use super::AtZero;
use crate::validate::hyper;
use crate::{Float, Result};

/// The clipped ReLU member: ReLU capped at `cap`, with the gradient passing
/// only strictly between 0 and `cap`. See [`ClippedReluLayer`].
#[derive(Debug, Clone, Copy)]
pub struct ClippedRelu<T = f64> {
    cap: T,
}

impl<A: Float> Rule<A> for ClippedRelu<A> {
    #[inline(always)]
    #[allow(clippy::neg_cmp_op_on_partial_ord)] // true for NaN, on purpose
    fn forward(self, x: A, _slope: A, zero: AtZero) -> (bool, A) {
        // Both comparisons are true for NaN, so NaN passes through with its
        // gradient; `-0.0` is not above zero, so it gives `+0.0`.
        let above_zero = !(x <= A::zero());
        let below_cap = !(x >= self.cap);
        let y = match (above_zero, below_cap) {
            (false, _) => A::zero(),
            (true, false) => self.cap,
            (true, true) => x,
        };
        ((above_zero || zero.holds(x)) && below_cap, y)
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

impl Simple for ClippedRelu {
    const LAYER: &'static str = "ClippedReluLayer";
    type Rule<A: Float> = ClippedRelu<A>;

    fn rule<A: Float>(&self) -> Result<ClippedRelu<A>> {
        let cap = A::hyper(Self::LAYER, "cap", self.cap)?;
        Ok(ClippedRelu { cap })
    }
}

impl ZeroSided for ClippedRelu {}

/// Clipped ReLU of one value: `min(max(0, x), cap)`, NaN for NaN, `+0.0`
/// for `x <= 0`.
///
/// `cap` is not validated here; [`ClippedReluLayer::new`] validates it.
///
/// # Examples
///
/// ```
/// use rectify::clipped_relu;
///
/// assert_eq!(clipped_relu(3.0, 6.0), 3.0);
/// assert_eq!(clipped_relu(9.0, 6.0), 6.0);
/// assert_eq!(clipped_relu(f64::INFINITY, 6.0), 6.0);
/// assert!(clipped_relu(-0.0f64, 6.0).is_sign_positive());
/// assert!(clipped_relu(f64::NAN, 6.0).is_nan());
/// ```
pub fn clipped_relu<A: Float>(x: A, cap: A) -> A {
    apply(ClippedRelu { cap }, x, A::zero())
}

/// The derivative of [`clipped_relu`] at `x`: 1 for `0 < x < cap` and NaN,
/// 0 elsewhere, including `±0.0` and exactly `cap` (PyTorch's
/// `hardtanh_backward`).
///
/// # Examples
///
/// ```
/// use rectify::clipped_relu_grad;
///
/// assert_eq!(clipped_relu_grad(3.0, 6.0), 1.0);
/// assert_eq!(clipped_relu_grad(6.0, 6.0), 0.0);
/// assert_eq!(clipped_relu_grad(0.0, 6.0), 0.0);
/// assert_eq!(clipped_relu_grad(f64::NAN, 6.0), 1.0);
/// ```
pub fn clipped_relu_grad<A: Float>(x: A, cap: A) -> A {
    derivative(ClippedRelu { cap }, x, A::zero())
}

/// Clipped rectified linear unit, `y = min(max(0, x), cap)`, as a layer:
/// PyTorch's `hardtanh(x, 0, cap)`, and with `cap = 6` its `nn.ReLU6`
/// ([`ClippedReluLayer::relu6`]).
///
/// The mask marks `0 < x < cap`, where the gradient passes. A unit
/// saturated at the cap stops learning just as a unit below zero does, so
/// [`ActivityStats`](crate::ActivityStats) counts it as inactive.
///
/// | input x | output | gradient |
/// | --- | --- | --- |
/// | `0 < x < cap` | `x` | `g` |
/// | `x = cap`, `x > cap`, `+inf` | `cap` | `0` |
/// | `±0.0` | `+0.0` | `0` (`g` with [`AtZero::Active`]) |
/// | `x < 0`, `-inf` | `+0.0` | `0` |
/// | NaN | NaN | `g` |
///
/// Two departures from PyTorch, on purpose: PyTorch's CPU
/// `hardtanh_backward` gives a NaN input the gradient 0 in its SIMD body
/// but `g` in its scalar tail and on CUDA, where this layer gives `g`
/// everywhere; and PyTorch's `hardtanh(-0.0)` is `-0.0`, where this layer's
/// zeros are `+0.0`, as ReLU's are.
///
/// In `f32` the cap is rounded to `f32`, as PyTorch rounds it; a cap that
/// overflows `f32` is an error there (PyTorch refuses it too).
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
/// use rectify::{ndarray::array, ClippedReluLayer};
///
/// let mut relu6 = ClippedReluLayer::relu6();
/// let y = relu6.forward(&array![[-1.0, 3.0, 6.0, 9.0]])?;
/// assert_eq!(y, array![[0.0, 3.0, 6.0, 6.0]]);
/// let dx = relu6.backward(&array![[1.0, 2.0, 3.0, 4.0]])?;
/// assert_eq!(dx, array![[0.0, 2.0, 0.0, 0.0]]);
/// # Ok::<(), rectify::LayerError>(())
/// ```
pub type ClippedReluLayer = Rectifier<ClippedRelu>;

impl Rectifier<ClippedRelu> {
    /// A clipped ReLU layer with the given cap.
    ///
    /// # Errors
    ///
    /// [`LayerError::InvalidParameter`](crate::LayerError::InvalidParameter)
    /// naming the value unless `cap` is finite and `> 0`.
    ///
    /// # Examples
    ///
    /// ```
    /// use rectify::ClippedReluLayer;
    ///
    /// assert_eq!(ClippedReluLayer::new(1.0)?.cap(), 1.0);
    /// let err = ClippedReluLayer::new(0.0).unwrap_err();
    /// assert_eq!(err.to_string(), "ClippedReluLayer: invalid cap = 0: must be finite and positive");
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn new(cap: f64) -> Result<Self> {
        let cap = hyper(ClippedRelu::LAYER, "cap", cap).positive()?;
        Ok(Rectifier::of(ClippedRelu { cap }))
    }

    /// ReLU6, `min(max(0, x), 6)`: PyTorch's `nn.ReLU6`.
    ///
    /// # Examples
    ///
    /// ```
    /// use rectify::ClippedReluLayer;
    ///
    /// assert_eq!(ClippedReluLayer::relu6().cap(), 6.0);
    /// ```
    pub fn relu6() -> Self {
        Rectifier::of(ClippedRelu { cap: 6.0 })
    }

    /// The cap.
    pub fn cap(&self) -> f64 {
        self.member().cap
    }
}

#[cfg(test)]
mod tests {
    use ndarray::array;

    use super::*;
    use crate::activation::test_util::{check_table, same, Examples, G, INF, NAN, X};
    use crate::LayerError;

    /// X is 1, -10, 0, 15, -20, -0.0, inf, -inf, NaN; with cap 15 the kink
    /// at the cap is in the table.
    #[test]
    fn semantics_table_at_every_kink() {
        let y = [1.0, 0.0, 0.0, 15.0, 0.0, 0.0, 15.0, 0.0, NAN];
        let dx = [0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 9.0];
        let mut layer = ClippedReluLayer::new(15.0).unwrap();
        check_table(&mut layer, &X, &y, &G, &dx);
        let dx = [0.5, 0.0, 3.0, 0.0, 0.0, 6.0, 0.0, 0.0, 9.0];
        let mut layer = ClippedReluLayer::new(15.0).unwrap().at_zero(AtZero::Active);
        check_table(&mut layer, &X, &y, &G, &dx);
    }

    #[test]
    fn relu6_and_the_values_around_its_cap() {
        let below = f64::from_bits(6.0f64.to_bits() - 1);
        let above = f64::from_bits(6.0f64.to_bits() + 1);
        let x = [below, 6.0, above, 5e-324, -5e-324, 1e300];
        let y = [below, 6.0, 6.0, 5e-324, 0.0, 6.0];
        let dx = [2.0, 0.0, 0.0, 2.0, 0.0, 0.0];
        for (i, &xi) in x.iter().enumerate() {
            assert!(same(clipped_relu(xi, 6.0), y[i]), "clipped_relu({xi:e})");
            assert_eq!(clipped_relu_grad(xi, 6.0) * 2.0, dx[i], "grad at {xi:e}");
        }
        check_table(&mut ClippedReluLayer::relu6(), &x, &y, &[2.0; 6], &dx);
    }

    #[test]
    fn outputs_are_never_negative_zero() {
        let y = ClippedReluLayer::relu6()
            .predict(&array![[-0.0, -1e-300, -INF]])
            .unwrap();
        assert!(y.iter().all(|v| v.to_bits() == 0), "{y:?}");
    }

    #[test]
    fn caps_must_be_finite_and_positive() {
        for bad in [0.0, -0.0, -1.0, NAN, INF, -INF] {
            match ClippedReluLayer::new(bad).unwrap_err() {
                LayerError::InvalidParameter {
                    layer, name, value, ..
                } => {
                    assert_eq!((layer, name), ("ClippedReluLayer", "cap"));
                    assert!(same(value, bad));
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(ClippedReluLayer::new(1e-300).unwrap().cap(), 1e-300);
    }

    #[test]
    fn the_mask_marks_only_the_open_interval() {
        let mut layer = ClippedReluLayer::new(2.0).unwrap();
        layer
            .forward(&array![[-1.0, 0.0, 1.0, 2.0, 3.0, NAN]])
            .unwrap();
        let mask = layer.mask().unwrap().to_array();
        assert_eq!(mask, array![[false, false, true, false, false, true]]);
    }

    impl<A: Float> Examples<A> for ClippedReluLayer {
        type Member = ClippedRelu;
        fn examples(_cols: usize) -> Vec<ClippedReluLayer> {
            let sides = [AtZero::Inactive, AtZero::Active];
            let caps = [6.0, 1.0, 1e-300, 5.0, 6.1];
            let layer = |side, cap| ClippedReluLayer::new(cap).unwrap().at_zero(side);
            sides
                .into_iter()
                .flat_map(|side| caps.map(|cap| layer(side, cap)))
                .collect()
        }
    }
}
