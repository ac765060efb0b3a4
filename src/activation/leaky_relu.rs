//! [`LeakyReluLayer`] and the scalar [`leaky_relu`]: `x` if `x > 0`, else `slope·x`.

use super::{AtZero, Lanes, Mask, Rectifier, Rule};
use crate::validate::hyper;
use crate::Result;

/// The Leaky ReLU rule: `slope·x` on the inactive side, always (as in
/// PyTorch), so a NaN input is inactive and gives NaN, and with slope 0 an
/// input of `-inf` gives NaN (`0·∞`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Leaky {
    slope: f64,
    zero_active: bool,
}

impl Rule for Leaky {
    const LAYER: &'static str = "LeakyReluLayer";

    #[inline(always)]
    fn forward<V: Lanes>(self, x: V) -> (V::Mask, V) {
        let zero = V::splat(0.0);
        let active = if self.zero_active {
            x.ge(zero)
        } else {
            x.gt(zero)
        };
        (active, V::select(active, x, x.mul(V::splat(self.slope))))
    }

    #[inline(always)]
    fn backward<V: Lanes>(self, g: V, active: V::Mask) -> V {
        V::select(active, g, g.mul(V::splat(self.slope)))
    }
}

/// Leaky ReLU of one value: `x` if `x > 0`, else `negative_slope·x`.
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
pub fn leaky_relu(x: f64, negative_slope: f64) -> f64 {
    leaky(negative_slope, AtZero::Inactive).forward(x).1
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
pub fn leaky_relu_grad(x: f64, negative_slope: f64) -> f64 {
    let rule = leaky(negative_slope, AtZero::Inactive);
    rule.backward(1.0, rule.forward(x).0)
}

fn leaky(slope: f64, side: AtZero) -> Leaky {
    Leaky {
        slope,
        zero_active: side.zero_is_active(),
    }
}

/// Leaky rectified linear unit, `y = x` if `x > 0`, else `negative_slope·x`,
/// as a layer (Maas et al. 2013).
///
/// Unlike ReLU its inactive side still passes `negative_slope·g`, so a unit
/// pushed far negative keeps learning. `forward` caches a one-bit-per-element
/// [`Mask`]; PyTorch caches the whole input instead.
///
/// | input x | output | gradient |
/// | --- | --- | --- |
/// | `x > 0`, `+inf` | `x` | `g` |
/// | `x < 0`, `-inf` | `slope·x` | `slope·g` |
/// | `±0.0` | `slope·x` (`x` with [`AtZero::Active`]) | `slope·g` (`g` with [`AtZero::Active`]) |
/// | NaN | NaN | `slope·g` |
///
/// # Shapes
///
/// - input: `(batch, features)`, any layout (standard, transposed, sliced)
/// - output: same as input, standard layout
/// - grad_output and grad_input: same as the last forward's input
///
/// # Examples
///
/// ```
/// use rectify::{ndarray::array, Layer, LeakyReluLayer};
///
/// let mut leaky = LeakyReluLayer::new(0.1)?;
/// assert_eq!(leaky.forward(&array![[-10.0, 0.0, 2.0]])?, array![[-1.0, 0.0, 2.0]]);
/// assert_eq!(leaky.backward(&array![[1.0, 2.0, 3.0]])?, array![[0.1, 0.2, 3.0]]);
/// # Ok::<(), rectify::LayerError>(())
/// ```
#[derive(Debug, Clone)]
pub struct LeakyReluLayer {
    inner: Rectifier<Leaky>,
}

impl LeakyReluLayer {
    /// A Leaky ReLU layer with the given slope for `x <= 0`.
    ///
    /// Any finite slope works, including 0, negative slopes and slopes
    /// above 1. With slope 0 it is ReLU except at `-inf` (NaN, as in
    /// PyTorch) and in the sign of zero outputs; use
    /// [`ReluLayer`](crate::ReluLayer) for the exact ReLU.
    ///
    /// # Errors
    ///
    /// [`LayerError::InvalidParameter`](crate::LayerError::InvalidParameter) naming the value if `negative_slope`
    /// is NaN or infinite.
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
        let negative_slope = hyper(Leaky::LAYER, "negative_slope", negative_slope).finite()?;
        Ok(LeakyReluLayer {
            inner: Rectifier::new(leaky(negative_slope, AtZero::Inactive)),
        })
    }

    /// The slope applied to inputs on the inactive side.
    ///
    /// # Examples
    ///
    /// ```
    /// use rectify::LeakyReluLayer;
    ///
    /// assert_eq!(LeakyReluLayer::default().negative_slope(), 0.01);
    /// ```
    pub fn negative_slope(&self) -> f64 {
        self.inner.rule.slope
    }

    /// The same layer with `±0.0` inputs counted on the given side.
    ///
    /// # Examples
    ///
    /// ```
    /// use rectify::{ndarray::array, AtZero, Layer, LeakyReluLayer};
    ///
    /// let mut leaky = LeakyReluLayer::default().at_zero(AtZero::Active);
    /// let y = leaky.forward(&array![[-0.0]])?;
    /// assert!(y[[0, 0]].is_sign_negative()); // the input itself, not slope·x
    /// assert_eq!(leaky.backward(&array![[3.0]])?, array![[3.0]]);
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn at_zero(mut self, side: AtZero) -> Self {
        self.inner.rule.zero_active = side.zero_is_active();
        self
    }

    /// The mask cached by the last forward; `None` before any forward.
    ///
    /// # Examples
    ///
    /// ```
    /// use rectify::{ndarray::array, Layer, LeakyReluLayer};
    ///
    /// let mut leaky = LeakyReluLayer::default();
    /// leaky.forward(&array![[-1.0, 1.0]])?;
    /// assert_eq!(leaky.mask().unwrap().to_array(), array![[false, true]]);
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn mask(&self) -> Option<&Mask> {
        self.inner.mask()
    }
}

impl Default for LeakyReluLayer {
    /// Slope 0.01, as in Maas et al. (2013) and PyTorch.
    fn default() -> Self {
        LeakyReluLayer {
            inner: Rectifier::new(leaky(0.01, AtZero::Inactive)),
        }
    }
}

super::delegate_layer!(LeakyReluLayer);

#[cfg(test)]
mod tests {
    use ndarray::array;

    use super::*;
    use crate::activation::test_util::{check_table, same, G, INF, NAN, X};
    use crate::{Layer, LayerError, ReluLayer};

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

    #[test]
    fn every_path_agrees_bit_for_bit() {
        for side in [AtZero::Inactive, AtZero::Active] {
            for slope in [0.01, 0.0, -0.5, 3.0] {
                super::super::tests::paths_agree(leaky(slope, side));
            }
        }
    }
}
