//! serde for the built-in layers, [`Sgd`], [`Adam`] and [`ActivityStats`].
//!
//! Each type is serialized as a plain struct of its hyperparameters and
//! parameters (its `Repr`), and deserialized into that struct and then
//! through the type's validating constructors, as `#[serde(try_from =
//! "Repr", into = "Repr")]` would, but without a copy of the arrays on the
//! way out. Caches (masks, inputs, gradients) are not kept.

use ndarray::{Array1, Array2, ArrayD, ArrayView1, ArrayView2};
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::optim::State;
use crate::validate::hyper;
use crate::{
    ActivityStats, Adam, AtZero, ClippedReluLayer, DenseLayer, Float, LayerError, LeakyReluLayer,
    NonFinite, PReluLayer, RReluLayer, ReluLayer, Result, Sgd, ThresholdLayer,
};

/// A type that serde sees as its `Repr`.
trait ViaRepr: Sized {
    /// What is serialized, borrowing the arrays.
    type Out<'a>: Serialize
    where
        Self: 'a;
    /// What is deserialized, owning them.
    type In: DeserializeOwned;
    fn to_repr(&self) -> Self::Out<'_>;
    /// The value through its validating constructors.
    fn from_repr(repr: Self::In) -> Result<Self>;
}

/// `Serialize` and `Deserialize` through [`ViaRepr`].
macro_rules! serde_via_repr {
    ($($type:ty),*) => {$(
        impl Serialize for $type {
            fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
                self.to_repr().serialize(serializer)
            }
        }

        impl<'de> Deserialize<'de> for $type {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
                let repr = <$type as ViaRepr>::In::deserialize(deserializer)?;
                Self::from_repr(repr).map_err(D::Error::custom)
            }
        }
    )*};
}

crate::family!(serde_via_repr);
serde_via_repr!(
    DenseLayer,
    DenseLayer<f32>,
    PReluLayer<f32>,
    Sgd,
    Adam,
    ActivityStats
);

#[derive(Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReluRepr {
    #[serde(default)]
    at_zero: AtZero,
}

impl ViaRepr for ReluLayer {
    type Out<'a> = ReluRepr;
    type In = ReluRepr;

    fn to_repr(&self) -> ReluRepr {
        ReluRepr {
            at_zero: self.zero_side(),
        }
    }

    fn from_repr(repr: ReluRepr) -> Result<Self> {
        Ok(ReluLayer::new().at_zero(repr.at_zero))
    }
}

#[derive(Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LeakyReluRepr {
    negative_slope: f64,
    #[serde(default)]
    at_zero: AtZero,
}

impl ViaRepr for LeakyReluLayer {
    type Out<'a> = LeakyReluRepr;
    type In = LeakyReluRepr;

    fn to_repr(&self) -> LeakyReluRepr {
        LeakyReluRepr {
            negative_slope: self.negative_slope(),
            at_zero: self.zero_side(),
        }
    }

    fn from_repr(repr: LeakyReluRepr) -> Result<Self> {
        Ok(LeakyReluLayer::new(repr.negative_slope)?.at_zero(repr.at_zero))
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PReluRepr<A> {
    slopes: A,
    #[serde(default)]
    at_zero: AtZero,
}

impl<A: Float + Serialize + DeserializeOwned> ViaRepr for PReluLayer<A> {
    type Out<'a> = PReluRepr<ArrayView1<'a, A>>;
    type In = PReluRepr<Array1<A>>;

    fn to_repr(&self) -> Self::Out<'_> {
        PReluRepr {
            slopes: self.slopes(),
            at_zero: self.zero_side(),
        }
    }

    fn from_repr(repr: Self::In) -> Result<Self> {
        Ok(PReluLayer::from_slopes(repr.slopes)?.at_zero(repr.at_zero))
    }
}

/// RReLU's bounds, and its seed and count of forwards, which fix the slopes
/// of its next forward.
#[derive(Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RReluRepr {
    lower: f64,
    upper: f64,
    seed: u64,
    forwards: u64,
    #[serde(default)]
    at_zero: AtZero,
}

impl ViaRepr for RReluLayer {
    type Out<'a> = RReluRepr;
    type In = RReluRepr;

    fn to_repr(&self) -> RReluRepr {
        RReluRepr {
            lower: self.lower(),
            upper: self.upper(),
            seed: self.seed(),
            forwards: self.member().forwards,
            at_zero: self.zero_side(),
        }
    }

    fn from_repr(repr: RReluRepr) -> Result<Self> {
        let layer = RReluLayer::new(repr.lower, repr.upper)?;
        let mut layer = layer.with_seed(repr.seed).at_zero(repr.at_zero);
        layer.member_mut().forwards = repr.forwards;
        Ok(layer)
    }
}

#[derive(Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClippedReluRepr {
    cap: f64,
    #[serde(default)]
    at_zero: AtZero,
}

impl ViaRepr for ClippedReluLayer {
    type Out<'a> = ClippedReluRepr;
    type In = ClippedReluRepr;

    fn to_repr(&self) -> ClippedReluRepr {
        ClippedReluRepr {
            cap: self.cap(),
            at_zero: self.zero_side(),
        }
    }

    fn from_repr(repr: ClippedReluRepr) -> Result<Self> {
        Ok(ClippedReluLayer::new(repr.cap)?.at_zero(repr.at_zero))
    }
}

#[derive(Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ThresholdRepr {
    threshold: f64,
    value: f64,
}

impl ViaRepr for ThresholdLayer {
    type Out<'a> = ThresholdRepr;
    type In = ThresholdRepr;

    fn to_repr(&self) -> ThresholdRepr {
        ThresholdRepr {
            threshold: self.threshold(),
            value: self.value(),
        }
    }

    fn from_repr(repr: ThresholdRepr) -> Result<Self> {
        ThresholdLayer::new(repr.threshold, repr.value)
    }
}

/// rectify's layout: `weights` is inputs × outputs. The values are the
/// layer's element type, `f32` or `f64`.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DenseRepr<W, B> {
    weights: W,
    bias: B,
}

impl<A: Float + Serialize + DeserializeOwned> ViaRepr for DenseLayer<A> {
    type Out<'a> = DenseRepr<ArrayView2<'a, A>, ArrayView1<'a, A>>;
    type In = DenseRepr<Array2<A>, Array1<A>>;

    fn to_repr(&self) -> Self::Out<'_> {
        DenseRepr {
            weights: self.weights(),
            bias: self.bias(),
        }
    }

    fn from_repr(repr: Self::In) -> Result<Self> {
        DenseLayer::from_parts(repr.weights, repr.bias)
    }
}

/// The element type of an optimizer's state tensors, the field `dtype`
/// beside them: that of the network it stepped. `f64` when the field is
/// absent (written before `f32` networks trained) and when there are no
/// tensors yet, whose element type is then chosen by the first step.
#[derive(Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
enum ElementType {
    #[serde(rename = "f32")]
    F32,
    #[default]
    #[serde(rename = "f64")]
    F64,
}

impl ElementType {
    /// The element type of `state`'s tensors, `f64` if it has none.
    fn of(state: &State) -> Self {
        match state {
            State::F32(_) => ElementType::F32,
            State::Empty | State::F64(_) => ElementType::F64,
        }
    }
}

/// `state` if every value is finite (and, if `non_negative`, not below 0).
fn checked_state(
    optimizer: &'static str,
    name: &'static str,
    state: Vec<ArrayD<f64>>,
    non_negative: bool,
) -> Result<Vec<ArrayD<f64>>> {
    for &v in state.iter().flatten() {
        let value = hyper(optimizer, name, v);
        if non_negative {
            value.non_negative()?;
        } else {
            value.finite()?;
        }
    }
    Ok(state)
}

/// SGD's hyperparameters and velocities (empty before the first step with
/// momentum), of element type `dtype`. `non_finite` may be left out, for
/// [`NonFinite::Refuse`], and `dtype`, for `f64`.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SgdRepr<V> {
    learning_rate: f64,
    momentum: f64,
    weight_decay: f64,
    #[serde(default)]
    non_finite: NonFinite,
    #[serde(default)]
    dtype: ElementType,
    velocity: V,
}

impl ViaRepr for Sgd {
    type Out<'a> = SgdRepr<StateRepr<'a>>;
    type In = SgdRepr<Vec<ArrayD<f64>>>;

    fn to_repr(&self) -> Self::Out<'_> {
        SgdRepr {
            learning_rate: self.learning_rate(),
            momentum: self.momentum(),
            weight_decay: self.weight_decay(),
            non_finite: self.non_finite(),
            dtype: ElementType::of(&self.velocity),
            velocity: StateRepr(&self.velocity),
        }
    }

    fn from_repr(repr: Self::In) -> Result<Self> {
        let sgd = Sgd::new(repr.learning_rate)?.with_momentum(repr.momentum)?;
        let sgd = sgd.with_weight_decay(repr.weight_decay)?;
        let mut sgd = sgd.with_non_finite(repr.non_finite);
        sgd.velocity = state("Sgd", "velocity", repr.dtype, repr.velocity, false)?;
        Ok(sgd)
    }
}

/// An optimizer's state as a list of tensors, empty if there is none.
///
/// `f32` tensors are written as `f32` numbers in a human-readable format
/// (JSON: `f32`'s shortest digits) and widened exactly to `f64` in a binary
/// one (bincode, CBOR). The reader reads them as `f64` whatever `dtype`
/// says (a derived `Deserialize` reads the two apart) and rounds them to
/// `f32` ([`state`]): a text's digits read as `f64` round back to the same
/// `f32` (serde_json reads an `f32` so), and a binary format, which gives
/// the type it is asked for, needs the `f64` it is asked for.
struct StateRepr<'a>(&'a State);

impl Serialize for StateRepr<'_> {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        match self.0 {
            State::Empty => serializer.collect_seq(std::iter::empty::<ArrayD<f64>>()),
            State::F32(tensors) if serializer.is_human_readable() => tensors.serialize(serializer),
            State::F32(tensors) => {
                serializer.collect_seq(tensors.iter().map(|t| t.mapv(f64::from)))
            }
            State::F64(tensors) => tensors.serialize(serializer),
        }
    }
}

/// Deserialized tensors as the state of a network of `dtype`: none if
/// there are none. Every value must be finite (and, if `non_negative`, not
/// below 0); for `f32`, each is rounded to the nearest `f32` (exact for
/// what a save wrote), and one above `f32::MAX` is an error.
fn state(
    optimizer: &'static str,
    name: &'static str,
    dtype: ElementType,
    tensors: Vec<ArrayD<f64>>,
    non_negative: bool,
) -> Result<State> {
    let tensors = checked_state(optimizer, name, tensors, non_negative)?;
    if tensors.is_empty() {
        return Ok(State::Empty);
    }
    if dtype == ElementType::F64 {
        return Ok(State::F64(tensors));
    }
    let narrow = |tensor: ArrayD<f64>| -> Result<ArrayD<f32>> {
        for &v in &tensor {
            f32::hyper(optimizer, name, v)?;
        }
        Ok(tensor.mapv(f32::round_from))
    };
    let tensors = tensors.into_iter().map(narrow);
    Ok(State::F32(tensors.collect::<Result<_>>()?))
}

/// Adam's hyperparameters (`weight_decay` is decoupled, AdamW's, if
/// `decoupled`), its step count and moments, of element type `dtype`.
/// `non_finite` may be left out, for [`NonFinite::Refuse`], and `dtype`,
/// for `f64`.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AdamRepr<V> {
    learning_rate: f64,
    betas: (f64, f64),
    eps: f64,
    weight_decay: f64,
    decoupled: bool,
    #[serde(default)]
    non_finite: NonFinite,
    steps: u64,
    #[serde(default)]
    dtype: ElementType,
    exp_avg: V,
    exp_avg_sq: V,
}

impl ViaRepr for Adam {
    type Out<'a> = AdamRepr<StateRepr<'a>>;
    type In = AdamRepr<Vec<ArrayD<f64>>>;

    fn to_repr(&self) -> Self::Out<'_> {
        AdamRepr {
            learning_rate: self.learning_rate(),
            betas: self.betas(),
            eps: self.eps(),
            weight_decay: self.weight_decay() + self.decoupled_weight_decay(),
            decoupled: self.decoupled,
            non_finite: self.non_finite(),
            steps: self.steps(),
            dtype: ElementType::of(&self.exp_avg),
            exp_avg: StateRepr(&self.exp_avg),
            exp_avg_sq: StateRepr(&self.exp_avg_sq),
        }
    }

    /// Also errors unless the two moments have the same shapes, one pair
    /// per parameter, which `step` relies on.
    fn from_repr(repr: Self::In) -> Result<Self> {
        let (beta1, beta2) = repr.betas;
        let adam = Adam::new(repr.learning_rate)?.with_betas(beta1, beta2)?;
        let adam = adam.with_eps(repr.eps)?.with_non_finite(repr.non_finite);
        let mut adam = if repr.decoupled {
            adam.with_decoupled_weight_decay(repr.weight_decay)?
        } else {
            adam.with_weight_decay(repr.weight_decay)?
        };
        let shapes = |state: &[ArrayD<f64>]| -> Vec<Vec<usize>> {
            state.iter().map(|s| s.shape().to_vec()).collect()
        };
        let (expected, actual) = (shapes(&repr.exp_avg), shapes(&repr.exp_avg_sq));
        if expected != actual {
            let (expected, actual) = (expected.concat(), actual.concat());
            let what = "exp_avg_sq (shapes concatenated)";
            return Err(LayerError::shape(
                "Adam",
                "deserialize",
                what,
                &expected,
                &actual,
            ));
        }
        adam.steps = repr.steps;
        adam.exp_avg = state("Adam", "exp_avg", repr.dtype, repr.exp_avg, false)?;
        adam.exp_avg_sq = state("Adam", "exp_avg_sq", repr.dtype, repr.exp_avg_sq, true)?;
        Ok(adam)
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ActivityStatsRepr<A> {
    active: A,
    samples: u64,
}

impl ViaRepr for ActivityStats {
    type Out<'a> = ActivityStatsRepr<ArrayView1<'a, u64>>;
    type In = ActivityStatsRepr<Array1<u64>>;

    fn to_repr(&self) -> Self::Out<'_> {
        ActivityStatsRepr {
            active: self.active_counts(),
            samples: self.samples(),
        }
    }

    /// Also errors if a unit was active in more samples than were recorded.
    fn from_repr(repr: Self::In) -> Result<Self> {
        let samples = repr.samples;
        for &count in &repr.active {
            hyper("ActivityStats", "active", count as f64).require_against(
                count <= samples,
                "must not exceed",
                ("samples", samples as f64),
            )?;
        }
        let mut stats = ActivityStats::new(repr.active.len());
        (stats.active, stats.samples) = (repr.active, samples);
        Ok(stats)
    }
}

#[cfg(test)]
mod tests {
    use ndarray::{array, Array2};
    use serde::de::value::{Error as ValueError, MapDeserializer};

    use super::*;
    use crate::{Layer, Optimizer};

    fn x() -> Array2<f64> {
        array![[-2.0, 0.0, 3.0], [1.0, -0.0, -0.5]]
    }

    /// `layer` through JSON and back: the same JSON again (so the same
    /// bits, `-0.0` and subnormals included) and the same predictions.
    fn round_trip<T: Layer + Serialize + DeserializeOwned>(layer: &T) -> T {
        let json = serde_json::to_string(layer).unwrap();
        let back: T = serde_json::from_str(&json).unwrap();
        assert_eq!(serde_json::to_string(&back).unwrap(), json);
        let bits = |l: &T| l.predict(&x()).unwrap().mapv(f64::to_bits);
        assert_eq!(bits(&back), bits(layer), "{json}");
        back
    }

    #[test]
    fn every_layer_round_trips_bit_for_bit() {
        round_trip(&ReluLayer::new().at_zero(AtZero::Active));
        round_trip(&LeakyReluLayer::new(-1.0 / 3.0).unwrap());
        round_trip(
            &ClippedReluLayer::new(5e-324)
                .unwrap()
                .at_zero(AtZero::Active),
        );
        round_trip(&ThresholdLayer::new(-0.0, -2.5).unwrap());
        round_trip(&RReluLayer::new(0.1, 0.7).unwrap().with_seed(u64::MAX));
        let prelu = PReluLayer::from_slopes(array![0.1, -0.0, 1e-310]).unwrap();
        round_trip(&prelu.at_zero(AtZero::Active));
        let weights = array![[1.0, -0.0], [5e-324, 1e300], [-1.0 / 3.0, 0.1]];
        let dense = DenseLayer::from_parts(weights, array![0.2, -7.0]).unwrap();
        round_trip(&dense);
    }

    fn json<T: Serialize>(value: &T) -> String {
        serde_json::to_string(value).unwrap()
    }

    #[test]
    fn layers_are_their_hyperparameters_and_parameters_without_caches() {
        assert_eq!(json(&ReluLayer::new()), r#"{"at_zero":"Inactive"}"#);
        let mut leaky = LeakyReluLayer::new(0.5).unwrap();
        leaky.forward(&x()).unwrap();
        assert_eq!(
            json(&leaky),
            r#"{"negative_slope":0.5,"at_zero":"Inactive"}"#
        );
        let mut dense = DenseLayer::from_parts(array![[2.0]], array![1.0]).unwrap();
        dense.forward(&array![[1.0]]).unwrap();
        dense.backward(&array![[1.0]]).unwrap();
        assert_eq!(
            json(&dense),
            r#"{"weights":{"v":1,"dim":[1,1],"data":[2.0]},"bias":{"v":1,"dim":[1],"data":[1.0]}}"#
        );
        let mut back: DenseLayer = serde_json::from_str(&json(&dense)).unwrap();
        assert_eq!(back.weights_grad(), array![[0.0]], "gradients are not kept");
        assert!(
            back.backward(&array![[1.0]]).is_err(),
            "nor the forward's input"
        );
        // `at_zero` may be left out.
        let leaky: LeakyReluLayer = serde_json::from_str(r#"{"negative_slope":0.1}"#).unwrap();
        assert_eq!(leaky.negative_slope(), 0.1);
    }

    #[test]
    fn rrelu_resumes_with_the_slopes_it_would_have_drawn() {
        let mut layer = RReluLayer::default().with_seed(7);
        for _ in 0..3 {
            layer.forward(&x()).unwrap();
        }
        let mut back = round_trip(&layer);
        let next = layer.forward(&x()).unwrap();
        assert_eq!(
            back.forward(&x()).unwrap().mapv(f64::to_bits),
            next.mapv(f64::to_bits)
        );
        assert_ne!(
            next,
            RReluLayer::default().with_seed(7).forward(&x()).unwrap()
        );
    }

    /// Trains a copy of one dense layer with `optimizer` for three steps,
    /// saves and restores both through JSON, and checks that the next step
    /// is the same, bit for bit, as with the original optimizer.
    fn resumes<O: Optimizer + Clone + Serialize + DeserializeOwned>(mut optimizer: O) {
        let mut dense = DenseLayer::from_parts(
            array![[1.0, -2.0], [0.5, 3.0], [0.25, -1.0]],
            array![0.1, 0.0],
        )
        .unwrap();
        let step = |dense: &mut DenseLayer, optimizer: &mut O| {
            let y = dense.forward(&x()).unwrap();
            dense.backward(&(y - 1.0)).unwrap();
            optimizer.step(dense).unwrap();
        };
        for _ in 0..3 {
            step(&mut dense, &mut optimizer);
        }
        let mut restored: O =
            serde_json::from_str(&serde_json::to_string(&optimizer).unwrap()).unwrap();
        let mut restored_dense = round_trip(&dense);
        step(&mut dense, &mut optimizer);
        step(&mut restored_dense, &mut restored);
        assert_eq!(
            restored_dense.weights().mapv(f64::to_bits),
            dense.weights().mapv(f64::to_bits)
        );
        assert_eq!(
            restored_dense.bias().mapv(f64::to_bits),
            dense.bias().mapv(f64::to_bits)
        );
    }

    #[test]
    fn optimizers_resume_where_they_stopped() {
        resumes(
            Sgd::new(0.1)
                .unwrap()
                .with_momentum(0.9)
                .unwrap()
                .with_weight_decay(0.01)
                .unwrap(),
        );
        resumes(Adam::new(0.01).unwrap().with_weight_decay(0.1).unwrap());
        resumes(
            Adam::new(0.01)
                .unwrap()
                .with_betas(0.5, 0.9)
                .unwrap()
                .with_decoupled_weight_decay(0.1)
                .unwrap(),
        );
        let adam = Adam::new(0.01)
            .unwrap()
            .with_decoupled_weight_decay(0.25)
            .unwrap();
        let back: Adam = serde_json::from_str(&serde_json::to_string(&adam).unwrap()).unwrap();
        assert_eq!(
            (back.decoupled_weight_decay(), back.weight_decay()),
            (0.25, 0.0)
        );
    }

    #[test]
    fn the_non_finite_policy_round_trips_and_defaults_to_refuse() {
        let sgd = Sgd::new(0.1).unwrap().with_non_finite(NonFinite::Write);
        let json = serde_json::to_string(&sgd).unwrap();
        assert_eq!(
            json,
            r#"{"learning_rate":0.1,"momentum":0.0,"weight_decay":0.0,"non_finite":"Write","dtype":"f64","velocity":[]}"#
        );
        let back: Sgd = serde_json::from_str(&json).unwrap();
        assert_eq!(back.non_finite(), NonFinite::Write);
        let adam = Adam::new(0.1).unwrap().with_non_finite(NonFinite::Write);
        let json = serde_json::to_string(&adam).unwrap();
        assert!(json.contains(r#""non_finite":"Write""#), "{json}");
        let back: Adam = serde_json::from_str(&json).unwrap();
        assert_eq!(back.non_finite(), NonFinite::Write);
        for refuse in [
            json.replace("Write", "Refuse"),
            json.replace(r#""non_finite":"Write","#, ""),
        ] {
            let back: Adam = serde_json::from_str(&refuse).unwrap();
            assert_eq!(back.non_finite(), NonFinite::Refuse, "{refuse}");
        }
        // Written before the setting existed.
        let old = r#"{"learning_rate":0.1,"momentum":0.5,"weight_decay":0.0,"velocity":[]}"#;
        let back: Sgd = serde_json::from_str(old).unwrap();
        assert_eq!(
            (back.momentum(), back.non_finite()),
            (0.5, NonFinite::Refuse)
        );
        refused::<Sgd>(
            &old.replace(r#""velocity""#, r#""non_finite":"Sometimes","velocity""#),
            "unknown variant",
        );
    }

    #[test]
    fn activity_stats_round_trip() {
        let mut relu = ReluLayer::new();
        relu.forward(&x()).unwrap();
        let mut stats = ActivityStats::new(3);
        stats.record(relu.mask().unwrap()).unwrap();
        let json = serde_json::to_string(&stats).unwrap();
        let back: ActivityStats = serde_json::from_str(&json).unwrap();
        assert_eq!(back, stats);
        assert_eq!(back.dead_units(), vec![1]);
    }

    #[test]
    fn counters_at_their_maximum_are_errors_or_wrap_never_overflow() {
        let max = u64::MAX;
        let json = format!(r#"{{"lower":0.1,"upper":0.3,"seed":0,"forwards":{max}}}"#);
        let mut rrelu: RReluLayer = serde_json::from_str(&json).unwrap();
        for _ in 0..2 {
            rrelu.forward(&x()).unwrap();
            rrelu.backward(&x()).unwrap();
        }
        let json = format!(r#"{{"active":{{"v":1,"dim":[3],"data":[0,0,0]}},"samples":{max}}}"#);
        let mut stats: ActivityStats = serde_json::from_str(&json).unwrap();
        let mut relu = ReluLayer::new();
        relu.forward(&x()).unwrap();
        let err = stats.record(relu.mask().unwrap()).unwrap_err();
        assert!(
            err.to_string().contains("cannot count more samples"),
            "{err}"
        );
        assert_eq!((stats.samples(), stats.active_counts().sum()), (max, 0));

        let json = format!(
            r#"{{"learning_rate":0.1,"betas":[0.9,0.999],"eps":1e-8,"weight_decay":0.0,"decoupled":false,"steps":{max},"exp_avg":[{one},{one}],"exp_avg_sq":[{one},{one}]}}"#,
            one = r#"{"v":1,"dim":[1],"data":[1.0]}"#
        );
        let mut adam: Adam = serde_json::from_str(&json).unwrap();
        let mut dense =
            DenseLayer::from_parts(ndarray::array![[2.0]], ndarray::array![1.0]).unwrap();
        let err = adam.step(&mut dense).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("Adam: invalid steps = 1.8446744073709552e19"),
            "{err}"
        );
        assert_eq!((dense.weights()[[0, 0]], adam.steps()), (2.0, max));
    }

    /// `json` does not deserialize into a `T`, with an error that says `message`.
    fn refused<T: DeserializeOwned>(json: &str, message: &str) {
        match serde_json::from_str::<T>(json) {
            Ok(_) => panic!("{json} was accepted"),
            Err(err) => assert!(err.to_string().contains(message), "{err}"),
        }
    }

    #[test]
    fn invalid_values_are_errors_naming_them() {
        let nan = MapDeserializer::<_, ValueError>::new([("negative_slope", f64::NAN)].into_iter());
        let err = LeakyReluLayer::deserialize(nan).err().unwrap();
        assert_eq!(
            err.to_string(),
            "LeakyReluLayer: invalid negative_slope = NaN: must be finite"
        );
        let inf = MapDeserializer::<_, ValueError>::new(
            [("threshold", 0.0), ("value", f64::INFINITY)].into_iter(),
        );
        assert!(ThresholdLayer::deserialize(inf).is_err());

        refused::<ClippedReluLayer>(r#"{"cap":-1.0}"#, "ClippedReluLayer: invalid cap = -1");
        refused::<RReluLayer>(
            r#"{"lower":0.5,"upper":0.25,"seed":0,"forwards":0}"#,
            "RReluLayer: invalid upper = 0.25: must be at least lower = 0.5",
        );
        refused::<PReluLayer>(
            r#"{"slopes":{"v":1,"dim":[0],"data":[]}}"#,
            "invalid num_parameters = 0",
        );
        refused::<PReluLayer>(
            r#"{"slopes":{"v":1,"dim":[2],"data":[1.0]}}"#,
            "data and dimension must match",
        );
        let dense = r#"{"weights":{"v":1,"dim":[1,2],"data":[1.0,2.0]},"bias":{"v":1,"dim":[3],"data":[0.0,0.0,0.0]}}"#;
        refused::<DenseLayer>(
            dense,
            "DenseLayer::from_parts: bias has shape [3], expected [2]",
        );
        refused::<ReluLayer>(r#"{"at_zero":"Sometimes"}"#, "unknown variant");
        refused::<ReluLayer>(r#"{"at_zer":"Active"}"#, "unknown field");

        let sgd = r#"{"learning_rate":-1.0,"momentum":0.0,"weight_decay":0.0,"velocity":[]}"#;
        refused::<Sgd>(sgd, "Sgd: invalid learning_rate = -1");
        let sgd = r#"{"learning_rate":0.1,"momentum":1.0,"weight_decay":0.0,"velocity":[]}"#;
        refused::<Sgd>(sgd, "invalid momentum = 1");
        let adam = |betas: &str, exp_avg: &str, exp_avg_sq: &str| {
            format!(
                r#"{{"learning_rate":0.1,"betas":{betas},"eps":1e-8,"weight_decay":0.0,"decoupled":false,"steps":2,"exp_avg":[{exp_avg}],"exp_avg_sq":[{exp_avg_sq}]}}"#
            )
        };
        let (one, two) = (
            r#"{"v":1,"dim":[1],"data":[1.0]}"#,
            r#"{"v":1,"dim":[2],"data":[1.0,2.0]}"#,
        );
        assert!(serde_json::from_str::<Adam>(&adam("[0.9,0.999]", one, one)).is_ok());
        refused::<Adam>(
            &adam("[1.0,0.999]", one, one),
            "Adam: invalid beta1 = 1: must be in [0, 1)",
        );
        refused::<Adam>(
            &adam("[0.9,0.999]", one, two),
            "Adam::deserialize: exp_avg_sq (shapes concatenated) has shape [2], expected [1]",
        );
        refused::<Adam>(&adam("[0.9,0.999]", one, ""), "has shape [], expected [1]");
        let negative = r#"{"v":1,"dim":[1],"data":[-1.0]}"#;
        refused::<Adam>(
            &adam("[0.9,0.999]", one, negative),
            "Adam: invalid exp_avg_sq = -1",
        );

        refused::<ActivityStats>(
            r#"{"active":{"v":1,"dim":[2],"data":[3,1]},"samples":2}"#,
            "ActivityStats: invalid active = 3: must not exceed samples = 2",
        );
    }

    // f32: layers in f32 numbers, optimizers' state in its element type.

    /// `f32` bit patterns a lossy copy would change.
    const SPECIAL_F32: [f32; 6] = [-0.0, 1e-45, -1.1754942e-38, f32::MAX, -1.0 / 3.0, 0.1];

    /// `layer` through JSON and back: the same JSON again and the same
    /// predictions, bit for bit, in f32.
    fn round_trip32<T: Layer<f32> + Serialize + DeserializeOwned>(layer: &T) -> (T, String) {
        let json = serde_json::to_string(layer).unwrap();
        let back: T = serde_json::from_str(&json).unwrap();
        assert_eq!(serde_json::to_string(&back).unwrap(), json);
        let x = x().mapv(|v| v as f32);
        let bits = |l: &T| l.predict(&x).unwrap().mapv(f32::to_bits);
        assert_eq!(bits(&back), bits(layer), "{json}");
        (back, json)
    }

    #[test]
    fn f32_layers_round_trip_bit_for_bit_in_f32_numbers() {
        let weights = Array2::from_shape_vec((3, 2), SPECIAL_F32.to_vec()).unwrap();
        let dense = DenseLayer::from_parts(weights, array![0.2f32, -7.0]).unwrap();
        let (back, json) = round_trip32(&dense);
        let bits = |d: &DenseLayer<f32>| {
            (d.weights().iter().chain(&d.bias()))
                .map(|v| v.to_bits())
                .collect::<Vec<_>>()
        };
        assert_eq!(bits(&back), bits(&dense));
        // f32's shortest digits, not the f64 value's: 0.1 and 0.2, not
        // 0.10000000149011612.
        assert_eq!(
            json,
            r#"{"weights":{"v":1,"dim":[3,2],"data":[-0.0,1e-45,-1.1754942e-38,3.4028235e+38,-0.33333334,0.1]},"bias":{"v":1,"dim":[2],"data":[0.2,-7.0]}}"#
        );

        let prelu = PReluLayer::from_slopes(array![0.1f32, -0.0, 1e-45]).unwrap();
        let (back, json) = round_trip32(&prelu.at_zero(AtZero::Active));
        assert_eq!(
            json,
            r#"{"slopes":{"v":1,"dim":[3],"data":[0.1,-0.0,1e-45]},"at_zero":"Active"}"#
        );
        let slopes = back.slopes().mapv(f32::to_bits);
        assert_eq!(slopes, array![0.1f32, -0.0, 1e-45].mapv(f32::to_bits));

        // An f64 layer's JSON rounds to nearest into an f32 one; serde_json
        // refuses a value beyond f32.
        let wide = json.replace("0.1", "0.1000000000000000055511151231257827");
        let back: PReluLayer<f32> = serde_json::from_str(&wide).unwrap();
        assert_eq!(back.slopes()[0], 0.1f32);
        refused::<PReluLayer<f32>>(
            r#"{"slopes":{"v":1,"dim":[1],"data":[1e39]}}"#,
            "number out of range",
        );
    }

    /// Dense(3, 4), ReLU, Dense(4, 2) in f32, the same for the same seed.
    fn mlp32(seed: u64) -> crate::Sequential<f32> {
        use ndarray_rand::rand::{rngs::StdRng, SeedableRng};
        let mut rng = StdRng::seed_from_u64(seed);
        let mut net = crate::Sequential::new();
        net.push(DenseLayer::<f32>::new(3, 4, &mut rng))
            .push(ReluLayer::new())
            .push(DenseLayer::<f32>::new(4, 2, &mut rng));
        net
    }

    /// One training step of `net` on batch `k` (mse against a fixed target).
    fn step32<O: Optimizer<f32>>(net: &mut crate::Sequential<f32>, optimizer: &mut O, k: usize) {
        let x = x().mapv(|v| v as f32 * (1.0 + k as f32 / 4.0));
        let y = net.forward(&x).unwrap();
        let target = Array2::from_shape_fn(y.dim(), |(i, j)| (i + j + k) as f32 / 4.0);
        let (_, grad) = crate::loss::mse(&y, &target).unwrap();
        net.backward(&grad).unwrap();
        optimizer.step(net).unwrap();
    }

    /// Every parameter's bits.
    fn bits32(net: &mut crate::Sequential<f32>) -> Vec<Vec<u32>> {
        (net.params().iter())
            .map(|p| p.value.iter().map(|v| v.to_bits()).collect())
            .collect()
    }

    /// Trains an f32 network with `optimizer` for three steps, takes the
    /// optimizer through JSON (and the network through its parameters),
    /// and steps the copy and the original three more times: the same bits
    /// at every step. Returns the JSON.
    fn resumes32<O>(optimizer: O) -> String
    where
        O: Optimizer<f32> + Optimizer<f64> + Serialize + DeserializeOwned,
    {
        let (mut net, mut optimizer) = (mlp32(1), optimizer);
        for k in 0..3 {
            step32(&mut net, &mut optimizer, k);
        }
        let json = serde_json::to_string(&optimizer).unwrap();
        let mut restored: O = serde_json::from_str(&json).unwrap();
        assert_eq!(serde_json::to_string(&restored).unwrap(), json);
        let mut copy = mlp32(2);
        for (to, from) in copy.params().iter_mut().zip(net.params()) {
            to.value.assign(&from.value);
        }
        assert_eq!(bits32(&mut copy), bits32(&mut net));
        for k in 3..6 {
            step32(&mut net, &mut optimizer, k);
            step32(&mut copy, &mut restored, k);
            assert_eq!(bits32(&mut copy), bits32(&mut net), "step {k}: {json}");
        }

        // Its state is f32: an f64 network is another optimizer's.
        let mut wide = DenseLayer::from_parts(array![[1.0, 2.0]], array![0.0, 0.0]).unwrap();
        wide.forward(&array![[1.0]]).unwrap();
        wide.backward(&array![[1.0, 1.0]]).unwrap();
        let err = Optimizer::<f64>::step(&mut restored, &mut wide).unwrap_err();
        assert!(
            matches!(
                err,
                LayerError::StateElementType {
                    state: "f32",
                    params: "f64",
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(wide.weights(), array![[1.0, 2.0]], "unchanged");
        json
    }

    #[test]
    fn optimizers_that_stepped_an_f32_network_resume_with_the_same_bits() {
        let sgd = Sgd::new(0.1).unwrap().with_momentum(0.9).unwrap();
        let json = resumes32(sgd.with_weight_decay(0.01).unwrap());
        assert!(
            json.contains(r#""dtype":"f32","velocity":[{"v":1,"#),
            "{json}"
        );
        let adam = Adam::new(0.01).unwrap().with_weight_decay(0.1).unwrap();
        let json = resumes32(adam);
        assert!(
            json.contains(r#""steps":3,"dtype":"f32","exp_avg":["#),
            "{json}"
        );
        resumes32(
            Adam::new(0.01)
                .unwrap()
                .with_betas(0.5, 0.9)
                .unwrap()
                .with_decoupled_weight_decay(0.1)
                .unwrap(),
        );
        // The state in f32's shortest digits, as the layers' parameters.
        let sgd: Sgd = serde_json::from_str(&resumes32(
            Sgd::new(0.5).unwrap().with_momentum(0.5).unwrap(),
        ))
        .unwrap();
        let State::F32(velocity) = &sgd.velocity else {
            panic!("{:?}", sgd.velocity)
        };
        let json = serde_json::to_string(&sgd).unwrap();
        let first = velocity[0].iter().next().unwrap();
        assert!(
            json.contains(&format!("[{first:?},")),
            "{first:?} in {json}"
        );
    }

    #[test]
    fn an_f64_state_or_one_without_dtype_steps_f64_networks_only() {
        let one = r#"{"v":1,"dim":[1,1],"data":[0.5]}"#;
        let bias = r#"{"v":1,"dim":[1],"data":[0.25]}"#;
        let sgd = |dtype: &str| {
            format!(
                r#"{{"learning_rate":0.1,"momentum":0.5,"weight_decay":0.0,{dtype}"velocity":[{one},{bias}]}}"#
            )
        };
        let step = |sgd: &mut Sgd| {
            let mut narrow = DenseLayer::from_parts(array![[1.0f32]], array![0.0f32]).unwrap();
            narrow.forward(&array![[1.0f32]]).unwrap();
            narrow.backward(&array![[1.0f32]]).unwrap();
            let narrow_err = Optimizer::<f32>::step(sgd, &mut narrow);
            let mut wide = DenseLayer::from_parts(array![[1.0]], array![0.0]).unwrap();
            wide.forward(&array![[1.0]]).unwrap();
            wide.backward(&array![[1.0]]).unwrap();
            let wide_err = Optimizer::<f64>::step(sgd, &mut wide);
            (
                narrow_err,
                wide_err,
                narrow.weights()[[0, 0]],
                wide.weights()[[0, 0]],
            )
        };
        // Written before f32 networks trained: no dtype, f64.
        for json in [sgd(""), sgd(r#""dtype":"f64","#)] {
            let mut back: Sgd = serde_json::from_str(&json).unwrap();
            let (narrow, wide, narrow_w, wide_w) = step(&mut back);
            assert!(
                matches!(
                    narrow,
                    Err(LayerError::StateElementType {
                        state: "f64",
                        params: "f32",
                        ..
                    })
                ),
                "{narrow:?}"
            );
            assert_eq!(narrow_w, 1.0, "unchanged");
            assert_eq!(wide, Ok(()));
            assert_eq!(wide_w, 1.0 - 0.1 * (0.5 * 0.5 + 1.0));
        }
        let mut back: Sgd = serde_json::from_str(&sgd(r#""dtype":"f32","#)).unwrap();
        let (narrow, wide, narrow_w, _) = step(&mut back);
        assert_eq!(narrow, Ok(()));
        assert_eq!(narrow_w, 1.0 - 0.1 * (0.5 * 0.5 + 1.0));
        assert!(matches!(
            wide,
            Err(LayerError::StateElementType { state: "f32", .. })
        ));

        // With no tensors (before the first step), dtype says nothing: the
        // next step chooses.
        let fresh = r#"{"learning_rate":0.1,"momentum":0.5,"weight_decay":0.0,"dtype":"f32","velocity":[]}"#;
        let mut back: Sgd = serde_json::from_str(fresh).unwrap();
        let (narrow, wide, _, _) = step(&mut back);
        assert_eq!(narrow, Ok(()));
        assert!(wide.is_err(), "the f32 step chose");

        refused::<Sgd>(
            &sgd(r#""dtype":"f16","#),
            "unknown variant `f16`, expected `f32` or `f64`",
        );
    }

    #[test]
    fn an_f32_state_rounds_to_nearest_and_refuses_what_overflows_f32() {
        let adam = |exp_avg: &str| {
            format!(
                r#"{{"learning_rate":0.1,"betas":[0.9,0.999],"eps":1e-8,"weight_decay":0.0,"decoupled":false,"steps":1,"dtype":"f32","exp_avg":[{{"v":1,"dim":[2],"data":{exp_avg}}}],"exp_avg_sq":[{{"v":1,"dim":[2],"data":[1.0,2.0]}}]}}"#
            )
        };
        // A binary format carries an f32 state widened exactly: it reads
        // back as it was. Other digits round to nearest.
        let back: Adam = serde_json::from_str(&adam("[0.10000000149011612,0.1]")).unwrap();
        let State::F32(exp_avg) = &back.exp_avg else {
            panic!("{:?}", back.exp_avg)
        };
        assert_eq!(
            exp_avg[0].mapv(f32::to_bits),
            array![0.1f32, 0.1].into_dyn().mapv(f32::to_bits)
        );
        assert!(matches!(back.exp_avg_sq, State::F32(_)));
        let max = f64::from(f32::MAX);
        assert!(serde_json::from_str::<Adam>(&adam(&format!("[{max:e},-1e-50]"))).is_ok());
        refused::<Adam>(
            &adam("[0.5,1e300]"),
            "Adam: invalid exp_avg = 1e300: overflows f32, the element type",
        );
        refused::<Adam>(
            &adam("[-3.5e38,0.0]"),
            "Adam: invalid exp_avg = -3.5e38: overflows f32, the element type",
        );
    }

    /// `serde_json`'s serializer saying that it is not human-readable, as a
    /// binary format's (bincode, CBOR) does, for the value at the top.
    struct Binary<'a>(&'a mut serde_json::Serializer<Vec<u8>>);

    /// `Binary`'s methods: `serde_json`'s.
    macro_rules! forward {
        ($($method:ident($($arg:ident: $type:ty),*);)*) => {$(
            fn $method(self, $($arg: $type),*) -> std::result::Result<(), serde_json::Error> {
                self.0.$method($($arg),*)
            }
        )*};
    }

    type Json<'a> = &'a mut serde_json::Serializer<Vec<u8>>;

    impl<'a> Serializer for Binary<'a> {
        type Ok = ();
        type Error = serde_json::Error;
        type SerializeSeq = <Json<'a> as Serializer>::SerializeSeq;
        type SerializeTuple = <Json<'a> as Serializer>::SerializeTuple;
        type SerializeTupleStruct = <Json<'a> as Serializer>::SerializeTupleStruct;
        type SerializeTupleVariant = <Json<'a> as Serializer>::SerializeTupleVariant;
        type SerializeMap = <Json<'a> as Serializer>::SerializeMap;
        type SerializeStruct = <Json<'a> as Serializer>::SerializeStruct;
        type SerializeStructVariant = <Json<'a> as Serializer>::SerializeStructVariant;

        fn is_human_readable(&self) -> bool {
            false
        }

        forward! {
            serialize_bool(v: bool); serialize_i8(v: i8); serialize_i16(v: i16);
            serialize_i32(v: i32); serialize_i64(v: i64); serialize_u8(v: u8);
            serialize_u16(v: u16); serialize_u32(v: u32); serialize_u64(v: u64);
            serialize_f32(v: f32); serialize_f64(v: f64); serialize_char(v: char);
            serialize_str(v: &str); serialize_bytes(v: &[u8]); serialize_none();
            serialize_unit(); serialize_unit_struct(name: &'static str);
            serialize_unit_variant(name: &'static str, index: u32, variant: &'static str);
        }

        fn serialize_some<T: ?Sized + Serialize>(self, v: &T) -> serde_json::Result<()> {
            self.0.serialize_some(v)
        }
        fn serialize_newtype_struct<T: ?Sized + Serialize>(
            self,
            name: &'static str,
            v: &T,
        ) -> serde_json::Result<()> {
            self.0.serialize_newtype_struct(name, v)
        }
        fn serialize_newtype_variant<T: ?Sized + Serialize>(
            self,
            name: &'static str,
            index: u32,
            variant: &'static str,
            v: &T,
        ) -> serde_json::Result<()> {
            self.0.serialize_newtype_variant(name, index, variant, v)
        }
        fn serialize_seq(self, len: Option<usize>) -> serde_json::Result<Self::SerializeSeq> {
            self.0.serialize_seq(len)
        }
        fn serialize_tuple(self, len: usize) -> serde_json::Result<Self::SerializeTuple> {
            self.0.serialize_tuple(len)
        }
        fn serialize_tuple_struct(
            self,
            name: &'static str,
            len: usize,
        ) -> serde_json::Result<Self::SerializeTupleStruct> {
            self.0.serialize_tuple_struct(name, len)
        }
        fn serialize_tuple_variant(
            self,
            name: &'static str,
            index: u32,
            variant: &'static str,
            len: usize,
        ) -> serde_json::Result<Self::SerializeTupleVariant> {
            self.0.serialize_tuple_variant(name, index, variant, len)
        }
        fn serialize_map(self, len: Option<usize>) -> serde_json::Result<Self::SerializeMap> {
            self.0.serialize_map(len)
        }
        fn serialize_struct(
            self,
            name: &'static str,
            len: usize,
        ) -> serde_json::Result<Self::SerializeStruct> {
            self.0.serialize_struct(name, len)
        }
        fn serialize_struct_variant(
            self,
            name: &'static str,
            index: u32,
            variant: &'static str,
            len: usize,
        ) -> serde_json::Result<Self::SerializeStructVariant> {
            self.0.serialize_struct_variant(name, index, variant, len)
        }
    }

    #[test]
    fn a_binary_format_gets_an_f32_state_widened_exactly() {
        let state = State::F32(vec![array![0.1f32, -0.0, 1e-45].into_dyn()]);
        let written = |human_readable: bool| {
            let mut json = serde_json::Serializer::new(Vec::new());
            if human_readable {
                StateRepr(&state).serialize(&mut json).unwrap();
            } else {
                StateRepr(&state).serialize(Binary(&mut json)).unwrap();
            }
            String::from_utf8(json.into_inner()).unwrap()
        };
        assert_eq!(
            written(true),
            r#"[{"v":1,"dim":[3],"data":[0.1,-0.0,1e-45]}]"#
        );
        let widened =
            r#"[{"v":1,"dim":[3],"data":[0.10000000149011612,-0.0,1.401298464324817e-45]}]"#;
        assert_eq!(written(false), widened);
        // What the reader asks for, f64, whatever dtype says: what is
        // written reads back as it was, either way.
        for json in [written(true), written(false)] {
            let tensors: Vec<ArrayD<f64>> = serde_json::from_str(&json).unwrap();
            let back = super::state("Sgd", "velocity", ElementType::F32, tensors, false).unwrap();
            assert_eq!(back, state, "{json}");
        }
    }
}
