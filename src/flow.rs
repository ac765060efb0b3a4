//! [`GradientFlow`]: after a backward, how the gradient reached each layer
//! of a [`Sequential`], and the layer where it broke.

use std::fmt;

use ndarray::ArrayViewD;

use crate::sequential::{short_type_name, Token};
use crate::validate::hyper;
use crate::{Float, Layer, Mask, Param, Result, Sequential};

const NAME: &str = "FlowThresholds";

/// The figures of every layer of a network after a backward, and the
/// problems an integration test should fail on.
///
/// [`measure`](Self::measure) walks a [`Sequential`] in order, nested
/// `Sequential`s included, and names each layer by its path, as
/// [`GradCheck`](crate::GradCheck) does: `"2"` for layer 2, `"1.0"` for
/// layer 0 of a `Sequential` at index 1. For a layer with parameters it
/// reads their gradients ([`LayerFlow::gradient`], and per parameter
/// [`LayerFlow::params`]); for a rectifier, the [`Mask`] of the last
/// forward ([`LayerFlow::dead_fraction`]). A layer of your own is walked
/// like the others, named by its type. Nothing in the network changes.
///
/// # Problems
///
/// [`problems`](Self::problems) lists, in layer order, what is wrong where
/// it starts. The gradient flows from the output toward the input, so a
/// gradient broken on its way into one layer reaches every layer before it
/// broken too; each problem is flagged once, at the parametric layer nearest
/// the output that shows it, which is the layer whose parameters receive the
/// broken gradient directly. The layers are judged from the last to the
/// first, each parametric one by the first of these that applies:
///
/// 1. [`NoGradient`](FlowProblemKind::NoGradient): every gradient element is
///    exactly zero, unless the gradient reaching the layer was already
///    zero: the nearest parametric layer after it is zero too, or an
///    activation layer between them is [all dead](FlowProblemKind::AllDead).
/// 2. [`NonFinite`](FlowProblemKind::NonFinite): an element is NaN or
///    infinite, unless the nearest parametric layer after it has one too.
/// 3. [`Vanishing`](FlowProblemKind::Vanishing) and
///    [`Exploding`](FlowProblemKind::Exploding): the layer's *relative
///    norm*, `‖gradient‖ / ‖parameters‖` over all its parameters, is
///    compared with its *reference*, the relative norm of the nearest
///    parametric layer after it that has a finite non-zero one: the layer
///    vanishes below `reference / jump` and explodes above
///    `reference · jump`. A layer with no reference (the last parametric
///    layer, or one after which every gradient is zero or non-finite) is
///    held to the absolute bounds `min_relative` and `max_relative`
///    instead. A layer whose parameters are all zero has no relative norm
///    and is not judged by it.
///
/// A parametric layer whose input is the output of an all-dead activation
/// layer (with only parameter-free layers between them) can only be
/// NonFinite: its gradient is the bias's alone, that of a constant output,
/// often zero or rounding noise, and the problem is the dead layer's.
///
/// A ×1e12 gradient entering layer `k` multiplies the relative norm of `k`
/// and of every layer before it by 1e12: only at `k` does it jump against
/// the reference, so only `k` is flagged. A relative norm measures a step's
/// size against the parameter it moves, whatever the layer's width; healthy
/// neighbours stay within a few orders of magnitude of each other.
///
/// An activation layer is [`AllDead`](FlowProblemKind::AllDead) if every
/// unit was on its inactive side for every sample of the last forward
/// (a layer can have this and one of the above).
///
/// The thresholds are [`FlowThresholds`]'s (`jump` 1e6, `min_relative`
/// 1e-10, `max_relative` 1e4 by default); set them with
/// [`measure_with`](Self::measure_with).
///
/// Before any backward, a built-in layer's gradients are zero, so the last
/// parametric layer is [`NoGradient`](FlowProblemKind::NoGradient) (and the
/// others inherit it); an activation that ran no forward has no dead
/// fraction and is not judged.
///
/// `Display` prints a table of every layer, so that
/// `assert!(flow.problems().is_empty(), "{flow}")` fails with the figures.
///
/// # Examples
///
/// ```
/// use rectify::rand::{rngs::StdRng, SeedableRng};
/// use rectify::{loss, ndarray::array, DenseLayer, GradientFlow, Layer, ReluLayer, Sequential};
///
/// let mut rng = StdRng::seed_from_u64(0);
/// let mut net = Sequential::new();
/// net.push(DenseLayer::new(2, 16, &mut rng))
///     .push(ReluLayer::new())
///     .push(DenseLayer::new(16, 2, &mut rng));
/// let x = array![[0.5, -1.0], [2.0, 0.3], [-0.7, 0.8], [1.1, 1.9]];
/// let (_, grad) = loss::softmax_cross_entropy(&net.forward(&x)?, &[0, 1, 1, 0])?;
/// net.backward(&grad)?;
///
/// let flow = GradientFlow::measure(&mut net);
/// assert!(flow.problems().is_empty(), "{flow}");
/// let first = flow.layer("0").unwrap();
/// assert_eq!(first.type_name, "DenseLayer");
/// assert!(first.gradient().unwrap().relative_norm().unwrap() > 0.0);
/// assert!(flow.layer("1").unwrap().dead_fraction.unwrap() < 1.0);
/// # Ok::<(), rectify::LayerError>(())
/// ```
///
/// A break: a layer that multiplies the gradient by 1e12 on its way into
/// layer 0 flags layer 0, and nothing else.
///
/// ```
/// use rectify::rand::{rngs::StdRng, SeedableRng};
/// use rectify::ndarray::{array, Array2, ArrayRef2};
/// use rectify::{DenseLayer, FlowProblemKind, GradientFlow, Layer, Sequential};
///
/// struct Amplify;
///
/// impl Layer for Amplify {
///     fn forward(&mut self, x: &ArrayRef2<f64>) -> rectify::Result<Array2<f64>> {
///         Ok(x.to_owned())
///     }
///     fn backward(&mut self, g: &ArrayRef2<f64>) -> rectify::Result<Array2<f64>> {
///         Ok(g * 1e12)
///     }
///     fn predict(&self, x: &ArrayRef2<f64>) -> rectify::Result<Array2<f64>> {
///         Ok(x.to_owned())
///     }
/// }
///
/// let mut rng = StdRng::seed_from_u64(0);
/// let mut net = Sequential::new();
/// net.push(DenseLayer::new(2, 3, &mut rng))
///     .push(Amplify)
///     .push(DenseLayer::new(3, 1, &mut rng));
/// net.forward(&array![[0.5, -1.0], [2.0, 0.3]])?;
/// net.backward(&array![[1.0], [-1.0]])?;
///
/// let flow = GradientFlow::measure(&mut net);
/// assert_eq!(flow.problems().len(), 1, "{flow}");
/// assert_eq!(flow.problems()[0].path, "0");
/// assert_eq!(flow.problems()[0].kind, FlowProblemKind::Exploding);
/// assert_eq!(flow.layer("1").unwrap().type_name, "Amplify");
/// assert!(flow.to_string().contains("Exploding"));
/// # Ok::<(), rectify::LayerError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct GradientFlow {
    layers: Vec<LayerFlow>,
    problems: Vec<FlowProblem>,
}

impl GradientFlow {
    /// Measures every layer of `net` against the default
    /// [`FlowThresholds`]. Never fails: a network with no backward yet
    /// measures as described on the [type](Self).
    pub fn measure<A: Float>(net: &mut Sequential<A>) -> Self {
        Self::measure_with(net, &FlowThresholds::default())
    }

    /// Measures every layer of `net` against `thresholds`.
    ///
    /// # Examples
    ///
    /// ```
    /// use rectify::{ndarray::array, DenseLayer, FlowThresholds, GradientFlow, Layer, Sequential};
    ///
    /// let mut net = Sequential::<f64>::new();
    /// net.push(DenseLayer::from_parts(array![[1.0]], array![0.0])?);
    /// net.forward(&array![[1.0]])?;
    /// net.backward(&array![[1e-3]])?; // relative norm 1e-3
    /// assert!(GradientFlow::measure(&mut net).problems().is_empty());
    /// let strict = FlowThresholds::default().with_relative_range(1e-2, 1.0)?;
    /// let flow = GradientFlow::measure_with(&mut net, &strict);
    /// assert_eq!(flow.problems()[0].to_string(), "layer 0: Vanishing");
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn measure_with<A: Float>(net: &mut Sequential<A>, thresholds: &FlowThresholds) -> Self {
        let mut layers = Vec::new();
        walk(net, "", &mut layers);
        let problems = judge(&layers, thresholds);
        GradientFlow { layers, problems }
    }

    /// Every layer measured, in order (nested ones in place).
    pub fn layers(&self) -> &[LayerFlow] {
        &self.layers
    }

    /// The layer at `path` (`"2"`, `"1.0"`), if there is one.
    pub fn layer(&self, path: &str) -> Option<&LayerFlow> {
        self.layers.iter().find(|layer| layer.path == path)
    }

    /// The problems found, in layer order; a layer's gradient problem
    /// before its [`AllDead`](FlowProblemKind::AllDead). Empty for a
    /// healthy network.
    pub fn problems(&self) -> &[FlowProblem] {
        &self.problems
    }
}

/// Appends the measures of `net`'s layers to `out`, their paths after
/// `prefix`, walking into nested `Sequential`s.
fn walk<A: Float>(net: &mut Sequential<A>, prefix: &str, out: &mut Vec<LayerFlow>) {
    for (i, layer) in net.layers_mut().enumerate() {
        let path = format!("{prefix}{i}");
        match layer.__as_sequential(Token(())) {
            Some(inner) => walk(inner, &format!("{path}."), out),
            None => out.push(LayerFlow::of(layer, path)),
        }
    }
}

/// The limits [`GradientFlow::measure_with`] judges a network by: see
/// [`GradientFlow`]'s Problems section for the rule.
///
/// - `jump` (default `1e6`): how many times larger or smaller than its
///   reference a layer's relative norm may be, six orders of magnitude by
///   default: healthy neighbours differ by a few, a broken gradient by many
///   more.
/// - `min_relative` and `max_relative` (default `1e-10` and `1e4`): the
///   bounds on the relative norm of a layer with no reference, the last
///   parametric layer first: below `1e-10`, a step of any learning rate
///   leaves its parameters where they are; above `1e4`, one step moves them
///   by ten thousand times their size.
///
/// # Examples
///
/// ```
/// use rectify::FlowThresholds;
///
/// let t = FlowThresholds::default().with_jump(1e3)?.with_relative_range(1e-8, 1e2)?;
/// assert_eq!((t.jump(), t.min_relative(), t.max_relative()), (1e3, 1e-8, 1e2));
/// let err = FlowThresholds::default().with_jump(0.5).unwrap_err();
/// assert_eq!(err.to_string(), "FlowThresholds: invalid jump = 0.5: must be finite and above 1");
/// # Ok::<(), rectify::LayerError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FlowThresholds {
    jump: f64,
    min_relative: f64,
    max_relative: f64,
}

impl Default for FlowThresholds {
    /// `jump` 1e6, `min_relative` 1e-10, `max_relative` 1e4.
    fn default() -> Self {
        FlowThresholds {
            jump: 1e6,
            min_relative: 1e-10,
            max_relative: 1e4,
        }
    }
}

impl FlowThresholds {
    /// The same thresholds with factor `jump` between a layer and its
    /// reference.
    ///
    /// # Errors
    ///
    /// [`LayerError::InvalidParameter`](crate::LayerError::InvalidParameter)
    /// naming the value unless `jump` is finite and above 1.
    pub fn with_jump(mut self, jump: f64) -> Result<Self> {
        let ok = jump.is_finite() && jump > 1.0;
        self.jump = hyper(NAME, "jump", jump).require(ok, "must be finite and above 1")?;
        Ok(self)
    }

    /// The same thresholds with the bounds `min_relative` and
    /// `max_relative` on the relative norm of a layer with no reference.
    ///
    /// # Errors
    ///
    /// [`LayerError::InvalidParameter`](crate::LayerError::InvalidParameter)
    /// naming the value unless `min_relative` is finite and non-negative
    /// and `max_relative` finite and above it.
    ///
    /// # Examples
    ///
    /// ```
    /// use rectify::FlowThresholds;
    ///
    /// let err = FlowThresholds::default().with_relative_range(1.0, 0.1).unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "FlowThresholds: invalid max_relative = 0.1: must be above min_relative = 1"
    /// );
    /// assert!(FlowThresholds::default().with_relative_range(-1.0, 1.0).is_err());
    /// ```
    pub fn with_relative_range(mut self, min_relative: f64, max_relative: f64) -> Result<Self> {
        let min = hyper(NAME, "min_relative", min_relative).non_negative()?;
        let max = hyper(NAME, "max_relative", max_relative).finite()?;
        let above = ("min_relative", min);
        self.max_relative =
            hyper(NAME, "max_relative", max).require_against(max > min, "must be above", above)?;
        self.min_relative = min;
        Ok(self)
    }

    /// How many times its reference's a layer's relative norm may be, or
    /// one over it.
    pub fn jump(&self) -> f64 {
        self.jump
    }

    /// The least relative norm of a layer with no reference.
    pub fn min_relative(&self) -> f64 {
        self.min_relative
    }

    /// The largest relative norm of a layer with no reference.
    pub fn max_relative(&self) -> f64 {
        self.max_relative
    }
}

/// One layer of a [`GradientFlow`].
#[derive(Debug, Clone, PartialEq)]
pub struct LayerFlow {
    /// `"2"`, or `"1.0"` for layer 0 of a `Sequential` at index 1.
    pub path: String,
    /// The type's name without module paths: `DenseLayer`, `ReluLayer`,
    /// or your layer's.
    pub type_name: String,
    /// Each parameter's gradient, in the order of
    /// [`Layer::params`]; empty for a parameter-free layer.
    pub params: Vec<GradStats>,
    /// For a rectifier that ran a forward on at least one sample: the
    /// fraction of its units (columns; axis 1 of an n-D input) inactive on
    /// every sample of that forward.
    pub dead_fraction: Option<f64>,
}

impl LayerFlow {
    /// The figures of `layer`, at `path`.
    fn of<A: Float, L: Layer<A> + ?Sized>(layer: &mut L, path: String) -> Self {
        LayerFlow {
            path,
            type_name: short_type_name(layer.__type_name(Token(()))),
            params: layer.params().iter().map(GradStats::of).collect(),
            dead_fraction: layer.__mask(Token(())).and_then(dead_fraction),
        }
    }

    /// Whether every unit was dead in the last forward.
    fn all_dead(&self) -> bool {
        self.dead_fraction == Some(1.0)
    }

    /// All the layer's parameters together; `None` if it has no parameter
    /// elements.
    ///
    /// # Examples
    ///
    /// ```
    /// use rectify::{ndarray::array, DenseLayer, GradientFlow, Layer, Sequential};
    ///
    /// let mut net = Sequential::new();
    /// net.push(DenseLayer::from_parts(array![[3.0]], array![4.0])?);
    /// net.forward(&array![[2.0]])?;
    /// net.backward(&array![[0.5]])?; // dW = 1, db = 0.5
    /// let flow = GradientFlow::measure(&mut net);
    /// let g = flow.layers()[0].gradient().unwrap();
    /// assert_eq!((g.norm, g.max_abs, g.param_norm), (1.25f64.sqrt(), 1.0, 5.0));
    /// assert_eq!(g.relative_norm(), Some(1.25f64.sqrt() / 5.0));
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn gradient(&self) -> Option<GradStats> {
        let all = self.params.iter().copied().reduce(GradStats::merge)?;
        (all.elements > 0).then_some(all)
    }
}

/// The fraction of `mask`'s units (axis 1) inactive on every row; `None`
/// with no elements.
fn dead_fraction(mask: &Mask) -> Option<f64> {
    let (rows, cols) = mask.shape();
    if rows == 0 || cols == 0 {
        return None;
    }
    let units = mask.shape_nd().get(1).copied().unwrap_or(cols);
    let counts = mask.active_per_column();
    let dead = (counts.exact_chunks(cols / units).into_iter())
        .filter(|unit| unit.iter().all(|&n| n == 0))
        .count();
    Some(dead as f64 / units as f64)
}

/// The figures of one gradient: a parameter's, or a layer's over all its
/// parameters.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct GradStats {
    /// The L2 norm, computed without overflow: NaN if an element is NaN,
    /// infinite if one is infinite.
    pub norm: f64,
    /// The largest magnitude of an element: NaN if one is NaN.
    pub max_abs: f64,
    /// How many elements are exactly zero.
    pub zeros: usize,
    /// How many elements there are.
    pub elements: usize,
    /// The L2 norm of the parameter values.
    pub param_norm: f64,
}

impl GradStats {
    /// The figures of `param`'s gradient.
    fn of<A: Float>(param: &Param<'_, A>) -> Self {
        let grad = &param.grad;
        let (norm, max_abs) = magnitude(grad);
        GradStats {
            norm,
            max_abs,
            zeros: grad.iter().filter(|v| v.widen() == 0.0).count(),
            elements: grad.len(),
            param_norm: magnitude(&param.value.view()).0,
        }
    }

    /// The figures of two gradients together.
    fn merge(self, other: Self) -> Self {
        GradStats {
            norm: hypot(self.norm, other.norm),
            max_abs: nan_max(self.max_abs, other.max_abs),
            zeros: self.zeros + other.zeros,
            elements: self.elements + other.elements,
            param_norm: hypot(self.param_norm, other.param_norm),
        }
    }

    /// The fraction of elements that are exactly zero (0 with none).
    pub fn zero_fraction(&self) -> f64 {
        self.zeros as f64 / self.elements.max(1) as f64
    }

    /// Whether there are elements and every one is exactly zero.
    pub fn is_zero(&self) -> bool {
        self.elements > 0 && self.zeros == self.elements
    }

    /// Whether no element is NaN or infinite.
    pub fn is_finite(&self) -> bool {
        self.max_abs.is_finite()
    }

    /// `norm / param_norm`, how far one step with learning rate 1 would
    /// move the parameters, relative to their size; `None` if the
    /// parameters are all zero.
    pub fn relative_norm(&self) -> Option<f64> {
        (self.param_norm > 0.0).then(|| self.norm / self.param_norm)
    }
}

/// The larger of `a` and `b`, NaN if either is.
fn nan_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

/// `√(a² + b²)` for two norms, NaN if either is.
fn hypot(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.hypot(b)
    }
}

/// The L2 norm of `a` and its largest `|v|`, both NaN if a `v` is NaN and
/// infinite if one is infinite. The elements are divided by the largest
/// before squaring, so that nothing overflows or underflows.
fn magnitude<A: Float>(a: &ArrayViewD<'_, A>) -> (f64, f64) {
    let max_abs = a.iter().map(|v| v.widen().abs()).fold(0.0, nan_max);
    if max_abs == 0.0 || !max_abs.is_finite() {
        return (max_abs, max_abs);
    }
    let sum: f64 = a.iter().map(|v| (v.widen() / max_abs).powi(2)).sum();
    (max_abs * sum.sqrt(), max_abs)
}

/// A problem [`GradientFlow`] found, and the layer it is at.
///
/// # Examples
///
/// ```
/// use rectify::{FlowProblem, FlowProblemKind};
///
/// let problem = FlowProblem { path: "1.0".into(), kind: FlowProblemKind::AllDead };
/// assert_eq!(problem.to_string(), "layer 1.0: AllDead");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FlowProblem {
    /// The layer's path: `"2"`, or `"1.0"` for layer 0 of a `Sequential`
    /// at index 1.
    pub path: String,
    /// What is wrong there.
    pub kind: FlowProblemKind,
}

impl fmt::Display for FlowProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "layer {}: {}", self.path, self.kind)
    }
}

/// What [`GradientFlow`] found wrong at a layer; see its Problems section
/// for the exact rules. Printed as the variant's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FlowProblemKind {
    /// A parametric layer's gradient is exactly zero everywhere.
    NoGradient,
    /// A parametric layer's gradient has a NaN or an infinite element.
    NonFinite,
    /// A parametric layer's gradient is orders of magnitude smaller, for
    /// the size of its parameters, than the next layer's.
    Vanishing,
    /// A parametric layer's gradient is orders of magnitude larger, for
    /// the size of its parameters, than the next layer's.
    Exploding,
    /// Every unit of an activation layer was inactive for every sample.
    AllDead,
}

impl fmt::Display for FlowProblemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// What the gradient arriving at a layer from the layers after it already
/// is.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Arriving {
    Flowing,
    Zero,
    NonFinite,
}

/// The judgement of a network's layers, from the last to the first.
struct Judge<'a> {
    thresholds: &'a FlowThresholds,
    arriving: Arriving,
    /// The relative norm of the nearest parametric layer after this one
    /// that has a finite non-zero one.
    reference: Option<f64>,
}

/// The problems of `layers`, in layer order.
fn judge(layers: &[LayerFlow], thresholds: &FlowThresholds) -> Vec<FlowProblem> {
    let mut judge = Judge {
        thresholds,
        arriving: Arriving::Flowing,
        reference: None,
    };
    let fed = fed_by_dead(layers);
    let mut found: Vec<(usize, FlowProblemKind)> = (layers.iter().zip(fed).enumerate().rev())
        .flat_map(|(i, (layer, fed))| {
            let kinds = judge.layer(layer, fed);
            kinds.into_iter().flatten().map(move |k| (i, k))
        })
        .collect();
    found.sort();
    let problem = |(i, kind): (usize, _)| FlowProblem {
        path: layers[i].path.clone(),
        kind,
    };
    found.into_iter().map(problem).collect()
}

/// For each layer, whether an all-dead activation layer lies between it
/// and the parametric layer before it, so that its input is that layer's
/// constant output.
fn fed_by_dead(layers: &[LayerFlow]) -> Vec<bool> {
    let fed = |dead: &mut bool, layer: &LayerFlow| {
        let fed = *dead;
        *dead = (*dead && layer.gradient().is_none()) || layer.all_dead();
        Some(fed)
    };
    layers.iter().scan(false, fed).collect()
}

impl Judge<'_> {
    /// The layer's gradient problem and whether it is all dead; what
    /// reaches the layers before it follows.
    fn layer(&mut self, layer: &LayerFlow, fed_by_dead: bool) -> [Option<FlowProblemKind>; 2] {
        let gradient = layer
            .gradient()
            .and_then(|g| self.gradient(&g, fed_by_dead));
        let dead = self.activation(layer.all_dead());
        [gradient, dead]
    }

    /// The first of NoGradient, NonFinite, Vanishing and Exploding that
    /// applies to a parametric layer with gradient `g`; only NonFinite if
    /// the layer is `fed_by_dead`.
    fn gradient(&mut self, g: &GradStats, fed_by_dead: bool) -> Option<FlowProblemKind> {
        let arriving = std::mem::replace(&mut self.arriving, Arriving::Flowing);
        if g.is_zero() {
            self.arriving = Arriving::Zero;
            let new = arriving != Arriving::Zero && !fed_by_dead;
            return new.then_some(FlowProblemKind::NoGradient);
        }
        if !g.is_finite() {
            self.arriving = Arriving::NonFinite;
            return (arriving != Arriving::NonFinite).then_some(FlowProblemKind::NonFinite);
        }
        if fed_by_dead {
            return None;
        }
        let relative = g.relative_norm()?;
        let (low, high) = match self.reference {
            Some(r) => (r / self.thresholds.jump, r * self.thresholds.jump),
            None => (self.thresholds.min_relative, self.thresholds.max_relative),
        };
        if relative.is_finite() {
            self.reference = Some(relative);
        }
        if relative < low {
            Some(FlowProblemKind::Vanishing)
        } else if relative > high {
            Some(FlowProblemKind::Exploding)
        } else {
            None
        }
    }

    /// AllDead if `all_dead`; then no gradient reaches the layers before
    /// it.
    fn activation(&mut self, all_dead: bool) -> Option<FlowProblemKind> {
        if all_dead {
            self.arriving = Arriving::Zero;
        }
        all_dead.then_some(FlowProblemKind::AllDead)
    }
}

/// A table of every layer: path, type, the gradient's norm, largest
/// magnitude and fraction of zeros, its relative norm, the dead fraction
/// and the problems, after a line that counts them.
impl fmt::Display for GradientFlow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let problems = counted(self.problems.len(), "problem");
        let layers = counted(self.layers.len(), "layer");
        writeln!(f, "gradient flow: {problems} in {layers}")?;
        let path = column_width("path", self.layers.iter().map(|l| &l.path));
        let kind = column_width("type", self.layers.iter().map(|l| &l.type_name));
        write!(f, "{:<path$}  {:<kind$}", "path", "type")?;
        let headers = ["grad norm", "max |g|", "zeros", "relative", "dead"];
        headers.iter().try_for_each(|h| write!(f, " {h:>10}"))?;
        writeln!(f, "  problem")?;
        for layer in &self.layers {
            write!(f, "{:<path$}  {:<kind$}", layer.path, layer.type_name)?;
            layer
                .figures()
                .iter()
                .try_for_each(|v| write!(f, " {v:>10}"))?;
            writeln!(f, "  {}", self.problems_at(&layer.path))?;
        }
        Ok(())
    }
}

impl GradientFlow {
    /// The problems at `path`, comma-separated, or `-`.
    fn problems_at(&self, path: &str) -> String {
        let kinds: Vec<String> = (self.problems.iter())
            .filter(|p| p.path == path)
            .map(|p| p.kind.to_string())
            .collect();
        if kinds.is_empty() {
            "-".to_owned()
        } else {
            kinds.join(", ")
        }
    }
}

impl LayerFlow {
    /// The table's figures: norm, max |g|, zero fraction, relative norm and
    /// dead fraction, `-` where there is none.
    fn figures(&self) -> [String; 5] {
        let g = self.gradient();
        let sci = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.3e}"));
        let fraction = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.3}"));
        [
            sci(g.map(|g| g.norm)),
            sci(g.map(|g| g.max_abs)),
            fraction(g.map(|g| g.zero_fraction())),
            sci(g.and_then(|g| g.relative_norm())),
            fraction(self.dead_fraction),
        ]
    }
}

/// `1 layer`, `2 layers`.
fn counted(n: usize, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

/// The width of a column headed `header` holding `cells`.
fn column_width<'a>(header: &str, cells: impl Iterator<Item = &'a String>) -> usize {
    cells.map(String::len).fold(header.len(), usize::max)
}

#[cfg(test)]
mod tests {
    use ndarray::{array, Array1, Array2, Array4, ArrayD};

    use super::*;
    use crate::ReluLayer;

    /// The figures of a gradient `grad` of parameters `value`.
    fn stats<A: Float>(mut value: ArrayD<A>, grad: ArrayD<A>) -> GradStats {
        let param = Param {
            value: value.view_mut(),
            grad: grad.view(),
        };
        GradStats::of(&param)
    }

    /// A parametric layer at `path` with one parameter of one element:
    /// gradient `norm` over a parameter norm of 1.
    fn parametric(path: &str, norm: f64) -> LayerFlow {
        LayerFlow {
            path: path.to_owned(),
            type_name: "DenseLayer".to_owned(),
            params: vec![GradStats {
                norm,
                max_abs: norm,
                zeros: usize::from(norm == 0.0),
                elements: 1,
                param_norm: 1.0,
            }],
            dead_fraction: None,
        }
    }

    fn activation(path: &str, dead_fraction: f64) -> LayerFlow {
        LayerFlow {
            path: path.to_owned(),
            type_name: "ReluLayer".to_owned(),
            params: Vec::new(),
            dead_fraction: Some(dead_fraction),
        }
    }

    /// The paths and kinds that the default thresholds find in `layers`.
    fn found(layers: &[LayerFlow]) -> Vec<(String, FlowProblemKind)> {
        let problems = judge(layers, &FlowThresholds::default());
        problems.into_iter().map(|p| (p.path, p.kind)).collect()
    }

    fn one(path: &str, kind: FlowProblemKind) -> Vec<(String, FlowProblemKind)> {
        vec![(path.to_owned(), kind)]
    }

    #[test]
    fn norms_neither_overflow_nor_hide_a_non_finite_element() {
        let big = stats(
            array![1.0, 0.0].into_dyn(),
            array![3e300, -4e300].into_dyn(),
        );
        assert_eq!((big.norm, big.max_abs, big.param_norm), (5e300, 4e300, 1.0));
        let tiny = stats(array![3e-320].into_dyn(), array![-4e-320, 0.0].into_dyn());
        assert_eq!((tiny.norm, tiny.param_norm), (4e-320, 3e-320));
        assert_eq!(
            (tiny.zeros, tiny.elements, tiny.zero_fraction()),
            (1, 2, 0.5)
        );
        for (grad, norm) in [
            (array![1.0, f64::NAN, f64::INFINITY], f64::NAN),
            (array![f64::INFINITY, 1.0, f64::NAN], f64::NAN),
            (array![f64::NEG_INFINITY, 1.0], f64::INFINITY),
        ] {
            let s = stats(Array1::ones(grad.len()).into_dyn(), grad.into_dyn());
            assert!(!s.is_finite());
            assert_eq!(s.norm.to_bits(), norm.to_bits());
            assert_eq!(s.max_abs.to_bits(), norm.to_bits());
        }
        let zero = stats(
            Array1::<f32>::zeros(3).into_dyn(),
            array![0.0f32, -0.0, 0.0].into_dyn(),
        );
        assert!(zero.is_zero() && zero.is_finite());
        assert_eq!((zero.norm, zero.relative_norm()), (0.0, None));
        let f32s = stats(array![[3.0f32]].into_dyn(), array![[1.5f32]].into_dyn());
        assert_eq!(f32s.relative_norm(), Some(0.5));
        let merged = f32s.merge(zero);
        assert_eq!((merged.norm, merged.zeros, merged.elements), (1.5, 3, 4));
        assert!(GradStats::default().merge(big.merge(tiny)).norm == 5e300);
        assert!(!GradStats::default().is_zero());
    }

    #[test]
    fn a_unit_is_a_column_or_an_axis_1_channel_dead_on_every_row() {
        let mut relu = ReluLayer::new();
        relu.forward(&array![[1.0, -1.0, 0.0], [-2.0, -3.0, 0.5]])
            .unwrap();
        assert_eq!(dead_fraction(relu.mask().unwrap()), Some(1.0 / 3.0));
        relu.forward(&Array2::<f64>::zeros((0, 4))).unwrap();
        assert_eq!(dead_fraction(relu.mask().unwrap()), None);
        // (samples, channels, height, width): channel 1 never fires, and
        // channel 2 once, at one position of one sample.
        let mut maps = Array4::from_elem((2, 3, 2, 2), 1.0);
        maps.slice_mut(ndarray::s![.., 1.., .., ..]).fill(-1.0);
        maps[[1, 2, 1, 0]] = 2.0;
        relu.forward(&maps).unwrap();
        assert_eq!(dead_fraction(relu.mask().unwrap()), Some(1.0 / 3.0));
        relu.forward(&array![-1.0, -2.0]).unwrap();
        assert_eq!(dead_fraction(relu.mask().unwrap()), Some(1.0));
    }

    #[test]
    fn a_layer_is_held_to_the_nearest_usable_relative_norm_after_it() {
        use FlowProblemKind::*;
        let chain = |norms: &[f64]| -> Vec<LayerFlow> {
            let path = |i: usize| i.to_string();
            (norms.iter().enumerate())
                .map(|(i, &n)| parametric(&path(i), n))
                .collect()
        };
        assert!(found(&chain(&[1e-3, 1e-1, 1.0, 1e2])).is_empty());
        // Each break flags only its own layer; the layers before it are
        // held to it.
        assert_eq!(found(&chain(&[1e7, 1e7, 1.0])), one("1", Exploding));
        assert_eq!(found(&chain(&[1e-7, 1e-7, 1.0])), one("1", Vanishing));
        assert_eq!(found(&chain(&[1e-7, 1.0, 1.0])), one("0", Vanishing));
        // The last layer is held to the absolute bounds.
        assert_eq!(found(&chain(&[1e5, 1e5])), one("1", Exploding));
        assert_eq!(found(&chain(&[1e-11, 1e-11])), one("1", Vanishing));
        // Zero and non-finite gradients are flagged where they start.
        assert_eq!(found(&chain(&[0.0, 0.0, 1.0])), one("1", NoGradient));
        let nan = chain(&[f64::NAN, f64::NAN, 1.0]);
        assert_eq!(found(&nan), one("1", NonFinite));
        // A zero layer is no reference: the one before it is held to the
        // layer after it.
        assert_eq!(
            found(&chain(&[1e7, 0.0, 1.0])),
            vec![("0".to_owned(), Exploding), ("1".to_owned(), NoGradient)]
        );
        assert_eq!(found(&chain(&[1.0, 0.0, 1.0])), one("1", NoGradient));
        // Nor is a layer whose parameters are zero, which is not judged.
        let mut layers = chain(&[1e-3, 1e9, 1e-3]);
        layers[1].params[0].param_norm = 0.0;
        assert!(found(&layers).is_empty());
    }

    #[test]
    fn a_dead_layer_explains_the_gradients_around_it() {
        use FlowProblemKind::*;
        let dead = |fraction| {
            vec![
                parametric("0", 0.0),
                activation("1", fraction),
                parametric("2", 1e-17),
                parametric("3", 1.0),
            ]
        };
        // Layer 2's input is dead: only its bias learns, from a constant
        // output; layer 0 gets nothing through the dead units.
        assert_eq!(found(&dead(1.0)), one("1", AllDead));
        assert_eq!(
            found(&dead(0.5)),
            vec![("0".to_owned(), NoGradient), ("2".to_owned(), Vanishing)]
        );
        // A layer that is parametric and dead: its own gradient is judged,
        // the next layer's input is dead.
        let mut prelu = activation("1", 1.0);
        prelu.params = parametric("1", 1e-9).params;
        let layers = [
            parametric("0", 0.0),
            prelu,
            parametric("2", 0.0),
            parametric("3", 1.0),
        ];
        assert_eq!(
            found(&layers),
            vec![("1".to_owned(), Vanishing), ("1".to_owned(), AllDead)]
        );
    }
}
