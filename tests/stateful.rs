//! A stateful property test: random sequences of forward, forward_owned,
//! predict, backward and backward_owned (of right and wrong shapes),
//! optimizer steps and layer swaps, on random `Sequential`s of every
//! built-in layer (nested ones included).
//!
//! A small reference model predicts which calls succeed and, for those that
//! fail, which error they give, from the layers' widths, the state of the
//! last pass and the optimizer's parameter shapes. A shadow network, built
//! the same way, receives only the calls that the model says succeed: every
//! result of the network under test must equal the shadow's bit for bit, so
//! an error that changed anything (a weight, a cache, an optimizer's state)
//! shows up as a difference.
//!
//! 256 cases run by default; set `RECTIFY_STATEFUL_CASES` for more.

use proptest::prelude::*;
use rectify::ndarray::{Array2, ArrayRef2};
use rectify::rand::{rngs::StdRng, SeedableRng};
use rectify::{
    Adam, ClippedReluLayer, DenseLayer, Layer, LayerError, LeakyReluLayer, Optimizer, PReluLayer,
    RReluLayer, ReluLayer, Sequential, Sgd, ThresholdLayer,
};

/// A layer to build: its kind and what fixes its parameters.
#[derive(Debug, Clone, PartialEq)]
enum Spec {
    Dense {
        inputs: usize,
        outputs: usize,
        seed: u64,
    },
    Relu,
    Leaky,
    PRelu {
        slopes: usize,
    },
    RRelu {
        seed: u64,
    },
    Clipped,
    Threshold,
    Nested(Vec<Spec>),
}

/// Something to do with a newly built layer of a concrete type.
trait Visit {
    fn visit<T: Layer + 'static>(self, layer: T);
}

/// Pushes the layer.
struct Push<'a>(&'a mut Sequential);

impl Visit for Push<'_> {
    fn visit<T: Layer + 'static>(self, layer: T) {
        self.0.push(layer);
    }
}

/// Replaces layer `.1`, of the same type, with it.
struct Replace<'a>(&'a mut Sequential, usize);

impl Visit for Replace<'_> {
    fn visit<T: Layer + 'static>(self, layer: T) {
        *self
            .0
            .layer_mut::<T>(self.1)
            .expect("a layer of the same type") = layer;
    }
}

impl Spec {
    fn build(&self, to: impl Visit) {
        match self {
            &Spec::Dense {
                inputs,
                outputs,
                seed,
            } => to.visit(DenseLayer::new(
                inputs,
                outputs,
                &mut StdRng::seed_from_u64(seed),
            )),
            Spec::Relu => to.visit(ReluLayer::new()),
            Spec::Leaky => to.visit(LeakyReluLayer::new(0.1).unwrap()),
            &Spec::PRelu { slopes } => to.visit(PReluLayer::new(slopes, 0.2).unwrap()),
            &Spec::RRelu { seed } => to.visit(RReluLayer::default().with_seed(seed)),
            Spec::Clipped => to.visit(ClippedReluLayer::new(1.5).unwrap()),
            Spec::Threshold => to.visit(ThresholdLayer::new(0.25, -0.5).unwrap()),
            Spec::Nested(specs) => to.visit(build(specs)),
        }
    }

    /// The output width for an input of `cols` columns; `None` if the layer
    /// rejects it.
    fn width(&self, cols: usize) -> Option<usize> {
        match self {
            Spec::Dense {
                inputs, outputs, ..
            } => (cols == *inputs).then_some(*outputs),
            Spec::PRelu { slopes } => (*slopes == 1 || *slopes == cols).then_some(cols),
            Spec::Nested(specs) => width(specs, cols),
            _ => Some(cols),
        }
    }

    /// Appends the shapes of the parameters, in `params()` order.
    fn param_shapes(&self, shapes: &mut Vec<Vec<usize>>) {
        match self {
            Spec::Dense {
                inputs, outputs, ..
            } => shapes.extend([vec![*inputs, *outputs], vec![*outputs]]),
            Spec::PRelu { slopes } => shapes.push(vec![*slopes]),
            Spec::Nested(specs) => specs.iter().for_each(|s| s.param_shapes(shapes)),
            _ => {}
        }
    }

    /// A fresh layer of the same kind and input width: new parameters, and
    /// for a dense layer perhaps another output width.
    fn fresh(&self, outputs: Option<usize>, seed: u64) -> Spec {
        match self {
            Spec::Dense {
                inputs,
                outputs: old,
                ..
            } => Spec::Dense {
                inputs: *inputs,
                outputs: outputs.unwrap_or(*old),
                seed,
            },
            Spec::RRelu { .. } => Spec::RRelu { seed },
            Spec::Nested(specs) => {
                Spec::Nested(specs.iter().map(|s| s.fresh(None, seed)).collect())
            }
            other => other.clone(),
        }
    }
}

fn build(specs: &[Spec]) -> Sequential {
    let mut net = Sequential::new();
    for spec in specs {
        spec.build(Push(&mut net));
    }
    net
}

fn width(specs: &[Spec], cols: usize) -> Option<usize> {
    specs.iter().try_fold(cols, |cols, spec| spec.width(cols))
}

/// Runs on `shadow` the RReLU forwards that a failed forward of `specs` on
/// `cols` columns ran before the layer that rejected it: each of those
/// succeeded, so it counts (the next forward draws the next slopes).
fn count_partial_forwards(shadow: &mut Sequential, specs: &[Spec], mut cols: usize) {
    for (i, spec) in specs.iter().enumerate() {
        match spec {
            Spec::RRelu { .. } => {
                let rrelu = shadow.layer_mut::<RReluLayer>(i).unwrap();
                rrelu.forward(&Array2::<f64>::zeros((1, cols))).unwrap();
            }
            Spec::Nested(inner) => {
                count_partial_forwards(shadow.layer_mut::<Sequential>(i).unwrap(), inner, cols);
            }
            _ => {}
        }
        match spec.width(cols) {
            Some(next) => cols = next,
            None => return,
        }
    }
}

/// What the last forward left, as the model sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Pass {
    None,
    Failed,
    Done((usize, usize)),
    /// A pass of this output shape, made stale by `params()` (a step).
    Stale((usize, usize)),
}

#[derive(Debug, Clone)]
enum Op {
    Forward {
        rows: usize,
        cols: Option<usize>,
        owned: bool,
        fortran: bool,
        seed: u64,
    },
    Predict {
        rows: usize,
        cols: Option<usize>,
        seed: u64,
    },
    Backward {
        shape: Option<(usize, usize)>,
        owned: bool,
        seed: u64,
    },
    Step,
    Swap {
        index: usize,
        outputs: Option<usize>,
        seed: u64,
    },
}

/// A width from 1 to 4.
fn small() -> impl Strategy<Value = usize> {
    1..5usize
}

/// A wrong width, sometimes (`None`: the right one).
fn maybe<T: std::fmt::Debug>(s: impl Strategy<Value = T>) -> impl Strategy<Value = Option<T>> {
    prop::option::weighted(0.2, s)
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..4usize, maybe(small()), any::<bool>(), any::<bool>(), any::<u64>()).prop_map(
            |(rows, cols, owned, fortran, seed)| Op::Forward { rows, cols, owned, fortran, seed }
        ),
        1 => (0..4usize, maybe(small()), any::<u64>())
            .prop_map(|(rows, cols, seed)| Op::Predict { rows, cols, seed }),
        3 => (maybe((0..4usize, small())), any::<bool>(), any::<u64>())
            .prop_map(|(shape, owned, seed)| Op::Backward { shape, owned, seed }),
        2 => Just(Op::Step),
        1 => (any::<usize>(), maybe(small()), any::<u64>())
            .prop_map(|(index, outputs, seed)| Op::Swap { index, outputs, seed }),
    ]
}

/// Layers whose widths chain from the first input width, with a nested
/// `Sequential` among the kinds.
fn network() -> impl Strategy<Value = (usize, Vec<Spec>)> {
    let layer = (0..8u8, small(), any::<u64>());
    (small(), prop::collection::vec(layer, 1..6)).prop_map(|(first, layers)| {
        let mut cols = first;
        let specs = layers
            .into_iter()
            .map(|(kind, outputs, seed)| {
                let dense = |inputs| Spec::Dense {
                    inputs,
                    outputs,
                    seed,
                };
                let spec = match kind {
                    0 => dense(cols),
                    1 => Spec::Relu,
                    2 => Spec::Leaky,
                    3 => Spec::PRelu {
                        slopes: if seed % 2 == 0 { 1 } else { cols },
                    },
                    4 => Spec::RRelu { seed },
                    5 => Spec::Clipped,
                    6 => Spec::Threshold,
                    _ => Spec::Nested(vec![dense(cols), Spec::RRelu { seed }, Spec::Relu]),
                };
                cols = spec.width(cols).expect("the widths chain");
                spec
            })
            .collect();
        (first, specs)
    })
}

/// Values in [-2, 2), one in eight exactly 0, from `seed`.
fn values((rows, cols): (usize, usize), seed: u64) -> Array2<f64> {
    let mut state = seed | 1;
    Array2::from_shape_fn((rows, cols), |_| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        match state % 8 {
            0 => 0.0,
            _ => (state >> 11) as f64 / (1u64 << 53) as f64 * 4.0 - 2.0,
        }
    })
}

fn bits(a: &ArrayRef2<f64>) -> Vec<u64> {
    a.iter().map(|v| v.to_bits()).collect()
}

fn params(net: &mut Sequential) -> Vec<Vec<u64>> {
    (net.params().iter())
        .map(|p| p.value.iter().map(|v| v.to_bits()).collect())
        .collect()
}

fn optimizer(adam: bool) -> Box<dyn Optimizer> {
    if adam {
        Box::new(Adam::new(0.01).unwrap())
    } else {
        Box::new(Sgd::new(0.05).unwrap().with_momentum(0.9).unwrap())
    }
}

/// Runs `ops` on a network of `specs` and its shadow, checking each result
/// against the model and the shadow.
fn run(first: usize, mut specs: Vec<Spec>, ops: Vec<Op>, adam: bool) -> Result<(), TestCaseError> {
    let (mut net, mut shadow) = (build(&specs), build(&specs));
    let (mut opt, mut shadow_opt) = (optimizer(adam), optimizer(adam));
    let mut pass = Pass::None;
    let mut opt_shapes: Option<Vec<Vec<usize>>> = None;
    for (step, op) in ops.into_iter().enumerate() {
        let at = format!("op {step}: {op:?}");
        match op {
            Op::Forward {
                rows,
                cols,
                owned,
                fortran,
                seed,
            } => {
                let cols = cols.unwrap_or(first);
                let x = values((rows, cols), seed);
                let input = match fortran {
                    true => x.t().as_standard_layout().into_owned().reversed_axes(),
                    false => x.clone(),
                };
                let got = match owned {
                    true => net.forward_owned(input.clone()),
                    false => net.forward(&input),
                };
                match width(&specs, cols) {
                    Some(out) => {
                        // The same layout and the same entry point: a
                        // product's last bit may depend on the layout, and
                        // `forward` caches a standard-layout copy where
                        // `forward_owned` keeps the input as it is.
                        let want = match owned {
                            true => shadow.forward_owned(input.clone()),
                            false => shadow.forward(&input),
                        };
                        let want = want.unwrap();
                        prop_assert_eq!(bits(&got.unwrap()), bits(&want), "{}", at);
                        pass = Pass::Done((rows, out));
                    }
                    None => {
                        let err = got.unwrap_err();
                        let in_layer = matches!(err, LayerError::InSequential { .. });
                        prop_assert!(in_layer, "{}: {:?}", at, err);
                        count_partial_forwards(&mut shadow, &specs, cols);
                        pass = Pass::Failed;
                    }
                }
            }
            Op::Predict { rows, cols, seed } => {
                let cols = cols.unwrap_or(first);
                let x = values((rows, cols), seed);
                let got = net.predict(&x);
                match width(&specs, cols) {
                    Some(_) => {
                        let want = shadow.predict(&x).unwrap();
                        prop_assert_eq!(bits(&got.unwrap()), bits(&want), "{}", at);
                    }
                    None => prop_assert!(got.is_err(), "{}", at),
                }
            }
            Op::Backward { shape, owned, seed } => {
                let dim = match (shape, pass) {
                    (Some(dim), _) => dim,
                    (None, Pass::Done(dim) | Pass::Stale(dim)) => dim,
                    (None, _) => (2, 2),
                };
                let g = values(dim, seed);
                let got = match owned {
                    true => net.backward_owned(g.clone()),
                    false => net.backward(&g),
                };
                let layer = "Sequential";
                match pass {
                    Pass::None => prop_assert_eq!(
                        got.unwrap_err(),
                        LayerError::BackwardBeforeForward { layer },
                        "{}",
                        at
                    ),
                    Pass::Failed => prop_assert_eq!(
                        got.unwrap_err(),
                        LayerError::ForwardFailed { layer },
                        "{}",
                        at
                    ),
                    Pass::Done(out) | Pass::Stale(out) if out != dim => {
                        let err = got.unwrap_err();
                        let shape = matches!(
                            err,
                            LayerError::ShapeMismatch {
                                layer: "Sequential",
                                ..
                            }
                        );
                        prop_assert!(shape, "{}: {:?}", at, err);
                    }
                    Pass::Done(_) => {
                        let want = shadow.backward(&g).unwrap();
                        prop_assert_eq!(bits(&got.unwrap()), bits(&want), "{}", at);
                    }
                    Pass::Stale(_) => {
                        let err = got.unwrap_err();
                        prop_assert!(changed(&err), "{}: {:?}", at, err);
                        prop_assert!(shadow.backward(&g).is_err(), "{}", at);
                    }
                }
            }
            Op::Step => {
                let mut shapes = Vec::new();
                specs.iter().for_each(|s| s.param_shapes(&mut shapes));
                let parametric = !shapes.is_empty();
                let got = opt.step(&mut net);
                if opt_shapes.as_ref().is_none_or(|s| *s == shapes) {
                    shadow_opt.step(&mut shadow).unwrap();
                    prop_assert!(got.is_ok(), "{}: {:?}", at, got);
                    opt_shapes = Some(shapes);
                } else {
                    prop_assert!(got.is_err(), "{}", at);
                }
                prop_assert_eq!(params(&mut net), params(&mut shadow), "{}", at);
                // params() handed the parameters out: a pass is stale.
                if let (Pass::Done(out), true) = (pass, parametric) {
                    pass = Pass::Stale(out);
                }
            }
            Op::Swap {
                index,
                outputs,
                seed,
            } => {
                let index = index % specs.len();
                specs[index] = specs[index].fresh(outputs, seed);
                specs[index].build(Replace(&mut net, index));
                specs[index].build(Replace(&mut shadow, index));
                pass = Pass::None;
            }
        }
    }
    Ok(())
}

/// Whether `err` is `ParametersChanged`, in however many `Sequential`s.
fn changed(err: &LayerError) -> bool {
    match err {
        LayerError::ParametersChanged { .. } => true,
        LayerError::InSequential { error, .. } => changed(error),
        _ => false,
    }
}

fn cases() -> u32 {
    std::env::var("RECTIFY_STATEFUL_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(256)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn random_call_sequences_agree_with_the_model_and_the_shadow(
        (first, specs) in network(),
        ops in prop::collection::vec(op(), 1..40),
        adam in any::<bool>(),
    ) {
        run(first, specs, ops, adam)?;
    }
}
