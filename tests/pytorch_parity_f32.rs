//! DRAFT (not compiled yet: rename to `pytorch_parity_f32.rs` once the f32
//! kernel lands). Written against the planned API: `rectify::Float` (f32,
//! f64), `Layer<A: Float = f64>`, one layer type per member implementing
//! `Layer<f32>` and `Layer<f64>` with f64 hyperparameters rounded to the
//! element type, `PReluLayer<A>`, the inherent n-D methods and the generic
//! scalar functions.
//!
//! Every member of the rectifier family against PyTorch **float32** (CPU),
//! bit for bit, on the values in `tests/fixtures/family_f32.txt`: ±0.0,
//! ±inf, NaNs with payloads and negative NaNs, f32 subnormals (±1.4e-45,
//! the largest, ±1e-40), ±f32::MIN_POSITIVE, ±f32::MAX, every kink and both
//! of its f32 neighbours, and ordinary values, with non-uniform upstream
//! gradients (including 0.0, -0.0 and ±inf).
//!
//! The hyperparameters in the fixture are the Python floats (doubles) that
//! PyTorch was given, many of them not representable in f32 (slope 0.1, cap
//! 6.1, threshold 0.3 and value 0.7, 1e-40, ties such as 1 + 3·2⁻²⁴, and
//! 1e-300, which is 0 in f32). PyTorch rounds each to float32 (to nearest,
//! ties to even) and computes in float32; rectify's constructors take the
//! same f64 values and must round them the same way. RReLU's eval slope is
//! (lower + upper) / 2 computed in f64, then rounded (for (0.54, 0.86) that
//! is not the f32 mean of the rounded bounds).
//!
//! `tests/fixtures/family.py --dtype float32` wrote the fixture; the top of
//! family.py documents the format (that of `family.txt`, with a `dtype
//! float32` line, 8-hex-digit tokens and `refused` records). Each layer runs
//! through the `Layer<f32>` trait (`forward`/`backward`, `predict`,
//! `forward_owned`/`backward_owned`, row- and column-major) and through its
//! inherent n-D methods (the fixture's arrays as 3-D `(rows, cols, 1)`, as
//! `IxDyn`, and as a 2-D view with steps, one of them negative); outputs
//! and input gradients must match PyTorch's bits (NaN matching any NaN),
//! PReLU's slope gradient to `n·f32::EPSILON` of the sum of its `n` terms'
//! magnitudes (rectify sums in another order). Where the fixture marks a
//! `departure`, the test expects rectify's documented value instead of
//! PyTorch's, as `tests/pytorch_parity.rs` does in f64.

use std::collections::HashMap;
use std::fmt::Write as _;

use rectify::ndarray::{
    Array, Array1, Array2, ArrayRef, ArrayView1, Axis, Dimension, ShapeBuilder, Slice,
};
use rectify::{
    clipped_relu, clipped_relu_grad, leaky_relu, leaky_relu_grad, relu, relu_grad, threshold,
    threshold_grad, ClippedReluLayer, Float, Layer, LayerError, LeakyReluLayer, PReluLayer,
    RReluLayer, ReluLayer, ThresholdLayer,
};

const FIXTURE: &str = include_str!("fixtures/family_f32.txt");

/// How many mismatches a failing test prints.
const SHOWN: usize = 12;

// ---------------------------------------------------------------- tokens

/// A float type whose bit patterns the fixtures hold as hex tokens: `f32`
/// in 8 hex digits, `f64` in 16 (as `{:08x}` / `{:016x}` of `to_bits`).
/// The same parser reads `family.txt` (f64), `family_f32.txt` (f32) and
/// `prelu_nchw.txt` (both). It needs nothing of `rectify::Float`.
trait Bits: Copy + PartialOrd + std::fmt::Debug + 'static {
    const ZERO: Self;
    const ONE: Self;
    /// Hex digits per token.
    const DIGITS: usize;
    /// The `dtype` line of a fixture in this type (`family.txt` has none).
    const DTYPE: &'static str;
    /// The machine epsilon, widened.
    const EPS: f64;
    /// The bits, zero-extended.
    fn bits(self) -> u64;
    /// The value of `bits` (which fit in the type).
    fn of_bits(bits: u64) -> Self;
    /// An f64 hyperparameter rounded to this type to nearest, ties to even,
    /// as PyTorch rounds a Python float for a tensor of this type.
    fn round(x: f64) -> Self;
    /// The value, exactly, as an f64.
    fn wide(self) -> f64;

    fn is_nan(self) -> bool {
        self.wide().is_nan()
    }
    /// -0.0 exactly.
    fn is_neg_zero(self) -> bool {
        self.wide() == 0.0 && self.wide().is_sign_negative()
    }
}

impl Bits for f32 {
    const ZERO: f32 = 0.0;
    const ONE: f32 = 1.0;
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
}

impl Bits for f64 {
    const ZERO: f64 = 0.0;
    const ONE: f64 = 1.0;
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
}

/// The bits of `v` as the fixture prints them.
fn hex<A: Bits>(v: A) -> String {
    format!("{:0w$x}", v.bits(), w = A::DIGITS)
}

/// The value of a token of `A::DIGITS` hex digits, or `reference` for `=`.
fn token<A: Bits>(line: usize, word: &str, reference: Option<A>) -> A {
    if word == "=" {
        return reference.unwrap_or_else(|| panic!("fixture line {line}: `=` not allowed"));
    }
    assert!(
        word.len() == A::DIGITS && word.bytes().all(|b| b.is_ascii_hexdigit()),
        "fixture line {line}: token {word} is not {} hex digits",
        A::DIGITS
    );
    A::of_bits(u64::from_str_radix(word, 16).unwrap())
}

fn values<A: Bits>(line: usize, words: &[&str]) -> Vec<A> {
    words.iter().map(|w| token(line, w, None)).collect()
}

// ---------------------------------------------------------------- fixture

/// An input set: the input and the upstream gradient, row-major.
struct Input<A> {
    name: String,
    x: Array2<A>,
    g: Array2<A>,
}

/// Where rectify differs from PyTorch on purpose (README, Semantics).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Departure {
    /// PyTorch's y is -0.0; rectify's relu and clipped ReLU give +0.0.
    NegZero,
    /// PyTorch's dx at a NaN input is not g; rectify's clipped ReLU gives g.
    NanGrad,
}

/// One layer configuration run by PyTorch on one input set.
struct Case<A> {
    name: String,
    layer: String,
    input: usize,
    params: HashMap<String, String>,
    slopes: Vec<A>,
    y: Array2<A>,
    dx: Array2<A>,
    dslopes: Vec<A>,
    departures: Vec<(Departure, usize, usize)>,
}

/// A scalar function evaluated by PyTorch on each value alone.
struct Scalar<A> {
    name: String,
    func: String,
    params: HashMap<String, String>,
    x: Vec<A>,
    y: Vec<A>,
    d1: Vec<A>,
    departures: Vec<(Departure, usize, usize)>,
}

/// A layer configuration PyTorch refused to run on a tensor of the
/// fixture's type: a hyperparameter overflows it.
struct Refused {
    layer: String,
    params: HashMap<String, String>,
}

struct Fixture<A> {
    torch: String,
    dtype: String,
    inputs: Vec<Input<A>>,
    cases: Vec<Case<A>>,
    scalars: Vec<Scalar<A>>,
    refused: Vec<Refused>,
}

/// The fixture's data lines (comments and blank lines skipped), with their
/// line numbers for error messages.
struct Lines<'a> {
    lines: std::iter::Peekable<Box<dyn Iterator<Item = (usize, &'a str)> + 'a>>,
}

impl<'a> Lines<'a> {
    fn new(text: &'a str) -> Self {
        let data: Box<dyn Iterator<Item = (usize, &'a str)>> = Box::new(
            text.lines()
                .enumerate()
                .map(|(i, l)| (i + 1, l.trim()))
                .filter(|(_, l)| !l.is_empty() && !l.starts_with('#')),
        );
        Lines {
            lines: data.peekable(),
        }
    }

    /// The next line's words; panics at the end of the file.
    fn next(&mut self) -> (usize, Vec<&'a str>) {
        let (n, l) = self.lines.next().expect("the fixture ends before `end`");
        (n, l.split_whitespace().collect())
    }

    /// The tokens of the next line, which must start with `tag`.
    fn tagged(&mut self, tag: &str) -> (usize, Vec<&'a str>) {
        let (n, mut words) = self.next();
        assert_eq!(words[0], tag, "fixture line {n}: expected `{tag}`");
        words.remove(0);
        (n, words)
    }

    /// `rows` lines tagged `tag`, `cols` tokens each, as an array; a token
    /// `=` takes the value of the same element of `same_as`.
    fn array<A: Bits>(
        &mut self,
        tag: &str,
        rows: usize,
        cols: usize,
        same_as: Option<&Array2<A>>,
    ) -> Array2<A> {
        let mut values = Vec::with_capacity(rows * cols);
        for r in 0..rows {
            let (n, words) = self.tagged(tag);
            assert_eq!(words.len(), cols, "fixture line {n}: {cols} tokens");
            for (c, w) in words.iter().enumerate() {
                values.push(token(n, w, same_as.map(|a| a[[r, c]])));
            }
        }
        Array2::from_shape_vec((rows, cols), values).unwrap()
    }

    /// The `departure` lines that follow, if any.
    fn departures(&mut self) -> Vec<(Departure, usize, usize)> {
        let mut out = Vec::new();
        while self
            .lines
            .peek()
            .is_some_and(|(_, l)| l.starts_with("departure "))
        {
            let (n, w) = self.tagged("departure");
            let kind = match w[0] {
                "neg-zero" => Departure::NegZero,
                "nan-grad" => Departure::NanGrad,
                other => panic!("fixture line {n}: unknown departure {other}"),
            };
            out.push((kind, w[1].parse().unwrap(), w[2].parse().unwrap()));
        }
        out
    }
}

fn key_values(words: &[&str]) -> HashMap<String, String> {
    words
        .iter()
        .map(|w| {
            let (k, v) = w.split_once('=').expect("key=value");
            (k.to_string(), v.to_string())
        })
        .collect()
}

/// Parses `family.txt` (A = f64) or `family_f32.txt` (A = f32); the
/// `dtype` line, if any, must name A.
fn parse<A: Bits>(text: &str) -> Fixture<A> {
    let mut lines = Lines::new(text);
    let mut fixture = Fixture {
        torch: String::new(),
        dtype: "float64".to_string(),
        inputs: Vec::new(),
        cases: Vec::new(),
        scalars: Vec::new(),
        refused: Vec::new(),
    };
    loop {
        let (n, words) = lines.next();
        match words[0] {
            "torch" => fixture.torch = words[1..].join(" "),
            "dtype" => fixture.dtype = words[1].to_string(),
            "input" => {
                let (rows, cols) = (words[2].parse().unwrap(), words[3].parse().unwrap());
                let x = lines.array("x", rows, cols, None);
                let g = lines.array("g", rows, cols, None);
                let name = words[1].to_string();
                fixture.inputs.push(Input { name, x, g });
            }
            "case" => {
                let input = fixture
                    .inputs
                    .iter()
                    .position(|i| i.name == words[3])
                    .unwrap_or_else(|| panic!("fixture line {n}: no input {}", words[3]));
                let (x, g) = (&fixture.inputs[input].x, &fixture.inputs[input].g);
                let (rows, cols) = x.dim();
                let layer = words[2].to_string();
                let slopes = if layer == "prelu" {
                    let (n, w) = lines.tagged("slopes");
                    values(n, &w)
                } else {
                    Vec::new()
                };
                let y = lines.array("y", rows, cols, Some(x));
                let dx = lines.array("dx", rows, cols, Some(g));
                let dslopes = if layer == "prelu" {
                    let (n, w) = lines.tagged("dslopes");
                    values(n, &w)
                } else {
                    Vec::new()
                };
                fixture.cases.push(Case {
                    name: words[1].to_string(),
                    layer,
                    input,
                    params: key_values(&words[4..]),
                    slopes,
                    y,
                    dx,
                    dslopes,
                    departures: lines.departures(),
                });
            }
            "scalar" => {
                let count: usize = words.last().unwrap().parse().unwrap();
                let mut read = |tag| {
                    let (n, w) = lines.tagged(tag);
                    assert_eq!(w.len(), count, "fixture line {n}: {count} tokens");
                    values(n, &w)
                };
                let (x, y, d1) = (read("x"), read("y"), read("d1"));
                fixture.scalars.push(Scalar {
                    name: words[1].to_string(),
                    func: words[2].to_string(),
                    params: key_values(&words[3..words.len() - 1]),
                    x,
                    y,
                    d1,
                    departures: lines.departures(),
                });
            }
            "refused" => fixture.refused.push(Refused {
                layer: words[1].to_string(),
                params: key_values(&words[2..]),
            }),
            "end" => {
                assert_eq!(fixture.dtype, A::DTYPE, "the fixture's dtype");
                return fixture;
            }
            other => panic!("fixture line {n}: unknown record {other}"),
        }
    }
}

fn fixture() -> Fixture<f32> {
    parse(FIXTURE)
}

/// A hyperparameter as the fixture gives it: the f64 PyTorch was given.
fn param(params: &HashMap<String, String>, key: &str) -> f64 {
    params
        .get(key)
        .unwrap_or_else(|| panic!("parameter {key} missing"))
        .parse()
        .unwrap()
}

impl<A: Bits> Case<A> {
    fn param(&self, key: &str) -> f64 {
        param(&self.params, key)
    }

    /// The output and input gradient rectify must give: PyTorch's, with the
    /// departures of the README applied where the fixture marks them.
    fn expected(&self, input: &Input<A>) -> (Array2<A>, Array2<A>) {
        let (mut y, mut dx) = (self.y.clone(), self.dx.clone());
        for &(kind, r, c) in &self.departures {
            apply_departure(
                &self.name,
                &self.layer,
                kind,
                input.x[[r, c]],
                &mut y[[r, c]],
            );
            if kind == Departure::NanGrad {
                dx[[r, c]] = input.g[[r, c]];
            }
        }
        (y, dx)
    }
}

impl<A: Bits> Scalar<A> {
    fn param(&self, key: &str) -> f64 {
        param(&self.params, key)
    }

    /// (x, expected value, expected derivative) for each value, with the
    /// departures applied (the derivative's upstream is 1).
    fn expected(&self) -> Vec<(A, A, A)> {
        let mut y = self.y.clone();
        let mut d1 = self.d1.clone();
        let layer = if self.func == "clipped_relu" {
            "clipped"
        } else {
            &self.func
        };
        for &(kind, _, i) in &self.departures {
            apply_departure(&self.name, layer, kind, self.x[i], &mut y[i]);
            if kind == Departure::NanGrad {
                d1[i] = A::ONE;
            }
        }
        (0..self.x.len())
            .map(|i| (self.x[i], y[i], d1[i]))
            .collect()
    }
}

/// Checks that a marked departure is one the README states, and replaces a
/// -0.0 output by +0.0.
fn apply_departure<A: Bits>(case: &str, layer: &str, kind: Departure, x: A, y: &mut A) {
    match kind {
        Departure::NegZero => {
            assert!(
                (layer == "relu" || layer == "clipped") && y.is_neg_zero(),
                "{case}: neg-zero departure at y = {}",
                hex(*y)
            );
            *y = A::ZERO;
        }
        Departure::NanGrad => assert!(
            layer == "clipped" && x.is_nan(),
            "{case}: nan-grad departure at x = {}",
            hex(x)
        ),
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

    /// One value: `got` must be `want` bit for bit, NaN matching NaN.
    fn value<A: Bits>(&mut self, case: &str, what: &str, at: &str, x: A, want: A, got: A) {
        self.checks += 1;
        if !same(want, got) {
            self.mismatch(format!(
                "{case} {what} {at}: x = {} ({:e}), expected {} ({:e}), got {} ({:e})",
                hex(x),
                x.wide(),
                hex(want),
                want.wide(),
                hex(got),
                got.wide()
            ));
        }
    }

    /// A whole array of any dimension, element by element in logical order,
    /// whatever the memory layouts of `x` and `got`.
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
            self.value(case, what, &format!("{at:?}"), xv, w, gv);
        }
    }

    /// Panics listing the first mismatches, if there are any.
    fn finish(self, test: &str, torch: &str) {
        assert!(self.checks > 0, "{test}: nothing was compared");
        if self.count > 0 {
            let mut message = format!(
                "{test}: {} of {} values differ from PyTorch {torch} (float32); the first {}:\n",
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

/// `a` with the same values in column-major layout.
fn column_major<A: Bits>(a: &Array2<A>) -> Array2<A> {
    let mut f = Array2::from_elem(a.dim().f(), A::ZERO);
    f.assign(a);
    f
}

/// The steps of [`with_steps`]: 2 on even axes, -2 (backwards) on odd ones.
fn steps(axis: usize) -> Slice {
    Slice::new(0, None, if axis.is_multiple_of(2) { 2 } else { -2 })
}

/// A backing array twice `a`'s size on every axis (filled with 1234.5),
/// holding `a` at the elements that `backing.slice_each_axis(|d|
/// steps(d.axis.index()))` views, so that view is `a`, logically, with
/// steps of 2 and -2.
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

/// What an n-D method returns.
type Out<A, D> = Result<Array<A, D>, LayerError>;

/// The inherent n-D methods of a layer under one name, so that generic
/// code can call them: the macro below implements it for each layer type
/// by calling the inherent method (which takes any `D: Dimension`), not
/// `Layer`'s (2-D only).
trait Nd<A: Float> {
    fn nd_forward<D: Dimension>(&mut self, x: &ArrayRef<A, D>) -> Out<A, D>;
    fn nd_backward<D: Dimension>(&mut self, g: &ArrayRef<A, D>) -> Out<A, D>;
    fn nd_predict<D: Dimension>(&self, x: &ArrayRef<A, D>) -> Out<A, D>;
    fn nd_forward_owned<D: Dimension>(&mut self, x: Array<A, D>) -> Out<A, D>;
    fn nd_backward_owned<D: Dimension>(&mut self, g: Array<A, D>) -> Out<A, D>;
}

macro_rules! nd {
    ($a:ty: $($layer:ty),*) => {$(
        impl Nd<$a> for $layer {
            fn nd_forward<D: Dimension>(&mut self, x: &ArrayRef<$a, D>) -> Out<$a, D> {
                <$layer>::forward(self, x)
            }
            fn nd_backward<D: Dimension>(&mut self, g: &ArrayRef<$a, D>) -> Out<$a, D> {
                <$layer>::backward(self, g)
            }
            fn nd_predict<D: Dimension>(&self, x: &ArrayRef<$a, D>) -> Out<$a, D> {
                <$layer>::predict(self, x)
            }
            fn nd_forward_owned<D: Dimension>(&mut self, x: Array<$a, D>) -> Out<$a, D> {
                <$layer>::forward_owned(self, x)
            }
            fn nd_backward_owned<D: Dimension>(&mut self, g: Array<$a, D>) -> Out<$a, D> {
                <$layer>::backward_owned(self, g)
            }
        }
    )*};
}

nd!(f32: ReluLayer, LeakyReluLayer, ClippedReluLayer, ThresholdLayer, RReluLayer, PReluLayer<f32>);

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
/// `Layer<f32>` trait (2-D, row- and column-major), then through the
/// inherent n-D methods (3-D `(rows, cols, 1)`, the same as `IxDyn`, and
/// 2-D through a view with steps), and compares with `case`'s expected
/// output and input gradient on `input`; `after_backward` inspects the
/// layer after each backward (for parameter gradients).
fn check_layer<L: Layer<f32> + Nd<f32>>(
    report: &mut Report,
    case: &Case<f32>,
    input: &Input<f32>,
    paths: Paths,
    make: impl Fn() -> Result<L, LayerError>,
    mut after_backward: impl FnMut(&mut Report, &str, &L),
) -> Result<(), LayerError> {
    let (y, dx) = &case.expected(input);
    let name = case.name.as_str();
    let (x, g) = (&input.x, &input.g);

    // The trait, 2-D.
    report.array(name, "predict", x, y, &Layer::<f32>::predict(&make()?, x)?);
    if paths == Paths::All {
        let (xf, gf) = (column_major(x), column_major(g));
        for (layout, x, g) in [("row-major", x, g), ("column-major", &xf, &gf)] {
            let mut layer = make()?;
            let what = format!("forward {layout}");
            report.array(name, &what, x, y, &Layer::<f32>::forward(&mut layer, x)?);
            let what = format!("backward {layout}");
            report.array(name, &what, x, dx, &Layer::<f32>::backward(&mut layer, g)?);
            after_backward(report, &what, &layer);
            let what = format!("predict after forward {layout}");
            report.array(name, &what, x, y, &Layer::<f32>::predict(&layer, x)?);

            let mut layer = make()?;
            let what = format!("forward_owned {layout}");
            report.array(
                name,
                &what,
                x,
                y,
                &Layer::<f32>::forward_owned(&mut layer, x.clone())?,
            );
            let what = format!("backward_owned {layout}");
            report.array(
                name,
                &what,
                x,
                dx,
                &Layer::<f32>::backward_owned(&mut layer, g.clone())?,
            );
            after_backward(report, &what, &layer);
        }
    }

    // The inherent methods, n-D: axis 1 stays the columns, so PReLU's
    // per-column slopes are its per-channel slopes.
    let three = |a: &Array2<f32>| a.clone().insert_axis(Axis(2));
    let (x3, g3, y3, dx3) = (three(x), three(g), three(y), three(dx));
    let (xd, gd, yd, dxd) = (
        x3.clone().into_dyn(),
        g3.clone().into_dyn(),
        y3.clone().into_dyn(),
        dx3.clone().into_dyn(),
    );
    report.array(name, "n-D predict 3-D", &x3, &y3, &make()?.nd_predict(&x3)?);
    report.array(
        name,
        "n-D predict IxDyn",
        &xd,
        &yd,
        &make()?.nd_predict(&xd)?,
    );
    if paths == Paths::Predict {
        return Ok(());
    }
    let mut layer = make()?;
    report.array(name, "n-D forward 3-D", &x3, &y3, &layer.nd_forward(&x3)?);
    report.array(
        name,
        "n-D backward 3-D",
        &x3,
        &dx3,
        &layer.nd_backward(&g3)?,
    );
    after_backward(report, "n-D backward 3-D", &layer);
    let mut layer = make()?;
    report.array(
        name,
        "n-D forward_owned IxDyn",
        &xd,
        &yd,
        &layer.nd_forward_owned(xd.clone())?,
    );
    let got = layer.nd_backward_owned(gd.clone())?;
    report.array(name, "n-D backward_owned IxDyn", &xd, &dxd, &got);
    after_backward(report, "n-D backward_owned IxDyn", &layer);

    let (x_backing, g_backing) = (with_steps(x), with_steps(g));
    let xs = x_backing.slice_each_axis(|d| steps(d.axis.index()));
    let gs = g_backing.slice_each_axis(|d| steps(d.axis.index()));
    let mut layer = make()?;
    report.array(
        name,
        "n-D forward with steps",
        x,
        y,
        &layer.nd_forward(&xs)?,
    );
    report.array(
        name,
        "n-D backward with steps",
        x,
        dx,
        &layer.nd_backward(&gs)?,
    );
    after_backward(report, "n-D backward with steps", &layer);
    Ok(())
}

/// [`check_layer`] on every path, with nothing to check after a backward.
fn check_all<L: Layer<f32> + Nd<f32>>(
    report: &mut Report,
    case: &Case<f32>,
    input: &Input<f32>,
    make: impl Fn() -> Result<L, LayerError>,
) -> Result<(), LayerError> {
    check_layer(report, case, input, Paths::All, make, |_, _, _| {})
}

/// A scalar function and its derivative against PyTorch's, value by value.
fn check_scalar(
    report: &mut Report,
    scalar: &Scalar<f32>,
    f: impl Fn(f32) -> f32,
    df: impl Fn(f32) -> f32,
) {
    for (i, (x, y, d1)) in scalar.expected().into_iter().enumerate() {
        let at = format!("[{i}]");
        report.value(&scalar.name, "scalar", &at, x, y, f(x));
        report.value(&scalar.name, "scalar grad", &at, x, d1, df(x));
    }
}

/// A scalar function applied to every element of a case's input, against
/// the case's expected output.
fn check_scalar_on_case(
    report: &mut Report,
    case: &Case<f32>,
    input: &Input<f32>,
    f: impl Fn(f32) -> f32,
) {
    let (y, _) = case.expected(input);
    report.array(
        &case.name,
        "scalar on input",
        &input.x,
        &y,
        &input.x.mapv(f),
    );
}

fn cases<'a>(
    fixture: &'a Fixture<f32>,
    layer: &'a str,
) -> impl Iterator<Item = (&'a Case<f32>, &'a Input<f32>)> {
    fixture
        .cases
        .iter()
        .filter(move |c| c.layer == layer)
        .map(|c| (c, &fixture.inputs[c.input]))
}

fn scalars<'a>(fixture: &'a Fixture<f32>, func: &'a str) -> impl Iterator<Item = &'a Scalar<f32>> {
    fixture.scalars.iter().filter(move |s| s.func == func)
}

/// Runs `body` on a fresh report and fails with its mismatches.
fn checked(test: &str, body: impl FnOnce(&Fixture<f32>, &mut Report) -> Result<(), LayerError>) {
    let fixture = fixture();
    let mut report = Report::default();
    body(&fixture, &mut report).unwrap_or_else(|e| panic!("{test}: {e}"));
    report.finish(test, &fixture.torch);
}

// ---------------------------------------------------------------- the fixture itself

/// The next f32 above `v` (finite `v`; `f32::next_up` needs Rust 1.86).
fn next_up(v: f32) -> f32 {
    if v == 0.0 {
        f32::from_bits(1)
    } else if v > 0.0 {
        f32::from_bits(v.to_bits() + 1)
    } else {
        f32::from_bits(v.to_bits() - 1)
    }
}

fn next_down(v: f32) -> f32 {
    -next_up(-v)
}

/// The fixture holds every case, every f32 awkward value and both f32
/// neighbours of every kink (hyperparameters rounded to f32), a NaN in the
/// last element, and the departures; and `refused` records.
#[test]
fn fixture_covers_every_case_and_special_value() {
    let fixture = fixture();
    assert_eq!(fixture.dtype, "float32");
    let names: Vec<&str> = fixture.cases.iter().map(|c| c.name.as_str()).collect();
    let expected_names = [
        "relu",
        "leaky_0.01",
        "leaky_0.2",
        "leaky_-0.5",
        "leaky_0.0",
        "leaky_1.5",
        "leaky_0.1",
        "leaky_1e-40",
        "relu6",
        "hardtanh_6.0",
        "hardtanh_1.0",
        "hardtanh_0.5",
        "hardtanh_1e-300",
        "hardtanh_6.1",
        "hardtanh_1e-40",
        "hardtanh_3.4028234663852886e+38",
        "hardtanh_1.0000001788139343",
        "threshold_0.0_0.0",
        "threshold_1.5_-2.0",
        "threshold_-1.0_7.0",
        "threshold_0.0_-0.0",
        "threshold_0.3_0.7",
        "threshold_1e-40_1e-45",
        "threshold_1.0000000596046448_-0.1",
        "prelu_0.25",
        "prelu_0.25_finite",
        "prelu_0.0",
        "prelu_-1.3",
        "prelu_columns",
        "prelu_columns_finite",
        "rrelu_eval_0.125_0.3333333333333333",
        "rrelu_eval_0.1_0.1",
        "rrelu_eval_0.54_0.86",
        "rrelu_eval_0.14285714285714285_0.3333333333333333",
        "rrelu_train_0.2_0.2",
    ];
    assert_eq!(names, expected_names);
    assert_eq!(fixture.scalars.len(), 23);
    assert_eq!(fixture.refused.len(), 30);

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
    let has = |v: f32| a.x.iter().any(|&x| x.to_bits() == v.to_bits());
    let mut required = vec![
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
    for kink in kinks {
        let k = kink as f32;
        required.push(k);
        if k != f32::MAX {
            required.push(next_up(k)); // above f32::MAX is +inf, required already
        }
        required.push(next_down(k));
    }
    for v in required {
        assert!(has(v), "input A lacks {v:e} ({:08x})", v.to_bits());
    }
    let nans: Vec<u32> =
        a.x.iter()
            .filter(|x| x.is_nan())
            .map(|x| x.to_bits())
            .collect();
    for nan in [0x7fc0_0000, 0xffc0_0000, 0x7fc0_beef, 0xffc0_beef] {
        assert!(nans.contains(&nan), "input A lacks the NaN {nan:08x}");
    }
    assert!(
        a.x.iter().last().unwrap().is_nan(),
        "a NaN in the last element (PyTorch's tail)"
    );
    for g in [0.0f32, -0.0, f32::INFINITY, f32::NEG_INFINITY] {
        assert!(
            a.g.iter().any(|x| x.to_bits() == g.to_bits()),
            "g lacks {g}"
        );
    }
    // The departures are there: PyTorch's SIMD hardtanh_backward at NaN.
    let relu6 = fixture.cases.iter().find(|c| c.name == "relu6").unwrap();
    assert!(relu6.departures.iter().any(|d| d.0 == Departure::NanGrad));
}

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

#[test]
fn report_catches_one_flipped_bit_and_the_sign_of_zero() {
    let x = Array2::from_shape_vec((1, 4), vec![1.0f32, -0.0, f32::NAN, 2.0]).unwrap();
    let mut report = Report::default();
    let want = x.clone();
    let mut got = x.clone();
    got[[0, 2]] = f32::from_bits(0xffc0_0001); // another NaN: the same
    report.array("self-test", "same", &x, &want, &got);
    assert_eq!(report.count, 0);
    got[[0, 1]] = 0.0;
    got[[0, 3]] = f32::from_bits(2.0f32.to_bits() ^ 1);
    report.array("self-test", "different", &x, &want, &got);
    assert_eq!(report.count, 2);
    assert!(report.shown[0].contains("(0, 1)") && report.shown[0].contains("80000000"));
}

/// The view with steps really is the array, and really is strided.
#[test]
fn with_steps_views_the_same_array() {
    let a = Array2::from_shape_fn((3, 5), |(r, c)| (10 * r + c) as f32);
    let backing = with_steps(&a);
    let view = backing.slice_each_axis(|d| steps(d.axis.index()));
    assert_eq!(view, a);
    assert_eq!(view.strides(), &[20, -2]);
}

// ---------------------------------------------------------------- the members

#[test]
fn relu_matches_pytorch_f32() {
    checked("relu f32", |fixture, report| {
        for (case, input) in cases(fixture, "relu") {
            check_all(report, case, input, || Ok(ReluLayer::new()))?;
            check_scalar_on_case(report, case, input, relu::<f32>);
        }
        for scalar in scalars(fixture, "relu") {
            check_scalar(report, scalar, relu::<f32>, relu_grad::<f32>);
        }
        Ok(())
    });
}

/// Leaky ReLU with slopes f32 cannot hold (0.01, 0.2, 0.1, 1e-40): the
/// layer rounds the f64 slope to f32 and multiplies in f32.
#[test]
fn leaky_relu_matches_pytorch_f32() {
    checked("leaky_relu f32", |fixture, report| {
        for (case, input) in cases(fixture, "leaky") {
            let slope = case.param("slope");
            check_all(report, case, input, || LeakyReluLayer::new(slope))?;
            let s = slope as f32;
            check_scalar_on_case(report, case, input, |x| leaky_relu(x, s));
        }
        for scalar in scalars(fixture, "leaky_relu") {
            let s = scalar.param("slope") as f32;
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

/// PReLU's slope gradient against PyTorch's: NaN where it is NaN, the same
/// infinity, else within `n·f32::EPSILON` of the sum of the magnitudes of
/// the `n` summed terms x·g (a bound on any change of summation order).
fn check_slopes_grad(
    report: &mut Report,
    case: &Case<f32>,
    input: &Input<f32>,
    what: &str,
    got: ArrayView1<f32>,
) {
    let (x, g) = (&input.x, &input.g);
    let n = case.slopes.len();
    let mut scale = Array1::<f64>::zeros(n);
    let mut terms = vec![0usize; n];
    for ((r, c), &xv) in x.indexed_iter() {
        // PyTorch's term: 0 where x > 0, else x·g in f32 (NaN included).
        if xv > 0.0 {
            continue;
        }
        let i = if n == 1 { 0 } else { c };
        scale[i] += f64::from((xv * g[[r, c]]).abs());
        terms[i] += 1;
    }
    report.checks += 1;
    if got.len() != n {
        report.mismatch(format!(
            "{} {what}: {} slope gradients, expected {n}",
            case.name,
            got.len()
        ));
        return;
    }
    for i in 0..n {
        let (want, got) = (case.dslopes[i], got[i]);
        let ok = if want.is_finite() {
            (f64::from(got) - f64::from(want)).abs()
                <= terms[i] as f64 * <f32 as Bits>::EPS * scale[i]
        } else {
            same(want, got)
        };
        if !ok {
            report.mismatch(format!(
                "{} {what} slope {i}: expected {:08x} ({want:e}), got {:08x} ({got:e})",
                case.name,
                want.to_bits(),
                got.to_bits()
            ));
        }
    }
}

/// A way to build the PReLU layer of a case.
type MakePrelu<'a> = &'a dyn Fn() -> Result<PReluLayer<f32>, LayerError>;

/// PReLU in f32: one shared slope through `new` (an f64 init that is
/// exactly the f32 slope) and through `from_slopes`; per-column slopes
/// through `from_slopes` and set through `params`, as an optimizer would.
#[test]
fn prelu_matches_pytorch_f32() {
    checked("prelu f32", |fixture, report| {
        for (case, input) in cases(fixture, "prelu") {
            let slopes = &case.slopes;
            let from_slopes = || PReluLayer::<f32>::from_slopes(Array1::from(slopes.clone()));
            let through_params = || -> Result<PReluLayer<f32>, LayerError> {
                let mut prelu = if slopes.len() == 1 {
                    PReluLayer::<f32>::new(1, f64::from(slopes[0]))?
                } else {
                    PReluLayer::<f32>::new(slopes.len(), 0.0)?
                };
                Layer::<f32>::params(&mut prelu)[0]
                    .value
                    .assign(&ArrayView1::from(slopes.as_slice()).into_dyn());
                Ok(prelu)
            };
            for make in [&from_slopes as MakePrelu, &through_params] {
                assert_eq!(make()?.slopes(), ArrayView1::from(slopes.as_slice()));
                check_layer(
                    report,
                    case,
                    input,
                    Paths::All,
                    make,
                    |report, what, prelu: &PReluLayer<f32>| {
                        check_slopes_grad(report, case, input, what, prelu.slopes_grad());
                    },
                )?;
            }
        }
        Ok(())
    });
}

/// ReLU6 and the clipped ReLU with caps f32 cannot hold (6.1, 1e-40, the
/// tie 1 + 3·2⁻²⁴), a cap that rounds to 0 (1e-300) and f32::MAX.
#[test]
fn clipped_relu_matches_pytorch_f32() {
    checked("clipped_relu f32", |fixture, report| {
        for (case, input) in cases(fixture, "clipped") {
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
            let c = cap as f32;
            check_scalar_on_case(report, case, input, |x| clipped_relu(x, c));
        }
        for scalar in scalars(fixture, "clipped_relu") {
            let c = scalar.param("cap") as f32;
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

/// Threshold with t and v f32 cannot hold (0.3 and 0.7; 1e-40 and 1e-45,
/// which rounds to the smallest subnormal; the tie 1 + 2⁻²⁴ and -0.1).
#[test]
fn threshold_matches_pytorch_f32() {
    checked("threshold f32", |fixture, report| {
        for (case, input) in cases(fixture, "threshold") {
            let (t, v) = (case.param("t"), case.param("v"));
            check_all(report, case, input, || ThresholdLayer::new(t, v))?;
            let (t, v) = (t as f32, v as f32);
            check_scalar_on_case(report, case, input, |x| threshold(x, t, v));
        }
        for scalar in scalars(fixture, "threshold") {
            let (t, v) = (scalar.param("t") as f32, scalar.param("v") as f32);
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

/// RReLU in f32: eval mode is `predict`, whose slope is the f64 mean of
/// the bounds rounded to f32, as PyTorch's `leaky_relu(x, (lower + upper) /
/// 2)`; training mode with lower == upper draws every slope as exactly
/// lower rounded to f32, so `forward` and `backward` are deterministic.
#[test]
fn rrelu_matches_pytorch_f32() {
    checked("rrelu f32", |fixture, report| {
        for (case, input) in cases(fixture, "rrelu") {
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

// ---------------------------------------------------------------- refused hyperparameters

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
    let fixture = fixture();
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
