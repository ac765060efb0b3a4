//! [`Rectifier`], the one layer type of the family, generic over its
//! [`Member`]; [`AtZero`]; and the traits a member implements.

use std::fmt;

use ndarray::{Array, Array2, ArrayRef, ArrayRef2, Dimension};

use super::kernel::{Backward, Fixed, Forward, Predict, Rule, Slopes, Tap};
use super::loops::Output;
use super::Mask;
use crate::alloc::{need, Need};
use crate::cache::Cache;
use crate::sequential::Token;
use crate::{Float, Layer, LayerError, Param, Result};

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
/// use rectify::{ndarray::array, AtZero, ReluLayer};
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
    /// Whether `x` is a zero that this side puts on the active side: `x` is
    /// `±0.0` and the side is `Active`. (On a thread with
    /// denormals-are-zero set, a subnormal compares equal to zero too.)
    #[inline(always)]
    pub(crate) fn holds<A: Float>(self, x: A) -> bool {
        self == AtZero::Active && x == A::zero()
    }
}

pub(crate) mod sealed {
    /// Implemented by the family's members only.
    pub trait Sealed {}
}

/// A member of the rectifier family: the `M` of [`Rectifier<M>`], in
/// element type `A`.
///
/// Implemented by [`Relu`](crate::Relu), [`LeakyRelu`](crate::LeakyRelu),
/// [`RRelu`](crate::RRelu), [`ClippedRelu`](crate::ClippedRelu) and
/// [`Threshold`](crate::Threshold) for both `f32` and `f64`, and by
/// [`PRelu<A>`](crate::PRelu) for its own `A` (sealed: the kernel's
/// vocabulary is internal). Use it to write code generic over the family:
///
/// ```
/// use rectify::{ndarray::array, Member, Rectifier, ReluLayer, ThresholdLayer};
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
pub trait Member<A: Float = f64>: Clone + fmt::Debug + Send + sealed::Sealed {
    /// The layer's name, for error messages.
    #[doc(hidden)]
    const LAYER: &'static str;
    /// The rule for one value.
    #[doc(hidden)]
    type Rule: Rule<A>;
    /// The slopes of a forward and of the backward after it.
    #[doc(hidden)]
    type Train<'a>: Slopes<A>
    where
        Self: 'a;
    /// The slopes of `predict`.
    #[doc(hidden)]
    type Infer<'a>: Slopes<A>
    where
        Self: 'a;
    /// What a forward keeps beyond the mask.
    #[doc(hidden)]
    type Keep<'a>: Tap<A>
    where
        Self: 'a;
    /// What a backward accumulates for the parameter gradients.
    #[doc(hidden)]
    type Learn<'a>: Tap<A>
    where
        Self: 'a;

    /// The rule with this member's hyperparameters in `A`, or the error
    /// naming one that overflows `A`.
    #[doc(hidden)]
    fn rule(&self) -> Result<Self::Rule>;
    /// Errors unless an input of `shape` fits the member.
    #[doc(hidden)]
    fn check_input(&self, _operation: &'static str, _shape: &[usize]) -> Result<()> {
        Ok(())
    }
    /// The slopes and tap of a forward over an input of `shape`, or the
    /// error naming what they need if it cannot be had.
    #[doc(hidden)]
    fn forward_parts(&mut self, shape: &[usize]) -> Result<(Self::Train<'_>, Self::Keep<'_>)>;
    /// Called after each successful forward.
    #[doc(hidden)]
    fn forwarded(&mut self) {}
    /// The slopes and tap of a backward of the last forward.
    #[doc(hidden)]
    fn backward_parts(&mut self) -> Result<(Self::Train<'_>, Self::Learn<'_>)>;
    /// Called after each successful backward.
    #[doc(hidden)]
    fn backwarded(&mut self) {}
    /// The slopes of `predict` over an input of `shape`, laid out in
    /// `table` if they need a buffer.
    #[doc(hidden)]
    fn predict_slopes<'a>(
        &'a self,
        shape: &[usize],
        table: &'a mut Vec<A>,
    ) -> Result<Self::Infer<'a>>;
    /// The trainable parameters and their gradients.
    #[doc(hidden)]
    fn params(&mut self) -> Vec<Param<'_, A>> {
        Vec::new()
    }
}

/// A member whose slope is one constant (or absent), and which keeps and
/// learns nothing beyond the mask: a name and a rule. Every other part of
/// [`Member`] follows, in every element type.
pub trait Simple: Clone + fmt::Debug + Send {
    /// The layer's name, for error messages.
    const LAYER: &'static str;
    /// The rule for one value in `A`.
    type Rule<A: Float>: Rule<A>;
    /// The rule with this member's hyperparameters rounded to `A`.
    fn rule<A: Float>(&self) -> Result<Self::Rule<A>>;
    /// The slope of every element, for the rules that have one.
    fn slope<A: Float>(&self) -> Result<A> {
        Ok(A::zero())
    }
}

impl<M: Simple> sealed::Sealed for M {}

impl<A: Float, M: Simple> Member<A> for M {
    const LAYER: &'static str = M::LAYER;
    type Rule = M::Rule<A>;
    type Train<'a>
        = Fixed<A>
    where
        M: 'a;
    type Infer<'a>
        = Fixed<A>
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

    fn rule(&self) -> Result<M::Rule<A>> {
        Simple::rule(self)
    }

    fn forward_parts(&mut self, _shape: &[usize]) -> Result<(Fixed<A>, ())> {
        Ok((Fixed(self.slope()?), ()))
    }

    fn backward_parts(&mut self) -> Result<(Fixed<A>, ())> {
        Ok((Fixed(self.slope()?), ()))
    }

    fn predict_slopes(&self, _shape: &[usize], _table: &mut Vec<A>) -> Result<Fixed<A>> {
        Ok(Fixed(self.slope()?))
    }
}

/// A member with a choice of side for `±0.0` ([`Rectifier::at_zero`]):
/// every member but [`Threshold`](crate::Threshold), whose kink is at its
/// threshold.
pub trait ZeroSided {}

/// A layer of the rectifier family: the member `M` (its rule and
/// hyperparameters, and its parameters if it learns any), the side of
/// `±0.0`, and the one-bit [`Mask`] of the last forward.
///
/// Every member is this one type, so every member has the same behaviour:
/// `forward` caches the mask (one bit per element), `backward` turns
/// dL/d(output) into dL/d(input) from it, `predict` caches nothing, and the
/// `_owned` methods work in place. Inputs of any element type the member
/// takes (`f32` and `f64`; PReLU its own), any number of axes and any
/// layout work (standard, transposed, permuted, sliced with steps); outputs
/// have the input's shape, in standard layout. The [`Layer`] impl is the
/// 2-D case. The members' pages ([`ReluLayer`](crate::ReluLayer),
/// [`LeakyReluLayer`](crate::LeakyReluLayer),
/// [`PReluLayer`](crate::PReluLayer), [`RReluLayer`](crate::RReluLayer),
/// [`ClippedReluLayer`](crate::ClippedReluLayer),
/// [`ThresholdLayer`](crate::ThresholdLayer)) give their formulas and
/// semantics tables.
///
/// # Shapes
///
/// - input: any shape, any layout (rows and features in the [`Layer`] impl;
///   `(N, C, …)` with PReLU's per-channel slopes)
/// - output: same as input, standard layout
/// - grad_output and grad_input: same as the last forward's input
///
/// # Errors
///
/// `backward` before any forward is [`LayerError::BackwardBeforeForward`],
/// and after a failed forward [`LayerError::ForwardFailed`]; a gradient of
/// another shape than the last forward's input (another number of axes
/// included) is [`LayerError::ShapeMismatch`] naming the layer and both
/// shapes. An input whose output or mask cannot be allocated (a huge
/// broadcast view, say) is [`LayerError::TooLarge`], before anything is
/// allocated, and a hyperparameter that overflows `f32` is
/// [`LayerError::InvalidParameter`] in an `f32` pass. After an error the
/// layer keeps its hyperparameters and parameters, and works as ever.
///
/// # Examples
///
/// ```
/// use rectify::{ndarray::{array, Array4}, ReluLayer};
///
/// let mut relu = ReluLayer::new();
/// relu.forward(&array![[-1.0, 2.0]])?;
/// let err = relu.backward(&array![[1.0, 2.0, 3.0]]).unwrap_err();
/// assert_eq!(err.to_string(), "ReluLayer::backward: grad_output has shape [1, 3], expected [1, 2]");
/// assert_eq!(relu.backward(&array![[5.0, 6.0]])?, array![[0.0, 6.0]]);
///
/// // f32 feature maps: (batch, channels, height, width).
/// let maps = Array4::<f32>::from_shape_fn((2, 3, 4, 4), |(n, c, h, w)| (n + c) as f32 - (h * w) as f32);
/// let y = relu.forward(&maps)?;
/// assert_eq!(y.shape(), &[2, 3, 4, 4]);
/// let dx = relu.backward(&Array4::<f32>::ones((2, 3, 4, 4)))?;
/// assert_eq!(dx, y.mapv(|v| if v > 0.0 { 1.0 } else { 0.0 }));
/// # Ok::<(), rectify::LayerError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Rectifier<M> {
    member: M,
    zero: AtZero,
    mask: Cache<Mask>,
}

impl<M> Rectifier<M> {
    pub(crate) fn of(member: M) -> Self {
        Rectifier {
            member,
            zero: AtZero::Inactive,
            mask: Cache::default(),
        }
    }

    pub(crate) fn member(&self) -> &M {
        &self.member
    }

    pub(crate) fn member_mut(&mut self) -> &mut M {
        &mut self.member
    }

    /// The side that inputs of `±0.0` fall on.
    pub fn zero_side(&self) -> AtZero {
        self.zero
    }

    /// The mask cached by the last forward; `None` before any forward, and
    /// after a failed one.
    ///
    /// # Examples
    ///
    /// ```
    /// use rectify::{ndarray::array, ReluLayer};
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

    /// Training pass over an input of any shape and layout: the activation,
    /// in standard layout, with the mask cached for `backward`.
    ///
    /// # Errors
    ///
    /// As [`Layer::forward`]; see the type's Errors section.
    pub fn forward<A: Float, D: Dimension>(&mut self, input: &ArrayRef<A, D>) -> Result<Array<A, D>>
    where
        M: Member<A>,
    {
        let dim = input.raw_dim();
        self.forward_with(dim.slice(), |need| Output::new(input, need))
    }

    /// As [`Rectifier::forward`], in `input`'s buffer (copied first only if
    /// it is not in standard layout), reusing the mask's buffer.
    ///
    /// # Errors
    ///
    /// As [`Rectifier::forward`].
    pub fn forward_owned<A: Float, D: Dimension>(
        &mut self,
        input: Array<A, D>,
    ) -> Result<Array<A, D>>
    where
        M: Member<A>,
    {
        let dim = input.raw_dim();
        self.forward_with(dim.slice(), |need| Output::owned(input, need))
    }

    /// Given dL/d(output) of the last forward, of its input's shape, returns
    /// dL/d(input) and overwrites the parameter gradients.
    ///
    /// # Errors
    ///
    /// As [`Layer::backward`]: a gradient with another shape than the last
    /// forward's input, another number of axes included, is
    /// [`LayerError::ShapeMismatch`].
    pub fn backward<A: Float, D: Dimension>(
        &mut self,
        grad_output: &ArrayRef<A, D>,
    ) -> Result<Array<A, D>>
    where
        M: Member<A>,
    {
        let dim = grad_output.raw_dim();
        self.backward_with(dim.slice(), |need| Output::new(grad_output, need))
    }

    /// As [`Rectifier::backward`], in `grad_output`'s buffer.
    ///
    /// # Errors
    ///
    /// As [`Rectifier::backward`].
    pub fn backward_owned<A: Float, D: Dimension>(
        &mut self,
        grad_output: Array<A, D>,
    ) -> Result<Array<A, D>>
    where
        M: Member<A>,
    {
        let dim = grad_output.raw_dim();
        self.backward_with(dim.slice(), |need| Output::owned(grad_output, need))
    }

    /// Inference pass over an input of any shape and layout: the same
    /// output as `forward`, caching nothing.
    ///
    /// # Errors
    ///
    /// As [`Rectifier::forward`].
    pub fn predict<A: Float, D: Dimension>(&self, input: &ArrayRef<A, D>) -> Result<Array<A, D>>
    where
        M: Member<A>,
    {
        let shape = input.shape();
        self.member.check_input("predict", shape)?;
        let rule = self.member.rule()?;
        let output = Output::new(input, need(M::LAYER, "predict", "output", shape))?;
        let mut table = Vec::new();
        let slopes = self.member.predict_slopes(shape, &mut table)?;
        let zero = self.zero;
        Ok(output.run(Predict { rule, zero, slopes }))
    }

    /// A forward pass over an input of `shape` into `output`, writing the
    /// mask; the mask is marked failed if any part of it fails.
    fn forward_with<'a, A: Float, D: Dimension>(
        &mut self,
        shape: &[usize],
        output: impl FnOnce(Need<&[usize]>) -> Result<Output<'a, A, D>>,
    ) -> Result<Array<A, D>>
    where
        M: Member<A>,
    {
        let result = self.try_forward(shape, output);
        self.mask.record(result)
    }

    /// The forward pass itself: every check and reservation, then the pass.
    fn try_forward<'a, A: Float, D: Dimension>(
        &mut self,
        shape: &[usize],
        output: impl FnOnce(Need<&[usize]>) -> Result<Output<'a, A, D>>,
    ) -> Result<Array<A, D>>
    where
        M: Member<A>,
    {
        self.member.check_input("forward", shape)?;
        let rule = self.member.rule()?;
        let output = output(need(M::LAYER, "forward", "output", shape))?;
        let mask = self.mask.slot().get_or_insert_with(Mask::default);
        mask.reset(shape, need(M::LAYER, "forward", "mask", shape))?;
        let (slopes, tap) = self.member.forward_parts(shape)?;
        let pass = Forward {
            rule,
            zero: self.zero,
            slopes,
            tap,
            bits: mask.words_mut(),
        };
        let output = output.run(pass);
        self.member.forwarded();
        Ok(output)
    }

    /// A backward pass for a gradient of `shape` into `output`, if it fits
    /// the mask.
    fn backward_with<'a, A: Float, D: Dimension>(
        &mut self,
        shape: &[usize],
        output: impl FnOnce(Need<&[usize]>) -> Result<Output<'a, A, D>>,
    ) -> Result<Array<A, D>>
    where
        M: Member<A>,
    {
        let mask = self.mask.pass(M::LAYER)?;
        if mask.shape_nd() != shape {
            let expected = mask.shape_nd();
            return Err(LayerError::shape(
                M::LAYER,
                "backward",
                "grad_output",
                expected,
                shape,
            ));
        }
        let rule = self.member.rule()?;
        let output = output(need(M::LAYER, "backward", "grad_input", shape))?;
        let (slopes, tap) = self.member.backward_parts()?;
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
    /// use rectify::{ndarray::array, AtZero, ReluLayer};
    ///
    /// let mut relu = ReluLayer::new().at_zero(AtZero::Active);
    /// assert_eq!(relu.forward(&array![[-0.0]])?, array![[0.0]]);
    /// assert_eq!(relu.backward(&array![[3.0]])?, array![[3.0]]);
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn at_zero(mut self, side: AtZero) -> Self {
        self.zero = side;
        self
    }
}

/// The 2-D case of the inherent methods, which take any number of axes.
impl<A: Float, M: Member<A>> Layer<A> for Rectifier<M> {
    fn forward(&mut self, input: &ArrayRef2<A>) -> Result<Array2<A>> {
        Rectifier::forward(self, input)
    }

    fn backward(&mut self, grad_output: &ArrayRef2<A>) -> Result<Array2<A>> {
        Rectifier::backward(self, grad_output)
    }

    fn predict(&self, input: &ArrayRef2<A>) -> Result<Array2<A>> {
        Rectifier::predict(self, input)
    }

    /// As [`forward`](Layer::forward), in `input`'s buffer (copied first
    /// only if it is not in standard layout), reusing the mask's buffer.
    fn forward_owned(&mut self, input: Array2<A>) -> Result<Array2<A>> {
        Rectifier::forward_owned(self, input)
    }

    /// As [`backward`](Layer::backward), in `grad_output`'s buffer.
    fn backward_owned(&mut self, grad_output: Array2<A>) -> Result<Array2<A>> {
        Rectifier::backward_owned(self, grad_output)
    }

    /// The member's parameters (PReLU's slopes); handing them out makes
    /// the last pass stale (see [`LayerError::ParametersChanged`]).
    fn params(&mut self) -> Vec<Param<'_, A>> {
        let params = self.member.params();
        if !params.is_empty() {
            self.mask.stale();
        }
        params
    }

    /// `ReluLayer`, not `Rectifier<Relu>`, in `GradCheck`'s report.
    fn __type_name(&self, _: Token) -> &'static str {
        M::LAYER
    }

    fn __mask(&self, _: Token) -> Option<&Mask> {
        self.mask()
    }
}
