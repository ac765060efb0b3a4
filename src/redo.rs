//! [`Redo`]: recycling dormant units (Sokar, Agarwal, Castro and Evci,
//! ICML 2023).

use ndarray::{Array1, Array2, ArrayRef2, ArrayViewMutD, Axis};
use ndarray_rand::rand::Rng;

use crate::sequential::{in_layer, DynLayer, Token};
use crate::validate::hyper;
use crate::{Adam, DenseLayer, Float, Layer, LayerError, Param, Result, Sequential, Sgd};

const NAME: &str = "Redo";

/// The names the rectifier family's layers give through
/// [`Layer::__type_name`](crate::Layer::__type_name): `"ReluLayer"`, ….
macro_rules! names {
    ($($layer:ident),* $(,)?) => {
        &[$(stringify!($layer)),*]
    };
}
const RECTIFIERS: &[&str] = crate::family!(names);

/// ReDo, *recycling dormant units*: Sokar, Agarwal, Castro and Evci, "The
/// Dormant Neuron Phenomenon in Deep Reinforcement Learning", ICML 2023
/// (arXiv:2302.12902). Every so many steps, the hidden units that have
/// stopped contributing are given new incoming weights and their outgoing
/// weights are set to zero, so that they can learn again without changing
/// what the network computes (exactly so for units whose output was 0).
///
/// # Score
///
/// For a unit `j` of a hidden activation layer, with outputs `h` on a
/// batch, the score is its mean `|h_j|` over the batch divided by the mean
/// of that over the layer's units:
///
/// ```text
/// s_j = mean_b |h_bj| / ((1 / units) · Σ_k mean_b |h_bk|)
/// ```
///
/// and the unit is *dormant* if `s_j ≤ τ`. With `τ = 0` that is exactly a
/// unit whose output is 0 on every sample of the batch: for ReLU, a dead
/// unit (pre-activation `≤ 0` everywhere). If every output of the layer is
/// 0 (the layer's mean is 0), every unit is dormant. A unit with a NaN
/// output is never dormant (its score is NaN), and a NaN in a layer leaves
/// only its all-zero units dormant. The sums are in `f64`, so an `f32`
/// network scores as an `f64` one would.
///
/// # Recycling
///
/// [`recycle`](Self::recycle) looks for every run `DenseLayer → rectifier →
/// DenseLayer` in the network's layers, in order: the rectifier is any
/// member of the family (ReLU, Leaky ReLU, PReLU, RReLU, ReLU6, Threshold),
/// pushed as itself or boxed, and each `DenseLayer` is pushed as itself (a
/// boxed `DenseLayer` is not recognised, as [`Sequential::layer`] does not
/// see through boxes). Nested `Sequential`s are walked as if flattened, so
/// a run may lie within one `Sequential` or cross into a nested one (a
/// `Dense → ReLU` block followed by the next block's `Dense`); layers are
/// named by their path, `"1.0"` for layer 0 of a `Sequential` at index 1,
/// as [`GradientFlow`](crate::GradientFlow) names them. Other layers are
/// passed through and left alone. For each dormant unit `j` of a run's
/// rectifier, in network order and then unit order:
///
/// - its incoming weights (column `j` of the first `DenseLayer`'s `W`, of
///   shape `(inputs, outputs)`) and its bias are drawn again by that
///   layer's [`init`](DenseLayer::init), from `rng`: exactly what
///   `DenseLayer::with_init(inputs, 1, init, rng)` would draw, its weights
///   as the column and its bias as the bias (He's bias is 0; RAI draws the
///   unit's row `[w…, b]` with its one Beta entry);
/// - its outgoing weights (row `j` of the next `DenseLayer`'s `W`) become
///   exactly 0, so that whatever its new incoming weights, the unit adds
///   nothing to the next layer until training moves them. If its outputs on
///   the batch were 0 (at τ = 0 every recycled unit's were), the network's
///   outputs on the batch do not change, bit for bit; a unit recycled for
///   a low but nonzero score takes away what it added. Where that row
///   crosses the column of a unit recycled in the next run
///   (the next layer's own dormant unit), the entry is that unit's new
///   incoming weight: the runs are recycled in order, and the later draw
///   is written last;
/// - the optimizer's state for exactly those entries (the column, the bias
///   element and the row) becomes 0: [`Sgd`]'s velocities, [`Adam`]'s
///   `exp_avg` and `exp_avg_sq`. Adam's step count is one for the whole
///   network and is left as it is (the paper resets the moments only), so
///   the recycled entries' next step has its bias corrections of step
///   `t + 1`, not of step 1.
///
/// Nothing else changes: every other parameter and state element keeps its
/// bits, and so do the rectifiers (a PReLU's slopes too), the gradients of
/// the last backward and the forward caches. The score comes from
/// [`predict`](crate::Layer::predict), so a later `backward` still refers to
/// the last `forward` (with the new parameters, as after an optimizer
/// step); recycle between a step and the next forward, so that no step
/// uses the old gradients on the new weights.
///
/// # Examples
///
/// ```
/// use rectify::rand::{rngs::StdRng, SeedableRng};
/// use rectify::{ndarray::array, DenseLayer, Layer, Redo, ReluLayer, Sequential, Sgd};
///
/// // Unit 2's bias of −10 keeps it below zero on every input below.
/// let mut net = Sequential::new();
/// net.push(DenseLayer::from_parts(array![[1.0, -1.0, 0.5, 2.0]], array![0.0, 0.0, -10.0, 0.0])?)
///     .push(ReluLayer::new())
///     .push(DenseLayer::from_parts(array![[1.0], [1.0], [1.0], [1.0]], array![0.0])?);
/// let batch = array![[1.0], [2.0], [-1.0]];
/// let before = net.predict(&batch)?;
///
/// let mut sgd = Sgd::new(0.1)?.with_momentum(0.9)?;
/// let mut rng = StdRng::seed_from_u64(0);
/// let report = Redo::new(0.0)?.recycle(&mut net, &mut sgd, &batch, &mut rng)?;
/// assert_eq!(report.units(), [("1".to_string(), 2)]); // layer 1, unit 2
///
/// let hidden: &DenseLayer = net.layer(0).unwrap();
/// assert_eq!(hidden.bias()[2], 0.0); // He-normal: a new column, bias 0
/// let output: &DenseLayer = net.layer(2).unwrap();
/// assert_eq!(output.weights()[[2, 0]], 0.0);
/// assert_eq!(net.predict(&batch)?, before);
/// # Ok::<(), rectify::LayerError>(())
/// ```
///
/// In a training loop, every `k` steps:
///
/// ```
/// use rectify::rand::{rngs::StdRng, SeedableRng};
/// use rectify::{loss, ndarray::array, Adam, DenseLayer, Layer, Redo, ReluLayer, Sequential};
///
/// let mut rng = StdRng::seed_from_u64(0);
/// let mut net = Sequential::<f32>::new();
/// net.push(DenseLayer::new(2, 16, &mut rng))
///     .push(ReluLayer::new())
///     .push(DenseLayer::new(16, 2, &mut rng));
/// let (x, labels) = (array![[0.5f32, -1.0], [2.0, 0.3], [-0.7, 0.8]], [0, 1, 1]);
/// let (mut adam, redo) = (Adam::new(1e-2)?, Redo::new(0.1)?);
/// for step in 1..=20 {
///     let (_, grad) = loss::softmax_cross_entropy(&net.forward(&x)?, &labels)?;
///     net.backward(&grad)?;
///     adam.step(&mut net)?;
///     if step % 10 == 0 {
///         let report = redo.recycle(&mut net, &mut adam, &x, &mut rng)?;
///         assert!(report.fraction() <= 1.0);
///     }
/// }
/// # Ok::<(), rectify::LayerError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Redo {
    tau: f64,
}

impl Redo {
    /// ReDo with threshold `tau` (τ): a unit is dormant if its score is at
    /// most `tau`. The paper uses 0 to 0.1; 0 recycles exactly the units
    /// whose output is 0 on the whole batch.
    ///
    /// # Errors
    ///
    /// [`LayerError::InvalidParameter`] naming the value unless `tau` is
    /// finite and not negative.
    ///
    /// ```
    /// use rectify::Redo;
    ///
    /// assert_eq!(Redo::new(0.025)?.tau(), 0.025);
    /// let err = Redo::new(-0.1).unwrap_err();
    /// assert_eq!(err.to_string(), "Redo: invalid tau = -0.1: must be finite and non-negative");
    /// assert!(Redo::new(f64::NAN).is_err() && Redo::new(f64::INFINITY).is_err());
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn new(tau: f64) -> Result<Self> {
        let tau = hyper(NAME, "tau", tau).non_negative()?;
        Ok(Redo { tau })
    }

    /// The threshold τ.
    pub fn tau(&self) -> f64 {
        self.tau
    }

    /// The dormant units of `net` on `batch`, as [`recycle`](Self::recycle)
    /// finds them, without changing anything.
    ///
    /// # Errors
    ///
    /// [`LayerError::EmptyBatch`] if `batch` has no rows, and `net`'s
    /// [`predict`](crate::Layer::predict) error (a batch of the wrong
    /// width: [`LayerError::ShapeMismatch`] in
    /// [`LayerError::InSequential`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use rectify::{ndarray::array, DenseLayer, LeakyReluLayer, Redo, Sequential};
    ///
    /// let mut net = Sequential::new();
    /// net.push(DenseLayer::from_parts(array![[1.0, 1.0]], array![0.0, 0.0])?)
    ///     .push(LeakyReluLayer::new(0.01)?)
    ///     .push(DenseLayer::from_parts(array![[1.0], [1.0]], array![0.0])?);
    /// // Leaky ReLU's outputs are 0 only at 0: no unit is dormant at τ = 0.
    /// let report = Redo::new(0.0)?.dormant(&mut net, &array![[1.0], [-2.0]])?;
    /// assert!(report.is_empty());
    /// assert_eq!(report.layers(), [("1".to_string(), 2)]);
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn dormant<A: Float>(
        &self,
        net: &mut Sequential<A>,
        batch: &ArrayRef2<A>,
    ) -> Result<RedoReport> {
        let mut leaves = Vec::new();
        flatten(net, "", &[], &mut leaves);
        Ok(self.find("dormant", &leaves, batch)?.0)
    }

    /// Recycles the dormant units of `net` on `batch` (see the
    /// [type](Self)): new incoming weights from `rng`, zero outgoing
    /// weights, zero `optimizer` state for those entries. The report lists
    /// the units recycled.
    ///
    /// `optimizer` is the one that steps `net`, [`Sgd`] or [`Adam`]; before
    /// its first step (or, for `Sgd`, without momentum) it has no state,
    /// and there is none to reset.
    ///
    /// # Errors
    ///
    /// As [`dormant`](Self::dormant), and, as a step of `optimizer` would
    /// report them, [`LayerError::StateMismatch`] if its state does not fit
    /// `net`'s parameters (another network) and
    /// [`LayerError::StateElementType`] if it is of the other element type.
    /// Everything is checked before anything is drawn or written: after an
    /// error, `net`, `optimizer` and `rng` are as they were.
    ///
    /// # Examples
    ///
    /// ```
    /// use rectify::rand::{rngs::StdRng, SeedableRng};
    /// use rectify::{ndarray::array, Adam, DenseLayer, LayerError, Redo, ReluLayer, Sequential};
    ///
    /// let mut rng = StdRng::seed_from_u64(0);
    /// let mut net = Sequential::<f64>::new();
    /// net.push(DenseLayer::new(2, 4, &mut rng))
    ///     .push(ReluLayer::new())
    ///     .push(DenseLayer::new(4, 1, &mut rng));
    ///
    /// // An Adam that has stepped another network.
    /// let mut adam = Adam::new(0.1)?;
    /// adam.step(&mut DenseLayer::<f64>::new(3, 3, &mut rng))?;
    /// let err = Redo::new(0.0)?.recycle(&mut net, &mut adam, &array![[1.0, 2.0]], &mut rng);
    /// assert!(matches!(err, Err(LayerError::StateMismatch { layer: "Adam", .. })));
    ///
    /// let wide = array![[1.0, 2.0, 3.0]];
    /// let err = Redo::new(0.0)?.recycle(&mut net, &mut Adam::new(0.1)?, &wide, &mut rng);
    /// assert_eq!(
    ///     err.unwrap_err().to_string(),
    ///     "Sequential layer 0: DenseLayer::predict: input has shape [1, 3], expected [1, 2]"
    /// );
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn recycle<A: Float>(
        &self,
        net: &mut Sequential<A>,
        optimizer: &mut impl Recyclable,
        batch: &ArrayRef2<A>,
        rng: &mut impl Rng,
    ) -> Result<RedoReport> {
        optimizer.__check(Token(()), &net.params())?;
        let mut leaves = Vec::new();
        flatten(net, "", &[], &mut leaves);
        let (report, runs) = self.find("recycle", &leaves, batch)?;
        if report.is_empty() {
            return Ok(report);
        }

        // Draw every unit's new weights, then write.
        let mut drawn = Vec::with_capacity(runs.len());
        for run in &runs {
            let dense = dense(&leaves[run.first]);
            let (inputs, init) = (dense.weights().nrows(), dense.init());
            let units = (run.dormant.iter())
                .map(|_| DenseLayer::<A>::try_with_init(inputs, 1, init, &mut *rng))
                .collect::<Result<Vec<_>>>()?;
            drawn.push(units);
        }

        let offsets = param_offsets(&mut leaves);
        let mut zeroed: Vec<(usize, Axis, usize)> = Vec::new();
        for (run, units) in runs.iter().zip(drawn) {
            let mut params = dense_mut(&mut leaves[run.first]).params();
            for (&j, unit) in run.dormant.iter().zip(&units) {
                params[0]
                    .value
                    .index_axis_mut(Axis(1), j)
                    .assign(&unit.weights().column(0));
                params[1]
                    .value
                    .index_axis_mut(Axis(0), j)
                    .fill(unit.bias()[0]);
            }
            drop(params);
            let mut next = dense_mut(&mut leaves[run.first + 2]).params();
            for &j in &run.dormant {
                next[0].value.index_axis_mut(Axis(0), j).fill(A::zero());
            }
            let (incoming, outgoing) = (offsets[run.first], offsets[run.first + 2]);
            for &j in &run.dormant {
                zeroed.extend([
                    (incoming, Axis(1), j),
                    (incoming + 1, Axis(0), j),
                    (outgoing, Axis(0), j),
                ]);
            }
        }
        optimizer.__reset(Token(()), &mut |param, mut state: ArrayViewMutD<'_, A>| {
            for &(_, axis, j) in zeroed.iter().filter(|(p, _, _)| *p == param) {
                state.index_axis_mut(axis, j).fill(A::zero());
            }
        });
        Ok(report)
    }

    /// The report and the runs with dormant units, from a `predict` of
    /// `batch` through `leaves`, for the method `operation`.
    fn find<A: Float>(
        &self,
        operation: &'static str,
        leaves: &[Leaf<'_, A>],
        batch: &ArrayRef2<A>,
    ) -> Result<(RedoReport, Vec<Run>)> {
        if batch.nrows() == 0 {
            return Err(LayerError::EmptyBatch {
                layer: NAME,
                operation,
                what: "batch",
                shape: batch.shape().to_vec(),
            });
        }
        let is_dense = |k: usize| {
            leaves
                .get(k)
                .is_some_and(|l| l.layer.as_any().is::<DenseLayer<A>>())
        };
        let is_rectifier = |k: usize| {
            (leaves.get(k)).is_some_and(|l| RECTIFIERS.contains(&l.layer.__type_name(Token(()))))
        };
        let mut report = RedoReport::default();
        let mut runs = Vec::new();
        let mut x: Option<Array2<A>> = None;
        for (k, leaf) in leaves.iter().enumerate() {
            let y = match &x {
                None => leaf.layer.predict(batch),
                Some(x) => leaf.layer.predict(x),
            };
            let y = y.map_err(|e| leaf.indices.iter().rev().fold(e, |e, &i| in_layer(i)(e)))?;
            if k > 0 && is_dense(k - 1) && is_rectifier(k) && is_dense(k + 1) {
                let dormant = dormant_units(&y, self.tau);
                report.layers.push((leaf.path.clone(), y.ncols()));
                (report.units).extend(dormant.iter().map(|&j| (leaf.path.clone(), j)));
                if !dormant.is_empty() {
                    runs.push(Run {
                        first: k - 1,
                        dormant,
                    });
                }
            }
            x = Some(y);
        }
        Ok((report, runs))
    }
}

/// The units of `h` whose score is at most `tau`.
fn dormant_units<A: Float>(h: &Array2<A>, tau: f64) -> Vec<usize> {
    // Σ_b |h_bj|: the batch size cancels out of the score.
    let mut sums = Array1::<f64>::zeros(h.ncols());
    for row in h.rows() {
        for (sum, v) in sums.iter_mut().zip(row) {
            *sum += v.widen().abs();
        }
    }
    let (total, units) = (sums.sum(), h.ncols() as f64);
    let dormant = |sum: f64| {
        if total == 0.0 || sum == 0.0 {
            return true;
        }
        // sum ≤ total, so this neither overflows nor reaches 0 but by
        // rounding: a unit with some output is never dormant for τ = 0.
        let score = sum / total * units;
        score <= tau && tau > 0.0
    };
    (sums.iter().enumerate())
        .filter(|&(_, &sum)| dormant(sum))
        .map(|(j, _)| j)
        .collect()
}

/// A run `DenseLayer → rectifier → DenseLayer` with dormant units: the
/// first `DenseLayer`'s position among the leaves, and the units.
#[derive(Debug)]
struct Run {
    first: usize,
    dormant: Vec<usize>,
}

/// A layer of the network that is not a `Sequential`, with its path.
struct Leaf<'a, A: Float> {
    /// `"1.0"` for layer 0 of a `Sequential` at index 1.
    path: String,
    /// The same as indices, outermost first, to wrap its errors.
    indices: Vec<usize>,
    layer: &'a mut (dyn DynLayer<A> + 'static),
}

/// Appends `net`'s layers to `out`, nested `Sequential`s walked in place.
fn flatten<'a, A: Float>(
    net: &'a mut Sequential<A>,
    prefix: &str,
    indices: &[usize],
    out: &mut Vec<Leaf<'a, A>>,
) {
    for (i, layer) in net.layers_mut().enumerate() {
        let (path, indices) = (format!("{prefix}{i}"), [indices, &[i]].concat());
        if layer.__as_sequential(Token(())).is_some() {
            let inner = layer.__as_sequential(Token(())).expect("a Sequential");
            flatten(inner, &format!("{path}."), &indices, out);
        } else {
            out.push(Leaf {
                path,
                indices,
                layer,
            });
        }
    }
}

/// The position in `net.params()` of each leaf's first parameter.
fn param_offsets<A: Float>(leaves: &mut [Leaf<'_, A>]) -> Vec<usize> {
    let mut offset = 0;
    (leaves.iter_mut())
        .map(|leaf| {
            let at = offset;
            offset += leaf.layer.params().len();
            at
        })
        .collect()
}

/// The leaf, a `DenseLayer` that [`Redo::find`] found.
fn dense<'l, A: Float>(leaf: &'l Leaf<'_, A>) -> &'l DenseLayer<A> {
    leaf.layer.as_any().downcast_ref().expect("a DenseLayer")
}

/// [`dense`], mutably.
fn dense_mut<'l, A: Float>(leaf: &'l mut Leaf<'_, A>) -> &'l mut DenseLayer<A> {
    leaf.layer
        .as_any_mut()
        .downcast_mut()
        .expect("a DenseLayer")
}

/// What [`Redo`] found: the dormant units, each by the path of its
/// activation layer (`"1"`, or `"1.0"` in a nested `Sequential`) and its
/// index there, in network order; and every activation layer it scored.
///
/// # Examples
///
/// ```
/// use rectify::{ndarray::array, DenseLayer, Redo, ReluLayer, Sequential};
///
/// let mut block = Sequential::new();
/// block.push(DenseLayer::from_parts(array![[1.0, -1.0, 2.0]], array![0.0, 0.0, 0.0])?)
///     .push(ReluLayer::new());
/// let mut net = Sequential::new();
/// net.push(block).push(DenseLayer::from_parts(array![[1.0], [1.0], [1.0]], array![0.0])?);
///
/// let report = Redo::new(0.0)?.dormant(&mut net, &array![[1.0], [3.0]])?;
/// assert_eq!(report.units(), [("0.1".to_string(), 1)]); // −x < 0 on both
/// assert_eq!(report.layers(), [("0.1".to_string(), 3)]);
/// assert_eq!((report.len(), report.fraction()), (1, 1.0 / 3.0));
/// # Ok::<(), rectify::LayerError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RedoReport {
    units: Vec<(String, usize)>,
    layers: Vec<(String, usize)>,
}

impl RedoReport {
    /// The dormant units, `(path of the activation layer, unit)`, in
    /// network order: those recycled, for [`Redo::recycle`].
    pub fn units(&self) -> &[(String, usize)] {
        &self.units
    }

    /// Every activation layer scored (the middle of a `DenseLayer →
    /// rectifier → DenseLayer` run), `(path, units)`, in network order.
    pub fn layers(&self) -> &[(String, usize)] {
        &self.layers
    }

    /// The number of dormant units.
    pub fn len(&self) -> usize {
        self.units.len()
    }

    /// Whether no unit is dormant.
    pub fn is_empty(&self) -> bool {
        self.units.is_empty()
    }

    /// The dormant units over the units scored; 0 if none were.
    pub fn fraction(&self) -> f64 {
        let scored: usize = self.layers.iter().map(|(_, units)| units).sum();
        self.units.len() as f64 / scored.max(1) as f64
    }
}

mod sealed {
    /// Implemented by `Sgd` and `Adam` only.
    pub trait Sealed {}
    impl Sealed for crate::Sgd {}
    impl Sealed for crate::Adam {}
}

/// An optimizer whose state [`Redo::recycle`] resets for the recycled
/// entries: [`Sgd`] (its velocities) and [`Adam`] (its moments). Sealed.
pub trait Recyclable: sealed::Sealed {
    /// Errors unless the state fits `params`, as a step would report. Not
    /// part of the API: its argument cannot be named outside the crate.
    #[doc(hidden)]
    fn __check<A: Float>(&self, _: Token, params: &[Param<'_, A>]) -> Result<()>;

    /// Hands `reset` every state tensor with its parameter's position in
    /// `params()`. Not part of the API, as above.
    #[doc(hidden)]
    fn __reset<A: Float>(&mut self, _: Token, reset: &mut dyn FnMut(usize, ArrayViewMutD<'_, A>));
}

/// Sgd's velocities, whenever it has them (a step with momentum has run).
impl Recyclable for Sgd {
    fn __check<A: Float>(&self, _: Token, params: &[Param<'_, A>]) -> Result<()> {
        self.velocity.checked("Sgd", params).map(drop)
    }

    fn __reset<A: Float>(&mut self, _: Token, reset: &mut dyn FnMut(usize, ArrayViewMutD<'_, A>)) {
        self.velocity.each_mut(reset);
    }
}

/// Adam's `exp_avg` and `exp_avg_sq`; not its step count.
impl Recyclable for Adam {
    fn __check<A: Float>(&self, _: Token, params: &[Param<'_, A>]) -> Result<()> {
        self.exp_avg.checked("Adam", params)?;
        self.exp_avg_sq.checked("Adam", params).map(drop)
    }

    fn __reset<A: Float>(&mut self, _: Token, reset: &mut dyn FnMut(usize, ArrayViewMutD<'_, A>)) {
        self.exp_avg.each_mut(&mut *reset);
        self.exp_avg_sq.each_mut(reset);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        ClippedReluLayer, LeakyReluLayer, Optimizer, PReluLayer, RReluLayer, ReluLayer,
        ThresholdLayer,
    };
    use ndarray::{array, s, ArrayD};
    use ndarray_rand::rand::{rngs::StdRng, SeedableRng};

    /// Dense(3 → 6) → ReLU → Dense(6 → 4) → ReLU → Dense(4 → 2), trained
    /// three steps by `optimizer` on 8 random points (loss ½‖y‖²), and the
    /// first of them, to score on: units active on the 8 and dead on the
    /// first have state to reset.
    fn trained<A: Float, O: Optimizer<A>>(optimizer: &mut O) -> (Sequential<A>, Array2<A>) {
        let mut rng = StdRng::seed_from_u64(3);
        let mut net = Sequential::<A>::new();
        net.push(DenseLayer::new(3, 6, &mut rng))
            .push(ReluLayer::new())
            .push(DenseLayer::new(6, 4, &mut rng))
            .push(ReluLayer::new())
            .push(DenseLayer::new(4, 2, &mut rng));
        let x = Array2::from_shape_fn((8, 3), |_| A::round_from(rng.random_range(-1.0..1.0)));
        for _ in 0..3 {
            let y = net.forward(&x).unwrap();
            net.backward(&y).unwrap();
            optimizer.step(&mut net).unwrap();
        }
        (net, x.slice(s![..1, ..]).to_owned())
    }

    /// Per parameter of [`trained`]'s network, which entries recycling the
    /// units of `report` resets.
    fn reset_entries(report: &RedoReport) -> Vec<ArrayD<bool>> {
        let shapes: [&[usize]; 6] = [&[3, 6], &[6], &[6, 4], &[4], &[4, 2], &[2]];
        let mut reset: Vec<_> = shapes
            .iter()
            .map(|s| ArrayD::from_elem(*s, false))
            .collect();
        for (path, j) in report.units() {
            let first = if path == "1" { 0 } else { 2 };
            reset[first].index_axis_mut(Axis(1), *j).fill(true);
            reset[first + 1][[*j]] = true;
            reset[first + 2].index_axis_mut(Axis(0), *j).fill(true);
        }
        reset
    }

    /// Each element of `after` is 0 where `reset`, else the bits of
    /// `before`'s; returns how many reset elements were not 0 before.
    fn reset_only<A: Float>(
        before: &[ArrayD<A>],
        after: &[ArrayD<A>],
        reset: &[ArrayD<bool>],
    ) -> usize {
        assert_eq!(before.len(), after.len());
        let mut nonzero = 0;
        for ((b, a), r) in before.iter().zip(after).zip(reset) {
            for ((b, a), &r) in b.iter().zip(a).zip(r) {
                if r {
                    assert_eq!(a.bits(), A::zero().bits());
                    nonzero += usize::from(*b != A::zero());
                } else {
                    assert_eq!(a.bits(), b.bits());
                }
            }
        }
        nonzero
    }

    fn sgd_state_is_reset_exactly_at_the_recycled_entries<A: Float>() {
        let mut sgd = Sgd::new(0.1).unwrap().with_momentum(0.9).unwrap();
        let (mut net, batch) = trained::<A, _>(&mut sgd);
        let before = sgd.velocity.get::<A>().unwrap().clone();
        let mut rng = StdRng::seed_from_u64(0);
        let report = Redo::new(0.0)
            .unwrap()
            .recycle(&mut net, &mut sgd, &batch, &mut rng);
        let report = report.unwrap();
        assert!(report.units().iter().any(|(p, _)| p == "1"), "{report:?}");
        assert!(report.units().iter().any(|(p, _)| p == "3"), "{report:?}");
        let after = sgd.velocity.get::<A>().unwrap();
        let nonzero = reset_only(&before, after, &reset_entries(&report));
        assert!(nonzero > 10, "{nonzero}");
    }

    fn adam_state_is_reset_exactly_at_the_recycled_entries<A: Float>() {
        let mut adam = Adam::new(0.01).unwrap();
        let (mut net, batch) = trained::<A, _>(&mut adam);
        let m = adam.exp_avg.get::<A>().unwrap().clone();
        let v = adam.exp_avg_sq.get::<A>().unwrap().clone();
        let mut rng = StdRng::seed_from_u64(0);
        let report = Redo::new(0.0)
            .unwrap()
            .recycle(&mut net, &mut adam, &batch, &mut rng);
        let report = report.unwrap();
        let reset = reset_entries(&report);
        let m = reset_only(&m, adam.exp_avg.get::<A>().unwrap(), &reset);
        let v = reset_only(&v, adam.exp_avg_sq.get::<A>().unwrap(), &reset);
        assert!(m > 10 && v > 10, "{m} {v} {report:?}");
        assert_eq!(adam.steps(), 3);
    }

    #[test]
    fn redo_resets_sgd_velocities_and_adam_moments_exactly_at_the_recycled_entries() {
        sgd_state_is_reset_exactly_at_the_recycled_entries::<f32>();
        sgd_state_is_reset_exactly_at_the_recycled_entries::<f64>();
        adam_state_is_reset_exactly_at_the_recycled_entries::<f32>();
        adam_state_is_reset_exactly_at_the_recycled_entries::<f64>();
    }

    #[test]
    fn redo_every_member_of_the_family_is_recognised_through_boxes_too() {
        let members: Vec<Box<dyn crate::Layer>> = vec![
            Box::new(ReluLayer::new()),
            Box::new(LeakyReluLayer::default()),
            Box::new(PReluLayer::new(2, 0.25).unwrap()),
            Box::new(RReluLayer::default()),
            Box::new(ClippedReluLayer::relu6()),
            Box::new(ThresholdLayer::new(0.0, 0.0).unwrap()),
        ];
        assert_eq!(members.len(), RECTIFIERS.len());
        for member in members {
            let name = member.__type_name(Token(()));
            assert!(RECTIFIERS.contains(&name), "{name}");
            let mut net = Sequential::new();
            net.push(DenseLayer::from_parts(array![[1.0, -1.0]], array![0.0, -1.0]).unwrap())
                .push(member)
                .push(DenseLayer::from_parts(array![[1.0], [1.0]], array![0.0]).unwrap());
            let report = Redo::new(0.0)
                .unwrap()
                .dormant(&mut net, &array![[1.0], [2.0]]);
            assert_eq!(report.unwrap().layers(), [("1".to_string(), 2)], "{name}");
        }
    }

    #[test]
    fn redo_scores_exact_zeros_nan_and_an_all_zero_layer() {
        let h = array![[0.0, 1e-320, 3.0, f64::NAN], [0.0, 0.0, 1.0, 1.0]];
        assert_eq!(dormant_units(&h, 0.0), vec![0]);
        let h = array![[0.0, 1e-320, 3.0, 1.0], [0.0, 0.0, 1.0, 1.0]];
        assert_eq!(dormant_units(&h, 0.0), vec![0]);
        // Mean |h| per unit: 0, 5e-321, 2, 1; the layer's 0.75.
        assert_eq!(dormant_units(&h, 1.0), vec![0, 1]);
        assert_eq!(dormant_units(&h, 4.0 / 3.0), vec![0, 1, 3]);
        assert_eq!(
            dormant_units(&Array2::<f32>::zeros((2, 3)), 0.0),
            vec![0, 1, 2]
        );
        let h = array![[-2.0f32, 2.0], [0.0, 0.0]];
        assert_eq!(dormant_units(&h, 1.0), vec![0, 1]); // |h|: both score 1
    }
}
