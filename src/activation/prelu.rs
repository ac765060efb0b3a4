//! [`PReluLayer`]: Leaky ReLU whose slope is learned, `x` if `x > 0`, else `a·x`.

use ndarray::{Array1, Array2, ArrayRef2, ArrayView1, Zip};

use super::{leaky_relu, leaky_relu_grad};
use crate::{Layer, LayerError, Param, Result};

const LAYER: &str = "PReluLayer";

/// This element's share of dL/da: `0` where the input passes through
/// (`x > 0`), else `x·g`. The same as PyTorch's `prelu_backward`
/// (`input > 0 ? 0 : input * grad`), so a NaN input gives NaN and `-inf`
/// gives `-inf·g` (NaN if `g` is 0).
fn slope_grad_term(x: f64, g: f64) -> f64 {
    if x > 0.0 {
        0.0
    } else {
        x * g
    }
}

/// Parametric rectified linear unit (He et al. 2015), PyTorch's
/// `nn.PReLU`: `y = x` if `x > 0`, else `a·x`, where the slope `a` is a
/// trained parameter, either one shared by every feature or one per column.
///
/// Element by element it is [`leaky_relu`](crate::leaky_relu) with slope
/// `a` (its gradient is [`leaky_relu_grad`](crate::leaky_relu_grad)), so
/// `±0.0` and NaN are on the slope side, as in PyTorch. The slope's gradient
/// is the sum, over the elements that share it, of `x·g` where `x` is not
/// `> 0`:
///
/// | input x | output | dL/dx | share of dL/da |
/// | --- | --- | --- | --- |
/// | `x > 0`, `+inf` | `x` | `g` | `0` |
/// | `x < 0`, `±0.0`, `-inf` | `a·x` | `a·g` | `x·g` |
/// | NaN | NaN | `a·g` | NaN |
///
/// Because dL/da needs `x`, `forward` caches the whole input (64 bits per
/// element), where [`ReluLayer`](crate::ReluLayer) and
/// [`LeakyReluLayer`](crate::LeakyReluLayer) cache one bit per element.
/// `backward` overwrites (never accumulates) the slope gradient. Summed in
/// another order than PyTorch's, the slope gradient agrees with it to
/// rounding; the output and input gradient agree bit for bit.
///
/// # Shapes
///
/// - input: `(batch, features)`, any layout (standard, transposed, sliced);
///   with `num_parameters > 1`, `features` must be `num_parameters`
/// - output: same as input
/// - grad_output and grad_input: same as the last forward's input
/// - parameter: the slopes, length `num_parameters`
///
/// # Examples
///
/// ```
/// use rectify::{ndarray::array, Layer, PReluLayer};
///
/// let mut prelu = PReluLayer::new(2, 0.25)?;
/// let y = prelu.forward(&array![[-4.0, 3.0], [2.0, -8.0]])?;
/// assert_eq!(y, array![[-1.0, 3.0], [2.0, -2.0]]);
/// let dx = prelu.backward(&array![[1.0, 2.0], [3.0, 0.5]])?;
/// assert_eq!(dx, array![[0.25, 2.0], [3.0, 0.125]]);
/// assert_eq!(prelu.slopes_grad(), array![-4.0, -4.0]); // -4·1, -8·0.5
/// # Ok::<(), rectify::LayerError>(())
/// ```
#[derive(Debug, Clone)]
pub struct PReluLayer {
    slopes: Array1<f64>,
    slopes_grad: Array1<f64>,
    /// The input of the last forward, kept for backward.
    input: Option<Array2<f64>>,
}

impl PReluLayer {
    /// A PReLU layer with `num_parameters` slopes, all `init`: 1 shares one
    /// slope among all features, `n` gives each of `n` columns its own.
    ///
    /// PyTorch's default is `new(1, 0.25)`, which is [`Default`]. Any
    /// finite `init` works, including 0, negative values and values above 1.
    ///
    /// # Errors
    ///
    /// [`LayerError::InvalidParameter`] naming the value if
    /// `num_parameters` is 0 or `init` is NaN or infinite.
    ///
    /// # Examples
    ///
    /// ```
    /// use rectify::{ndarray::array, LayerError, PReluLayer};
    ///
    /// assert_eq!(PReluLayer::new(3, 0.1)?.slopes(), array![0.1, 0.1, 0.1]);
    /// let err = PReluLayer::new(0, 0.25).unwrap_err();
    /// assert_eq!(err.to_string(), "PReluLayer: invalid num_parameters = 0: must be at least 1");
    /// assert!(matches!(PReluLayer::new(1, f64::NAN), Err(LayerError::InvalidParameter { .. })));
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn new(num_parameters: usize, init: f64) -> Result<Self> {
        if num_parameters == 0 {
            return Err(LayerError::InvalidParameter {
                layer: LAYER,
                name: "num_parameters",
                value: 0.0,
                reason: "must be at least 1",
            });
        }
        if !init.is_finite() {
            return Err(LayerError::InvalidParameter {
                layer: LAYER,
                name: "init",
                value: init,
                reason: "must be finite",
            });
        }
        Ok(Self::with(num_parameters, init))
    }

    fn with(num_parameters: usize, init: f64) -> Self {
        PReluLayer {
            slopes: Array1::from_elem(num_parameters, init),
            slopes_grad: Array1::zeros(num_parameters),
            input: None,
        }
    }

    /// The slopes, length `num_parameters`.
    ///
    /// # Examples
    ///
    /// ```
    /// use rectify::{ndarray::array, PReluLayer};
    ///
    /// assert_eq!(PReluLayer::default().slopes(), array![0.25]);
    /// ```
    pub fn slopes(&self) -> ArrayView1<'_, f64> {
        self.slopes.view()
    }

    /// dL/d(slopes) from the last backward; zeros before any backward.
    ///
    /// # Examples
    ///
    /// ```
    /// use rectify::{ndarray::array, Layer, PReluLayer};
    ///
    /// let mut prelu = PReluLayer::default();
    /// assert_eq!(prelu.slopes_grad(), array![0.0]);
    /// prelu.forward(&array![[-2.0, 5.0, -1.0]])?;
    /// prelu.backward(&array![[3.0, 7.0, 4.0]])?;
    /// assert_eq!(prelu.slopes_grad(), array![-10.0]); // -2·3 + -1·4
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn slopes_grad(&self) -> ArrayView1<'_, f64> {
        self.slopes_grad.view()
    }

    /// Errors unless an input of shape `dim` has a slope for every column.
    fn check_input(&self, operation: &'static str, dim: (usize, usize)) -> Result<()> {
        let n = self.slopes.len();
        if n != 1 && n != dim.1 {
            return Err(LayerError::shape(
                LAYER,
                operation,
                "input",
                &[dim.0, n],
                &[dim.0, dim.1],
            ));
        }
        Ok(())
    }

    /// The cached input, if there is one and `grad` has its shape.
    fn check_grad(&self, grad: (usize, usize)) -> Result<&Array2<f64>> {
        let input = self
            .input
            .as_ref()
            .ok_or(LayerError::BackwardBeforeForward { layer: LAYER })?;
        if grad != input.dim() {
            return Err(LayerError::shape(
                LAYER,
                "backward",
                "grad_output",
                input.shape(),
                &[grad.0, grad.1],
            ));
        }
        Ok(input)
    }

    /// Keeps a copy of `input` for backward, in the last cache's buffer if
    /// it has the same shape.
    fn cache(&mut self, input: &ArrayRef2<f64>) {
        match &mut self.input {
            Some(cache) if cache.dim() == input.dim() => cache.assign(input),
            cache => *cache = Some(input.to_owned()),
        }
    }

    /// Applies the layer to `a` in place, the slopes broadcast across rows.
    fn rectify(&self, a: &mut Array2<f64>) {
        Zip::from(a)
            .and_broadcast(&self.slopes)
            .for_each(|x, &slope| *x = leaky_relu(*x, slope));
    }

    /// The layer's output for `input`, as a new standard-layout array.
    fn output(&self, operation: &'static str, input: &ArrayRef2<f64>) -> Result<Array2<f64>> {
        self.check_input(operation, input.dim())?;
        let mut output = input.as_standard_layout().into_owned();
        self.rectify(&mut output);
        Ok(output)
    }
}

impl Default for PReluLayer {
    /// One shared slope of 0.25, PyTorch's `nn.PReLU()`.
    fn default() -> Self {
        Self::with(1, 0.25)
    }
}

impl Layer for PReluLayer {
    fn forward(&mut self, input: &ArrayRef2<f64>) -> Result<Array2<f64>> {
        let output = self.output("forward", input)?;
        self.cache(input);
        Ok(output)
    }

    /// As [`forward`](Layer::forward), computing the output in `input`'s
    /// buffer after copying it into the cache (whose buffer is reused when
    /// the shape repeats), so a steady training loop allocates nothing.
    fn forward_owned(&mut self, mut input: Array2<f64>) -> Result<Array2<f64>> {
        self.check_input("forward", input.dim())?;
        self.cache(&input);
        self.rectify(&mut input);
        Ok(input)
    }

    fn backward(&mut self, grad_output: &ArrayRef2<f64>) -> Result<Array2<f64>> {
        self.check_grad(grad_output.dim())?;
        self.backward_owned(grad_output.as_standard_layout().into_owned())
    }

    /// As [`backward`](Layer::backward), writing the input gradient over
    /// `grad_output`'s buffer.
    fn backward_owned(&mut self, mut grad_output: Array2<f64>) -> Result<Array2<f64>> {
        let input = self.check_grad(grad_output.dim())?;
        // One pass: each element adds its share to its column's slope
        // gradient, then becomes its input gradient.
        let mut per_column = Array1::zeros(input.ncols());
        Zip::from(grad_output.rows_mut())
            .and(input.rows())
            .for_each(|g_row, x_row| {
                Zip::from(g_row)
                    .and(x_row)
                    .and(&mut per_column)
                    .and_broadcast(&self.slopes)
                    .for_each(|g, &x, sum, &slope| {
                        *sum += slope_grad_term(x, *g);
                        *g = leaky_relu_grad(x, slope) * *g;
                    });
            });
        if self.slopes.len() == 1 {
            self.slopes_grad.fill(per_column.sum());
        } else {
            self.slopes_grad.assign(&per_column);
        }
        Ok(grad_output)
    }

    fn predict(&self, input: &ArrayRef2<f64>) -> Result<Array2<f64>> {
        self.output("predict", input)
    }

    /// The slopes, a 1-D array of length `num_parameters`.
    fn params(&mut self) -> Vec<Param<'_>> {
        vec![Param {
            value: self.slopes.view_mut().into_dyn(),
            grad: self.slopes_grad.view().into_dyn(),
        }]
    }
}
