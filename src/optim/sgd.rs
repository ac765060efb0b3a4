//! [`Sgd`]: stochastic gradient descent with momentum and weight decay.

use ndarray::{ArrayD, Zip};

use super::{check_grads, pieces, zeros_like, NonFinite, NonFiniteAt, Optimizer, State};
use crate::validate::hyper;
#[cfg(doc)]
use crate::{Adam, LayerError};
use crate::{Float, Layer, Param, Result};

const OPTIMIZER: &str = "Sgd";

/// Stochastic gradient descent with PyTorch's `torch.optim.SGD` semantics
/// (dampening 0, no Nesterov). For each parameter `w` with gradient `g`:
///
/// ```text
/// g ← g + weight_decay · w        (if weight_decay ≠ 0)
/// v ← momentum · v + g            (v ← g on the first step; skipped if momentum = 0)
/// w ← w − learning_rate · v       (v is g if momentum = 0)
/// ```
///
/// Each line is rounded as PyTorch's CPU kernels round it on x86-64 (AVX2
/// or AVX-512, which fuse the multiply-adds): `g + weight_decay·w` and
/// `w − learning_rate·v` are one fused multiply-add each
/// (`grad.add(param, alpha=weight_decay)`, `param.add_(buf, alpha=-lr)`),
/// `momentum·v + g` a product and a sum (`buf.mul_(momentum).add_(grad)`),
/// with the hyperparameters rounded to the element type. So a step gives
/// `torch.optim.SGD`'s bits, in `f64` and in `f32`
/// (`tests/adam_pytorch.rs`).
///
/// The velocities are kept per parameter, by position in
/// [`Layer::params`], so one `Sgd` steps one layer (or one
/// [`Sequential`](crate::Sequential)). A step that would write a NaN or an
/// infinity into a parameter is refused and changes nothing, unless set to
/// write it as PyTorch does ([`with_non_finite`](Self::with_non_finite)).
///
/// # Examples
///
/// ```
/// use rectify::{ndarray::array, DenseLayer, Layer, Sgd};
///
/// let mut dense = DenseLayer::from_parts(array![[1.0, 2.0]], array![0.0, 0.0])?;
/// let mut sgd = Sgd::new(0.5)?.with_momentum(0.9)?;
/// dense.forward(&array![[1.0]])?;
/// dense.backward(&array![[0.5, -1.0]])?;
/// sgd.step(&mut dense)?;
/// assert_eq!(dense.weights(), array![[0.75, 2.5]]);
/// # Ok::<(), rectify::LayerError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Sgd {
    learning_rate: f64,
    momentum: f64,
    weight_decay: f64,
    non_finite: NonFinite,
    /// One buffer per parameter; empty until the first step with momentum.
    pub(crate) velocity: State,
}

/// One step's constants, the same for every element.
#[derive(Debug, Clone, Copy)]
struct Rule<A> {
    lr: A,
    momentum: A,
    decay: A,
    /// Whether this is the first step with momentum (`v ← g`).
    first: bool,
}

impl<A: Float> Rule<A> {
    /// `(w, v)` after one step from gradient `g`; `v` is the velocity with
    /// momentum, else the decayed gradient (and not kept).
    ///
    /// Rounded as PyTorch's CPU kernels round (see [`Sgd`]): the decay and
    /// the update are fused multiply-adds, as `torch.add(…, alpha=…)` is.
    #[inline(always)]
    fn next(&self, w: A, g: A, v: A) -> (A, A) {
        let g = if self.decay == A::zero() {
            g
        } else {
            w.mul_add(self.decay, g)
        };
        let v = if self.momentum == A::zero() || self.first {
            g
        } else {
            self.momentum * v + g
        };
        (v.mul_add(-self.lr, w), v)
    }

    /// Whether every element's new value would be finite, for slices of
    /// one length (`v` `None` when there are no velocities yet): one pass
    /// without an early exit, which the compiler vectorizes.
    #[inline(always)]
    fn all_finite_slices(&self, w: &[A], g: &[A], v: Option<&[A]>) -> bool {
        let finite = |w, g, v| self.next(w, g, v).0.is_finite();
        match v {
            None => (w.iter().zip(g)).fold(true, |ok, (&w, &g)| ok & finite(w, g, A::zero())),
            Some(v) => {
                (w.iter().zip(g).zip(v)).fold(true, |ok, ((&w, &g), &v)| ok & finite(w, g, v))
            }
        }
    }

    /// Steps slices of one length: the parameter `w` from its gradient `g`,
    /// and its velocity `v` if there is one (with momentum).
    #[inline(always)]
    fn slices(&self, w: &mut [A], g: &[A], v: Option<&mut [A]>) {
        match v {
            None => {
                for (w, &g) in w.iter_mut().zip(g) {
                    *w = self.next(*w, g, A::zero()).0;
                }
            }
            Some(v) => {
                for ((w, &g), v) in w.iter_mut().zip(g).zip(v) {
                    (*w, *v) = self.next(*w, g, *v);
                }
            }
        }
    }

    /// [`slices`](Self::slices), with hardware fused multiply-adds where the
    /// CPU has them, else through libm's `fma`: the same bits.
    fn slices_best(&self, w: &mut [A], g: &[A], v: Option<&mut [A]>) {
        #[cfg(target_arch = "x86_64")]
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has AVX2 and FMA.
            return unsafe { slices_fma(self, w, g, v) };
        }
        self.slices(w, g, v)
    }

    /// [`all_finite_slices`](Self::all_finite_slices), with hardware fused
    /// multiply-adds where the CPU has them.
    fn all_finite_best(&self, w: &[A], g: &[A], v: Option<&[A]>) -> bool {
        #[cfg(target_arch = "x86_64")]
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has AVX2 and FMA.
            return unsafe { all_finite_fma(self, w, g, v) };
        }
        self.all_finite_slices(w, g, v)
    }

    /// Steps one parameter and its velocity (with momentum): as slices when
    /// all are in standard layout (a long one in pieces on several threads,
    /// see `pieces.rs`), element by element otherwise. Every path gives the
    /// same bits.
    fn array(&self, p: &mut Param<'_, A>, velocity: Option<&mut ArrayD<A>>) {
        let contiguous = velocity.as_ref().is_none_or(|v| v.is_standard_layout());
        if let (true, Some(w), Some(g)) = (contiguous, p.value.as_slice_mut(), p.grad.as_slice()) {
            let v = velocity.map(|v| v.as_slice_mut().expect("in standard layout"));
            return pieces::run(
                (w, g, v),
                &|(w, g, v)| self.slices_best(w, g, v),
                |(), ()| (),
            );
        }
        let pairs = Zip::from(p.value.view_mut()).and(&p.grad);
        match velocity {
            None => pairs.for_each(|w, &g| *w = self.next(*w, g, A::zero()).0),
            Some(v) => pairs
                .and(v)
                .for_each(|w, &g, v| (*w, *v) = self.next(*w, g, *v)),
        }
    }

    /// Whether every element's new value (and velocity) would be finite:
    /// one pass without an early exit, which the compiler vectorizes;
    /// `velocity` is `None` when there is none yet.
    ///
    /// A velocity that is not finite makes the parameter not finite too
    /// (`w − lr·v`: infinite, or NaN for `lr = 0`), so checking the
    /// parameter covers both.
    fn all_finite(&self, p: &Param<'_, A>, velocity: Option<&ArrayD<A>>) -> bool {
        let v = match velocity {
            None => Some(None),
            Some(v) => v.as_slice().map(Some),
        };
        if let (Some(w), Some(g), Some(v)) = (p.value.as_slice(), p.grad.as_slice(), v) {
            let pass = |(w, g, v)| self.all_finite_best(w, g, v);
            return pieces::run((w, g, v), &pass, |a, b| a & b);
        }
        let finite = |w, g, v| self.next(w, g, v).0.is_finite();
        let pairs = Zip::from(&p.value).and(&p.grad);
        match velocity {
            None => pairs.fold(true, |ok, &w, &g| ok & finite(w, g, A::zero())),
            Some(v) => (pairs.and(v)).fold(true, |ok, &w, &g, &v| ok & finite(w, g, v)),
        }
    }

    /// The first element of `p` (row-major) whose new value would not be
    /// finite: what [`all_finite`](Self::all_finite) found, located.
    fn first_non_finite(
        &self,
        p: &Param<'_, A>,
        velocity: Option<&ArrayD<A>>,
    ) -> Option<NonFiniteAt> {
        let check = |index, w, g, v| NonFiniteAt::find(index, g, self.next(w, g, v).0, &[]);
        let elements = p.value.iter().zip(&p.grad).enumerate();
        match velocity {
            Some(velocity) => {
                (elements.zip(velocity)).find_map(|((i, (&w, &g)), &v)| check(i, w, g, v))
            }
            None => elements
                .into_iter()
                .find_map(|(i, (&w, &g))| check(i, w, g, A::zero())),
        }
    }
}

impl Sgd {
    /// Plain SGD, `w ← w − learning_rate · g`.
    ///
    /// A learning rate of 0 is valid, as in PyTorch and for [`Adam`]: the
    /// step then leaves every parameter as it is (while the velocities,
    /// with momentum, still accumulate), for example to freeze a network
    /// for some steps.
    ///
    /// # Errors
    ///
    /// [`LayerError::InvalidParameter`] unless `learning_rate` is finite and
    /// not negative.
    ///
    /// ```
    /// use rectify::Sgd;
    ///
    /// assert_eq!(Sgd::new(0.1)?.learning_rate(), 0.1);
    /// assert_eq!(Sgd::new(0.0)?.learning_rate(), 0.0);
    /// let err = Sgd::new(-1.0).unwrap_err();
    /// assert_eq!(err.to_string(), "Sgd: invalid learning_rate = -1: must be finite and non-negative");
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn new(learning_rate: f64) -> Result<Self> {
        let learning_rate = hyper(OPTIMIZER, "learning_rate", learning_rate).non_negative()?;
        Ok(Sgd {
            learning_rate,
            momentum: 0.0,
            weight_decay: 0.0,
            non_finite: NonFinite::Refuse,
            velocity: State::Empty,
        })
    }

    /// This optimizer with the given momentum (PyTorch's `momentum`).
    ///
    /// # Errors
    ///
    /// [`LayerError::InvalidParameter`] unless `0 <= momentum < 1`.
    ///
    /// ```
    /// use rectify::Sgd;
    ///
    /// assert_eq!(Sgd::new(0.1)?.with_momentum(0.9)?.momentum(), 0.9);
    /// assert!(Sgd::new(0.1)?.with_momentum(1.0).is_err());
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn with_momentum(self, momentum: f64) -> Result<Self> {
        let ok = (0.0..1.0).contains(&momentum);
        let momentum = hyper(OPTIMIZER, "momentum", momentum).require(ok, "must be in [0, 1)")?;
        Ok(Sgd { momentum, ..self })
    }

    /// This optimizer with L2 weight decay (PyTorch's `weight_decay`).
    ///
    /// # Errors
    ///
    /// [`LayerError::InvalidParameter`] unless `weight_decay` is finite and
    /// not negative.
    ///
    /// ```
    /// use rectify::Sgd;
    ///
    /// assert_eq!(Sgd::new(0.1)?.with_weight_decay(1e-4)?.weight_decay(), 1e-4);
    /// assert!(Sgd::new(0.1)?.with_weight_decay(f64::NAN).is_err());
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn with_weight_decay(self, weight_decay: f64) -> Result<Self> {
        let weight_decay = hyper(OPTIMIZER, "weight_decay", weight_decay).non_negative()?;
        Ok(Sgd {
            weight_decay,
            ..self
        })
    }

    /// This optimizer with `policy` for a step that would write a NaN or an
    /// infinity into a parameter or a velocity: refuse it and change
    /// nothing ([`NonFinite::Refuse`], the default), or write it, as
    /// PyTorch does ([`NonFinite::Write`]). [`NonFinite`] says why refusing
    /// is the default.
    ///
    /// ```
    /// use rectify::{NonFinite, Sgd};
    ///
    /// assert_eq!(Sgd::new(0.1)?.non_finite(), NonFinite::Refuse);
    /// let sgd = Sgd::new(0.1)?.with_momentum(0.9)?.with_non_finite(NonFinite::Write);
    /// assert_eq!(sgd.non_finite(), NonFinite::Write);
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn with_non_finite(self, policy: NonFinite) -> Self {
        Sgd {
            non_finite: policy,
            ..self
        }
    }

    /// The learning rate.
    ///
    /// ```
    /// # use rectify::Sgd;
    /// assert_eq!(Sgd::new(0.5)?.learning_rate(), 0.5);
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn learning_rate(&self) -> f64 {
        self.learning_rate
    }

    /// The momentum, 0 unless set.
    ///
    /// ```
    /// # use rectify::Sgd;
    /// assert_eq!(Sgd::new(0.5)?.momentum(), 0.0);
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn momentum(&self) -> f64 {
        self.momentum
    }

    /// The weight decay, 0 unless set.
    ///
    /// ```
    /// # use rectify::Sgd;
    /// assert_eq!(Sgd::new(0.5)?.weight_decay(), 0.0);
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn weight_decay(&self) -> f64 {
        self.weight_decay
    }

    /// What a step does about a NaN or an infinity, [`NonFinite::Refuse`]
    /// unless set.
    ///
    /// ```
    /// # use rectify::{NonFinite, Sgd};
    /// assert_eq!(Sgd::new(0.5)?.non_finite(), NonFinite::Refuse);
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn non_finite(&self) -> NonFinite {
        self.non_finite
    }

    /// Updates `layer`'s parameters in place from the gradients of its last
    /// backward.
    ///
    /// # Errors
    ///
    /// [`LayerError::ShapeMismatch`] if a parameter's gradient has another
    /// shape than the parameter, and, with momentum,
    /// [`LayerError::StateMismatch`] if the number or shapes of the
    /// parameters differ from the velocities' (kept from the first step: a
    /// new network needs a new `Sgd`). With [`NonFinite::Refuse`] (the
    /// default), [`LayerError::NonFiniteUpdate`] if the update would write
    /// a NaN or an infinity into a parameter or a velocity, naming the
    /// first such parameter (by its index in [`Layer::params`]) and
    /// element. Nothing changes then, neither the layer nor the velocities.
    ///
    /// # Examples
    ///
    /// ```
    /// use rectify::{ndarray::array, DenseLayer, Layer, Sgd};
    ///
    /// let mut dense = DenseLayer::from_parts(array![[1.0]], array![0.0])?;
    /// let mut sgd = Sgd::new(0.25)?;
    /// dense.forward(&array![[2.0]])?;
    /// dense.backward(&array![[1.0]])?;
    /// sgd.step(&mut dense)?;
    /// assert_eq!(dense.weights(), array![[0.5]]); // 1 − 0.25 · 2
    /// assert_eq!(dense.bias(), array![-0.25]);    // 0 − 0.25 · 1
    /// # Ok::<(), rectify::LayerError>(())
    /// ```
    pub fn step<A: Float, L: Layer<A> + ?Sized>(&mut self, layer: &mut L) -> Result<()> {
        let mut params = layer.params();
        check_grads(OPTIMIZER, &params)?;
        let has_momentum = self.momentum != 0.0;
        // None without momentum, and before the first step with it.
        let kept = match has_momentum {
            true => self.velocity.checked(OPTIMIZER, &params)?,
            false => None,
        };
        let first = kept.is_none();
        let rule = Rule {
            lr: A::round_from(self.learning_rate),
            momentum: A::round_from(self.momentum),
            decay: A::round_from(self.weight_decay),
            first,
        };
        if self.non_finite == NonFinite::Refuse {
            for (i, p) in params.iter().enumerate() {
                let velocity = kept.and_then(|v| v.get(i));
                if !rule.all_finite(p, velocity) {
                    let at = rule.first_non_finite(p, velocity);
                    return Err(NonFiniteAt::located(at).error(OPTIMIZER, i));
                }
            }
        }
        if !has_momentum {
            for p in &mut params {
                rule.array(p, None);
            }
            return Ok(());
        }
        if first {
            self.velocity = State::of(zeros_like(&params));
        }
        let velocity = self.velocity.get_mut::<A>().expect("checked, or just made");
        for (p, v) in params.iter_mut().zip(velocity) {
            rule.array(p, Some(v));
        }
        Ok(())
    }
}

/// [`Rule::slices`] compiled for AVX2 and FMA: `mul_add` is one
/// instruction and the loop runs several elements at a time.
///
/// # Safety
///
/// The CPU must have AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn slices_fma<A: Float>(rule: &Rule<A>, w: &mut [A], g: &[A], v: Option<&mut [A]>) {
    rule.slices(w, g, v);
}

/// [`Rule::all_finite_slices`] compiled for AVX2 and FMA.
///
/// # Safety
///
/// The CPU must have AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn all_finite_fma<A: Float>(rule: &Rule<A>, w: &[A], g: &[A], v: Option<&[A]>) -> bool {
    rule.all_finite_slices(w, g, v)
}

impl<A: Float> Optimizer<A> for Sgd {
    fn step(&mut self, layer: &mut dyn Layer<A>) -> Result<()> {
        Sgd::step(self, layer)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tensors::{bits, Tensors};
    use super::*;
    use crate::{DenseLayer, LayerError, Sequential};
    use ndarray::{array, Array1, Array2};

    /// W = [[1, 2]], b = [0.25, 0.5], after a backward of `g` on x = [[1]],
    /// so that dW = [g] and db = g.
    fn dense_with_grad(g: [f64; 2]) -> DenseLayer {
        let mut dense = DenseLayer::from_parts(array![[1.0, 2.0]], array![0.25, 0.5]).unwrap();
        backward(&mut dense, g);
        dense
    }

    fn backward(dense: &mut DenseLayer, g: [f64; 2]) {
        dense.forward(&array![[1.0]]).unwrap();
        dense.backward(&array![g]).unwrap();
    }

    #[test]
    fn one_plain_step_and_one_with_weight_decay() {
        let mut dense = dense_with_grad([0.5, -1.0]);
        Sgd::new(0.5).unwrap().step(&mut dense).unwrap();
        assert_eq!(dense.weights(), array![[0.75, 2.5]]);
        assert_eq!(dense.bias(), array![0.0, 1.0]);

        // g + 0.5·w: weights [1, 0], bias [0.625, -0.75].
        let mut dense = dense_with_grad([0.5, -1.0]);
        let mut sgd = Sgd::new(0.5).unwrap().with_weight_decay(0.5).unwrap();
        sgd.step(&mut dense).unwrap();
        assert_eq!(dense.weights(), array![[0.5, 2.0]]);
        assert_eq!(dense.bias(), array![-0.0625, 0.875]);
    }

    #[test]
    fn two_momentum_steps() {
        let mut dense = dense_with_grad([0.5, -1.0]);
        let mut sgd = Sgd::new(0.5).unwrap().with_momentum(0.5).unwrap();
        sgd.step(&mut dense).unwrap(); // v = g = [0.5, -1]
        assert_eq!(dense.weights(), array![[0.75, 2.5]]);
        assert_eq!(dense.bias(), array![0.0, 1.0]);
        backward(&mut dense, [1.0, 0.25]);
        sgd.step(&mut dense).unwrap(); // v = 0.5·[0.5, -1] + [1, 0.25] = [1.25, -0.25]
        assert_eq!(dense.weights(), array![[0.125, 2.625]]);
        assert_eq!(dense.bias(), array![-0.625, 1.125]);
    }

    #[test]
    fn momentum_with_weight_decay_and_a_sequential() {
        let mut net = Sequential::new();
        net.push(dense_with_grad([0.5, -1.0]));
        let sgd = Sgd::new(0.5).and_then(|s| s.with_momentum(0.5));
        let mut sgd = sgd.and_then(|s| s.with_weight_decay(0.5)).unwrap();
        net.forward(&array![[1.0]]).unwrap();
        net.backward(&array![[0.5, -1.0]]).unwrap();
        sgd.step(&mut net).unwrap(); // v = g + 0.5·w = [1, 0] for W
        net.forward(&array![[1.0]]).unwrap(); // a step makes the pass stale
        net.backward(&array![[0.5, -1.0]]).unwrap();
        sgd.step(&mut net).unwrap(); // v = 0.5·[1, 0] + [0.5, -1] + 0.5·[0.5, 2] = [1.25, 0]
        let dense: &DenseLayer = net.layer(0).unwrap();
        assert_eq!(dense.weights(), array![[-0.125, 2.0]]);
    }

    #[test]
    fn hyperparameters_are_validated() {
        for lr in [-0.1, -5e-324, f64::NAN, f64::INFINITY] {
            assert!(Sgd::new(lr).is_err(), "{lr}");
        }
        let sgd = || Sgd::new(0.1).unwrap();
        for m in [-0.1, 1.0, f64::NAN] {
            assert!(sgd().with_momentum(m).is_err(), "{m}");
        }
        for wd in [-1e-9, f64::NAN, f64::INFINITY] {
            assert!(sgd().with_weight_decay(wd).is_err(), "{wd}");
        }
        let err = sgd().with_momentum(1.5).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Sgd: invalid momentum = 1.5: must be in [0, 1)"
        );
        let err = sgd().with_weight_decay(-2.0).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Sgd: invalid weight_decay = -2: must be finite and non-negative"
        );
        assert!(sgd().with_momentum(0.0).is_ok() && sgd().with_weight_decay(0.0).is_ok());
    }

    #[test]
    fn extreme_values_give_short_messages() {
        let err = Sgd::new(f64::MIN).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Sgd: invalid learning_rate = -1.7976931348623157e308: must be finite and non-negative"
        );
        let err = Sgd::new(-5e-324).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Sgd: invalid learning_rate = -5e-324: must be finite and non-negative"
        );
        let err = Sgd::new(0.1)
            .unwrap()
            .with_weight_decay(-1e300)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Sgd: invalid weight_decay = -1e300: must be finite and non-negative"
        );
    }

    #[test]
    fn changed_parameters_are_errors_and_change_nothing() {
        let mut sgd = Sgd::new(0.5).unwrap().with_momentum(0.9).unwrap();
        sgd.step(&mut dense_with_grad([0.5, -1.0])).unwrap();

        let mut wider = DenseLayer::from_parts(Array2::ones((2, 2)), Array1::ones(2)).unwrap();
        wider.forward(&array![[1.0, 1.0]]).unwrap();
        wider.backward(&array![[1.0, 1.0]]).unwrap();
        let before = sgd.velocity.clone();
        let err = sgd.step(&mut wider).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Sgd::step: parameter 0 (in params() order) has shape [2, 2], expected [1, 2] \
             as in the optimizer's state: a new network needs a new optimizer"
        );
        assert_eq!(wider.weights(), Array2::<f64>::ones((2, 2)));

        // The second parameter alone differs: parameter 1.
        let zeros = |shape: &[usize]| (ArrayD::zeros(shape), ArrayD::zeros(shape));
        let mut longer = Tensors(vec![zeros(&[1, 2]), zeros(&[3])]);
        let err = sgd.step(&mut longer).unwrap_err();
        assert!(
            err.to_string().starts_with(
                "Sgd::step: parameter 1 (in params() order) has shape [3], expected [2] as"
            ),
            "{err}"
        );

        let mut two = Sequential::new();
        two.push(dense_with_grad([0.5, -1.0]))
            .push(dense_with_grad([0.5, -1.0]));
        let err = sgd.step(&mut two).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Sgd::step: the layer has 4 parameters, expected 2 as in the optimizer's state: \
             a new network needs a new optimizer"
        );
        assert_eq!(sgd.velocity, before);

        let mut same = dense_with_grad([0.0, 0.0]);
        sgd.step(&mut same).unwrap(); // v = 0.9·[0.5, -1]
        assert_eq!(same.weights(), array![[1.0 - 0.5 * 0.45, 2.0 + 0.5 * 0.9]]);
    }

    #[test]
    fn a_learning_rate_of_0_is_valid_as_for_adam_and_freezes_the_parameters() {
        use crate::Adam;
        assert_eq!(Sgd::new(0.0).map(|s| s.learning_rate()), Ok(0.0));
        assert_eq!(Adam::new(0.0).map(|a| a.learning_rate()), Ok(0.0));
        for lr in [-0.0, 0.0] {
            let mut sgd = Sgd::new(lr).unwrap().with_momentum(0.5).unwrap();
            let mut dense = dense_with_grad([0.5, -1.0]);
            sgd.step(&mut dense).unwrap();
            sgd.step(&mut dense).unwrap();
            assert_eq!(dense.weights(), array![[1.0, 2.0]]);
            assert_eq!(dense.bias(), array![0.25, 0.5]);
            // The velocity still accumulates: 0.5·g + g.
            assert_eq!(
                sgd.velocity.get::<f64>().unwrap()[1],
                array![0.75, -1.5].into_dyn()
            );
        }
        let (sgd, adam) = (Sgd::new(-1e-300), Adam::new(-1e-300));
        assert_eq!(
            sgd.unwrap_err().to_string(),
            "Sgd: invalid learning_rate = -1e-300: must be finite and non-negative"
        );
        assert_eq!(
            adam.unwrap_err().to_string(),
            "Adam: invalid learning_rate = -1e-300: must be finite and non-negative"
        );
    }

    /// `Tensors` of one parameter `value` with gradient `grad`.
    fn tensor(value: &[f64], grad: &[f64]) -> Tensors {
        let array = |v: &[f64]| Array1::from(v.to_vec()).into_dyn();
        Tensors(vec![(array(value), array(grad))])
    }

    #[test]
    fn a_step_that_would_write_nan_or_infinity_is_refused_by_default_and_changes_nothing() {
        for momentum in [0.0, 0.5] {
            let mut sgd = Sgd::new(0.5).unwrap().with_momentum(momentum).unwrap();
            assert_eq!(sgd.non_finite(), NonFinite::Refuse);
            // Parameter 0 is fine; parameter 1 has a NaN gradient at [1, 0].
            let mut layer = tensor(&[1.0, 2.0], &[0.5, -1.0]);
            let bad = Array2::from_shape_vec((2, 2), vec![1.0, 2.0, f64::NAN, 4.0]).unwrap();
            layer
                .0
                .push((Array2::ones((2, 2)).into_dyn(), bad.into_dyn()));
            let untouched = layer.clone();
            for _ in 0..2 {
                let err = sgd.step(&mut layer).unwrap_err();
                assert_eq!(
                    err.to_string(),
                    "Sgd::step: parameter 1 (in params() order) would become NaN at flat index 2, \
                     where its gradient is NaN; the step was refused and changed nothing"
                );
                assert!(matches!(
                    err,
                    LayerError::NonFiniteUpdate { layer: "Sgd", param: 1, state: None, index: 2, value, grad }
                        if value.is_nan() && grad.is_nan()
                ));
                assert_eq!(bits(&layer), bits(&untouched));
                assert!(
                    sgd.velocity == State::Empty,
                    "the first step's velocities are not kept"
                );
            }
            // The failures left no trace: the next good step is the first.
            layer.0[1].1.fill(1.0);
            sgd.step(&mut layer).unwrap();
            let mut twin = Sgd::new(0.5).unwrap().with_momentum(momentum).unwrap();
            let mut twin_layer = untouched.clone();
            twin_layer.0[1].1.fill(1.0);
            twin.step(&mut twin_layer).unwrap();
            assert_eq!(layer, twin_layer);

            // A later step, with velocities: an infinite gradient, refused.
            layer.0[0].1[1] = f64::NEG_INFINITY;
            let (before, velocity) = (layer.clone(), sgd.velocity.clone());
            let err = sgd.step(&mut layer).unwrap_err();
            assert!(
                err.to_string().starts_with(
                    "Sgd::step: parameter 0 (in params() order) would become inf at flat index 1, \
                     where its gradient is -inf;"
                ),
                "{err}"
            );
            assert_eq!(bits(&layer), bits(&before));
            assert_eq!(sgd.velocity, velocity);
        }

        // A finite gradient whose update overflows is refused too.
        let mut layer = tensor(&[1.0, -1e308], &[0.0, 1e308]);
        let err = Sgd::new(10.0).unwrap().step(&mut layer).unwrap_err();
        assert!(
            err.to_string().starts_with(
                "Sgd::step: parameter 0 (in params() order) would become -inf at flat index 1, \
                 where its gradient is 1e308;"
            ),
            "{err}"
        );
        // Weight decay that overflows: g + λ·w with w = -1e308 and λ = 10.
        let mut layer = tensor(&[-1e308], &[0.0]);
        let mut sgd = Sgd::new(1.0).unwrap().with_weight_decay(10.0).unwrap();
        let err = sgd.step(&mut layer).unwrap_err();
        assert!(
            matches!(err, LayerError::NonFiniteUpdate { value, grad: 0.0, .. } if value == f64::INFINITY)
        );
    }

    #[test]
    fn with_write_a_step_writes_nan_and_infinities_as_pytorch_does() {
        for momentum in [0.0, 0.5] {
            let sgd = Sgd::new(0.5).unwrap().with_momentum(momentum).unwrap();
            let mut sgd = sgd.with_non_finite(NonFinite::Write);
            assert_eq!(sgd.non_finite(), NonFinite::Write);
            let mut layer = tensor(&[1.0, 2.0, 3.0], &[f64::NAN, f64::INFINITY, 1.0]);
            sgd.step(&mut layer).unwrap();
            let w = &layer.0[0].0;
            assert!(w[0].is_nan());
            assert_eq!((w[1], w[2]), (f64::NEG_INFINITY, 2.5));
            if momentum != 0.0 {
                assert!(sgd.velocity.get::<f64>().unwrap()[0][0].is_nan());
                assert_eq!(sgd.velocity.get::<f64>().unwrap()[0][1], f64::INFINITY);
            }
        }
    }

    #[test]
    fn the_refused_element_is_counted_in_row_major_order_whatever_the_layout() {
        // A column-major parameter: its memory order is not row-major.
        let value = Array2::<f64>::ones((3, 2)).reversed_axes().into_dyn();
        assert!(value.as_slice().is_none());
        let mut grad = ArrayD::zeros(vec![2, 3]);
        grad[[1, 0]] = f64::NAN;
        let mut layer = Tensors(vec![(value, grad)]);
        for momentum in [0.0, 0.9] {
            let mut sgd = Sgd::new(0.1).unwrap().with_momentum(momentum).unwrap();
            let err = sgd.step(&mut layer).unwrap_err();
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
        }
    }

    #[test]
    fn a_long_parameter_steps_in_pieces_as_element_by_element() {
        // 1001 elements in standard layout (cut into pieces in the tests)
        // and the same values column-major (stepped element by element).
        let values = |seed: f64| {
            Array2::from_shape_fn((7, 143), |(i, j)| {
                (seed * (i * 143 + j + 1) as f64).sin() * 10f64.powi((j % 7) as i32 - 3)
            })
        };
        let (value, grad) = (values(1.0), values(2.0));
        let column_major = |a: &Array2<f64>| {
            let mut transposed = Array2::zeros((a.ncols(), a.nrows()));
            transposed.assign(&a.t());
            transposed.reversed_axes().into_dyn()
        };
        let mut pieces = Tensors(vec![(value.clone().into_dyn(), grad.clone().into_dyn())]);
        let mut zipped = Tensors(vec![(column_major(&value), column_major(&grad))]);
        assert!(zipped.0[0].0.as_slice().is_none());
        let mut sgd = [0, 1].map(|_| Sgd::new(0.3).unwrap().with_momentum(0.9).unwrap());
        for _ in 0..3 {
            sgd[0].step(&mut pieces).unwrap();
            sgd[1].step(&mut zipped).unwrap();
        }
        let (a, b) = (&pieces.0[0].0, &zipped.0[0].0);
        assert!(a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits()));

        // An infinite gradient far from the first piece.
        pieces.0[0].1[[6, 100]] = f64::INFINITY;
        let before = bits(&pieces);
        let err = sgd[0].step(&mut pieces).unwrap_err();
        assert!(
            matches!(err, LayerError::NonFiniteUpdate { index: 958, .. }),
            "{err}"
        );
        assert_eq!(bits(&pieces), before);
    }

    #[test]
    fn a_gradient_of_the_wrong_shape_is_an_error() {
        let mut broken = Tensors(vec![(ArrayD::zeros(vec![2]), ArrayD::zeros(vec![3]))]);
        let err = Sgd::new(0.1).unwrap().step(&mut broken).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Sgd::step: grad has shape [3], expected [2]"
        );
    }
}
