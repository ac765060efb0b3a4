//! One rule for every parametric layer, stated on
//! `LayerError::ParametersChanged`: once `params()` has handed out a
//! layer's parameters (an optimizer step, a load, a write through it), its
//! last forward is stale, and `backward` is that error, naming the layer,
//! until the next forward; the failed backward changes nothing, and after a
//! new forward backward gives what a fresh layer with those parameters
//! gives, bit for bit. Checked for DenseLayer, PReluLayer (one slope and
//! one per channel) and a nested Sequential, in f64 and f32, with the
//! changes made every way.

use rectify::ndarray::{Array2, ArrayD};
use rectify::rand::{rngs::StdRng, Rng, SeedableRng};
use rectify::{
    Adam, DenseLayer, Float, GradientFlow, Layer, LayerError, LeakyReluLayer, PReluLayer,
    ReluLayer, Result, Sequential, Sgd,
};

/// Values in [-2, 2) drawn from `seed`, in the element type.
fn values<A: Float>(shape: (usize, usize), seed: u64) -> Array2<A> {
    let mut rng = StdRng::seed_from_u64(seed);
    Array2::from_shape_fn(shape, |_| {
        A::from(rng.random_range(-2.0..2.0)).expect("in range")
    })
}

/// Every parameter's value, then every gradient, as bits.
fn state<A: Float>(layer: &mut dyn Layer<A>) -> Vec<Vec<u64>> {
    let params = layer.params();
    let bits = |a: ArrayD<A>| a.iter().map(|v| v.bits()).collect::<Vec<_>>();
    let values = params.iter().map(|p| bits(p.value.to_owned()));
    let grads = params.iter().map(|p| bits(p.grad.to_owned()));
    values.chain(grads).collect()
}

fn bits<A: Float>(a: &Array2<A>) -> Vec<u64> {
    a.iter().map(|v| v.bits()).collect()
}

/// The networks checked: each with parameters that a change reaches.
/// A named maker of one network.
type Maker<A> = (&'static str, Box<dyn Fn() -> Box<dyn Layer<A>>>);

fn networks<A: Float>() -> Vec<Maker<A>> {
    let dense = |seed| {
        let mut rng = StdRng::seed_from_u64(seed);
        DenseLayer::<A>::new(5, 5, &mut rng)
    };
    vec![
        ("dense", Box::new(move || Box::new(dense(1)))),
        (
            "prelu shared",
            Box::new(|| Box::new(PReluLayer::<A>::new(1, 0.25).unwrap())),
        ),
        (
            "prelu per channel",
            Box::new(|| Box::new(PReluLayer::<A>::new(5, 0.1).unwrap())),
        ),
        (
            "nested sequential",
            Box::new(move || {
                let mut inner = Sequential::<A>::new();
                inner
                    .push(PReluLayer::<A>::new(5, 0.2).unwrap())
                    .push(dense(2));
                let mut net = Sequential::<A>::new();
                net.push(dense(3))
                    .push(ReluLayer::new())
                    .push(inner)
                    .push(LeakyReluLayer::default())
                    .push(dense(4));
                Box::new(net)
            }),
        ),
    ]
}

/// The error a stale backward of `name` must be: the layer itself, or,
/// in the nested network, its last parametric layer (index 4, a Dense).
fn stale_error(name: &str) -> LayerError {
    match name {
        "dense" => LayerError::ParametersChanged {
            layer: "DenseLayer",
        },
        "nested sequential" => LayerError::InSequential {
            index: 4,
            error: Box::new(LayerError::ParametersChanged {
                layer: "DenseLayer",
            }),
        },
        _ => LayerError::ParametersChanged {
            layer: "PReluLayer",
        },
    }
}

/// Forward, a change, backward on one network: the error, and nothing
/// changes; then a forward and backward agree bit for bit with a twin that
/// had the same change but no stale pass.
fn check<A: Float>(change: &str, apply: impl Fn(&mut dyn Layer<A>) -> Result<()>) -> Result<()> {
    let (x, g) = (values::<A>((4, 5), 7), values::<A>((4, 5), 8));
    for (name, make) in networks::<A>() {
        let what = format!("{} {name} after {change}", A::NAME);
        let (mut late, mut twin) = (make(), make());
        for net in [&mut late, &mut twin] {
            net.forward(&x)?;
            net.backward(&g)?; // gradients for a step
        }
        late.forward(&x)?;
        apply(late.as_mut())?;
        apply(twin.as_mut())?;
        let before = state(late.as_mut());
        for _ in 0..2 {
            let err = late.backward(&g).unwrap_err();
            assert_eq!(err, stale_error(name), "{what}");
            assert!(late.backward_params(g.clone()).is_err(), "{what}");
            assert_eq!(
                state(late.as_mut()),
                before,
                "{what}: a failed backward changed it"
            );
        }
        // predict does not care.
        assert_eq!(bits(&late.predict(&x)?), bits(&twin.predict(&x)?), "{what}");

        late.forward(&x)?;
        twin.forward(&x)?;
        let (late_dx, twin_dx) = (late.backward(&g)?, twin.backward(&g)?);
        assert_eq!(bits(&late_dx), bits(&twin_dx), "{what}: input gradient");
        assert_eq!(
            state(late.as_mut()),
            state(twin.as_mut()),
            "{what}: parameters"
        );
    }
    Ok(())
}

/// Every parameter moved by a step of plain SGD.
fn sgd_step<A: Float>(layer: &mut dyn Layer<A>) -> Result<()> {
    Sgd::new(0.5)?.step(layer)
}

/// A step that fails (the optimizer's state is for other shapes): nothing
/// changes, but `params()` handed the parameters out all the same.
fn failed_step<A: Float>(layer: &mut dyn Layer<A>) -> Result<()> {
    let mut other = DenseLayer::<A>::new(1, 1, &mut StdRng::seed_from_u64(3));
    other.forward(&Array2::zeros((1, 1)))?;
    other.backward(&Array2::zeros((1, 1)))?;
    let mut adam = Adam::new(0.1)?;
    adam.step(&mut other)?;
    assert!(adam.step(layer).is_err());
    Ok(())
}

/// Every parameter set through `params()`, to values that move every
/// PReLU slope and Dense weight.
fn written<A: Float>(layer: &mut dyn Layer<A>) -> Result<()> {
    for (i, mut p) in layer.params().into_iter().enumerate() {
        let shift = A::from(0.25 + i as f64 / 8.0).expect("small");
        p.value.mapv_inplace(|v| -v + shift);
    }
    Ok(())
}

#[test]
fn backward_after_an_optimizer_step_is_refused_until_the_next_forward() -> Result<()> {
    check::<f64>("an SGD step", sgd_step)?;
    check::<f32>("an SGD step", sgd_step)
}

#[test]
fn backward_after_a_failed_step_is_refused_too() -> Result<()> {
    check::<f64>("a failed step", failed_step)?;
    check::<f32>("a failed step", failed_step)
}

#[test]
fn backward_after_a_write_through_params_is_refused_until_the_next_forward() -> Result<()> {
    check::<f64>("a write through params()", written)?;
    check::<f32>("a write through params()", written)
}

#[test]
fn measuring_gradient_flow_reads_params_so_backward_needs_a_new_forward() -> Result<()> {
    let (x, g) = (values::<f64>((4, 5), 7), values::<f64>((4, 5), 8));
    let mut net = Sequential::<f64>::new();
    net.push(DenseLayer::new(5, 5, &mut StdRng::seed_from_u64(1)))
        .push(ReluLayer::new());
    net.forward(&x)?;
    net.backward(&g)?;
    let flow = GradientFlow::measure(&mut net);
    assert!(flow.problems().is_empty(), "{flow}");
    assert!(matches!(
        net.backward(&g),
        Err(LayerError::InSequential { index: 0, .. })
    ));
    // The masks of the last forward are still there to read.
    assert!(net.layer::<ReluLayer>(1).unwrap().mask().is_some());
    net.forward(&x)?;
    net.backward(&g)?;
    Ok(())
}

#[cfg(feature = "safetensors")]
#[test]
fn backward_after_a_load_is_refused_until_the_next_forward() -> Result<()> {
    let (x, g) = (values::<f64>((4, 5), 7), values::<f64>((4, 5), 8));
    let make = |seed| {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut net = Sequential::<f64>::new();
        net.push(DenseLayer::new(5, 5, &mut rng))
            .push(PReluLayer::new(5, 0.25).unwrap())
            .push(DenseLayer::new(5, 5, &mut rng));
        net
    };
    let saved = make(99).to_safetensors_bytes()?;
    let mut net = make(1);
    net.forward(&x)?;
    net.load_safetensors_bytes(&saved)?;
    assert!(matches!(
        net.backward(&g),
        Err(LayerError::InSequential { index: 2, .. })
    ));
    net.forward(&x)?;
    let mut fresh = make(99);
    fresh.forward(&x)?;
    assert_eq!(bits(&net.backward(&g)?), bits(&fresh.backward(&g)?));
    assert_eq!(state(&mut net), state(&mut fresh));
    Ok(())
}
