//! The crate's error type.

use std::fmt;

use thiserror::Error;

/// The crate's result type: `Ok(T)` or a [`LayerError`] that says what was wrong.
pub type Result<T> = std::result::Result<T, LayerError>;

/// An `f64` as a person reads it, in the shortest digits that round-trip:
/// in exponent form for magnitudes from `1e16` up or below `1e-5` (`1e300`,
/// `-5e-324`), else positional (`0.1`, `123456`, `-0`); `NaN`, `inf` and
/// `-inf` as such. Messages print the values they name with it.
pub(crate) struct Readable(pub(crate) f64);

impl fmt::Display for Readable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let magnitude = self.0.abs();
        if magnitude >= 1e16 || (magnitude > 0.0 && magnitude < 1e-5) {
            write!(f, "{:e}", self.0)
        } else {
            write!(f, "{}", self.0)
        }
    }
}

/// The other value of [`LayerError::InvalidParameter`], if any, as
/// ` lower = 0.3`.
struct Bound(Option<(&'static str, f64)>);

impl fmt::Display for Bound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some((name, value)) => write!(f, " {name} = {}", Readable(value)),
            None => Ok(()),
        }
    }
}

/// The state of [`LayerError::NonFiniteUpdate`], if any, as `exp_avg_sq of `.
struct StateOf(Option<&'static str>);

impl fmt::Display for StateOf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(state) => write!(f, "the {state} of "),
            None => Ok(()),
        }
    }
}

/// What went wrong in a layer, a loss or an optimizer.
///
/// Every variant names the layer (or function) and the operation, and the
/// shape variants carry both shapes, so a message alone locates the bug.
/// An `Err` never leaves a layer corrupted: the next correct call works.
///
/// # Examples
///
/// ```
/// use rectify::{ndarray::array, LayerError, ReluLayer};
///
/// let mut relu = ReluLayer::new();
/// let err = relu.backward(&array![[1.0]]).unwrap_err();
/// assert!(matches!(err, LayerError::BackwardBeforeForward { .. }));
/// assert_eq!(err.to_string(), "ReluLayer::backward called before forward");
/// ```
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum LayerError {
    /// `backward` was called with no cached forward pass to differentiate:
    /// before the first forward, or, on a [`Sequential`](crate::Sequential),
    /// before the first forward since a [`push`](crate::Sequential::push)
    /// or [`layer_mut`](crate::Sequential::layer_mut), which forget the
    /// container's pass.
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
    ///
    /// A rule that compares two values names and prints both: `reason` is
    /// the comparison and `bound` the other value, as in `RReluLayer:
    /// invalid upper = 0.1: must be at least lower = 0.3`.
    ///
    /// ```
    /// use rectify::{LayerError, RReluLayer};
    ///
    /// let err = RReluLayer::new(0.3, 0.1).unwrap_err();
    /// assert_eq!(err.to_string(), "RReluLayer: invalid upper = 0.1: must be at least lower = 0.3");
    /// let LayerError::InvalidParameter { name, reason, bound, .. } = err else { panic!("{err:?}") };
    /// assert_eq!((name, reason, bound), ("upper", "must be at least", Some(("lower", 0.3))));
    /// ```
    #[error("{layer}: invalid {name} = {}: {reason}{}", Readable(*value), Bound(*bound))]
    InvalidParameter {
        /// The layer or function.
        layer: &'static str,
        /// The parameter's name.
        name: &'static str,
        /// The rejected value.
        value: f64,
        /// Why it was rejected.
        reason: &'static str,
        /// The other value a rule between two values compares with, by
        /// name (`Some(("lower", 0.3))`), printed after `reason`; `None`
        /// for a rule on this value alone.
        bound: Option<(&'static str, f64)>,
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
    /// `backward` was called after the last `forward` failed: the layer's
    /// cache belongs to no pass, so there is nothing to differentiate until
    /// the next successful forward.
    #[error("{layer}::backward called after a failed forward (the error it returned left no pass to differentiate)")]
    ForwardFailed {
        /// The layer's type name.
        layer: &'static str,
    },
    /// An array that the call needs is too large: its elements overflow what
    /// an array can index (`isize::MAX`), or its bytes cannot be allocated.
    /// Nothing was allocated or changed.
    #[error("{layer}::{operation}: {what} of shape {shape:?} {}", too_large(*bytes))]
    TooLarge {
        /// The layer or function.
        layer: &'static str,
        /// The method that was called.
        operation: &'static str,
        /// Which array could not be made.
        what: &'static str,
        /// Its shape.
        shape: Vec<usize>,
        /// The bytes it needs; `None` if its element count overflows.
        bytes: Option<u128>,
    },
    /// An optimizer's state (Adam's moments, Sgd's velocities), kept per
    /// parameter in [`Layer::params`](crate::Layer::params) order since its
    /// first step, does not fit the layer it was asked to step: another
    /// network, or one whose layers changed. A new network needs a new
    /// optimizer. Nothing changed, neither the layer nor the optimizer.
    ///
    /// The message names the first difference: the number of parameters, or
    /// the first parameter (by its index in `params()`) whose shape differs.
    ///
    /// ```
    /// use rectify::{ndarray::array, Adam, DenseLayer, LayerError};
    ///
    /// let mut adam = Adam::new(0.1)?;
    /// adam.step(&mut DenseLayer::from_parts(array![[1.0]], array![0.0])?)?;
    /// let err = adam.step(&mut DenseLayer::from_parts(array![[1.0, 2.0]], array![0.0, 0.0])?).unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "Adam::step: parameter 0 (in params() order) has shape [1, 2], expected [1, 1] \
    ///      as in the optimizer's state: a new network needs a new optimizer"
    /// );
    /// let LayerError::StateMismatch { expected, actual, .. } = err else { panic!("{err:?}") };
    /// assert_eq!((expected, actual), (vec![vec![1, 1], vec![1]], vec![vec![1, 2], vec![2]]));
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    #[error(
        "{layer}::step: {}: a new network needs a new optimizer",
        state_mismatch(expected, actual)
    )]
    StateMismatch {
        /// The optimizer.
        layer: &'static str,
        /// The shapes of the optimizer's state, one per parameter.
        expected: Vec<Vec<usize>>,
        /// The shapes of the layer's parameters, in `params()` order.
        actual: Vec<Vec<usize>>,
    },
    /// An optimizer step would have written a NaN or an infinity into a
    /// parameter or into the optimizer's state, and was refused
    /// ([`NonFinite::Refuse`](crate::NonFinite::Refuse), the default).
    /// Nothing changed, neither the layer nor the optimizer.
    #[error(
        "{layer}::step: {}parameter {param} (in params() order) would become {} at flat index {index}, where its gradient is {}; the step was refused and changed nothing",
        StateOf(*state), Readable(*value), Readable(*grad)
    )]
    NonFiniteUpdate {
        /// The optimizer.
        layer: &'static str,
        /// The parameter's index in [`Layer::params`](crate::Layer::params).
        param: usize,
        /// `None` if the parameter itself would not be finite, else the
        /// optimizer's state for it that would not be: Adam's `"exp_avg"`
        /// or `"exp_avg_sq"` (a gradient so large that its square
        /// overflows leaves the parameter finite, but not `exp_avg_sq`).
        state: Option<&'static str>,
        /// The element's index in the parameter, in row-major order.
        index: usize,
        /// The value the update gives it.
        value: f64,
        /// The element's gradient.
        grad: f64,
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

/// Why an array of `bytes` bytes (`None`: uncountable) cannot be had.
fn too_large(bytes: Option<u128>) -> String {
    match bytes {
        Some(bytes) => format!("needs {bytes} bytes, more than can be allocated"),
        None => "is larger than an array can index (its nonzero lengths multiply to more than isize::MAX)".to_owned(),
    }
}

/// The first difference between the shapes of an optimizer's state and
/// those of the parameters.
fn state_mismatch(expected: &[Vec<usize>], actual: &[Vec<usize>]) -> String {
    if expected.len() != actual.len() {
        let (e, a) = (expected.len(), actual.len());
        let s = if a == 1 { "" } else { "s" };
        return format!("the layer has {a} parameter{s}, expected {e} as in the optimizer's state");
    }
    match expected.iter().zip(actual).position(|(e, a)| e != a) {
        Some(i) => format!(
            "parameter {i} (in params() order) has shape {:?}, expected {:?} as in the optimizer's state",
            actual[i], expected[i]
        ),
        None => "the parameters have the shapes of the optimizer's state".to_owned(),
    }
}

impl LayerError {
    /// The check every `backward` starts with: the pass the last forward
    /// left (see [`Cache::pass`](crate::cache::Cache::pass)), provided
    /// `grad` has the shape `expected` derives from it.
    pub(crate) fn check_backward<T>(
        layer: &'static str,
        cached: Result<T>,
        expected: impl FnOnce(&T) -> (usize, usize),
        grad: (usize, usize),
    ) -> Result<T> {
        let cached = cached?;
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
