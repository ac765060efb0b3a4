//! [`PReluLayer`]: Leaky ReLU whose slope is learned, `x` if `x > 0`, else `a·x`.

use ndarray::{Array1, ArrayView1};

use super::kernel::{window, window_mut, Periodic, Tap, WORD};
use super::leaky_relu::Leaky;
use super::rectifier::{sealed, Member, Rectifier, ZeroSided};
use crate::alloc::need;
use crate::validate::hyper;
use crate::{Float, LayerError, Param, Result};

const LAYER: &str = "PReluLayer";

/// The PReLU member: the Leaky ReLU rule with learned slopes in `A`, one
/// shared or one per channel (axis 1). See [`PReluLayer`].
#[derive(Debug, Clone)]
pub struct PRelu<A = f64> {
    slopes: Array1<A>,
    slopes_grad: Array1<A>,
    /// The last forward's input, row-major, for dL/da, padded to whole
    /// blocks (at least one).
    input: Vec<A>,
    /// The slopes, laid out by [`Periodic`] for the last pass's period.
    table: Vec<A>,
    /// The elements of one channel of one sample in the last forward: the
    /// product of the lengths after axis 1 (see [`PRelu::period`]).
    inner: usize,
    /// The period of the slopes in the last forward.
    period: usize,
    /// Per-position sums of `x·g` over the slope side, folded into
    /// `slopes_grad` by channel after each backward.
    sums: Vec<A>,
}

impl<A: Float> PRelu<A> {
    fn with(slopes: Array1<A>) -> Result<Self> {
        let grad = need(LAYER, "new", "slopes_grad", [slopes.len()]).zeros()?;
        Ok(PRelu {
            slopes_grad: Array1::from_vec(grad),
            slopes,
            input: Vec::new(),
            table: Vec::new(),
            inner: 1,
            period: 1,
            sums: Vec::new(),
        })
    }

    /// The elements per channel and the period of the slopes along the
    /// row-major order of an input of `shape`: `(1, 1)` for one shared
    /// slope, else `(len(rest), C·len(rest))` for `(N, C, rest…)` (where
    /// [`Member::check_input`] has checked that `C` is the number of
    /// slopes).
    fn period(&self, shape: &[usize]) -> (usize, usize) {
        if self.slopes.len() == 1 {
            (1, 1)
        } else {
            let inner = shape[2..].iter().product::<usize>().max(1);
            (inner, self.slopes.len() * inner)
        }
    }

    fn slopes(&self) -> &[A] {
        self.slopes.as_slice().expect("a new Array1 is contiguous")
    }
}

impl<A: Float> Default for PRelu<A> {
    /// One shared slope of 0.25, PyTorch's `nn.PReLU()`.
    fn default() -> Self {
        PRelu::with(Array1::from_elem(1, A::round_from(0.25))).expect("one slope")
    }
}

/// Copies each forward's input into the cache.
pub struct KeepInput<'a, A> {
    /// Padded to whole blocks, so that every block has a window.
    cache: &'a mut [A],
    /// The current block's first element.
    start: usize,
}

impl<A: Float> Tap<A> for KeepInput<'_, A> {
    #[inline(always)]
    fn begin(&mut self, k: usize) {
        self.start = k * WORD;
    }

    #[inline(always)]
    fn forward(&mut self, x: A, i: usize) {
        window_mut(self.cache, self.start)[i] = x;
    }

    #[cfg(feature = "rayon")]
    fn split_at(self, k: usize) -> std::result::Result<(Self, Self), Self> {
        let (a, b) = self.cache.split_at_mut(k * WORD);
        let start = 0;
        Ok((KeepInput { cache: a, start }, KeepInput { cache: b, start }))
    }
}

/// Adds each element's share of dL/da, `x·g` on the slope side and 0 on the
/// active side (PyTorch's `input > 0 ? 0 : input * grad`, so a NaN input
/// gives NaN), to the sum of its position in the slope table.
pub struct SlopeGrad<'a, A> {
    slopes: Periodic<'a, A>,
    sums: &'a mut [A],
    /// The cached input, padded to whole blocks.
    input: &'a [A],
    /// The current block's first element.
    start: usize,
}

impl<A: Float> Tap<A> for SlopeGrad<'_, A> {
    #[inline(always)]
    fn begin(&mut self, k: usize) {
        use super::kernel::Slopes;
        self.start = k * WORD;
        self.slopes.begin(k);
    }

    #[inline(always)]
    fn backward(&mut self, g: A, active: bool, i: usize) {
        let x = window(self.input, self.start)[i];
        let share = if active { A::zero() } else { x * g };
        window_mut(self.sums, self.slopes.start())[i] += share;
    }

    /// One set of sums: the passes that accumulate into it stay on one thread.
    #[cfg(feature = "rayon")]
    fn split_at(self, _k: usize) -> std::result::Result<(Self, Self), Self> {
        Err(self)
    }
}

impl<A: Float> sealed::Sealed for PRelu<A> {}

impl<A: Float> Member<A> for PRelu<A> {
    const LAYER: &'static str = LAYER;
    type Rule = Leaky;
    type Train<'a> = Periodic<'a, A>;
    type Infer<'a> = Periodic<'a, A>;
    type Keep<'a> = KeepInput<'a, A>;
    type Learn<'a> = SlopeGrad<'a, A>;

    fn rule(&self) -> Result<Leaky> {
        Ok(Leaky)
    }

    /// With `n > 1` slopes, axis 1 of the input must have length `n`.
    fn check_input(&self, operation: &'static str, shape: &[usize]) -> Result<()> {
        let n = self.slopes.len();
        if n != 1 && shape.get(1) != Some(&n) {
            let mut expected = shape.to_vec();
            match expected.get_mut(1) {
                Some(channels) => *channels = n,
                None => expected.push(n),
            }
            return Err(LayerError::shape(
                LAYER, operation, "input", &expected, shape,
            ));
        }
        Ok(())
    }

    fn forward_parts(&mut self, shape: &[usize]) -> Result<(Periodic<'_, A>, KeepInput<'_, A>)> {
        let need = need(LAYER, "forward", "input cache", shape);
        let len = need.elements()?.div_ceil(WORD).max(1) * WORD;
        need.reserve(&mut self.input, len)?;
        self.input.resize(len, A::zero());
        (self.inner, self.period) = self.period(shape);
        let slopes = self.slopes.as_slice().expect("a new Array1 is contiguous");
        let periodic = Periodic::new(slopes, self.inner, self.period, &mut self.table);
        let keep = KeepInput {
            cache: &mut self.input,
            start: 0,
        };
        Ok((periodic, keep))
    }

    fn backward_parts(&mut self) -> Result<(Periodic<'_, A>, SlopeGrad<'_, A>)> {
        // The slopes as they are now: a step or a load since the forward
        // counts, as it does for DenseLayer's weights.
        let slopes = self.slopes.as_slice().expect("a new Array1 is contiguous");
        let slopes = Periodic::new(slopes, self.inner, self.period, &mut self.table);
        self.sums.clear();
        self.sums.resize(self.period + WORD, A::zero());
        let tap = SlopeGrad {
            slopes,
            sums: &mut self.sums,
            input: &self.input,
            start: 0,
        };
        Ok((slopes, tap))
    }

    /// Folds the sums by slope: position `p` of the table has the slope of
    /// channel `p % period / inner`.
    fn backwarded(&mut self) {
        self.slopes_grad.fill(A::zero());
        let n = self.slopes_grad.len();
        for sums in self.sums.chunks(self.period) {
            for (p, &sum) in sums.iter().enumerate() {
                self.slopes_grad[p / self.inner % n] += sum;
            }
        }
    }

    fn predict_slopes<'a>(
        &'a self,
        shape: &[usize],
        table: &'a mut Vec<A>,
    ) -> Result<Periodic<'a, A>> {
        let (inner, period) = self.period(shape);
        Ok(Periodic::new(self.slopes(), inner, period, table))
    }

    /// The slopes, a 1-D array of length `num_parameters`.
    fn params(&mut self) -> Vec<Param<'_, A>> {
        vec![Param {
            value: self.slopes.view_mut().into_dyn(),
            grad: self.slopes_grad.view().into_dyn(),
        }]
    }
}

impl<A: Float> ZeroSided for PRelu<A> {}

/// Parametric rectified linear unit (He et al. 2015), PyTorch's
/// `nn.PReLU`: `y = x` if `x > 0`, else `a·x`, where the slope `a` is a
/// trained parameter in the element type `A`, either one shared by every
/// element or one per channel: per column of a `(batch, features)` input,
/// per axis-1 slice of an `(N, C, …)` one, as `torch.nn.PReLU(C)`.
///
/// Element by element it is [`leaky_relu`](crate::leaky_relu) with slope
/// `a` (its gradient is [`leaky_relu_grad`](crate::leaky_relu_grad)), so
/// `±0.0` and NaN are on the slope side, as in PyTorch (`±0.0` moves to the
/// identity side with [`AtZero::Active`](crate::AtZero::Active)). The slope's gradient is the sum,
/// over the elements that share it, of `x·g` where `x` is not `> 0`:
///
/// | input x | output | dL/dx | share of dL/da |
/// | --- | --- | --- | --- |
/// | `x > 0`, `+inf` | `x` | `g` | `0` |
/// | `x < 0`, `±0.0`, `-inf` | `a·x` | `a·g` | `x·g` |
/// | NaN | NaN | `a·g` | NaN |
///
/// `forward` runs the family's kernel with each element's slope taken from
/// a table of one period of the slopes (one sample's elements: `C·H·W` for
/// NCHW), writes the one-bit [`Mask`](crate::Mask) and, because dL/da needs
/// `x`, copies the input into its cache in the same pass (one element per
/// element, reused while the shape repeats). `backward` makes one pass too,
/// with the slopes as they are then (after a step since the forward, the
/// new ones, as [`Layer::backward`](crate::Layer::backward) states for every
/// layer), and overwrites (never accumulates)
/// the slope gradient. Summed in another order than PyTorch's, the slope
/// gradient agrees with it to rounding; the output and input gradient agree
/// bit for bit.
///
/// # Shapes
///
/// - input: any shape and layout (`(batch, features)` in the
///   [`Layer`](crate::Layer) impl); with `num_parameters > 1`, axis 1
///   (features, or channels of `(N, C, …)`) must have length
///   `num_parameters`
/// - output: same as input, standard layout
/// - grad_output and grad_input: same as the last forward's input
/// - parameter: the slopes, length `num_parameters`
///
/// # Errors
///
/// With `num_parameters > 1`, an input whose axis 1 has another length (or
/// that has no axis 1) is [`LayerError::ShapeMismatch`] naming both shapes,
/// and changes nothing.
///
/// # Examples
///
/// ```
/// use rectify::{ndarray::{array, Array4}, PReluLayer};
///
/// let mut prelu = PReluLayer::new(2, 0.25)?;
/// let y = prelu.forward(&array![[-4.0, 3.0], [2.0, -8.0]])?;
/// assert_eq!(y, array![[-1.0, 3.0], [2.0, -2.0]]);
/// let dx = prelu.backward(&array![[1.0, 2.0], [3.0, 0.5]])?;
/// assert_eq!(dx, array![[0.25, 2.0], [3.0, 0.125]]);
/// assert_eq!(prelu.slopes_grad(), array![-4.0, -4.0]); // -4·1, -8·0.5
///
/// // f32 feature maps (N, C, H, W), one slope per channel.
/// let mut prelu = PReluLayer::<f32>::from_slopes(array![0.5, 0.0, -1.0])?;
/// let y = prelu.forward(&Array4::<f32>::from_elem((2, 3, 4, 4), -2.0))?;
/// assert_eq!(y.index_axis(ndarray::Axis(1), 0).iter().all(|&v| v == -1.0), true);
/// assert_eq!(y.index_axis(ndarray::Axis(1), 2).iter().all(|&v| v == 2.0), true);
/// # use rectify::ndarray;
/// # Ok::<(), rectify::LayerError>(())
/// ```
pub type PReluLayer<A = f64> = Rectifier<PRelu<A>>;

impl<A: Float> Rectifier<PRelu<A>> {
    /// A PReLU layer with `num_parameters` slopes, all `init` rounded to
    /// `A`: 1 shares one slope among all elements, `n` gives each of `n`
    /// channels (axis 1) its own. `PReluLayer::<f32>::new(n, init)` for
    /// `f32`.
    ///
    /// PyTorch's default is `new(1, 0.25)`, which is [`Default`]. Any
    /// finite `init` works, including 0, negative values and values above 1.
    ///
    /// # Errors
    ///
    /// [`LayerError::InvalidParameter`] naming the value if
    /// `num_parameters` is 0 or `init` is NaN or infinite, and
    /// [`LayerError::TooLarge`] if `num_parameters` slopes cannot be
    /// allocated. An `init` that overflows `A` is an error too.
    ///
    /// # Examples
    ///
    /// ```
    /// use rectify::{ndarray::array, LayerError, PReluLayer};
    ///
    /// assert_eq!(PReluLayer::<f64>::new(3, 0.1)?.slopes(), array![0.1, 0.1, 0.1]);
    /// assert_eq!(PReluLayer::<f32>::new(3, 0.1)?.slopes(), array![0.1f32, 0.1, 0.1]);
    /// let err = PReluLayer::<f64>::new(0, 0.25).unwrap_err();
    /// assert_eq!(err.to_string(), "PReluLayer: invalid num_parameters = 0: must be at least 1");
    /// assert!(matches!(PReluLayer::<f64>::new(1, f64::NAN), Err(LayerError::InvalidParameter { .. })));
    /// let err = PReluLayer::<f32>::new(1, 1e39).unwrap_err(); // overflows f32
    /// assert_eq!(err.to_string(), "PReluLayer: invalid init = 1e39: overflows f32, the element type");
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn new(num_parameters: usize, init: f64) -> Result<Self> {
        hyper(LAYER, "num_parameters", num_parameters as f64)
            .require(num_parameters > 0, "must be at least 1")?;
        let init = A::hyper(LAYER, "init", hyper(LAYER, "init", init).finite()?)?;
        let mut slopes = need(LAYER, "new", "slopes", [num_parameters]).buffer()?;
        slopes.resize(num_parameters, init);
        Ok(Rectifier::of(PRelu::with(Array1::from_vec(slopes))?))
    }

    /// A PReLU layer with the given slopes: one shared, or one per channel.
    ///
    /// # Errors
    ///
    /// [`LayerError::InvalidParameter`] naming the value if `slopes` is
    /// empty or holds a NaN or infinite value.
    ///
    /// # Examples
    ///
    /// ```
    /// use rectify::{ndarray::array, PReluLayer};
    ///
    /// let prelu = PReluLayer::from_slopes(array![0.1, -1.0])?;
    /// assert_eq!(prelu.predict(&array![[-10.0, -10.0]])?, array![[-1.0, 10.0]]);
    /// assert!(PReluLayer::from_slopes(array![f64::INFINITY]).is_err());
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn from_slopes(slopes: Array1<A>) -> Result<Self> {
        hyper(LAYER, "num_parameters", slopes.len() as f64)
            .require(!slopes.is_empty(), "must be at least 1")?;
        for &a in &slopes {
            hyper(LAYER, "slopes", a.widen()).finite()?;
        }
        Ok(Rectifier::of(PRelu::with(
            slopes.as_standard_layout().into_owned(),
        )?))
    }

    /// The slopes, length `num_parameters`.
    ///
    /// # Examples
    ///
    /// ```
    /// use rectify::{ndarray::array, PReluLayer};
    ///
    /// assert_eq!(PReluLayer::<f64>::default().slopes(), array![0.25]);
    /// ```
    pub fn slopes(&self) -> ArrayView1<'_, A> {
        self.member().slopes.view()
    }

    /// dL/d(slopes) from the last backward; zeros before any backward.
    ///
    /// # Examples
    ///
    /// ```
    /// use rectify::{ndarray::array, PReluLayer};
    ///
    /// let mut prelu = PReluLayer::default();
    /// assert_eq!(prelu.slopes_grad(), array![0.0]);
    /// prelu.forward(&array![[-2.0, 5.0, -1.0]])?;
    /// prelu.backward(&array![[3.0, 7.0, 4.0]])?;
    /// assert_eq!(prelu.slopes_grad(), array![-10.0]); // -2·3 + -1·4
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn slopes_grad(&self) -> ArrayView1<'_, A> {
        self.member().slopes_grad.view()
    }
}

#[cfg(test)]
mod tests {
    use ndarray::{array, s, Array2, ArrayRef2, ArrayView, Dimension};

    use super::*;
    use crate::activation::test_util::{check_table, same, Examples, G, INF, NAN, X};
    use crate::{AtZero, Layer};

    /// `got` and `want` have the same shape and values, bit for bit (so
    /// `-0.0` differs from `+0.0`), NaN matching NaN.
    fn assert_same<D: Dimension>(what: &str, got: ArrayView<f64, D>, want: ArrayView<f64, D>) {
        assert_eq!(got.shape(), want.shape(), "{what}: shape");
        for (g, w) in got.iter().zip(&want) {
            assert!(same(*g, *w), "{what}: got {got}, want {want}");
        }
    }

    /// A layer with the given slopes (their count is `num_parameters`).
    fn with_slopes(slopes: &[f64]) -> PReluLayer {
        let mut prelu = PReluLayer::new(slopes.len(), 0.0).unwrap();
        prelu.params()[0]
            .value
            .assign(&ArrayView1::from(slopes).into_dyn());
        prelu
    }

    /// forward, then backward: (output, input gradient, slope gradient).
    fn pass(
        prelu: &mut PReluLayer,
        x: &ArrayRef2<f64>,
        g: &ArrayRef2<f64>,
    ) -> (Array2<f64>, Array2<f64>, Array1<f64>) {
        let y = prelu.forward(x).unwrap();
        let dx = prelu.backward(g).unwrap();
        (y, dx, prelu.slopes_grad().to_owned())
    }

    #[test]
    fn semantics_table_with_the_default_slope() {
        let y = [1.0, -2.5, 0.0, 15.0, -5.0, -0.0, INF, -INF, NAN];
        let dx = [0.5, 0.5, 0.75, -4.0, 1.25, 1.5, 7.0, 2.0, 2.25];
        check_table(&mut PReluLayer::default(), &X, &y, &G, &dx);
    }

    #[test]
    fn semantics_table_for_other_shared_slopes() {
        // -0.5·-0.0 = +0.0, 0·-inf = NaN: the slope side is always a·x.
        for a in [2.0, -0.5, 0.0, 1.0] {
            let y = X.map(|x| if x > 0.0 { x } else { a * x });
            let dx = [
                0.5,
                a * 2.0,
                a * 3.0,
                -4.0,
                a * 5.0,
                a * 6.0,
                7.0,
                a * 8.0,
                a * 9.0,
            ];
            check_table(&mut PReluLayer::new(1, a).unwrap(), &X, &y, &G, &dx);
        }
        let y = PReluLayer::<f64>::new(1, -0.5)
            .unwrap()
            .predict(&array![[-0.0]]);
        assert!(y.unwrap()[[0, 0]].is_sign_positive());
        let y = PReluLayer::new(1, 0.0).unwrap().predict(&array![[-INF]]);
        assert!(y.unwrap()[[0, 0]].is_nan());
    }

    fn x() -> Array2<f64> {
        array![[1.0, -2.0, -1.5], [-3.0, 0.0, 4.0]]
    }

    fn g() -> Array2<f64> {
        array![[0.5, 2.0, -1.0], [4.0, 3.0, -5.0]]
    }

    /// Hand-computed (y, dx, slope gradient) of `x()` and `g()`, shared
    /// slope 0.25 and per-column slopes [0.25, -0.5, 2], and the layers.
    #[allow(clippy::type_complexity)]
    fn cases() -> [(PReluLayer, (Array2<f64>, Array2<f64>, Array1<f64>)); 2] {
        let shared = (
            array![[1.0, -0.5, -0.375], [-0.75, 0.0, 4.0]],
            array![[0.5, 0.5, -0.25], [1.0, 0.75, -5.0]],
            // -2·2 + -1.5·-1 + -3·4 + 0·3; x = 1 and x = 4 add nothing.
            array![-14.5],
        );
        let per_column = (
            array![[1.0, 1.0, -3.0], [-0.75, -0.0, 4.0]],
            array![[0.5, -1.0, -2.0], [1.0, -1.5, -5.0]],
            array![-12.0, -4.0, 1.5],
        );
        [
            (PReluLayer::default(), shared),
            (with_slopes(&[0.25, -0.5, 2.0]), per_column),
        ]
    }

    fn assert_pass(
        what: &str,
        got: (Array2<f64>, Array2<f64>, Array1<f64>),
        want: &(Array2<f64>, Array2<f64>, Array1<f64>),
    ) {
        assert_same(&format!("{what} output"), got.0.view(), want.0.view());
        assert_same(
            &format!("{what} input gradient"),
            got.1.view(),
            want.1.view(),
        );
        assert_same(
            &format!("{what} slope gradient"),
            got.2.view(),
            want.2.view(),
        );
    }

    #[test]
    fn hand_computed_values_shared_and_per_column() {
        for (mut prelu, want) in cases() {
            assert_pass("standard", pass(&mut prelu, &x(), &g()), &want);
            assert_same(
                "predict",
                prelu.predict(&x()).unwrap().view(),
                want.0.view(),
            );
        }
    }

    #[test]
    fn transposed_sliced_and_owned_layouts_give_the_same_values() {
        for (mut prelu, want) in cases() {
            let (xt, gt) = (x().reversed_axes(), g().reversed_axes());
            let got = pass(&mut prelu, &xt.t(), &gt.t());
            assert_pass("transposed", got, &want);
            assert_same(
                "transposed predict",
                prelu.predict(&xt.t()).unwrap().view(),
                want.0.view(),
            );

            let spread = |a: Array2<f64>| {
                let mut big = Array2::from_elem((5, 7), NAN);
                big.slice_mut(s![1..;2, ..;3]).assign(&a);
                big
            };
            let (xs, gs) = (spread(x()), spread(g()));
            let got = pass(
                &mut prelu,
                &xs.slice(s![1..;2, ..;3]),
                &gs.slice(s![1..;2, ..;3]),
            );
            assert_pass("sliced", got, &want);

            for (name, xo, go) in [
                ("owned", x(), g()),
                ("owned F-order", xt.reversed_axes(), gt.reversed_axes()),
            ] {
                let y = prelu.forward_owned(xo).unwrap();
                let dx = prelu.backward_owned(go).unwrap();
                assert_pass(name, (y, dx, prelu.slopes_grad().to_owned()), &want);
            }
        }
    }

    #[test]
    fn special_values_per_column() {
        let mut prelu = with_slopes(&[0.25, -0.5, 2.0]);
        let x = array![[-0.0, 0.0, INF], [-INF, NAN, -2.0]];
        let g = array![[3.0, 6.0, 7.0], [8.0, 9.0, -4.0]];
        let (y, dx, da) = pass(&mut prelu, &x, &g);
        assert_same(
            "output",
            y.view(),
            array![[-0.0, -0.0, INF], [-INF, NAN, -4.0]].view(),
        );
        assert_same(
            "input gradient",
            dx.view(),
            array![[0.75, -3.0, 7.0], [2.0, -4.5, -8.0]].view(),
        );
        // -0.0·3 + -inf·8; 0.0·6 + NaN·9; +inf adds 0, -2·-4.
        assert_same("slope gradient", da.view(), array![-INF, NAN, 8.0].view());
    }

    #[test]
    fn special_values_in_the_shared_slope_gradient() {
        let mut prelu = PReluLayer::default();
        let cases = [
            // +inf is on the identity side: it adds 0 even where g is 0.
            (array![[INF, -1.0]], array![[0.0, 2.0]], [0.0, 0.5], -2.0),
            // -inf·0 is NaN, as in PyTorch.
            (array![[-INF, -1.0]], array![[0.0, 2.0]], [0.0, 0.5], NAN),
            // A NaN gradient at x > 0 passes to dx but adds 0 to da.
            (array![[3.0, -1.0]], array![[NAN, 2.0]], [NAN, 0.5], -2.0),
            // A NaN input makes da NaN.
            (array![[NAN, -1.0]], array![[1.0, 2.0]], [0.25, 0.5], NAN),
        ];
        for (x, g, dx, da) in cases {
            let got = pass(&mut prelu, &x, &g);
            assert_same(
                "input gradient",
                got.1.view(),
                ArrayView1::from(&dx).into_shape_with_order((1, 2)).unwrap(),
            );
            assert!(same(got.2[0], da), "x = {x}, g = {g}: da = {}", got.2[0]);
        }
    }

    #[test]
    fn a_shared_slope_is_the_sum_of_equal_per_column_slopes() {
        let x = Array2::from_shape_fn((5, 4), |(r, c)| ((r * 4 + c) as f64 * 0.9).sin() * 3.0);
        let g = Array2::from_shape_fn((5, 4), |(r, c)| (r as f64 - 1.5) * (c as f64 + 0.5));
        let shared = pass(&mut PReluLayer::new(1, 0.3).unwrap(), &x, &g);
        let per_column = pass(&mut PReluLayer::new(4, 0.3).unwrap(), &x, &g);
        assert_same("output", shared.0.view(), per_column.0.view());
        assert_same("input gradient", shared.1.view(), per_column.1.view());
        let sum = per_column.2.sum();
        assert!(
            (shared.2[0] - sum).abs() <= 1e-12 * sum.abs(),
            "{} vs {sum}",
            shared.2[0]
        );
        assert!(sum != 0.0);
    }

    #[test]
    fn a_column_count_mismatch_names_both_shapes_and_leaves_the_layer_working() {
        let mut prelu = with_slopes(&[0.25, -0.5, 2.0]);
        pass(&mut prelu, &x(), &g());
        let wide = Array2::<f64>::zeros((2, 4));
        let msg = "PReluLayer::forward: input has shape [2, 4], expected [2, 3]";
        assert_eq!(prelu.forward(&wide).unwrap_err().to_string(), msg);
        assert_eq!(
            prelu.forward_owned(wide.clone()).unwrap_err().to_string(),
            msg
        );
        let err = prelu.predict(&wide).unwrap_err();
        assert_eq!(
            err,
            LayerError::shape(LAYER, "predict", "input", &[2, 3], &[2, 4])
        );
        let tall = Array2::<f64>::zeros((3, 2));
        assert!(prelu.forward(&tall.t()).is_ok_and(|y| y.dim() == (2, 3)));
        assert!(prelu.forward(&tall).is_err());

        // A failed forward leaves nothing to differentiate; the next
        // forward works as ever.
        let g = g();
        prelu.forward(&x()).unwrap();
        assert!(prelu.forward(&wide).is_err());
        let err = prelu.backward(&g).unwrap_err();
        assert_eq!(err, LayerError::ForwardFailed { layer: LAYER });
        assert!(prelu.mask().is_none());
        prelu.forward(&x()).unwrap();
        assert_eq!(
            prelu.backward(&g).unwrap(),
            array![[0.5, -1.0, -2.0], [1.0, -1.5, -5.0]]
        );

        // One shared slope fits any column count.
        let mut shared = PReluLayer::<f64>::default();
        for shape in [(2, 4), (5, 1), (1, 7)] {
            assert_eq!(shared.forward(&Array2::zeros(shape)).unwrap().dim(), shape);
        }
    }

    #[test]
    fn invalid_parameters_are_rejected_with_the_value() {
        let err = PReluLayer::<f64>::new(0, 0.25).unwrap_err();
        assert_eq!(
            err,
            LayerError::InvalidParameter {
                layer: LAYER,
                name: "num_parameters",
                value: 0.0,
                reason: "must be at least 1",
                bound: None,
            }
        );
        for bad in [NAN, INF, -INF] {
            match PReluLayer::<f64>::new(2, bad).unwrap_err() {
                LayerError::InvalidParameter {
                    layer, name, value, ..
                } => {
                    assert_eq!((layer, name), (LAYER, "init"));
                    assert!(same(value, bad));
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        let msg = PReluLayer::<f64>::new(1, -INF).unwrap_err().to_string();
        assert_eq!(msg, "PReluLayer: invalid init = -inf: must be finite");
        for ok in [0.0, -3.0, 5.0] {
            assert_eq!(
                PReluLayer::<f64>::new(2, ok).unwrap().slopes(),
                array![ok, ok]
            );
        }
    }

    #[test]
    fn backward_errors_leave_the_layer_working() {
        let mut prelu = with_slopes(&[0.25, -0.5, 2.0]);
        let before = LayerError::BackwardBeforeForward { layer: LAYER };
        assert_eq!(prelu.backward(&g()).unwrap_err(), before);
        assert_eq!(prelu.backward_owned(g()).unwrap_err(), before);

        prelu.forward(&x()).unwrap();
        let wrong = Array2::<f64>::ones((3, 2));
        for err in [
            prelu.backward(&wrong).unwrap_err(),
            prelu.backward_owned(wrong.clone()).unwrap_err(),
        ] {
            assert_eq!(
                err.to_string(),
                "PReluLayer::backward: grad_output has shape [3, 2], expected [2, 3]"
            );
        }
        assert_eq!(prelu.slopes_grad(), array![0.0, 0.0, 0.0]);
        assert_eq!(
            prelu.backward(&g()).unwrap(),
            array![[0.5, -1.0, -2.0], [1.0, -1.5, -5.0]]
        );
        assert_eq!(prelu.slopes_grad(), array![-12.0, -4.0, 1.5]);
    }

    #[test]
    fn params_expose_the_slopes_and_gradients_that_backward_overwrites() {
        let mut prelu = PReluLayer::new(3, 0.25).unwrap();
        {
            let params = prelu.params();
            assert_eq!(params.len(), 1);
            assert_eq!(params[0].value.shape(), &[3]);
            assert_eq!(params[0].grad, array![0.0, 0.0, 0.0].into_dyn());
        }
        prelu.params()[0].value[1] = -0.5;
        prelu.params()[0].value[2] = 2.0;
        assert_eq!(prelu.slopes(), array![0.25, -0.5, 2.0]);
        assert_eq!(
            prelu.predict(&x()).unwrap(),
            array![[1.0, 1.0, -3.0], [-0.75, -0.0, 4.0]]
        );

        pass(&mut prelu, &x(), &array![[9.0, 9.0, 9.0], [9.0, 9.0, 9.0]]);
        pass(&mut prelu, &x(), &g());
        assert_eq!(prelu.params()[0].grad, array![-12.0, -4.0, 1.5].into_dyn());
    }

    #[test]
    fn default_is_one_shared_slope_of_a_quarter() {
        let prelu = PReluLayer::default();
        assert_eq!(prelu.slopes(), array![0.25]);
        assert_eq!(prelu.slopes_grad(), array![0.0]);
        assert_eq!(
            prelu.predict(&array![[-4.0, 4.0]]).unwrap(),
            array![[-1.0, 4.0]]
        );
    }

    #[test]
    fn empty_batches_give_empty_outputs_and_zero_slope_gradients() {
        for (mut prelu, _) in cases() {
            pass(&mut prelu, &x(), &g());
            let empty = Array2::<f64>::zeros((0, 3));
            let (y, dx, da) = pass(&mut prelu, &empty, &empty);
            assert_eq!((y.dim(), dx.dim()), ((0, 3), (0, 3)));
            assert!(da.iter().all(|&v| v == 0.0), "{da}");
        }
        let mut shared = PReluLayer::<f64>::default();
        for shape in [(2, 0), (0, 0)] {
            let empty = Array2::<f64>::zeros(shape);
            let (y, dx, da) = pass(&mut shared, &empty, &empty);
            assert_eq!((y.dim(), dx.dim(), da), (shape, shape, array![0.0]));
        }
    }

    #[test]
    fn the_owned_pair_reuses_buffers() {
        let mut prelu = PReluLayer::default();
        prelu.forward(&x()).unwrap();
        let cache = prelu.member().input.as_ptr();
        let input = x();
        let ptr = input.as_ptr();
        assert_eq!(prelu.forward_owned(input).unwrap().as_ptr(), ptr);
        assert_eq!(prelu.member().input.as_ptr(), cache);
        assert_eq!(prelu.member().input[..6], x().into_raw_vec_and_offset().0);
        let grad = g();
        let ptr = grad.as_ptr();
        assert_eq!(prelu.backward_owned(grad).unwrap().as_ptr(), ptr);
    }

    impl<A: Float> Examples<A> for PReluLayer {
        type Member = PRelu<A>;
        /// Shared slopes, and one slope per column, all different.
        fn examples(cols: usize) -> Vec<PReluLayer<A>> {
            let per_column =
                Array1::from_shape_fn(cols.max(1), |c| A::round_from(c as f64 * 0.37 - 2.0));
            vec![
                PReluLayer::new(1, 0.25).unwrap(),
                PReluLayer::new(1, -1.5).unwrap().at_zero(AtZero::Active),
                PReluLayer::from_slopes(per_column).unwrap(),
            ]
        }
    }

    /// Per-column slope gradients against a plain sum, at widths below,
    /// at and above one block (whose slope table wraps around), and a
    /// shared slope against the sum of all.
    #[test]
    fn slope_gradients_at_many_widths_match_a_plain_sum() {
        for cols in [1, 3, 63, 64, 65, 100, 129] {
            let rows = 7;
            let x =
                Array2::from_shape_fn((rows, cols), |(r, c)| ((r * cols + c) as f64 * 0.61).sin());
            let g = Array2::from_shape_fn((rows, cols), |(r, c)| 1.0 + r as f64 - 0.01 * c as f64);
            let share = |r: usize, c: usize| {
                if x[[r, c]] > 0.0 {
                    0.0
                } else {
                    x[[r, c]] * g[[r, c]]
                }
            };
            let want = Array1::from_shape_fn(cols, |c| (0..rows).map(|r| share(r, c)).sum::<f64>());
            let (_, _, got) = pass(&mut PReluLayer::new(cols, 0.5).unwrap(), &x, &g);
            for c in 0..cols {
                assert!(
                    (got[c] - want[c]).abs() <= 1e-12 * (1.0 + want[c].abs()),
                    "{cols} cols, column {c}: {} vs {}",
                    got[c],
                    want[c]
                );
            }
            let (_, _, shared) = pass(&mut PReluLayer::new(1, 0.5).unwrap(), &x, &g);
            assert!(
                (shared[0] - want.sum()).abs() <= 1e-12 * (1.0 + want.sum().abs()),
                "{cols} cols shared"
            );
        }
    }

    #[test]
    fn from_slopes_takes_any_finite_slopes() {
        let prelu = PReluLayer::from_slopes(array![0.5, -2.0]).unwrap();
        assert_eq!(prelu.slopes(), array![0.5, -2.0]);
        assert_eq!(prelu.slopes_grad(), array![0.0, 0.0]);
        let err = PReluLayer::from_slopes(array![0.5, NAN]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "PReluLayer: invalid slopes = NaN: must be finite"
        );
        let err = PReluLayer::<f64>::from_slopes(Array1::zeros(0)).unwrap_err();
        assert!(err.to_string().contains("num_parameters = 0"), "{err}");
    }
}
