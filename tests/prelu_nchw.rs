//! PReLU with one slope per channel against PyTorch's `nn.PReLU(C)` on the
//! 4-D input (N, C, H, W) = (3, 5, 7, 9) and the 3-D input (N, C, L) =
//! (4, 6, 11), in float32 and in float64, from
//! `tests/fixtures/prelu_nchw.txt` (written by `tests/fixtures/family.py
//! --prelu-nchw`; the top of family.py documents the format). The slopes
//! are distinct per channel and include 0, -0.0, negative values and values
//! above 1; the `mixed` inputs hold the dtype's awkward values (±0.0, ±inf,
//! NaNs with payloads, subnormals, ±MAX, the kinks' neighbours) and their
//! upstream gradients ±0.0 and ±inf; the `finite` inputs keep every slope
//! gradient a finite sum.
//!
//! Each record runs through `forward`/`backward`, `predict` and
//! `forward_owned`/`backward_owned`, on the array with its fixed dimension
//! (`Ix4`, `Ix3`) and as `IxDyn`, and on three other memory layouts of the
//! same logical array: channels-last memory (N, H, W, C) viewed through
//! `permuted_axes`, column-major memory, and a view with steps of 2 and -2
//! (the channel axis reversed in memory). The output and the input gradient must match
//! PyTorch's bits (NaN matching any NaN); the slope gradient, which
//! PyTorch sums in another order, must be within `n·ε` of the sum of the
//! magnitudes of its `n` terms (ε the dtype's machine epsilon), and a
//! non-finite one must be the same infinity or NaN.

mod common {
    pub mod bits;
    pub mod layouts;
    pub mod report;
    pub mod tokens;
}

use rectify::ndarray::{Array1, ArrayD, ArrayRef, ArrayView, Dimension, Ix3, Ix4, IxDyn};
use rectify::{Float, LayerError, PReluLayer};

use common::bits::Bits;
use common::layouts::{column_major, steps, with_steps};
use common::report::Report;
use common::tokens::{Lines, Token};

// ---------------------------------------------------------------- fixture

/// One run of `nn.PReLU(C)`: C = shape[1].
struct Record<A> {
    name: String,
    slopes: Vec<A>,
    x: ArrayD<A>,
    g: ArrayD<A>,
    y: ArrayD<A>,
    dx: ArrayD<A>,
    dslopes: Vec<A>,
}

struct Fixture {
    torch: String,
    f32: Vec<Record<f32>>,
    f64: Vec<Record<f64>>,
}

/// The rest of a record whose `prelu` line gave `name` and `shape`.
fn record<A: Token>(lines: &mut Lines<'_>, name: &str, shape: &[usize]) -> Record<A> {
    let channels = Some(shape[1]);
    let slopes = lines.vector("slopes", channels);
    let x = lines.array("x", IxDyn(shape), None);
    let g = lines.array("g", IxDyn(shape), None);
    let y = lines.array("y", IxDyn(shape), Some(&x));
    let dx = lines.array("dx", IxDyn(shape), Some(&g));
    let dslopes = lines.vector("dslopes", channels);
    Record {
        name: format!("{name} {}", A::DTYPE),
        slopes,
        x,
        g,
        y,
        dx,
        dslopes,
    }
}

fn fixture() -> Fixture {
    let mut lines = Lines::new("prelu_nchw.txt", include_str!("fixtures/prelu_nchw.txt"));
    let mut fixture = Fixture {
        torch: String::new(),
        f32: Vec::new(),
        f64: Vec::new(),
    };
    loop {
        let (n, words) = lines.next();
        match words[0] {
            "torch" => fixture.torch = words[1..].join(" "),
            "prelu" => {
                let shape: Vec<usize> = words[3..].iter().map(|d| d.parse().unwrap()).collect();
                assert!(shape.len() >= 2, "{}: a channel axis", lines.at(n));
                match words[2] {
                    "float32" => fixture.f32.push(record(&mut lines, words[1], &shape)),
                    "float64" => fixture.f64.push(record(&mut lines, words[1], &shape)),
                    other => panic!("{}: unknown dtype {other}", lines.at(n)),
                }
            }
            "end" => return fixture,
            other => panic!("{}: unknown record {other}", lines.at(n)),
        }
    }
}

// ---------------------------------------------------------------- layouts

/// The same shape and bits, element by element in logical order.
fn same_array<A: Bits, D: Dimension>(a: &ArrayRef<A, D>, b: &ArrayRef<A, D>) -> bool {
    a.shape() == b.shape() && a.iter().zip(b.iter()).all(|(&u, &v)| u.bits() == v.bits())
}

/// `a` with its fixed dimension type (`Ix4`, `Ix3`).
fn fixed<A, D: Dimension>(a: &ArrayD<A>) -> ArrayView<'_, A, D> {
    a.view().into_dimensionality::<D>().unwrap()
}

/// `a` stored channels-last, (N, H, W, C) or (N, L, C) in memory: view it
/// through [`channels_first`] to get `a` back, logically.
fn channels_last<A: Clone>(a: &ArrayD<A>) -> ArrayD<A> {
    let n = a.ndim();
    let order: Vec<usize> = [0].into_iter().chain(2..n).chain([1]).collect();
    a.view()
        .permuted_axes(order)
        .as_standard_layout()
        .into_owned()
}

/// The logical (N, C, ...) view of a channels-last array.
fn channels_first<A>(a: &ArrayD<A>) -> ArrayView<'_, A, IxDyn> {
    let n = a.ndim();
    let order: Vec<usize> = [0, n - 1].into_iter().chain(1..n - 1).collect();
    a.view().permuted_axes(order)
}

// ---------------------------------------------------------------- the layer

/// Every entry point on one layout and dimension: `x` and `g` are views of
/// the record's input and gradient (any memory layout), `y` and `dx` the
/// expected results with the same dimension type.
fn check_paths<A: Token + Float, D: Dimension>(
    report: &mut Report,
    record: &Record<A>,
    layout: &str,
    x: ArrayView<'_, A, D>,
    g: ArrayView<'_, A, D>,
    y: ArrayView<'_, A, D>,
    dx: ArrayView<'_, A, D>,
) -> Result<(), LayerError> {
    let name = record.name.as_str();
    let make = || PReluLayer::<A>::from_slopes(Array1::from(record.slopes.clone()));
    let (xg, want) = ((&*x, &*g), record.dslopes.as_slice());

    let mut layer = make()?;
    report.array(
        name,
        &format!("predict {layout}"),
        &x,
        &y,
        &layer.predict(&x)?,
    );
    report.array(
        name,
        &format!("forward {layout}"),
        &x,
        &y,
        &layer.forward(&x)?,
    );
    let what = format!("backward {layout}");
    report.array(name, &what, &x, &dx, &layer.backward(&g)?);
    report.slopes_grad(name, &what, xg, want, layer.slopes_grad());
    let what = format!("predict after backward {layout}");
    report.array(name, &what, &x, &y, &layer.predict(&x)?);

    let mut layer = make()?;
    let what = format!("forward_owned {layout}");
    report.array(name, &what, &x, &y, &layer.forward_owned(x.to_owned())?);
    let what = format!("backward_owned {layout}");
    report.array(name, &what, &x, &dx, &layer.backward_owned(g.to_owned())?);
    report.slopes_grad(name, &what, xg, want, layer.slopes_grad());
    // Training passes do not move the slopes; only an optimizer does.
    report.checks += 1;
    if !same_array(&layer.slopes(), &Array1::from(record.slopes.clone())) {
        report.mismatch(format!("{name} {layout}: the slopes changed"));
    }
    Ok(())
}

/// One record through [`check_paths`] in every layout: the standard array
/// as `IxDyn` and with its fixed dimension (`Ix4` or `Ix3`), channels-last
/// memory seen through `permuted_axes`, column-major memory, and a view
/// with steps.
fn check_record<A: Token + Float>(
    report: &mut Report,
    record: &Record<A>,
) -> Result<(), LayerError> {
    let (x, g, y, dx) = (&record.x, &record.g, &record.y, &record.dx);
    check_paths::<A, IxDyn>(
        report,
        record,
        "IxDyn",
        x.view(),
        g.view(),
        y.view(),
        dx.view(),
    )?;
    match x.ndim() {
        4 => check_paths::<A, Ix4>(
            report,
            record,
            "Ix4",
            fixed(x),
            fixed(g),
            fixed(y),
            fixed(dx),
        )?,
        3 => check_paths::<A, Ix3>(
            report,
            record,
            "Ix3",
            fixed(x),
            fixed(g),
            fixed(y),
            fixed(dx),
        )?,
        n => panic!("{}: {n} axes", record.name),
    }

    let (x_last, g_last) = (channels_last(x), channels_last(g));
    let (xp, gp) = (channels_first(&x_last), channels_first(&g_last));
    assert!(
        same_array(&xp, x),
        "{}: the permuted view is the input",
        record.name
    );
    assert!(
        !xp.is_standard_layout(),
        "{}: a permuted layout",
        record.name
    );
    check_paths::<A, IxDyn>(
        report,
        record,
        "channels-last memory",
        xp,
        gp,
        y.view(),
        dx.view(),
    )?;

    let (xf, gf) = (column_major(x), column_major(g));
    assert!(
        same_array(&xf, x) && !xf.is_standard_layout(),
        "{}: the column-major copy is the input",
        record.name
    );
    check_paths::<A, IxDyn>(
        report,
        record,
        "column-major",
        xf.view(),
        gf.view(),
        y.view(),
        dx.view(),
    )?;

    let (x_backing, g_backing) = (with_steps(x), with_steps(g));
    let xs = x_backing.slice_each_axis(|d| steps(d.axis.index()));
    let gs = g_backing.slice_each_axis(|d| steps(d.axis.index()));
    assert!(
        same_array(&xs, x),
        "{}: the view with steps is the input",
        record.name
    );
    check_paths::<A, IxDyn>(report, record, "with steps", xs, gs, y.view(), dx.view())
}

// ---------------------------------------------------------------- tests

/// The fixture holds the eight records (two shapes, two input kinds, two
/// dtypes), with distinct slopes that include 0, a negative value and one
/// above 1, and the awkward values in the `mixed` inputs.
#[test]
fn fixture_covers_both_shapes_and_dtypes() {
    let fixture = fixture();
    let names = |records: Vec<(&str, &[usize])>| -> Vec<String> {
        records.iter().map(|(n, s)| format!("{n} {s:?}")).collect()
    };
    let expected = [
        "nchw_mixed [3, 5, 7, 9]",
        "nchw_finite [3, 5, 7, 9]",
        "ncl_mixed [4, 6, 11]",
        "ncl_finite [4, 6, 11]",
    ];
    let f32s = fixture
        .f32
        .iter()
        .map(|r| (r.name.strip_suffix(" float32").unwrap(), r.x.shape()))
        .collect();
    let f64s = fixture
        .f64
        .iter()
        .map(|r| (r.name.strip_suffix(" float64").unwrap(), r.x.shape()))
        .collect();
    assert_eq!(names(f32s), expected);
    assert_eq!(names(f64s), expected);

    fn check<A: Bits>(record: &Record<A>) {
        let s: Vec<f64> = record.slopes.iter().map(|v| v.wide()).collect();
        assert!(s.contains(&0.0) && s.iter().any(|&v| v < 0.0) && s.iter().any(|&v| v > 1.0));
        let mut bits: Vec<u64> = record.slopes.iter().map(|v| v.bits()).collect();
        bits.sort();
        bits.dedup();
        assert_eq!(bits.len(), s.len(), "{}: distinct slopes", record.name);
        let x: Vec<f64> = record.x.iter().map(|v| v.wide()).collect();
        let g: Vec<f64> = record.g.iter().map(|v| v.wide()).collect();
        let has_neg_zero = x.iter().any(|v| *v == 0.0 && v.is_sign_negative());
        assert!(has_neg_zero, "{}: -0.0 in x", record.name);
        if record.name.contains("mixed") {
            assert!(x.iter().any(|v| v.is_nan()), "{}: NaN in x", record.name);
            assert!(
                x.contains(&f64::INFINITY) && x.contains(&f64::NEG_INFINITY),
                "{}: ±inf in x",
                record.name
            );
            assert!(
                g.contains(&f64::INFINITY) && g.contains(&f64::NEG_INFINITY),
                "{}: ±inf in g",
                record.name
            );
        } else {
            assert!(
                x.iter().chain(&g).all(|v| v.is_finite()),
                "{}: finite",
                record.name
            );
            assert!(
                record.dslopes.iter().all(|v| v.wide().is_finite()),
                "{}: finite dslopes",
                record.name
            );
        }
        // Not all upstream gradients alike.
        assert!(g.iter().any(|&v| v != g[0]));
    }
    fixture.f32.iter().for_each(check);
    fixture.f64.iter().for_each(check);
    // float32's own subnormals, not float64 ones rounded.
    let tiny = f32::from_bits(1);
    assert!(fixture.f32[0]
        .x
        .iter()
        .any(|v| v.to_bits() == tiny.to_bits()));
}

/// The view helpers give the same logical array in another memory layout.
#[test]
fn layouts_view_the_same_array() {
    let a = ArrayD::from_shape_fn(IxDyn(&[2, 3, 4, 5]), |i| {
        (i[0] * 1000 + i[1] * 100 + i[2] * 10 + i[3]) as f32
    });
    let last = channels_last(&a);
    assert_eq!(last.shape(), &[2, 4, 5, 3]);
    assert_eq!(channels_first(&last), a.view());
    let f = column_major(&a);
    assert_eq!(f, a);
    assert!(f.t().is_standard_layout(), "column-major memory");
    let backing = with_steps(&a);
    let view = backing.slice_each_axis(|d| steps(d.axis.index()));
    assert_eq!(view, a.view());
    assert!(
        view.strides()[1] < 0,
        "the channel axis runs backwards in memory"
    );
}

/// Every record of one type through [`check_record`], failing with the
/// mismatches of them all.
fn check_records<A: Token + Float>(records: &[Record<A>], torch: &str) {
    let mut report = Report::default();
    for record in records {
        check_record(&mut report, record).unwrap_or_else(|e| panic!("{}: {e}", record.name));
    }
    report.finish(&format!("prelu_nchw {}", A::DTYPE), torch);
}

/// `nn.PReLU(C)` in float32, bit for bit (slope gradient to `n·f32::EPSILON`).
#[test]
fn prelu_per_channel_matches_pytorch_f32() {
    let fixture = fixture();
    check_records(&fixture.f32, &fixture.torch);
}

/// `nn.PReLU(C)` in float64, bit for bit (slope gradient to `n·f64::EPSILON`).
#[test]
fn prelu_per_channel_matches_pytorch_f64() {
    let fixture = fixture();
    check_records(&fixture.f64, &fixture.torch);
}

/// A gradient of another shape than the input (the channel axis moved) is
/// an error, not a silent broadcast, and the layer keeps working.
#[test]
fn a_gradient_of_another_shape_is_refused() {
    let fixture = fixture();
    let record = &fixture.f32[0];
    let mut layer = PReluLayer::<f32>::from_slopes(Array1::from(record.slopes.clone())).unwrap();
    layer.forward(&record.x).unwrap();
    let moved = channels_last(&record.g);
    assert!(matches!(
        layer.backward(&moved),
        Err(LayerError::ShapeMismatch { .. })
    ));
    let mut report = Report::default();
    layer.forward(&record.x).unwrap();
    let dx = layer.backward(&record.g).unwrap();
    report.array(
        &record.name,
        "backward after an error",
        &record.x,
        &record.dx,
        &dx,
    );
    report.finish("a_gradient_of_another_shape_is_refused", &fixture.torch);
}
