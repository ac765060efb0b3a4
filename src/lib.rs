//! Rectified-linear activation layers on [`ndarray`], with an explicit
//! `forward` and `backward`.
//!
//! The rectifier family, each member a [`Rectifier`] over one kernel:
//! [`ReluLayer`], [`LeakyReluLayer`], [`PReluLayer`] (learned slopes),
//! [`RReluLayer`] (randomized slopes), [`ClippedReluLayer`] (ReLU6) and
//! [`ThresholdLayer`]. Each takes `f32` or `f64` ([`Float`]) arrays of any
//! number of axes and layout, and implements [`Layer`] (`Layer<f32>` and
//! `Layer<f64>`; PReLU its own element type): `forward` caches a
//! one-bit-per-element [`Mask`] of the active inputs, `backward` turns
//! dL/d(output) into dL/d(input) from it. The `_owned` methods work in place.
//! NaN propagates (never swallowed as `f64::max(0.0, NaN)` would),
//! infinities and the kinks follow PyTorch, and the side that `±0.0` falls
//! on is a choice ([`AtZero`]).
//!
//! To train them: [`DenseLayer`] (`y = x·W + b`), [`Sequential`] to chain
//! layers, the [`loss`] functions and the [`Sgd`] and [`Adam`] optimizers
//! (both an [`Optimizer`]); [`Init`] picks how a dense layer starts.
//! [`GradCheck`] compares any layer's `backward` with finite differences,
//! skipping elements next to a kink; [`ActivityStats`] counts from the masks
//! how often each unit fires, and which ones are dead; [`GradientFlow`]
//! measures each layer's gradient after a backward and names the layer
//! where it vanishes, explodes or stops; [`Redo`] gives a network's dormant
//! units new incoming weights and zero outgoing ones (ReDo, Sokar et al.
//! 2023), so that they learn again.
//!
//! To write a layer of your own, see the [`guide`]: a whole layer with and
//! without parameters, checked, trained and in a `Sequential`.
//!
//! To keep a model: [`Sequential::save_safetensors`] and
//! [`load_safetensors`](Sequential::load_safetensors) (feature
//! `safetensors`, on by default) use PyTorch's `nn.Sequential` names and
//! layouts, so that PyTorch loads rectify's files with `strict=True` and
//! rectify loads PyTorch's; [`DenseLayer`] and [`PReluLayer`] save alone,
//! and `to_safetensors_bytes` / `load_safetensors_bytes` work in memory.
//! With the feature `serde`, every built-in layer, [`Sgd`], [`Adam`] (its
//! state included) and [`ActivityStats`] implement `Serialize` and
//! `Deserialize`, through their validating constructors.
//!
//! ```
//! use rectify::{ndarray::array, LeakyReluLayer, ReluLayer};
//!
//! let x = array![[-2.0, 0.0, 3.0], [1.0, -1.0, f64::NAN]];
//! let upstream = array![[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]];
//!
//! let mut relu = ReluLayer::new();
//! let y = relu.forward(&x)?;
//! assert_eq!(y.row(0), array![0.0, 0.0, 3.0]);
//! assert!(y[[1, 2]].is_nan());
//! assert_eq!(relu.backward(&upstream)?, array![[0.0, 0.0, 0.3], [0.4, 0.0, 0.6]]);
//!
//! let mut leaky = LeakyReluLayer::new(0.5)?;
//! leaky.forward(&x)?;
//! assert_eq!(leaky.backward(&upstream)?, array![[0.05, 0.1, 0.3], [0.4, 0.25, 0.3]]);
//!
//! // f32 feature maps, (batch, channels, height, width).
//! let maps = rectify::ndarray::Array4::<f32>::from_elem((2, 3, 4, 4), -2.0);
//! assert!(leaky.forward(&maps)?.iter().all(|&v| v == -1.0));
//! # Ok::<(), rectify::LayerError>(())
//! ```
#![warn(missing_docs)]
#![doc(test(attr(deny(warnings))))]

mod activation;
mod alloc;
mod cache;
mod dense;
mod diagnostics;
mod error;
mod float;
mod flow;
mod gradcheck;
mod io;
mod layer;
pub mod loss;
mod matmul;
mod optim;
mod redo;
mod sequential;
mod validate;

pub use activation::*;
pub use dense::{DenseLayer, Init};
pub use diagnostics::ActivityStats;
pub use error::{ErrorSource, LayerError, Result};
pub use float::Float;
pub use flow::{FlowProblem, FlowProblemKind, FlowThresholds, GradStats, GradientFlow, LayerFlow};
pub use gradcheck::{ElementCheck, GradArray, GradCheck, GradCheckReport};
#[cfg(feature = "safetensors")]
pub use io::{IoError, SafetensorsError};
pub use layer::{Layer, Param};
pub use optim::{Adam, NonFinite, Optimizer, Sgd};
pub use redo::{Recyclable, Redo, RedoReport};
pub use sequential::Sequential;

/// ndarray 0.17, the array types every layer takes and returns.
pub use ndarray;
/// ndarray-rand 0.16, for random arrays (`RandomExt`) and `rand_distr`.
pub use ndarray_rand;
/// rand 0.9, for the seeded generator [`DenseLayer::new`] takes.
pub use ndarray_rand::rand;

pub mod guide {
    #![doc = include_str!("../docs/guide.md")]
}

/// The README's code blocks, run as doctests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// The code blocks of `docs/semantics.md`, run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../docs/semantics.md")]
struct SemanticsDoctests;

/// The code blocks of `docs/persistence.md`, run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../docs/persistence.md")]
struct PersistenceDoctests;

/// The code blocks of `docs/studies.md`, run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../docs/studies.md")]
struct StudiesDoctests;

/// The names most programs need: `use rectify::prelude::*;`.
///
/// ```
/// use rectify::prelude::*;
///
/// let mut relu = ReluLayer::new();
/// let y: Array2<f64> = relu.forward(&array![[-1.0, 1.0]])?;
/// assert_eq!(y, array![[0.0, 1.0]]);
/// # Ok::<(), LayerError>(())
/// ```
pub mod prelude {
    pub use crate::loss;
    pub use crate::{
        ActivityStats, Adam, AtZero, ClippedReluLayer, DenseLayer, GradCheck, Init, Layer,
        LayerError, LeakyReluLayer, Mask, Optimizer, PReluLayer, Param, RReluLayer, ReluLayer,
        Sequential, Sgd, ThresholdLayer,
    };
    pub use ndarray::{array, Array1, Array2, ArrayView2};
}
