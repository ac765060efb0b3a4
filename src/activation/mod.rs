//! The rectifier family: one layer type, [`Rectifier`], over one kernel,
//! and one file per member.
//!
//! - `kernel`: the [`Rule`] trait (a member's value and derivative for one
//!   value), slopes, taps and the forward, predict and backward passes over
//!   a 64-element block.
//! - `loops`: the only loops over the data, compiled per instruction set.
//! - `rectifier`: the layer, generic over its member, element type and
//!   number of axes.
//! - one file per member: its rule, constructors, scalar functions and docs.
//!
//! A new member is one file, its `mod` and `pub use` lines here, and its
//! name in [`family!`] (which the serde impls and the shared tests iterate,
//! so a member left out of them fails to compile or to test). A member
//! whose slope is one constant (or absent) implements `Simple`:
//! `threshold.rs` is the smallest example. A member whose slopes vary per
//! element or that learns implements [`Member`] itself (see `rrelu.rs` and
//! `prelu.rs`). ARCHITECTURE.md walks through it.

mod clipped_relu;
mod kernel;
mod leaky_relu;
mod loops;
mod mask;
mod prelu;
mod rectifier;
mod relu;
mod rrelu;
mod threshold;

#[cfg(test)]
mod test_util;

pub use clipped_relu::{clipped_relu, clipped_relu_grad, ClippedRelu, ClippedReluLayer};
pub use kernel::Rule;
pub use leaky_relu::{leaky_relu, leaky_relu_grad, Leaky, LeakyRelu, LeakyReluLayer};
pub use mask::Mask;
pub use prelu::{PRelu, PReluLayer};
pub use rectifier::{AtZero, Member, Rectifier, Simple, ZeroSided};
pub use relu::{relu, relu_grad, Relu, ReluLayer};
pub use rrelu::{RRelu, RReluLayer, Randomized};
pub use threshold::{threshold, threshold_grad, Threshold, ThresholdLayer};

/// The one list of the family's layers: `family!(m)` expands to
/// `m!(ReluLayer, LeakyReluLayer, …)`, for the code that must cover every
/// member (serde, the shared tests).
#[macro_export]
#[doc(hidden)]
macro_rules! family {
    ($m:ident) => {
        $m! {
            ReluLayer,
            LeakyReluLayer,
            PReluLayer,
            RReluLayer,
            ClippedReluLayer,
            ThresholdLayer
        }
    };
}
