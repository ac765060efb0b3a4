//! [`DenseLayer`]: the fully connected layer `y = x·W + b`.

use ndarray::{Array1, Array2, ArrayRef2, ArrayView1, ArrayView2};
use ndarray_rand::rand::Rng;

use crate::alloc::need;
use crate::cache::Cache;
use crate::matmul;
use crate::validate::hyper;
use crate::{Float, Layer, LayerError, Param, Result};

const LAYER: &str = "DenseLayer";

/// RAI's `σ·√fan_in` with a Beta(2, 1) entry, the paper's choice.
const RAI_SCALE: f64 = 0.6007;

/// How [`DenseLayer::with_init`] draws a new layer's weights and bias.
///
/// # Examples
///
/// ```
/// use rectify::rand::{rngs::StdRng, SeedableRng};
/// use rectify::{DenseLayer, Init};
///
/// let mut rng = StdRng::seed_from_u64(0);
/// for init in [Init::HeNormal, Init::Rai] {
///     let dense = DenseLayer::<f64>::with_init(4, 3, init, &mut rng);
///     assert_eq!((dense.weights().dim(), dense.bias().len()), ((4, 3), 3));
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Init {
    /// He-normal (He et al. 2015): `W[i, j] ~ N(0, 2 / inputs)`, zero
    /// bias. [`DenseLayer::new`]'s choice, and the usual one before a ReLU.
    #[default]
    HeNormal,
    /// Randomized asymmetric initialization (Lu, Shin, Su and Karniadakis,
    /// "Dying ReLU and initialization: theory and numerical examples",
    /// Commun. Comput. Phys. 28(5), 2020, doi:10.4208/cicp.OA-2020-0165;
    /// arXiv:1903.06733). For each unit
    /// (a column of `W` with its bias), the row `[w_1, …, w_inputs, b]` is
    /// drawn from `N(0, σ²)` with `σ = 0.6007 / √inputs`, then one of its
    /// `inputs + 1` entries, chosen uniformly, is replaced by a draw from
    /// Beta(2, 1) (which is positive). The asymmetry lowers the
    /// probability that a deep, narrow ReLU network is *born dead*: some
    /// layer inactive at every unit for an input, so that nothing trains.
    Rai,
}

/// A fully connected layer, `y = x·W + b`, with `W` of shape
/// `(inputs, outputs)` and `b` of length `outputs`.
///
/// `forward` caches its input; `backward` returns `dx = g·Wᵀ` and overwrites
/// (never accumulates) the parameter gradients `dW = xᵀ·g` and
/// `db = Σ_rows g`.
///
/// # Shapes
///
/// - input: `(batch, inputs)`, any layout (standard, transposed, sliced)
/// - output: `(batch, outputs)`
/// - grad_output: `(batch, outputs)` of the last forward; grad_input:
///   `(batch, inputs)`
///
/// # Examples
///
/// ```
/// use rectify::{ndarray::array, DenseLayer, Layer};
///
/// let mut dense = DenseLayer::from_parts(array![[1.0, 2.0], [3.0, 4.0]], array![0.5, -0.5])?;
/// let y = dense.forward(&array![[1.0, 1.0]])?;
/// assert_eq!(y, array![[4.5, 5.5]]);
/// let dx = dense.backward(&array![[1.0, 10.0]])?;
/// assert_eq!(dx, array![[21.0, 43.0]]);
/// assert_eq!(dense.weights_grad(), array![[1.0, 10.0], [1.0, 10.0]]);
/// assert_eq!(dense.bias_grad(), array![1.0, 10.0]);
/// # Ok::<(), rectify::LayerError>(())
/// ```
#[derive(Debug, Clone)]
pub struct DenseLayer<A = f64> {
    weights: Array2<A>,
    bias: Array1<A>,
    weights_grad: Array2<A>,
    bias_grad: Array1<A>,
    /// How the weights were drawn, for [`Redo`](crate::Redo) to draw a
    /// unit again; [`Init::HeNormal`] for [`DenseLayer::from_parts`].
    init: Init,
    /// The input of the last forward, kept for backward.
    input: Cache<Array2<A>>,
}

impl<A: Float> DenseLayer<A> {
    /// A layer with He-normal weights, `W[i, j] ~ N(0, 2 / inputs)` (He et
    /// al. 2015, the usual choice before a ReLU), and zero bias, drawn from
    /// the caller's `rng` so that a seed fixes the weights: the same as
    /// [`with_init`](Self::with_init) with [`Init::HeNormal`].
    ///
    /// # Panics
    ///
    /// With the message of [`try_new`](Self::try_new)'s error, if the
    /// weights cannot be had. Any shape with no elements works, such as
    /// `(isize::MAX as usize, 0)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use rectify::rand::{rngs::StdRng, SeedableRng};
    /// use rectify::DenseLayer;
    ///
    /// // The element type comes from the data the layer is fed, or, for a
    /// // layer not fed yet, from a turbofish.
    /// let dense = DenseLayer::<f32>::new(3, 2, &mut StdRng::seed_from_u64(7));
    /// assert_eq!(dense.weights().dim(), (3, 2));
    /// assert_eq!(dense.bias(), rectify::ndarray::array![0.0f32, 0.0]);
    /// let again = DenseLayer::<f32>::new(3, 2, &mut StdRng::seed_from_u64(7));
    /// assert_eq!(dense.weights(), again.weights());
    /// ```
    pub fn new(inputs: usize, outputs: usize, rng: &mut impl Rng) -> Self {
        Self::drawn("new", inputs, outputs, Init::HeNormal, rng).unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`new`](Self::new), or an error if the weights cannot be had: for
    /// sizes that come from a user or a file.
    ///
    /// # Errors
    ///
    /// [`LayerError::TooLarge`] naming the shape, if `inputs × outputs`
    /// overflows `isize` or its bytes cannot be allocated. Nothing is drawn
    /// from `rng` then.
    ///
    /// # Examples
    ///
    /// ```
    /// use rectify::rand::{rngs::StdRng, SeedableRng};
    /// use rectify::{DenseLayer, LayerError};
    ///
    /// let mut rng = StdRng::seed_from_u64(7);
    /// let err = DenseLayer::<f64>::try_new(1 << 29, 1 << 29, &mut rng).unwrap_err();
    /// assert!(matches!(err, LayerError::TooLarge { .. }));
    /// assert_eq!(
    ///     err.to_string(),
    ///     "DenseLayer::try_new: weights of shape [536870912, 536870912] needs \
    ///      2305843009213693952 bytes, more than can be allocated"
    /// );
    /// assert_eq!(DenseLayer::<f64>::try_new(3, 2, &mut rng)?.weights().dim(), (3, 2));
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn try_new(inputs: usize, outputs: usize, rng: &mut impl Rng) -> Result<Self> {
        Self::drawn("try_new", inputs, outputs, Init::HeNormal, rng)
    }

    /// A layer of `inputs × outputs` weights and `outputs` biases drawn by
    /// `init` from the caller's `rng`, so that a seed fixes them.
    ///
    /// # Panics
    ///
    /// With the message of [`try_with_init`](Self::try_with_init)'s error,
    /// if the weights cannot be had.
    ///
    /// # Examples
    ///
    /// ```
    /// use rectify::rand::{rngs::StdRng, SeedableRng};
    /// use rectify::{DenseLayer, Init};
    ///
    /// let he = DenseLayer::<f64>::with_init(3, 2, Init::HeNormal, &mut StdRng::seed_from_u64(7));
    /// assert_eq!(he.weights(), DenseLayer::<f64>::new(3, 2, &mut StdRng::seed_from_u64(7)).weights());
    ///
    /// let rai = DenseLayer::<f64>::with_init(3, 2, Init::Rai, &mut StdRng::seed_from_u64(7));
    /// assert_eq!(rai.weights().dim(), (3, 2));
    /// assert!(rai.bias().iter().all(|&b| b != 0.0)); // RAI draws the bias too
    /// ```
    pub fn with_init(inputs: usize, outputs: usize, init: Init, rng: &mut impl Rng) -> Self {
        Self::drawn("with_init", inputs, outputs, init, rng).unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`with_init`](Self::with_init), or an error if the weights cannot be
    /// had.
    ///
    /// # Errors
    ///
    /// [`LayerError::TooLarge`] naming the shape, as [`try_new`](Self::try_new).
    ///
    /// # Examples
    ///
    /// ```
    /// use rectify::rand::{rngs::StdRng, SeedableRng};
    /// use rectify::{DenseLayer, Init};
    ///
    /// let mut rng = StdRng::seed_from_u64(7);
    /// assert!(DenseLayer::<f64>::try_with_init(usize::MAX, 2, Init::Rai, &mut rng).is_err());
    /// let empty = DenseLayer::<f64>::try_with_init(isize::MAX as usize, 0, Init::Rai, &mut rng)?;
    /// assert_eq!(empty.weights().len(), 0);
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn try_with_init(
        inputs: usize,
        outputs: usize,
        init: Init,
        rng: &mut impl Rng,
    ) -> Result<Self> {
        Self::drawn("try_with_init", inputs, outputs, init, rng)
    }

    /// The layer that the constructor `operation` draws by `init`.
    fn drawn(
        operation: &'static str,
        inputs: usize,
        outputs: usize,
        init: Init,
        rng: &mut impl Rng,
    ) -> Result<Self> {
        let weights = need(LAYER, operation, "weights", [inputs, outputs]);
        let len = weights.elements()?;
        let bias = need(LAYER, operation, "bias", [outputs]);
        // With no inputs there are no weights; RAI still draws the bias.
        let fan_in = inputs.max(1) as f64;
        match init {
            Init::HeNormal => {
                let sd = (2.0 / fan_in).sqrt();
                let w = weights.array((0..len).map(|_| A::normal(rng, sd)))?;
                Self::with(operation, w, Array1::from_vec(bias.zeros()?), init)
            }
            Init::Rai => {
                let sd = RAI_SCALE / fan_in.sqrt();
                // One row [w_1, …, w_inputs, b] per unit: Wᵀ row by row.
                let (mut wt, mut b) = (weights.buffer()?, bias.buffer()?);
                for _ in 0..outputs {
                    wt.extend((0..inputs).map(|_| A::normal(rng, sd)));
                    b.push(A::normal(rng, sd));
                }
                // Then one entry of each row becomes a Beta draw.
                for unit in 0..outputs {
                    let value = A::beta_2_1(rng);
                    match rng.random_range(0..=inputs) {
                        i if i < inputs => wt[unit * inputs + i] = value,
                        _ => b[unit] = value,
                    }
                }
                let wt = ArrayView2::from_shape((outputs, inputs), &wt).expect("Wᵀ's elements");
                Self::with(operation, weights.copy(&wt.t())?, Array1::from_vec(b), init)
            }
        }
    }

    /// A layer with the given weights `(inputs, outputs)` and bias `(outputs)`.
    ///
    /// Non-finite values are rejected: a NaN or infinite weight can only
    /// come from a diverged run or a corrupt file, and is easier to find
    /// here than as a NaN output many steps later.
    ///
    /// # Errors
    ///
    /// [`LayerError::ShapeMismatch`] if `bias.len()` is not
    /// `weights.ncols()`; [`LayerError::InvalidParameter`] naming the first
    /// NaN or infinite value.
    ///
    /// # Examples
    ///
    /// ```
    /// use rectify::{ndarray::array, DenseLayer};
    ///
    /// let dense = DenseLayer::from_parts(array![[1.0, 2.0, 3.0]], array![0.0, 0.0, 0.0])?;
    /// assert_eq!(dense.weights().dim(), (1, 3));
    ///
    /// let err = DenseLayer::from_parts(array![[1.0, 2.0, 3.0]], array![0.0]).unwrap_err();
    /// assert_eq!(err.to_string(), "DenseLayer::from_parts: bias has shape [1], expected [3]");
    /// assert!(DenseLayer::from_parts(array![[f64::NAN]], array![0.0]).is_err());
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn from_parts(weights: Array2<A>, bias: Array1<A>) -> Result<Self> {
        if bias.len() != weights.ncols() {
            return Err(LayerError::shape(
                LAYER,
                "from_parts",
                "bias",
                &[weights.ncols()],
                bias.shape(),
            ));
        }
        let mut values =
            (weights.iter().map(|&v| ("weights", v))).chain(bias.iter().map(|&v| ("bias", v)));
        if let Some((name, value)) = values.find(|(_, v)| !v.is_finite()) {
            hyper(LAYER, name, value.widen()).require(false, "from_parts needs finite values")?;
        }
        Self::with("from_parts", weights, bias, Init::HeNormal)
    }

    /// The layer of `weights` and `bias` drawn by `init`, with zero
    /// gradients, for the constructor `operation`.
    fn with(
        operation: &'static str,
        weights: Array2<A>,
        bias: Array1<A>,
        init: Init,
    ) -> Result<Self> {
        let (shape, outputs) = ([weights.nrows(), weights.ncols()], bias.len());
        let weights_grad = need(LAYER, operation, "weights_grad", shape).zeros()?;
        let bias_grad = need(LAYER, operation, "bias_grad", [outputs]).zeros()?;
        Ok(DenseLayer {
            weights_grad: Array2::from_shape_vec(weights.raw_dim(), weights_grad)
                .expect("the weights' shape"),
            bias_grad: Array1::from_vec(bias_grad),
            weights,
            bias,
            init,
            input: Cache::default(),
        })
    }

    /// How the layer's weights were drawn: the constructor's [`Init`], or
    /// [`Init::HeNormal`] for a layer made by
    /// [`from_parts`](Self::from_parts) (and so for one loaded from a file).
    /// [`Redo`](crate::Redo) draws a recycled unit's weights by it.
    ///
    /// ```
    /// use rectify::rand::{rngs::StdRng, SeedableRng};
    /// use rectify::{ndarray::array, DenseLayer, Init};
    ///
    /// let rai = DenseLayer::<f64>::with_init(3, 2, Init::Rai, &mut StdRng::seed_from_u64(7));
    /// assert_eq!(rai.init(), Init::Rai);
    /// assert_eq!(DenseLayer::from_parts(array![[1.0]], array![0.0])?.init(), Init::HeNormal);
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn init(&self) -> Init {
        self.init
    }

    /// The weights `W`, shape `(inputs, outputs)`.
    ///
    /// ```
    /// # use rectify::{ndarray::array, DenseLayer};
    /// let dense = DenseLayer::from_parts(array![[1.0], [2.0]], array![0.0])?;
    /// assert_eq!(dense.weights(), array![[1.0], [2.0]]);
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn weights(&self) -> ArrayView2<'_, A> {
        self.weights.view()
    }

    /// The bias `b`, length `outputs`.
    ///
    /// ```
    /// # use rectify::{ndarray::array, DenseLayer};
    /// let dense = DenseLayer::from_parts(array![[1.0], [2.0]], array![0.5])?;
    /// assert_eq!(dense.bias(), array![0.5]);
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn bias(&self) -> ArrayView1<'_, A> {
        self.bias.view()
    }

    /// dL/dW from the last backward, `xᵀ·g`; zeros before any backward.
    ///
    /// ```
    /// # use rectify::{ndarray::array, DenseLayer, Layer};
    /// let mut dense = DenseLayer::from_parts(array![[1.0], [2.0]], array![0.0])?;
    /// assert_eq!(dense.weights_grad(), array![[0.0], [0.0]]);
    /// dense.forward(&array![[3.0, 4.0]])?;
    /// dense.backward(&array![[2.0]])?;
    /// assert_eq!(dense.weights_grad(), array![[6.0], [8.0]]);
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn weights_grad(&self) -> ArrayView2<'_, A> {
        self.weights_grad.view()
    }

    /// dL/db from the last backward, the column sums of `g`; zeros before
    /// any backward.
    ///
    /// ```
    /// # use rectify::{ndarray::array, DenseLayer, Layer};
    /// let mut dense = DenseLayer::from_parts(array![[1.0]], array![0.0])?;
    /// dense.forward(&array![[3.0], [4.0]])?;
    /// dense.backward(&array![[2.0], [5.0]])?;
    /// assert_eq!(dense.bias_grad(), array![7.0]);
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn bias_grad(&self) -> ArrayView1<'_, A> {
        self.bias_grad.view()
    }

    /// `x·W + b`, if `input` has `inputs` columns.
    fn affine(&self, operation: &'static str, input: &ArrayRef2<A>) -> Result<Array2<A>> {
        let (rows, cols) = input.dim();
        if cols != self.weights.nrows() {
            return Err(LayerError::shape(
                LAYER,
                operation,
                "input",
                &[rows, self.weights.nrows()],
                &[rows, cols],
            ));
        }
        let out = need(LAYER, operation, "output", [rows, self.weights.ncols()]).buffer()?;
        Ok(matmul::affine(input, &self.weights, &self.bias, out))
    }

    /// Copies `input` into the cache, reusing its buffer if the shape is the
    /// same.
    fn keep(&mut self, input: &ArrayRef2<A>) -> Result<()> {
        match self.input.slot() {
            Some(cache) if cache.dim() == input.dim() => cache.assign(input),
            cache => {
                let shape = [input.nrows(), input.ncols()];
                *cache = Some(need(LAYER, "forward", "input cache", shape).copy(input)?);
            }
        }
        Ok(())
    }
}

impl<A: Float> DenseLayer<A> {
    /// The rows of the last forward's batch, if `grad_output` fits its
    /// output.
    fn check_grad(&self, grad_output: &ArrayRef2<A>) -> Result<usize> {
        let outputs = self.weights.ncols();
        let input = LayerError::check_backward(
            LAYER,
            self.input.pass(LAYER),
            |x: &&Array2<A>| (x.nrows(), outputs),
            grad_output.dim(),
        )?;
        Ok(input.nrows())
    }

    /// Overwrites the weight and bias gradients from `grad_output`, which
    /// [`DenseLayer::check_grad`] has checked.
    fn parameter_gradients(&mut self, grad_output: &ArrayRef2<A>) {
        let input = self.input.get().expect("a checked backward has a pass");
        matmul::product_into(&mut self.weights_grad, &input.t(), grad_output, false);
        self.bias_grad.fill(A::zero());
        for row in grad_output.rows() {
            self.bias_grad += &row;
        }
    }
}

impl<A: Float> Layer<A> for DenseLayer<A> {
    fn forward(&mut self, input: &ArrayRef2<A>) -> Result<Array2<A>> {
        let result =
            (self.affine("forward", input)).and_then(|output| self.keep(input).map(|()| output));
        self.input.record(result)
    }

    /// As [`forward`](Layer::forward), keeping `input` itself as the cache.
    fn forward_owned(&mut self, input: Array2<A>) -> Result<Array2<A>> {
        let result = self.affine("forward", &input);
        if result.is_ok() {
            *self.input.slot() = Some(input);
        }
        self.input.record(result)
    }

    fn backward(&mut self, grad_output: &ArrayRef2<A>) -> Result<Array2<A>> {
        let shape = [self.check_grad(grad_output)?, self.weights.nrows()];
        let out = need(LAYER, "backward", "grad_input", shape).buffer()?;
        self.parameter_gradients(grad_output);
        Ok(matmul::product(grad_output, &self.weights.t(), out))
    }

    /// The parameter gradients alone: no `g·Wᵀ` product.
    fn backward_params(&mut self, grad_output: Array2<A>) -> Result<()> {
        self.check_grad(&grad_output)?;
        self.parameter_gradients(&grad_output);
        Ok(())
    }

    fn predict(&self, input: &ArrayRef2<A>) -> Result<Array2<A>> {
        self.affine("predict", input)
    }

    /// The weights, then the bias. Handing them out makes the last pass
    /// stale: `backward` is [`LayerError::ParametersChanged`] until the next
    /// forward.
    fn params(&mut self) -> Vec<Param<'_, A>> {
        self.input.stale();
        vec![
            Param {
                value: self.weights.view_mut().into_dyn(),
                grad: self.weights_grad.view().into_dyn(),
            },
            Param {
                value: self.bias.view_mut().into_dyn(),
                grad: self.bias_grad.view().into_dyn(),
            },
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, s, Array};
    use ndarray_rand::rand::{rngs::StdRng, SeedableRng};

    /// W is 3 × 2, b has 2 entries.
    fn layer() -> DenseLayer {
        DenseLayer::from_parts(
            array![[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]],
            array![0.5, -1.0],
        )
        .unwrap()
    }

    fn x() -> Array2<f64> {
        array![[1.0, 0.0, -1.0], [2.0, 1.0, 0.0]]
    }

    fn g() -> Array2<f64> {
        array![[1.0, 2.0], [-3.0, 0.5]]
    }

    /// Runs forward and backward, returning (y, dx, dW, db).
    fn pass(
        dense: &mut DenseLayer,
        x: &ArrayRef2<f64>,
    ) -> (Array2<f64>, Array2<f64>, Array2<f64>, Array1<f64>) {
        let y = dense.forward(x).unwrap();
        let dx = dense.backward(&g()).unwrap();
        (
            y,
            dx,
            dense.weights_grad().to_owned(),
            dense.bias_grad().to_owned(),
        )
    }

    #[test]
    fn forward_and_backward_match_hand_computed_values() {
        let (y, dx, dw, db) = pass(&mut layer(), &x());
        assert_eq!(y, array![[-3.5, -5.0], [5.5, 7.0]]);
        assert_eq!(dx, array![[5.0, 11.0, 17.0], [-2.0, -7.0, -12.0]]);
        assert_eq!(dw, array![[-5.0, 3.0], [-3.0, 0.5], [-1.0, -2.0]]);
        assert_eq!(db, array![-2.0, 2.5]);
    }

    #[test]
    fn transposed_sliced_and_owned_inputs_give_the_same_results() {
        let expected = pass(&mut layer(), &x());
        let transposed = x().t().to_owned();
        assert_eq!(pass(&mut layer(), &transposed.t()), expected);
        let mut padded = Array2::from_elem((4, 3), f64::NAN);
        padded.slice_mut(s![..;2, ..]).assign(&x());
        assert_eq!(pass(&mut layer(), &padded.slice(s![..;2, ..])), expected);

        let mut dense = layer();
        let y = dense.forward_owned(transposed.reversed_axes()).unwrap();
        assert_eq!(y, expected.0);
        assert_eq!(dense.backward_owned(g()).unwrap(), expected.1);
        assert_eq!(dense.weights_grad(), expected.2);
    }

    #[test]
    fn backward_overwrites_gradients_and_forward_reuses_its_cache() {
        let mut dense = layer();
        dense.forward(&x()).unwrap();
        let cache = dense.input.get().unwrap().as_ptr();
        dense.backward(&array![[9.0, 9.0], [9.0, 9.0]]).unwrap();
        let (_, _, dw, db) = pass(&mut dense, &x());
        assert_eq!(dense.input.get().unwrap().as_ptr(), cache);
        assert_eq!(dw, array![[-5.0, 3.0], [-3.0, 0.5], [-1.0, -2.0]]);
        assert_eq!(db, array![-2.0, 2.5]);
    }

    #[test]
    fn an_empty_batch_gives_empty_outputs_and_zero_gradients() {
        let mut dense = layer();
        pass(&mut dense, &x());
        let y = dense.forward(&Array2::zeros((0, 3))).unwrap();
        assert_eq!(y.dim(), (0, 2));
        let dx = dense.backward(&Array2::zeros((0, 2))).unwrap();
        assert_eq!(dx.dim(), (0, 3));
        assert_eq!(dense.weights_grad(), Array2::<f64>::zeros((3, 2)));
        assert_eq!(dense.bias_grad(), array![0.0, 0.0]);
    }

    #[test]
    fn predict_matches_forward_and_caches_nothing() {
        let dense = layer();
        assert_eq!(
            dense.predict(&x()).unwrap(),
            array![[-3.5, -5.0], [5.5, 7.0]]
        );
        assert!(dense.input.get().is_none());
    }

    #[test]
    fn bad_shapes_are_errors_naming_both_shapes_and_leave_the_layer_working() {
        let mut dense = layer();
        let err = dense.backward(&g()).unwrap_err();
        assert_eq!(
            err,
            LayerError::BackwardBeforeForward {
                layer: "DenseLayer"
            }
        );
        let wide = Array2::zeros((2, 4));
        let err = dense.forward(&wide).unwrap_err();
        assert_eq!(
            err.to_string(),
            "DenseLayer::forward: input has shape [2, 4], expected [2, 3]"
        );
        assert!(dense.forward_owned(wide.clone()).is_err());
        let err = dense.predict(&wide).unwrap_err();
        assert_eq!(
            err.to_string(),
            "DenseLayer::predict: input has shape [2, 4], expected [2, 3]"
        );
        // After a failed forward, the last good batch is not differentiated.
        dense.forward(&x()).unwrap();
        assert!(dense.forward(&wide).is_err());
        let err = dense.backward(&g()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "DenseLayer::backward called after a failed forward (the error it returned left no pass to differentiate)"
        );
        dense.forward_owned(x()).unwrap();
        assert!(dense.forward_owned(wide.clone()).is_err());
        assert_eq!(
            dense.backward(&g()),
            Err(LayerError::ForwardFailed { layer: LAYER })
        );
        dense.forward(&x()).unwrap();
        let err = dense.backward(&array![[1.0, 2.0]]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "DenseLayer::backward: grad_output has shape [1, 2], expected [2, 2]"
        );
        assert_eq!(dense.weights_grad(), Array2::<f64>::zeros((3, 2)));
        let (y, dx, _, _) = pass(&mut dense, &x());
        assert_eq!(y[[1, 1]], 7.0);
        assert_eq!(dx[[1, 2]], -12.0);
    }

    #[test]
    fn from_parts_rejects_a_wrong_bias_length_and_non_finite_values() {
        let err = DenseLayer::from_parts(Array2::zeros((3, 2)), array![0.0, 0.0, 0.0]);
        assert_eq!(
            err.unwrap_err().to_string(),
            "DenseLayer::from_parts: bias has shape [3], expected [2]"
        );
        let err = DenseLayer::from_parts(array![[1.0, f64::NAN]], array![0.0, 0.0]).unwrap_err();
        assert!(
            matches!(err, LayerError::InvalidParameter { name: "weights", value, .. } if value.is_nan())
        );
        let err = DenseLayer::from_parts(array![[1.0]], array![f64::NEG_INFINITY]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "DenseLayer: invalid bias = -inf: from_parts needs finite values"
        );
    }

    #[test]
    fn new_draws_seeded_he_normal_weights_and_zero_bias() {
        let dense = DenseLayer::<f64>::new(200, 300, &mut StdRng::seed_from_u64(1));
        assert_eq!(dense.weights().dim(), (200, 300));
        assert_eq!(dense.bias(), Array1::<f64>::zeros(300));
        let w = dense.weights();
        let mean = w.mean().unwrap();
        let variance = w.mapv(|v| (v - mean).powi(2)).mean().unwrap();
        assert!(mean.abs() < 0.002, "mean {mean}");
        assert!((variance / 0.01 - 1.0).abs() < 0.03, "variance {variance}");
        let again = DenseLayer::<f64>::new(200, 300, &mut StdRng::seed_from_u64(1));
        assert_eq!(again.weights(), dense.weights());
        let other = DenseLayer::<f64>::new(200, 300, &mut StdRng::seed_from_u64(2));
        assert_ne!(other.weights(), dense.weights());
        assert_eq!(
            DenseLayer::<f64>::new(0, 3, &mut StdRng::seed_from_u64(1))
                .weights()
                .dim(),
            (0, 3)
        );
    }

    #[test]
    fn with_init_he_normal_is_new_bit_for_bit() {
        let he = DenseLayer::with_init(30, 20, Init::HeNormal, &mut StdRng::seed_from_u64(3));
        let new = DenseLayer::new(30, 20, &mut StdRng::seed_from_u64(3));
        let bits = |d: &DenseLayer| d.weights().iter().map(|w| w.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&he), bits(&new));
        assert_eq!(he.bias(), Array1::<f64>::zeros(20));
    }

    #[test]
    fn rai_replaces_one_entry_per_unit_by_a_beta_draw() {
        // σ = 0.6007/√200 ≈ 0.042: a normal entry above 8σ ≈ 0.34 is
        // practically impossible, a Beta(2, 1) draw is above it with
        // probability 1 − 0.34² ≈ 0.88.
        let (inputs, units) = (200, 500);
        let dense = DenseLayer::with_init(inputs, units, Init::Rai, &mut StdRng::seed_from_u64(4));
        assert!(dense.weights().as_slice().is_some(), "standard layout");
        let sigma = 0.6007 / (inputs as f64).sqrt();
        let mut with_beta = 0;
        let mut normal = Vec::new();
        for (column, &b) in dense.weights().columns().into_iter().zip(dense.bias()) {
            let row: Vec<f64> = column.iter().copied().chain([b]).collect();
            let high = row.iter().filter(|&&v| v > 8.0 * sigma).count();
            assert!(high <= 1, "{high} entries above 8σ in one unit");
            with_beta += high;
            normal.extend(row.into_iter().filter(|&v| v <= 8.0 * sigma));
        }
        let fraction = with_beta as f64 / units as f64;
        assert!((fraction - 0.884).abs() < 0.06, "{fraction}");
        let n = normal.len() as f64;
        let std_dev = (normal.iter().map(|v| v * v).sum::<f64>() / n).sqrt();
        assert!(
            (std_dev / sigma - 1.0).abs() < 0.02,
            "{std_dev} against {sigma}"
        );
    }

    #[test]
    fn rai_picks_the_bias_as_often_as_any_weight() {
        // One input: [w, b] per unit, one of the two from Beta(2, 1) (mean
        // 2/3), the other from N(0, 0.6007²). Each has mean 1/3 and a
        // standard deviation of 0.565, so 4000 units give a standard error
        // of 0.009 on each mean.
        let dense = DenseLayer::<f64>::with_init(1, 4000, Init::Rai, &mut StdRng::seed_from_u64(5));
        let (w, b) = (
            dense.weights().mean().unwrap(),
            dense.bias().mean().unwrap(),
        );
        assert!((w - 1.0 / 3.0).abs() < 0.036, "mean weight {w}");
        assert!((b - 1.0 / 3.0).abs() < 0.036, "mean bias {b}");
        let empty = DenseLayer::<f64>::with_init(0, 3, Init::Rai, &mut StdRng::seed_from_u64(5));
        assert_eq!(empty.weights().dim(), (0, 3));
        assert!(
            empty.bias().iter().all(|&b| b > 0.0 && b < 1.0),
            "only Beta draws"
        );
    }

    #[test]
    fn params_are_the_weights_then_the_bias_and_write_through() {
        let mut dense = layer();
        pass(&mut dense, &x());
        let mut params = dense.params();
        assert_eq!(params.len(), 2);
        assert_eq!(
            params[0].grad,
            array![[-5.0, 3.0], [-3.0, 0.5], [-1.0, -2.0]].into_dyn()
        );
        assert_eq!(params[1].grad, array![-2.0, 2.5].into_dyn());
        params[0].value.fill(0.0);
        params[1].value.assign(&Array::from_elem(2, 1.0).into_dyn());
        assert_eq!(dense.predict(&x()).unwrap(), Array2::from_elem((2, 2), 1.0));
    }
}
