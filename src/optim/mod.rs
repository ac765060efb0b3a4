//! Optimizers: [`Sgd`] and [`Adam`], and the [`Optimizer`] trait they share.
//!
//! An optimizer keeps its state (velocities, moment estimates) per
//! parameter, by position in [`Layer::params`], so one optimizer steps one
//! layer (or one [`Sequential`](crate::Sequential)).

mod adam;
mod sgd;

pub use adam::Adam;
pub use sgd::Sgd;

use ndarray::ArrayD;

use crate::{Layer, LayerError, Param, Result};

/// Something that updates a layer's parameters from the gradients of its
/// last backward: [`Sgd`] or [`Adam`], chosen at run time as a
/// `Box<dyn Optimizer>`.
///
/// # Examples
///
/// ```
/// use rectify::{ndarray::array, Adam, DenseLayer, Layer, Optimizer, Sgd};
///
/// let optimizers: Vec<Box<dyn Optimizer>> =
///     vec![Box::new(Sgd::new(0.1)?), Box::new(Adam::new(0.1)?)];
/// for mut optimizer in optimizers {
///     let mut dense = DenseLayer::from_parts(array![[1.0]], array![0.0])?;
///     dense.forward(&array![[1.0]])?;
///     dense.backward(&array![[1.0]])?;
///     optimizer.step(&mut dense)?;
///     assert!(dense.weights()[[0, 0]] < 1.0);
/// }
/// # Ok::<(), rectify::LayerError>(())
/// ```
pub trait Optimizer: Send {
    /// Updates `layer`'s parameters in place from the gradients of its last
    /// backward.
    ///
    /// # Errors
    ///
    /// [`LayerError::ShapeMismatch`] if a gradient's shape is not its
    /// parameter's, and [`LayerError::StateMismatch`] if the parameters do
    /// not match the optimizer's state (another network: a new network
    /// needs a new optimizer); nothing changes then, neither the layer nor
    /// the optimizer.
    fn step(&mut self, layer: &mut dyn Layer) -> Result<()>;
}

/// Errors unless every gradient has its parameter's shape.
fn check_grads(optimizer: &'static str, params: &[Param<'_>]) -> Result<()> {
    match params.iter().find(|p| p.grad.shape() != p.value.shape()) {
        Some(p) => Err(LayerError::shape(
            optimizer,
            "step",
            "grad",
            p.value.shape(),
            p.grad.shape(),
        )),
        None => Ok(()),
    }
}

/// Errors unless `params` are as many as the `state` buffers, each of its
/// buffer's shape.
fn check_state(optimizer: &'static str, state: &[ArrayD<f64>], params: &[Param<'_>]) -> Result<()> {
    let fits = params.len() == state.len()
        && (state.iter().zip(params)).all(|(s, p)| s.shape() == p.value.shape());
    if fits {
        return Ok(());
    }
    Err(LayerError::StateMismatch {
        layer: optimizer,
        expected: state.iter().map(|s| s.shape().to_vec()).collect(),
        actual: params.iter().map(|p| p.value.shape().to_vec()).collect(),
    })
}

/// One zero buffer per parameter, of its shape.
fn zeros_like(params: &[Param<'_>]) -> Vec<ArrayD<f64>> {
    params
        .iter()
        .map(|p| ArrayD::zeros(p.value.raw_dim()))
        .collect()
}

/// A layer that is nothing but parameters with given gradients, for the
/// optimizers' tests.
#[cfg(test)]
mod tensors {
    use ndarray::{Array2, ArrayD, ArrayRef2};

    use crate::{Layer, Param, Result};

    /// `(value, grad)` pairs; the identity on inputs.
    #[derive(Debug, Clone, PartialEq)]
    pub(super) struct Tensors(pub(super) Vec<(ArrayD<f64>, ArrayD<f64>)>);

    impl Layer for Tensors {
        fn forward(&mut self, input: &ArrayRef2<f64>) -> Result<Array2<f64>> {
            Ok(input.to_owned())
        }
        fn backward(&mut self, grad: &ArrayRef2<f64>) -> Result<Array2<f64>> {
            Ok(grad.to_owned())
        }
        fn predict(&self, input: &ArrayRef2<f64>) -> Result<Array2<f64>> {
            Ok(input.to_owned())
        }
        fn params(&mut self) -> Vec<Param<'_>> {
            (self.0.iter_mut())
                .map(|(value, grad)| Param {
                    value: value.view_mut(),
                    grad: grad.view(),
                })
                .collect()
        }
    }
}
