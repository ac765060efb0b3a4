//! DRAFT (not compiled yet: rename to `prelu_nchw.rs` once the n-D kernel
//! lands). Written against the planned API: `rectify::Float` (f32, f64),
//! `PReluLayer<A = f64>` with `from_slopes(Array1<A>)`, `slopes()` and
//! `slopes_grad()`, and the inherent n-D methods `forward`, `backward`,
//! `predict`, `forward_owned`, `backward_owned` (any `D: Dimension`, one
//! slope per channel along axis 1, as `torch.nn.PReLU(C)`).
//!
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
//! (`Ix4`, `Ix3`) and as `IxDyn`, and on two other memory layouts of the
//! same logical array: channels-last memory (N, H, W, C) viewed through
//! `permuted_axes`, and a view with steps of 2 and -2 (the channel axis
//! reversed in memory). The output and the input gradient must match
//! PyTorch's bits (NaN matching any NaN); the slope gradient, which
//! PyTorch sums in another order, must be within `n·ε` of the sum of the
//! magnitudes of its `n` terms (ε the dtype's machine epsilon), and a
//! non-finite one must be the same infinity or NaN.

use std::fmt::Write as _;

use rectify::ndarray::{
    Array, Array1, ArrayD, ArrayRef, ArrayView, Dimension, Ix3, Ix4, IxDyn, Slice,
};
use rectify::{Float, LayerError, PReluLayer};

const FIXTURE: &str = include_str!("fixtures/prelu_nchw.txt");

/// How many mismatches a failing test prints.
const SHOWN: usize = 12;

// ---------------------------------------------------------------- tokens
// (as in tests/pytorch_parity_f32.rs)

/// A float type whose bit patterns the fixture holds as hex tokens: `f32`
/// in 8 hex digits, `f64` in 16 (as `{:08x}` / `{:016x}` of `to_bits`).
trait Bits: Copy + PartialOrd + std::fmt::Debug + 'static {
    const ZERO: Self;
    /// Hex digits per token.
    const DIGITS: usize;
    /// The fixture's name of the type.
    const DTYPE: &'static str;
    /// The machine epsilon, widened.
    const EPS: f64;
    /// The bits, zero-extended.
    fn bits(self) -> u64;
    /// The value of `bits` (which fit in the type).
    fn of_bits(bits: u64) -> Self;
    /// `x` rounded to this type, to nearest.
    fn round(x: f64) -> Self;
    /// The value, exactly, as an f64.
    fn wide(self) -> f64;
    /// The product in this type (PyTorch's term of the slope gradient).
    fn mul(self, other: Self) -> Self;

    fn is_nan(self) -> bool {
        self.wide().is_nan()
    }
    fn is_finite(self) -> bool {
        self.wide().is_finite()
    }
}

impl Bits for f32 {
    const ZERO: f32 = 0.0;
    const DIGITS: usize = 8;
    const DTYPE: &'static str = "float32";
    const EPS: f64 = f32::EPSILON as f64;
    fn bits(self) -> u64 {
        u64::from(self.to_bits())
    }
    fn of_bits(bits: u64) -> f32 {
        f32::from_bits(u32::try_from(bits).expect("an 8-digit token"))
    }
    fn round(x: f64) -> f32 {
        x as f32
    }
    fn wide(self) -> f64 {
        f64::from(self)
    }
    fn mul(self, other: f32) -> f32 {
        self * other
    }
}

impl Bits for f64 {
    const ZERO: f64 = 0.0;
    const DIGITS: usize = 16;
    const DTYPE: &'static str = "float64";
    const EPS: f64 = f64::EPSILON;
    fn bits(self) -> u64 {
        self.to_bits()
    }
    fn of_bits(bits: u64) -> f64 {
        f64::from_bits(bits)
    }
    fn round(x: f64) -> f64 {
        x
    }
    fn wide(self) -> f64 {
        self
    }
    fn mul(self, other: f64) -> f64 {
        self * other
    }
}

/// The bits of `v` as the fixture prints them.
fn hex<A: Bits>(v: A) -> String {
    format!("{:0w$x}", v.bits(), w = A::DIGITS)
}

/// The value of a token of `A::DIGITS` hex digits, or `reference` for `=`.
fn token<A: Bits>(line: usize, word: &str, reference: Option<A>) -> A {
    if word == "=" {
        return reference.unwrap_or_else(|| panic!("prelu_nchw.txt line {line}: `=` not allowed"));
    }
    assert!(
        word.len() == A::DIGITS && word.bytes().all(|b| b.is_ascii_hexdigit()),
        "prelu_nchw.txt line {line}: token {word} is not {} hex digits",
        A::DIGITS
    );
    A::of_bits(u64::from_str_radix(word, 16).unwrap())
}

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

/// The fixture's data lines (comments and blank lines skipped), numbered.
type Lines<'a> = std::iter::Peekable<Box<dyn Iterator<Item = (usize, Vec<&'a str>)> + 'a>>;

fn lines(text: &str) -> Lines<'_> {
    let data: Box<dyn Iterator<Item = (usize, Vec<&str>)>> = Box::new(
        text.lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.trim()))
            .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
            .map(|(n, l)| (n, l.split_whitespace().collect())),
    );
    data.peekable()
}

/// The tokens of the next line, which must start with `tag`.
fn tagged<'a>(lines: &mut Lines<'a>, tag: &str) -> (usize, Vec<&'a str>) {
    let (n, mut words) = lines.next().expect("prelu_nchw.txt ends before `end`");
    assert_eq!(words[0], tag, "prelu_nchw.txt line {n}: expected `{tag}`");
    words.remove(0);
    (n, words)
}

/// A one-line vector of tokens tagged `tag`, `len` of them.
fn vector<A: Bits>(lines: &mut Lines<'_>, tag: &str, len: usize) -> Vec<A> {
    let (n, words) = tagged(lines, tag);
    assert_eq!(words.len(), len, "prelu_nchw.txt line {n}: {len} tokens");
    words.iter().map(|w| token(n, w, None)).collect()
}

/// An array of `shape`, one line tagged `tag` per innermost row, row-major;
/// a token `=` takes the value of the same element of `same_as`.
fn array<A: Bits>(
    lines: &mut Lines<'_>,
    tag: &str,
    shape: &[usize],
    same_as: Option<&ArrayD<A>>,
) -> ArrayD<A> {
    let last = *shape.last().unwrap();
    let rows: usize = shape[..shape.len() - 1].iter().product();
    let reference: Option<Vec<A>> = same_as.map(|a| a.iter().copied().collect());
    let mut values = Vec::with_capacity(rows * last);
    for _ in 0..rows {
        let (n, words) = tagged(lines, tag);
        assert_eq!(words.len(), last, "prelu_nchw.txt line {n}: {last} tokens");
        for w in words {
            let at = values.len();
            values.push(token(n, w, reference.as_ref().map(|r| r[at])));
        }
    }
    ArrayD::from_shape_vec(IxDyn(shape), values).unwrap()
}

/// The rest of a record whose `prelu` line gave `name` and `shape`.
fn record<A: Bits>(lines: &mut Lines<'_>, name: &str, shape: &[usize]) -> Record<A> {
    let channels = shape[1];
    let slopes = vector(lines, "slopes", channels);
    let x = array(lines, "x", shape, None);
    let g = array(lines, "g", shape, None);
    let y = array(lines, "y", shape, Some(&x));
    let dx = array(lines, "dx", shape, Some(&g));
    let dslopes = vector(lines, "dslopes", channels);
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
    let mut lines = lines(FIXTURE);
    let mut fixture = Fixture {
        torch: String::new(),
        f32: Vec::new(),
        f64: Vec::new(),
    };
    loop {
        let (n, words) = lines.next().expect("prelu_nchw.txt ends before `end`");
        match words[0] {
            "torch" => fixture.torch = words[1..].join(" "),
            "prelu" => {
                let shape: Vec<usize> = words[3..].iter().map(|d| d.parse().unwrap()).collect();
                assert!(shape.len() >= 2, "prelu_nchw.txt line {n}: a channel axis");
                match words[2] {
                    "float32" => fixture.f32.push(record(&mut lines, words[1], &shape)),
                    "float64" => fixture.f64.push(record(&mut lines, words[1], &shape)),
                    other => panic!("prelu_nchw.txt line {n}: unknown dtype {other}"),
                }
            }
            "end" => return fixture,
            other => panic!("prelu_nchw.txt line {n}: unknown record {other}"),
        }
    }
}

// ---------------------------------------------------------------- comparison

/// The same value bit for bit (so -0.0 differs from +0.0), or both NaN.
fn same<A: Bits>(a: A, b: A) -> bool {
    a.bits() == b.bits() || (a.is_nan() && b.is_nan())
}

/// The mismatches found so far; the first few are kept for the message.
#[derive(Default)]
struct Report {
    shown: Vec<String>,
    count: usize,
    checks: usize,
}

impl Report {
    fn mismatch(&mut self, line: String) {
        self.count += 1;
        if self.shown.len() < SHOWN {
            self.shown.push(line);
        }
    }

    /// A whole array, element by element in logical order, whatever the
    /// memory layouts of `x` and `got`: `got` must be `want` bit for bit,
    /// NaN matching NaN.
    fn array<A: Bits, D: Dimension>(
        &mut self,
        case: &str,
        what: &str,
        x: &ArrayRef<A, D>,
        want: &ArrayRef<A, D>,
        got: &ArrayRef<A, D>,
    ) {
        if got.shape() != want.shape() {
            self.mismatch(format!(
                "{case} {what}: shape {:?}, expected {:?}",
                got.shape(),
                want.shape()
            ));
            return;
        }
        for ((at, &w), (&gv, &xv)) in want.indexed_iter().zip(got.iter().zip(x.iter())) {
            self.checks += 1;
            if !same(w, gv) {
                self.mismatch(format!(
                    "{case} {what} {at:?}: x = {} ({:e}), expected {} ({:e}), got {} ({:e})",
                    hex(xv),
                    xv.wide(),
                    hex(w),
                    w.wide(),
                    hex(gv),
                    gv.wide()
                ));
            }
        }
    }

    /// The slope gradient `got` after a backward of `record`'s g: NaN
    /// where PyTorch's is NaN, the same infinity, else within `n·ε` of the
    /// sum of the magnitudes of the `n` terms x·g (x ≤ 0 or NaN) of the
    /// channel, the bound on any change of summation order.
    fn slopes_grad<A: Bits>(&mut self, record: &Record<A>, what: &str, got: &[A]) {
        let channels = record.slopes.len();
        self.checks += 1;
        if got.len() != channels {
            self.mismatch(format!(
                "{} {what}: {} slope gradients, expected {channels}",
                record.name,
                got.len()
            ));
            return;
        }
        let mut scale = vec![0.0f64; channels];
        let mut terms = vec![0usize; channels];
        for ((at, &x), &g) in record.x.indexed_iter().zip(record.g.iter()) {
            if x > A::ZERO {
                continue; // PyTorch's term is 0 there
            }
            scale[at[1]] += x.mul(g).wide().abs();
            terms[at[1]] += 1;
        }
        for c in 0..channels {
            let (want, got) = (record.dslopes[c], got[c]);
            let ok = if want.is_finite() {
                (got.wide() - want.wide()).abs() <= terms[c] as f64 * A::EPS * scale[c]
            } else {
                same(want, got)
            };
            if !ok {
                self.mismatch(format!(
                    "{} {what} slope {c}: expected {} ({:e}), got {} ({:e}), {} terms of \
                     magnitude {:e}",
                    record.name,
                    hex(want),
                    want.wide(),
                    hex(got),
                    got.wide(),
                    terms[c],
                    scale[c]
                ));
            }
        }
    }

    /// Panics listing the first mismatches, if there are any.
    fn finish(self, test: &str, torch: &str) {
        assert!(self.checks > 0, "{test}: nothing was compared");
        if self.count > 0 {
            let mut message = format!(
                "{test}: {} of {} values differ from PyTorch {torch}; the first {}:\n",
                self.count,
                self.checks,
                self.shown.len()
            );
            for line in &self.shown {
                let _ = writeln!(message, "  {line}");
            }
            panic!("{message}");
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

/// The steps of [`with_steps`]: 2 on even axes, -2 (backwards) on odd ones,
/// so the channel axis (1) runs backwards in memory.
fn steps(axis: usize) -> Slice {
    Slice::new(0, None, if axis.is_multiple_of(2) { 2 } else { -2 })
}

/// A backing array twice `a`'s size on every axis (filled with 1234.5),
/// holding `a` at the elements that `backing.slice_each_axis(|d|
/// steps(d.axis.index()))` views, so that view is `a`, logically.
fn with_steps<A: Bits, D: Dimension>(a: &ArrayRef<A, D>) -> Array<A, D> {
    let mut dim = a.raw_dim();
    for d in dim.slice_mut() {
        *d *= 2;
    }
    let mut backing = Array::from_elem(dim, A::round(1234.5));
    backing
        .slice_each_axis_mut(|d| steps(d.axis.index()))
        .assign(a);
    backing
}

/// `a` stored channels-last, (N, H, W, C) or (N, L, C) in memory: view it
/// through [`channels_first`] to get `a` back, logically.
fn channels_last<A: Bits>(a: &ArrayD<A>) -> ArrayD<A> {
    let n = a.ndim();
    let order: Vec<usize> = [0].into_iter().chain(2..n).chain([1]).collect();
    a.view()
        .permuted_axes(order)
        .as_standard_layout()
        .into_owned()
}

/// The logical (N, C, ...) view of a channels-last array.
fn channels_first<A: Bits>(a: &ArrayD<A>) -> ArrayView<'_, A, IxDyn> {
    let n = a.ndim();
    let order: Vec<usize> = [0, n - 1].into_iter().chain(1..n - 1).collect();
    a.view().permuted_axes(order)
}

// ---------------------------------------------------------------- the layer

/// What an n-D method returns.
type Out<A, D> = Result<Array<A, D>, LayerError>;

/// PReLU's inherent n-D methods and what the test needs of the layer,
/// under one name for both element types (the macro below implements it
/// for `PReluLayer<f32>` and `PReluLayer<f64>` by calling the inherent
/// methods).
trait Prelu<A: Float>: Sized {
    fn with_slopes(slopes: &[A]) -> Result<Self, LayerError>;
    fn slopes_now(&self) -> Vec<A>;
    fn slopes_grad_now(&self) -> Vec<A>;
    fn nd_forward<D: Dimension>(&mut self, x: &ArrayRef<A, D>) -> Out<A, D>;
    fn nd_backward<D: Dimension>(&mut self, g: &ArrayRef<A, D>) -> Out<A, D>;
    fn nd_predict<D: Dimension>(&self, x: &ArrayRef<A, D>) -> Out<A, D>;
    fn nd_forward_owned<D: Dimension>(&mut self, x: Array<A, D>) -> Out<A, D>;
    fn nd_backward_owned<D: Dimension>(&mut self, g: Array<A, D>) -> Out<A, D>;
}

macro_rules! prelu {
    ($($a:ty),*) => {$(
        impl Prelu<$a> for PReluLayer<$a> {
            fn with_slopes(slopes: &[$a]) -> Result<Self, LayerError> {
                PReluLayer::<$a>::from_slopes(Array1::from(slopes.to_vec()))
            }
            fn slopes_now(&self) -> Vec<$a> {
                self.slopes().to_vec()
            }
            fn slopes_grad_now(&self) -> Vec<$a> {
                self.slopes_grad().to_vec()
            }
            fn nd_forward<D: Dimension>(&mut self, x: &ArrayRef<$a, D>) -> Out<$a, D> {
                PReluLayer::<$a>::forward(self, x)
            }
            fn nd_backward<D: Dimension>(&mut self, g: &ArrayRef<$a, D>) -> Out<$a, D> {
                PReluLayer::<$a>::backward(self, g)
            }
            fn nd_predict<D: Dimension>(&self, x: &ArrayRef<$a, D>) -> Out<$a, D> {
                PReluLayer::<$a>::predict(self, x)
            }
            fn nd_forward_owned<D: Dimension>(&mut self, x: Array<$a, D>) -> Out<$a, D> {
                PReluLayer::<$a>::forward_owned(self, x)
            }
            fn nd_backward_owned<D: Dimension>(&mut self, g: Array<$a, D>) -> Out<$a, D> {
                PReluLayer::<$a>::backward_owned(self, g)
            }
        }
    )*};
}

prelu!(f32, f64);

/// Every entry point on one layout and dimension: `x` and `g` are views of
/// the record's input and gradient (any memory layout), `y` and `dx` the
/// expected results with the same dimension type.
fn check_paths<A: Bits + Float, L: Prelu<A>, D: Dimension>(
    report: &mut Report,
    record: &Record<A>,
    layout: &str,
    x: ArrayView<'_, A, D>,
    g: ArrayView<'_, A, D>,
    y: ArrayView<'_, A, D>,
    dx: ArrayView<'_, A, D>,
) -> Result<(), LayerError> {
    let name = record.name.as_str();
    let make = || L::with_slopes(&record.slopes);

    let mut layer = make()?;
    report.array(
        name,
        &format!("predict {layout}"),
        &x,
        &y,
        &layer.nd_predict(&x)?,
    );
    report.array(
        name,
        &format!("forward {layout}"),
        &x,
        &y,
        &layer.nd_forward(&x)?,
    );
    let what = format!("backward {layout}");
    report.array(name, &what, &x, &dx, &layer.nd_backward(&g)?);
    report.slopes_grad(record, &what, &layer.slopes_grad_now());
    let what = format!("predict after backward {layout}");
    report.array(name, &what, &x, &y, &layer.nd_predict(&x)?);

    let mut layer = make()?;
    let what = format!("forward_owned {layout}");
    report.array(name, &what, &x, &y, &layer.nd_forward_owned(x.to_owned())?);
    let what = format!("backward_owned {layout}");
    report.array(
        name,
        &what,
        &x,
        &dx,
        &layer.nd_backward_owned(g.to_owned())?,
    );
    report.slopes_grad(record, &what, &layer.slopes_grad_now());
    // Training passes do not move the slopes; only an optimizer does.
    report.checks += 1;
    if layer
        .slopes_now()
        .iter()
        .zip(&record.slopes)
        .any(|(&a, &b)| !same(a, b))
    {
        report.mismatch(format!("{name} {layout}: the slopes changed"));
    }
    Ok(())
}

/// One record through [`check_paths`] in every layout: the standard array
/// as `IxDyn` and with its fixed dimension (`Ix4` or `Ix3`), channels-last
/// memory seen through `permuted_axes`, and a view with steps.
fn check_record<A: Bits + Float, L: Prelu<A>>(
    report: &mut Report,
    record: &Record<A>,
) -> Result<(), LayerError> {
    let (x, g, y, dx) = (&record.x, &record.g, &record.y, &record.dx);
    check_paths::<A, L, IxDyn>(
        report,
        record,
        "IxDyn",
        x.view(),
        g.view(),
        y.view(),
        dx.view(),
    )?;
    match x.ndim() {
        4 => check_paths::<A, L, Ix4>(
            report,
            record,
            "Ix4",
            fixed(x),
            fixed(g),
            fixed(y),
            fixed(dx),
        )?,
        3 => check_paths::<A, L, Ix3>(
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
    check_paths::<A, L, IxDyn>(
        report,
        record,
        "channels-last memory",
        xp,
        gp,
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
    check_paths::<A, L, IxDyn>(report, record, "with steps", xs, gs, y.view(), dx.view())
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
                record.dslopes.iter().all(|v| v.is_finite()),
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
    let backing = with_steps(&a);
    let view = backing.slice_each_axis(|d| steps(d.axis.index()));
    assert_eq!(view, a.view());
    assert!(
        view.strides()[1] < 0,
        "the channel axis runs backwards in memory"
    );
}

/// `nn.PReLU(C)` in float32, bit for bit (slope gradient to `n·f32::EPSILON`).
#[test]
fn prelu_per_channel_matches_pytorch_f32() {
    let fixture = fixture();
    let mut report = Report::default();
    for record in &fixture.f32 {
        check_record::<f32, PReluLayer<f32>>(&mut report, record)
            .unwrap_or_else(|e| panic!("{}: {e}", record.name));
    }
    report.finish("prelu_nchw f32", &fixture.torch);
}

/// `nn.PReLU(C)` in float64, bit for bit (slope gradient to `n·f64::EPSILON`).
#[test]
fn prelu_per_channel_matches_pytorch_f64() {
    let fixture = fixture();
    let mut report = Report::default();
    for record in &fixture.f64 {
        check_record::<f64, PReluLayer<f64>>(&mut report, record)
            .unwrap_or_else(|e| panic!("{}: {e}", record.name));
    }
    report.finish("prelu_nchw f64", &fixture.torch);
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
