//! Persistence.
//!
//! - `safetensors` (feature `safetensors`, on by default): the
//!   `save_safetensors`, `load_safetensors`, `to_safetensors_bytes` and
//!   `load_safetensors_bytes` methods of [`Sequential`](crate::Sequential),
//!   [`DenseLayer`](crate::DenseLayer) and [`PReluLayer`](crate::PReluLayer),
//!   in `f32` (F32 tensors) or `f64` (F64), under PyTorch's `state_dict`
//!   names (the rule is in
//!   [`Sequential::save_safetensors`](crate::Sequential::save_safetensors)),
//!   and [`SafetensorsError`].
//! - `serde` (feature `serde`): `Serialize` and `Deserialize` for every
//!   built-in layer (`DenseLayer` and `PReluLayer` in `f32` and `f64`),
//!   [`Sgd`](crate::Sgd), [`Adam`](crate::Adam) (their state in the element
//!   type of the network they stepped, named by the field `dtype`) and
//!   [`ActivityStats`](crate::ActivityStats), through their validating
//!   constructors. `Sequential` has none: it holds `Box<dyn Layer>`s, whose
//!   types a deserializer cannot know, so its persistence is safetensors
//!   (the network built in code, its parameters loaded from the file).

#[cfg(feature = "safetensors")]
mod safetensors;
#[cfg(feature = "serde")]
mod serde;

#[cfg(feature = "safetensors")]
pub use self::safetensors::{IoError, SafetensorsError};
