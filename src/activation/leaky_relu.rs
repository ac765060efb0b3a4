//! [`LeakyReluLayer`] and the scalar [`leaky_relu`]: `x` if `x > 0`, else `slope·x`.

use super::kernel::{apply, derivative, Rule};
use super::rectifier::{Rectifier, Simple, ZeroSided};
use super::AtZero;
use crate::validate::hyper;
use crate::{Float, Result};

/// The leaky rule: `x` on the active side, `slope·x` on the other, always
/// (as in PyTorch), so with slope 0 an input of `-inf` gives NaN (`0·∞`).
/// [`PRelu`](crate::PRelu) runs it with learned slopes and
/// [`RRelu`](crate::RRelu) with drawn ones.
///
/// `NAN_ACTIVE` puts NaN on the active side (its gradient passes, as in
/// PyTorch's `rrelu_with_noise`); otherwise NaN is on the slope side (as in
/// `leaky_relu` and `prelu`). Either way its output is NaN.
#[derive(Debug, Clone, Copy, Default)]
pub struct Leaky<const NAN_ACTIVE: bool = false>;

impl<A: Float, const NAN_ACTIVE: bool> Rule<A> for Leaky<NAN_ACTIVE> {
    #[inline(always)]
    fn forward(self, x: A, slope: A, zero: AtZero) -> (bool, A) {
        let active = x > A::zero() || zero.holds(x) || (NAN_ACTIVE && x.is_nan());
        (active, if active { x } else { x * slope })
    }

    #[inline(always)]
    fn backward(self, g: A, active: bool, slope: A) -> A {
        if active {
            g
        } else {
            g * slope
        }
    }
}

/// The Leaky ReLU member: a fixed slope for `x <= 0`. See [`LeakyReluLayer`].
#[derive(Debug, Clone, Copy)]
pub struct LeakyRelu {
    slope: f64,
}

impl Default for LeakyRelu {
    /// Slope 0.01, as in Maas et al. (2013) and PyTorch.
    fn default() -> Self {
        LeakyRelu { slope: 0.01 }
    }
}

impl Simple for LeakyRelu {
    const LAYER: &'static str = "LeakyReluLayer";
    type Rule<A: Float> = Leaky;

    fn rule<A: Float>(&self) -> Result<Leaky> {
        Ok(Leaky)
    }

    fn slope<A: Float>(&self) -> Result<A> {
        A::hyper(Self::LAYER, "negative_slope", self.slope)
    }
}

impl ZeroSided for LeakyRelu {}

/// Leaky ReLU of one value: `x` if `x > 0`, else `negative_slope·x`, in
/// the value's type.
///
/// The tutorial's `leaky_relu` with its 0.01 as a parameter. NaN gives NaN.
/// The slope is not validated here (a NaN slope gives NaN for every
/// non-positive `x`); [`LeakyReluLayer::new`] validates it.
///
/// # Examples
///
/// ```
/// use rectify::leaky_relu;
///
/// assert_eq!(leaky_relu(15.0, 0.01), 15.0);
/// assert_eq!(leaky_relu(-20.0, 0.01), -0.2);
/// assert_eq!(leaky_relu(f64::NEG_INFINITY, 0.01), f64::NEG_INFINITY);
/// assert!(leaky_relu(f64::NAN, 0.01).is_nan());
/// ```
pub fn leaky_relu<A: Float>(x: A, negative_slope: A) -> A {
    apply(Leaky::<false>, x, negative_slope)
}

/// d(Leaky ReLU)/dx at `x`: 1 for `x > 0`, `negative_slope` otherwise,
/// including `±0.0` ([`AtZero::Inactive`], as in PyTorch) and NaN.
///
/// # Examples
///
/// ```
/// use rectify::leaky_relu_grad;
///
/// assert_eq!(leaky_relu_grad(1.0, 0.01), 1.0);
/// assert_eq!(leaky_relu_grad(-10.0, 0.01), 0.01);
/// assert_eq!(leaky_relu_grad(0.0, 0.01), 0.01);
/// ```
pub fn leaky_relu_grad<A: Float>(x: A, negative_slope: A) -> A {
    derivative(Leaky::<false>, x, negative_slope)
}

/// Leaky rectified linear unit, `y = x` if `x > 0`, else `negative_slope·x`,
/// as a layer (Maas et al. 2013).
///
/// Unlike ReLU its inactive side still passes `negative_slope·g`, so a unit
/// pushed far negative keeps learning. `forward` caches a one-bit-per-element
/// [`Mask`](crate::Mask); PyTorch caches the whole input instead.
///
/// | input x | output | gradient |
/// | --- | --- | --- |
/// | `x > 0`, `+inf` | `x` | `g` |
/// | `x < 0`, `-inf` | `slope·x` | `slope·g` |
/// | `±0.0` | `slope·x` (`x` with [`AtZero::Active`]) | `slope·g` (`g` with [`AtZero::Active`]) |
/// | NaN | NaN | `slope·g` |
///
/// In `f32` the slope is rounded to `f32` (`0.01` is `0.01f32`), as
/// PyTorch rounds it for a float32 tensor.
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
/// use rectify::{ndarray::array, AtZero, LeakyReluLayer};
///
/// let mut leaky = LeakyReluLayer::new(0.1)?;
/// assert_eq!(leaky.forward(&array![[-10.0, 0.0, 2.0]])?, array![[-1.0, 0.0, 2.0]]);
/// assert_eq!(leaky.backward(&array![[1.0, 2.0, 3.0]])?, array![[0.1, 0.2, 3.0]]);
///
/// let mut tutorial = LeakyReluLayer::default().at_zero(AtZero::Active);
/// let y = tutorial.forward(&array![[-0.0f64]])?;
/// assert!(y[[0, 0]].is_sign_negative()); // the input itself, not slope·x
/// assert_eq!(tutorial.backward(&array![[3.0]])?, array![[3.0]]);
/// # Ok::<(), rectify::LayerError>(())
/// ```
pub type LeakyReluLayer = Rectifier<LeakyRelu>;

impl Rectifier<LeakyRelu> {
    /// A Leaky ReLU layer with the given slope for `x <= 0`.
    ///
    /// Any finite slope works, including 0, negative slopes and slopes
    /// above 1. With slope 0 it is ReLU except at `-inf` (NaN, as in
    /// PyTorch) and in the sign of zero outputs; use
    /// [`ReluLayer`](crate::ReluLayer) for the exact ReLU.
    ///
    /// # Errors
    ///
    /// [`LayerError::InvalidParameter`](crate::LayerError::InvalidParameter)
    /// naming the value if `negative_slope` is NaN or infinite.
    ///
    /// # Examples
    ///
    /// ```
    /// use rectify::{LayerError, LeakyReluLayer};
    ///
    /// assert_eq!(LeakyReluLayer::new(0.2)?.negative_slope(), 0.2);
    /// let err = LeakyReluLayer::new(f64::NAN).unwrap_err();
    /// assert!(matches!(err, LayerError::InvalidParameter { .. }));
    /// assert!(err.to_string().contains("NaN"));
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn new(negative_slope: f64) -> Result<Self> {
        let slope = hyper(LeakyRelu::LAYER, "negative_slope", negative_slope).finite()?;
        Ok(Rectifier::of(LeakyRelu { slope }))
    }

    /// The slope for `x <= 0`.
    ///
    /// ```
    /// use rectify::LeakyReluLayer;
    ///
    /// assert_eq!(LeakyReluLayer::default().negative_slope(), 0.01);
    /// ```
    pub fn negative_slope(&self) -> f64 {
        self.member().slope
    }
}

#[cfg(test)]
mod tests {
    use ndarray::array;

    use super::*;
    use crate::activation::test_util::{check_table, same, Examples, G, INF, NAN, X};
    use crate::{LayerError, ReluLayer};

    /// The expected outputs and input gradients, computed by hand for slope `a`.
    fn table(a: f64, side: AtZero) -> ([f64; 9], [f64; 9]) {
        let zero_active = side == AtZero::Active;
        let (y0, y5) = if zero_active {
            (0.0, -0.0)
        } else {
            (a * 0.0, a * -0.0)
        };
        let d = if zero_active { 1.0 } else { a };
        let y = [1.0, a * -10.0, y0, 15.0, a * -20.0, y5, INF, a * -INF, NAN];
        let dx = [
            0.5,
            a * 2.0,
            d * 3.0,
            -4.0,
            a * 5.0,
            d * 6.0,
            7.0,
            a * 8.0,
            a * 9.0,
        ];
        (y, dx)
    }

    #[test]
    fn semantics_table_for_many_slopes() {
        for a in [0.01, 0.2, 1.0, 3.0, -0.5, 0.0] {
            for side in [AtZero::Inactive, AtZero::Active] {
                let (y, dx) = table(a, side);
                let mut leaky = LeakyReluLayer::new(a).unwrap().at_zero(side);
                check_table(&mut leaky, &X, &y, &G, &dx);
            }
        }
    }

    #[test]
    fn tutorial_values_and_gradients() {
        let outputs = [1.0, -10.0, 0.0, 15.0, -20.0].map(|x| leaky_relu(x, 0.01));
        assert_eq!(outputs, [1.0, -0.1, 0.0, 15.0, -0.2]);
        let grads = [1.0, -10.0, 0.0, 15.0, -20.0].map(|x| leaky_relu_grad(x, 0.01));
        assert_eq!(grads, [1.0, 0.01, 0.01, 1.0, 0.01]);
    }

    #[test]
    fn scalar_functions_match_the_table() {
        let (y, dx) = table(0.2, AtZero::Inactive);
        for i in 0..X.len() {
            assert!(same(leaky_relu(X[i], 0.2), y[i]), "leaky_relu({})", X[i]);
            assert!(
                same(leaky_relu_grad(X[i], 0.2) * G[i], dx[i]),
                "grad at {}",
                X[i]
            );
        }
    }

    #[test]
    fn slope_zero_is_relu_on_finite_inputs_and_nan_at_minus_infinity() {
        let x = array![[-3.0, -0.0, 0.0, 2.0, INF, -INF]];
        let leaky = LeakyReluLayer::new(0.0).unwrap().predict(&x).unwrap();
        let relu = ReluLayer::new().predict(&x).unwrap();
        for j in 0..5 {
            assert_eq!(leaky[[0, j]], relu[[0, j]], "column {j}");
        }
        assert!(leaky[[0, 5]].is_nan(), "0 · -inf is NaN, as in PyTorch");
        assert_eq!(relu[[0, 5]], 0.0);
    }

    #[test]
    fn default_slope_is_one_hundredth() {
        assert_eq!(LeakyReluLayer::default().negative_slope(), 0.01);
        let y = LeakyReluLayer::default().predict(&array![[-10.0]]).unwrap();
        assert_eq!(y, array![[-0.1]]);
    }

    #[test]
    fn non_finite_slopes_are_rejected_with_the_value() {
        for bad in [NAN, INF, -INF] {
            match LeakyReluLayer::new(bad).unwrap_err() {
                LayerError::InvalidParameter {
                    layer, name, value, ..
                } => {
                    assert_eq!((layer, name), ("LeakyReluLayer", "negative_slope"));
                    assert!(same(value, bad));
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        let msg = LeakyReluLayer::new(INF).unwrap_err().to_string();
        assert!(
            msg.contains("LeakyReluLayer") && msg.contains("inf"),
            "{msg}"
        );
    }

    #[test]
    fn errors_leave_the_layer_usable() {
        let mut leaky = LeakyReluLayer::new(0.5).unwrap();
        assert!(leaky.backward(&array![[1.0]]).is_err());
        leaky.forward(&array![[-2.0, 4.0]]).unwrap();
        let err = leaky
            .backward(&array![[1.0, 2.0, 3.0]])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("LeakyReluLayer") && err.contains("[1, 3]") && err.contains("[1, 2]"),
            "{err}"
        );
        assert_eq!(
            leaky.backward(&array![[10.0, 20.0]]).unwrap(),
            array![[5.0, 20.0]]
        );
    }

    impl<A: Float> Examples<A> for LeakyReluLayer {
        type Member = LeakyRelu;
        fn examples(_cols: usize) -> Vec<LeakyReluLayer> {
            let sides = [AtZero::Inactive, AtZero::Active];
            let slopes = [0.01, 0.0, -0.5, 3.0, 0.1];
            let layer = |(side, slope)| LeakyReluLayer::new(slope).unwrap().at_zero(side);
            sides
                .into_iter()
                .flat_map(|side| slopes.map(|slope| layer((side, slope))))
                .collect()
        }
    }
}
