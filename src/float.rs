//! [`Float`]: the element types the crate computes in, `f32` and `f64`.

use std::fmt;

use ndarray::NdFloat;
use ndarray_rand::rand::Rng;
use ndarray_rand::rand_distr::{Beta, Distribution, Normal};

use crate::{LayerError, Result};

mod sealed {
    /// Implemented by `f32` and `f64` only.
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// An element type of the crate's arrays: `f32` (PyTorch's default) or
/// `f64`. Sealed: the kernels are checked bit for bit against PyTorch in
/// exactly these two types.
///
/// Every layer, loss and scalar function computes in its element type, as
/// PyTorch computes a float32 tensor in float32. Hyperparameters stay `f64`
/// in constructors and are rounded to the element type when used, as
/// PyTorch rounds a Python float for a float32 tensor; a hyperparameter
/// whose magnitude overflows the element type (a cap of `1e39` in `f32`) is
/// a [`LayerError::InvalidParameter`] there.
///
/// # Examples
///
/// ```
/// use rectify::{ndarray::array, Float, Layer, LeakyReluLayer};
///
/// fn negative_side<A: Float>(layer: &mut LeakyReluLayer, x: A) -> rectify::Result<A>
/// where
///     LeakyReluLayer: Layer<A>,
/// {
///     Ok(layer.forward(&array![[x]])?[[0, 0]])
/// }
///
/// let mut leaky = LeakyReluLayer::new(0.1)?;
/// assert_eq!(negative_side(&mut leaky, -1.0f32)?, -0.1f32); // 0.1 rounded to f32, product in f32
/// assert_eq!(negative_side(&mut leaky, -1.0f64)?, -0.1f64);
/// # Ok::<(), rectify::LayerError>(())
/// ```
pub trait Float: sealed::Sealed + NdFloat + Default + Send + Sync + fmt::LowerExp {
    /// `"f32"` or `"f64"`, for messages.
    const NAME: &'static str;

    /// Whether this is the narrow type, `f32`.
    #[doc(hidden)]
    const NARROW: bool;

    /// `x` rounded to the nearest value of this type (ties to even), as
    /// `x as f32` rounds.
    #[doc(hidden)]
    fn round_from(x: f64) -> Self;

    /// The value as an `f64`, exactly.
    #[doc(hidden)]
    fn widen(self) -> f64;

    /// The value's bits, zero-extended.
    #[doc(hidden)]
    fn bits(self) -> u64;

    /// A draw from the normal distribution of mean 0 and deviation
    /// `std_dev` (rounded to `Self`), sampled in `Self`.
    #[doc(hidden)]
    fn normal(rng: &mut (impl Rng + ?Sized), std_dev: f64) -> Self;

    /// A draw from Beta(2, 1), sampled in `Self`.
    #[doc(hidden)]
    fn beta_2_1(rng: &mut (impl Rng + ?Sized)) -> Self;

    /// `layer`'s hyperparameter `name`, a finite `value`, rounded to this
    /// type.
    ///
    /// # Errors
    ///
    /// [`LayerError::InvalidParameter`] naming the value if its magnitude
    /// is above this type's largest finite value (even where it would round
    /// down to it): PyTorch refuses such a scalar for a tensor of this type
    /// ("value cannot be converted to type float without overflow").
    #[doc(hidden)]
    fn hyper(layer: &'static str, name: &'static str, value: f64) -> Result<Self> {
        let rounded = Self::round_from(value);
        if value.abs() > Self::max_value().widen() && value.is_finite() {
            return Err(LayerError::InvalidParameter {
                layer,
                name,
                value,
                reason: if Self::NAME == "f32" {
                    "overflows f32, the element type"
                } else {
                    "overflows the element type"
                },
                bound: None,
            });
        }
        Ok(rounded)
    }
}

impl Float for f32 {
    const NAME: &'static str = "f32";
    const NARROW: bool = true;

    #[inline(always)]
    fn round_from(x: f64) -> f32 {
        x as f32
    }

    #[inline(always)]
    fn widen(self) -> f64 {
        f64::from(self)
    }

    fn normal(rng: &mut (impl Rng + ?Sized), std_dev: f64) -> f32 {
        let normal = Normal::new(0.0, Self::round_from(std_dev));
        normal.expect("a finite, positive deviation").sample(rng)
    }

    fn beta_2_1(rng: &mut (impl Rng + ?Sized)) -> f32 {
        Beta::new(2.0, 1.0)
            .expect("Beta(2, 1) is valid")
            .sample(rng)
    }

    fn bits(self) -> u64 {
        self.to_bits().into()
    }
}

impl Float for f64 {
    const NAME: &'static str = "f64";
    const NARROW: bool = false;

    #[inline(always)]
    fn round_from(x: f64) -> f64 {
        x
    }

    #[inline(always)]
    fn widen(self) -> f64 {
        self
    }

    fn normal(rng: &mut (impl Rng + ?Sized), std_dev: f64) -> f64 {
        let normal = Normal::new(0.0, Self::round_from(std_dev));
        normal.expect("a finite, positive deviation").sample(rng)
    }

    fn beta_2_1(rng: &mut (impl Rng + ?Sized)) -> f64 {
        Beta::new(2.0, 1.0)
            .expect("Beta(2, 1) is valid")
            .sample(rng)
    }

    fn bits(self) -> u64 {
        self.to_bits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hyperparameters_round_to_nearest_and_refuse_overflow() {
        assert_eq!(f32::hyper("L", "a", 0.1), Ok(0.1f32));
        assert_eq!(f32::hyper("L", "a", 1e-50), Ok(0.0f32));
        assert_eq!(f32::hyper("L", "a", f64::from(f32::MAX)), Ok(f32::MAX));
        // Just above f32::MAX, though it would round down to it: refused,
        // as PyTorch refuses it.
        assert!(f32::hyper("L", "a", 3.4028235e38).is_err());
        assert!(f32::hyper("L", "a", -3.4028235e38).is_err());
        let err = f32::hyper("ClippedReluLayer", "cap", 1e39).unwrap_err();
        assert_eq!(
            err.to_string(),
            "ClippedReluLayer: invalid cap = 1e39: overflows f32, the element type"
        );
        assert_eq!(f64::hyper("L", "a", 1e300), Ok(1e300));
        assert_eq!((0.1f32).widen(), 0.10000000149011612);
    }
}
