//! Optimizers: [`Sgd`] and [`Adam`], the [`Optimizer`] trait they share,
//! and [`NonFinite`], what a step does about a NaN or an infinity.
//!
//! An optimizer keeps its state (velocities, moment estimates) per
//! parameter, by position in [`Layer::params`], so one optimizer steps one
//! layer (or one [`Sequential`](crate::Sequential)).

mod adam;
mod pieces;
mod sgd;

pub use adam::Adam;
pub use sgd::Sgd;

use std::any::Any;

use ndarray::{ArrayD, ArrayViewMutD};

use crate::{Float, Layer, LayerError, Param, Result};

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
pub trait Optimizer<A: Float = f64>: Send {
    /// Updates `layer`'s parameters in place from the gradients of its last
    /// backward.
    ///
    /// # Errors
    ///
    /// [`LayerError::ShapeMismatch`] if a gradient's shape is not its
    /// parameter's, [`LayerError::StateMismatch`] if the parameters do not
    /// match the optimizer's state (another network: a new network needs a
    /// new optimizer), and, unless the optimizer was set to
    /// [`NonFinite::Write`], [`LayerError::NonFiniteUpdate`] if the step
    /// would write a NaN or an infinity; nothing changes then, neither the
    /// layer nor the optimizer.
    fn step(&mut self, layer: &mut dyn Layer<A>) -> Result<()>;
}

/// What an optimizer step does when it would write a NaN or an infinity
/// into a parameter, or into the optimizer's own state (Sgd's velocities,
/// Adam's moments): from a NaN or infinite gradient, or a finite one so
/// large that the update overflows. Set with [`Sgd::with_non_finite`] and
/// [`Adam::with_non_finite`].
///
/// The default is [`Refuse`](NonFinite::Refuse), where PyTorch's
/// optimizers write. A NaN or an infinity written into a parameter is never
/// undone by later steps: every output becomes NaN and Adam's moments stay
/// NaN, so the model is lost, and the first sign of it is often much later
/// (a checkpoint that cannot be loaded, a loss of NaN for the rest of a
/// run). Refusing stops at the step that would have written it, with an
/// error naming the parameter and the element, and changes nothing, so
/// the model and the optimizer are as before the step and the training
/// loop can skip the batch and go on, as PyTorch's `GradScaler` skips the
/// steps whose gradients hold NaN or infinities. It also keeps what the
/// crate takes elsewhere: [`DenseLayer::from_parts`](crate::DenseLayer::from_parts),
/// `load_safetensors` and serde refuse non-finite parameters and state, and
/// `save_safetensors` refuses to save them. [`Write`](NonFinite::Write)
/// is PyTorch's behaviour, for code that checks the loss itself or wants
/// the exact PyTorch trajectory, NaN included.
///
/// The cost of `Refuse` is one pass over the parameters, gradients and
/// state before the update, computing each element's new values (the
/// update's own arithmetic, so that what is checked is exactly what would
/// be written) without writing them: the optimizer's step takes about twice
/// as long. Measured on a 784-512-512-10 dense network trained in batches of
/// 64 (one thread of a Xeon), a whole training step (forward, loss,
/// backward, step) was some 10 to 30% slower with `Adam` and 5 to 10% with
/// `Sgd`; `Write` saves that where the gradients are known to be finite.
///
/// # Examples
///
/// ```
/// use rectify::{ndarray::array, DenseLayer, Layer, LayerError, NonFinite, Sgd};
///
/// let mut dense = DenseLayer::from_parts(array![[1.0, 2.0]], array![0.0, 0.0])?;
/// dense.forward(&array![[1.0]])?;
/// dense.backward(&array![[0.5, f64::NAN]])?;
///
/// let mut sgd = Sgd::new(0.1)?; // NonFinite::Refuse
/// let err = sgd.step(&mut dense).unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "Sgd::step: parameter 0 (in params() order) would become NaN at flat index 1, \
///      where its gradient is NaN; the step was refused and changed nothing"
/// );
/// assert!(matches!(err, LayerError::NonFiniteUpdate { param: 0, index: 1, .. }));
/// assert_eq!(dense.weights(), array![[1.0, 2.0]]); // unchanged
///
/// let mut pytorch = Sgd::new(0.1)?.with_non_finite(NonFinite::Write);
/// pytorch.step(&mut dense)?;
/// assert!(dense.weights()[[0, 1]].is_nan());
/// # Ok::<(), rectify::LayerError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum NonFinite {
    /// The step is [`LayerError::NonFiniteUpdate`], naming the first
    /// parameter (by its index in [`Layer::params`]) and element that would
    /// not be finite, and changes nothing: neither the layer nor the
    /// optimizer's state and step count. The default.
    #[default]
    Refuse,
    /// The step writes what the arithmetic gives, NaN and infinities
    /// included, as `torch.optim.SGD` and `torch.optim.Adam` do. A layer
    /// left with non-finite parameters cannot be saved to safetensors.
    Write,
}

/// Where a step's update would not be finite: the element's flat index
/// (row-major), which state buffer (`None` for the parameter itself), the
/// value and the element's gradient.
#[derive(Debug, Clone, Copy)]
struct NonFiniteAt {
    index: usize,
    state: Option<&'static str>,
    value: f64,
    grad: f64,
}

impl NonFiniteAt {
    /// The parameter's new value `w` at element `index` if it is not
    /// finite, else the first of the new `states` (by name) that is not.
    #[inline(always)]
    fn find<A: Float>(index: usize, grad: A, w: A, states: &[(&'static str, A)]) -> Option<Self> {
        let at = |state, value: A| NonFiniteAt {
            index,
            state,
            value: value.widen(),
            grad: grad.widen(),
        };
        if !w.is_finite() {
            return Some(at(None, w));
        }
        (states.iter())
            .find(|(_, value)| !value.is_finite())
            .map(|&(name, value)| at(Some(name), value))
    }

    /// What a search for the element that a check found not finite gave:
    /// the element, or (were the two passes ever to disagree) element 0 of
    /// the parameter, NaN: the step is refused either way.
    fn located(found: Option<Self>) -> Self {
        found.unwrap_or(NonFiniteAt {
            index: 0,
            state: None,
            value: f64::NAN,
            grad: f64::NAN,
        })
    }

    /// The error of `optimizer`'s step for parameter `param`.
    fn error(self, optimizer: &'static str, param: usize) -> LayerError {
        LayerError::NonFiniteUpdate {
            layer: optimizer,
            param,
            state: self.state,
            index: self.index,
            value: self.value,
            grad: self.grad,
        }
    }
}

/// Errors unless every gradient has its parameter's shape.
fn check_grads<A: Float>(optimizer: &'static str, params: &[Param<'_, A>]) -> Result<()> {
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
fn check_state<A: Float>(
    optimizer: &'static str,
    state: &[ArrayD<A>],
    params: &[Param<'_, A>],
) -> Result<()> {
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
fn zeros_like<A: Float>(params: &[Param<'_, A>]) -> Vec<ArrayD<A>> {
    params
        .iter()
        .map(|p| ArrayD::zeros(p.value.raw_dim()))
        .collect()
}

/// A layer that is nothing but parameters with given gradients, for the
/// optimizers' tests.
/// An optimizer's per-parameter tensors (velocities, moments), in the
/// element type of the network it steps: none before the first step.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) enum State {
    #[default]
    Empty,
    F32(Vec<ArrayD<f32>>),
    F64(Vec<ArrayD<f64>>),
}

impl State {
    /// The state of a network of `A`s.
    pub(crate) fn of<A: Float>(tensors: Vec<ArrayD<A>>) -> Self {
        let tensors: Box<dyn Any> = Box::new(tensors);
        match tensors.downcast::<Vec<ArrayD<f32>>>() {
            Ok(f32s) => State::F32(*f32s),
            Err(other) => State::F64(*other.downcast().expect("Float is f32 or f64")),
        }
    }

    /// The tensors, if any, and if they are `A`s.
    pub(crate) fn get<A: Float>(&self) -> Option<&Vec<ArrayD<A>>> {
        match self {
            State::Empty => None,
            State::F32(tensors) => (tensors as &dyn Any).downcast_ref(),
            State::F64(tensors) => (tensors as &dyn Any).downcast_ref(),
        }
    }

    /// [`get`](Self::get), mutably.
    pub(crate) fn get_mut<A: Float>(&mut self) -> Option<&mut Vec<ArrayD<A>>> {
        match self {
            State::Empty => None,
            State::F32(tensors) => (tensors as &mut dyn Any).downcast_mut(),
            State::F64(tensors) => (tensors as &mut dyn Any).downcast_mut(),
        }
    }

    /// [`Redo`](crate::Redo)'s reset hook: hands `reset` each tensor, if
    /// they are `A`s, with its parameter's position in `params()`.
    pub(crate) fn each_mut<A: Float>(
        &mut self,
        reset: &mut dyn FnMut(usize, ArrayViewMutD<'_, A>),
    ) {
        for (i, tensor) in self.get_mut::<A>().into_iter().flatten().enumerate() {
            reset(i, tensor.view_mut());
        }
    }

    /// The element type of the tensors, if any.
    fn element_type(&self) -> Option<&'static str> {
        match self {
            State::Empty => None,
            State::F32(_) => Some(f32::NAME),
            State::F64(_) => Some(f64::NAME),
        }
    }

    /// The tensors for a step of `params`, checked: the kept ones, or
    /// `None` if there are none yet.
    ///
    /// # Errors
    ///
    /// [`LayerError::StateElementType`] if they are of another element
    /// type, [`LayerError::StateMismatch`] if their number or shapes differ
    /// from the parameters'.
    pub(crate) fn checked<A: Float>(
        &self,
        optimizer: &'static str,
        params: &[Param<'_, A>],
    ) -> Result<Option<&Vec<ArrayD<A>>>> {
        match (self.get::<A>(), self.element_type()) {
            (Some(state), _) => check_state(optimizer, state, params).map(|()| Some(state)),
            (None, None) => Ok(None),
            (None, Some(state)) => Err(LayerError::StateElementType {
                layer: optimizer,
                state,
                params: A::NAME,
            }),
        }
    }
}

#[cfg(test)]
mod tensors {
    use ndarray::{Array2, ArrayD, ArrayRef2};

    use crate::{Layer, Param, Result};

    /// `(value, grad)` pairs; the identity on inputs.
    #[derive(Debug, Clone, PartialEq)]
    pub(super) struct Tensors(pub(super) Vec<(ArrayD<f64>, ArrayD<f64>)>);

    /// The bits of every value and gradient, NaN included.
    pub(super) fn bits(layer: &Tensors) -> Vec<Vec<u64>> {
        let bits = |a: &ArrayD<f64>| a.iter().map(|x| x.to_bits()).collect();
        layer
            .0
            .iter()
            .flat_map(|(v, g)| [bits(v), bits(g)])
            .collect()
    }

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
