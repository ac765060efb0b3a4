//! The rectifier family: one layer type, [`Rectifier`], over one kernel,
//! and one file per member.
//!
//! - `lanes`: the vector operations the rules are written in.
//! - `loops`: the only loops over the data.
//! - `kernel`: rules, slopes, taps and the forward, predict and backward
//!   passes.
//! - `rectifier`: the layer, generic over its member.
//! - one file per member: a rule, its constructors and docs.
//!
//! A new member is one file: a rule (`forward` and `backward` over
//! [`Lanes`](lanes::Lanes)), a struct of its hyperparameters implementing
//! `Simple` (or `Member`, if its slopes vary per element or it learns), a
//! type alias `FooLayer = Rectifier<Foo>` with its constructors, and a line
//! here.

mod clipped_relu;
mod kernel;
mod lanes;
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
pub use leaky_relu::{leaky_relu, leaky_relu_grad, LeakyRelu, LeakyReluLayer};
pub use mask::Mask;
pub use prelu::{PRelu, PReluLayer};
pub use rectifier::{AtZero, Member, Rectifier, ZeroSided};
pub use relu::{relu, relu_grad, Relu, ReluLayer};
pub use rrelu::{RRelu, RReluLayer};
pub use threshold::{threshold, threshold_grad, Threshold, ThresholdLayer};
