//! [`Rectifier`], the one layer type of the family, generic over its
//! [`Member`]; [`AtZero`]; and the traits a member implements.

use std::fmt;

use ndarray::{Array2, ArrayRef2};

use super::kernel::{Backward, Fixed, Forward, Output, Predict, Rule, Slopes, Tap};
use super::Mask;
use crate::alloc::{need, Need};
use crate::cache::Cache;
use crate::{Layer, LayerError, Param, Result};

/// Which side an input of exactly `±0.0` falls on.
///
/// A rectifier is not differentiable at zero, so a convention is needed.
/// `Inactive` (the default) gives ReLU'(0) = 0, as PyTorch, TensorFlow and
/// JAX do and as Bertoin et al. (NeurIPS 2021) recommend. `Active` is the
/// tutorial's f'(x) = 1 for x >= 0. Only the gradient (and, on a slope side,
/// the sign of a zero output) depends on it: ReLU's output at `±0.0` is
/// `+0.0` either way.
///
/// # Examples
///
/// ```
/// use rectify::{ndarray::array, AtZero, Layer, ReluLayer};
///
/// let x = array![[0.0, -0.0]];
/// let g = array![[5.0, 7.0]];
/// let mut pytorch = ReluLayer::new();
/// pytorch.forward(&x)?;
/// assert_eq!(pytorch.backward(&g)?, array![[0.0, 0.0]]);
///
/// let mut tutorial = ReluLayer::new().at_zero(AtZero::Active);
/// tutorial.forward(&x)?;
/// assert_eq!(tutorial.backward(&g)?, array![[5.0, 7.0]]);
/// # Ok::<(), rectify::LayerError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum AtZero {
    /// `±0.0` is inactive: ReLU'(0) = 0, Leaky ReLU'(0) = slope.
    #[default]
    Inactive,
    /// `±0.0` is active: the derivative at zero is 1.
    Active,
}

impl AtZero {
    /// Whether `±0.0` is on the active side. The rules then compare with
    /// `>=` (or `!(x < 0)`) instead of `>` (or `!(x <= 0)`), which holds on a
    /// thread with denormals-are-zero set too.
    pub(crate) fn is_active(self) -> bool {
        self == AtZero::Active
    }
}

pub(crate) mod sealed {
    /// Implemented by the family's members only.
    pub trait Sealed {}
}

/// A member of the rectifier family: the `M` of [`Rectifier<M>`].
///
/// Implemented by [`Relu`](crate::Relu), [`LeakyRelu`](crate::LeakyRelu),
/// [`PRelu`](crate::PRelu), [`RRelu`](crate::RRelu),
/// [`ClippedRelu`](crate::ClippedRelu) and [`Threshold`](crate::Threshold)
/// (sealed: the kernel's vocabulary is internal). Use it to write code
/// generic over the family:
///
/// ```
/// use rectify::{ndarray::array, Layer, Member, Rectifier, ReluLayer, ThresholdLayer};
///
/// fn active_fraction<M: Member>(layer: &mut Rectifier<M>) -> rectify::Result<f64> {
///     layer.forward(&array![[-1.0, 0.5, 2.0, 3.0]])?;
///     let mask = layer.mask().expect("forward ran");
///     Ok(mask.count_active() as f64 / 4.0)
/// }
///
/// assert_eq!(active_fraction(&mut ReluLayer::new())?, 0.75);
/// assert_eq!(active_fraction(&mut ThresholdLayer::new(1.0, 0.0)?)?, 0.5);
/// # Ok::<(), rectify::LayerError>(())
/// ```
pub trait Member: Clone + fmt::Debug + Send + sealed::Sealed {
    /// The layer's name, for error messages.
    #[doc(hidden)]
    const LAYER: &'static str;
    /// The per-lane rule.
    #[doc(hidden)]
    type Rule: Rule;
    /// The slopes of a forward and of the backward after it.
    #[doc(hidden)]
    type Train<'a>: Slopes
    where
        Self: 'a;
    /// The slopes of `predict`.
    #[doc(hidden)]
    type Infer<'a>: Slopes
    where
        Self: 'a;
    /// What a forward keeps beyond the mask.
    #[doc(hidden)]
    type Keep<'a>: Tap
    where
        Self: 'a;
    /// What a backward accumulates for the parameter gradients.
    #[doc(hidden)]
    type Learn<'a>: Tap
    where
        Self: 'a;

    /// The rule with this member's hyperparameters.
    #[doc(hidden)]
    fn rule(&self) -> Self::Rule;
    /// Errors unless an input of shape `dim` fits the member.
    #[doc(hidden)]
    fn check_input(&self, _operation: &'static str, _dim: (usize, usize)) -> Result<()> {
        Ok(())
    }
    /// The slopes and tap of a forward over an input of shape `dim`, or
    /// the error naming what they need if it cannot be had.
    #[doc(hidden)]
    fn forward_parts(&mut self, dim: (usize, usize)) -> Result<(Self::Train<'_>, Self::Keep<'_>)>;
    /// Called after each successful forward.
    #[doc(hidden)]
    fn forwarded(&mut self) {}
    /// The slopes and tap of a backward of the last forward.
    #[doc(hidden)]
    fn backward_parts(&mut self) -> (Self::Train<'_>, Self::Learn<'_>);
    /// Called after each successful backward.
    #[doc(hidden)]
    fn backwarded(&mut self) {}
    /// The slopes of `predict` over an input of shape `dim`, laid out in
    /// `table` if they need a buffer.
    #[doc(hidden)]
    fn predict_slopes<'a>(
        &'a self,
        dim: (usize, usize),
        table: &'a mut Vec<f64>,
    ) -> Self::Infer<'a>;
    /// The trainable parameters and their gradients.
    #[doc(hidden)]
    fn params(&mut self) -> Vec<Param<'_>> {
        Vec::new()
    }
}

/// A member whose slope is one constant (or absent), and which keeps and
/// learns nothing beyond the mask: a rule and its hyperparameters. Every
/// other part of [`Member`] follows.
pub trait Simple: Clone + fmt::Debug + Send {
    /// The layer's name, for error messages.
    const LAYER: &'static str;
    /// The per-lane rule.
    type Rule: Rule;
    /// The rule with this member's hyperparameters.
    fn rule(&self) -> Self::Rule;
    /// The slope of every element, for the rules that have one.
    fn slope(&self) -> f64 {
        0.0
    }
}

impl<M: Simple> sealed::Sealed for M {}

impl<M: Simple> Member for M {
    const LAYER: &'static str = M::LAYER;
    type Rule = M::Rule;
    type Train<'a>
        = Fixed
    where
        M: 'a;
    type Infer<'a>
        = Fixed
    where
        M: 'a;
    type Keep<'a>
        = ()
    where
        M: 'a;
    type Learn<'a>
        = ()
    where
        M: 'a;

    fn rule(&self) -> M::Rule {
        Simple::rule(self)
    }

    fn forward_parts(&mut self, _dim: (usize, usize)) -> Result<(Fixed, ())> {
        Ok((Fixed(self.slope()), ()))
    }

    fn backward_parts(&mut self) -> (Fixed, ()) {
        (Fixed(self.slope()), ())
    }

    fn predict_slopes(&self, _dim: (usize, usize), _table: &mut Vec<f64>) -> Fixed {
        Fixed(self.slope())
    }
}

/// A member with a choice of side for `±0.0`: every member but
/// [`Threshold`](crate::Threshold).
pub trait ZeroSided: Member {
    /// Puts `±0.0` on the given side.
    #[doc(hidden)]
    fn set_at_zero(&mut self, side: AtZero);
}

/// A layer of the rectifier family: the member `M` (its rule and
/// hyperparameters, and its parameters if it learns any) and the one-bit
/// [`Mask`] of the last forward.
///
/// Every member is this one type, so every member has the same [`Layer`]
/// behaviour: `forward` caches the mask (one bit per element), `backward`
/// turns dL/d(output) into dL/d(input) from it, `predict` caches nothing,
/// and the `_owned` methods work in place. Inputs of any layout work
/// (standard, transposed, sliced with steps); outputs are standard layout.
/// The members' pages ([`ReluLayer`](crate::ReluLayer),
/// [`LeakyReluLayer`](crate::LeakyReluLayer),
/// [`PReluLayer`](crate::PReluLayer), [`RReluLayer`](crate::RReluLayer),
/// [`ClippedReluLayer`](crate::ClippedReluLayer),
/// [`ThresholdLayer`](crate::ThresholdLayer)) give their formulas and
/// semantics tables.
///
/// # Shapes
///
/// - input: `(batch, features)`, any layout
/// - output: same as input, standard layout
/// - grad_output and grad_input: same as the last forward's input
///
/// # Errors
///
/// `backward` before any forward is [`LayerError::BackwardBeforeForward`],
/// and after a failed forward [`LayerError::ForwardFailed`]; a gradient of
/// another shape than the last forward's input is
/// [`LayerError::ShapeMismatch`] naming the layer and both shapes. An input
/// whose output or mask cannot be allocated (a huge broadcast view, say) is
/// [`LayerError::TooLarge`], before anything is allocated. After an error
/// the layer keeps its hyperparameters and parameters, and works as ever.
///
/// # Examples
///
/// ```
/// use rectify::{ndarray::array, Layer, ReluLayer};
///
/// let mut relu = ReluLayer::new();
/// relu.forward(&array![[-1.0, 2.0]])?;
/// let err = relu.backward(&array![[1.0, 2.0, 3.0]]).unwrap_err();
/// assert_eq!(err.to_string(), "ReluLayer::backward: grad_output has shape [1, 3], expected [1, 2]");
/// assert_eq!(relu.backward(&array![[5.0, 6.0]])?, array![[0.0, 6.0]]);
/// # Ok::<(), rectify::LayerError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Rectifier<M> {
    member: M,
    mask: Cache<Mask>,
}

impl<M: Member> Rectifier<M> {
    pub(crate) fn of(member: M) -> Self {
        Rectifier {
            member,
            mask: Cache::default(),
        }
    }

    pub(crate) fn member(&self) -> &M {
        &self.member
    }

    pub(crate) fn member_mut(&mut self) -> &mut M {
        &mut self.member
    }

    /// The mask cached by the last forward; `None` before any forward, and
    /// after a failed one.
    ///
    /// # Examples
    ///
    /// ```
    /// use rectify::{ndarray::array, Layer, ReluLayer};
    ///
    /// let mut relu = ReluLayer::new();
    /// assert!(relu.mask().is_none());
    /// relu.forward(&array![[-1.0, 1.0]])?;
    /// assert_eq!(relu.mask().unwrap().to_array(), array![[false, true]]);
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn mask(&self) -> Option<&Mask> {
        self.mask.get()
    }

    /// A forward pass over an input of shape `dim` into `output`, writing
    /// the mask; the mask is marked failed if any part of it fails.
    fn forward_with<'a>(
        &mut self,
        dim: (usize, usize),
        output: impl FnOnce(Need<2>) -> Result<Output<'a>>,
    ) -> Result<Array2<f64>> {
        let result = self.try_forward(dim, output);
        self.mask.record(result)
    }

    /// The forward pass itself: every check and reservation, then the pass.
    fn try_forward<'a>(
        &mut self,
        (rows, cols): (usize, usize),
        output: impl FnOnce(Need<2>) -> Result<Output<'a>>,
    ) -> Result<Array2<f64>> {
        self.member.check_input("forward", (rows, cols))?;
        let shape = [rows, cols];
        let output = output(need(M::LAYER, "forward", "output", shape))?;
        let mask = self.mask.slot().get_or_insert_with(Mask::default);
        mask.reset((rows, cols), need(M::LAYER, "forward", "mask", shape))?;
        let rule = self.member.rule();
        let (slopes, tap) = self.member.forward_parts((rows, cols))?;
        let pass = Forward {
            rule,
            slopes,
            tap,
            bits: mask.words_mut(),
        };
        let output = output.run(pass);
        self.member.forwarded();
        Ok(output)
    }

    /// A backward pass for a gradient of shape `dim` into `output`, if it
    /// fits the mask.
    fn backward_with<'a>(
        &mut self,
        (rows, cols): (usize, usize),
        output: impl FnOnce(Need<2>) -> Result<Output<'a>>,
    ) -> Result<Array2<f64>> {
        let cached = self.mask.pass(M::LAYER);
        let mask = LayerError::check_backward(M::LAYER, cached, |m| m.shape(), (rows, cols))?;
        let output = output(need(M::LAYER, "backward", "grad_input", [rows, cols]))?;
        let rule = self.member.rule();
        let (slopes, tap) = self.member.backward_parts();
        let pass = Backward {
            rule,
            slopes,
            tap,
            bits: mask.words(),
        };
        let grad = output.run(pass);
        self.member.backwarded();
        Ok(grad)
    }
}

impl<M: ZeroSided> Rectifier<M> {
    /// The same layer with `±0.0` inputs counted on the given side.
    ///
    /// # Examples
    ///
    /// ```
    /// use rectify::{ndarray::array, AtZero, Layer, ReluLayer};
    ///
    /// let mut relu = ReluLayer::new().at_zero(AtZero::Active);
    /// assert_eq!(relu.forward(&array![[-0.0]])?, array![[0.0]]);
    /// assert_eq!(relu.backward(&array![[3.0]])?, array![[3.0]]);
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn at_zero(mut self, side: AtZero) -> Self {
        self.member.set_at_zero(side);
        self
    }
}

impl<M: Member> Layer for Rectifier<M> {
    fn forward(&mut self, input: &ArrayRef2<f64>) -> Result<Array2<f64>> {
        self.forward_with(input.dim(), |need| Output::new(input, need))
    }

    fn backward(&mut self, grad_output: &ArrayRef2<f64>) -> Result<Array2<f64>> {
        self.backward_with(grad_output.dim(), |need| Output::new(grad_output, need))
    }

    fn predict(&self, input: &ArrayRef2<f64>) -> Result<Array2<f64>> {
        let (rows, cols) = input.dim();
        self.member.check_input("predict", (rows, cols))?;
        let output = Output::new(input, need(M::LAYER, "predict", "output", [rows, cols]))?;
        let mut table = Vec::new();
        Ok(output.run(Predict {
            rule: self.member.rule(),
            slopes: self.member.predict_slopes((rows, cols), &mut table),
        }))
    }

    /// As [`forward`](Layer::forward), in `input`'s buffer (copied first
    /// only if it is not in standard layout), reusing the mask's buffer.
    fn forward_owned(&mut self, input: Array2<f64>) -> Result<Array2<f64>> {
        self.forward_with(input.dim(), |need| Output::owned(input, need))
    }

    /// As [`backward`](Layer::backward), in `grad_output`'s buffer.
    fn backward_owned(&mut self, grad_output: Array2<f64>) -> Result<Array2<f64>> {
        self.backward_with(grad_output.dim(), |need| Output::owned(grad_output, need))
    }

    fn params(&mut self) -> Vec<Param<'_>> {
        self.member.params()
    }
}
