//! safetensors files under PyTorch's `state_dict` names: the `save` and
//! `load` methods of [`Sequential`], [`DenseLayer`] and [`PReluLayer`], and
//! [`SafetensorsError`].

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use ::safetensors::{Dtype, SafeTensors, View};
use ndarray::{ArrayD, ArrayViewD, ArrayViewMutD, IxDyn};
use thiserror::Error;

use crate::error::Readable;
use crate::sequential::{short_type_name, DynLayer};
use crate::{DenseLayer, Float, Layer, LayerError, PReluLayer, Param, Result, Sequential};

/// The `file` of errors about in-memory bytes.
const BYTES: &str = "<bytes>";

/// What went wrong saving or loading safetensors, inside
/// [`LayerError::Safetensors`].
///
/// `file` is the path as given, or `<bytes>` for the in-memory methods.
/// Shapes are PyTorch's: a dense layer's `weight` is (outputs, inputs).
///
/// # Examples
///
/// ```
/// use rectify::{ndarray::array, DenseLayer, LayerError, SafetensorsError};
///
/// let mut wide = DenseLayer::from_parts(array![[1.0, 2.0]], array![0.0, 0.0])?;
/// let bytes = wide.to_safetensors_bytes()?;
/// let mut narrow = DenseLayer::from_parts(array![[1.0]], array![0.0])?;
/// let err = narrow.load_safetensors_bytes(&bytes).unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     r#"<bytes>: tensor "weight" has shape [2, 1], expected [1, 1]"#
/// );
/// let LayerError::Safetensors(err) = err else { panic!("{err:?}") };
/// assert!(matches!(*err, SafetensorsError::Shape { .. }));
/// assert_eq!(narrow.weights(), array![[1.0]]); // unchanged
/// # Ok::<(), rectify::LayerError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum SafetensorsError {
    /// The file could not be read, or written.
    #[error("{file}: cannot {operation}: {source}")]
    Io {
        /// The file.
        file: String,
        /// `"read"` or `"write"`.
        operation: &'static str,
        /// What the operating system said.
        source: IoError,
    },
    /// The bytes are not a safetensors file: truncated, garbage, a header
    /// of the wrong length, offsets or shapes that do not fit the data.
    #[error("{file}: not a valid safetensors file: {reason}")]
    Format {
        /// The file.
        file: String,
        /// What the safetensors parser said.
        reason: String,
    },
    /// The network has a parameter that the file lacks.
    #[error("{file}: missing tensor \"{tensor}\", expected shape {expected:?}")]
    Missing {
        /// The file.
        file: String,
        /// The parameter's name.
        tensor: String,
        /// The parameter's shape.
        expected: Vec<usize>,
    },
    /// The file has a tensor that the network has no parameter for.
    #[error("{file}: unexpected tensor \"{tensor}\" of shape {found:?}")]
    Unexpected {
        /// The file.
        file: String,
        /// The tensor's name.
        tensor: String,
        /// Its shape.
        found: Vec<usize>,
    },
    /// A tensor's shape is not its parameter's.
    #[error("{file}: tensor \"{tensor}\" has shape {found:?}, expected {expected:?}")]
    Shape {
        /// The file.
        file: String,
        /// The tensor's name.
        tensor: String,
        /// The parameter's shape.
        expected: Vec<usize>,
        /// The tensor's shape.
        found: Vec<usize>,
    },
    /// A tensor is neither F64 nor F32.
    #[error(
        "{file}: tensor \"{tensor}\" of shape {shape:?} has dtype {found}, expected F64 or F32"
    )]
    Dtype {
        /// The file.
        file: String,
        /// The tensor's name.
        tensor: String,
        /// Its shape.
        shape: Vec<usize>,
        /// Its dtype, as safetensors names it (`F16`, `I64`, ...).
        found: String,
    },
    /// A tensor holds a NaN or an infinity, which no layer's constructor
    /// takes either: on load, a tensor of the file (nothing is loaded); on
    /// save, a parameter of the layer (nothing is written, so that every
    /// file a save writes loads back). `index` counts in PyTorch's layout,
    /// the file's: a dense layer's `weight` is (outputs, inputs).
    #[error(
        "{file}: tensor \"{tensor}\" holds {value} at flat index {index}, expected finite values"
    )]
    NotFinite {
        /// The file.
        file: String,
        /// The tensor's name.
        tensor: String,
        /// The element's position in row-major order.
        index: usize,
        /// The element.
        value: f64,
    },
    /// An F64 tensor holds a finite value that an `f32` model cannot hold:
    /// rounded to the nearest `f32`, as PyTorch's `load_state_dict` copies a
    /// float64 tensor into a float32 parameter, it would be an infinity (its
    /// magnitude is at least `f32::MAX` plus half an ulp, about
    /// 3.4028236e38). Refused as [`NotFinite`](Self::NotFinite) is, since
    /// the parameter would hold an infinity; nothing is loaded.
    #[error(
        "{file}: tensor \"{tensor}\" holds {} at flat index {index}, which overflows {element_type}, the model's element type",
        Readable(*value)
    )]
    Overflow {
        /// The file.
        file: String,
        /// The tensor's name.
        tensor: String,
        /// The element's position in row-major order.
        index: usize,
        /// The element, as the file holds it.
        value: f64,
        /// The model's element type, `"f32"`.
        element_type: &'static str,
    },
    /// A layer has parameters but is of a type whose tensors have no names:
    /// neither a [`DenseLayer`], a [`PReluLayer`] nor a [`Sequential`].
    #[error("{file}: layer {index} ({layer}) has parameters that safetensors cannot name")]
    Unnamed {
        /// The file.
        file: String,
        /// The layer's position, `"2"`, or `"2.0"` inside a nested `Sequential`.
        index: String,
        /// The layer's type.
        layer: String,
    },
}

impl From<SafetensorsError> for LayerError {
    fn from(error: SafetensorsError) -> Self {
        LayerError::Safetensors(Box::new(error))
    }
}

/// The [`std::io::Error`] of a [`SafetensorsError::Io`], shared so that the
/// error can be `Clone`; two are equal if their kinds and messages are.
///
/// # Examples
///
/// ```
/// use rectify::{LayerError, ReluLayer, SafetensorsError, Sequential};
///
/// let mut net = Sequential::<f64>::new();
/// net.push(ReluLayer::new());
/// let err = net.load_safetensors("/no/such/model.safetensors").unwrap_err();
/// let LayerError::Safetensors(err) = err else { panic!("{err:?}") };
/// let SafetensorsError::Io { source, .. } = *err else { panic!("{err:?}") };
/// assert_eq!(source.get_ref().kind(), std::io::ErrorKind::NotFound);
/// ```
#[derive(Debug, Clone)]
pub struct IoError(Arc<std::io::Error>);

impl IoError {
    /// The error itself.
    ///
    /// ```
    /// let err = rectify::IoError::from(std::io::Error::other("disk full"));
    /// assert_eq!(err.get_ref().to_string(), "disk full");
    /// ```
    pub fn get_ref(&self) -> &std::io::Error {
        &self.0
    }
}

impl From<std::io::Error> for IoError {
    fn from(error: std::io::Error) -> Self {
        IoError(Arc::new(error))
    }
}

impl PartialEq for IoError {
    fn eq(&self, other: &Self) -> bool {
        self.0.kind() == other.0.kind() && self.0.to_string() == other.0.to_string()
    }
}

/// The message of the error itself.
impl fmt::Display for IoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Transparent: the source is the error's own.
impl std::error::Error for IoError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

/// One parameter under its safetensors name.
struct Tensor<'a, A> {
    name: String,
    value: ArrayViewMutD<'a, A>,
    /// Whether PyTorch stores the transpose (a dense layer's weights).
    transposed: bool,
}

impl<A: Float> Tensor<'_, A> {
    /// The parameter laid out as PyTorch stores it.
    fn stored(&self) -> ArrayViewD<'_, A> {
        let value = self.value.view();
        if self.transposed {
            value.reversed_axes()
        } else {
            value
        }
    }
}

/// A layer type's tensor names, in the order of its `params()`, each with
/// whether PyTorch stores it transposed.
type Names = &'static [(&'static str, bool)];

/// `nn.Linear`: weight (outputs × inputs), then bias.
const DENSE: Names = &[("weight", true), ("bias", false)];

/// `nn.PReLU`: the slopes.
const PRELU: Names = &[("weight", false)];

/// `params` under `names`, each name after `prefix`.
fn named<'a, A: Float>(
    prefix: &str,
    names: Names,
    params: Vec<Param<'a, A>>,
) -> Vec<Tensor<'a, A>> {
    (names.iter().zip(params))
        .map(|(&(name, transposed), p)| Tensor {
            name: format!("{prefix}{name}"),
            value: p.value,
            transposed,
        })
        .collect()
}

/// The tensors of a layer of `A`s, or the error naming what has none.
type Tensors<'a, A> = std::result::Result<Vec<Tensor<'a, A>>, SafetensorsError>;

/// A layer whose parameters have safetensors names.
trait Named<A: Float> {
    /// Its parameters under their names; `file` is for the error.
    fn tensors(&mut self, file: &str) -> Tensors<'_, A>;
}

impl<A: Float> Named<A> for DenseLayer<A> {
    fn tensors(&mut self, _file: &str) -> Tensors<'_, A> {
        Ok(named("", DENSE, self.params()))
    }
}

impl<A: Float> Named<A> for PReluLayer<A> {
    fn tensors(&mut self, _file: &str) -> Tensors<'_, A> {
        Ok(named("", PRELU, self.params()))
    }
}

impl<A: Float> Named<A> for Sequential<A> {
    fn tensors(&mut self, file: &str) -> Tensors<'_, A> {
        let mut tensors = Vec::new();
        layers_tensors(self, "", file, &mut tensors)?;
        Ok(tensors)
    }
}

/// Appends the tensors of `net`'s layers, layer `i` under `"{prefix}{i}."`.
fn layers_tensors<'a, A: Float>(
    net: &'a mut Sequential<A>,
    prefix: &str,
    file: &str,
    out: &mut Vec<Tensor<'a, A>>,
) -> std::result::Result<(), SafetensorsError> {
    for (i, layer) in net.layers_mut().enumerate() {
        layer_tensors(layer, &format!("{prefix}{i}."), file, out)?;
    }
    Ok(())
}

/// Appends `layer`'s tensors under `prefix`: by its type, or none if it
/// has no parameters.
fn layer_tensors<'a, A: Float>(
    layer: &'a mut (dyn DynLayer<A> + 'static),
    prefix: &str,
    file: &str,
    out: &mut Vec<Tensor<'a, A>>,
) -> std::result::Result<(), SafetensorsError> {
    if layer.as_any().is::<Sequential<A>>() {
        let nested = (layer.as_any_mut().downcast_mut::<Sequential<A>>()).expect("checked above");
        return layers_tensors(nested, prefix, file, out);
    }
    let names = if layer.as_any().is::<DenseLayer<A>>() {
        DENSE
    } else if layer.as_any().is::<PReluLayer<A>>() {
        PRELU
    } else {
        &[]
    };
    let type_name = layer.type_name();
    let params = layer.params();
    if params.len() != names.len() {
        return Err(SafetensorsError::Unnamed {
            file: file.to_owned(),
            index: prefix.trim_end_matches('.').to_owned(),
            layer: short_type_name(type_name),
        });
    }
    out.extend(named(prefix, names, params));
    Ok(())
}

/// A [`SafetensorsError::Format`] from the parser's error.
fn format_error(file: &str, error: impl fmt::Display) -> SafetensorsError {
    SafetensorsError::Format {
        file: file.to_owned(),
        reason: error.to_string(),
    }
}

/// The dtype a model of `A`s saves: F32 or F64.
fn dtype<A: Float>() -> Dtype {
    if A::NARROW {
        Dtype::F32
    } else {
        Dtype::F64
    }
}

/// A tensor's values, little-endian bytes of its dtype in row-major order.
struct Encoded {
    dtype: Dtype,
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

impl View for Encoded {
    fn dtype(&self) -> Dtype {
        self.dtype
    }

    fn shape(&self) -> &[usize] {
        &self.shape
    }

    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.bytes)
    }

    fn data_len(&self) -> usize {
        self.bytes.len()
    }
}

/// Errors unless every one of `values`, tensor `tensor`'s in row-major
/// order, is finite.
fn finite(
    file: &str,
    tensor: &str,
    values: impl IntoIterator<Item = f64>,
) -> std::result::Result<(), SafetensorsError> {
    match values.into_iter().enumerate().find(|(_, v)| !v.is_finite()) {
        Some((index, value)) => Err(SafetensorsError::NotFinite {
            file: file.to_owned(),
            tensor: tensor.to_owned(),
            index,
            value,
        }),
        None => Ok(()),
    }
}

/// `layer`'s parameters as a safetensors file, in their element type (F32
/// or F64), with the metadata `format: pt` that Hugging Face's loaders look
/// for; an error if one holds a NaN or an infinity, which a load would
/// refuse.
fn to_bytes<A: Float>(
    layer: &mut impl Named<A>,
    file: &str,
) -> std::result::Result<Vec<u8>, SafetensorsError> {
    let tensors = layer.tensors(file)?;
    for t in &tensors {
        finite(file, &t.name, t.stored().iter().map(|v| v.widen()))?;
    }
    let width = std::mem::size_of::<A>();
    let encoded = tensors.iter().map(|t| {
        let stored = t.stored();
        // The bits, zero-extended to 64: their first `width` little-endian
        // bytes are the value's own.
        let bytes = (stored.iter())
            .flat_map(|v| v.bits().to_le_bytes().into_iter().take(width))
            .collect();
        let shape = stored.shape().to_vec();
        let dtype = dtype::<A>();
        (
            t.name.clone(),
            Encoded {
                dtype,
                shape,
                bytes,
            },
        )
    });
    let metadata = HashMap::from([("format".to_owned(), "pt".to_owned())]);
    ::safetensors::serialize(encoded, Some(metadata)).map_err(|e| format_error(file, e))
}

/// `data`'s values, `N` bytes each, converted by `from_le`.
fn decode<'a, const N: usize>(
    data: &'a [u8],
    from_le: impl Fn([u8; N]) -> f64 + 'a,
) -> impl Iterator<Item = f64> + 'a {
    (data.chunks_exact(N))
        .map(move |bytes| from_le(bytes.try_into().expect("chunks_exact gives N bytes")))
}

/// `values`, tensor `tensor`'s in row-major order, each rounded to the
/// nearest `A` (exact for F32 into `f32` and anything into `f64`); an error
/// at the first that is not finite, or that overflows `A`.
fn convert<A: Float>(
    file: &str,
    tensor: &str,
    values: impl Iterator<Item = f64>,
) -> std::result::Result<Vec<A>, SafetensorsError> {
    (values.enumerate())
        .map(|(index, value)| {
            let rounded = A::round_from(value);
            if rounded.is_finite() {
                return Ok(rounded);
            }
            let (file, tensor) = (file.to_owned(), tensor.to_owned());
            Err(if value.is_finite() {
                SafetensorsError::Overflow {
                    file,
                    tensor,
                    index,
                    value,
                    element_type: A::NAME,
                }
            } else {
                SafetensorsError::NotFinite {
                    file,
                    tensor,
                    index,
                    value,
                }
            })
        })
        .collect()
}

/// The values of `t`'s tensor in `file`, laid out as PyTorch stores them,
/// if they fit `t`.
fn read<A: Float>(
    file_tensors: &SafeTensors<'_>,
    t: &Tensor<'_, A>,
    file: &str,
) -> std::result::Result<ArrayD<A>, SafetensorsError> {
    let (file, tensor) = (file.to_owned(), t.name.clone());
    let expected = t.stored().shape().to_vec();
    let view = match file_tensors.tensor(&t.name) {
        Ok(view) => view,
        Err(_) => {
            return Err(SafetensorsError::Missing {
                file,
                tensor,
                expected,
            })
        }
    };
    let found = view.shape().to_vec();
    if found != expected {
        return Err(SafetensorsError::Shape {
            file,
            tensor,
            expected,
            found,
        });
    }
    let values = match view.dtype() {
        Dtype::F64 => convert(&file, &tensor, decode(view.data(), f64::from_le_bytes))?,
        Dtype::F32 => {
            let widened = decode(view.data(), |b| f64::from(f32::from_le_bytes(b)));
            convert(&file, &tensor, widened)?
        }
        other => {
            let (shape, found) = (expected, other.to_string());
            return Err(SafetensorsError::Dtype {
                file,
                tensor,
                shape,
                found,
            });
        }
    };
    ArrayD::from_shape_vec(IxDyn(&expected), values).map_err(|e| format_error(&file, e))
}

/// Loads every tensor of `bytes` into `layer`, or none: all are read and
/// checked before the first is assigned.
fn load<A: Float>(
    layer: &mut impl Named<A>,
    bytes: &[u8],
    file: &str,
) -> std::result::Result<(), SafetensorsError> {
    let file_tensors = SafeTensors::deserialize(bytes).map_err(|e| format_error(file, e))?;
    let mut tensors = layer.tensors(file)?;
    let values = (tensors.iter())
        .map(|t| read(&file_tensors, t, file))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let expected: HashSet<&str> = tensors.iter().map(|t| t.name.as_str()).collect();
    let mut names = file_tensors.names();
    names.sort_unstable();
    if let Some(&name) = names.iter().find(|name| !expected.contains(*name)) {
        let found = file_tensors.tensor(name).map(|t| t.shape().to_vec());
        return Err(SafetensorsError::Unexpected {
            file: file.to_owned(),
            tensor: name.to_owned(),
            found: found.unwrap_or_default(),
        });
    }
    for (t, value) in tensors.iter_mut().zip(&values) {
        let value = if t.transposed {
            value.t()
        } else {
            value.view()
        };
        t.value.assign(&value);
    }
    Ok(())
}

/// An [`SafetensorsError::Io`] for `operation` on `path`.
fn io_error<'p>(
    path: &'p Path,
    operation: &'static str,
) -> impl FnOnce(std::io::Error) -> SafetensorsError + 'p {
    move |error| SafetensorsError::Io {
        file: path.display().to_string(),
        operation,
        source: error.into(),
    }
}

/// Loads the safetensors file `path` into `layer`, or changes nothing.
fn load_file<A: Float>(
    layer: &mut impl Named<A>,
    path: &Path,
) -> std::result::Result<(), SafetensorsError> {
    let bytes = fs::read(path).map_err(io_error(path, "read"))?;
    load(layer, &bytes, &path.display().to_string())
}

/// Saves `layer` to `path` through a temporary file in the same directory,
/// renamed over `path` once complete.
fn save_file<A: Float>(
    layer: &mut impl Named<A>,
    path: &Path,
) -> std::result::Result<(), SafetensorsError> {
    let bytes = to_bytes(layer, &path.display().to_string())?;
    write_atomically(path, &bytes).map_err(io_error(path, "write"))
}

/// Writes `bytes` to `.{name}.{process}.{count}.tmp` beside `path`, flushes
/// it to the disk and renames it to `path`; removes it on failure.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let Some(name) = path.file_name() else {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the path names no file",
        ));
    };
    let count = COUNT.fetch_add(1, Ordering::Relaxed);
    let mut temporary = OsString::from(".");
    temporary.push(name);
    temporary.push(format!(".{}.{count}.tmp", std::process::id()));
    let temporary = path.with_file_name(temporary);
    let written = (|| {
        let mut out = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temporary)?;
        out.write_all(bytes)?;
        out.sync_all()?;
        fs::rename(&temporary, path)
    })();
    if written.is_err() {
        // The temporary file may not exist: this error is not the one to report.
        let _ = fs::remove_file(&temporary);
    }
    written
}

/// The four methods of a [`Named`] type, each after its docs.
macro_rules! safetensors_methods {
    (
        $type:ident;
        $(#[$save:meta])* save;
        $(#[$load:meta])* load;
        $(#[$to_bytes:meta])* to_bytes;
        $(#[$load_bytes:meta])* load_bytes;
    ) => {
        impl<A: Float> $type<A> {
            $(#[$save])*
            pub fn save_safetensors(&mut self, path: impl AsRef<Path>) -> Result<()> {
                Ok(save_file(self, path.as_ref())?)
            }

            $(#[$load])*
            pub fn load_safetensors(&mut self, path: impl AsRef<Path>) -> Result<()> {
                Ok(load_file(self, path.as_ref())?)
            }

            $(#[$to_bytes])*
            pub fn to_safetensors_bytes(&mut self) -> Result<Vec<u8>> {
                Ok(to_bytes(self, BYTES)?)
            }

            $(#[$load_bytes])*
            pub fn load_safetensors_bytes(&mut self, bytes: &[u8]) -> Result<()> {
                Ok(load(self, bytes, BYTES)?)
            }
        }
    };
}

safetensors_methods! {
    Sequential;

    /// Saves the parameters of every layer to the safetensors file `path`,
    /// in the network's element type (F64 for a `Sequential<f64>`, F32 for
    /// a `Sequential<f32>`: PyTorch's float64 and float32) under the names
    /// of PyTorch's `nn.Sequential` `state_dict`, so that
    /// `load_state_dict(..., strict=True)` takes the file:
    ///
    /// | layer | tensors | shape |
    /// | --- | --- | --- |
    /// | [`DenseLayer`] (`nn.Linear`) | `weight`, `bias` | (outputs, inputs), the weights transposed as `nn.Linear` keeps them; (outputs,) |
    /// | [`PReluLayer`] (`nn.PReLU`) | `weight` | (num_parameters,) |
    /// | layer `i` | its tensors with the prefix `"{i}."` | |
    ///
    /// The index counts every layer, the parameter-free ones included, and
    /// a nested `Sequential` adds its own: Dense, ReLU, Sequential(Dense,
    /// PReLU) gives `0.weight`, `0.bias`, `2.0.weight`, `2.0.bias`,
    /// `2.1.weight`. A layer of another type (yours, or one pushed as a
    /// `Box<dyn Layer>`, whose type is hidden) is fine while it has no
    /// [`params`](Layer::params); with parameters it is an error, since the
    /// format cannot tell what they are: push such layers by their type.
    /// Asking a layer for its parameters takes `&mut`, hence `&mut self`;
    /// nothing changes.
    ///
    /// The file is written to a temporary file beside `path` and renamed
    /// over it once complete, so a crash leaves the old file or the new one,
    /// never half of one.
    ///
    /// # `f32` and `f64`
    ///
    /// Each value is written as it is, in the element type: an `f32`
    /// network's file is F32 and loads back bit for bit into an `f32`
    /// network, and into a float32 `nn.Sequential` in PyTorch (into a
    /// float64 one too: `load_state_dict` converts). An `f64` network can
    /// load an `f32` network's file (widened exactly), and the other way
    /// round (rounded to nearest); see
    /// [`load_safetensors`](Self::load_safetensors).
    ///
    /// ```
    /// use rectify::rand::{rngs::StdRng, SeedableRng};
    /// use rectify::{ndarray::array, DenseLayer, Layer, ReluLayer, Sequential};
    ///
    /// let mlp = |seed| {
    ///     let mut rng = StdRng::seed_from_u64(seed);
    ///     let mut net = Sequential::<f32>::new();
    ///     net.push(DenseLayer::<f32>::new(2, 8, &mut rng))
    ///         .push(ReluLayer::new())
    ///         .push(DenseLayer::<f32>::new(8, 1, &mut rng));
    ///     net
    /// };
    /// let path = std::env::temp_dir().join(format!("rectify-doc-f32-{}.safetensors", std::process::id()));
    /// let mut trained = mlp(1);
    /// trained.save_safetensors(&path)?; // F32 tensors 0.weight (8, 2), 0.bias, 2.weight (1, 8), 2.bias
    /// let header = String::from_utf8_lossy(&std::fs::read(&path)?[8..]).into_owned();
    /// assert!(header.contains(r#""0.weight":{"dtype":"F32","shape":[8,2]"#), "{header}");
    ///
    /// let mut fresh = mlp(2);
    /// fresh.load_safetensors(&path)?;
    /// let x = array![[0.5f32, -1.0], [2.0, 0.25]];
    /// assert_eq!(fresh.predict(&x)?, trained.predict(&x)?);
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # NaN and infinities
    ///
    /// A parameter that holds a NaN or an infinity is not saved: the save
    /// is an error naming the tensor, the element and the value, and
    /// nothing is written, so no file appears and a file already at `path`
    /// is left as it was. Every file a save writes therefore loads back,
    /// bit for bit. PyTorch (`torch.save`, `safetensors.torch.save_file`)
    /// writes such values; this crate refuses them on the way in
    /// ([`load_safetensors`](Self::load_safetensors), as
    /// [`DenseLayer::from_parts`] and serde do), since a NaN or an infinite
    /// parameter can only come from a diverged run or a corrupt file, and
    /// so it refuses them on the way out too, where the error is found at
    /// once and the last good checkpoint is kept rather than replaced by one
    /// of no use. An optimizer refuses to write them in the first place
    /// unless told otherwise ([`NonFinite`](crate::NonFinite)). To look at
    /// a diverged model anyway, read its [`params`](Layer::params).
    ///
    /// ```
    /// use rectify::{ndarray::array, DenseLayer, Layer, ReluLayer, Sequential};
    ///
    /// let mut net = Sequential::new();
    /// net.push(DenseLayer::from_parts(array![[1.0]], array![0.0])?)
    ///     .push(ReluLayer::new())
    ///     .push(DenseLayer::from_parts(array![[1.0, 2.0]], array![0.0, 0.0])?);
    /// net.params()[2].value[[0, 1]] = f64::NAN; // as a diverged step could leave it
    /// let path = std::env::temp_dir().join(format!("rectify-doc-nan-{}.safetensors", std::process::id()));
    /// let err = net.save_safetensors(&path).unwrap_err();
    /// let message = r#"tensor "2.weight" holds NaN at flat index 1, expected finite values"#;
    /// assert_eq!(err.to_string(), format!("{}: {message}", path.display()));
    /// assert!(!path.exists());
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`LayerError::Safetensors`], and nothing written:
    /// [`SafetensorsError::NotFinite`] for a parameter that holds a NaN or
    /// an infinity (naming its tensor, `2.weight`, and the element's index
    /// in PyTorch's layout), [`SafetensorsError::Unnamed`] for a layer with
    /// parameters of another type, and [`SafetensorsError::Io`] if the file
    /// cannot be written.
    ///
    /// # Examples
    ///
    /// ```
    /// use rectify::rand::{rngs::StdRng, SeedableRng};
    /// use rectify::{ndarray::array, DenseLayer, Layer, ReluLayer, Sequential};
    ///
    /// let mlp = |seed| {
    ///     let mut rng = StdRng::seed_from_u64(seed);
    ///     let mut net = Sequential::new();
    ///     net.push(DenseLayer::new(2, 8, &mut rng))
    ///         .push(ReluLayer::new())
    ///         .push(DenseLayer::new(8, 1, &mut rng));
    ///     net
    /// };
    /// let path = std::env::temp_dir().join(format!("rectify-doc-save-{}.safetensors", std::process::id()));
    /// let mut trained = mlp(1);
    /// trained.save_safetensors(&path)?; // tensors 0.weight (8, 2), 0.bias, 2.weight (1, 8), 2.bias
    ///
    /// let mut fresh = mlp(2);
    /// fresh.load_safetensors(&path)?;
    /// let x = array![[0.5, -1.0], [2.0, 0.25]];
    /// assert_eq!(fresh.predict(&x)?, trained.predict(&x)?);
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    save;

    /// Loads every parameter from the safetensors file `path`, written by
    /// [`save_safetensors`](Self::save_safetensors) or by PyTorch
    /// (`safetensors.torch.save_file(model.state_dict(), path)` of the same
    /// architecture), or changes nothing.
    ///
    /// The load is strict, as PyTorch's `strict=True`: every parameter needs
    /// its tensor, of its shape, and the file may hold nothing else. Every
    /// tensor is read and checked before the first is assigned. The layers'
    /// caches of their last forward are kept.
    ///
    /// Tensors are F64 or F32, converted to the network's element type as
    /// PyTorch's `load_state_dict` copies them: an `f64` network takes F64
    /// as it is and F32 widened exactly; an `f32` network takes F32 as it
    /// is and F64 rounded to the nearest `f32` (ties to even, as `as f32`
    /// rounds: a magnitude below `f32`'s smallest subnormal becomes ±0).
    ///
    /// A NaN or an infinity in a tensor is refused, as
    /// [`DenseLayer::from_parts`] refuses it, where PyTorch loads it: it
    /// can only come from a diverged run or a corrupt file. So is an F64
    /// value that an `f32` network would hold as an infinity (a magnitude
    /// of `f32::MAX` plus half an ulp, about 3.4028236e38, or more), which
    /// PyTorch would also load. No file that
    /// [`save_safetensors`](Self::save_safetensors) writes holds one (a
    /// save refuses such a model), so what a save writes always loads back;
    /// a file from PyTorch may.
    ///
    /// # Errors
    ///
    /// [`LayerError::Safetensors`], naming the file (and the tensor, with
    /// the expected and found shapes), and the network unchanged:
    /// [`SafetensorsError::Io`] if the file cannot be read,
    /// [`Format`](SafetensorsError::Format) if it is not a safetensors file
    /// (truncated or garbage), [`Missing`](SafetensorsError::Missing),
    /// [`Unexpected`](SafetensorsError::Unexpected),
    /// [`Shape`](SafetensorsError::Shape), [`Dtype`](SafetensorsError::Dtype)
    /// (neither F64 nor F32), [`NotFinite`](SafetensorsError::NotFinite) (a
    /// NaN or infinite value), [`Overflow`](SafetensorsError::Overflow) (an
    /// F64 value that rounds to an infinity in an `f32` network) and
    /// [`Unnamed`](SafetensorsError::Unnamed) (a layer with parameters of
    /// another type).
    ///
    /// # Examples
    ///
    /// ```
    /// use rectify::{ndarray::array, DenseLayer, Layer, ReluLayer, Sequential};
    ///
    /// let mut net = Sequential::new();
    /// net.push(ReluLayer::new()).push(DenseLayer::from_parts(array![[2.0]], array![1.0])?);
    /// let path = std::env::temp_dir().join(format!("rectify-doc-load-{}.safetensors", std::process::id()));
    /// net.save_safetensors(&path)?;
    ///
    /// let mut other = Sequential::new();
    /// other.push(DenseLayer::from_parts(array![[5.0]], array![0.0])?);
    /// let err = other.load_safetensors(&path).unwrap_err();
    /// assert!(err.to_string().ends_with(r#"missing tensor "0.weight", expected shape [1, 1]"#), "{err}");
    /// assert_eq!(other.predict(&array![[1.0]])?, array![[5.0]]); // unchanged
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    load;

    /// The bytes [`save_safetensors`](Self::save_safetensors) writes (F64
    /// for an `f64` network, F32 for an `f32` one), for keeping a model in
    /// memory or sending it elsewhere; they load back with
    /// [`load_safetensors_bytes`](Self::load_safetensors_bytes), bit for
    /// bit.
    ///
    /// # Errors
    ///
    /// [`LayerError::Safetensors`], as
    /// [`save_safetensors`](Self::save_safetensors):
    /// [`SafetensorsError::NotFinite`] for a parameter that holds a NaN or
    /// an infinity (see there why), and [`SafetensorsError::Unnamed`] for a
    /// layer with parameters of another type.
    ///
    /// # Examples
    ///
    /// ```
    /// use rectify::{ndarray::array, DenseLayer, PReluLayer, Sequential};
    ///
    /// let mut net = Sequential::new();
    /// net.push(DenseLayer::from_parts(array![[1.0, 2.0]], array![0.0, 0.5])?)
    ///     .push(PReluLayer::new(2, 0.25)?);
    /// let bytes = net.to_safetensors_bytes()?;
    /// let mut copy = Sequential::new();
    /// copy.push(DenseLayer::from_parts(array![[0.0, 0.0]], array![0.0, 0.0])?)
    ///     .push(PReluLayer::new(2, 0.0)?);
    /// copy.load_safetensors_bytes(&bytes)?;
    /// assert_eq!(copy.layer::<DenseLayer>(0).unwrap().bias(), array![0.0, 0.5]);
    /// assert_eq!(copy.layer::<PReluLayer>(1).unwrap().slopes(), array![0.25, 0.25]);
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    to_bytes;

    /// [`load_safetensors`](Self::load_safetensors) from bytes in memory,
    /// for example a model compiled into the program with
    /// `include_bytes!("model.safetensors")`. Errors name the file
    /// `<bytes>`.
    ///
    /// # Errors
    ///
    /// As [`load_safetensors`](Self::load_safetensors), but never
    /// [`SafetensorsError::Io`].
    ///
    /// # Examples
    ///
    /// ```
    /// use rectify::{ndarray::array, DenseLayer, Layer, Sequential};
    ///
    /// let mut net = Sequential::new();
    /// net.push(DenseLayer::from_parts(array![[3.0]], array![1.0])?);
    /// let err = net.load_safetensors_bytes(b"not a model").unwrap_err();
    /// assert!(err.to_string().starts_with("<bytes>: not a valid safetensors file"), "{err}");
    /// assert_eq!(net.predict(&array![[1.0]])?, array![[4.0]]); // unchanged
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    load_bytes;
}

safetensors_methods! {
    DenseLayer;

    /// Saves the weights and bias to the safetensors file `path` as
    /// PyTorch's `nn.Linear` does: `weight` of shape (outputs, inputs), the
    /// transpose of [`weights`](Self::weights), and `bias`; F64 for a
    /// `DenseLayer<f64>` and F32 for a `DenseLayer<f32>`, through a
    /// temporary file renamed over `path`, as
    /// [`Sequential::save_safetensors`] does. Weights or a bias that hold a
    /// NaN or an infinity are not saved (see there why): every file a save
    /// writes loads back.
    ///
    /// # Errors
    ///
    /// [`LayerError::Safetensors`], and nothing written:
    /// [`SafetensorsError::NotFinite`] naming `weight` or `bias` if it holds
    /// a NaN or an infinity, and [`SafetensorsError::Io`] if the file cannot
    /// be written.
    ///
    /// # Examples
    ///
    /// ```
    /// use rectify::{ndarray::array, DenseLayer};
    ///
    /// let path = std::env::temp_dir().join(format!("rectify-doc-dense-{}.safetensors", std::process::id()));
    /// let mut dense = DenseLayer::from_parts(array![[1.0, 2.0, 3.0]], array![0.0, 0.5, 1.0])?;
    /// dense.save_safetensors(&path)?;
    /// let mut copy = DenseLayer::from_parts(array![[0.0, 0.0, 0.0]], array![0.0, 0.0, 0.0])?;
    /// copy.load_safetensors(&path)?;
    /// assert_eq!(copy.weights(), array![[1.0, 2.0, 3.0]]);
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    save;

    /// Loads `weight` (outputs × inputs) and `bias` from the safetensors
    /// file `path`, strictly, or changes nothing; F64 or F32, widened
    /// exactly into an `f64` layer and rounded to nearest into an `f32` one
    /// (see [`Sequential::load_safetensors`]).
    ///
    /// # Errors
    ///
    /// As [`Sequential::load_safetensors`].
    ///
    /// # Examples
    ///
    /// ```
    /// use rectify::{ndarray::array, DenseLayer};
    ///
    /// let mut dense = DenseLayer::from_parts(array![[1.0]], array![0.0])?;
    /// let err = dense.load_safetensors("/no/such/linear.safetensors").unwrap_err();
    /// assert!(err.to_string().starts_with("/no/such/linear.safetensors: cannot read"), "{err}");
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    load;

    /// The bytes [`save_safetensors`](Self::save_safetensors) writes, F64 or
    /// F32 as the layer's element type.
    ///
    /// # Errors
    ///
    /// [`LayerError::Safetensors`] with [`SafetensorsError::NotFinite`] if
    /// the weights or the bias hold a NaN or an infinity, as
    /// [`save_safetensors`](Self::save_safetensors).
    ///
    /// # Examples
    ///
    /// ```
    /// use rectify::{ndarray::array, DenseLayer};
    ///
    /// let mut dense = DenseLayer::from_parts(array![[1.0, 2.0]], array![0.0, 0.0])?;
    /// let bytes = dense.to_safetensors_bytes()?;
    /// let header = String::from_utf8_lossy(&bytes[8..]);
    /// assert!(header.contains(r#""weight":{"dtype":"F64","shape":[2,1]"#), "{header}");
    ///
    /// let mut narrow = DenseLayer::from_parts(array![[1.0f32, 2.0]], array![0.0, 0.0])?;
    /// let bytes = narrow.to_safetensors_bytes()?;
    /// let header = String::from_utf8_lossy(&bytes[8..]);
    /// assert!(header.contains(r#""weight":{"dtype":"F32","shape":[2,1]"#), "{header}");
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    to_bytes;

    /// [`load_safetensors`](Self::load_safetensors) from bytes in memory.
    ///
    /// # Errors
    ///
    /// As [`Sequential::load_safetensors_bytes`].
    ///
    /// # Examples
    ///
    /// ```
    /// use rectify::{ndarray::array, DenseLayer};
    ///
    /// let mut dense = DenseLayer::from_parts(array![[1.0, 2.0]], array![0.0, 0.0])?;
    /// let bytes = DenseLayer::from_parts(array![[3.0, 4.0]], array![5.0, 6.0])?.to_safetensors_bytes()?;
    /// dense.load_safetensors_bytes(&bytes)?;
    /// assert_eq!(dense.bias(), array![5.0, 6.0]);
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    load_bytes;
}

safetensors_methods! {
    PReluLayer;

    /// Saves the slopes to the safetensors file `path` as PyTorch's
    /// `nn.PReLU` does: `weight` of shape (num_parameters,), F64 for a
    /// `PReluLayer<f64>` and F32 for a `PReluLayer<f32>`, through a
    /// temporary file renamed over `path`. Slopes that hold a NaN or an
    /// infinity are not saved (see [`Sequential::save_safetensors`] why):
    /// every file a save writes loads back.
    ///
    /// # Errors
    ///
    /// [`LayerError::Safetensors`], and nothing written:
    /// [`SafetensorsError::NotFinite`] if a slope is NaN or infinite, and
    /// [`SafetensorsError::Io`] if the file cannot be written.
    ///
    /// # Examples
    ///
    /// ```
    /// use rectify::{ndarray::array, PReluLayer};
    ///
    /// let path = std::env::temp_dir().join(format!("rectify-doc-prelu-{}.safetensors", std::process::id()));
    /// PReluLayer::from_slopes(array![0.1, 0.2])?.save_safetensors(&path)?;
    /// let mut prelu = PReluLayer::<f64>::new(2, 0.25)?;
    /// prelu.load_safetensors(&path)?;
    /// assert_eq!(prelu.slopes(), array![0.1, 0.2]);
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    save;

    /// Loads `weight` (num_parameters,) from the safetensors file `path`,
    /// strictly, or changes nothing; F64 or F32, widened exactly into an
    /// `f64` layer and rounded to nearest into an `f32` one (see
    /// [`Sequential::load_safetensors`]).
    ///
    /// # Errors
    ///
    /// As [`Sequential::load_safetensors`].
    ///
    /// # Examples
    ///
    /// ```
    /// use rectify::PReluLayer;
    ///
    /// let mut prelu = PReluLayer::<f64>::default();
    /// assert!(prelu.load_safetensors("/no/such/prelu.safetensors").is_err());
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    load;

    /// The bytes [`save_safetensors`](Self::save_safetensors) writes, F64 or
    /// F32 as the layer's element type.
    ///
    /// # Errors
    ///
    /// [`LayerError::Safetensors`] with [`SafetensorsError::NotFinite`] if
    /// a slope is NaN or infinite, as
    /// [`save_safetensors`](Self::save_safetensors).
    ///
    /// # Examples
    ///
    /// ```
    /// use rectify::PReluLayer;
    ///
    /// let bytes = PReluLayer::<f64>::new(3, 0.25)?.to_safetensors_bytes()?;
    /// let header = String::from_utf8_lossy(&bytes[8..]);
    /// assert!(header.contains(r#""weight":{"dtype":"F64","shape":[3]"#), "{header}");
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    to_bytes;

    /// [`load_safetensors`](Self::load_safetensors) from bytes in memory.
    ///
    /// # Errors
    ///
    /// As [`Sequential::load_safetensors_bytes`].
    ///
    /// # Examples
    ///
    /// ```
    /// use rectify::{ndarray::array, PReluLayer};
    ///
    /// let mut one: PReluLayer = PReluLayer::default();
    /// let bytes = PReluLayer::<f64>::new(2, 0.5)?.to_safetensors_bytes()?;
    /// let err = one.load_safetensors_bytes(&bytes).unwrap_err();
    /// assert_eq!(err.to_string(), r#"<bytes>: tensor "weight" has shape [2], expected [1]"#);
    /// assert_eq!(one.slopes(), array![0.25]);
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    load_bytes;
}
