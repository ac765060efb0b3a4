//! The crate's error type.

use thiserror::Error;

/// The crate's result type: `Ok(T)` or a [`LayerError`] that says what was wrong.
pub type Result<T> = std::result::Result<T, LayerError>;

/// What went wrong in a layer, a loss or an optimizer.
///
/// Every variant names the layer (or function) and the operation, and the
/// shape variants carry both shapes, so a message alone locates the bug.
/// An `Err` never leaves a layer corrupted: the next correct call works.
///
/// # Examples
///
/// ```
/// use rectify::{ndarray::array, Layer, LayerError, ReluLayer};
///
/// let mut relu = ReluLayer::new();
/// let err = relu.backward(&array![[1.0]]).unwrap_err();
/// assert!(matches!(err, LayerError::BackwardBeforeForward { .. }));
/// assert_eq!(err.to_string(), "ReluLayer::backward called before forward");
/// ```
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum LayerError {
    /// `backward` was called with no cached forward pass to differentiate.
    #[error("{layer}::backward called before forward")]
    BackwardBeforeForward {
        /// The layer's type name.
        layer: &'static str,
    },
    /// An array's shape does not fit the layer, the cached pass or a partner array.
    #[error("{layer}::{operation}: {what} has shape {actual:?}, expected {expected:?}")]
    ShapeMismatch {
        /// The layer or function.
        layer: &'static str,
        /// The method that was called.
        operation: &'static str,
        /// Which argument had the wrong shape.
        what: &'static str,
        /// The shape that would have been accepted.
        expected: Vec<usize>,
        /// The shape that was passed.
        actual: Vec<usize>,
    },
    /// A hyperparameter or argument value is out of its domain.
    #[error("{layer}: invalid {name} = {value}: {reason}")]
    InvalidParameter {
        /// The layer or function.
        layer: &'static str,
        /// The parameter's name.
        name: &'static str,
        /// The rejected value.
        value: f64,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// A loss was given a batch with no elements, whose mean is undefined.
    #[error("{layer}::{operation}: {what} has shape {shape:?}, an empty batch")]
    EmptyBatch {
        /// The layer or function.
        layer: &'static str,
        /// The method that was called.
        operation: &'static str,
        /// Which argument was empty.
        what: &'static str,
        /// Its shape.
        shape: Vec<usize>,
    },
    /// A class label is not below the number of classes.
    #[error(
        "{layer}::{operation}: label {label} in row {row} is out of range for {classes} classes"
    )]
    LabelOutOfRange {
        /// The layer or function.
        layer: &'static str,
        /// The method that was called.
        operation: &'static str,
        /// The row (sample) whose label is wrong.
        row: usize,
        /// The rejected label.
        label: usize,
        /// The number of classes (columns of the logits).
        classes: usize,
    },
    /// Layer `index` of a [`Sequential`](crate::Sequential) failed; `error`
    /// says how (and names the layer's type).
    #[error("Sequential layer {index}: {error}")]
    InSequential {
        /// The failing layer's position in the container, from 0.
        index: usize,
        /// The layer's own error.
        error: Box<LayerError>,
    },
    /// Saving or loading a safetensors file failed; the message names the
    /// file and the tensor. A failed load changes nothing.
    #[cfg(feature = "safetensors")]
    #[error(transparent)]
    Safetensors(Box<crate::SafetensorsError>),
}

impl LayerError {
    /// The check every `backward` starts with: the cache a forward left
    /// (`BackwardBeforeForward` if none), provided `grad` has the shape
    /// `expected` derives from it.
    pub(crate) fn check_backward<T>(
        layer: &'static str,
        cached: Option<T>,
        expected: impl FnOnce(&T) -> (usize, usize),
        grad: (usize, usize),
    ) -> Result<T> {
        let cached = cached.ok_or(LayerError::BackwardBeforeForward { layer })?;
        let (rows, cols) = expected(&cached);
        if grad == (rows, cols) {
            Ok(cached)
        } else {
            Err(Self::shape(
                layer,
                "backward",
                "grad_output",
                &[rows, cols],
                &[grad.0, grad.1],
            ))
        }
    }

    /// A [`LayerError::ShapeMismatch`] from any two shapes.
    pub(crate) fn shape(
        layer: &'static str,
        operation: &'static str,
        what: &'static str,
        expected: &[usize],
        actual: &[usize],
    ) -> Self {
        LayerError::ShapeMismatch {
            layer,
            operation,
            what,
            expected: expected.to_vec(),
            actual: actual.to_vec(),
        }
    }
}
