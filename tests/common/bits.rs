//! The element types as bit patterns: what the bit-for-bit comparisons of
//! the fixture and property tests need of `f32` and `f64`, written here
//! rather than taken from `rectify::Float` so that the expected values do
//! not depend on the code under test.

use std::fmt::Debug;

/// `f32` or `f64`, seen through its bits.
pub trait Bits: Copy + Debug + 'static {
    /// The bits, zero-extended.
    fn bits(self) -> u64;
    /// The value, exactly, as an f64.
    fn wide(self) -> f64;
    /// `x` rounded to this type to nearest, ties to even, as PyTorch rounds
    /// a Python float (a hyperparameter) for a tensor of this type.
    fn nearest(x: f64) -> Self;
}

impl Bits for f32 {
    fn bits(self) -> u64 {
        u64::from(self.to_bits())
    }
    fn wide(self) -> f64 {
        f64::from(self)
    }
    fn nearest(x: f64) -> f32 {
        x as f32
    }
}

impl Bits for f64 {
    fn bits(self) -> u64 {
        self.to_bits()
    }
    fn wide(self) -> f64 {
        self
    }
    fn nearest(x: f64) -> f64 {
        x
    }
}

/// The same value bit for bit (so -0.0 differs from +0.0), or both NaN.
pub fn same<A: Bits>(a: A, b: A) -> bool {
    a.bits() == b.bits() || (a.wide().is_nan() && b.wide().is_nan())
}
