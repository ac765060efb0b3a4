//! Hostile input: sizes that cannot be allocated are errors (never aborts),
//! constructors that cannot return an error panic with a catchable message
//! that names the size, a failed forward leaves no pass to differentiate,
//! and every layer (a `Sequential` included) moves to another thread.

use std::panic::catch_unwind;

use rectify::ndarray::{array, Array2, ArrayView2};
use rectify::rand::{rngs::StdRng, SeedableRng};
use rectify::{
    ActivityStats, ClippedReluLayer, DenseLayer, Init, Layer, LayerError, LeakyReluLayer,
    PReluLayer, RReluLayer, ReluLayer, Sequential, ThresholdLayer,
};

/// Every built-in layer, each taking inputs of 3 columns.
fn layers() -> Vec<(&'static str, Box<dyn Layer>)> {
    let mut rng = StdRng::seed_from_u64(1);
    let mut net = Sequential::new();
    net.push(DenseLayer::new(3, 4, &mut rng))
        .push(ReluLayer::new())
        .push(DenseLayer::new(4, 3, &mut rng));
    vec![
        ("ReluLayer", Box::new(ReluLayer::new())),
        ("LeakyReluLayer", Box::new(LeakyReluLayer::default())),
        ("PReluLayer", Box::new(PReluLayer::default())),
        ("PReluLayer", Box::new(PReluLayer::new(3, 0.1).unwrap())),
        ("RReluLayer", Box::new(RReluLayer::default())),
        ("ClippedReluLayer", Box::new(ClippedReluLayer::relu6())),
        (
            "ThresholdLayer",
            Box::new(ThresholdLayer::new(0.5, -1.0).unwrap()),
        ),
        ("DenseLayer", Box::new(DenseLayer::new(3, 3, &mut rng))),
        ("Sequential", Box::new(net)),
    ]
}

fn x() -> Array2<f64> {
    array![[0.5, -1.0, 2.0], [0.0, 3.0, -0.25]]
}

fn g() -> Array2<f64> {
    array![[1.0, -2.0, 0.5], [3.0, 0.25, -1.0]]
}

/// The layer's error, unwrapped from a `Sequential`'s.
fn inner(err: LayerError) -> LayerError {
    match err {
        LayerError::InSequential { error, .. } => inner(*error),
        err => err,
    }
}

/// `layer` gives the same forward, backward and predict as a fresh copy of
/// itself would on `x` and `g` (the copy being `fresh`, run first).
fn still_works(name: &str, layer: &mut dyn Layer, fresh: &mut dyn Layer) {
    let expected = (
        fresh.forward(&x()).unwrap(),
        fresh.backward(&g()).unwrap(),
        fresh.predict(&x()).unwrap(),
    );
    let got = (
        layer.forward(&x()).unwrap(),
        layer.backward(&g()).unwrap(),
        layer.predict(&x()).unwrap(),
    );
    // RReLU draws new slopes on each forward; its layer has run one more.
    if name != "RReluLayer" {
        assert_eq!(got, expected, "{name}");
    }
}

#[test]
fn inputs_too_large_to_process_are_errors_and_leave_the_layer_working() {
    // 2^61 × 3 elements that need no memory, and an output of 2^65 bytes or
    // more, which no allocator can give: the same on every machine.
    let row = array![[1.0, -1.0, 0.5]];
    let huge: ArrayView2<f64> = row.broadcast((1 << 61, 3)).unwrap();
    for ((name, mut layer), (_, mut fresh)) in layers().into_iter().zip(layers()) {
        layer.forward(&x()).unwrap();
        for err in [layer.forward(&huge), layer.predict(&huge)] {
            let err = inner(err.unwrap_err());
            let LayerError::TooLarge {
                layer: which,
                shape,
                bytes,
                ..
            } = &err
            else {
                panic!("{name}: {err:?}");
            };
            assert!(*which == name || name == "Sequential", "{name}: {err}");
            assert_eq!(shape[0], 1 << 61, "{name}: {err}");
            assert!(bytes.is_none_or(|b| b >= 1 << 64), "{name}: {err}");
            assert!(err.to_string().len() < 140, "{err}");
        }
        let err = layer.backward(&g()).unwrap_err();
        assert_eq!(err, LayerError::ForwardFailed { layer: name }, "{name}");
        still_works(name, layer.as_mut(), fresh.as_mut());
    }
}

#[test]
fn a_gradient_check_of_a_huge_view_is_an_error_at_once() {
    let row = array![[1.0, -1.0, 0.5]];
    let huge = row.broadcast((1 << 40, 3)).unwrap();
    let err = rectify::GradCheck::default().check(&mut ReluLayer::new(), &huge);
    assert!(matches!(err, Err(LayerError::TooLarge { .. })), "{err:?}");
}

#[test]
fn a_square_broadcast_view_is_an_error_naming_the_output() {
    let row = array![[2.0]];
    let huge = row.broadcast((1 << 31, 1 << 31)).unwrap();
    let mut relu = ReluLayer::new();
    let err = relu.forward(&huge).unwrap_err();
    assert_eq!(
        err.to_string(),
        "ReluLayer::forward: output of shape [2147483648, 2147483648] needs \
         36893488147419103232 bytes, more than can be allocated"
    );
    assert!(relu.mask().is_none());
    assert_eq!(
        relu.forward(&array![[-1.0, 2.0]]).unwrap(),
        array![[0.0, 2.0]]
    );
    let mut prelu = PReluLayer::default();
    assert!(matches!(
        prelu.forward(&huge),
        Err(LayerError::TooLarge { .. })
    ));
    // A huge view with no rows needs nothing: PReLU's shared slope is laid
    // out once, not once per column.
    let empty = row.broadcast((0, 1 << 62)).unwrap();
    assert_eq!(prelu.forward(&empty).unwrap().dim(), (0, 1 << 62));
    assert_eq!(prelu.backward(&empty).unwrap().dim(), (0, 1 << 62));
    assert_eq!(prelu.slopes_grad(), array![0.0]);
}

#[test]
fn losses_of_huge_views_are_errors() {
    let row = array![[1.0, -1.0, 0.5]];
    let huge = row.broadcast((1 << 61, 3)).unwrap();
    let one = array![[2.0]];
    let wide = one.broadcast((1, 1 << 62)).unwrap();
    let errors = [
        rectify::loss::mse(&huge, &huge).unwrap_err(),
        rectify::loss::softmax_cross_entropy(&wide, &[0]).unwrap_err(),
    ];
    for err in errors {
        let gradient = matches!(
            err,
            LayerError::TooLarge {
                what: "gradient",
                ..
            }
        );
        assert!(gradient, "{err}");
    }
}

#[test]
fn a_dense_layer_with_no_elements_works_at_any_shape_an_array_can_have() {
    let mut rng = StdRng::seed_from_u64(0);
    let wide = isize::MAX as usize;
    for init in [Init::HeNormal, Init::Rai] {
        let dense = DenseLayer::<f64>::with_init(wide, 0, init, &mut rng);
        assert_eq!(dense.weights().dim(), (wide, 0));
        assert_eq!(dense.bias().len(), 0);
    }
    let mut dense = DenseLayer::new(wide, 0, &mut rng);
    let row = array![[1.0]];
    let x = row.broadcast((1, wide)).unwrap();
    assert_eq!(dense.predict(&x).unwrap().dim(), (1, 0));
    // forward would have to keep a copy of x.
    let err = dense.forward(&x).unwrap_err();
    assert!(
        matches!(
            err,
            LayerError::TooLarge {
                what: "input cache",
                ..
            }
        ),
        "{err}"
    );

    // A shape that no array can have is an error (or a panic naming it).
    let err = DenseLayer::<f64>::try_new(usize::MAX, 0, &mut rng).unwrap_err();
    assert_eq!(
        err.to_string(),
        "DenseLayer::try_new: weights of shape [18446744073709551615, 0] is larger than an \
         array can index (its nonzero lengths multiply to more than isize::MAX)"
    );
}

/// The panic message of `f`, which must panic.
fn panic_message<T>(f: impl FnOnce() -> T + std::panic::UnwindSafe) -> String {
    let payload = catch_unwind(f).err().expect("a panic");
    match payload.downcast::<String>() {
        Ok(message) => *message,
        Err(payload) => payload.downcast_ref::<&str>().unwrap().to_string(),
    }
}

#[test]
fn constructors_of_sizes_that_cannot_be_had_panic_with_the_size_or_return_errors() {
    let err = PReluLayer::<f64>::new(1 << 58, 0.25).unwrap_err();
    assert_eq!(
        err.to_string(),
        "PReluLayer::new: slopes of shape [288230376151711744] needs 2305843009213693952 bytes, \
         more than can be allocated"
    );
    assert!(matches!(
        ActivityStats::try_new(1 << 58),
        Err(LayerError::TooLarge { .. })
    ));
    let message = panic_message(|| ActivityStats::new(1 << 58));
    assert!(message.starts_with("ActivityStats::new: counters of shape [288230376151711744]"));

    let mut rng = StdRng::seed_from_u64(0);
    let message = panic_message(move || DenseLayer::<f64>::new(1 << 29, 1 << 29, &mut rng));
    assert_eq!(
        message,
        "DenseLayer::new: weights of shape [536870912, 536870912] needs 2305843009213693952 \
         bytes, more than can be allocated"
    );
    let mut rng = StdRng::seed_from_u64(0);
    let message =
        panic_message(move || DenseLayer::<f64>::with_init(usize::MAX, 2, Init::Rai, &mut rng));
    assert!(
        message.starts_with("DenseLayer::with_init: weights of shape [18446744073709551615, 2]")
    );
}

#[test]
fn after_a_failed_forward_backward_says_why_and_the_next_forward_works() {
    let wrong = Array2::<f64>::zeros((2, 5));
    for ((name, mut layer), (_, mut fresh)) in layers().into_iter().zip(layers()) {
        // Layers that take any width fail on a huge view instead.
        let row = array![[1.0, 2.0, 3.0]];
        let huge = row.broadcast((1 << 61, 3)).unwrap();
        layer.forward(&x()).unwrap();
        let failed = layer.forward_owned(wrong.clone()).is_err() || layer.forward(&huge).is_err();
        assert!(failed, "{name}");
        for err in [layer.backward(&g()), layer.backward_owned(g())] {
            assert_eq!(
                err.unwrap_err(),
                LayerError::ForwardFailed { layer: name },
                "{name}"
            );
        }
        still_works(name, layer.as_mut(), fresh.as_mut());
    }
}

#[test]
fn every_layer_and_a_sequential_of_them_move_to_a_worker_thread() {
    fn send<T: Send + 'static>(value: T) -> T {
        std::thread::spawn(move || value).join().unwrap()
    }
    let mut net = Sequential::new();
    for (_, layer) in layers() {
        net.push(layer);
    }
    let mut net = send(net);
    let y = net.forward(&x()).unwrap();
    assert_eq!(y.dim(), (2, 3));
    assert_eq!(send(ActivityStats::new(3)).units(), 3);
}
