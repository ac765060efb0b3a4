//! Every member of the rectifier family against PyTorch (float64, CPU), bit
//! for bit, on the values in `tests/fixtures/family.txt`: ±0.0, ±inf, NaNs
//! with payloads, subnormals, ±MIN_POSITIVE, ±MAX, every kink and the floats
//! either side of it, and ordinary values, with non-uniform upstream
//! gradients (including 0.0, -0.0 and ±inf).
//!
//! `tests/fixtures/family.py` wrote the fixture; its header documents the
//! format. Each layer runs through `forward`/`backward`, `predict`,
//! `forward_owned`/`backward_owned`, and the same on column-major arrays;
//! outputs and input gradients must match PyTorch's bits (NaN matching any
//! NaN), PReLU's slope gradient to 1e-12 of the sum of its terms' magnitudes
//! (rectify sums in another order). Where the fixture marks a `departure`,
//! the test expects rectify's documented value instead of PyTorch's: input
//! gradient g at a NaN input of the clipped ReLU (PyTorch's SIMD
//! `hardtanh_backward` gives 0 there), and output +0.0 where PyTorch's relu
//! or hardtanh gives -0.0.

use std::collections::HashMap;
use std::fmt::Write as _;

use rectify::ndarray::{Array1, Array2, ArrayView1, ShapeBuilder};
use rectify::{
    clipped_relu, clipped_relu_grad, leaky_relu, leaky_relu_grad, relu, relu_grad, threshold,
    threshold_grad, ClippedReluLayer, Layer, LayerError, LeakyReluLayer, PReluLayer, RReluLayer,
    ReluLayer, ThresholdLayer,
};

const FIXTURE: &str = include_str!("fixtures/family.txt");

/// How many mismatches a failing test prints.
const SHOWN: usize = 12;

// ---------------------------------------------------------------- fixture

/// An input set: the input and the upstream gradient, row-major.
struct Input {
    name: String,
    x: Array2<f64>,
    g: Array2<f64>,
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
struct Case {
    name: String,
    layer: String,
    input: usize,
    params: HashMap<String, String>,
    slopes: Vec<f64>,
    y: Array2<f64>,
    dx: Array2<f64>,
    dslopes: Vec<f64>,
    departures: Vec<(Departure, usize, usize)>,
}

/// A scalar function evaluated by PyTorch on each value alone.
struct Scalar {
    name: String,
    func: String,
    params: HashMap<String, String>,
    x: Vec<f64>,
    y: Vec<f64>,
    d1: Vec<f64>,
    departures: Vec<(Departure, usize, usize)>,
}

struct Fixture {
    torch: String,
    inputs: Vec<Input>,
    cases: Vec<Case>,
    scalars: Vec<Scalar>,
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
        let (n, l) = self.lines.next().expect("family.txt ends before `end`");
        (n, l.split_whitespace().collect())
    }

    /// The tokens of the next line, which must start with `tag`.
    fn tagged(&mut self, tag: &str) -> (usize, Vec<&'a str>) {
        let (n, mut words) = self.next();
        assert_eq!(words[0], tag, "family.txt line {n}: expected `{tag}`");
        words.remove(0);
        (n, words)
    }

    /// `rows` lines tagged `tag`, `cols` tokens each, as an array; a token
    /// `=` takes the value of the same element of `same_as`.
    fn array(
        &mut self,
        tag: &str,
        rows: usize,
        cols: usize,
        same_as: Option<&Array2<f64>>,
    ) -> Array2<f64> {
        let mut values = Vec::with_capacity(rows * cols);
        for r in 0..rows {
            let (n, words) = self.tagged(tag);
            assert_eq!(words.len(), cols, "family.txt line {n}: {cols} tokens");
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
                other => panic!("family.txt line {n}: unknown departure {other}"),
            };
            out.push((kind, w[1].parse().unwrap(), w[2].parse().unwrap()));
        }
        out
    }
}

/// The f64 of a 16-hex-digit bit pattern, or `reference` for `=`.
fn token(line: usize, word: &str, reference: Option<f64>) -> f64 {
    if word == "=" {
        return reference.unwrap_or_else(|| panic!("family.txt line {line}: `=` not allowed"));
    }
    assert_eq!(word.len(), 16, "family.txt line {line}: token {word}");
    f64::from_bits(u64::from_str_radix(word, 16).expect("hex token"))
}

fn values(line: usize, words: &[&str]) -> Vec<f64> {
    words.iter().map(|w| token(line, w, None)).collect()
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

fn parse(text: &str) -> Fixture {
    let mut lines = Lines::new(text);
    let mut fixture = Fixture {
        torch: String::new(),
        inputs: Vec::new(),
        cases: Vec::new(),
        scalars: Vec::new(),
    };
    loop {
        let (n, words) = lines.next();
        match words[0] {
            "torch" => fixture.torch = words[1..].join(" "),
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
                    .unwrap_or_else(|| panic!("family.txt line {n}: no input {}", words[3]));
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
                    assert_eq!(w.len(), count, "family.txt line {n}: {count} tokens");
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
            "end" => return fixture,
            other => panic!("family.txt line {n}: unknown record {other}"),
        }
    }
}

fn fixture() -> Fixture {
    parse(FIXTURE)
}

fn param(params: &HashMap<String, String>, key: &str) -> f64 {
    params
        .get(key)
        .unwrap_or_else(|| panic!("parameter {key} missing"))
        .parse()
        .unwrap()
}

impl Case {
    fn param(&self, key: &str) -> f64 {
        param(&self.params, key)
    }

    /// The output and input gradient rectify must give: PyTorch's, with the
    /// departures of the README applied where the fixture marks them.
    fn expected(&self, input: &Input) -> (Array2<f64>, Array2<f64>) {
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

impl Scalar {
    fn param(&self, key: &str) -> f64 {
        param(&self.params, key)
    }

    /// (x, expected value, expected derivative) for each value, with the
    /// departures applied (the derivative's upstream is 1).
    fn expected(&self) -> Vec<(f64, f64, f64)> {
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
                d1[i] = 1.0;
            }
        }
        (0..self.x.len())
            .map(|i| (self.x[i], y[i], d1[i]))
            .collect()
    }
}

/// Checks that a marked departure is one the README states, and replaces a
/// -0.0 output by +0.0.
fn apply_departure(case: &str, layer: &str, kind: Departure, x: f64, y: &mut f64) {
    match kind {
        Departure::NegZero => {
            assert!(
                (layer == "relu" || layer == "clipped") && y.to_bits() == (-0.0f64).to_bits(),
                "{case}: neg-zero departure at y = {:016x}",
                y.to_bits()
            );
            *y = 0.0;
        }
        Departure::NanGrad => assert!(
            layer == "clipped" && x.is_nan(),
            "{case}: nan-grad departure at x = {:016x}",
            x.to_bits()
        ),
    }
}

// ---------------------------------------------------------------- comparison

/// The same value bit for bit (so -0.0 differs from +0.0), or both NaN.
fn same(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
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
    fn value(&mut self, case: &str, what: &str, at: (usize, usize), x: f64, want: f64, got: f64) {
        self.checks += 1;
        if !same(want, got) {
            self.mismatch(format!(
                "{case} {what} [{}, {}]: x = {:016x} ({x:e}), expected {:016x} ({want:e}), \
                 got {:016x} ({got:e})",
                at.0,
                at.1,
                x.to_bits(),
                want.to_bits(),
                got.to_bits()
            ));
        }
    }

    /// A whole array, element by element in logical (row-major) order,
    /// whatever the memory layout of `got`.
    fn array(
        &mut self,
        case: &str,
        what: &str,
        x: &Array2<f64>,
        want: &Array2<f64>,
        got: &Array2<f64>,
    ) {
        if got.dim() != want.dim() {
            self.mismatch(format!(
                "{case} {what}: shape {:?}, expected {:?}",
                got.dim(),
                want.dim()
            ));
            return;
        }
        for ((at, &w), (&gv, &xv)) in want.indexed_iter().zip(got.iter().zip(x.iter())) {
            self.value(case, what, at, xv, w, gv);
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

/// `a` with the same values in column-major layout.
fn column_major(a: &Array2<f64>) -> Array2<f64> {
    let mut f = Array2::zeros(a.dim().f());
    f.assign(a);
    f
}

/// Which entry points of a layer a case checks.
#[derive(Clone, Copy, PartialEq)]
enum Paths {
    /// `predict` only (RReLU in eval mode: `forward` draws random slopes).
    Predict,
    /// `predict`, and `forward` then `backward` in both layouts, borrowed
    /// and owned.
    All,
}

/// Runs a layer made by `make` through `paths` and compares with `case`'s
/// expected output and input gradient on `input`; `after_backward` inspects
/// the layer after each backward (for parameter gradients).
fn check_layer<L: Layer>(
    report: &mut Report,
    case: &Case,
    input: &Input,
    paths: Paths,
    make: impl Fn() -> Result<L, LayerError>,
    mut after_backward: impl FnMut(&mut Report, &str, &L),
) -> Result<(), LayerError> {
    let (y, dx) = &case.expected(input);
    let case = case.name.as_str();
    let (x, g) = (&input.x, &input.g);
    report.array(case, "predict", x, y, &make()?.predict(x)?);
    if paths == Paths::Predict {
        return Ok(());
    }
    let (xf, gf) = (column_major(x), column_major(g));
    for (layout, x, g) in [("row-major", x, g), ("column-major", &xf, &gf)] {
        let mut layer = make()?;
        let what = format!("forward {layout}");
        report.array(case, &what, x, y, &layer.forward(x)?);
        let what = format!("backward {layout}");
        report.array(case, &what, x, dx, &layer.backward(g)?);
        after_backward(report, &what, &layer);
        let what = format!("predict after forward {layout}");
        report.array(case, &what, x, y, &layer.predict(x)?);

        let mut layer = make()?;
        let what = format!("forward_owned {layout}");
        report.array(case, &what, x, y, &layer.forward_owned(x.clone())?);
        let what = format!("backward_owned {layout}");
        report.array(case, &what, x, dx, &layer.backward_owned(g.clone())?);
        after_backward(report, &what, &layer);
    }
    Ok(())
}

/// [`check_layer`] on every path, with nothing to check after a backward.
fn check_all<L: Layer>(
    report: &mut Report,
    case: &Case,
    input: &Input,
    make: impl Fn() -> Result<L, LayerError>,
) -> Result<(), LayerError> {
    check_layer(report, case, input, Paths::All, make, |_, _, _| {})
}

/// A scalar function and its derivative against PyTorch's, value by value.
fn check_scalar(
    report: &mut Report,
    scalar: &Scalar,
    f: impl Fn(f64) -> f64,
    df: impl Fn(f64) -> f64,
) {
    for (i, (x, y, d1)) in scalar.expected().into_iter().enumerate() {
        report.value(&scalar.name, "scalar", (0, i), x, y, f(x));
        report.value(&scalar.name, "scalar grad", (0, i), x, d1, df(x));
    }
}

/// A scalar function applied to every element of a case's input, against
/// the case's expected output.
fn check_scalar_on_case(report: &mut Report, case: &Case, input: &Input, f: impl Fn(f64) -> f64) {
    let (y, _) = case.expected(input);
    report.array(
        &case.name,
        "scalar on input",
        &input.x,
        &y,
        &input.x.mapv(f),
    );
}

fn cases<'a>(fixture: &'a Fixture, layer: &'a str) -> impl Iterator<Item = (&'a Case, &'a Input)> {
    fixture
        .cases
        .iter()
        .filter(move |c| c.layer == layer)
        .map(|c| (c, &fixture.inputs[c.input]))
}

fn scalars<'a>(fixture: &'a Fixture, func: &'a str) -> impl Iterator<Item = &'a Scalar> {
    fixture.scalars.iter().filter(move |s| s.func == func)
}

/// Runs `body` on a fresh report and fails with its mismatches.
fn checked(test: &str, body: impl FnOnce(&Fixture, &mut Report) -> Result<(), LayerError>) {
    let fixture = fixture();
    let mut report = Report::default();
    body(&fixture, &mut report).unwrap_or_else(|e| panic!("{test}: {e}"));
    report.finish(test, &fixture.torch);
}

// ---------------------------------------------------------------- the fixture itself

fn next_up(v: f64) -> f64 {
    if v == 0.0 {
        f64::from_bits(1)
    } else if v > 0.0 {
        f64::from_bits(v.to_bits() + 1)
    } else {
        f64::from_bits(v.to_bits() - 1)
    }
}

fn next_down(v: f64) -> f64 {
    -next_up(-v)
}

#[test]
fn fixture_covers_every_case_and_special_value() {
    let fixture = fixture();
    let names: Vec<&str> = fixture.cases.iter().map(|c| c.name.as_str()).collect();
    let expected_names = [
        "relu",
        "leaky_0.01",
        "leaky_0.2",
        "leaky_-0.5",
        "leaky_0.0",
        "leaky_1.5",
        "relu6",
        "hardtanh_6.0",
        "hardtanh_1.0",
        "hardtanh_0.5",
        "hardtanh_1e-300",
        "threshold_0.0_0.0",
        "threshold_1.5_-2.0",
        "threshold_-1.0_7.0",
        "threshold_0.0_-0.0",
        "prelu_0.25",
        "prelu_0.25_finite",
        "prelu_0.0",
        "prelu_-1.3",
        "prelu_columns",
        "prelu_columns_finite",
        "rrelu_eval_0.125_0.3333333333333333",
        "rrelu_eval_0.1_0.1",
        "rrelu_train_0.2_0.2",
    ];
    assert_eq!(names, expected_names);
    assert_eq!(fixture.scalars.len(), 14);

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
    let has = |v: f64| a.x.iter().any(|&x| x.to_bits() == v.to_bits());
    let mut required = vec![
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
    for kink in [6.0, 1.0, 0.5, 1e-300, 1.5, -1.0] {
        required.extend([kink, next_up(kink), next_down(kink)]);
    }
    for v in required {
        assert!(has(v), "input A lacks {v:e} ({:016x})", v.to_bits());
    }
    let nans: Vec<u64> =
        a.x.iter()
            .filter(|x| x.is_nan())
            .map(|x| x.to_bits())
            .collect();
    assert!(nans.contains(&0x7ff8_0000_0000_0000) && nans.contains(&0x7ff8_0000_0000_beef));
    assert!(
        a.x.iter().last().unwrap().is_nan(),
        "a NaN in the last element (PyTorch's tail)"
    );
    for g in [0.0, -0.0, f64::INFINITY] {
        assert!(
            a.g.iter().any(|x| x.to_bits() == g.to_bits()),
            "g lacks {g}"
        );
    }
    // The departures are there: PyTorch's SIMD hardtanh_backward at NaN.
    let relu6 = &fixture.cases[6];
    assert!(relu6.departures.iter().any(|d| d.0 == Departure::NanGrad));
}

#[test]
fn report_catches_one_flipped_bit_and_the_sign_of_zero() {
    let x = Array2::from_shape_vec((1, 4), vec![1.0, -0.0, f64::NAN, 2.0]).unwrap();
    let mut report = Report::default();
    let want = x.clone();
    let mut got = x.clone();
    got[[0, 2]] = f64::from_bits(0xfff8_0000_0000_0001); // another NaN: the same
    report.array("self-test", "same", &x, &want, &got);
    assert_eq!(report.count, 0);
    got[[0, 1]] = 0.0;
    got[[0, 3]] = f64::from_bits(2.0f64.to_bits() ^ 1);
    report.array("self-test", "different", &x, &want, &got);
    assert_eq!(report.count, 2);
    assert!(report.shown[0].contains("[0, 1]") && report.shown[0].contains("8000000000000000"));
}

// ---------------------------------------------------------------- existing members

#[test]
fn relu_matches_pytorch() {
    checked("relu", |fixture, report| {
        for (case, input) in cases(fixture, "relu") {
            check_all(report, case, input, || Ok(ReluLayer::new()))?;
            check_scalar_on_case(report, case, input, relu);
        }
        for scalar in scalars(fixture, "relu") {
            check_scalar(report, scalar, relu, relu_grad);
        }
        Ok(())
    });
}

#[test]
fn leaky_relu_matches_pytorch() {
    checked("leaky_relu", |fixture, report| {
        for (case, input) in cases(fixture, "leaky") {
            let slope = case.param("slope");
            let make = || LeakyReluLayer::new(slope);
            check_all(report, case, input, make)?;
            check_scalar_on_case(report, case, input, |x| leaky_relu(x, slope));
        }
        for scalar in scalars(fixture, "leaky_relu") {
            let slope = scalar.param("slope");
            check_scalar(
                report,
                scalar,
                |x| leaky_relu(x, slope),
                |x| leaky_relu_grad(x, slope),
            );
        }
        Ok(())
    });
}

/// PReLU's slope gradient against PyTorch's: NaN where it is NaN, the same
/// infinity, else within 1e-12 of the sum of the magnitudes of the summed
/// terms x·g (the bound on a change of summation order).
fn check_slopes_grad(
    report: &mut Report,
    case: &Case,
    input: &Input,
    what: &str,
    got: ArrayView1<f64>,
) {
    let (x, g) = (&input.x, &input.g);
    let n = case.slopes.len();
    let mut scale = Array1::<f64>::zeros(n);
    for ((r, c), &xv) in x.indexed_iter() {
        // PyTorch's term: 0 where x > 0, else x·g (NaN included).
        if xv > 0.0 {
            continue;
        }
        scale[if n == 1 { 0 } else { c }] += (xv * g[[r, c]]).abs();
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
            (got - want).abs() <= 1e-12 * scale[i]
        } else {
            same(want, got)
        };
        if !ok {
            report.mismatch(format!(
                "{} {what} slope {i}: expected {:016x} ({want:e}), got {:016x} ({got:e})",
                case.name,
                want.to_bits(),
                got.to_bits()
            ));
        }
    }
}

#[test]
fn prelu_matches_pytorch() {
    checked("prelu", |fixture, report| {
        for (case, input) in cases(fixture, "prelu") {
            let slopes = &case.slopes;
            // One shared slope through the constructor; per-column slopes set
            // through `params`, as an optimizer would.
            let make = || {
                if slopes.len() == 1 {
                    return PReluLayer::new(1, slopes[0]);
                }
                let mut prelu = PReluLayer::new(slopes.len(), 0.0)?;
                prelu.params()[0]
                    .value
                    .assign(&ArrayView1::from(slopes.as_slice()).into_dyn());
                Ok(prelu)
            };
            check_layer(
                report,
                case,
                input,
                Paths::All,
                make,
                |report, what, prelu: &PReluLayer| {
                    check_slopes_grad(report, case, input, what, prelu.slopes_grad());
                },
            )?;
        }
        Ok(())
    });
}

// ---------------------------------------------------------------- new members

#[test]
fn clipped_relu_matches_pytorch() {
    checked("clipped_relu", |fixture, report| {
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
            check_scalar_on_case(report, case, input, |x| clipped_relu(x, cap));
        }
        for scalar in scalars(fixture, "clipped_relu") {
            let cap = scalar.param("cap");
            check_scalar(
                report,
                scalar,
                |x| clipped_relu(x, cap),
                |x| clipped_relu_grad(x, cap),
            );
        }
        Ok(())
    });
}

#[test]
fn threshold_matches_pytorch() {
    checked("threshold", |fixture, report| {
        for (case, input) in cases(fixture, "threshold") {
            let (t, v) = (case.param("t"), case.param("v"));
            let make = || ThresholdLayer::new(t, v);
            check_all(report, case, input, make)?;
            check_scalar_on_case(report, case, input, |x| threshold(x, t, v));
        }
        for scalar in scalars(fixture, "threshold") {
            let (t, v) = (scalar.param("t"), scalar.param("v"));
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

#[test]
fn rrelu_matches_pytorch() {
    checked("rrelu", |fixture, report| {
        for (case, input) in cases(fixture, "rrelu") {
            let (lower, upper) = (case.param("lower"), case.param("upper"));
            // Eval mode is `predict` (slope (lower + upper) / 2). Training
            // mode with lower == upper draws every slope as exactly lower, so
            // `forward` and `backward` are deterministic too.
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
