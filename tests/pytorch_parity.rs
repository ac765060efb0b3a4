//! Every member of the rectifier family against PyTorch (CPU), bit for bit,
//! in float64 on the values in `tests/fixtures/family.txt` and in float32 on
//! those in `tests/fixtures/family_f32.txt`: ±0.0, ±inf, NaNs with payloads
//! (and negative NaNs in f32), the type's subnormals (f32's own: ±1.4e-45,
//! the largest, ±1e-40), ±MIN_POSITIVE, ±MAX, every kink and the floats
//! either side of it, and ordinary values, with non-uniform upstream
//! gradients (including 0.0, -0.0 and ±inf).
//!
//! `tests/fixtures/family.py` wrote the fixtures; its header documents the
//! format, which `tests/common/family.rs` reads. One generic check per
//! member runs in both types: each layer runs through the `Layer<A>` trait
//! (`forward`/`backward`, `predict`, `forward_owned`/`backward_owned`, row-
//! and column-major) and through its inherent n-D methods (the fixture's
//! arrays as 3-D `(rows, cols, 1)`, as `IxDyn`, and as a 2-D view with
//! steps, one of them negative); outputs and input gradients must match
//! PyTorch's bits (NaN matching any NaN), PReLU's slope gradient to `n·ε`
//! of the sum of its `n` terms' magnitudes (rectify sums in another order;
//! ε the type's machine epsilon). Where the fixture marks a `departure`,
//! the test expects rectify's documented value instead of PyTorch's: input
//! gradient g at a NaN input of the clipped ReLU (PyTorch's SIMD
//! `hardtanh_backward` gives 0 there), and output +0.0 where PyTorch's relu
//! or hardtanh gives -0.0.
//!
//! The hyperparameters in the fixtures are the Python floats (doubles) that
//! PyTorch was given, many of them not representable in f32 (slope 0.1, cap
//! 6.1, threshold 0.3 and value 0.7, 1e-40, ties such as 1 + 3·2⁻²⁴, and
//! 1e-300, which is 0 in f32). In float32 PyTorch rounds each to float32
//! (to nearest, ties to even) and computes in float32; rectify's
//! constructors take the same f64 values and must round them the same way.
//! RReLU's eval slope is (lower + upper) / 2 computed in f64, then rounded
//! (for (0.54, 0.86) that is not the f32 mean of the rounded bounds).
//! Hyperparameters above f32::MAX, which PyTorch refuses in float32 (the
//! `refused` records of family_f32.txt), rectify refuses in f32 too.

mod common {
    pub mod bits;
    pub mod family;
    pub mod layouts;
    pub mod report;
    pub mod tokens;
}

use rectify::ndarray::{Array1, Array2, ArrayView1, Axis};
use rectify::{
    clipped_relu, clipped_relu_grad, leaky_relu, leaky_relu_grad, relu, relu_grad, threshold,
    threshold_grad, ClippedReluLayer, Float, Layer, LayerError, LeakyReluLayer, Member, PReluLayer,
    RReluLayer, Rectifier, ReluLayer, ThresholdLayer,
};

use common::bits::Bits;
use common::family::{param, parse, Case, Departure, Fixture, Input, Scalar};
use common::layouts::{column_major, steps, with_steps};
use common::report::Report;
use common::tokens::{hex, Token};

/// The fixture of `A`'s type: family.txt for f64, family_f32.txt for f32.
fn fixture<A: Token>() -> Fixture<A> {
    match A::DTYPE {
        "float64" => parse("family.txt", include_str!("fixtures/family.txt")),
        "float32" => parse("family_f32.txt", include_str!("fixtures/family_f32.txt")),
        other => unreachable!("no fixture in {other}"),
    }
}

// ---------------------------------------------------------------- checks

/// Which entry points of a layer a case checks.
#[derive(Clone, Copy, PartialEq)]
enum Paths {
    /// `predict` only (RReLU in eval mode: `forward` draws random slopes).
    Predict,
    /// `predict`, and `forward` then `backward`, borrowed and owned, in
    /// every layout and dimension.
    All,
}

/// Runs a layer made by `make` through `paths`, first through the
/// `Layer<A>` trait (2-D, row- and column-major), then through the
/// inherent n-D methods (3-D `(rows, cols, 1)`, the same as `IxDyn`, and
/// 2-D through a view with steps), and compares with `case`'s expected
/// output and input gradient on `input`; `after_backward` inspects the
/// layer after each backward (for parameter gradients).
fn check_layer<A: Token + Float, M: Member<A>>(
    report: &mut Report,
    case: &Case<A>,
    input: &Input<A>,
    paths: Paths,
    make: impl Fn() -> Result<Rectifier<M>, LayerError>,
    mut after_backward: impl FnMut(&mut Report, &str, &Rectifier<M>),
) -> Result<(), LayerError> {
    let (y, dx) = &case.expected(input);
    let name = case.name.as_str();
    let (x, g) = (&input.x, &input.g);

    // The trait, 2-D.
    report.array(name, "predict", x, y, &Layer::<A>::predict(&make()?, x)?);
    if paths == Paths::All {
        let (xf, gf) = (column_major(x), column_major(g));
        for (layout, x, g) in [("row-major", x, g), ("column-major", &xf, &gf)] {
            let mut layer = make()?;
            let what = format!("forward {layout}");
            report.array(name, &what, x, y, &Layer::<A>::forward(&mut layer, x)?);
            let what = format!("backward {layout}");
            report.array(name, &what, x, dx, &Layer::<A>::backward(&mut layer, g)?);
            after_backward(report, &what, &layer);
            let what = format!("predict after forward {layout}");
            report.array(name, &what, x, y, &Layer::<A>::predict(&layer, x)?);

            let mut layer = make()?;
            let what = format!("forward_owned {layout}");
            let got = Layer::<A>::forward_owned(&mut layer, x.clone())?;
            report.array(name, &what, x, y, &got);
            let what = format!("backward_owned {layout}");
            let got = Layer::<A>::backward_owned(&mut layer, g.clone())?;
            report.array(name, &what, x, dx, &got);
            after_backward(report, &what, &layer);
        }
    }

    // The inherent methods, n-D: axis 1 stays the columns, so PReLU's
    // per-column slopes are its per-channel slopes.
    let three = |a: &Array2<A>| a.clone().insert_axis(Axis(2));
    let (x3, g3, y3, dx3) = (three(x), three(g), three(y), three(dx));
    let (xd, gd, yd, dxd) = (
        x3.clone().into_dyn(),
        g3.clone().into_dyn(),
        y3.clone().into_dyn(),
        dx3.clone().into_dyn(),
    );
    let got = Rectifier::predict(&make()?, &x3)?;
    report.array(name, "n-D predict 3-D", &x3, &y3, &got);
    let got = Rectifier::predict(&make()?, &xd)?;
    report.array(name, "n-D predict IxDyn", &xd, &yd, &got);
    if paths == Paths::Predict {
        return Ok(());
    }
    let mut layer = make()?;
    let got = Rectifier::forward(&mut layer, &x3)?;
    report.array(name, "n-D forward 3-D", &x3, &y3, &got);
    let got = Rectifier::backward(&mut layer, &g3)?;
    report.array(name, "n-D backward 3-D", &x3, &dx3, &got);
    after_backward(report, "n-D backward 3-D", &layer);
    let mut layer = make()?;
    let got = Rectifier::forward_owned(&mut layer, xd.clone())?;
    report.array(name, "n-D forward_owned IxDyn", &xd, &yd, &got);
    let got = Rectifier::backward_owned(&mut layer, gd.clone())?;
    report.array(name, "n-D backward_owned IxDyn", &xd, &dxd, &got);
    after_backward(report, "n-D backward_owned IxDyn", &layer);

    let (x_backing, g_backing) = (with_steps(x), with_steps(g));
    let xs = x_backing.slice_each_axis(|d| steps(d.axis.index()));
    let gs = g_backing.slice_each_axis(|d| steps(d.axis.index()));
    let mut layer = make()?;
    let got = Rectifier::forward(&mut layer, &xs)?;
    report.array(name, "n-D forward with steps", x, y, &got);
    let got = Rectifier::backward(&mut layer, &gs)?;
    report.array(name, "n-D backward with steps", x, dx, &got);
    after_backward(report, "n-D backward with steps", &layer);
    Ok(())
}

/// [`check_layer`] on every path, with nothing to check after a backward.
fn check_all<A: Token + Float, M: Member<A>>(
    report: &mut Report,
    case: &Case<A>,
    input: &Input<A>,
    make: impl Fn() -> Result<Rectifier<M>, LayerError>,
) -> Result<(), LayerError> {
    check_layer(report, case, input, Paths::All, make, |_, _, _| {})
}

/// A scalar function and its derivative against PyTorch's, value by value.
fn check_scalar<A: Token>(
    report: &mut Report,
    scalar: &Scalar<A>,
    f: impl Fn(A) -> A,
    df: impl Fn(A) -> A,
) {
    for (i, (x, y, d1)) in scalar.expected().into_iter().enumerate() {
        let at = format!("[{i}]");
        report.value(&scalar.name, "scalar", &at, x, y, f(x));
        report.value(&scalar.name, "scalar grad", &at, x, d1, df(x));
    }
}

/// A scalar function applied to every element of a case's input, against
/// the case's expected output.
fn check_scalar_on_case<A: Token>(
    report: &mut Report,
    case: &Case<A>,
    input: &Input<A>,
    f: impl Fn(A) -> A,
) {
    let (y, _) = case.expected(input);
    let got = input.x.mapv(f);
    report.array(&case.name, "scalar on input", &input.x, &y, &got);
}

/// Runs `body` on `A`'s fixture and a fresh report, and fails with its
/// mismatches.
fn checked<A: Token>(
    test: &str,
    body: impl FnOnce(&Fixture<A>, &mut Report) -> Result<(), LayerError>,
) {
    let fixture = fixture::<A>();
    let test = format!("{test} {}", A::DTYPE);
    let mut report = Report::default();
    body(&fixture, &mut report).unwrap_or_else(|e| panic!("{test}: {e}"));
    report.finish(&test, &format!("{} ({})", fixture.torch, A::DTYPE));
}

// ---------------------------------------------------------------- the members

/// Each member's check as two tests: `$f64` on family.txt, `$f32` on
/// family_f32.txt.
macro_rules! in_f64_and_f32 {
    ($($check:ident: $f64:ident, $f32:ident;)*) => {$(
        #[test]
        fn $f64() {
            $check::<f64>();
        }

        #[test]
        fn $f32() {
            $check::<f32>();
        }
    )*};
}

in_f64_and_f32! {
    check_relu: relu_matches_pytorch, relu_matches_pytorch_f32;
    check_leaky_relu: leaky_relu_matches_pytorch, leaky_relu_matches_pytorch_f32;
    check_prelu: prelu_matches_pytorch, prelu_matches_pytorch_f32;
    check_clipped_relu: clipped_relu_matches_pytorch, clipped_relu_matches_pytorch_f32;
    check_threshold: threshold_matches_pytorch, threshold_matches_pytorch_f32;
    check_rrelu: rrelu_matches_pytorch, rrelu_matches_pytorch_f32;
    check_report:
        report_catches_one_flipped_bit_and_the_sign_of_zero,
        report_catches_one_flipped_bit_and_the_sign_of_zero_f32;
}

fn check_relu<A: Token + Float>() {
    checked::<A>("relu", |fixture, report| {
        for (case, input) in fixture.cases("relu") {
            check_all(report, case, input, || Ok(ReluLayer::new()))?;
            check_scalar_on_case(report, case, input, relu::<A>);
        }
        for scalar in fixture.scalars("relu") {
            check_scalar(report, scalar, relu::<A>, relu_grad::<A>);
        }
        Ok(())
    });
}

/// Leaky ReLU, in f32 with slopes f32 cannot hold (0.01, 0.2, 0.1, 1e-40):
/// the layer rounds the f64 slope to f32 and multiplies in f32.
fn check_leaky_relu<A: Token + Float>() {
    checked::<A>("leaky_relu", |fixture, report| {
        for (case, input) in fixture.cases("leaky") {
            let slope = case.param("slope");
            check_all(report, case, input, || LeakyReluLayer::new(slope))?;
            let s = A::nearest(slope);
            check_scalar_on_case(report, case, input, |x| leaky_relu(x, s));
        }
        for scalar in fixture.scalars("leaky_relu") {
            let s = A::nearest(scalar.param("slope"));
            check_scalar(
                report,
                scalar,
                |x| leaky_relu(x, s),
                |x| leaky_relu_grad(x, s),
            );
        }
        Ok(())
    });
}

/// A way to build the PReLU layer of a case.
type MakePrelu<'a, A> = &'a dyn Fn() -> Result<PReluLayer<A>, LayerError>;

/// PReLU through `from_slopes`; through `new` with zeros and the slopes
/// set through `params`, as an optimizer would; and, for one shared slope,
/// through `new` with the slope as its f64 init (exactly the slope, in f32
/// too). Training passes must not move the slopes.
fn check_prelu<A: Token + Float>() {
    checked::<A>("prelu", |fixture, report| {
        for (case, input) in fixture.cases("prelu") {
            let slopes = &case.slopes;
            let from_slopes = || PReluLayer::<A>::from_slopes(Array1::from(slopes.clone()));
            let through_params = || -> Result<PReluLayer<A>, LayerError> {
                let mut prelu = PReluLayer::<A>::new(slopes.len(), 0.0)?;
                Layer::<A>::params(&mut prelu)[0]
                    .value
                    .assign(&ArrayView1::from(slopes.as_slice()).into_dyn());
                Ok(prelu)
            };
            let through_new = || PReluLayer::<A>::new(1, slopes[0].wide());
            let mut makers = vec![&from_slopes as MakePrelu<A>, &through_params];
            if slopes.len() == 1 {
                makers.push(&through_new);
            }
            for make in makers {
                assert_eq!(make()?.slopes(), ArrayView1::from(slopes.as_slice()));
                check_layer(
                    report,
                    case,
                    input,
                    Paths::All,
                    make,
                    |report, what, prelu: &PReluLayer<A>| {
                        let (x, g) = (&input.x, &input.g);
                        let got = prelu.slopes_grad();
                        report.slopes_grad(&case.name, what, (x, g), &case.dslopes, got);
                        let unmoved = prelu.slopes() == ArrayView1::from(slopes.as_slice());
                        report.checks += 1;
                        if !unmoved {
                            report.mismatch(format!("{} {what}: the slopes moved", case.name));
                        }
                    },
                )?;
            }
        }
        Ok(())
    });
}

/// ReLU6 and the clipped ReLU; in f32 with caps f32 cannot hold (6.1,
/// 1e-40, the tie 1 + 3·2⁻²⁴), a cap that rounds to 0 (1e-300) and
/// f32::MAX.
fn check_clipped_relu<A: Token + Float>() {
    checked::<A>("clipped_relu", |fixture, report| {
        for (case, input) in fixture.cases("clipped") {
            let cap = case.param("cap");
            let relu6 = case.params["ctor"] == "relu6";
            let make = || {
                if relu6 {
                    Ok(ClippedReluLayer::relu6())
                } else {
                    ClippedReluLayer::new(cap)
                }
            };
            check_all(report, case, input, make)?;
            let c = A::nearest(cap);
            check_scalar_on_case(report, case, input, |x| clipped_relu(x, c));
        }
        for scalar in fixture.scalars("clipped_relu") {
            let c = A::nearest(scalar.param("cap"));
            check_scalar(
                report,
                scalar,
                |x| clipped_relu(x, c),
                |x| clipped_relu_grad(x, c),
            );
        }
        Ok(())
    });
}

/// Threshold; in f32 with t and v f32 cannot hold (0.3 and 0.7; 1e-40 and
/// 1e-45, which rounds to the smallest subnormal; the tie 1 + 2⁻²⁴ and
/// -0.1).
fn check_threshold<A: Token + Float>() {
    checked::<A>("threshold", |fixture, report| {
        for (case, input) in fixture.cases("threshold") {
            let (t, v) = (case.param("t"), case.param("v"));
            check_all(report, case, input, || ThresholdLayer::new(t, v))?;
            let (t, v) = (A::nearest(t), A::nearest(v));
            check_scalar_on_case(report, case, input, |x| threshold(x, t, v));
        }
        for scalar in fixture.scalars("threshold") {
            let (t, v) = (scalar.param("t"), scalar.param("v"));
            let (t, v) = (A::nearest(t), A::nearest(v));
            check_scalar(
                report,
                scalar,
                |x| threshold(x, t, v),
                |x| threshold_grad(x, t),
            );
        }
        Ok(())
    });
}

/// RReLU: eval mode is `predict`, whose slope is the f64 mean of the
/// bounds (rounded to f32 in f32), as PyTorch's `leaky_relu(x, (lower +
/// upper) / 2)`; training mode with lower == upper draws every slope as
/// exactly lower (rounded), so `forward` and `backward` are deterministic.
fn check_rrelu<A: Token + Float>() {
    checked::<A>("rrelu", |fixture, report| {
        for (case, input) in fixture.cases("rrelu") {
            let (lower, upper) = (case.param("lower"), case.param("upper"));
            let paths = match case.params["mode"].as_str() {
                "eval" => Paths::Predict,
                "train" => {
                    assert_eq!(lower, upper, "{}: a deterministic training case", case.name);
                    Paths::All
                }
                other => panic!("{}: unknown mode {other}", case.name),
            };
            let make = || Ok(RReluLayer::new(lower, upper)?.with_seed(7));
            check_layer(report, case, input, paths, make, |_, _, _| {})?;
        }
        Ok(())
    });
}

// ---------------------------------------------------------------- the fixtures and the report

/// The value of `A` next to a finite `v`, above it if `up`, else below it.
fn neighbour<A: Token>(v: A, up: bool) -> A {
    let w = v.wide();
    if w == 0.0 {
        let tiny = A::of_bits(1).wide();
        A::nearest(if up { tiny } else { -tiny })
    } else if (w > 0.0) == up {
        A::of_bits(v.bits() + 1)
    } else {
        A::of_bits(v.bits() - 1)
    }
}

/// The cases of the fixtures, in order: family_f32.txt has them all,
/// family.txt those marked `true` (f32 adds hyperparameters that only f32
/// rounds).
const CASES: [(&str, bool); 35] = [
    ("relu", true),
    ("leaky_0.01", true),
    ("leaky_0.2", true),
    ("leaky_-0.5", true),
    ("leaky_0.0", true),
    ("leaky_1.5", true),
    ("leaky_0.1", false),
    ("leaky_1e-40", false),
    ("relu6", true),
    ("hardtanh_6.0", true),
    ("hardtanh_1.0", true),
    ("hardtanh_0.5", true),
    ("hardtanh_1e-300", true),
    ("hardtanh_6.1", false),
    ("hardtanh_1e-40", false),
    ("hardtanh_3.4028234663852886e+38", false),
    ("hardtanh_1.0000001788139343", false),
    ("threshold_0.0_0.0", true),
    ("threshold_1.5_-2.0", true),
    ("threshold_-1.0_7.0", true),
    ("threshold_0.0_-0.0", true),
    ("threshold_0.3_0.7", false),
    ("threshold_1e-40_1e-45", false),
    ("threshold_1.0000000596046448_-0.1", false),
    ("prelu_0.25", true),
    ("prelu_0.25_finite", true),
    ("prelu_0.0", true),
    ("prelu_-1.3", true),
    ("prelu_columns", true),
    ("prelu_columns_finite", true),
    ("rrelu_eval_0.125_0.3333333333333333", true),
    ("rrelu_eval_0.1_0.1", true),
    ("rrelu_eval_0.54_0.86", false),
    ("rrelu_eval_0.14285714285714285_0.3333333333333333", false),
    ("rrelu_train_0.2_0.2", true),
];

/// The fixture of `A` has the cases `names` and inputs of awkward sizes;
/// input A holds `values`, every kink of `kinks` as `A` holds it and both
/// its neighbours, the NaNs `nans` and a NaN in its last element; its
/// upstream gradient holds `gradients`; and the departures are there.
fn check_coverage<A: Token>(
    fixture: &Fixture<A>,
    names: &[&str],
    values: &[A],
    kinks: &[f64],
    nans: &[u64],
    gradients: &[A],
) {
    assert_eq!(fixture.dtype, A::DTYPE);
    let got: Vec<&str> = fixture.cases.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(got, names);
    for input in &fixture.inputs {
        let (rows, cols) = input.x.dim();
        let n = rows * cols;
        assert!(
            n >= 1500 && n % 4 != 0 && n % 64 != 0,
            "{}: {n} elements",
            input.name
        );
    }
    let a = &fixture.inputs[0];
    let has = |v: A| a.x.iter().any(|x| x.bits() == v.bits());
    let mut required = values.to_vec();
    for &kink in kinks {
        let k = A::nearest(kink);
        // Above f32::MAX is +inf, which `values` holds.
        required.extend([k, neighbour(k, true), neighbour(k, false)]);
    }
    for v in required {
        assert!(has(v), "input A lacks {:e} ({})", v.wide(), hex(v));
    }
    let got_nans: Vec<u64> =
        a.x.iter()
            .filter(|x| x.wide().is_nan())
            .map(|x| x.bits())
            .collect();
    for &nan in nans {
        let nan = A::of_bits(nan);
        assert!(
            got_nans.contains(&nan.bits()),
            "input A lacks the NaN {}",
            hex(nan)
        );
    }
    assert!(
        a.x.iter().last().unwrap().wide().is_nan(),
        "a NaN in the last element (PyTorch's tail)"
    );
    for &g in gradients {
        assert!(a.g.iter().any(|x| x.bits() == g.bits()), "g lacks {g:?}");
    }
    // The departures are there: PyTorch's SIMD hardtanh_backward at NaN.
    let relu6 = fixture.cases.iter().find(|c| c.name == "relu6").unwrap();
    assert!(relu6.departures.iter().any(|d| d.0 == Departure::NanGrad));
}

#[test]
fn fixture_covers_every_case_and_special_value() {
    let fixture = fixture::<f64>();
    let names: Vec<&str> = CASES.iter().filter(|c| c.1).map(|c| c.0).collect();
    assert_eq!(fixture.scalars.len(), 14);
    assert_eq!(fixture.refused.len(), 0);
    let values = [
        0.0,
        -0.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        5e-324,
        -5e-324,
        1e-310,
        -1e-310,
        f64::MIN_POSITIVE,
        -f64::MIN_POSITIVE,
        f64::MAX,
        f64::MIN,
    ];
    let kinks = [6.0, 1.0, 0.5, 1e-300, 1.5, -1.0];
    let nans = [0x7ff8_0000_0000_0000, 0x7ff8_0000_0000_beef];
    let gradients = [0.0, -0.0, f64::INFINITY];
    check_coverage(&fixture, &names, &values, &kinks, &nans, &gradients);
}

/// In f32 the fixture also holds the kinks that only f32 rounds (6.1, 0.3,
/// 1e-40, f32::MAX, 1 + 3·2⁻²⁴) with both their f32 neighbours, negative
/// NaNs, and `refused` records.
#[test]
fn fixture_covers_every_case_and_special_value_f32() {
    let fixture = fixture::<f32>();
    let names = CASES.map(|c| c.0);
    assert_eq!(fixture.scalars.len(), 23);
    assert_eq!(fixture.refused.len(), 30);
    let values = [
        0.0,
        -0.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::from_bits(1), // 1.4e-45, the smallest subnormal
        -f32::from_bits(1),
        f32::from_bits(0x007f_ffff), // the largest subnormal
        -f32::from_bits(0x007f_ffff),
        1e-40,
        -1e-40,
        f32::MIN_POSITIVE,
        -f32::MIN_POSITIVE,
        f32::MAX,
        f32::MIN,
    ];
    // The kinks as f32 holds them: 6.1, 0.3, 1e-40 and 1 + 3·2⁻²⁴ rounded.
    let kinks = [
        0.0,
        6.0,
        1.0,
        0.5,
        1.5,
        -1.0,
        6.1,
        0.3,
        1e-40,
        f64::from(f32::MAX),
        1.0000001788139343,
    ];
    let nans = [0x7fc0_0000, 0xffc0_0000, 0x7fc0_beef, 0xffc0_beef];
    let gradients = [0.0, -0.0, f32::INFINITY, f32::NEG_INFINITY];
    check_coverage(&fixture, &names, &values, &kinks, &nans, &gradients);
}

/// The report fails on one flipped bit and on the sign of a zero, not on
/// another NaN.
fn check_report<A: Token + Float>() {
    let values = [1.0, -0.0, f64::NAN, 2.0].map(A::nearest);
    let x = Array2::from_shape_vec((1, 4), values.to_vec()).unwrap();
    let mut report = Report::default();
    let want = x.clone();
    let mut got = x.clone();
    // Another NaN, the sign and the lowest payload bit set: the same.
    let sign = 1 << (4 * A::DIGITS - 1);
    got[[0, 2]] = A::of_bits(Bits::bits(values[2]) | sign | 1);
    report.array("self-test", "same", &x, &want, &got);
    assert_eq!(report.count, 0);
    got[[0, 1]] = A::nearest(0.0);
    got[[0, 3]] = A::of_bits(Bits::bits(values[3]) ^ 1);
    report.array("self-test", "different", &x, &want, &got);
    assert_eq!(report.count, 2);
    let neg_zero = hex(A::nearest(-0.0));
    assert!(report.shown[0].contains("[0, 1]") && report.shown[0].contains(&neg_zero));
}

/// The view with steps and the column-major copy really are the array, and
/// really are in another layout.
#[test]
fn layouts_view_the_same_array() {
    let a = Array2::from_shape_fn((3, 5), |(r, c)| (10 * r + c) as f32);
    let backing = with_steps(&a);
    let view = backing.slice_each_axis(|d| steps(d.axis.index()));
    assert_eq!(view, a);
    assert_eq!(view.strides(), &[20, -2]);
    let f = column_major(&a);
    assert_eq!(f, a);
    assert_eq!(f.strides(), &[1, 3]);
}

// ---------------------------------------------------------------- f32 hyperparameters

/// The rounding the fixture relies on: `as f32` is to nearest, ties to
/// even, as PyTorch's `static_cast<float>(double)`.
#[test]
fn hyperparameters_round_as_pytorch_rounds_them() {
    assert_eq!(6.1f64 as f32, f32::from_bits(0x40c3_3333)); // 6.0999999, below 6.1
    assert_eq!(0.3f64 as f32, f32::from_bits(0x3e99_999a)); // 0.30000001, above 0.3
    assert_eq!(1.0000001788139343f64 as f32, 1.0 + 2.0 * f32::EPSILON); // tie, up to even
    assert_eq!(1.0000000596046448f64 as f32, 1.0); // tie, down to even
    assert_eq!(1e-300f64 as f32, 0.0);
    assert_eq!(1e-45f64 as f32, f32::from_bits(1));
    // RReLU's eval slope: the f64 mean, rounded, is not the f32 mean.
    assert_ne!(((0.54 + 0.86) / 2.0) as f32, (0.54f32 + 0.86f32) / 2.0);
}

/// What a layer did in [`run_in_both`]: `Ok(())` or its error.
struct Outcome {
    /// On a 1×3 f32 input.
    f32: Result<(), LayerError>,
    /// On an empty 0×3 f32 input (PyTorch converts the hyperparameters,
    /// and raises, before it looks at the elements).
    f32_empty: Result<(), LayerError>,
    /// On the 1×3 input in f64.
    f64: Result<(), LayerError>,
}

/// Runs fresh layers from `make` on f32 inputs and on an f64 input:
/// `forward` if `train`, else `predict`. An error of `make` (a constructor
/// refusing a valid f64 hyperparameter) is the outer one.
fn run_in_both<L: Layer<f32> + Layer<f64>>(
    make: impl Fn() -> Result<L, LayerError>,
    train: bool,
) -> Result<Outcome, LayerError> {
    let x32 = Array2::from_shape_vec((1, 3), vec![-2.0f32, 0.0, 3.0]).unwrap();
    let empty = Array2::<f32>::zeros((0, 3));
    let x64 = x32.mapv(f64::from);
    let run32 = |x: &Array2<f32>| -> Result<Result<(), LayerError>, LayerError> {
        let mut layer = make()?;
        Ok(if train {
            Layer::<f32>::forward(&mut layer, x).map(drop)
        } else {
            Layer::<f32>::predict(&layer, x).map(drop)
        })
    };
    let mut layer = make()?;
    let in_f64 = if train {
        Layer::<f64>::forward(&mut layer, &x64).map(drop)
    } else {
        Layer::<f64>::predict(&layer, &x64).map(drop)
    };
    Ok(Outcome {
        f32: run32(&x32)?,
        f32_empty: run32(&empty)?,
        f64: in_f64,
    })
}

/// Hyperparameters whose magnitude exceeds f32::MAX (1e39; the midpoint
/// 3.4028235677973366e38, which rounds to +inf; and 3.4028235e38, which
/// rounds to f32::MAX): PyTorch raises "value cannot be converted to type
/// float without overflow" when it runs on a float32 tensor, and runs on a
/// float64 one. rectify's constructors take them (they are valid f64
/// hyperparameters); the layer refuses them with `InvalidParameter` when
/// it runs in f32 (on an empty array too, as PyTorch), and runs in f64.
/// PyTorch refuses every value above f32::MAX, also those that round to
/// f32::MAX; f32::MAX itself runs (the case
/// `hardtanh_3.4028234663852886e+38`). Records without a mode are
/// checked through `predict` and `forward`; RReLU's through its mode only,
/// because in eval mode PyTorch converts only the mean (lower + upper) / 2
/// (it runs `rrelu(x, 0.1, 5e38, training=False)` in float32: not a record).
#[test]
fn overflowing_hyperparameters_are_refused_in_f32_like_pytorch() {
    let fixture = fixture::<f32>();
    let mut failures = Vec::new();
    for r in &fixture.refused {
        let p = |k: &str| param(&r.params, k);
        let mut described: Vec<_> = r.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
        described.sort();
        let what = format!("{} {}", r.layer, described.join(" "));
        let modes: &[bool] = match r.params.get("mode").map(String::as_str) {
            Some("train") => &[true],
            Some("eval") => &[false],
            None => &[false, true],
            Some(other) => panic!("{what}: unknown mode {other}"),
        };
        for &train in modes {
            let outcome = match r.layer.as_str() {
                "leaky" => run_in_both(|| LeakyReluLayer::new(p("slope")), train),
                "clipped" => run_in_both(|| ClippedReluLayer::new(p("cap")), train),
                "threshold" => run_in_both(|| ThresholdLayer::new(p("t"), p("v")), train),
                "rrelu" => run_in_both(
                    || Ok(RReluLayer::new(p("lower"), p("upper"))?.with_seed(7)),
                    train,
                ),
                other => panic!("{what}: unknown layer {other}"),
            };
            let call = if train { "forward" } else { "predict" };
            match outcome {
                Err(e) => failures.push(format!(
                    "{what}: the constructor refused a valid f64 value: {e}"
                )),
                Ok(outcome) => {
                    for (input, got) in [
                        ("", &outcome.f32),
                        (" on an empty input", &outcome.f32_empty),
                    ] {
                        if !matches!(got, Err(LayerError::InvalidParameter { .. })) {
                            failures.push(format!(
                                "{what}: f32 {call}{input} gave {got:?}, expected InvalidParameter"
                            ));
                        }
                    }
                    if let Err(e) = &outcome.f64 {
                        failures.push(format!("{what}: f64 {call} refused: {e}"));
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures over {} refused records:\n{}",
        failures.len(),
        fixture.refused.len(),
        failures.join("\n")
    );
}
