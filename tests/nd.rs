//! Activations on arrays of any number of axes, in `f32` and `f64`: the
//! same bits as the 2-D array of the same data, through every entry point,
//! for standard, permuted and sliced views; gradients of the wrong shape;
//! PReLU's slopes along the channel axis of `(N, C, …)`; RReLU's slopes
//! by element on 4-D arrays; hyperparameters rounded to `f32`.

use rectify::ndarray::{s, Array, Array1, Array2, Array4, ArrayD, Axis, Dimension, IxDyn};
use rectify::{
    AtZero, ClippedReluLayer, Float, Layer, LayerError, LeakyReluLayer, Member, PReluLayer,
    RReluLayer, Rectifier, ReluLayer, ThresholdLayer,
};

/// Deterministic awkward values: ±0.0, ±inf, NaN, subnormals, kinks and
/// ordinary numbers.
fn values<A: Float>(len: usize, seed: usize) -> Vec<A> {
    let special = [
        0.0,
        -0.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        1e-40,
        -1e-40,
        6.0,
        0.3,
    ];
    (0..len)
        .map(|i| {
            let k = (i * 7919 + seed * 104729) % 97;
            let v = if k < special.len() {
                special[k]
            } else {
                (k as f64 - 48.0) / 7.0
            };
            A::from(v).unwrap()
        })
        .collect()
}

fn bits<A: Float, D: Dimension>(a: &Array<A, D>) -> Vec<u64> {
    a.iter().map(|v| v.to_f64().unwrap().to_bits()).collect()
}

/// The five shapes: 4-D NCHW, 3-D, 5-D, 1-D and a 4-D shape with a zero.
const SHAPES: [&[usize]; 6] = [
    &[2, 3, 4, 5],
    &[3, 1, 67],
    &[2, 2, 3, 1, 11],
    &[131],
    &[1, 7, 1, 9],
    &[2, 0, 3, 4],
];

/// Runs `layer` on `x` of `shape` and on its 2-D `(axis 0, rest)` reshape,
/// through forward, backward, predict and the owned pair, each from a fresh
/// copy of the layer, and checks that every result has the same bits and the
/// n-D shape, and that the mask is the same.
fn nd_equals_2d<A: Float, M: Member<A>>(layer: &Rectifier<M>, shape: &[usize]) {
    let n: usize = shape.iter().product();
    let (x, g) = (values::<A>(n, 1), values::<A>(n, 2));
    let xd = ArrayD::from_shape_vec(IxDyn(shape), x.clone()).unwrap();
    let gd = ArrayD::from_shape_vec(IxDyn(shape), g.clone()).unwrap();
    let rows = shape[0];
    let cols = n.checked_div(rows).unwrap_or(0);
    let x2 = Array2::from_shape_vec((rows, cols), x).unwrap();
    let g2 = Array2::from_shape_vec((rows, cols), g).unwrap();

    let (mut a, mut b) = (layer.clone(), layer.clone());
    let y2 = a.forward(&x2).unwrap();
    let dx2 = a.backward(&g2).unwrap();
    let yd = b.forward(&xd).unwrap();
    assert_eq!(yd.shape(), shape);
    assert_eq!(bits(&yd), bits(&y2), "forward {shape:?}");
    assert_eq!(b.mask().unwrap().shape_nd(), shape);
    assert_eq!(
        b.mask().unwrap().to_array_nd().iter().collect::<Vec<_>>(),
        a.mask().unwrap().to_array().iter().collect::<Vec<_>>()
    );
    assert_eq!(b.mask().unwrap().shape(), (rows, cols));
    let dxd = b.backward(&gd).unwrap();
    assert_eq!(bits(&dxd), bits(&dx2), "backward {shape:?}");
    assert_eq!(
        bits(&b.predict(&xd).unwrap()),
        bits(&a.predict(&x2).unwrap()),
        "predict {shape:?}"
    );

    let (mut a, mut b) = (layer.clone(), layer.clone());
    let y2 = a.forward_owned(x2).unwrap();
    let dx2 = a.backward_owned(g2).unwrap();
    assert_eq!(
        bits(&b.forward_owned(xd).unwrap()),
        bits(&y2),
        "forward_owned {shape:?}"
    );
    assert_eq!(
        bits(&b.backward_owned(gd).unwrap()),
        bits(&dx2),
        "backward_owned {shape:?}"
    );
}

/// A check of one layer on one shape.
type Check = Box<dyn Fn(&[usize])>;

fn members<A: Float>() -> Vec<Check> {
    fn run<A: Float, M: Member<A> + 'static>(layer: Rectifier<M>) -> Check {
        Box::new(move |shape| nd_equals_2d(&layer, shape))
    }
    vec![
        run::<A, _>(ReluLayer::new()),
        run::<A, _>(ReluLayer::new().at_zero(AtZero::Active)),
        run::<A, _>(LeakyReluLayer::new(0.1).unwrap()),
        run::<A, _>(ClippedReluLayer::new(6.0).unwrap()),
        run::<A, _>(ThresholdLayer::new(0.3, -2.0).unwrap()),
        run::<A, _>(RReluLayer::default().with_seed(3)),
        run::<A, _>(PReluLayer::<A>::new(1, 0.25).unwrap()),
    ]
}

#[test]
fn n_d_results_equal_the_2_d_results_of_the_same_data() {
    for shape in SHAPES {
        for check in members::<f64>().into_iter().chain(members::<f32>()) {
            check(shape);
        }
    }
}

/// Permuted and sliced n-D views give the values of their logical array.
fn views_agree<A: Float>() {
    let shape = (3, 4, 5, 6);
    let data = Array4::from_shape_vec(shape, values::<A>(360, 5)).unwrap();
    let grad = Array4::from_shape_vec(shape, values::<A>(360, 6)).unwrap();
    // The same logical arrays, stored as (N, H, W, C) and permuted back.
    let nhwc = |a: &Array4<A>| {
        a.view()
            .permuted_axes([0, 2, 3, 1])
            .as_standard_layout()
            .into_owned()
    };
    let (xp, gp) = (nhwc(&data), nhwc(&grad));
    let permuted = |a: &Array4<A>| a.view().permuted_axes([0, 3, 1, 2]).to_owned();
    assert_eq!(bits(&permuted(&xp)), bits(&data));

    type Make<A> = Box<dyn Fn() -> Box<dyn Layer4<A>>>;
    let layers: Vec<Make<A>> = vec![
        Box::new(|| Box::new(ReluLayer::new())),
        Box::new(|| Box::new(LeakyReluLayer::new(0.1).unwrap())),
        Box::new(|| Box::new(RReluLayer::default().with_seed(9))),
        Box::new(|| {
            Box::new(
                PReluLayer::<A>::from_slopes(Array1::from_vec(values::<A>(4, 8)).mapv(|v| {
                    if v.is_finite() {
                        v
                    } else {
                        A::one()
                    }
                }))
                .unwrap(),
            )
        }),
    ];
    for make in layers {
        let mut reference = make();
        let y = reference.forward4(data.view()).unwrap();
        let dx = reference.backward4(grad.view()).unwrap();

        let mut viewed = make();
        let yv = viewed
            .forward4(xp.view().permuted_axes([0, 3, 1, 2]))
            .unwrap();
        let dxv = viewed
            .backward4(gp.view().permuted_axes([0, 3, 1, 2]))
            .unwrap();
        assert_eq!((bits(&yv), bits(&dxv)), (bits(&y), bits(&dx)), "permuted");
        assert!(yv.is_standard_layout());

        // Every other element of every axis of a padded array.
        let mut big = Array4::from_elem((6, 8, 10, 12), A::nan());
        big.slice_mut(s![..;2, 1..;2, ..;2, 1..;2]).assign(&data);
        let mut gbig = Array4::from_elem((6, 8, 10, 12), A::nan());
        gbig.slice_mut(s![..;2, 1..;2, ..;2, 1..;2]).assign(&grad);
        let mut sliced = make();
        let ys = sliced
            .forward4(big.slice(s![..;2, 1..;2, ..;2, 1..;2]))
            .unwrap();
        let dxs = sliced
            .backward4(gbig.slice(s![..;2, 1..;2, ..;2, 1..;2]))
            .unwrap();
        assert_eq!((bits(&ys), bits(&dxs)), (bits(&y), bits(&dx)), "sliced");

        // Reversed axes: a negative stride.
        let mut rev = data.clone();
        rev.invert_axis(Axis(3));
        let mut reversed = make();
        let yr = reversed.forward4(rev.slice(s![.., .., .., ..;-1])).unwrap();
        assert_eq!(bits(&yr), bits(&y), "reversed");
    }
}

/// The 4-D inherent methods of a member, as an object, for the test above.
trait Layer4<A: Float> {
    fn forward4(&mut self, x: rectify::ndarray::ArrayView4<'_, A>) -> rectify::Result<Array4<A>>;
    fn backward4(&mut self, g: rectify::ndarray::ArrayView4<'_, A>) -> rectify::Result<Array4<A>>;
}

impl<A: Float, M: Member<A>> Layer4<A> for Rectifier<M> {
    fn forward4(&mut self, x: rectify::ndarray::ArrayView4<'_, A>) -> rectify::Result<Array4<A>> {
        self.forward(&x)
    }
    fn backward4(&mut self, g: rectify::ndarray::ArrayView4<'_, A>) -> rectify::Result<Array4<A>> {
        self.backward(&g)
    }
}

#[test]
fn permuted_and_sliced_views_in_4_d() {
    views_agree::<f32>();
    views_agree::<f64>();
}

#[test]
fn a_gradient_of_another_shape_is_an_error_and_the_pass_survives() {
    let mut relu = ReluLayer::new();
    let x = Array4::<f32>::from_shape_fn((2, 3, 4, 5), |(n, c, h, w)| {
        (n + c) as f32 - (h * w) as f32 / 4.0
    });
    relu.forward(&x).unwrap();
    let wrong: [ArrayD<f32>; 4] = [
        ArrayD::ones(IxDyn(&[2, 60])),      // same elements, 2-D
        ArrayD::ones(IxDyn(&[2, 3, 5, 4])), // same axes, swapped lengths
        ArrayD::ones(IxDyn(&[2, 3, 4, 5, 1])),
        ArrayD::ones(IxDyn(&[120])),
    ];
    for g in wrong {
        for err in [
            relu.backward(&g).unwrap_err(),
            relu.backward_owned(g.clone()).unwrap_err(),
        ] {
            assert_eq!(
                err,
                LayerError::ShapeMismatch {
                    layer: "ReluLayer",
                    operation: "backward",
                    what: "grad_output",
                    expected: vec![2, 3, 4, 5],
                    actual: g.shape().to_vec(),
                }
            );
        }
    }
    // The 2-D Layer impl sees the 4-D pass too, and refuses it.
    let err = Layer::<f32>::backward(&mut relu, &Array2::ones((2, 60))).unwrap_err();
    assert!(
        err.to_string().contains("[2, 60], expected [2, 3, 4, 5]"),
        "{err}"
    );
    // An f64 gradient for an f32 pass has the right shape but another type:
    // it is the pass's shape that is checked, and the element types of one
    // call agree by construction.
    let dx = relu.backward(&Array4::<f32>::ones((2, 3, 4, 5))).unwrap();
    assert_eq!(dx, x.mapv(|v| if v > 0.0 { 1.0 } else { 0.0 }));
}

/// PReLU(C) on NCHW against a reference written from its definition:
/// `y = x` for `x > 0`, else `a[c]·x`; dL/da[c] summed over n, h, w.
fn prelu_nchw<A: Float>() {
    let (n, c, h, w) = (3, 5, 7, 9);
    let slopes = Array1::from_vec(
        [0.25, -0.5, 0.0, 1.5, 0.1]
            .map(|v| A::from(v).unwrap())
            .to_vec(),
    );
    let x = Array4::from_shape_vec((n, c, h, w), values::<A>(n * c * h * w, 11)).unwrap();
    let g = Array4::from_shape_fn((n, c, h, w), |(i, j, k, l)| {
        A::from(1.0 + i as f64 - 0.5 * j as f64 + 0.01 * (k * w + l) as f64).unwrap()
    });
    let mut prelu = PReluLayer::from_slopes(slopes.clone()).unwrap();
    let y = prelu.forward(&x).unwrap();
    let dx = prelu.backward(&g).unwrap();
    let mut want_da = vec![0.0f64; c];
    for ((idx, &xv), &gv) in x.indexed_iter().zip(&g) {
        let a = slopes[idx.1];
        let (wy, wdx) = if xv > A::zero() {
            (xv, gv)
        } else {
            (a * xv, a * gv)
        };
        assert_eq!(
            y[idx].to_f64().unwrap().to_bits(),
            wy.to_f64().unwrap().to_bits(),
            "y at {idx:?}"
        );
        assert_eq!(
            dx[idx].to_f64().unwrap().to_bits(),
            wdx.to_f64().unwrap().to_bits(),
            "dx at {idx:?}"
        );
        if xv <= A::zero() || xv.is_nan() {
            want_da[idx.1] += (xv * gv).to_f64().unwrap();
        }
    }
    for (ch, (&got, &want)) in prelu.slopes_grad().iter().zip(&want_da).enumerate() {
        let got = got.to_f64().unwrap();
        // NaN inputs make NaN sums; otherwise summed in another order.
        let tolerance = A::epsilon().to_f64().unwrap() * 64.0 * (1.0 + want.abs() + 1e3);
        assert!(
            got == want || (got.is_nan() && want.is_nan()) || (got - want).abs() <= tolerance,
            "channel {ch}: {got} vs {want}"
        );
    }
    // The per-channel slopes of predict are the forward's.
    assert_eq!(bits(&prelu.predict(&x).unwrap()), bits(&y));
    // A 3-D (N, C, L) input and a 2-D (N, C) one: axis 1 is the channel.
    let x3 = x.clone().into_shape_with_order((n, c, h * w)).unwrap();
    assert_eq!(bits(&prelu.forward(&x3).unwrap()), bits(&y));
    let x2 = x.index_axis(Axis(2), 0).index_axis(Axis(2), 0).to_owned();
    assert_eq!(
        bits(&prelu.forward(&x2).unwrap()),
        bits(&y.index_axis(Axis(2), 0).index_axis(Axis(2), 0).to_owned())
    );
}

#[test]
fn prelu_slopes_run_along_the_channel_axis() {
    prelu_nchw::<f32>();
    prelu_nchw::<f64>();
}

#[test]
fn prelu_refuses_another_channel_count_and_keeps_working() {
    let mut prelu = PReluLayer::<f32>::new(5, 0.25).unwrap();
    for (shape, expected) in [
        (vec![3, 4, 7, 9], vec![3, 5, 7, 9]),
        (vec![3, 9, 5], vec![3, 5, 5]),
        (vec![5], vec![5, 5]),
    ] {
        let x = ArrayD::<f32>::ones(IxDyn(&shape));
        let err = prelu.forward(&x).unwrap_err();
        assert_eq!(
            err,
            LayerError::ShapeMismatch {
                layer: "PReluLayer",
                operation: "forward",
                what: "input",
                expected,
                actual: shape.clone()
            }
        );
        assert!(prelu.predict(&x).is_err());
    }
    let y = prelu
        .forward(&Array4::<f32>::from_elem((1, 5, 2, 2), -4.0))
        .unwrap();
    assert!(y.iter().all(|&v| v == -1.0));
}

#[test]
fn rrelu_draws_by_element_on_4_d_arrays() {
    let x = Array4::<f64>::from_elem((2, 3, 4, 5), -1.0);
    let flat = Array2::<f64>::from_elem((2, 60), -1.0);
    let mut a = RReluLayer::new(0.1, 0.3).unwrap().with_seed(7);
    let mut b = RReluLayer::new(0.1, 0.3).unwrap().with_seed(7);
    let slopes = -a.forward(&x).unwrap();
    assert_eq!(
        bits(&slopes.clone().into_shape_with_order((2, 60)).unwrap()),
        bits(&-b.forward(&flat).unwrap())
    );
    assert!(slopes.iter().all(|r| (0.1..=0.3).contains(r)));
    let distinct: std::collections::BTreeSet<u64> = slopes.iter().map(|r| r.to_bits()).collect();
    assert!(
        distinct.len() > 100,
        "{} distinct slopes of 120",
        distinct.len()
    );
    // Backward regenerates the forward's slopes.
    let dx = a.backward(&Array4::<f64>::ones((2, 3, 4, 5))).unwrap();
    assert_eq!(bits(&dx), bits(&slopes));
    // f32 draws the same slopes, rounded.
    let mut c = RReluLayer::new(0.1, 0.3).unwrap().with_seed(7);
    let slopes32 = -c.forward(&x.mapv(|v| v as f32)).unwrap();
    assert_eq!(slopes32, slopes.mapv(|r| r as f32));
    // Predict uses the mean slope in every dimension.
    assert!(a
        .predict(&x)
        .unwrap()
        .iter()
        .all(|&v| (v + 0.2).abs() < 1e-15));
}

#[test]
fn hyperparameters_are_rounded_to_f32_and_overflow_is_an_error() {
    let mut leaky = LeakyReluLayer::new(0.1).unwrap();
    assert_eq!(
        leaky.forward(&Array1::from_elem(1, -3.0f32)).unwrap()[0],
        -3.0f32 * 0.1f32
    );
    assert_eq!(
        leaky.forward(&Array1::from_elem(1, -3.0f64)).unwrap()[0],
        -3.0 * 0.1
    );
    let mut clipped = ClippedReluLayer::new(1e39).unwrap();
    let err = clipped.forward(&Array2::<f32>::zeros((2, 2))).unwrap_err();
    assert_eq!(
        err.to_string(),
        "ClippedReluLayer: invalid cap = 1e39: overflows f32, the element type"
    );
    assert!(matches!(
        clipped.backward(&Array2::<f32>::zeros((2, 2))),
        Err(LayerError::ForwardFailed { .. })
    ));
    assert!(clipped.predict(&Array2::<f32>::zeros((2, 2))).is_err());
    // In f64 the same layer works.
    assert_eq!(
        clipped.forward(&Array2::from_elem((1, 1), 2e39)).unwrap()[[0, 0]],
        1e39
    );
    let threshold = ThresholdLayer::new(0.0, 1e300).unwrap();
    assert!(threshold.predict(&Array2::<f32>::zeros((1, 1))).is_err());
    assert!(RReluLayer::new(-1e300, 0.0)
        .unwrap()
        .predict(&Array2::<f32>::zeros((1, 1)))
        .is_err());
    assert!(LeakyReluLayer::new(-1e300)
        .unwrap()
        .predict(&Array2::<f32>::zeros((1, 1)))
        .is_err());
}
