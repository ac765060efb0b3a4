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
//! A new member is one file plus its `mod` and `pub use` lines here (the
//! crate root re-exports everything this module does). The file holds a
//! struct of the member's hyperparameters, its rule (`forward` and
//! `backward` over [`Lanes`](lanes::Lanes): compares, `and`, `select`,
//! `mul`, `add`), an impl of `Simple` (the rule and a fixed slope, if any;
//! everything else follows) and, if `±0.0` may change sides, of
//! `ZeroSided`; then the alias `FooLayer = Rectifier<Foo>` with its
//! constructors, docs and tests. `threshold.rs` is the smallest example. A
//! member whose slopes vary per element or that learns implements `Member`
//! itself, with `sealed::Sealed` (see `rrelu.rs` and `prelu.rs`). The shared
//! tests take any member: `test_util::paths_agree` and `check_table`.

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
