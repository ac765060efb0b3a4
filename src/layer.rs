//! The [`Layer`] trait every layer implements, and [`Param`].

use ndarray::{Array2, ArrayRef2, ArrayViewD, ArrayViewMutD};

use crate::sequential::Token;
use crate::{Float, Mask, Result, Sequential};

/// A differentiable layer with an explicit forward and backward pass.
///
/// Rows are samples, columns are features. `&ArrayRef2<A>` accepts an
/// `&Array2`, a view, a transposed view (`&a.t()`) and a slice alike. The
/// element type `A` is `f64` unless named: `Layer` is `Layer<f64>`, and
/// `Box<dyn Layer>` holds an `f64` layer. The parameter-free activations
/// implement both `Layer<f32>` and `Layer<f64>`.
/// The trait is object safe: `Vec<Box<dyn Layer>>` works. Every layer is
/// `Send`, so a model, a `Sequential` included, can move to a worker thread.
/// To implement it for a layer of your own, see the [guide](crate::guide).
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
///
/// // Train on another thread.
/// let mut net = rectify::Sequential::new();
/// net.push(ReluLayer::new());
/// let y = std::thread::spawn(move || net.forward(&x)).join().unwrap()?;
/// assert_eq!(y, array![[0.0, 3.0]]);
/// # Ok::<(), rectify::LayerError>(())
/// ```
pub trait Layer<A: Float = f64>: Send {
    /// Training pass: computes the output and caches what backward needs.
    ///
    /// # Errors
    ///
    /// [`LayerError::ShapeMismatch`](crate::LayerError::ShapeMismatch) if the
    /// input does not fit the layer, and
    /// [`LayerError::TooLarge`](crate::LayerError::TooLarge) if an array it
    /// needs cannot be allocated. After an error, the built-in layers keep
    /// their parameters and forget the last pass: `backward` is
    /// [`LayerError::ForwardFailed`](crate::LayerError::ForwardFailed) until
    /// the next successful forward.
    fn forward(&mut self, input: &ArrayRef2<A>) -> Result<Array2<A>>;

    /// Given dL/d(output) of the last forward, returns dL/d(input) and
    /// overwrites the parameter gradients with this batch's gradients.
    ///
    /// The parameters are read as they are when `backward` runs, and the
    /// input as it was at the last forward. So if the parameters changed
    /// in between (an optimizer step, a load, a write through
    /// [`params`](Layer::params)), `backward` gives exactly what a new
    /// forward of the same input with the new parameters, then `backward`,
    /// would give: every built-in layer (`DenseLayer`, `PReluLayer`) and
    /// `Sequential` follows this one rule, because what each caches for
    /// backward (its input, or the 1-bit mask of its signs) does not depend
    /// on its parameters. (PyTorch refuses this case instead: a saved tensor
    /// modified in place is an error at backward.)
    ///
    /// # Errors
    ///
    /// [`LayerError::BackwardBeforeForward`](crate::LayerError::BackwardBeforeForward)
    /// with no forward to differentiate,
    /// [`LayerError::ForwardFailed`](crate::LayerError::ForwardFailed) after
    /// a failed one, and
    /// [`LayerError::ShapeMismatch`](crate::LayerError::ShapeMismatch) if the
    /// gradient's shape differs from the last forward's output.
    fn backward(&mut self, grad_output: &ArrayRef2<A>) -> Result<Array2<A>>;

    /// Inference pass: same output as forward, caches nothing.
    ///
    /// # Errors
    ///
    /// As [`Layer::forward`].
    fn predict(&self, input: &ArrayRef2<A>) -> Result<Array2<A>>;

    /// Trainable arrays with their gradients, in a stable order; empty for
    /// parameter-free layers.
    fn params(&mut self) -> Vec<Param<'_, A>> {
        Vec::new()
    }

    /// forward, but the layer may reuse the input's buffer for its output.
    ///
    /// # Errors
    ///
    /// As [`Layer::forward`].
    fn forward_owned(&mut self, input: Array2<A>) -> Result<Array2<A>> {
        self.forward(&input)
    }

    /// backward, but the layer may reuse the gradient's buffer.
    ///
    /// # Errors
    ///
    /// As [`Layer::backward`].
    fn backward_owned(&mut self, grad_output: Array2<A>) -> Result<Array2<A>> {
        self.backward(&grad_output)
    }

    /// backward for a caller that does not read dL/d(input), as when this
    /// is the first layer of a network: overwrites the parameter gradients
    /// and may skip the input gradient. [`DenseLayer`](crate::DenseLayer)
    /// skips its `g·Wᵀ` product, and a [`Sequential`](crate::Sequential)
    /// passes the call to its first layer; PyTorch skips that product too.
    /// The default runs [`Layer::backward_owned`] and drops its result.
    ///
    /// # Errors
    ///
    /// As [`Layer::backward`].
    fn backward_params(&mut self, grad_output: Array2<A>) -> Result<()> {
        self.backward_owned(grad_output).map(drop)
    }

    /// The layer as a [`Sequential`], if it is one (or a box of one), so
    /// that [`GradCheck`](crate::GradCheck) checks a network layer by
    /// layer. Not part of the API: its argument cannot be named outside the
    /// crate.
    #[doc(hidden)]
    fn __as_sequential(&mut self, _: Token) -> Option<&mut Sequential<A>> {
        None
    }

    /// The layer's type name, seen through boxes, for
    /// [`GradCheck`](crate::GradCheck)'s report. Not part of the API, as
    /// above.
    #[doc(hidden)]
    fn __type_name(&self, _: Token) -> &'static str {
        std::any::type_name::<Self>()
    }

    /// The mask of the last forward, if the layer is a rectifier, for
    /// [`GradientFlow`](crate::GradientFlow)'s dead units. Not part of the
    /// API, as above.
    #[doc(hidden)]
    fn __mask(&self, _: Token) -> Option<&Mask> {
        None
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
pub struct Param<'a, A = f64> {
    /// The parameter, writable so an optimizer can step it.
    pub value: ArrayViewMutD<'a, A>,
    /// dL/d(value) from the last backward, same shape as `value`.
    pub grad: ArrayViewD<'a, A>,
}

/// A boxed layer is a layer, so `Box<dyn Layer>` can go wherever a layer
/// goes, for example into [`Sequential::push`](crate::Sequential::push).
/// Every call, the `_owned` pair included, goes to the boxed layer.
///
/// # Examples
///
/// ```
/// use rectify::{ndarray::array, Layer, LeakyReluLayer, ReluLayer, Sequential};
///
/// let slope = 0.5;
/// let activation: Box<dyn Layer> = if slope == 0.0 {
///     Box::new(ReluLayer::new())
/// } else {
///     Box::new(LeakyReluLayer::new(slope)?)
/// };
/// let mut net = Sequential::new();
/// net.push(activation);
/// assert_eq!(net.forward(&array![[-2.0, 3.0]])?, array![[-1.0, 3.0]]);
/// # Ok::<(), rectify::LayerError>(())
/// ```
impl<A: Float, L: Layer<A> + ?Sized> Layer<A> for Box<L> {
    fn forward(&mut self, input: &ArrayRef2<A>) -> Result<Array2<A>> {
        (**self).forward(input)
    }

    fn backward(&mut self, grad_output: &ArrayRef2<A>) -> Result<Array2<A>> {
        (**self).backward(grad_output)
    }

    fn predict(&self, input: &ArrayRef2<A>) -> Result<Array2<A>> {
        (**self).predict(input)
    }

    fn params(&mut self) -> Vec<Param<'_, A>> {
        (**self).params()
    }

    fn forward_owned(&mut self, input: Array2<A>) -> Result<Array2<A>> {
        (**self).forward_owned(input)
    }

    fn backward_owned(&mut self, grad_output: Array2<A>) -> Result<Array2<A>> {
        (**self).backward_owned(grad_output)
    }

    fn backward_params(&mut self, grad_output: Array2<A>) -> Result<()> {
        (**self).backward_params(grad_output)
    }

    fn __as_sequential(&mut self, token: Token) -> Option<&mut Sequential<A>> {
        (**self).__as_sequential(token)
    }

    fn __type_name(&self, token: Token) -> &'static str {
        (**self).__type_name(token)
    }

    fn __mask(&self, token: Token) -> Option<&Mask> {
        (**self).__mask(token)
    }
}

#[cfg(test)]
mod tests {
    use ndarray::array;

    use super::*;
    use crate::{DenseLayer, LeakyReluLayer};

    #[test]
    fn a_boxed_layer_forwards_every_call() {
        let mut boxed: Box<dyn Layer> = Box::new(LeakyReluLayer::new(0.5).unwrap());
        assert_eq!(
            boxed.forward_owned(array![[-2.0, 4.0]]).unwrap(),
            array![[-1.0, 4.0]]
        );
        assert_eq!(
            boxed.backward_owned(array![[6.0, 8.0]]).unwrap(),
            array![[3.0, 8.0]]
        );
        assert_eq!(boxed.predict(&array![[-4.0]]).unwrap(), array![[-2.0]]);

        let dense = DenseLayer::from_parts(array![[2.0], [3.0]], array![1.0]).unwrap();
        let mut boxed: Box<dyn Layer> = Box::new(dense);
        boxed.forward(&array![[1.0, 1.0]]).unwrap();
        boxed.backward(&array![[5.0]]).unwrap();
        let params = boxed.params();
        assert_eq!(params.len(), 2);
        assert_eq!(params[1].grad, array![5.0].into_dyn());
    }
}
