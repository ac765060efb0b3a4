//! [`GradCheck`]: compares a layer's `backward` with finite differences.

use std::fmt;

use ndarray::{Array2, ArrayD, ArrayRef2, Dimension};
use ndarray_rand::rand::{rngs::StdRng, SeedableRng};
use ndarray_rand::rand_distr::StandardNormal;
use ndarray_rand::RandomExt;

use crate::error::Readable;
use crate::sequential::{in_layer, short_type_name, DynLayer, Token};
use crate::validate::hyper;
use crate::{DenseLayer, Float, Layer, LayerError, PReluLayer, Result, Sequential};

const NAME: &str = "GradCheck";

/// The default step in `f32`: 2⁻⁸, the power of two nearest `ε^(1/3)`
/// (`ε = 2⁻²³`, f32's machine epsilon).
const F32_EPS: f64 = 1.0 / 256.0;

/// The default absolute and relative tolerances in `f32`: 2⁻¹⁰ =
/// `32·ε / eps`.
const F32_TOL: f64 = 1.0 / 1024.0;

/// A finite-difference gradient checker for any [`Layer`], in `f64` or
/// `f32`.
///
/// [`check`](GradCheck::check) draws a random upstream gradient `G` (seeded,
/// so runs repeat) and takes `L = sum(G ⊙ layer(x))`. One `forward` and
/// `backward` give the analytic dL/dx and every parameter gradient; central
/// differences `(L(v+eps) − L(v−eps)) / 2eps` of `predict` give the numeric
/// ones, element by element, for the input and every parameter. An element
/// passes if `|analytic − numeric| <= atol + rtol·|numeric|`.
///
/// Rectifiers have kinks, where the central difference is meaningless. An
/// element whose `±eps` step crosses one (in this layer or anywhere after
/// it) shows as one-sided differences that disagree beyond the tolerance;
/// it is counted as skipped, not checked. A crossed kink moves the central
/// difference by half as much as it splits the one-sided ones, so it is not
/// reported as a failure (unless two kinks within `eps` on either side
/// cancel out); a wrong `backward` on smooth ground leaves the one-sided
/// differences in agreement and is caught.
///
/// A [`Sequential`] is checked layer by layer, each layer at the input that
/// reaches it in the network, and the report names the layers that fail
/// (see [`check`](GradCheck::check)).
///
/// # Element types
///
/// A layer is checked in its own element type, as it runs: `G` is drawn in
/// `f64` and rounded to the type, the perturbed elements are `v ± eps`
/// rounded to the type, and `predict` computes in it. Only the sums that
/// make `L` are taken in `f64`, over the differences of the outputs, which
/// are exact there; the steps are the true ones, `(v + eps) − v` in the
/// type. So an `f32` layer is checked as it is, with no `f64` twin (which a
/// layer of your own may not have).
///
/// The defaults depend on the element type, unless set
/// ([`with_eps`](Self::with_eps), [`with_atol`](Self::with_atol),
/// [`with_rtol`](Self::with_rtol) set them for both):
///
/// | | eps | atol | rtol |
/// | --- | --- | --- | --- |
/// | `f64` | `1e-6` | `1e-5` | `1e-3` |
/// | `f32` | `2⁻⁸ ≈ 3.9e-3` | `2⁻¹⁰ ≈ 9.8e-4` | `2⁻¹⁰ ≈ 9.8e-4` |
///
/// In `f64` they are `torch.autograd.gradcheck`'s. In `f32` they follow from
/// its machine epsilon `ε = 2⁻²³`. A central difference has two errors:
/// truncation, of order `eps²` (none on the straight pieces of a piecewise
/// linear network), and the rounding of the outputs, about
/// `ε·Σ|G ⊙ y| / eps` for outputs `y`, which `eps = 2⁻⁸ ≈ ε^(1/3)` balances
/// (as a power of two, `v ± eps` is exact for `|v| < 2¹⁶`). The rounding
/// error is then about `2⁻¹⁵·Σ|G ⊙ y|`, and the tolerances, `32·ε / eps =
/// 2⁻¹⁰`, leave room for `Σ|G ⊙ y|` of 32 over the outputs one element
/// moves: a network of unit-sized activations and a few dozen outputs per
/// element, such as an MLP of a few layers of 16 to 64 units on standardized
/// data. Outputs or gradients much larger than 1 need a larger `atol`. A
/// `backward` off by 1% still fails wherever its gradient is above
/// about 0.1 in magnitude (`0.01·|g| > 2⁻¹⁰·(1 + |g|)`), and kinks within
/// `2⁻⁸` of an element skip it. Measured on 200 random MLPs 8 → 16 → 16 →
/// 16 → 4 (Dense, ReLU, LeakyReLU, PReLU; a batch of 8 standard normal
/// inputs), the worst correct element used 0.29 of its tolerance, and every
/// 1% error planted in a layer's backward exceeded its tolerance at least
/// 6.8 times. Smaller tolerances catch smaller errors with less room for
/// the rounding: set them with the `with_` methods.
///
/// # Examples
///
/// ```
/// use rectify::{ndarray::array, GradCheck, LeakyReluLayer};
///
/// let mut leaky = LeakyReluLayer::new(0.2)?;
/// let x = array![[-1.5, 0.0, 2.0], [3e-7, -4.0, 0.5]];
/// let report = GradCheck::default().check(&mut leaky, &x)?;
/// assert!(report.passed(), "{report}");
/// assert_eq!((report.checked(), report.skipped()), (4, 2)); // 0.0 and 3e-7 sit at the kink
/// # Ok::<(), rectify::LayerError>(())
/// ```
///
/// The same layer in `f32`, with `f32`'s defaults:
///
/// ```
/// use rectify::{ndarray::array, GradCheck, LeakyReluLayer};
///
/// let mut leaky = LeakyReluLayer::new(0.2)?;
/// let x = array![[-1.5f32, 0.0, 2.0], [3e-3, -4.0, 0.5]];
/// let report = GradCheck::default().check(&mut leaky, &x)?;
/// assert!(report.passed(), "{report}");
/// assert_eq!((report.checked(), report.skipped()), (4, 2)); // 3e-3 is within 2⁻⁸ of the kink
/// assert_eq!(GradCheck::default().eps_in::<f32>(), 1.0 / 256.0);
/// # Ok::<(), rectify::LayerError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GradCheck {
    /// Set by `with_eps`, else the element type's default.
    eps: Option<f64>,
    atol: Option<f64>,
    rtol: Option<f64>,
    seed: u64,
}

impl Default for GradCheck {
    /// The element type's default eps, atol and rtol (see [`GradCheck`]),
    /// seed 0.
    fn default() -> Self {
        GradCheck {
            eps: None,
            atol: None,
            rtol: None,
            seed: 0,
        }
    }
}

/// The default (eps, atol, rtol) of a check in `A`.
fn defaults<A: Float>() -> (f64, f64, f64) {
    if A::NARROW {
        (F32_EPS, F32_TOL, F32_TOL)
    } else {
        (1e-6, 1e-5, 1e-3)
    }
}

/// Every value is finite, else the first that is not, as an error.
fn finite<'a, A: Float>(name: &'static str, values: impl IntoIterator<Item = &'a A>) -> Result<()> {
    let reason = "must be finite for finite differences";
    values.into_iter().try_for_each(|&v| {
        let v = v.widen();
        hyper(NAME, name, v)
            .require(v.is_finite(), reason)
            .map(drop)
    })
}

impl GradCheck {
    /// The same checker with finite-difference step `eps`, in every element
    /// type (rounded to `f32` in an `f32` check).
    ///
    /// # Errors
    ///
    /// [`LayerError::InvalidParameter`] naming the value unless `eps` is
    /// finite and positive.
    ///
    /// # Examples
    ///
    /// ```
    /// use rectify::GradCheck;
    ///
    /// assert_eq!(GradCheck::default().with_eps(1e-4)?.eps(), 1e-4);
    /// let err = GradCheck::default().with_eps(0.0).unwrap_err();
    /// assert_eq!(err.to_string(), "GradCheck: invalid eps = 0: must be finite and positive");
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn with_eps(mut self, eps: f64) -> Result<Self> {
        self.eps = Some(hyper(NAME, "eps", eps).positive()?);
        Ok(self)
    }

    /// The same checker with absolute tolerance `atol`, in every element
    /// type.
    ///
    /// # Errors
    ///
    /// [`LayerError::InvalidParameter`] naming the value unless `atol` is
    /// finite and non-negative.
    ///
    /// # Examples
    ///
    /// ```
    /// use rectify::GradCheck;
    ///
    /// assert_eq!(GradCheck::default().with_atol(1e-7)?.atol(), 1e-7);
    /// assert!(GradCheck::default().with_atol(f64::NAN).is_err());
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn with_atol(mut self, atol: f64) -> Result<Self> {
        self.atol = Some(hyper(NAME, "atol", atol).non_negative()?);
        Ok(self)
    }

    /// The same checker with relative tolerance `rtol`, in every element
    /// type.
    ///
    /// # Errors
    ///
    /// [`LayerError::InvalidParameter`] naming the value unless `rtol` is
    /// finite and non-negative.
    ///
    /// # Examples
    ///
    /// ```
    /// use rectify::GradCheck;
    ///
    /// assert_eq!(GradCheck::default().with_rtol(0.0)?.rtol(), 0.0);
    /// assert!(GradCheck::default().with_rtol(-1e-3).is_err());
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn with_rtol(mut self, rtol: f64) -> Result<Self> {
        self.rtol = Some(hyper(NAME, "rtol", rtol).non_negative()?);
        Ok(self)
    }

    /// The same checker drawing its upstream gradient from `seed`.
    ///
    /// # Examples
    ///
    /// ```
    /// use rectify::GradCheck;
    ///
    /// assert_eq!(GradCheck::default().with_seed(7).seed(), 7);
    /// ```
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The finite-difference step of an `f64` check: the one set, else
    /// `1e-6`. [`eps_in`](Self::eps_in) gives it for either type.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(rectify::GradCheck::default().eps(), 1e-6);
    /// ```
    pub fn eps(&self) -> f64 {
        self.eps_in::<f64>()
    }

    /// The absolute tolerance of an `f64` check: the one set, else `1e-5`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(rectify::GradCheck::default().atol(), 1e-5);
    /// ```
    pub fn atol(&self) -> f64 {
        self.atol_in::<f64>()
    }

    /// The relative tolerance of an `f64` check: the one set, else `1e-3`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(rectify::GradCheck::default().rtol(), 1e-3);
    /// ```
    pub fn rtol(&self) -> f64 {
        self.rtol_in::<f64>()
    }

    /// The finite-difference step of a check in `A`: the one set, else
    /// `A`'s default (see [`GradCheck`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use rectify::GradCheck;
    ///
    /// assert_eq!(GradCheck::default().eps_in::<f32>(), 2f64.powi(-8));
    /// assert_eq!(GradCheck::default().eps_in::<f64>(), 1e-6);
    /// assert_eq!(GradCheck::default().with_eps(1e-3)?.eps_in::<f32>(), 1e-3);
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn eps_in<A: Float>(&self) -> f64 {
        self.eps.unwrap_or(defaults::<A>().0)
    }

    /// The absolute tolerance of a check in `A`: the one set, else `A`'s
    /// default (see [`GradCheck`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use rectify::GradCheck;
    ///
    /// assert_eq!(GradCheck::default().atol_in::<f32>(), 2f64.powi(-10));
    /// assert_eq!(GradCheck::default().with_atol(0.0)?.atol_in::<f32>(), 0.0);
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn atol_in<A: Float>(&self) -> f64 {
        self.atol.unwrap_or(defaults::<A>().1)
    }

    /// The relative tolerance of a check in `A`: the one set, else `A`'s
    /// default (see [`GradCheck`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use rectify::GradCheck;
    ///
    /// assert_eq!(GradCheck::default().rtol_in::<f32>(), 2f64.powi(-10));
    /// assert_eq!(GradCheck::default().rtol_in::<f64>(), 1e-3);
    /// ```
    pub fn rtol_in<A: Float>(&self) -> f64 {
        self.rtol.unwrap_or(defaults::<A>().2)
    }

    /// The seed of the upstream gradient.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(rectify::GradCheck::default().seed(), 0);
    /// ```
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Checks `layer`'s input and parameter gradients at `input`, in the
    /// layer's element type `A` (`f64` or `f32`, with its default tolerances
    /// unless set: see [`GradCheck`]).
    ///
    /// Costs one `forward`, one `backward` and two `predict`s per input and
    /// parameter element: meant for small layers and batches. Afterwards the
    /// layer holds the cache and parameter gradients of that one training
    /// pass, and its parameter values are bit-identical to before, also when
    /// an error is returned.
    ///
    /// An input with no rows checks nothing: it has no elements, and with no
    /// samples `L` is an empty sum, 0 at every parameter value, so every
    /// parameter gradient is 0 both ways, a wrong `backward`'s too. The
    /// report then counts nothing and has not
    /// [`passed`](GradCheckReport::passed), as for a parameter-free layer.
    /// The layer's `forward`, `backward` and `predict` still run on it, so
    /// their errors and the shape checks below still apply.
    ///
    /// # A `Sequential`, layer by layer
    ///
    /// A [`Sequential`] (or a box of one) is checked one layer at a time:
    /// `input` runs forward through its layers in order, and each layer is
    /// checked alone, as above, on the input that reaches it in the network
    /// and with an upstream gradient of its own, through the calls the
    /// network makes (`forward_owned` and `backward_owned` after the first
    /// layer). A `Sequential` nested in it is walked the same way. So a wrong
    /// `backward` in layer `k` fails the check of layer `k` alone: the
    /// layers before it, whose input gradients in the whole network would be
    /// wrong only because of it, pass, and a kink in a later layer hides
    /// nothing in an earlier one.
    ///
    /// The report adds up the counts of every layer. Its text names the
    /// layer of the worst element by its path (`2`, or `1.0` for layer 0 of
    /// a `Sequential` at index 1) and type, and a parameter by its index in
    /// that layer's `params()` (`parameter 0`), or, in a [`DenseLayer`] and
    /// a [`PReluLayer`], by its name in a safetensors file (`weight`,
    /// `bias`): `layer 2 (DenseLayer) weight [0, 2]`.
    /// [`failing_layers`](GradCheckReport::failing_layers) lists the paths
    /// of the layers whose own check failed. Afterwards the network holds
    /// one pass of its own (a `forward` and a `backward` of the whole, with
    /// an upstream gradient drawn as for a layer), and its parameters are
    /// bit-identical to before. An empty `Sequential` is checked as one
    /// layer, the identity; any other container, one of your own, as one
    /// layer, through the whole of it.
    ///
    /// # Errors
    ///
    /// - [`LayerError::InvalidParameter`] if an input or parameter element
    ///   is NaN or infinite (no finite differences there), or so large that
    ///   `eps` vanishes beside it (`|v| > 2^52·eps` or so in `f64`,
    ///   `2^23·eps` in `f32`), or if `eps` overflows `A` (above `f32::MAX`)
    ///   or rounds to 0 in it;
    /// - any error of the layer's `forward`, `backward` or `predict`;
    /// - [`LayerError::ShapeMismatch`] if the layer is inconsistent with
    ///   itself: its input gradient does not have the input's shape, a
    ///   parameter gradient not its parameter's, or `predict` not
    ///   `forward`'s output shape.
    ///
    /// In a `Sequential`, each of these errors of layer `k`'s check (an
    /// infinite input that layer `k - 1` gave it, say) comes back as
    /// [`LayerError::InSequential`] with `index: k`, as the network's own
    /// errors do.
    ///
    /// # Examples
    ///
    /// ```
    /// use rectify::{ndarray::array, GradArray, GradCheck, ReluLayer};
    ///
    /// let report = GradCheck::default().check(&mut ReluLayer::new(), &array![[1.0, -2.0]])?;
    /// assert!(report.passed());
    /// let worst = report.worst().unwrap();
    /// assert_eq!(worst.array, GradArray::Input);
    /// assert!(worst.error <= worst.tolerance);
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    ///
    /// A network, layer by layer:
    ///
    /// ```
    /// use rectify::rand::{rngs::StdRng, SeedableRng};
    /// use rectify::{ndarray::array, DenseLayer, GradCheck, ReluLayer, Sequential};
    ///
    /// let mut rng = StdRng::seed_from_u64(1);
    /// let mut net = Sequential::new();
    /// net.push(DenseLayer::new(3, 4, &mut rng))
    ///     .push(ReluLayer::new())
    ///     .push(DenseLayer::new(4, 2, &mut rng));
    /// let report = GradCheck::default().check(&mut net, &array![[0.5, -1.0, 2.0], [1.5, 0.2, -0.3]])?;
    /// assert!(report.passed(), "{report}");
    /// assert!(report.failing_layers().is_empty());
    /// // the dense layers' inputs and parameters, and the activation's input
    /// assert_eq!(report.checked() + report.skipped(), (6 + 12 + 4) + 8 + (8 + 8 + 2));
    /// assert!(report.to_string().contains("worst: layer "), "{report}");
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    /// A network in `f32`, whose second layer's backward is off by 1%,
    /// caught and named:
    ///
    /// ```
    /// use rectify::ndarray::{array, Array2, ArrayRef2};
    /// use rectify::{GradCheck, Layer, ReluLayer, Result, Sequential};
    ///
    /// /// `y = 2x`, with a backward of `2.02·g`.
    /// struct Double;
    ///
    /// impl Layer<f32> for Double {
    ///     fn forward(&mut self, x: &ArrayRef2<f32>) -> Result<Array2<f32>> {
    ///         self.predict(x)
    ///     }
    ///     fn backward(&mut self, g: &ArrayRef2<f32>) -> Result<Array2<f32>> {
    ///         Ok(g * 2.02)
    ///     }
    ///     fn predict(&self, x: &ArrayRef2<f32>) -> Result<Array2<f32>> {
    ///         Ok(x * 2.0)
    ///     }
    /// }
    ///
    /// let mut net = Sequential::<f32>::new();
    /// net.push(ReluLayer::new()).push(Double);
    /// let report = GradCheck::default().check(&mut net, &array![[1.0, -2.0], [0.5, 3.0]])?;
    /// assert!(!report.passed());
    /// assert_eq!(report.failing_layers(), vec!["1"]);
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn check<A: Float>(
        &self,
        layer: &mut dyn Layer<A>,
        input: &ArrayRef2<A>,
    ) -> Result<GradCheckReport> {
        let run = self.run::<A>()?;
        if let Some(net) = layer.__as_sequential(Token(())) {
            if !net.is_empty() {
                return run.check_network(net, input);
            }
        }
        run.check_layer(layer, input, false)
            .map(|(report, _)| report)
    }

    /// The settings of a check in `A`.
    fn run<A: Float>(&self) -> Result<Run> {
        let eps = self.eps_in::<A>();
        let rounded = A::hyper(NAME, "eps", eps)?;
        hyper(NAME, "eps", eps).require(rounded > A::zero(), "rounds to 0 in the element type")?;
        Ok(Run {
            eps,
            atol: self.atol_in::<A>(),
            rtol: self.rtol_in::<A>(),
            seed: self.seed,
        })
    }
}

/// The settings of one check, resolved for its element type.
#[derive(Debug, Clone, Copy)]
struct Run {
    eps: f64,
    atol: f64,
    rtol: f64,
    seed: u64,
}

impl Run {
    /// Checks one layer at `input`, through `forward_owned` and
    /// `backward_owned` if `owned` (as a `Sequential` calls a layer after
    /// its first); the report and the layer's forward output.
    fn check_layer<A: Float>(
        &self,
        layer: &mut dyn Layer<A>,
        input: &ArrayRef2<A>,
        owned: bool,
    ) -> Result<(GradCheckReport, Array2<A>)> {
        // forward first: it refuses an input too large to process (a huge
        // broadcast view) before anything walks its elements.
        let output = if owned {
            layer.forward_owned(input.to_owned())?
        } else {
            layer.forward(input)?
        };
        finite("input element", input)?;
        let upstream = self.upstream::<A>(output.dim());
        let grad_input = if owned {
            layer.backward_owned(upstream.clone())?
        } else {
            layer.backward(&upstream)?
        };
        same_shape("input gradient", input.shape(), grad_input.shape())?;
        let mut params = Vec::new();
        for p in layer.params() {
            same_shape("parameter gradient", p.value.shape(), p.grad.shape())?;
            finite("parameter element", &p.value)?;
            params.push((p.value.to_owned(), p.grad.to_owned()));
        }
        let base = layer.predict(input)?;
        same_shape("predict output", output.shape(), base.shape())?;

        let numeric = Numeric {
            settings: self,
            base: &base.mapv(A::widen),
            upstream: &upstream.mapv(A::widen),
        };
        let report = numeric.run(layer, input, &grad_input, &params)?;
        Ok((report, output))
    }

    /// Checks a non-empty `net` layer by layer, then leaves it one pass of
    /// its own.
    fn check_network<A: Float>(
        &self,
        net: &mut Sequential<A>,
        input: &ArrayRef2<A>,
    ) -> Result<GradCheckReport> {
        let mut report = GradCheckReport::default();
        self.check_layers(net, "", input, false, &mut report)?;
        let output = net.forward(input)?;
        net.backward(&self.upstream::<A>(output.dim()))?;
        Ok(report)
    }

    /// Checks `net`'s layers in order, each at the forward output of the
    /// ones before it (at `input` first, borrowed unless `owned`), into
    /// `report`, their paths after `prefix`; the last layer's output.
    fn check_layers<A: Float>(
        &self,
        net: &mut Sequential<A>,
        prefix: &str,
        input: &ArrayRef2<A>,
        owned: bool,
        report: &mut GradCheckReport,
    ) -> Result<Array2<A>> {
        let mut x: Option<Array2<A>> = None;
        for (i, layer) in net.layers_mut().enumerate() {
            let at: &ArrayRef2<A> = x.as_deref().unwrap_or(input);
            let owned = owned || x.is_some();
            let path = format!("{prefix}{i}");
            let output = match layer.__as_sequential(Token(())) {
                Some(inner) if !inner.is_empty() => {
                    self.check_layers(inner, &format!("{path}."), at, owned, report)
                }
                _ => self
                    .check_layer(layer, at, owned)
                    .map(|(layer_report, output)| {
                        report.merge(layer_report, Site::new(path, layer));
                        output
                    }),
            };
            x = Some(output.map_err(in_layer(i))?);
        }
        Ok(x.unwrap_or_else(|| input.to_owned()))
    }

    /// The upstream gradient `G` for an output of shape `dim`: drawn in
    /// `f64`, rounded to `A`.
    fn upstream<A: Float>(&self, dim: (usize, usize)) -> Array2<A> {
        let mut rng = StdRng::seed_from_u64(self.seed);
        let g = Array2::<f64>::random_using(dim, StandardNormal, &mut rng);
        g.mapv(A::round_from)
    }

    /// `atol + rtol·|numeric|`.
    fn tolerance(&self, numeric: f64) -> f64 {
        self.atol + self.rtol * numeric.abs()
    }
}

/// The numeric half of a check: the unperturbed output and `G`, widened
/// to `f64`.
struct Numeric<'a> {
    settings: &'a Run,
    base: &'a Array2<f64>,
    upstream: &'a Array2<f64>,
}

impl Numeric<'_> {
    /// Compares the analytic gradient of every input element, then of every
    /// parameter element (`params` holds each value and gradient), with
    /// finite differences. Each element is restored after its probe, before
    /// any error of the probe is returned.
    fn run<A: Float>(
        &self,
        layer: &mut dyn Layer<A>,
        input: &ArrayRef2<A>,
        grad_input: &Array2<A>,
        params: &[(ArrayD<A>, ArrayD<A>)],
    ) -> Result<GradCheckReport> {
        let mut report = GradCheckReport::default();
        if input.nrows() == 0 {
            // No samples: nothing to probe (see `GradCheck::check`).
            return Ok(report);
        }
        let mut x = input.to_owned();
        for ((r, c), &analytic) in grad_input.indexed_iter() {
            let original = x[[r, c]];
            let numeric = self.probe(original, |v| {
                x[[r, c]] = v;
                layer.predict(&x)
            });
            x[[r, c]] = original;
            let analytic = analytic.widen();
            report.add(self.compare(GradArray::Input, vec![r, c], analytic, numeric?));
        }
        for (k, (values, grad)) in params.iter().enumerate() {
            for ((index, &original), &analytic) in values.indexed_iter().zip(grad) {
                let numeric = self.probe(original, |v| {
                    layer.params()[k].value[index.clone()] = v;
                    layer.predict(input)
                });
                layer.params()[k].value[index.clone()] = original;
                let index = index.slice().to_vec();
                let analytic = analytic.widen();
                report.add(self.compare(GradArray::Param(k), index, analytic, numeric?));
            }
        }
        Ok(report)
    }

    /// dL/dv by central differences, where `eval(v)` is the layer's output
    /// with one element set to `v`; `None` if a kink lies within `eps`.
    fn probe<A: Float>(
        &self,
        v: A,
        mut eval: impl FnMut(A) -> Result<Array2<A>>,
    ) -> Result<Option<f64>> {
        let eps = A::round_from(self.settings.eps);
        let (up, down) = (v + eps, v - eps);
        let (step_up, step_down) = ((up - v).widen(), (v - down).widen());
        let ok = step_up > 0.0 && step_down > 0.0;
        let reason = "is lost in rounding next to";
        hyper(NAME, "eps", self.settings.eps).require_against(
            ok,
            reason,
            ("the element", v.widen()),
        )?;
        let (plus, minus) = (eval(up)?, eval(down)?);
        same_shape("predict output", self.base.shape(), plus.shape())?;
        same_shape("predict output", self.base.shape(), minus.shape())?;
        let (plus, minus) = (plus.mapv(A::widen), minus.mapv(A::widen));
        // Differences of outputs before summing, in f64, where those of f32
        // outputs are exact: exact zeros where the element has no effect,
        // so a large L adds no rounding error. The steps are the true ones,
        // not eps, as v ± eps rounds.
        let dl = |a: &Array2<f64>, b: &Array2<f64>| (self.upstream * &(a - b)).sum();
        let right = dl(&plus, self.base) / step_up;
        let left = dl(self.base, &minus) / step_down;
        let central = dl(&plus, &minus) / (step_up + step_down);
        // NaN differences are not a kink: they fail the comparison below.
        let near_kink = (right - left).abs() > self.settings.tolerance(central);
        Ok((!near_kink).then_some(central))
    }

    fn compare(
        &self,
        array: GradArray,
        index: Vec<usize>,
        analytic: f64,
        numeric: Option<f64>,
    ) -> Option<ElementCheck> {
        numeric.map(|numeric| ElementCheck {
            array,
            index,
            analytic,
            numeric,
            error: (analytic - numeric).abs(),
            tolerance: self.settings.tolerance(numeric),
        })
    }
}

fn same_shape(what: &'static str, expected: &[usize], actual: &[usize]) -> Result<()> {
    if expected == actual {
        Ok(())
    } else {
        Err(LayerError::shape(NAME, "check", what, expected, actual))
    }
}

/// Which array a checked element belongs to.
///
/// # Examples
///
/// ```
/// use rectify::GradArray;
///
/// assert_eq!(GradArray::Input.to_string(), "input");
/// assert_eq!(GradArray::Param(1).to_string(), "parameter 1");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GradArray {
    /// The layer's input.
    Input,
    /// Parameter `k`, in the order of [`Layer::params`] (in a
    /// [`Sequential`], of the layer that
    /// [`worst_layer`](GradCheckReport::worst_layer) names).
    Param(usize),
}

impl fmt::Display for GradArray {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GradArray::Input => write!(f, "input"),
            GradArray::Param(k) => write!(f, "parameter {k}"),
        }
    }
}

/// One element's analytic and numeric gradient.
///
/// # Examples
///
/// ```
/// use rectify::{ndarray::array, GradArray, GradCheck, ReluLayer};
///
/// let report = GradCheck::default().check(&mut ReluLayer::new(), &array![[2.0]])?;
/// let e = report.worst().unwrap();
/// assert_eq!((e.array, e.index.as_slice()), (GradArray::Input, &[0, 0][..]));
/// assert!((e.analytic - e.numeric).abs() == e.error && e.error <= e.tolerance);
/// # Ok::<(), rectify::LayerError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ElementCheck {
    /// The array the element is in.
    pub array: GradArray,
    /// The element's index in that array.
    pub index: Vec<usize>,
    /// The gradient from `backward`.
    pub analytic: f64,
    /// The gradient from central differences.
    pub numeric: f64,
    /// `|analytic − numeric|`.
    pub error: f64,
    /// `atol + rtol·|numeric|`: the element passes if `error <= tolerance`.
    pub tolerance: f64,
}

impl ElementCheck {
    /// Whether the element is within tolerance (false if either side is NaN).
    ///
    /// # Examples
    ///
    /// ```
    /// use rectify::{ElementCheck, GradArray};
    ///
    /// let e = ElementCheck { array: GradArray::Input, index: vec![0, 0], analytic: 1.0,
    ///                        numeric: 1.5, error: 0.5, tolerance: 1e-3 };
    /// assert!(!e.passed());
    /// ```
    pub fn passed(&self) -> bool {
        self.error <= self.tolerance
    }

    /// How far out of tolerance: `error / tolerance`, infinite for NaN.
    fn badness(&self) -> f64 {
        match self.error / self.tolerance {
            r if r.is_nan() && self.error == 0.0 => 0.0,
            r if r.is_nan() => f64::INFINITY,
            r => r,
        }
    }
}

impl ElementCheck {
    /// The element's index and values, after the name of its array.
    fn write_values(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            " {:?}: analytic {}, numeric {}, error {:.3e} (tolerance {:.3e})",
            self.index,
            Readable(self.analytic),
            Readable(self.numeric),
            self.error,
            self.tolerance
        )
    }
}

impl fmt::Display for ElementCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.array)?;
        self.write_values(f)
    }
}

/// A layer of a network, as a report names it: its path, type and
/// parameter names.
#[derive(Debug, Clone, PartialEq)]
struct Site {
    /// `"2"`, or `"1.0"` for layer 0 of a `Sequential` at index 1.
    path: String,
    /// The type's name without module paths.
    type_name: String,
    /// The names of its `params()` where the crate knows them (their
    /// safetensors names), else empty.
    names: &'static [&'static str],
}

impl Site {
    fn new<A: Float>(path: String, layer: &dyn DynLayer<A>) -> Self {
        let any = layer.as_any();
        let names: &'static [&'static str] = if any.is::<DenseLayer<A>>() {
            &["weight", "bias"]
        } else if any.is::<PReluLayer<A>>() {
            &["weight"]
        } else {
            &[]
        };
        Site {
            path,
            type_name: short_type_name(layer.__type_name(Token(()))),
            names,
        }
    }

    /// `element` after its layer: `layer 3 (DenseLayer) weight [0, 2]: …`.
    fn write_element(&self, f: &mut fmt::Formatter<'_>, element: &ElementCheck) -> fmt::Result {
        write!(f, "layer {self} ")?;
        match element.array {
            GradArray::Param(k) if k < self.names.len() => write!(f, "{}", self.names[k])?,
            array => write!(f, "{array}")?,
        }
        element.write_values(f)
    }
}

/// `2 (Scale)`.
impl fmt::Display for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.path, self.type_name)
    }
}

/// The outcome of [`GradCheck::check`]: counts and the worst element; for
/// a [`Sequential`], summed over its layers, with the paths of the layers
/// that failed ([`failing_layers`](Self::failing_layers)) and of the one
/// that holds the worst element ([`worst_layer`](Self::worst_layer)).
///
/// # Examples
///
/// ```
/// use rectify::{ndarray::array, GradCheck, ReluLayer};
///
/// let report = GradCheck::default().check(&mut ReluLayer::new(), &array![[1.0, 0.0, -1.0]])?;
/// assert_eq!((report.checked(), report.skipped(), report.failed()), (2, 1, 0));
/// assert!(report.to_string().starts_with("gradient check passed: 2 elements checked, 1 skipped"));
/// # Ok::<(), rectify::LayerError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GradCheckReport {
    checked: usize,
    skipped: usize,
    failed: usize,
    worst: Option<ElementCheck>,
    /// In a network, the layer that holds `worst`.
    worst_site: Option<Site>,
    /// In a network, the layers whose own check failed, in order.
    failing: Vec<Site>,
}

impl GradCheckReport {
    /// True if at least one element was checked and none failed. A check
    /// that could only skip (everything near a kink), or had nothing to check
    /// (an input with no rows), has not passed.
    ///
    /// # Examples
    ///
    /// ```
    /// use rectify::{ndarray::{array, Array2}, DenseLayer, GradCheck, ReluLayer};
    ///
    /// let report = GradCheck::default().check(&mut ReluLayer::new(), &array![[0.0]])?;
    /// assert!(!report.passed() && report.failed() == 0 && report.skipped() == 1);
    ///
    /// let mut dense = DenseLayer::from_parts(array![[1.0], [2.0]], array![0.5])?;
    /// let report = GradCheck::default().check(&mut dense, &Array2::zeros((0, 2)))?;
    /// assert!(!report.passed() && report.checked() == 0);
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn passed(&self) -> bool {
        self.checked > 0 && self.failed == 0
    }

    /// How many elements were compared.
    ///
    /// # Examples
    ///
    /// ```
    /// use rectify::{ndarray::array, GradCheck, ReluLayer};
    ///
    /// let report = GradCheck::default().check(&mut ReluLayer::new(), &array![[1.0, 2.0]])?;
    /// assert_eq!(report.checked(), 2);
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn checked(&self) -> usize {
        self.checked
    }

    /// How many elements were skipped because a kink lies within `eps`.
    ///
    /// # Examples
    ///
    /// ```
    /// use rectify::{ndarray::array, GradCheck, ReluLayer};
    ///
    /// let report = GradCheck::default().check(&mut ReluLayer::new(), &array![[-0.0, 5e-7]])?;
    /// assert_eq!(report.skipped(), 2);
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn skipped(&self) -> usize {
        self.skipped
    }

    /// How many checked elements were out of tolerance.
    ///
    /// # Examples
    ///
    /// ```
    /// use rectify::{ndarray::array, GradCheck, ReluLayer};
    ///
    /// let report = GradCheck::default().check(&mut ReluLayer::new(), &array![[3.0]])?;
    /// assert_eq!(report.failed(), 0);
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn failed(&self) -> usize {
        self.failed
    }

    /// The checked element furthest out of (or closest to leaving) its
    /// tolerance, by `error / tolerance`; `None` if nothing was checked.
    ///
    /// # Examples
    ///
    /// ```
    /// use rectify::{ndarray::array, GradCheck, ReluLayer};
    ///
    /// let report = GradCheck::default().check(&mut ReluLayer::new(), &array![[0.0]])?;
    /// assert!(report.worst().is_none());
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn worst(&self) -> Option<&ElementCheck> {
        self.worst.as_ref()
    }

    /// The paths of the layers of a [`Sequential`](crate::Sequential)
    /// whose own check failed, in network order: `"2"` for layer 2, `"1.0"`
    /// for layer 0 of a `Sequential` at index 1 (see
    /// [`GradCheck::check`]). Empty if no layer failed, and for a check of
    /// a layer that is not a `Sequential`.
    ///
    /// # Examples
    ///
    /// A layer that multiplies by 3, whose `backward` forgets the factor:
    ///
    /// ```
    /// use rectify::ndarray::{array, Array2, ArrayRef2};
    /// use rectify::{GradCheck, Layer, ReluLayer, Result, Sequential};
    ///
    /// struct Triple;
    ///
    /// impl Layer for Triple {
    ///     fn forward(&mut self, x: &ArrayRef2<f64>) -> Result<Array2<f64>> {
    ///         self.predict(x)
    ///     }
    ///     fn backward(&mut self, g: &ArrayRef2<f64>) -> Result<Array2<f64>> {
    ///         Ok(g.to_owned()) // should be 3·g
    ///     }
    ///     fn predict(&self, x: &ArrayRef2<f64>) -> Result<Array2<f64>> {
    ///         Ok(x * 3.0)
    ///     }
    /// }
    ///
    /// let mut inner = Sequential::new();
    /// inner.push(Triple).push(ReluLayer::new());
    /// let mut net = Sequential::new();
    /// net.push(ReluLayer::new()).push(inner);
    ///
    /// let report = GradCheck::default().check(&mut net, &array![[1.0, 2.0], [0.5, -1.0]])?;
    /// assert!(!report.passed());
    /// assert_eq!(report.failing_layers(), vec!["1.0"]);
    /// assert_eq!(report.worst_layer(), Some("1.0"));
    /// assert!(report.to_string().contains("worst: layer 1.0 (Triple) input ["), "{report}");
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn failing_layers(&self) -> Vec<String> {
        self.failing.iter().map(|site| site.path.clone()).collect()
    }

    /// The path of the layer of a [`Sequential`](crate::Sequential) that
    /// holds the [`worst`](Self::worst) element (`"2"`, `"1.0"`), whose
    /// [`GradArray::Param`] then counts in that layer's `params()`; `None`
    /// if nothing was checked, or for a check of a layer that is not a
    /// `Sequential`. See [`failing_layers`](Self::failing_layers) for an
    /// example.
    pub fn worst_layer(&self) -> Option<&str> {
        self.worst_site.as_ref().map(|site| site.path.as_str())
    }

    /// Adds the report of one layer of a network, `site`.
    fn merge(&mut self, layer: GradCheckReport, site: Site) {
        self.checked += layer.checked;
        self.skipped += layer.skipped;
        self.failed += layer.failed;
        if layer.failed > 0 {
            self.failing.push(site.clone());
        }
        if let Some(e) = layer.worst {
            if (self.worst.as_ref()).is_none_or(|w| e.badness() > w.badness()) {
                self.worst = Some(e);
                self.worst_site = Some(site);
            }
        }
    }

    /// Counts one probe: `None` was skipped near a kink.
    fn add(&mut self, element: Option<ElementCheck>) {
        let Some(e) = element else {
            self.skipped += 1;
            return;
        };
        self.checked += 1;
        self.failed += usize::from(!e.passed());
        if self
            .worst
            .as_ref()
            .is_none_or(|w| e.badness() > w.badness())
        {
            self.worst = Some(e);
        }
    }
}

impl fmt::Display for GradCheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = if self.passed() { "passed" } else { "FAILED" };
        write!(
            f,
            "gradient check {verdict}: {} elements checked, {} skipped near kinks",
            self.checked, self.skipped
        )?;
        if self.failed > 0 {
            write!(f, ", {} out of tolerance", self.failed)?;
        }
        if let Some((first, rest)) = self.failing.split_first() {
            let s = if rest.is_empty() { "" } else { "s" };
            write!(f, " in layer{s} {first}")?;
            for site in rest {
                write!(f, ", {site}")?;
            }
        }
        match (&self.worst, &self.worst_site) {
            (Some(worst), Some(site)) => {
                write!(f, "; worst: ")?;
                site.write_element(f, worst)
            }
            (Some(worst), None) => write!(f, "; worst: {worst}"),
            (None, _) => write!(f, "; nothing was checked"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use ndarray::{array, s, Array1, Axis};

    use super::*;
    use crate::{AtZero, LeakyReluLayer, Param, ReluLayer};

    fn check(layer: &mut dyn Layer, x: &ArrayRef2<f64>) -> GradCheckReport {
        GradCheck::default().check(layer, x).unwrap()
    }

    /// neuronika's bug: the negative side returns `slope`, not `slope·g`.
    struct ForgetfulLeaky {
        slope: f64,
        input: Option<Array2<f64>>,
    }

    impl Layer for ForgetfulLeaky {
        fn forward(&mut self, x: &ArrayRef2<f64>) -> Result<Array2<f64>> {
            self.input = Some(x.to_owned());
            self.predict(x)
        }
        fn backward(&mut self, g: &ArrayRef2<f64>) -> Result<Array2<f64>> {
            let x = self.input.as_ref().unwrap();
            Ok(ndarray::Zip::from(x)
                .and(g)
                .map_collect(|&x, &g| if x > 0.0 { g } else { self.slope }))
        }
        fn predict(&self, x: &ArrayRef2<f64>) -> Result<Array2<f64>> {
            Ok(x.mapv(|x| if x > 0.0 { x } else { self.slope * x }))
        }
    }

    #[derive(Clone, Copy, PartialEq)]
    enum Bug {
        None,
        TransposedWeightGrad,
        DoubledBiasGrad,
        MeanBiasGrad,
        TransposedInputGrad,
        TransposedPredict,
    }

    /// `y = x·W + b` with a 3×3 weight, and optionally a bug.
    struct Dense {
        w: Array2<f64>,
        b: Array1<f64>,
        dw: Array2<f64>,
        db: Array1<f64>,
        input: Option<Array2<f64>>,
        bug: Bug,
    }

    impl Dense {
        fn new(bug: Bug) -> Self {
            Dense {
                w: array![[0.5, -1.2, 0.3], [0.8, 0.1, -0.7], [-0.4, 0.9, 1.1]],
                b: array![-0.5, -0.2, 0.3],
                dw: Array2::zeros((3, 3)),
                db: Array1::zeros(3),
                input: None,
                bug,
            }
        }
        fn affine(&self, x: &ArrayRef2<f64>) -> Result<Array2<f64>> {
            if x.ncols() != 3 {
                return Err(LayerError::shape(
                    "Dense",
                    "forward",
                    "input",
                    &[x.nrows(), 3],
                    x.shape(),
                ));
            }
            Ok(x.dot(&self.w) + &self.b)
        }
    }

    impl Layer for Dense {
        fn forward(&mut self, x: &ArrayRef2<f64>) -> Result<Array2<f64>> {
            let y = self.affine(x)?;
            self.input = Some(x.to_owned());
            Ok(y)
        }
        fn backward(&mut self, g: &ArrayRef2<f64>) -> Result<Array2<f64>> {
            let x = self.input.as_ref().unwrap();
            let dw = x.t().dot(g);
            self.dw = if self.bug == Bug::TransposedWeightGrad {
                dw.reversed_axes()
            } else {
                dw
            };
            self.db = match self.bug {
                Bug::DoubledBiasGrad => 2.0 * g.sum_axis(Axis(0)),
                Bug::MeanBiasGrad => g.mean_axis(Axis(0)).unwrap(),
                _ => g.sum_axis(Axis(0)),
            };
            let dx = g.dot(&self.w.t());
            Ok(if self.bug == Bug::TransposedInputGrad {
                dx.reversed_axes()
            } else {
                dx
            })
        }
        fn predict(&self, x: &ArrayRef2<f64>) -> Result<Array2<f64>> {
            let y = self.affine(x)?;
            Ok(if self.bug == Bug::TransposedPredict {
                y.reversed_axes()
            } else {
                y
            })
        }
        fn params(&mut self) -> Vec<Param<'_>> {
            vec![
                Param {
                    value: self.w.view_mut().into_dyn(),
                    grad: self.dw.view().into_dyn(),
                },
                Param {
                    value: self.b.view_mut().into_dyn(),
                    grad: self.db.view().into_dyn(),
                },
            ]
        }
    }

    /// A minimal Sequential.
    struct Chain(Vec<Box<dyn Layer>>);

    impl Layer for Chain {
        fn forward(&mut self, x: &ArrayRef2<f64>) -> Result<Array2<f64>> {
            self.0
                .iter_mut()
                .try_fold(x.to_owned(), |x, l| l.forward(&x))
        }
        fn backward(&mut self, g: &ArrayRef2<f64>) -> Result<Array2<f64>> {
            self.0
                .iter_mut()
                .rev()
                .try_fold(g.to_owned(), |g, l| l.backward(&g))
        }
        fn predict(&self, x: &ArrayRef2<f64>) -> Result<Array2<f64>> {
            self.0.iter().try_fold(x.to_owned(), |x, l| l.predict(&x))
        }
        fn params(&mut self) -> Vec<Param<'_>> {
            self.0.iter_mut().flat_map(|l| l.params()).collect()
        }
    }

    /// A correct Dense whose `predict` fails after `left` calls.
    struct FailAfter {
        inner: Dense,
        left: Cell<usize>,
    }

    impl Layer for FailAfter {
        fn forward(&mut self, x: &ArrayRef2<f64>) -> Result<Array2<f64>> {
            self.inner.forward(x)
        }
        fn backward(&mut self, g: &ArrayRef2<f64>) -> Result<Array2<f64>> {
            self.inner.backward(g)
        }
        fn predict(&self, x: &ArrayRef2<f64>) -> Result<Array2<f64>> {
            let left = self.left.get();
            if left == 0 {
                return Err(LayerError::InvalidParameter {
                    layer: "FailAfter",
                    name: "calls",
                    value: 0.0,
                    reason: "spent",
                    bound: None,
                });
            }
            self.left.set(left - 1);
            self.inner.predict(x)
        }
        fn params(&mut self) -> Vec<Param<'_>> {
            self.inner.params()
        }
    }

    /// 12 values, 5 of them within eps = 1e-6 of the kink at 0.
    fn near_zero() -> Array2<f64> {
        array![
            [-1.5, 0.0, -0.0, 3e-7],
            [-5e-7, 2.0, 0.7, -0.3],
            [9e-7, 1.2, -2.5, 4.0]
        ]
    }

    fn x() -> Array2<f64> {
        array![[1.0, -2.0, 0.5], [0.3, 0.7, -1.1]]
    }

    fn bits(layer: &mut dyn Layer) -> Vec<Vec<u64>> {
        layer
            .params()
            .iter()
            .map(|p| p.value.iter().map(|v| v.to_bits()).collect())
            .collect()
    }

    #[test]
    fn defaults_are_pytorchs_and_setters_validate() {
        let c = GradCheck::default();
        assert_eq!(
            (c.eps(), c.atol(), c.rtol(), c.seed()),
            (1e-6, 1e-5, 1e-3, 0)
        );
        for (bad, printed) in [
            (0.0, "0"),
            (-1e-6, "-1e-6"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "inf"),
        ] {
            let err = c.with_eps(bad).unwrap_err();
            assert!(
                matches!(err, LayerError::InvalidParameter { name: "eps", .. }),
                "{err}"
            );
            assert!(err.to_string().contains(&format!("= {printed}:")), "{err}");
        }
        for bad in [-1e-9, f64::NAN, f64::NEG_INFINITY] {
            assert!(matches!(
                c.with_atol(bad),
                Err(LayerError::InvalidParameter { name: "atol", .. })
            ));
            assert!(matches!(
                c.with_rtol(bad),
                Err(LayerError::InvalidParameter { name: "rtol", .. })
            ));
        }
        let c = c
            .with_eps(1e-4)
            .unwrap()
            .with_atol(0.0)
            .unwrap()
            .with_rtol(2e-2)
            .unwrap()
            .with_seed(9);
        assert_eq!(
            (c.eps(), c.atol(), c.rtol(), c.seed()),
            (1e-4, 0.0, 2e-2, 9)
        );
    }

    #[test]
    fn rectifiers_pass_and_skip_exactly_the_elements_near_zero() {
        let layers: Vec<Box<dyn Layer>> = vec![
            Box::new(ReluLayer::new()),
            Box::new(ReluLayer::new().at_zero(AtZero::Active)),
            Box::new(LeakyReluLayer::new(0.01).unwrap()),
            Box::new(LeakyReluLayer::new(0.2).unwrap()),
            Box::new(LeakyReluLayer::new(-0.5).unwrap().at_zero(AtZero::Active)),
        ];
        let x = near_zero();
        for mut layer in layers {
            for input in [x.view(), x.t()] {
                let report = check(layer.as_mut(), &input);
                assert!(report.passed(), "{report}");
                assert_eq!((report.checked(), report.skipped()), (7, 5), "{report}");
            }
            let report = check(layer.as_mut(), &x.slice(s![..;2, 1..]));
            assert_eq!(
                (report.checked(), report.skipped(), report.passed()),
                (3, 3, true),
                "{report}"
            );
        }
    }

    #[test]
    fn forgetting_the_upstream_gradient_is_caught() {
        let x = x();
        let report = check(
            &mut ForgetfulLeaky {
                slope: 0.2,
                input: None,
            },
            &x,
        );
        assert!(!report.passed(), "{report}");
        assert_eq!(report.failed(), 2, "one per negative input: {report}");
        let worst = report.worst().unwrap();
        assert_eq!(worst.array, GradArray::Input);
        assert!(x[[worst.index[0], worst.index[1]]] < 0.0, "{report}");
        assert_eq!(worst.analytic, 0.2);
        assert!(check(&mut LeakyReluLayer::new(0.2).unwrap(), &x).passed());
    }

    #[test]
    fn a_transposed_weight_gradient_is_caught() {
        let report = check(&mut Dense::new(Bug::TransposedWeightGrad), &x());
        assert!(!report.passed(), "{report}");
        assert_eq!(report.failed(), 6, "the off-diagonal weights: {report}");
        let worst = report.worst().unwrap();
        assert_eq!(worst.array, GradArray::Param(0));
        assert_ne!(worst.index[0], worst.index[1]);
        assert!(
            report
                .to_string()
                .starts_with("gradient check FAILED: 18 elements checked"),
            "{report}"
        );
        assert!(
            report.to_string().contains("worst: parameter 0 ["),
            "{report}"
        );

        let report = check(&mut Dense::new(Bug::None), &x());
        assert!(report.passed(), "{report}");
        assert_eq!((report.checked(), report.skipped()), (6 + 9 + 3, 0));
    }

    #[test]
    fn a_mis_scaled_bias_gradient_is_caught() {
        for bug in [Bug::DoubledBiasGrad, Bug::MeanBiasGrad] {
            let report = check(&mut Dense::new(bug), &x());
            assert_eq!(report.failed(), 3, "{report}");
            assert_eq!(
                report.worst().unwrap().array,
                GradArray::Param(1),
                "{report}"
            );
        }
    }

    #[test]
    fn kinks_downstream_are_skipped_and_bugs_upstream_of_them_caught() {
        // Row 0's first pre-activation is 1·0.5 + (−0.5) = 0 exactly: every
        // input of row 0, W[0][0] and b[0] move it across ReLU's kink.
        let x = array![[1.0, 0.0, 0.0], [0.3, -1.2, 2.0]];
        let mut net = Chain(vec![
            Box::new(Dense::new(Bug::None)),
            Box::new(ReluLayer::new()),
        ]);
        let report = check(&mut net, &x);
        assert!(report.passed(), "{report}");
        assert_eq!((report.checked(), report.skipped()), (13, 5), "{report}");

        let mut net = Chain(vec![
            Box::new(Dense::new(Bug::MeanBiasGrad)),
            Box::new(ReluLayer::new()),
        ]);
        let report = check(&mut net, &x);
        assert_eq!(
            report.worst().unwrap().array,
            GradArray::Param(1),
            "{report}"
        );
        assert!(!report.passed());
    }

    #[test]
    fn parameters_are_restored_bit_for_bit_also_after_an_error() {
        let mut dense = Dense::new(Bug::None);
        dense.w[[0, 1]] = -0.0;
        dense.w[[2, 2]] = 0.1 + 0.2;
        dense.b[1] = 0.25; // 0.25 + 1e-6 - 1e-6 != 0.25
        let before = bits(&mut dense);
        check(&mut dense, &x());
        assert_eq!(bits(&mut dense), before);

        // 1 base predict, 2 per input element, then fails inside W[1][1]'s probe.
        let mut failing = FailAfter {
            inner: dense,
            left: Cell::new(1 + 2 * 6 + 2 * 4 + 1),
        };
        let err = GradCheck::default().check(&mut failing, &x()).unwrap_err();
        assert!(matches!(
            err,
            LayerError::InvalidParameter {
                layer: "FailAfter",
                ..
            }
        ));
        assert_eq!(bits(&mut failing), before);
    }

    #[test]
    fn inconsistent_layers_and_bad_inputs_are_errors() {
        let c = GradCheck::default();
        let shape_error = |bug| c.check(&mut Dense::new(bug), &x()).unwrap_err();
        assert_eq!(
            shape_error(Bug::TransposedInputGrad),
            LayerError::shape(NAME, "check", "input gradient", &[2, 3], &[3, 2])
        );
        assert_eq!(
            shape_error(Bug::TransposedPredict),
            LayerError::shape(NAME, "check", "predict output", &[2, 3], &[3, 2])
        );
        let err = c.check(&mut Dense::new(Bug::None), &x().t()).unwrap_err();
        assert_eq!(
            err,
            LayerError::shape("Dense", "forward", "input", &[3, 3], &[3, 2])
        );

        let err = c
            .check(&mut ReluLayer::new(), &array![[1.0, 1e11]])
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "GradCheck: invalid eps = 1e-6: is lost in rounding next to the element = 100000000000"
        );
        let coarse = c.with_eps(1e-4).unwrap();
        assert!(coarse
            .check(&mut ReluLayer::new(), &array![[1e11]])
            .unwrap()
            .passed());
        let err = c
            .check(&mut ReluLayer::new(), &array![[1.0, f64::NAN]])
            .unwrap_err();
        assert!(
            matches!(
                err,
                LayerError::InvalidParameter {
                    name: "input element",
                    ..
                }
            ),
            "{err}"
        );
        let mut dense = Dense::new(Bug::None);
        dense.b[2] = f64::INFINITY;
        let err = c.check(&mut dense, &x()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "GradCheck: invalid parameter element = inf: must be finite for finite differences"
        );
    }

    #[test]
    fn an_empty_batch_checks_nothing_and_does_not_pass() {
        let empty = Array2::<f64>::zeros((0, 3));
        let relu = check(&mut ReluLayer::new(), &empty);
        assert_eq!(
            relu.to_string(),
            "gradient check FAILED: 0 elements checked, 0 skipped near kinks; nothing was checked"
        );
        let dense = crate::DenseLayer::from_parts(Array2::ones((3, 2)), Array1::ones(2)).unwrap();
        let mut layers: Vec<Box<dyn Layer>> = vec![
            Box::new(Dense::new(Bug::None)),
            Box::new(Dense::new(Bug::DoubledBiasGrad)),
            Box::new(Dense::new(Bug::TransposedWeightGrad)),
            Box::new(dense),
        ];
        for layer in &mut layers {
            let report = check(layer.as_mut(), &empty);
            assert!(!report.passed(), "{report}");
            assert_eq!(report, relu);
        }
        // With samples, the bugs that an empty batch hides are caught.
        assert!(!check(layers[1].as_mut(), &x()).passed());
        assert!(!check(layers[2].as_mut(), &x()).passed());
        assert!(check(layers[0].as_mut(), &x()).passed());
    }

    #[test]
    fn an_element_prints_its_gradients_readably() {
        let e = ElementCheck {
            array: GradArray::Param(1),
            index: vec![2],
            analytic: 0.5,
            numeric: -1e-300,
            error: 0.5,
            tolerance: 1e-5,
        };
        assert_eq!(
            e.to_string(),
            "parameter 1 [2]: analytic 0.5, numeric -1e-300, error 5.000e-1 (tolerance 1.000e-5)"
        );
    }

    #[test]
    fn a_network_report_names_the_crates_parameters_and_adds_up() {
        let element = |array, error| ElementCheck {
            array,
            index: vec![0, 2],
            analytic: 1.0,
            numeric: 1.0 + error,
            error,
            tolerance: 0.5,
        };
        let single = |e: ElementCheck| {
            let mut report = GradCheckReport::default();
            report.add(Some(e));
            report.add(None);
            report
        };
        let dense =
            crate::DenseLayer::<f64>::from_parts(Array2::ones((3, 3)), Array1::ones(3)).unwrap();
        let prelu = crate::PReluLayer::<f64>::new(3, 0.25).unwrap();
        let mut report = GradCheckReport::default();
        report.merge(
            single(element(GradArray::Param(1), 0.25)),
            Site::new("0".into(), &dense),
        );
        report.merge(
            single(element(GradArray::Param(0), 2.0)),
            Site::new("3".into(), &dense),
        );
        report.merge(
            single(element(GradArray::Param(0), 1.0)),
            Site::new("4.1".into(), &prelu),
        );
        report.merge(
            single(element(GradArray::Param(1), 4.0)),
            Site::new("5".into(), &Dense::new(Bug::None)),
        );
        assert_eq!(
            (report.checked(), report.skipped(), report.failed()),
            (4, 4, 3)
        );
        assert_eq!(report.failing_layers(), vec!["3", "4.1", "5"]);
        assert_eq!(report.worst_layer(), Some("5"));
        assert_eq!(
            report.to_string(),
            "gradient check FAILED: 4 elements checked, 4 skipped near kinks, 3 out of tolerance \
             in layers 3 (DenseLayer), 4.1 (PReluLayer), 5 (Dense); worst: layer 5 (Dense) \
             parameter 1 [0, 2]: analytic 1, numeric 5, error 4.000e0 (tolerance 5.000e-1)"
        );
        report.worst = Some(element(GradArray::Param(0), 2.0));
        report.worst_site = Some(Site::new("3".into(), &dense));
        assert!(
            report.to_string().ends_with("; worst: layer 3 (DenseLayer) weight [0, 2]: analytic 1, numeric 3, error 2.000e0 (tolerance 5.000e-1)"),
            "{report}"
        );
        report.worst_site = Some(Site::new("4.1".into(), &prelu));
        assert!(report
            .to_string()
            .contains("; worst: layer 4.1 (PReluLayer) weight [0, 2]: "));
        report.worst = Some(element(GradArray::Param(1), 2.0));
        assert!(report
            .to_string()
            .contains("; worst: layer 4.1 (PReluLayer) parameter 1 [0, 2]: "));
        report.worst = Some(element(GradArray::Input, 2.0));
        report.worst_site = Some(Site::new("0".into(), &dense));
        assert!(report
            .to_string()
            .contains("; worst: layer 0 (DenseLayer) input [0, 2]: "));
    }

    #[test]
    fn seeded_and_repeatable() {
        let c = GradCheck::default().with_seed(5);
        let a = c
            .check(&mut Dense::new(Bug::TransposedWeightGrad), &x())
            .unwrap();
        let b = c
            .check(&mut Dense::new(Bug::TransposedWeightGrad), &x())
            .unwrap();
        assert_eq!(a, b);
        let other = GradCheck::default()
            .check(&mut Dense::new(Bug::TransposedWeightGrad), &x())
            .unwrap();
        assert_ne!(a.worst().unwrap().numeric, other.worst().unwrap().numeric);
    }
}
