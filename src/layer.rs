//! The [`Layer`] trait every layer implements, and [`Param`].

use ndarray::{Array2, ArrayRef2, ArrayViewD, ArrayViewMutD};

use crate::Result;

/// A differentiable layer with an explicit forward and backward pass.
///
/// Rows are samples, columns are features. `&ArrayRef2<f64>` accepts an
/// `&Array2`, a view, a transposed view (`&a.t()`) and a slice alike.
/// The trait is object safe: `Vec<Box<dyn Layer>>` works.
///
/// # Examples
///
/// ```
/// use rectify::{ndarray::array, Layer, LeakyReluLayer, ReluLayer};
///
/// let mut layers: Vec<Box<dyn Layer>> =
///     vec![Box::new(ReluLayer::new()), Box::new(LeakyReluLayer::default())];
/// let x = array![[-2.0, 3.0]];
/// let y = layers[1].forward(&x)?;
/// assert_eq!(y, array![[-0.02, 3.0]]);
/// let dx = layers[1].backward(&array![[10.0, 20.0]])?;
/// assert_eq!(dx, array![[0.1, 20.0]]);
/// assert_eq!(layers[0].predict(&x)?, array![[0.0, 3.0]]);
/// # Ok::<(), rectify::LayerError>(())
/// ```
pub trait Layer {
    /// Training pass: computes the output and caches what backward needs.
    ///
    /// # Errors
    ///
    /// [`LayerError::ShapeMismatch`](crate::LayerError::ShapeMismatch) if the
    /// input does not fit the layer.
    fn forward(&mut self, input: &ArrayRef2<f64>) -> Result<Array2<f64>>;

    /// Given dL/d(output) of the last forward, returns dL/d(input) and
    /// overwrites the parameter gradients with this batch's gradients.
    ///
    /// # Errors
    ///
    /// [`LayerError::BackwardBeforeForward`](crate::LayerError::BackwardBeforeForward)
    /// with no forward to differentiate, and
    /// [`LayerError::ShapeMismatch`](crate::LayerError::ShapeMismatch) if the
    /// gradient's shape differs from the last forward's output.
    fn backward(&mut self, grad_output: &ArrayRef2<f64>) -> Result<Array2<f64>>;

    /// Inference pass: same output as forward, caches nothing.
    ///
    /// # Errors
    ///
    /// As [`Layer::forward`].
    fn predict(&self, input: &ArrayRef2<f64>) -> Result<Array2<f64>>;

    /// Trainable arrays with their gradients, in a stable order; empty for
    /// parameter-free layers.
    fn params(&mut self) -> Vec<Param<'_>> {
        Vec::new()
    }

    /// forward, but the layer may reuse the input's buffer for its output.
    ///
    /// # Errors
    ///
    /// As [`Layer::forward`].
    fn forward_owned(&mut self, input: Array2<f64>) -> Result<Array2<f64>> {
        self.forward(&input)
    }

    /// backward, but the layer may reuse the gradient's buffer.
    ///
    /// # Errors
    ///
    /// As [`Layer::backward`].
    fn backward_owned(&mut self, grad_output: Array2<f64>) -> Result<Array2<f64>> {
        self.backward(&grad_output)
    }
}

/// One trainable array of a layer with the gradient of its last backward.
///
/// # Examples
///
/// ```
/// use rectify::{Layer, Param, ReluLayer};
///
/// let mut relu = ReluLayer::new();
/// let params: Vec<Param<'_>> = relu.params();
/// assert!(params.is_empty()); // activations have nothing to train
/// ```
#[derive(Debug)]
pub struct Param<'a> {
    /// The parameter, writable so an optimizer can step it.
    pub value: ArrayViewMutD<'a, f64>,
    /// dL/d(value) from the last backward, same shape as `value`.
    pub grad: ArrayViewD<'a, f64>,
}
