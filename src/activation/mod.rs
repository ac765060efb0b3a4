//! The rectifier family: one kernel, parameterised by a [`Rule`], shared by
//! every layer of the family, plus the [`Mask`] it caches and [`AtZero`].
//!
//! A rule says three things about an input `x`: whether it is on the active
//! side (its gradient passes unchanged), what the output is, and what an
//! inactive element does to the upstream gradient. The kernel below is the
//! only loop over the data; [`relu`](crate::relu) and
//! [`leaky_relu`](crate::leaky_relu) are the same rules applied to one value.

mod leaky_relu;
mod mask;
mod prelu;
mod relu;

pub use leaky_relu::{leaky_relu, leaky_relu_grad, LeakyReluLayer};
pub use mask::Mask;
pub use prelu::PReluLayer;
pub use relu::{relu, relu_grad, ReluLayer};

use ndarray::{Array2, ArrayRef2};

use crate::{LayerError, Result};

/// Which side an input of exactly `±0.0` falls on.
///
/// ReLU is not differentiable at zero, so a convention is needed.
/// `Inactive` (the default) gives ReLU'(0) = 0, as PyTorch, TensorFlow and
/// JAX do and as Bertoin et al. (NeurIPS 2021) recommend. `Active` is the
/// tutorial's f'(x) = 1 for x >= 0. Only the gradient (and, for Leaky ReLU,
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
pub enum AtZero {
    /// `±0.0` is inactive: ReLU'(0) = 0, Leaky ReLU'(0) = slope.
    #[default]
    Inactive,
    /// `±0.0` is active: the derivative at zero is 1.
    Active,
}

impl AtZero {
    /// The largest input that is still inactive: `x` is active iff `x > t`.
    ///
    /// For `Active` this is the largest negative `f64`, so that both `+0.0`
    /// and `-0.0` compare above it. A threshold instead of a branch keeps the
    /// convention out of the hot loop.
    fn threshold(self) -> f64 {
        match self {
            AtZero::Inactive => 0.0,
            AtZero::Active => -f64::from_bits(1),
        }
    }
}

/// How one member of the rectifier family treats a single element.
pub(crate) trait Rule: Copy {
    /// The layer's name, for error messages.
    const LAYER: &'static str;
    /// Whether `x` is on the active side, where the gradient passes unchanged.
    fn is_active(self, x: f64) -> bool;
    /// The activation of `x`.
    fn output(self, x: f64) -> f64;
    /// The gradient passed back through an inactive element, given upstream `g`.
    fn inactive_grad(self, g: f64) -> f64;
}

/// Bits per mask word.
const WORD: usize = u64::BITS as usize;

/// Applies `rule` to `data` in place and records each element's side in
/// `bits`, element `i` at bit `i % 64` of word `i / 64`.
fn forward_kernel<R: Rule>(rule: R, data: &mut [f64], bits: &mut [u64]) {
    for (chunk, word) in data.chunks_mut(WORD).zip(bits) {
        let mut w = 0;
        for (i, x) in chunk.iter_mut().enumerate() {
            w |= u64::from(rule.is_active(*x)) << i;
            *x = rule.output(*x);
        }
        *word = w;
    }
}

/// Turns upstream gradients into input gradients in place, from the bits
/// [`forward_kernel`] recorded.
fn backward_kernel<R: Rule>(rule: R, grad: &mut [f64], bits: &[u64]) {
    for (chunk, &w) in grad.chunks_mut(WORD).zip(bits) {
        for (i, g) in chunk.iter_mut().enumerate() {
            let active = (w >> i) & 1 == 1;
            *g = if active { *g } else { rule.inactive_grad(*g) };
        }
    }
}

/// `a` itself if it is in standard (row-major, contiguous) layout, else a
/// row-major copy.
fn into_standard(a: Array2<f64>) -> Array2<f64> {
    if a.is_standard_layout() {
        a
    } else {
        a.as_standard_layout().into_owned()
    }
}

/// The row-major slice of an array known to be in standard layout.
fn slice_of(a: &mut Array2<f64>) -> &mut [f64] {
    a.as_slice_mut()
        .expect("into_standard returns a standard-layout array")
}

/// Implements [`Layer`](crate::Layer) for a rectifier layer by handing every
/// call to its `inner: Rectifier<_>`.
macro_rules! delegate_layer {
    ($layer:ty) => {
        impl $crate::Layer for $layer {
            fn forward(
                &mut self,
                input: &::ndarray::ArrayRef2<f64>,
            ) -> $crate::Result<::ndarray::Array2<f64>> {
                Ok(self.inner.forward(input))
            }

            fn backward(
                &mut self,
                grad_output: &::ndarray::ArrayRef2<f64>,
            ) -> $crate::Result<::ndarray::Array2<f64>> {
                self.inner.backward(grad_output)
            }

            fn predict(
                &self,
                input: &::ndarray::ArrayRef2<f64>,
            ) -> $crate::Result<::ndarray::Array2<f64>> {
                Ok(self.inner.predict(input))
            }

            fn forward_owned(
                &mut self,
                input: ::ndarray::Array2<f64>,
            ) -> $crate::Result<::ndarray::Array2<f64>> {
                Ok(self.inner.forward_owned(input))
            }

            fn backward_owned(
                &mut self,
                grad_output: ::ndarray::Array2<f64>,
            ) -> $crate::Result<::ndarray::Array2<f64>> {
                self.inner.backward_owned(grad_output)
            }
        }
    };
}
use delegate_layer;

/// The state every rectifier layer has: its rule and the mask of the last
/// forward. The layers are thin wrappers that pick the rule.
#[derive(Debug, Clone)]
pub(crate) struct Rectifier<R> {
    pub(crate) rule: R,
    mask: Option<Mask>,
}

impl<R: Rule> Rectifier<R> {
    pub(crate) fn new(rule: R) -> Self {
        Rectifier { rule, mask: None }
    }

    pub(crate) fn mask(&self) -> Option<&Mask> {
        self.mask.as_ref()
    }

    pub(crate) fn forward(&mut self, input: &ArrayRef2<f64>) -> Array2<f64> {
        self.forward_owned(input.as_standard_layout().into_owned())
    }

    /// Rectifies in place, reusing the mask's buffer from the last forward.
    pub(crate) fn forward_owned(&mut self, input: Array2<f64>) -> Array2<f64> {
        let mut out = into_standard(input);
        let mask = self.mask.get_or_insert_with(Mask::default);
        mask.reset(out.dim());
        forward_kernel(self.rule, slice_of(&mut out), mask.words_mut());
        out
    }

    pub(crate) fn predict(&self, input: &ArrayRef2<f64>) -> Array2<f64> {
        input.mapv(|x| self.rule.output(x))
    }

    pub(crate) fn backward(&self, grad_output: &ArrayRef2<f64>) -> Result<Array2<f64>> {
        self.check_grad(grad_output.dim())?;
        self.backward_owned(grad_output.as_standard_layout().into_owned())
    }

    pub(crate) fn backward_owned(&self, grad_output: Array2<f64>) -> Result<Array2<f64>> {
        let mask = self.check_grad(grad_output.dim())?;
        let mut grad = into_standard(grad_output);
        backward_kernel(self.rule, slice_of(&mut grad), mask.words());
        Ok(grad)
    }

    /// The cached mask, if there is one and `grad` has its shape.
    fn check_grad(&self, grad: (usize, usize)) -> Result<&Mask> {
        let mask = self
            .mask
            .as_ref()
            .ok_or(LayerError::BackwardBeforeForward { layer: R::LAYER })?;
        let (rows, cols) = mask.shape();
        if grad != (rows, cols) {
            return Err(LayerError::shape(
                R::LAYER,
                "backward",
                "grad_output",
                &[rows, cols],
                &[grad.0, grad.1],
            ));
        }
        Ok(mask)
    }
}

#[cfg(test)]
mod test_util;
