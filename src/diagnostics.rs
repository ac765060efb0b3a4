//! [`ActivityStats`]: how often each unit was active, across batches.

use std::fmt;

use ndarray::{azip, Array1, ArrayView1};

use crate::alloc::need;
use crate::validate::hyper;
use crate::{LayerError, Mask, Result};

/// Per-unit activity of a rectifier layer, gathered from the [`Mask`] of
/// each forward pass: the tool for spotting dying ReLUs.
///
/// A unit (column) that was never active over every sample recorded is
/// *dead*: ReLU passes it no gradient, so nothing upstream of it learns
/// from it. Leaky ReLU's units still pass `slope·g` when inactive, which is
/// its cure.
///
/// # Examples
///
/// ```
/// use rectify::{ndarray::array, ActivityStats, ReluLayer};
///
/// let mut relu = ReluLayer::new();
/// let mut stats = ActivityStats::new(3);
/// for batch in [array![[1.0, -1.0, 0.0], [2.0, -3.0, 0.5]], array![[-1.0, -0.5, 4.0]]] {
///     relu.forward(&batch)?;
///     stats.record(relu.mask().expect("forward ran"))?;
/// }
/// assert_eq!(stats.samples(), 3);
/// assert_eq!(stats.active_counts(), array![2, 0, 2]);
/// assert_eq!(stats.dead_units(), vec![1]);
/// assert_eq!(stats.dead_fraction(), 1.0 / 3.0);
/// # Ok::<(), rectify::LayerError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityStats {
    pub(crate) active: Array1<u64>,
    pub(crate) samples: u64,
}

impl ActivityStats {
    /// Empty statistics for a layer of `units` columns.
    ///
    /// # Panics
    ///
    /// With the message of [`try_new`](Self::try_new)'s error, if `units`
    /// counters cannot be allocated.
    ///
    /// # Examples
    ///
    /// ```
    /// use rectify::ActivityStats;
    ///
    /// let stats = ActivityStats::new(4);
    /// assert_eq!((stats.units(), stats.samples()), (4, 0));
    /// ```
    pub fn new(units: usize) -> Self {
        Self::counting("new", units).unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`new`](Self::new), or an error if the counters cannot be had.
    ///
    /// # Errors
    ///
    /// [`LayerError::TooLarge`] naming `units`.
    ///
    /// # Examples
    ///
    /// ```
    /// use rectify::ActivityStats;
    ///
    /// assert_eq!(ActivityStats::try_new(4)?.units(), 4);
    /// let err = ActivityStats::try_new(1 << 58).unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "ActivityStats::try_new: counters of shape [288230376151711744] needs \
    ///      2305843009213693952 bytes, more than can be allocated"
    /// );
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn try_new(units: usize) -> Result<Self> {
        Self::counting("try_new", units)
    }

    /// Empty statistics, made by the constructor `operation`.
    fn counting(operation: &'static str, units: usize) -> Result<Self> {
        let counters = need("ActivityStats", operation, "counters", [units]).zeros()?;
        Ok(ActivityStats {
            active: Array1::from_vec(counters),
            samples: 0,
        })
    }

    /// Adds one batch: each of the mask's rows is a sample.
    ///
    /// # Errors
    ///
    /// [`LayerError::ShapeMismatch`] naming both shapes if the mask does not
    /// have [`units`](Self::units) columns; the statistics are unchanged.
    ///
    /// # Examples
    ///
    /// ```
    /// use rectify::{ndarray::array, ActivityStats, LayerError, ReluLayer};
    ///
    /// let mut relu = ReluLayer::new();
    /// relu.forward(&array![[1.0, -1.0]])?;
    /// let mut stats = ActivityStats::new(3);
    /// let err = stats.record(relu.mask().unwrap()).unwrap_err();
    /// assert_eq!(err.to_string(), "ActivityStats::record: mask has shape [1, 2], expected [1, 3]");
    /// assert_eq!(stats.samples(), 0);
    /// # Ok::<(), LayerError>(())
    /// ```
    pub fn record(&mut self, mask: &Mask) -> Result<()> {
        let (rows, cols) = mask.shape();
        if cols != self.units() {
            let expected = [rows, self.units()];
            return Err(LayerError::shape(
                "ActivityStats",
                "record",
                "mask",
                &expected,
                &[rows, cols],
            ));
        }
        let Some(samples) = self.samples.checked_add(rows as u64) else {
            let samples = hyper("ActivityStats", "samples", self.samples as f64);
            return samples
                .require(false, "cannot count more samples (u64)")
                .map(drop);
        };
        azip!((total in &mut self.active, &n in &mask.active_per_column()) *total += n as u64);
        self.samples = samples;
        Ok(())
    }

    /// The number of units (columns) tracked.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(rectify::ActivityStats::new(5).units(), 5);
    /// ```
    pub fn units(&self) -> usize {
        self.active.len()
    }

    /// The number of samples (mask rows) recorded since creation or
    /// [`reset`](Self::reset).
    ///
    /// # Examples
    ///
    /// ```
    /// use rectify::{ndarray::Array2, ActivityStats, ReluLayer};
    ///
    /// let mut relu = ReluLayer::new();
    /// relu.forward(&Array2::<f64>::zeros((8, 2)))?;
    /// let mut stats = ActivityStats::new(2);
    /// stats.record(relu.mask().unwrap())?;
    /// stats.record(relu.mask().unwrap())?;
    /// assert_eq!(stats.samples(), 16);
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// For each unit, in how many recorded samples it was active.
    ///
    /// # Examples
    ///
    /// ```
    /// use rectify::{ndarray::array, ActivityStats, ReluLayer};
    ///
    /// let mut relu = ReluLayer::new();
    /// relu.forward(&array![[1.0, 2.0], [3.0, -4.0]])?;
    /// let mut stats = ActivityStats::new(2);
    /// stats.record(relu.mask().unwrap())?;
    /// assert_eq!(stats.active_counts(), array![2, 1]);
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn active_counts(&self) -> ArrayView1<'_, u64> {
        self.active.view()
    }

    /// The units never active in any recorded sample, in increasing order.
    /// Empty while no sample has been recorded: there is no evidence yet.
    ///
    /// # Examples
    ///
    /// ```
    /// use rectify::{ndarray::array, ActivityStats, ReluLayer};
    ///
    /// let mut relu = ReluLayer::new();
    /// relu.forward(&array![[-1.0, 2.0, 0.0]])?;
    /// let mut stats = ActivityStats::new(3);
    /// assert!(stats.dead_units().is_empty());
    /// stats.record(relu.mask().unwrap())?;
    /// assert_eq!(stats.dead_units(), vec![0, 2]);
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn dead_units(&self) -> Vec<usize> {
        if self.samples == 0 {
            return Vec::new();
        }
        (0..self.units()).filter(|&u| self.active[u] == 0).collect()
    }

    /// The fraction of units that are dead, in `[0, 1]`; `0.0` when there
    /// are no units or no samples yet (nothing is known to be dead).
    ///
    /// # Examples
    ///
    /// ```
    /// use rectify::{ndarray::array, ActivityStats, ReluLayer};
    ///
    /// let mut relu = ReluLayer::new();
    /// relu.forward(&array![[-1.0, 2.0, -3.0, 4.0]])?;
    /// let mut stats = ActivityStats::new(4);
    /// assert_eq!(stats.dead_fraction(), 0.0);
    /// stats.record(relu.mask().unwrap())?;
    /// assert_eq!(stats.dead_fraction(), 0.5);
    /// assert_eq!(ActivityStats::new(0).dead_fraction(), 0.0);
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn dead_fraction(&self) -> f64 {
        match self.units() {
            0 => 0.0,
            units => self.dead_units().len() as f64 / units as f64,
        }
    }

    /// Forgets every recorded sample, keeping the number of units.
    ///
    /// # Examples
    ///
    /// ```
    /// use rectify::{ndarray::array, ActivityStats, ReluLayer};
    ///
    /// let mut relu = ReluLayer::new();
    /// relu.forward(&array![[1.0, -1.0]])?;
    /// let mut stats = ActivityStats::new(2);
    /// stats.record(relu.mask().unwrap())?;
    /// stats.reset();
    /// assert_eq!(stats, ActivityStats::new(2));
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn reset(&mut self) {
        self.active.fill(0);
        self.samples = 0;
    }
}

/// A table: one line per unit with its active count and percentage, `dead`
/// marking dead units, then a summary line.
///
/// ```
/// use rectify::{ndarray::array, ActivityStats, ReluLayer};
///
/// let mut relu = ReluLayer::new();
/// relu.forward(&array![[1.0, -1.0], [2.0, -2.0], [-3.0, -3.0], [4.0, -4.0]])?;
/// let mut stats = ActivityStats::new(2);
/// stats.record(relu.mask().unwrap())?;
/// assert_eq!(
///     stats.to_string(),
///     "unit  active  active %\n\
///      \x20  0       3    75.0 %\n\
///      \x20  1       0     0.0 %  dead\n\
///      4 samples, 1 of 2 units dead (50.0 %)\n"
/// );
/// # Ok::<(), rectify::LayerError>(())
/// ```
impl fmt::Display for ActivityStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "unit  active  active %")?;
        for (unit, &count) in self.active.iter().enumerate() {
            let percent = match self.samples {
                0 => "-".to_string(),
                n => format!("{:.1} %", 100.0 * count as f64 / n as f64),
            };
            let dead = if self.samples > 0 && count == 0 {
                "  dead"
            } else {
                ""
            };
            writeln!(f, "{unit:>4}  {count:>6}  {percent:>8}{dead}")?;
        }
        let (samples, units, dead) = (self.samples, self.units(), self.dead_units().len());
        let percent = 100.0 * self.dead_fraction();
        writeln!(
            f,
            "{samples} samples, {dead} of {units} units dead ({percent:.1} %)"
        )
    }
}

#[cfg(test)]
mod tests {
    use ndarray::{array, s, Array2, ArrayRef2};

    use super::*;
    use crate::{AtZero, LeakyReluLayer, ReluLayer};

    fn relu_mask(layer: ReluLayer, x: &ArrayRef2<f64>) -> Mask {
        let mut layer = layer;
        layer.forward(x).unwrap();
        layer.mask().unwrap().clone()
    }

    fn x() -> Array2<f64> {
        array![[1.0, -1.0, 0.0], [-0.0, 2.0, f64::NAN], [3.0, -2.0, -1.0]]
    }

    #[test]
    fn counts_add_up_over_batches_of_any_layout() {
        let x = x();
        let mut stats = ActivityStats::new(3);
        // NaN is active in ReLU; ±0.0 is not.
        stats.record(&relu_mask(ReluLayer::new(), &x)).unwrap();
        assert_eq!(stats.active_counts(), array![2, 1, 1]);
        stats.record(&relu_mask(ReluLayer::new(), &x.t())).unwrap();
        assert_eq!(stats.active_counts(), array![3, 3, 2]);
        stats
            .record(&relu_mask(ReluLayer::new(), &x.slice(s![..;2, ..])))
            .unwrap();
        assert_eq!(stats.active_counts(), array![5, 3, 2]);
        assert_eq!(stats.samples(), 8);
        assert!(stats.dead_units().is_empty());
    }

    #[test]
    fn dead_units_depend_on_what_counts_as_active() {
        let x = array![[1.0, 0.0, -0.0, f64::NAN], [2.0, -1.0, 0.0, -3.0]];
        let mut stats = ActivityStats::new(4);
        stats.record(&relu_mask(ReluLayer::new(), &x)).unwrap();
        assert_eq!(
            (stats.dead_units(), stats.dead_fraction()),
            (vec![1, 2], 0.5)
        );

        stats.reset();
        stats
            .record(&relu_mask(ReluLayer::new().at_zero(AtZero::Active), &x))
            .unwrap();
        assert_eq!(stats.active_counts(), array![2, 1, 2, 1]);
        assert!(stats.dead_units().is_empty());

        // Leaky ReLU counts NaN as inactive.
        let mut leaky = LeakyReluLayer::default();
        leaky.forward(&x).unwrap();
        stats.reset();
        stats.record(leaky.mask().unwrap()).unwrap();
        assert_eq!(
            (stats.dead_units(), stats.dead_fraction()),
            (vec![1, 2, 3], 0.75)
        );
    }

    #[test]
    fn a_wrong_mask_is_an_error_that_changes_nothing() {
        let mut stats = ActivityStats::new(2);
        stats
            .record(&relu_mask(ReluLayer::new(), &array![[1.0, -1.0]]))
            .unwrap();
        let before = stats.clone();
        let err = stats
            .record(&relu_mask(ReluLayer::new(), &x()))
            .unwrap_err();
        assert_eq!(
            err,
            LayerError::shape("ActivityStats", "record", "mask", &[3, 2], &[3, 3])
        );
        assert_eq!(stats, before);
        stats
            .record(&relu_mask(ReluLayer::new(), &array![[-1.0, 1.0]]))
            .unwrap();
        assert_eq!(stats.active_counts(), array![1, 1]);
    }

    #[test]
    fn nothing_seen_means_nothing_dead() {
        let mut stats = ActivityStats::new(2);
        stats
            .record(&relu_mask(ReluLayer::new(), &Array2::zeros((0, 2))))
            .unwrap();
        assert_eq!((stats.samples(), stats.dead_fraction()), (0, 0.0));
        assert!(stats.dead_units().is_empty());
        let table = "unit  active  active %\n   0       0         -\n   1       0         -\n";
        assert_eq!(
            stats.to_string(),
            format!("{table}0 samples, 0 of 2 units dead (0.0 %)\n")
        );

        let mut none = ActivityStats::new(0);
        none.record(&relu_mask(ReluLayer::new(), &Array2::zeros((4, 0))))
            .unwrap();
        assert_eq!((none.samples(), none.dead_fraction()), (4, 0.0));
        assert_eq!(
            none.to_string(),
            "unit  active  active %\n4 samples, 0 of 0 units dead (0.0 %)\n"
        );
    }
}
