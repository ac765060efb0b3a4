//! The crate's error type.

use std::error::Error as StdError;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

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
    /// `backward` was called after the layer's parameters were handed out
    /// by [`Layer::params`](crate::Layer::params) (which every optimizer
    /// step, load, gradient check and gradient-flow measure calls) since its
    /// last forward: they may have changed, so the cached pass no longer
    /// belongs to them (PyTorch refuses this case too). A new forward makes
    /// backward work again.
    ///
    /// ```
    /// use rectify::{ndarray::array, DenseLayer, Layer, LayerError, Sgd};
    ///
    /// let mut dense = DenseLayer::<f64>::from_parts(array![[1.0]], array![0.0])?;
    /// dense.forward(&array![[2.0]])?;
    /// dense.backward(&array![[1.0]])?;
    /// Sgd::new(0.1)?.step(&mut dense)?;
    /// let err = dense.backward(&array![[1.0]]).unwrap_err();
    /// assert_eq!(err, LayerError::ParametersChanged { layer: "DenseLayer" });
    /// assert_eq!(
    ///     err.to_string(),
    ///     "DenseLayer::backward called after params() handed out its parameters \
    ///      (an optimizer step, a load), which may have changed them: run forward again"
    /// );
    /// dense.forward(&array![[2.0]])?;
    /// assert!(dense.backward(&array![[1.0]]).is_ok());
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    #[error("{layer}::backward called after params() handed out its parameters (an optimizer step, a load), which may have changed them: run forward again")]
    ParametersChanged {
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
    /// An optimizer that has stepped a network of one element type was
    /// asked to step a network of the other (its state is kept per
    /// parameter, in the network's element type).
    ///
    /// ```
    /// use rectify::rand::{rngs::StdRng, SeedableRng};
    /// use rectify::{ndarray::array, DenseLayer, Layer, LayerError, Sgd};
    ///
    /// let mut rng = StdRng::seed_from_u64(0);
    /// let mut sgd = Sgd::new(0.1)?.with_momentum(0.9)?;
    /// let mut wide = DenseLayer::<f64>::new(1, 1, &mut rng);
    /// wide.forward(&array![[1.0]])?;
    /// wide.backward(&array![[1.0]])?;
    /// sgd.step(&mut wide)?;
    ///
    /// let mut narrow = DenseLayer::<f32>::new(1, 1, &mut rng);
    /// let err = sgd.step(&mut narrow).unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "Sgd::step: the optimizer's state is f64 and the layer's parameters are f32: \
    ///      a new network needs a new optimizer"
    /// );
    /// assert!(matches!(err, LayerError::StateElementType { state: "f64", params: "f32", .. }));
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    #[error(
        "{layer}::step: the optimizer's state is {state} and the layer's parameters are {params}: a new network needs a new optimizer"
    )]
    StateElementType {
        /// The optimizer.
        layer: &'static str,
        /// The element type of the optimizer's state.
        state: &'static str,
        /// The element type of the layer's parameters.
        params: &'static str,
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
    /// A failure of a layer written outside this crate, in its own words:
    /// made with [`LayerError::custom`], with an optional cause from
    /// [`with_source`](LayerError::with_source).
    ///
    /// The message is `"{layer}: {message}"`; the cause is not part of it
    /// but is [`Error::source`](std::error::Error::source), where error
    /// reporters (`anyhow`'s `{:#}`, a loop over `source()`) find it.
    /// Inside a [`Sequential`](crate::Sequential) it comes back wrapped in
    /// [`LayerError::InSequential`], as every layer's error does. The
    /// [guide](crate::guide) shows a whole layer returning one.
    ///
    /// ```
    /// use std::error::Error;
    ///
    /// use rectify::LayerError;
    ///
    /// let cause = "12x".parse::<u32>().unwrap_err();
    /// let err = LayerError::custom("Lookup", "no row for key \"12x\"").with_source(cause.clone());
    /// assert_eq!(err.to_string(), r#"Lookup: no row for key "12x""#);
    /// let source = err.source().unwrap();
    /// assert_eq!(source.downcast_ref::<std::num::ParseIntError>(), Some(&cause));
    /// assert!(matches!(err, LayerError::Custom { ref layer, .. } if layer == "Lookup"));
    /// ```
    #[error("{layer}: {message}")]
    Custom {
        /// The layer's name, as its messages print it (by convention its
        /// type name).
        layer: String,
        /// What went wrong, in a phrase that names the values involved.
        message: String,
        /// The underlying error, if any: what
        /// [`Error::source`](std::error::Error::source) returns.
        source: Option<ErrorSource>,
    },
}

/// The cause of a [`LayerError::Custom`]: any error that is `Send + Sync`,
/// behind an [`Arc`] so that a [`LayerError`] stays `Clone`.
///
/// It dereferences to the error itself (`dyn Error + Send + Sync`), so
/// `to_string`, `source` and `downcast_ref::<E>()` reach the original
/// error, and so does [`Error::source`](std::error::Error::source) on the
/// `LayerError`. [`LayerError::with_source`] makes one, as does
/// [`ErrorSource::new`].
///
/// Two sources are equal (`==`, which `LayerError`'s `PartialEq` uses) if
/// they are clones of one another or if their messages are equal, the
/// messages of their own `source()` chains included: errors compare by
/// what they say, as the crate's other variants do, so that a test can
/// compare a `LayerError` with one it builds. Neither the errors' types nor
/// their `Debug` output are compared.
///
/// # Examples
///
/// ```
/// use rectify::{ErrorSource, LayerError};
///
/// let io = std::io::Error::other("disk full");
/// let err = LayerError::custom("Cache", "cannot spill the batch").with_source(io);
/// let LayerError::Custom { source: Some(source), .. } = &err else { unreachable!() };
/// assert_eq!(source.to_string(), "disk full");
/// assert!(source.downcast_ref::<std::io::Error>().is_some());
/// assert_eq!(*source, ErrorSource::new("disk full")); // the same message
/// assert_ne!(*source, ErrorSource::new("disk empty"));
/// ```
#[derive(Clone)]
pub struct ErrorSource(Arc<dyn StdError + Send + Sync + 'static>);

impl ErrorSource {
    /// Wraps `error`: any `Error + Send + Sync + 'static`, a
    /// `Box<dyn Error + Send + Sync>`, a `String` or a `&str`.
    ///
    /// ```
    /// use rectify::ErrorSource;
    ///
    /// assert_eq!(ErrorSource::new("bad key").to_string(), "bad key");
    /// ```
    pub fn new(error: impl Into<Box<dyn StdError + Send + Sync + 'static>>) -> Self {
        ErrorSource(Arc::from(error.into()))
    }
}

impl Deref for ErrorSource {
    type Target = dyn StdError + Send + Sync + 'static;

    fn deref(&self) -> &Self::Target {
        &*self.0
    }
}

/// The error's own `Debug`.
impl fmt::Debug for ErrorSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

/// The error's own message.
impl fmt::Display for ErrorSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&*self.0, f)
    }
}

/// Clones of one source, or the same messages down both `source()` chains.
impl PartialEq for ErrorSource {
    fn eq(&self, other: &Self) -> bool {
        if Arc::ptr_eq(&self.0, &other.0) {
            return true;
        }
        let (mut a, mut b): (Option<&dyn StdError>, Option<&dyn StdError>) =
            (Some(&*self.0), Some(&*other.0));
        loop {
            match (a, b) {
                (None, None) => return true,
                (Some(x), Some(y)) if x.to_string() == y.to_string() => {
                    (a, b) = (x.source(), y.source());
                }
                _ => return false,
            }
        }
    }
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
    /// A [`LayerError::Custom`]: `layer`'s own failure, described by
    /// `message`, which prints as `"{layer}: {message}"`. For a layer
    /// written outside this crate; add a cause with
    /// [`with_source`](Self::with_source).
    ///
    /// ```
    /// use rectify::LayerError;
    ///
    /// let err = LayerError::custom("Embedding", "token 70000 is not below the vocabulary size 50000");
    /// assert_eq!(err.to_string(), "Embedding: token 70000 is not below the vocabulary size 50000");
    /// ```
    pub fn custom(layer: impl Into<String>, message: impl Into<String>) -> Self {
        LayerError::Custom {
            layer: layer.into(),
            message: message.into(),
            source: None,
        }
    }

    /// The same [`LayerError::Custom`] with `source` as its cause, which
    /// [`Error::source`](std::error::Error::source) returns (any error that
    /// is `Send + Sync + 'static`, a `Box` of one, a `String` or a `&str`).
    /// A previous source is replaced. Any other variant is returned
    /// unchanged: the crate's own errors carry no cause.
    ///
    /// ```
    /// use std::error::Error;
    ///
    /// use rectify::LayerError;
    ///
    /// let err = LayerError::custom("Tokenizer", "cannot read the vocabulary")
    ///     .with_source(std::io::Error::from(std::io::ErrorKind::NotFound));
    /// assert_eq!(err.to_string(), "Tokenizer: cannot read the vocabulary");
    /// assert_eq!(err.source().unwrap().to_string(), "entity not found");
    /// ```
    pub fn with_source(self, source: impl Into<Box<dyn StdError + Send + Sync + 'static>>) -> Self {
        match self {
            LayerError::Custom { layer, message, .. } => LayerError::Custom {
                layer,
                message,
                source: Some(ErrorSource::new(source)),
            },
            other => other,
        }
    }

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

#[cfg(test)]
mod tests {
    use std::error::Error;
    use std::fmt;

    use super::*;

    /// An error with a cause of its own, to follow a chain.
    #[derive(Debug)]
    struct Outer(std::io::Error);

    impl fmt::Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "cannot read the table")
        }
    }

    impl Error for Outer {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&self.0)
        }
    }

    fn disk(message: &str) -> Outer {
        Outer(std::io::Error::other(message.to_owned()))
    }

    #[test]
    fn a_custom_error_prints_its_layer_and_message_and_has_no_source() {
        let err = LayerError::custom("Lookup", "key 7 is missing");
        assert_eq!(err.to_string(), "Lookup: key 7 is missing");
        assert!(err.source().is_none());
        assert_eq!(
            err,
            LayerError::Custom {
                layer: "Lookup".to_owned(),
                message: "key 7 is missing".to_owned(),
                source: None
            }
        );
    }

    #[test]
    fn the_source_is_the_original_error_down_its_chain() {
        let err = LayerError::custom("Lookup", "key 7 is missing").with_source(disk("disk full"));
        assert_eq!(err.to_string(), "Lookup: key 7 is missing");
        let source = err.source().expect("a source");
        assert_eq!(source.to_string(), "cannot read the table");
        assert!(source.downcast_ref::<Outer>().is_some(), "{source:?}");
        let io = source.source().expect("the source's own source");
        assert_eq!(
            io.downcast_ref::<std::io::Error>().unwrap().to_string(),
            "disk full"
        );
        assert!(io.source().is_none());
        // Debug shows the original error, not a wrapper.
        assert!(
            format!("{err:?}").contains("source: Some(Outer(Custom"),
            "{err:?}"
        );

        // A string, a boxed error, and a replaced source.
        let err = LayerError::custom("A", "b")
            .with_source("first")
            .with_source("second");
        assert_eq!(err.source().unwrap().to_string(), "second");
        let boxed: Box<dyn Error + Send + Sync> = Box::new(disk("x"));
        let err = LayerError::custom("A", "b").with_source(boxed);
        assert!(err.source().unwrap().downcast_ref::<Outer>().is_some());
    }

    #[test]
    fn errors_compare_by_what_they_say() {
        let make = |cause: &str| LayerError::custom("L", "m").with_source(disk(cause));
        let err = make("disk full");
        assert_eq!(err.clone(), err);
        assert_eq!(make("disk full"), err);
        assert_ne!(make("disk empty"), err, "the source's own source differs");
        assert_ne!(LayerError::custom("L", "m"), err);
        assert_ne!(
            LayerError::custom("L", "m").with_source("cannot read the table"),
            err
        );
        assert_ne!(
            LayerError::custom("K", "m").with_source(disk("disk full")),
            err
        );
        assert_ne!(
            LayerError::custom("L", "n").with_source(disk("disk full")),
            err
        );
        assert_eq!(
            ErrorSource::new("same words"),
            ErrorSource::new(std::io::Error::other("same words"))
        );
    }

    #[test]
    fn with_source_leaves_the_crates_own_errors_alone() {
        let err = LayerError::BackwardBeforeForward { layer: "ReluLayer" };
        assert_eq!(err.clone().with_source("ignored"), err);
        assert!(err.source().is_none());
    }

    #[test]
    fn inside_a_sequential_the_layer_is_named_and_the_source_kept() {
        use crate::{Layer, ReluLayer, Sequential};
        use ndarray::{array, Array2, ArrayRef2};

        /// Refuses inputs wider than `max`.
        struct Narrow {
            max: usize,
        }

        impl Layer for Narrow {
            fn forward(&mut self, x: &ArrayRef2<f64>) -> Result<Array2<f64>> {
                self.predict(x)
            }
            fn backward(&mut self, g: &ArrayRef2<f64>) -> Result<Array2<f64>> {
                Ok(g.to_owned())
            }
            fn predict(&self, x: &ArrayRef2<f64>) -> Result<Array2<f64>> {
                if x.ncols() > self.max {
                    let message = format!("{} columns, at most {}", x.ncols(), self.max);
                    return Err(LayerError::custom("Narrow", message).with_source(disk("d")));
                }
                Ok(x.to_owned())
            }
        }

        let mut net = Sequential::new();
        net.push(ReluLayer::new()).push(Narrow { max: 1 });
        let err = net.forward(&array![[1.0, 2.0]]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Sequential layer 1: Narrow: 2 columns, at most 1"
        );
        let LayerError::InSequential { index: 1, error } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(
            **error,
            LayerError::custom("Narrow", "2 columns, at most 1").with_source(disk("d"))
        );
        assert_eq!(error.source().unwrap().to_string(), "cannot read the table");
        assert!(net.predict(&array![[1.0, 2.0]]).is_err());
        assert_eq!(net.forward(&array![[-1.0]]).unwrap(), array![[0.0]]);
    }
}
