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

use crate::validate::hyper;
use crate::{
    ActivityStats, Adam, AtZero, ClippedReluLayer, DenseLayer, LayerError, LeakyReluLayer,
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
serde_via_repr!(DenseLayer, Sgd, Adam, ActivityStats);

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

impl ViaRepr for PReluLayer {
    type Out<'a> = PReluRepr<ArrayView1<'a, f64>>;
    type In = PReluRepr<Array1<f64>>;

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

/// rectify's layout: `weights` is inputs × outputs.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DenseRepr<W, B> {
    weights: W,
    bias: B,
}

impl ViaRepr for DenseLayer {
    type Out<'a> = DenseRepr<ArrayView2<'a, f64>, ArrayView1<'a, f64>>;
    type In = DenseRepr<Array2<f64>, Array1<f64>>;

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
/// momentum). `non_finite` may be left out, for [`NonFinite::Refuse`].
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SgdRepr<V> {
    learning_rate: f64,
    momentum: f64,
    weight_decay: f64,
    #[serde(default)]
    non_finite: NonFinite,
    velocity: V,
}

impl ViaRepr for Sgd {
    type Out<'a> = SgdRepr<&'a [ArrayD<f64>]>;
    type In = SgdRepr<Vec<ArrayD<f64>>>;

    fn to_repr(&self) -> Self::Out<'_> {
        SgdRepr {
            learning_rate: self.learning_rate(),
            momentum: self.momentum(),
            weight_decay: self.weight_decay(),
            non_finite: self.non_finite(),
            velocity: &self.velocity,
        }
    }

    fn from_repr(repr: Self::In) -> Result<Self> {
        let sgd = Sgd::new(repr.learning_rate)?.with_momentum(repr.momentum)?;
        let sgd = sgd.with_weight_decay(repr.weight_decay)?;
        let mut sgd = sgd.with_non_finite(repr.non_finite);
        sgd.velocity = checked_state("Sgd", "velocity", repr.velocity, false)?;
        Ok(sgd)
    }
}

/// Adam's hyperparameters (`weight_decay` is decoupled, AdamW's, if
/// `decoupled`), its step count and moments. `non_finite` may be left out,
/// for [`NonFinite::Refuse`].
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
    exp_avg: V,
    exp_avg_sq: V,
}

impl ViaRepr for Adam {
    type Out<'a> = AdamRepr<&'a [ArrayD<f64>]>;
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
            exp_avg: &self.exp_avg,
            exp_avg_sq: &self.exp_avg_sq,
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
        adam.exp_avg = checked_state("Adam", "exp_avg", repr.exp_avg, false)?;
        adam.exp_avg_sq = checked_state("Adam", "exp_avg_sq", repr.exp_avg_sq, true)?;
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
            r#"{"learning_rate":0.1,"momentum":0.0,"weight_decay":0.0,"non_finite":"Write","velocity":[]}"#
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
}
