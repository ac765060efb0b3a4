//! Persistence: safetensors files shared with PyTorch (feature
//! `safetensors`, on by default) and serde for the layers, the optimizers
//! and [`ActivityStats`](crate::ActivityStats) (feature `serde`).
//!
//! # safetensors
//!
//! [`Sequential`](crate::Sequential), [`DenseLayer`](crate::DenseLayer) and
//! [`PReluLayer`](crate::PReluLayer) save their parameters under the names
//! of PyTorch's `state_dict`, so that `torch.nn.Module.load_state_dict(...,
//! strict=True)` takes rectify's file and rectify takes PyTorch's:
//!
//! | layer | tensors | shape |
//! | --- | --- | --- |
//! | `DenseLayer` (`nn.Linear`) | `weight`, `bias` | (outputs, inputs), (outputs,): the weights transposed, as `nn.Linear` keeps them |
//! | `PReluLayer` (`nn.PReLU`) | `weight` | (num_parameters,) |
//! | layer `i` of a `Sequential` (`nn.Sequential`) | its tensors with the prefix `"{i}."` | |
//!
//! The index counts every layer, the parameter-free ones included, and a
//! nested `Sequential` adds its own: Dense, ReLU, Sequential(Dense, PReLU)
//! has `0.weight`, `0.bias`, `2.0.weight`, `2.0.bias`, `2.1.weight`.
//!
//! A layer of any other type (one of your own, or a layer pushed as a
//! `Box<dyn Layer>`, whose type is hidden) is fine while its
//! [`Layer::params`](crate::Layer::params) is empty; with parameters it is
//! an error, [`SafetensorsError::Unnamed`], since the format cannot tell
//! what they are: push such layers by their concrete type. Asking a layer
//! for its parameters needs `&mut`, which is why the `Sequential` methods
//! take `&mut self`; saving changes nothing.
//!
//! Files are written as F64. Loading takes F64 and F32 (widened to `f64`
//! exactly) and is strict, as `strict=True` is: a missing tensor, an
//! unexpected one, a wrong shape or dtype, a value that is not finite (which
//! `DenseLayer::from_parts` and `PReluLayer::from_slopes` refuse too), bytes
//! that are not a safetensors file and a file that cannot be read are all a
//! [`LayerError::Safetensors`](crate::LayerError::Safetensors) naming the
//! file and the tensor, and the network is unchanged: every tensor is
//! checked and converted before the first one is assigned. A save writes a
//! temporary file in the target's directory and renames it over the target,
//! so a crash leaves the old file or the new one, never half of one.
//!
//! # serde
//!
//! With the `serde` feature every built-in layer, [`Sgd`](crate::Sgd),
//! [`Adam`](crate::Adam) and [`ActivityStats`](crate::ActivityStats)
//! implement `Serialize` and `Deserialize`: a layer's hyperparameters and
//! parameters (caches, masks and gradients are not kept: a deserialized
//! layer is as after its constructor), an optimizer's hyperparameters and
//! state (steps, moments, velocities: training resumes where it stopped).
//! Deserializing goes through the validating constructors, so a value they
//! would refuse (a NaN slope, a bias that does not fit the weights, a
//! negative learning rate) is a deserialization error naming it, never a
//! corrupt layer. `Sequential` has no serde: it holds `Box<dyn Layer>`s,
//! whose types a deserializer cannot know. Build the network in code and
//! load its parameters from safetensors, which PyTorch reads too.

#[cfg(feature = "safetensors")]
mod safetensors;
#[cfg(feature = "serde")]
mod serde;

#[cfg(feature = "safetensors")]
pub use self::safetensors::{IoError, SafetensorsError};
