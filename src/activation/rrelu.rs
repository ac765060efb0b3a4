//! [`RReluLayer`]: randomized leaky ReLU, a slope drawn per element on each
//! forward.

use super::kernel::{mix64, Drawn, Fixed};
use super::leaky_relu::Leaky;
use super::rectifier::{sealed, Member, Rectifier, ZeroSided};
use crate::validate::hyper;
use crate::{Float, Result};

const LAYER: &str = "RReluLayer";

/// The randomized leaky rule: the slope side is `r·x`, and NaN is on the
/// active side (its gradient passes, as in PyTorch's `rrelu_with_noise`).
pub type Randomized = Leaky<true>;

/// The RReLU member: slopes drawn from U(lower, upper) in training, their
/// mean in inference. See [`RReluLayer`].
#[derive(Debug, Clone)]
pub struct RRelu {
    lower: f64,
    upper: f64,
    seed: u64,
    /// Successful forwards so far.
    pub(crate) forwards: u64,
    /// The key the last successful forward drew its slopes under, which its
    /// backward regenerates them from (even if the seed changed since).
    last: u64,
}

impl RRelu {
    /// The key of forward number `forwards` (from 0) under the seed.
    fn key(&self) -> u64 {
        mix64(self.seed ^ mix64(self.forwards))
    }
}

impl Default for RRelu {
    /// PyTorch's `nn.RReLU()`: U(1/8, 1/3), seed 0.
    fn default() -> Self {
        RRelu {
            lower: 1.0 / 8.0,
            upper: 1.0 / 3.0,
            seed: 0,
            forwards: 0,
            last: 0,
        }
    }
}

impl sealed::Sealed for RRelu {}

impl<A: Float> Member<A> for RRelu {
    const LAYER: &'static str = LAYER;
    type Rule = Randomized;
    type Train<'a> = Drawn;
    type Infer<'a> = Fixed<A>;
    type Keep<'a> = ();
    type Learn<'a> = ();

    fn rule(&self) -> Result<Randomized> {
        A::hyper(LAYER, "lower", self.lower)?;
        A::hyper(LAYER, "upper", self.upper)?;
        Ok(Leaky)
    }

    fn forward_parts(&mut self, _shape: &[usize]) -> Result<(Drawn, ())> {
        Ok((Drawn::new(self.key(), self.lower, self.upper), ()))
    }

    fn forwarded(&mut self) {
        self.last = self.key();
        // After 2^64 forwards the count (and the slopes) start over.
        self.forwards = self.forwards.wrapping_add(1);
    }

    fn backward_parts(&mut self) -> Result<(Drawn, ())> {
        Ok((Drawn::new(self.last, self.lower, self.upper), ()))
    }

    fn predict_slopes(&self, _shape: &[usize], _table: &mut Vec<A>) -> Result<Fixed<A>> {
        Ok(Fixed(A::round_from((self.lower + self.upper) / 2.0)))
    }
}

impl ZeroSided for RRelu {}

/// Randomized leaky rectified linear unit (Xu et al. 2015), PyTorch's
/// `nn.RReLU(lower, upper)`: in training, `y = x` if `x > 0`, else `r·x`
/// with a slope `r` drawn from U(lower, upper) for each element on each
/// forward; in inference (`predict`), `r` is the mean `(lower + upper) / 2`.
///
/// | input x | `forward` output | gradient | `predict` output |
/// | --- | --- | --- | --- |
/// | `x > 0`, `+inf` | `x` | `g` | `x` |
/// | `±0.0` | `r·x` (`x` with [`AtZero::Active`](crate::AtZero::Active)) | `r·g` (`g` with [`AtZero::Active`](crate::AtZero::Active)) | `m·x` |
/// | `x < 0`, `-inf` | `r·x` | `r·g` | `m·x` |
/// | NaN | NaN | `g` | NaN |
///
/// The slopes of a forward depend only on the seed, on how many forwards
/// the layer has run (only a successful `forward` or `forward_owned`
/// counts; `predict` does not), and on each element's (row, column): not on
/// the input's memory layout, the code path or threads. `backward`
/// regenerates them instead of storing them, so the cache is the one-bit
/// [`Mask`](crate::Mask) plus a few words. A slope is
/// `lower + (upper - lower)·u` with `u` a multiple of 2⁻³² in [0, 1), drawn
/// by a counter-based hash inside the kernel. Layers with the same seed draw
/// the same slopes for the same shapes: give each layer of a network its own
/// seed ([`RReluLayer::with_seed`]).
///
/// In `f32` each slope is drawn in `f64` and rounded to `f32`, as PyTorch
/// draws `r` in double and rounds it; the mean slope of `predict` is
/// `(lower + upper) / 2` in `f64`, rounded.
///
/// # Shapes
///
/// - input: any shape (`(batch, features)` in the [`Layer`](crate::Layer)
///   impl), any layout (standard, transposed, permuted, sliced); the slope
///   of an element depends on its row-major index
/// - output: same as input, standard layout
/// - grad_output and grad_input: same as the last forward's input
///
/// # Examples
///
/// ```
/// use rectify::{ndarray::array, RReluLayer};
///
/// let mut rrelu = RReluLayer::new(0.1, 0.3)?.with_seed(7);
/// let y = rrelu.forward(&array![[-10.0, 4.0]])?;
/// assert!((-3.0..=-1.0).contains(&y[[0, 0]]) && y[[0, 1]] == 4.0);
/// let dx = rrelu.backward(&array![[1.0, 1.0]])?;
/// assert_eq!(dx[[0, 0]] * -10.0, y[[0, 0]]); // the forward's slope, regenerated
/// assert_eq!(rrelu.predict(&array![[-10.0]])?, array![[-2.0]]); // the mean slope, 0.2
/// # Ok::<(), rectify::LayerError>(())
/// ```
pub type RReluLayer = Rectifier<RRelu>;

impl Rectifier<RRelu> {
    /// An RReLU layer drawing slopes from U(lower, upper), with seed 0.
    ///
    /// # Errors
    ///
    /// [`LayerError::InvalidParameter`](crate::LayerError::InvalidParameter)
    /// naming the value unless both bounds are finite and `lower <= upper`.
    ///
    /// # Examples
    ///
    /// ```
    /// use rectify::RReluLayer;
    ///
    /// assert_eq!(RReluLayer::new(0.1, 0.1)?.lower(), 0.1);
    /// let err = RReluLayer::new(0.5, 0.25).unwrap_err();
    /// assert_eq!(err.to_string(), "RReluLayer: invalid upper = 0.25: must be at least lower = 0.5");
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn new(lower: f64, upper: f64) -> Result<Self> {
        let lower = hyper(LAYER, "lower", lower).finite()?;
        let upper = hyper(LAYER, "upper", upper).finite()?;
        let bound = ("lower", lower);
        hyper(LAYER, "upper", upper).require_against(lower <= upper, "must be at least", bound)?;
        Ok(Rectifier::of(RRelu {
            lower,
            upper,
            ..RRelu::default()
        }))
    }

    /// The same layer drawing its slopes under `seed` from its next forward
    /// on; the count of forwards run is unchanged, and a backward after this
    /// call still uses the slopes of the forward before it.
    ///
    /// # Examples
    ///
    /// ```
    /// use rectify::{ndarray::Array2, RReluLayer};
    ///
    /// let x = -Array2::<f64>::ones((2, 3));
    /// let a = RReluLayer::default().with_seed(1).forward(&x)?;
    /// let b = RReluLayer::default().with_seed(1).forward(&x)?;
    /// let c = RReluLayer::default().with_seed(2).forward(&x)?;
    /// assert_eq!(a, b);
    /// assert_ne!(a, c);
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn with_seed(self, seed: u64) -> Self {
        let mut layer = self;
        layer.member_mut().seed = seed;
        layer
    }

    /// The lower bound of the slopes.
    pub fn lower(&self) -> f64 {
        self.member().lower
    }

    /// The upper bound of the slopes.
    pub fn upper(&self) -> f64 {
        self.member().upper
    }

    /// The seed the slopes are drawn under.
    pub fn seed(&self) -> u64 {
        self.member().seed
    }
}

#[cfg(test)]
mod tests {
    use ndarray::{array, s, Array2};

    use super::*;
    use crate::activation::test_util::{check_table, same, Examples, G, INF, NAN, X};
    use crate::{AtZero, LayerError};

    /// See [`the_slopes_of_a_seed_are_pinned`].
    const PINNED: [u64; 6] = [
        4599261403068148394,
        4595048027108584106,
        4594005893669628587,
        4596263310598690133,
        4594257618305460907,
        4598348009562963968,
    ];

    /// The slopes of a forward over `x`, all negative: `y / x`.
    fn slopes_of(layer: &mut RReluLayer, x: &Array2<f64>) -> Array2<f64> {
        layer.forward(x).unwrap() / x
    }

    #[test]
    fn equal_bounds_give_the_leaky_table_with_nan_active() {
        // r = 0.25 exactly; NaN passes g (active), unlike Leaky ReLU.
        let y = [1.0, -2.5, 0.0, 15.0, -5.0, -0.0, INF, -INF, NAN];
        let dx = [0.5, 0.5, 0.75, -4.0, 1.25, 1.5, 7.0, 2.0, 9.0];
        check_table(&mut RReluLayer::new(0.25, 0.25).unwrap(), &X, &y, &G, &dx);
        let y = [1.0, -2.5, 0.0, 15.0, -5.0, -0.0, INF, -INF, NAN];
        let dx = [0.5, 0.5, 3.0, -4.0, 1.25, 6.0, 7.0, 2.0, 9.0];
        let mut active = RReluLayer::new(0.25, 0.25).unwrap().at_zero(AtZero::Active);
        check_table(&mut active, &X, &y, &G, &dx);
    }

    #[test]
    fn predict_uses_the_mean_slope_and_is_deterministic() {
        let layer = RReluLayer::new(0.1, 0.5).unwrap();
        let x = array![[-10.0, 0.0, -0.0, 2.0, -INF, NAN]];
        let y = layer.predict(&x).unwrap();
        let m = (0.1 + 0.5) / 2.0;
        let want = [m * -10.0, m * 0.0, m * -0.0, 2.0, -INF, NAN];
        for (got, want) in y.iter().zip(want) {
            assert!(same(*got, want), "{y}");
        }
        assert!(y[[0, 2]].is_sign_negative());
        let again = layer.predict(&x).unwrap();
        assert!(again.iter().zip(&y).all(|(a, b)| same(*a, *b)));
    }

    #[test]
    fn slopes_are_uniform_in_the_bounds() {
        let (lower, upper) = (1.0 / 8.0, 1.0 / 3.0);
        let mut layer = RReluLayer::default().with_seed(3);
        let x = -Array2::<f64>::ones((300, 301));
        let r = slopes_of(&mut layer, &x);
        assert!(r.iter().all(|&r| (lower..=upper).contains(&r)));
        let n = r.len() as f64;
        let mean = r.sum() / n;
        let var = r.mapv(|r| (r - mean).powi(2)).sum() / n;
        let (want_mean, want_var) = ((lower + upper) / 2.0, (upper - lower).powi(2) / 12.0);
        // Standard errors: sd/sqrt(n) for the mean, about var·sqrt(0.8/n) for the variance.
        assert!(
            (mean - want_mean).abs() < 5.0 * (want_var / n).sqrt(),
            "mean {mean}"
        );
        assert!(
            (var - want_var).abs() < 5.0 * want_var * (0.8 / n).sqrt(),
            "var {var}"
        );
        // Neighbours are not correlated.
        let flat = r.as_slice().unwrap();
        let lag: f64 = flat
            .windows(2)
            .map(|w| (w[0] - mean) * (w[1] - mean))
            .sum::<f64>()
            / n;
        assert!(
            lag.abs() < 5.0 * want_var / n.sqrt(),
            "lag-1 covariance {lag}"
        );
    }

    #[test]
    fn slopes_depend_on_seed_count_and_position_only() {
        let x = -Array2::from_shape_fn((7, 19), |(r, c)| 1.0 + (r * 19 + c) as f64);
        let mut a = RReluLayer::default().with_seed(11);
        let first = a.forward(&x).unwrap();
        let second = a.forward(&x).unwrap();
        assert_ne!(first, second, "each forward draws anew");

        // The same seed and count through forward_owned, a transposed view
        // and a sliced view of the same values.
        let mut b = RReluLayer::default().with_seed(11);
        assert_eq!(b.forward_owned(x.clone()).unwrap(), first);
        let xt = x.t().to_owned();
        assert_eq!(b.forward(&xt.t()).unwrap(), second);
        let mut wide = Array2::from_elem((7, 38), NAN);
        wide.slice_mut(s![.., ..;2]).assign(&x);
        let mut c = RReluLayer::default().with_seed(11);
        assert_eq!(c.forward(&wide.slice(s![.., ..;2])).unwrap(), first);

        // predict and a failed backward do not advance the count.
        let mut d = RReluLayer::default().with_seed(11);
        d.predict(&x).unwrap();
        assert!(d.backward(&x).is_err());
        assert_eq!(d.forward(&x).unwrap(), first);
    }

    #[test]
    fn backward_uses_exactly_the_forward_slopes() {
        let x = Array2::from_shape_fn((9, 37), |(r, c)| ((r * 37 + c) as f64 * 0.7).sin() * 5.0);
        let g = Array2::from_shape_fn((9, 37), |(r, c)| (r as f64 + 1.0) * 0.5 - c as f64 * 0.1);
        let mut layer = RReluLayer::new(0.05, 0.9).unwrap().with_seed(5);
        for _ in 0..3 {
            let y = layer.forward(&x).unwrap();
            let dx = layer.backward(&g).unwrap();
            for ((&x, &y), (&g, &dx)) in x.iter().zip(&y).zip(g.iter().zip(&dx)) {
                if x > 0.0 {
                    assert_eq!((y, dx), (x, g));
                } else if x != 0.0 {
                    // y = r·x and dx = r·g for one r in the bounds.
                    let r = y / x;
                    assert!((0.05..=0.9).contains(&r), "{r}");
                    assert!(
                        (dx - r * g).abs() <= 1e-15 * g.abs().max(1.0),
                        "{dx} vs {r}·{g}"
                    );
                }
            }
            assert_eq!(
                layer.backward_owned(g.clone()).unwrap(),
                layer.backward(&g).unwrap()
            );
        }
    }

    #[test]
    fn a_new_seed_between_forward_and_backward_keeps_the_forward_slopes() {
        let x = array![[-1.0, -2.0, -3.0, 4.0]];
        let g = array![[1.0, 1.0, 1.0, 1.0]];
        let mut layer = RReluLayer::default().with_seed(1);
        let y = layer.forward(&x).unwrap();
        let mut layer = layer.with_seed(2);
        assert_eq!(layer.backward(&g).unwrap() * &x, y);
    }

    /// The generator is part of the seed's promise: the same seed gives the
    /// same slopes in every version. These are the first slopes of seed 0
    /// and of seed 42's second forward.
    #[test]
    fn the_slopes_of_a_seed_are_pinned() {
        let x = -Array2::<f64>::ones((1, 3));
        let slopes = |seed, forwards| {
            let mut layer = RReluLayer::default().with_seed(seed);
            for _ in 0..forwards {
                layer.forward(&x).unwrap();
            }
            (layer.forward(&x).unwrap() / &x).mapv(f64::to_bits)
        };
        assert_eq!(slopes(0, 0), array![[PINNED[0], PINNED[1], PINNED[2]]]);
        assert_eq!(slopes(42, 1), array![[PINNED[3], PINNED[4], PINNED[5]]]);
    }

    #[test]
    fn bounds_are_validated_with_the_value() {
        for (lo, up, name) in [
            (NAN, 0.3, "lower"),
            (0.1, INF, "upper"),
            (0.4, 0.3, "upper"),
        ] {
            match RReluLayer::new(lo, up).unwrap_err() {
                LayerError::InvalidParameter { layer, name: n, .. } => {
                    assert_eq!((layer, n), ("RReluLayer", name));
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(RReluLayer::new(-0.5, -0.5).is_ok());
        // Both bounds are printed, each in its shortest round-trip form.
        for (lo, up, message) in [
            (0.3, 0.1, "upper = 0.1: must be at least lower = 0.3"),
            (
                1e300,
                -5e-324,
                "upper = -5e-324: must be at least lower = 1e300",
            ),
            (-0.0, -1e-7, "upper = -1e-7: must be at least lower = -0"),
        ] {
            let err = RReluLayer::new(lo, up).unwrap_err();
            assert_eq!(err.to_string(), format!("RReluLayer: invalid {message}"));
            assert!(matches!(
                err,
                LayerError::InvalidParameter { bound: Some(("lower", b)), .. } if b == lo
            ));
        }
        let d = RReluLayer::default();
        assert_eq!((d.lower(), d.upper(), d.seed()), (0.125, 1.0 / 3.0, 0));
    }

    impl<A: Float> Examples<A> for RReluLayer {
        type Member = RRelu;
        fn examples(_cols: usize) -> Vec<RReluLayer> {
            let sides = [AtZero::Inactive, AtZero::Active];
            let layers = |side| {
                [
                    RReluLayer::default().with_seed(9).at_zero(side),
                    RReluLayer::new(-0.5, 2.0).unwrap().at_zero(side),
                ]
            };
            sides.into_iter().flat_map(layers).collect()
        }
    }
}
