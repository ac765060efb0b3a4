//! [`Adam`]: adaptive moment estimation, with L2 or decoupled (AdamW)
//! weight decay.

use ndarray::{ArrayD, Zip};

use super::{check_grads, pieces, zeros_like, NonFinite, NonFiniteAt, Optimizer, State};
use crate::validate::hyper;
#[cfg(doc)]
use crate::LayerError;
use crate::{Float, Layer, Param, Result};

const OPTIMIZER: &str = "Adam";

/// Adam (Kingma and Ba 2015) with the update rule, the order of operations
/// and the defaults of PyTorch's `torch.optim.Adam` and `torch.optim.AdamW`
/// (no AMSGrad, not maximizing). At step `t = 1, 2, …`, for each parameter
/// `w` with gradient `g`, starting from `m = v = 0`:
///
/// ```text
/// g ← g + λ·w                      (L2 decay λ, with_weight_decay: Adam's weight_decay)
/// w ← w·(1 − lr·λ)                 (decoupled decay λ, with_decoupled_weight_decay: AdamW's)
/// m ← m + (1 − β₁)·(g − m)         (torch's lerp)
/// v ← β₂·v + (1 − β₂)·g²
/// w ← w − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + eps)
/// ```
///
/// The bias corrections `1 − β₁ᵗ` and `1 − β₂ᵗ` undo the moments' start
/// at zero: the first step moves each parameter with a nonzero gradient by
/// almost exactly `lr` against the gradient's sign, whatever its size. `eps` is
/// added outside the square root, as in PyTorch (and the paper).
///
/// The moments are kept per parameter, by position in [`Layer::params`],
/// so one `Adam` steps one layer (or one [`Sequential`](crate::Sequential)).
/// A step that would write a NaN or an infinity into a parameter or a
/// moment is refused and changes nothing, unless set to write it as PyTorch
/// does ([`with_non_finite`](Self::with_non_finite)).
///
/// # Examples
///
/// ```
/// use rectify::{ndarray::array, Adam, DenseLayer, Layer};
///
/// let mut dense = DenseLayer::<f64>::from_parts(array![[1.0, 2.0]], array![0.0, 0.0])?;
/// let mut adam = Adam::new(0.1)?;
/// dense.forward(&array![[1.0]])?;
/// dense.backward(&array![[0.5, -100.0]])?;
/// adam.step(&mut dense)?;
/// // Step 1 moves every parameter by lr (to within eps) against its gradient.
/// let w = dense.weights();
/// assert!((w[[0, 0]] - 0.9).abs() < 1e-7 && (w[[0, 1]] - 2.1).abs() < 1e-7);
/// # Ok::<(), rectify::LayerError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Adam {
    learning_rate: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    weight_decay: f64,
    /// Whether `weight_decay` is decoupled (AdamW) rather than L2.
    pub(crate) decoupled: bool,
    non_finite: NonFinite,
    /// Successful steps so far; the moments exist from the first.
    pub(crate) steps: u64,
    /// The first moments `m`, one per parameter.
    pub(crate) exp_avg: State,
    /// The second moments `v`, one per parameter.
    pub(crate) exp_avg_sq: State,
}

impl Adam {
    /// Adam with PyTorch's defaults: betas (0.9, 0.999), eps 1e-8, no
    /// weight decay.
    ///
    /// # Errors
    ///
    /// [`LayerError::InvalidParameter`] unless `learning_rate` is finite and
    /// not negative.
    ///
    /// ```
    /// use rectify::Adam;
    ///
    /// let adam = Adam::new(1e-3)?;
    /// assert_eq!((adam.learning_rate(), adam.betas(), adam.eps()), (1e-3, (0.9, 0.999), 1e-8));
    /// let err = Adam::new(-1.0).unwrap_err();
    /// assert_eq!(err.to_string(), "Adam: invalid learning_rate = -1: must be finite and non-negative");
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn new(learning_rate: f64) -> Result<Self> {
        let learning_rate = hyper(OPTIMIZER, "learning_rate", learning_rate).non_negative()?;
        Ok(Adam {
            learning_rate,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            decoupled: false,
            non_finite: NonFinite::Refuse,
            steps: 0,
            exp_avg: State::Empty,
            exp_avg_sq: State::Empty,
        })
    }

    /// This optimizer with the moments' decay rates `(β₁, β₂)` (PyTorch's
    /// `betas`).
    ///
    /// # Errors
    ///
    /// [`LayerError::InvalidParameter`] naming `beta1` or `beta2` unless
    /// both are in `[0, 1)`.
    ///
    /// ```
    /// use rectify::Adam;
    ///
    /// assert_eq!(Adam::new(1e-3)?.with_betas(0.5, 0.99)?.betas(), (0.5, 0.99));
    /// let err = Adam::new(1e-3)?.with_betas(0.9, 1.0).unwrap_err();
    /// assert_eq!(err.to_string(), "Adam: invalid beta2 = 1: must be in [0, 1)");
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn with_betas(self, beta1: f64, beta2: f64) -> Result<Self> {
        let beta = |name, value: f64| {
            let ok = (0.0..1.0).contains(&value);
            hyper(OPTIMIZER, name, value).require(ok, "must be in [0, 1)")
        };
        let (beta1, beta2) = (beta("beta1", beta1)?, beta("beta2", beta2)?);
        Ok(Adam {
            beta1,
            beta2,
            ..self
        })
    }

    /// This optimizer with `eps`, the term added to the denominator.
    ///
    /// # Errors
    ///
    /// [`LayerError::InvalidParameter`] unless `eps` is finite and not
    /// negative.
    ///
    /// ```
    /// use rectify::Adam;
    ///
    /// assert_eq!(Adam::new(1e-3)?.with_eps(1e-6)?.eps(), 1e-6);
    /// assert!(Adam::new(1e-3)?.with_eps(f64::NAN).is_err());
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn with_eps(self, eps: f64) -> Result<Self> {
        let eps = hyper(OPTIMIZER, "eps", eps).non_negative()?;
        Ok(Adam { eps, ..self })
    }

    /// This optimizer with L2 weight decay, `λ·w` added to each gradient
    /// before the moments see it (`torch.optim.Adam`'s `weight_decay`). It
    /// replaces any decoupled decay.
    ///
    /// # Errors
    ///
    /// [`LayerError::InvalidParameter`] unless `weight_decay` is finite and
    /// not negative.
    ///
    /// ```
    /// use rectify::Adam;
    ///
    /// let adam = Adam::new(1e-3)?.with_weight_decay(1e-4)?;
    /// assert_eq!((adam.weight_decay(), adam.decoupled_weight_decay()), (1e-4, 0.0));
    /// assert!(Adam::new(1e-3)?.with_weight_decay(-1e-4).is_err());
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn with_weight_decay(self, weight_decay: f64) -> Result<Self> {
        let weight_decay = hyper(OPTIMIZER, "weight_decay", weight_decay).non_negative()?;
        Ok(Adam {
            weight_decay,
            decoupled: false,
            ..self
        })
    }

    /// This optimizer with decoupled weight decay (Loshchilov and Hutter
    /// 2019): each step first multiplies every parameter by
    /// `1 − learning_rate·weight_decay`, and the moments never see the decay
    /// (`torch.optim.AdamW`'s `weight_decay`; note that AdamW's default is
    /// 0.01, this optimizer's 0). It replaces any L2 decay.
    ///
    /// # Errors
    ///
    /// [`LayerError::InvalidParameter`] unless `weight_decay` is finite and
    /// not negative.
    ///
    /// ```
    /// use rectify::Adam;
    ///
    /// let adamw = Adam::new(1e-3)?.with_weight_decay(1e-4)?.with_decoupled_weight_decay(0.01)?;
    /// assert_eq!((adamw.weight_decay(), adamw.decoupled_weight_decay()), (0.0, 0.01));
    /// let err = Adam::new(1e-3)?.with_decoupled_weight_decay(f64::INFINITY).unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "Adam: invalid decoupled_weight_decay = inf: must be finite and non-negative"
    /// );
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn with_decoupled_weight_decay(self, weight_decay: f64) -> Result<Self> {
        let weight_decay =
            hyper(OPTIMIZER, "decoupled_weight_decay", weight_decay).non_negative()?;
        Ok(Adam {
            weight_decay,
            decoupled: true,
            ..self
        })
    }

    /// This optimizer with `policy` for a step that would write a NaN or an
    /// infinity into a parameter or a moment: refuse it and change nothing
    /// ([`NonFinite::Refuse`], the default), or write it, as PyTorch does
    /// ([`NonFinite::Write`]). [`NonFinite`] says why refusing is the
    /// default.
    ///
    /// ```
    /// use rectify::{ndarray::array, Adam, DenseLayer, Layer, NonFinite};
    ///
    /// let mut dense = DenseLayer::from_parts(array![[1.0]], array![0.0])?;
    /// dense.forward(&array![[f64::INFINITY]])?;
    /// dense.backward(&array![[1.0]])?; // the weight's gradient is inf
    ///
    /// let mut adam = Adam::new(0.1)?;
    /// assert_eq!(adam.non_finite(), NonFinite::Refuse);
    /// let err = adam.step(&mut dense).unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "Adam::step: parameter 0 (in params() order) would become NaN at flat index 0, \
    ///      where its gradient is inf; the step was refused and changed nothing"
    /// );
    /// assert_eq!((dense.weights()[[0, 0]], adam.steps()), (1.0, 0));
    ///
    /// let mut pytorch = Adam::new(0.1)?.with_non_finite(NonFinite::Write);
    /// pytorch.step(&mut dense)?;
    /// assert!(dense.weights()[[0, 0]].is_nan());
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn with_non_finite(self, policy: NonFinite) -> Self {
        Adam {
            non_finite: policy,
            ..self
        }
    }

    /// The learning rate.
    ///
    /// ```
    /// # use rectify::Adam;
    /// assert_eq!(Adam::new(0.5)?.learning_rate(), 0.5);
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn learning_rate(&self) -> f64 {
        self.learning_rate
    }

    /// The moments' decay rates `(β₁, β₂)`, (0.9, 0.999) unless set.
    ///
    /// ```
    /// # use rectify::Adam;
    /// assert_eq!(Adam::new(0.5)?.betas(), (0.9, 0.999));
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn betas(&self) -> (f64, f64) {
        (self.beta1, self.beta2)
    }

    /// The denominator's `eps`, 1e-8 unless set.
    ///
    /// ```
    /// # use rectify::Adam;
    /// assert_eq!(Adam::new(0.5)?.eps(), 1e-8);
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn eps(&self) -> f64 {
        self.eps
    }

    /// The L2 weight decay, 0 unless set by
    /// [`with_weight_decay`](Self::with_weight_decay).
    ///
    /// ```
    /// # use rectify::Adam;
    /// assert_eq!(Adam::new(0.5)?.weight_decay(), 0.0);
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn weight_decay(&self) -> f64 {
        if self.decoupled {
            0.0
        } else {
            self.weight_decay
        }
    }

    /// The decoupled weight decay, 0 unless set by
    /// [`with_decoupled_weight_decay`](Self::with_decoupled_weight_decay).
    ///
    /// ```
    /// # use rectify::Adam;
    /// assert_eq!(Adam::new(0.5)?.decoupled_weight_decay(), 0.0);
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn decoupled_weight_decay(&self) -> f64 {
        if self.decoupled {
            self.weight_decay
        } else {
            0.0
        }
    }

    /// What a step does about a NaN or an infinity, [`NonFinite::Refuse`]
    /// unless set.
    ///
    /// ```
    /// # use rectify::{Adam, NonFinite};
    /// assert_eq!(Adam::new(0.5)?.non_finite(), NonFinite::Refuse);
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn non_finite(&self) -> NonFinite {
        self.non_finite
    }

    /// The number of successful steps so far, the `t` of the bias
    /// corrections.
    ///
    /// ```
    /// use rectify::{ndarray::array, Adam, DenseLayer};
    ///
    /// let mut adam = Adam::new(0.1)?;
    /// assert_eq!(adam.steps(), 0);
    /// adam.step(&mut DenseLayer::from_parts(array![[1.0]], array![0.0])?)?;
    /// assert_eq!(adam.steps(), 1);
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Updates `layer`'s parameters in place from the gradients of its last
    /// backward, and the moments with them.
    ///
    /// # Errors
    ///
    /// [`LayerError::ShapeMismatch`] if a parameter's gradient has another
    /// shape than the parameter, and [`LayerError::StateMismatch`] if the
    /// number or shapes of the parameters differ from the moments' (kept
    /// from the first step: a new network needs a new `Adam`). With
    /// [`NonFinite::Refuse`] (the default), [`LayerError::NonFiniteUpdate`]
    /// if the update would write a NaN or an infinity into a parameter or a
    /// moment, naming the first such parameter (by its index in
    /// [`Layer::params`]) and element. Nothing changes then: neither the
    /// layer nor the optimizer's moments and step count.
    ///
    /// # Examples
    ///
    /// ```
    /// use rectify::{ndarray::array, Adam, DenseLayer, Layer};
    ///
    /// let mut adam = Adam::new(0.1)?;
    /// let mut dense = DenseLayer::from_parts(array![[1.0]], array![0.0])?;
    /// dense.forward(&array![[2.0]])?;
    /// dense.backward(&array![[1.0]])?;
    /// adam.step(&mut dense)?;
    ///
    /// let mut wider = DenseLayer::from_parts(array![[1.0, 1.0]], array![0.0, 0.0])?;
    /// let err = adam.step(&mut wider).unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "Adam::step: parameter 0 (in params() order) has shape [1, 2], expected [1, 1] \
    ///      as in the optimizer's state: a new network needs a new optimizer"
    /// );
    /// assert_eq!((wider.weights(), adam.steps()), (array![[1.0, 1.0]].view(), 1));
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn step<A: Float, L: Layer<A> + ?Sized>(&mut self, layer: &mut L) -> Result<()> {
        hyper(OPTIMIZER, "steps", self.steps as f64).require(
            self.steps < u64::MAX,
            "no step can follow the last count (u64)",
        )?;
        let mut params = layer.params();
        check_grads(OPTIMIZER, &params)?;
        // The moments of the first step, kept only if it succeeds.
        let kept = self.exp_avg.checked(OPTIMIZER, &params)?;
        let fresh = kept
            .is_none()
            .then(|| (zeros_like(&params), zeros_like(&params)));
        let update = self.update(self.steps + 1); // below u64::MAX, checked above
        if self.non_finite == NonFinite::Refuse {
            let (exp_avg, exp_avg_sq) = match (&fresh, kept, self.exp_avg_sq.get::<A>()) {
                (Some((m, v)), _, _) => (m, v),
                (None, Some(m), Some(v)) => (m, v),
                _ => unreachable!("exp_avg_sq is kept with exp_avg"),
            };
            let moments = exp_avg.iter().zip(exp_avg_sq);
            for (i, (p, (m, v))) in params.iter().zip(moments).enumerate() {
                if !update.all_finite(p, m, v) {
                    let at = update.first_non_finite(p, m, v);
                    return Err(NonFiniteAt::located(at).error(OPTIMIZER, i));
                }
            }
        }
        if let Some((m, v)) = fresh {
            (self.exp_avg, self.exp_avg_sq) = (State::of(m), State::of(v));
        }
        self.steps += 1;
        let exp_avg = self.exp_avg.get_mut::<A>().expect("checked, or just made");
        let exp_avg_sq = self.exp_avg_sq.get_mut::<A>().expect("kept with exp_avg");
        let moments = exp_avg.iter_mut().zip(exp_avg_sq);
        for (p, (m, v)) in params.iter_mut().zip(moments) {
            update.array(p, m, v);
        }
        Ok(())
    }

    /// The constants of step `t`.
    fn update<A: Float>(&self, t: u64) -> Update<A> {
        let (lr, beta1, beta2) = (self.learning_rate, self.beta1, self.beta2);
        let (l2, shrink) = if self.decoupled {
            (0.0, 1.0 - lr * self.weight_decay)
        } else {
            (self.weight_decay, 1.0)
        };
        // Python floats in PyTorch: `beta ** step` is C's pow.
        let t = t as f64;
        // Then each rounded to the element type, as a scalar argument of a
        // PyTorch kernel is.
        let round = A::round_from;
        Update {
            l2: round(l2),
            shrink: round(shrink),
            lerp_weight: round(1.0 - beta1),
            beta2: round(beta2),
            one_minus_beta2: round(1.0 - beta2),
            step_size: round(lr / (1.0 - beta1.powf(t))),
            bias_correction2_sqrt: round((1.0 - beta2.powf(t)).sqrt()),
            eps: round(self.eps),
        }
    }
}

/// One step's constants, the same for every element.
#[derive(Debug, Clone, Copy)]
struct Update<A> {
    /// L2 decay, 0 if none or decoupled.
    l2: A,
    /// `1 − lr·λ` for decoupled decay, else 1.
    shrink: A,
    lerp_weight: A,
    beta2: A,
    one_minus_beta2: A,
    step_size: A,
    bias_correction2_sqrt: A,
    eps: A,
}

impl<A: Float> Update<A> {
    /// Updates `w` and its moments `m` and `v` from its gradient `g`.
    ///
    /// Rounded as PyTorch's CPU kernels round on x86-64 with AVX2 (their
    /// fused multiply-adds included), operation by operation:
    /// `grad.add(param, alpha=λ)`, `param.mul_(1 − lr·λ)`,
    /// `exp_avg.lerp_(grad, 1 − β₁)`,
    /// `exp_avg_sq.mul_(β₂).addcmul_(grad, grad, value=1 − β₂)`,
    /// `denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)`,
    /// `param.addcdiv_(exp_avg, denom, value=−step_size)`.
    #[inline(always)]
    fn element(&self, w: &mut A, g: A, m: &mut A, v: &mut A) {
        (*w, *m, *v) = self.next(*w, g, *m, *v);
    }

    /// `(w, m, v)` after one step from gradient `g`, as
    /// [`element`](Self::element) writes them.
    #[inline(always)]
    fn next(&self, w: A, g: A, m: A, v: A) -> (A, A, A) {
        let g = if self.l2 == A::zero() {
            g
        } else {
            w.mul_add(self.l2, g)
        };
        let w = w * self.shrink;
        let m = lerp(m, g, self.lerp_weight);
        let v = (self.one_minus_beta2 * g).mul_add(g, v * self.beta2);
        let denom = v.sqrt() / self.bias_correction2_sqrt + self.eps;
        (w + (-self.step_size * m) / denom, m, v)
    }

    /// Whether the new value and moments of an element would be finite.
    #[inline(always)]
    fn finite(&self, w: A, g: A, m: A, v: A) -> bool {
        let (w, m, v) = self.next(w, g, m, v);
        w.is_finite() & m.is_finite() & v.is_finite()
    }

    /// [`finite`](Self::finite) for every element of slices of one length,
    /// in one pass without an early exit, which the compiler vectorizes.
    #[inline(always)]
    fn all_finite_slices(&self, w: &[A], g: &[A], m: &[A], v: &[A]) -> bool {
        let elements = w.iter().zip(g).zip(m.iter().zip(v));
        elements.fold(true, |ok, ((&w, &g), (&m, &v))| {
            ok & self.finite(w, g, m, v)
        })
    }

    /// Whether the update of `p` and its moments `m` and `v` would leave
    /// every value finite, computed as [`array`](Self::array) computes it
    /// (the same bits), without writing.
    fn all_finite(&self, p: &Param<'_, A>, m: &ArrayD<A>, v: &ArrayD<A>) -> bool {
        let slices = (p.value.as_slice(), p.grad.as_slice());
        if let ((Some(w), Some(g)), Some(m), Some(v)) = (slices, m.as_slice(), v.as_slice()) {
            let pass = |(w, g, m, v)| self.all_finite_best(w, g, m, v);
            return pieces::run((w, g, m, v), &pass, |a, b| a & b);
        }
        (Zip::from(&p.value).and(&p.grad).and(m).and(v))
            .fold(true, |ok, &w, &g, &m, &v| ok & self.finite(w, g, m, v))
    }

    /// The first element of `p` (row-major) whose new value or moments
    /// would not be finite: what [`all_finite`](Self::all_finite) found,
    /// located.
    fn first_non_finite(
        &self,
        p: &Param<'_, A>,
        m: &ArrayD<A>,
        v: &ArrayD<A>,
    ) -> Option<NonFiniteAt> {
        let elements = p.value.iter().zip(&p.grad).zip(m.iter().zip(v));
        elements.enumerate().find_map(|(i, ((&w, &g), (&m, &v)))| {
            let (w, m, v) = self.next(w, g, m, v);
            NonFiniteAt::find(i, g, w, &[("exp_avg", m), ("exp_avg_sq", v)])
        })
    }

    /// [`element`](Self::element) over slices of one length.
    #[inline(always)]
    fn slices(&self, w: &mut [A], g: &[A], m: &mut [A], v: &mut [A]) {
        let moments = m.iter_mut().zip(v.iter_mut());
        for ((w, &g), (m, v)) in w.iter_mut().zip(g).zip(moments) {
            self.element(w, g, m, v);
        }
    }

    /// [`slices`](Self::slices), with hardware fused multiply-adds where the
    /// CPU has them, else through libm's `fma`: the same bits.
    fn slices_best(&self, w: &mut [A], g: &[A], m: &mut [A], v: &mut [A]) {
        #[cfg(target_arch = "x86_64")]
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has AVX2 and FMA.
            return unsafe { slices_fma(self, w, g, m, v) };
        }
        self.slices(w, g, m, v)
    }

    /// [`all_finite_slices`](Self::all_finite_slices), with hardware fused
    /// multiply-adds where the CPU has them.
    fn all_finite_best(&self, w: &[A], g: &[A], m: &[A], v: &[A]) -> bool {
        #[cfg(target_arch = "x86_64")]
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has AVX2 and FMA.
            return unsafe { all_finite_fma(self, w, g, m, v) };
        }
        self.all_finite_slices(w, g, m, v)
    }

    /// Updates one parameter and its moments, all of one shape: as slices
    /// when all four are in standard layout (long ones in pieces on several
    /// threads, see `pieces.rs`), element by element otherwise. Every path
    /// gives the same bits.
    fn array(&self, p: &mut Param<'_, A>, m: &mut ArrayD<A>, v: &mut ArrayD<A>) {
        let slices = (p.value.as_slice_mut(), p.grad.as_slice());
        if let ((Some(w), Some(g)), Some(m), Some(v)) = (slices, m.as_slice_mut(), v.as_slice_mut())
        {
            let pass = |(w, g, m, v)| self.slices_best(w, g, m, v);
            return pieces::run((w, g, m, v), &pass, |(), ()| ());
        }
        Zip::from(p.value.view_mut())
            .and(&p.grad)
            .and(m)
            .and(v)
            .for_each(|w, &g, m, v| self.element(w, g, m, v));
    }
}

/// [`Update::slices`] compiled for AVX2 and FMA: `mul_add` is one
/// instruction and the loop runs four elements at a time.
///
/// # Safety
///
/// The CPU must have AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn slices_fma<A: Float>(update: &Update<A>, w: &mut [A], g: &[A], m: &mut [A], v: &mut [A]) {
    update.slices(w, g, m, v);
}

/// [`Update::all_finite_slices`] compiled for AVX2 and FMA.
///
/// # Safety
///
/// The CPU must have AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn all_finite_fma<A: Float>(update: &Update<A>, w: &[A], g: &[A], m: &[A], v: &[A]) -> bool {
    update.all_finite_slices(w, g, m, v)
}

impl<A: Float> Optimizer<A> for Adam {
    fn step(&mut self, layer: &mut dyn Layer<A>) -> Result<()> {
        Adam::step(self, layer)
    }
}

/// `start + weight·(end − start)`, rounded as `torch.lerp` rounds it: one
/// fused multiply-add from the nearer end.
fn lerp<A: Float>(start: A, end: A, weight: A) -> A {
    let difference = end - start;
    if weight.abs() < A::round_from(0.5) {
        weight.mul_add(difference, start)
    } else {
        (weight - A::one()).mul_add(difference, end)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tensors::{bits, Tensors};
    use super::*;
    use crate::{DenseLayer, LayerError, Param, Sequential};
    use approx::assert_relative_eq;
    use ndarray::{array, s, Array1, Array2, ArrayD, ArrayView1};

    /// One parameter, `value`, with gradient `grad`.
    fn param(value: &[f64], grad: &[f64]) -> Tensors {
        let array = |v: &[f64]| Array1::from(v.to_vec()).into_dyn();
        Tensors(vec![(array(value), array(grad))])
    }

    fn value(layer: &Tensors) -> &ArrayD<f64> {
        &layer.0[0].0
    }

    fn set_grad(layer: &mut Tensors, grad: &[f64]) {
        layer.0[0].1 = Array1::from(grad.to_vec()).into_dyn();
    }

    #[test]
    fn the_first_step_moves_each_parameter_by_lr_against_its_gradient() {
        let grads = [1e-3, -5.0, 100.0, 0.0, -1e6];
        let mut layer = param(&[1.0; 5], &grads);
        Adam::new(0.01).unwrap().step(&mut layer).unwrap();
        // m̂ = g and √v̂ = |g| after bias correction: the step is lr·g/(|g| + eps).
        for (&w, &g) in value(&layer).iter().zip(&grads) {
            let expected = 1.0 - 0.01 * g / (g.abs() + 1e-8);
            assert_relative_eq!(w, expected, max_relative = 1e-15);
        }
        assert_relative_eq!(value(&layer)[0], 0.99, max_relative = 1e-6);
        assert_eq!(value(&layer)[3], 1.0);
    }

    #[test]
    fn steps_match_the_published_update_computed_by_hand() {
        // β₁ = 1/2, β₂ = 0 (so v = g², no correction), eps = 0, lr = 1:
        // m₁ = g₁/2, m̂₁ = g₁, w₁ = w₀ − sign(g₁);
        // m₂ = g₁/4 + g₂/2, m̂₂ = m₂/(3/4), w₂ = w₁ − m̂₂/|g₂|.
        let adam = Adam::new(1.0).and_then(|a| a.with_betas(0.5, 0.0));
        let mut adam = adam.and_then(|a| a.with_eps(0.0)).unwrap();
        let mut layer = param(&[1.0, 1.0], &[2.0, -8.0]);
        adam.step(&mut layer).unwrap();
        assert_eq!(value(&layer), &array![0.0, 2.0].into_dyn());
        set_grad(&mut layer, &[4.0, 2.0]);
        adam.step(&mut layer).unwrap();
        // m₂ = [2.5, -1], m̂₂ = [10/3, -4/3], w₂ = [0 − 10/12, 2 + 4/6].
        let w = value(&layer);
        assert_relative_eq!(w[0], -5.0 / 6.0, max_relative = 1e-15);
        assert_relative_eq!(w[1], 8.0 / 3.0, max_relative = 1e-15);
        assert_eq!(adam.steps(), 2);
    }

    #[test]
    fn three_default_steps_follow_kingma_and_ba() {
        let grads = [[0.3, -2.0, 1e-4], [-0.1, -1.0, 5e-4], [0.2, 4.0, -3e-4]];
        let (lr, beta1, beta2, eps) = (1e-2, 0.9, 0.999, 1e-8);
        let mut adam = Adam::new(lr).unwrap();
        let mut layer = param(&[0.5, -0.5, 2.0], &grads[0]);
        let (mut w, mut m, mut v) = ([0.5, -0.5, 2.0], [0.0; 3], [0.0; 3]);
        for (t, g) in (1..).zip(grads) {
            set_grad(&mut layer, &g);
            adam.step(&mut layer).unwrap();
            // Algorithm 1 of the paper, with its own order of operations.
            for i in 0..3 {
                m[i] = beta1 * m[i] + (1.0 - beta1) * g[i];
                v[i] = beta2 * v[i] + (1.0 - beta2) * g[i] * g[i];
                let m_hat = m[i] / (1.0 - f64::powi(beta1, t));
                let v_hat = v[i] / (1.0 - f64::powi(beta2, t));
                w[i] -= lr * m_hat / (v_hat.sqrt() + eps);
            }
            for (&actual, expected) in value(&layer).iter().zip(w) {
                assert_relative_eq!(actual, expected, max_relative = 1e-13);
            }
        }
    }

    #[test]
    fn eps_is_added_outside_the_square_root() {
        // With g = eps at step 1, √v̂ = eps: the step is lr·eps/(eps + eps) = lr/2.
        // Inside the root it would be lr·eps/√(eps² + eps) ≈ lr·1e-4.
        let mut layer = param(&[0.0], &[1e-8]);
        Adam::new(1.0).unwrap().step(&mut layer).unwrap();
        assert_relative_eq!(value(&layer)[0], -0.5, max_relative = 1e-12);
    }

    #[test]
    fn l2_decay_goes_through_the_moments_and_decoupled_decay_does_not() {
        // A zero gradient, so only the decay acts on w = 1.
        let l2 = Adam::new(0.1).and_then(|a| a.with_weight_decay(1e-3));
        let decoupled = Adam::new(0.1).and_then(|a| a.with_decoupled_weight_decay(1e-3));
        let (mut l2, mut decoupled) = (l2.unwrap(), decoupled.unwrap());
        let (mut a, mut b) = (param(&[1.0], &[0.0]), param(&[1.0], &[0.0]));
        l2.step(&mut a).unwrap();
        decoupled.step(&mut b).unwrap();
        // L2: g = λ·w = 1e-3 is normalized like any gradient, a step of lr.
        assert_relative_eq!(value(&a)[0], 0.9, max_relative = 1e-5);
        // Decoupled: w·(1 − lr·λ), and m = 0 moves it no further.
        let shrink = 1.0 - 0.1 * 1e-3;
        assert_eq!(value(&b)[0], shrink);
        l2.step(&mut a).unwrap();
        decoupled.step(&mut b).unwrap();
        assert!(value(&a)[0] < 0.81, "{}", value(&a)[0]);
        assert_eq!(value(&b)[0], shrink * shrink);

        // With a gradient too, L2 adds λ·w to it: the same as no decay and g + λ·w.
        let mut with_decay = param(&[2.0, -4.0], &[0.5, 0.25]);
        let mut by_hand = param(&[2.0, -4.0], &[0.5 + 0.1 * 2.0, 0.25 - 0.1 * 4.0]);
        let mut l2 = Adam::new(0.1).unwrap().with_weight_decay(0.1).unwrap();
        l2.step(&mut with_decay).unwrap();
        Adam::new(0.1).unwrap().step(&mut by_hand).unwrap();
        assert_eq!(value(&with_decay), value(&by_hand));
    }

    #[test]
    fn each_decay_replaces_the_other() {
        let adam = Adam::new(0.1).unwrap();
        let l2_last = adam.clone().with_decoupled_weight_decay(0.5);
        let l2_last = l2_last.and_then(|a| a.with_weight_decay(0.25)).unwrap();
        assert_eq!(
            (l2_last.weight_decay(), l2_last.decoupled_weight_decay()),
            (0.25, 0.0)
        );
        let decoupled_last = adam.with_weight_decay(0.25);
        let decoupled_last = decoupled_last
            .and_then(|a| a.with_decoupled_weight_decay(0.5))
            .unwrap();
        assert_eq!(
            (
                decoupled_last.weight_decay(),
                decoupled_last.decoupled_weight_decay()
            ),
            (0.0, 0.5)
        );
    }

    /// Builds an `Adam` with one hyperparameter set to the argument.
    type Build<'a> = dyn Fn(f64) -> Result<Adam> + 'a;

    #[test]
    fn every_bad_hyperparameter_is_an_error_naming_its_value() {
        let adam = || Adam::new(1e-3).unwrap();
        let bad = [-1e-9, -1.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY];
        let cases: [(&str, &Build<'_>); 6] = [
            ("learning_rate", &Adam::new),
            ("beta1", &|b| adam().with_betas(b, 0.999)),
            ("beta2", &|b| adam().with_betas(0.9, b)),
            ("eps", &|e| adam().with_eps(e)),
            ("weight_decay", &|d| adam().with_weight_decay(d)),
            ("decoupled_weight_decay", &|d| {
                adam().with_decoupled_weight_decay(d)
            }),
        ];
        for (name, build) in cases {
            let betas_too = if name.starts_with("beta") {
                &[1.0, 1.5][..]
            } else {
                &[]
            };
            for &v in bad.iter().chain(betas_too) {
                match build(v) {
                    Err(LayerError::InvalidParameter {
                        layer: "Adam",
                        name: n,
                        value,
                        ..
                    }) => {
                        assert_eq!(n, name);
                        assert_eq!(value.to_bits(), v.to_bits(), "{name} = {v}");
                    }
                    other => panic!("{name} = {v}: {other:?}"),
                }
            }
            assert!(build(0.0).is_ok(), "{name} = 0 is valid");
        }
        let err = adam().with_betas(-0.5, 0.999).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Adam: invalid beta1 = -0.5: must be in [0, 1)"
        );
        let err = adam().with_eps(f64::NAN).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Adam: invalid eps = NaN: must be finite and non-negative"
        );
    }

    #[test]
    fn a_failed_step_changes_neither_the_layer_nor_the_optimizer() {
        let mut adam = Adam::new(0.1).unwrap();
        let mut layer = param(&[1.0, 2.0], &[0.5, -1.0]);
        adam.step(&mut layer).unwrap();
        let before = format!("{adam:?}");

        let mut wider = param(&[1.0, 2.0, 3.0], &[1.0, 1.0, 1.0]);
        let untouched = wider.clone();
        let err = adam.step(&mut wider).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Adam::step: parameter 0 (in params() order) has shape [3], expected [2] \
             as in the optimizer's state: a new network needs a new optimizer"
        );
        let mut two = Tensors([layer.0.clone(), layer.0.clone()].concat());
        let err = adam.step(&mut two).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Adam::step: the layer has 2 parameters, expected 1 as in the optimizer's state: \
             a new network needs a new optimizer"
        );
        let mut none = Tensors(vec![]);
        let err = adam.step(&mut none).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("Adam::step: the layer has 0 parameters, expected 1 as"),
            "{err}"
        );
        assert_eq!(
            err,
            LayerError::StateMismatch {
                layer: "Adam",
                expected: vec![vec![2]],
                actual: vec![]
            }
        );
        let mut broken = param(&[1.0, 2.0], &[1.0]);
        let err = adam.step(&mut broken).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Adam::step: grad has shape [1], expected [2]"
        );
        assert_eq!(wider, untouched);
        assert_eq!(value(&broken), &array![1.0, 2.0].into_dyn());
        assert_eq!(format!("{adam:?}"), before);

        // The next good step is the second, as if the failures never happened.
        let mut twin = Adam::new(0.1).unwrap();
        let mut twin_layer = param(&[1.0, 2.0], &[0.5, -1.0]);
        twin.step(&mut twin_layer).unwrap();
        adam.step(&mut layer).unwrap();
        twin.step(&mut twin_layer).unwrap();
        assert_eq!(layer, twin_layer);
        assert_eq!(adam.steps(), 2);
    }

    #[test]
    fn a_step_that_would_write_nan_or_infinity_is_refused_by_default_and_changes_nothing() {
        let mut adam = Adam::new(0.1).unwrap().with_weight_decay(0.01).unwrap();
        assert_eq!(adam.non_finite(), NonFinite::Refuse);
        // Parameter 0 is fine; parameter 1 has a NaN gradient at [1, 0].
        let mut layer = param(&[1.0, 2.0], &[0.5, -1.0]);
        let bad = Array2::from_shape_vec((2, 2), vec![1.0, 2.0, f64::NAN, 4.0]).unwrap();
        layer
            .0
            .push((Array2::ones((2, 2)).into_dyn(), bad.into_dyn()));
        let untouched = layer.clone();
        let fresh = format!("{adam:?}");
        let err = adam.step(&mut layer).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Adam::step: parameter 1 (in params() order) would become NaN at flat index 2, \
             where its gradient is NaN; the step was refused and changed nothing"
        );
        assert!(matches!(
            err,
            LayerError::NonFiniteUpdate {
                layer: "Adam",
                param: 1,
                state: None,
                index: 2,
                ..
            }
        ));
        assert_eq!(bits(&layer), bits(&untouched));
        assert_eq!(format!("{adam:?}"), fresh); // no moments, no step counted

        // A good step, then a gradient so large that its square overflows:
        // the parameter would stay finite, exp_avg_sq would not.
        layer.0[1].1.fill(1.0);
        adam.step(&mut layer).unwrap();
        let (after_one, state) = (layer.clone(), format!("{adam:?}"));
        layer.0[0].1[1] = -1e200;
        let err = adam.step(&mut layer).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Adam::step: the exp_avg_sq of parameter 0 (in params() order) would become inf at flat \
             index 1, where its gradient is -1e200; the step was refused and changed nothing"
        );
        assert!(matches!(
            err,
            LayerError::NonFiniteUpdate {
                state: Some("exp_avg_sq"),
                value: f64::INFINITY,
                ..
            }
        ));
        assert_eq!(layer.0[0].0, after_one.0[0].0);
        assert_eq!(format!("{adam:?}"), state);
        for g in [f64::INFINITY, f64::NEG_INFINITY, f64::NAN] {
            layer.0[0].1[1] = g;
            assert!(adam.step(&mut layer).is_err(), "{g}");
            assert_eq!(layer.0[0].0, after_one.0[0].0);
            assert_eq!(format!("{adam:?}"), state);
        }

        // The failures left no trace: the next good step is the second.
        layer.0[0].1[1] = -1.0;
        adam.step(&mut layer).unwrap();
        let mut twin = Adam::new(0.1).unwrap().with_weight_decay(0.01).unwrap();
        let mut twin_layer = untouched.clone();
        twin_layer.0[1].1.fill(1.0);
        twin.step(&mut twin_layer).unwrap();
        twin_layer.0[0].1[1] = -1.0;
        twin.step(&mut twin_layer).unwrap();
        assert_eq!(bits(&layer), bits(&twin_layer));
        assert_eq!(adam.steps(), 2);
    }

    #[test]
    fn with_write_a_step_writes_nan_and_infinities_as_pytorch_does() {
        let mut adam = Adam::new(0.1).unwrap().with_non_finite(NonFinite::Write);
        assert_eq!(adam.non_finite(), NonFinite::Write);
        let mut layer = param(&[1.0, 2.0, 3.0], &[f64::NAN, 1e200, 1.0]);
        adam.step(&mut layer).unwrap();
        let w = value(&layer);
        assert!(w[0].is_nan());
        assert_eq!(w[1], 2.0 - 0.1 * 0.0); // m / √v = 1e199 / inf = 0
        assert_relative_eq!(w[2], 2.9, max_relative = 1e-7);
        assert!(
            adam.exp_avg.get::<f64>().unwrap()[0][0].is_nan()
                && adam.exp_avg_sq.get::<f64>().unwrap()[0][0].is_nan()
        );
        assert_eq!(adam.exp_avg_sq.get::<f64>().unwrap()[0][1], f64::INFINITY);
        assert_eq!(adam.steps(), 1);
    }

    #[test]
    fn the_refused_element_is_counted_in_row_major_order_whatever_the_layout() {
        // A column-major parameter: its memory order is not row-major.
        let value = Array2::<f64>::ones((3, 2)).reversed_axes().into_dyn();
        assert!(value.as_slice().is_none());
        let mut grad = ArrayD::zeros(vec![2, 3]);
        grad[[1, 0]] = f64::NAN;
        let mut layer = Tensors(vec![(value, grad)]);
        let err = Adam::new(0.1).unwrap().step(&mut layer).unwrap_err();
        assert!(
            matches!(
                err,
                LayerError::NonFiniteUpdate {
                    param: 0,
                    index: 3,
                    ..
                }
            ),
            "{err}"
        );
        // In standard layout, through the slices (and AVX2 where the CPU has it).
        let mut grad = ArrayD::zeros(vec![2, 3]);
        grad[[1, 2]] = f64::INFINITY;
        let mut layer = Tensors(vec![(ArrayD::ones(vec![2, 3]), grad)]);
        let err = Adam::new(0.1).unwrap().step(&mut layer).unwrap_err();
        assert!(
            matches!(
                err,
                LayerError::NonFiniteUpdate {
                    param: 0,
                    index: 5,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn a_failed_first_step_leaves_the_optimizer_fresh() {
        let mut adam = Adam::new(0.1).unwrap();
        assert!(adam.step(&mut param(&[1.0, 2.0], &[1.0])).is_err());
        assert_eq!(adam.steps(), 0);
        // A layer of another shape is still welcome.
        let mut layer = param(&[1.0], &[1.0]);
        adam.step(&mut layer).unwrap();
        assert_relative_eq!(value(&layer)[0], 0.9, max_relative = 1e-7);
    }

    /// Updates `(w, m, v)` in place, one way or another.
    type UpdatePath<'a> = dyn Fn(&mut [f64], &mut [f64], &mut [f64]) + 'a;

    #[test]
    fn every_path_gives_the_same_bits() {
        let update = Update {
            l2: 0.1,
            shrink: 0.999,
            lerp_weight: 0.1,
            beta2: 0.999,
            one_minus_beta2: 1.0 - 0.999,
            step_size: 0.37,
            bias_correction2_sqrt: 0.05,
            eps: 1e-8,
        };
        // 37 elements of widely varying sizes, so that roundings differ.
        let values = |seed: f64| -> Vec<f64> {
            (0..37)
                .map(|i| (seed * (i as f64 + 1.0)).sin() * 10f64.powi(i % 7 - 3))
                .collect()
        };
        let (w0, g, m0, v0) = (values(1.0), values(2.0), values(3.0), values(4.0));
        let v0: Vec<f64> = v0.iter().map(|v| v.abs()).collect();
        let run = |path: &UpdatePath<'_>| {
            let (mut w, mut m, mut v) = (w0.clone(), m0.clone(), v0.clone());
            path(&mut w, &mut m, &mut v);
            [w, m, v].map(|a| a.iter().map(|x| x.to_bits()).collect::<Vec<_>>())
        };
        let plain = run(&|w, m, v| update.slices(w, &g, m, v));
        // In standard layout: 37 elements, cut into pieces in the tests.
        let contiguous = run(&|w, m, v| {
            let dyn_array = |x: &[f64]| Array1::from(x.to_vec()).into_dyn();
            let (mut wa, grad, mut ma, mut va) =
                (dyn_array(w), dyn_array(&g), dyn_array(m), dyn_array(v));
            let mut param = Param {
                value: wa.view_mut(),
                grad: grad.view(),
            };
            assert!(update.all_finite(&param, &ma, &va));
            update.array(&mut param, &mut ma, &mut va);
            w.copy_from_slice(wa.as_slice().unwrap());
            m.copy_from_slice(ma.as_slice().unwrap());
            v.copy_from_slice(va.as_slice().unwrap());
        });
        assert_eq!(contiguous, plain);
        #[cfg(target_arch = "x86_64")]
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has AVX2 and FMA.
            let fused = run(&|w, m, v| unsafe { slices_fma(&update, w, &g, m, v) });
            assert_eq!(fused, plain);
        }
        // Element by element: the parameter every other element of a buffer.
        let zipped = run(&|w, m, v| {
            let mut buffer = Array1::from_elem(2 * w.len(), f64::NAN);
            buffer.slice_mut(s![..;2]).assign(&ArrayView1::from(&*w));
            let grad = Array1::from(g.clone()).into_dyn();
            let mut param = Param {
                value: buffer.slice_mut(s![..;2]).into_dyn(),
                grad: grad.view(),
            };
            assert!(param.value.as_slice_mut().is_none());
            let dyn_array = |x: &[f64]| Array1::from(x.to_vec()).into_dyn();
            let (mut ma, mut va) = (dyn_array(m), dyn_array(v));
            update.array(&mut param, &mut ma, &mut va);
            for (a, b) in w.iter_mut().zip(buffer.slice(s![..;2])) {
                *a = *b;
            }
            m.copy_from_slice(ma.as_slice().unwrap());
            v.copy_from_slice(va.as_slice().unwrap());
        });
        assert_eq!(zipped, plain);
    }

    #[test]
    fn it_steps_a_sequential_through_the_optimizer_trait() {
        let mut net = Sequential::new();
        net.push(DenseLayer::from_parts(array![[1.0, 2.0]], array![0.0, 0.0]).unwrap());
        net.forward(&array![[1.0]]).unwrap();
        net.backward(&array![[3.0, -3.0]]).unwrap();
        let mut optimizer: Box<dyn Optimizer> = Box::new(Adam::new(0.5).unwrap());
        optimizer.step(&mut net).unwrap();
        let dense: &DenseLayer = net.layer(0).unwrap();
        assert_relative_eq!(dense.weights()[[0, 0]], 0.5, max_relative = 1e-8);
        assert_relative_eq!(dense.weights()[[0, 1]], 2.5, max_relative = 1e-8);
        assert_relative_eq!(dense.bias()[1], 0.5, max_relative = 1e-8);
    }
}
