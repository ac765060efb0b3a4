//! The README's figures, as SVG files in `figures/svg/`:
//!
//! - `family.svg`: f and f′ of every member of the family, with the value
//!   each takes at its kinks, ReLU6's cap, RReLU's band of slopes and the
//!   slopes PReLU learned on the digits;
//! - `spirals_training.svg` and `digits_training.svg`: loss, accuracy and
//!   dead fraction per epoch for ReLU, Leaky ReLU, PReLU and RReLU;
//! - `dead_units.svg`: each hidden unit's activity per epoch on the
//!   spirals, ReLU beside Leaky ReLU;
//! - `decision_regions.svg`: what the spiral networks learned, ReLU beside
//!   Leaky ReLU;
//! - `born_dead.svg`: the probability that a fresh deep, narrow ReLU
//!   network is dead, by Monte Carlo against the closed form, He against RAI;
//! - `gradient_flow.svg`: each Dense layer's gradient norm over the spirals
//!   training, from `GradientFlow`, ReLU beside Leaky ReLU, and the share
//!   of the first layer's gradient that is exactly zero;
//! - `redo.svg`: dead fraction and accuracy of `examples/redo.rs`'s three
//!   networks, plain ReLU, Leaky ReLU and ReLU with ReDo.
//!
//! Training is seeded and gives the same bits whatever the thread count,
//! and the SVG holds only integer coordinates and strings formatted from
//! those bits, so every run writes the same bytes (CI checks that the
//! committed files do not change). Text is left to the viewer's sans-serif
//! font: without a font feature, plotters only estimates its size.
//!
//! ```text
//! cargo run --release --example figures
//! ```

#[path = "../../examples/common/born_dead.rs"]
mod born_dead;
#[path = "../../examples/common/digits.rs"]
mod digits;
// Its summary methods are for `examples/redo.rs`'s table.
#[allow(dead_code)]
#[path = "../../examples/common/redo.rs"]
mod redo;

use digits::{argmax, evaluate, hidden_activity, train_epoch, Digits, Evaluation};
use redo::spirals;
use std::error::Error;
use std::ops::Range;
use std::path::Path;

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use rectify::loss::softmax_cross_entropy;
use rectify::ndarray::{array, Array1, Array2, ArrayRef2, Axis};
use rectify::rand::{rngs::StdRng, seq::SliceRandom, SeedableRng};
use rectify::{
    clipped_relu, clipped_relu_grad, leaky_relu, leaky_relu_grad, relu, relu_grad, threshold,
    threshold_grad, Adam, AtZero, GradStats, GradientFlow, Init, Layer, LayerFlow, LeakyReluLayer,
    NonFinite, Optimizer, PReluLayer, RReluLayer, ReluLayer, Sequential, Sgd,
};

/// Okabe and Ito's palette for colour-blind readers: black, orange, sky
/// blue, bluish green, yellow, blue, vermillion, reddish purple.
const BLACK_: RGBColor = RGBColor(0, 0, 0);
const ORANGE: RGBColor = RGBColor(230, 159, 0);
const SKY_BLUE: RGBColor = RGBColor(86, 180, 233);
const GREEN_: RGBColor = RGBColor(0, 158, 115);
const BLUE_: RGBColor = RGBColor(0, 114, 178);
const VERMILLION: RGBColor = RGBColor(213, 94, 0);
const PURPLE: RGBColor = RGBColor(204, 121, 167);
/// One colour per network in the training figures.
const NETWORK_COLOURS: [RGBColor; 4] = [VERMILLION, BLUE_, GREEN_, PURPLE];

/// Font sizes in plotters' units (the SVG's font-size is 1/1.24 of them),
/// chosen to stay readable when a 900-pixel figure is shown at 800.
const TITLE: u32 = 30;
const CAPTION: u32 = 24;
const LABEL: u32 = 21;
const TICK: u32 = 19;
const FONT: &str = "sans-serif";

/// The width of every figure, in pixels.
const WIDTH: u32 = 900;

/// The spirals training of `examples/train_spirals.rs`, for half as many
/// epochs: SGD at a learning rate high enough to kill ReLU units (and to
/// make PReLU diverge).
const SPIRALS_SEED: u64 = 5;
const SPIRALS_EPOCHS: usize = 100;
const SPIRALS_BATCH: usize = 30;
const SPIRALS_LEARNING_RATE: f64 = 4.0;
/// The digits training of `examples/train_digits.rs`, with Adam only.
const DIGITS_SEED: u64 = 1797;
const DIGITS_TEST: usize = 360;
const DIGITS_HIDDEN: usize = 128;
const DIGITS_EPOCHS: usize = 40;
const DIGITS_BATCH: usize = 32;
const DIGITS_LEARNING_RATE: f64 = 3e-3;
/// Leaky ReLU's default slope, used in training.
const LEAKY_SLOPE: f64 = 0.01;
/// The names of the trained networks other than ReLU.
const LEAKY: &str = "Leaky ReLU 0.01";
const PRELU: &str = "PReLU (per unit, from 0.25)";
const RRELU: &str = "RReLU (1/8, 1/3)";
/// Born dead: networks per width and initialization, and the widths.
const BORN_DEAD_TRIALS: u64 = 2000;
const BORN_DEAD_WIDTHS: [usize; 3] = [2, 3, 5];
const BORN_DEAD_DEPTH: usize = 20;
const BORN_DEAD_SEED: u64 = 1903_06733;

type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;
type Area<'b> = DrawingArea<SVGBackend<'b>, Shift>;
type Result<T> = std::result::Result<T, Box<dyn Error>>;

fn main() -> Result<()> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("svg");
    std::fs::create_dir_all(&dir)?;

    let (x, labels) = spirals::spirals(&mut StdRng::seed_from_u64(SPIRALS_SEED))?;
    let runs = [
        spiral_run("ReLU", ReluLayer::new(), (&x, &labels))?,
        spiral_run(LEAKY, LeakyReluLayer::new(LEAKY_SLOPE)?, (&x, &labels))?,
        spiral_run(
            PRELU,
            PReluLayer::new(spirals::HIDDEN, 0.25)?,
            (&x, &labels),
        )?,
        spiral_run(
            RRELU,
            RReluLayer::default().with_seed(SPIRALS_SEED),
            (&x, &labels),
        )?,
    ];
    let title = format!(
        "Spirals: 2 → {} → 3, SGD at learning rate {SPIRALS_LEARNING_RATE}",
        spirals::HIDDEN
    );
    training_curves(&dir.join("spirals_training.svg"), &title, &runs)?;
    dead_units(&dir.join("dead_units.svg"), &runs[..2])?;
    decision_regions(&dir.join("decision_regions.svg"), &runs[..2], &x, &labels)?;
    let flow = [
        flow_run("ReLU", ReluLayer::new(), (&x, &labels))?,
        flow_run(LEAKY, LeakyReluLayer::new(LEAKY_SLOPE)?, (&x, &labels))?,
    ];
    gradient_flow(&dir.join("gradient_flow.svg"), &flow)?;
    let setup = redo::Setup::EXAMPLE;
    redo_figure(&dir.join("redo.svg"), &redo::train(&setup)?, &setup)?;

    let (train, _) = Digits::load()?.split(DIGITS_TEST, DIGITS_SEED);
    let digits = |name: &'static str, activation: Box<dyn Layer>| -> Result<Run> {
        let net = digits::mlp(DIGITS_HIDDEN, activation, DIGITS_SEED);
        let mut adam = Adam::new(DIGITS_LEARNING_RATE)?.with_non_finite(NonFinite::Write);
        let schedule = (DIGITS_EPOCHS, DIGITS_BATCH, DIGITS_SEED);
        Run::train(name, net, &mut adam, train.samples(), schedule)
    };
    let mut runs = [
        digits("ReLU", Box::new(ReluLayer::new()))?,
        digits(LEAKY, Box::new(LeakyReluLayer::new(LEAKY_SLOPE)?))?,
        digits(PRELU, Box::new(PReluLayer::new(DIGITS_HIDDEN, 0.25)?))?,
        digits(
            RRELU,
            Box::new(RReluLayer::default().with_seed(DIGITS_SEED)),
        )?,
    ];
    let title =
        format!("Digits: 64 → {DIGITS_HIDDEN} → 10, Adam at learning rate {DIGITS_LEARNING_RATE}");
    training_curves(&dir.join("digits_training.svg"), &title, &runs)?;
    // The PReLU network's parameters: dense weights and bias, then slopes.
    let slopes = runs[2].net.params()[2]
        .value
        .iter()
        .copied()
        .collect::<Vec<_>>();
    family(&dir.join("family.svg"), &slopes)?;

    born_dead_figure(&dir.join("born_dead.svg"))?;
    println!("figures written to {}:", dir.display());
    let mut names: Vec<_> = std::fs::read_dir(&dir)?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<std::io::Result<_>>()?;
    names.sort();
    for name in names {
        println!("  {}", name.to_string_lossy());
    }
    Ok(())
}

/// A spirals network with `activation` trained by SGD.
fn spiral_run(
    name: &'static str,
    activation: impl Layer + 'static,
    samples: Samples<'_>,
) -> Result<Run> {
    let net = spirals::mlp(activation, SPIRALS_SEED);
    let mut sgd = Sgd::new(SPIRALS_LEARNING_RATE)?.with_non_finite(NonFinite::Write);
    let schedule = (SPIRALS_EPOCHS, SPIRALS_BATCH, SPIRALS_SEED);
    Run::train(name, net, &mut sgd, samples, schedule)
}

/// What a network measured on its training set after an epoch.
struct Measure {
    evaluation: Evaluation,
    /// For each hidden unit, the fraction of samples on which its
    /// pre-activation is above 0.
    active: Array1<f64>,
}

fn measure(net: &Sequential, samples: Samples<'_>) -> Result<Measure> {
    let activity = hidden_activity(net, samples.0)?;
    let count = activity.samples() as f64;
    Ok(Measure {
        evaluation: evaluate(net, samples)?,
        active: activity.active_counts().mapv(|n| n as f64 / count),
    })
}

/// Rows of samples and their labels.
type Samples<'s> = (&'s ArrayRef2<f64>, &'s [usize]);

/// A trained network, and what it measured before training (entry 0) and
/// after every epoch.
struct Run {
    name: &'static str,
    net: Sequential,
    history: Vec<Measure>,
}

impl Run {
    /// Trains `net` with `optimizer` for `epochs` on `samples` in
    /// mini-batches of `batch`, shuffled by a generator seeded with `seed`:
    /// networks trained from the same seed see the same batches.
    fn train(
        name: &'static str,
        mut net: Sequential,
        optimizer: &mut dyn Optimizer,
        samples: Samples<'_>,
        (epochs, batch, seed): (usize, usize, u64),
    ) -> Result<Self> {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut history = vec![measure(&net, samples)?];
        for _ in 0..epochs {
            train_epoch(&mut net, optimizer, samples, batch, &mut rng)?;
            history.push(measure(&net, samples)?);
        }
        Ok(Run { name, net, history })
    }

    fn last(&self) -> &Evaluation {
        &self.history[self.history.len() - 1].evaluation
    }
}

/// A figure `height` pixels high, white, with `title` on top; what is left
/// below the title.
fn sheet<'b>(path: &'b Path, height: u32, title: &str) -> Result<Area<'b>> {
    let root = SVGBackend::new(path, (WIDTH, height)).into_drawing_area();
    root.fill(&WHITE)?;
    Ok(root.titled(title, (FONT, TITLE))?)
}

/// A chart with `caption` over x in `x` and y in `y`, its grid and axes
/// named `x_desc` and `y_desc`.
fn panel<'a, 'b>(
    area: &'a Area<'b>,
    caption: &str,
    x: Range<f64>,
    y: Range<f64>,
    (x_desc, y_desc): (&str, &str),
) -> Result<Chart<'a, 'b>> {
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (FONT, CAPTION))
        .margin(8)
        .margin_right(24)
        .x_label_area_size(48)
        .y_label_area_size(56)
        .build_cartesian_2d(x, y)?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .label_style((FONT, TICK))
        .axis_desc_style((FONT, LABEL))
        .light_line_style(WHITE)
        .bold_line_style(BLACK_.mix(0.12))
        .x_labels(7)
        .y_labels(6)
        .x_label_formatter(&tick)
        .y_label_formatter(&tick)
        .draw()?;
    Ok(chart)
}

/// A tick label: the shortest decimal of `value` rounded to 6 places, so
/// 20 and not 20.0, 0.3 and not 0.30000000000000004, 0 and not -0.
fn tick(value: &f64) -> String {
    format!("{}", (value * 1e6).round() / 1e6 + 0.0)
}

/// Draws the legend of `chart`'s labelled series at `position`.
fn legend<'a, 'b: 'a>(chart: &mut Chart<'a, 'b>, position: SeriesLabelPosition) -> Result<()> {
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK_.mix(0.5))
        .label_font((FONT, TICK))
        .draw()?;
    Ok(())
}

/// A legend mark: a short line in `style`.
fn line_mark(style: ShapeStyle) -> impl Fn((i32, i32)) -> PathElement<(i32, i32)> {
    move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], style)
}

// ---- Figure 1: the family -------------------------------------------------

/// The style of f and of f′ in the family sheet.
fn f_style() -> ShapeStyle {
    BLUE_.stroke_width(3)
}
fn df_style() -> ShapeStyle {
    VERMILLION.stroke_width(3)
}

/// A member's rule, or its derivative, as a function of x.
type Rule<'r> = &'r dyn Fn(f64) -> f64;

/// Draws `rule` over the chart's x range: one straight segment between
/// each pair of neighbouring `kinks` (every member is piecewise linear),
/// from the one-sided limits, so that a jump is not drawn as a line.
fn pieces(
    chart: &mut Chart<'_, '_>,
    rule: Rule,
    kinks: &[f64],
    style: ShapeStyle,
    label: Option<&str>,
) -> Result<()> {
    let range = chart.x_range();
    let mut ends = vec![range.start];
    ends.extend(kinks.iter().copied());
    ends.push(range.end);
    let segments = ends.windows(2).map(|w| {
        let eps = 1e-9 * (w[1] - w[0]);
        PathElement::new(
            vec![(w[0], rule(w[0] + eps)), (w[1], rule(w[1] - eps))],
            style,
        )
    });
    let series = chart.draw_series(segments)?;
    if let Some(label) = label {
        series.label(label).legend(line_mark(style));
    }
    Ok(())
}

/// At each kink, a filled dot at the value the rule takes there and an
/// open dot at each one-sided limit it does not take.
fn kink_dots(chart: &mut Chart<'_, '_>, rule: Rule, kinks: &[f64], colour: RGBColor) -> Result<()> {
    for &k in kinks {
        let value = rule(k);
        let eps = 1e-9 * k.abs().max(1.0);
        for limit in [rule(k - eps), rule(k + eps)] {
            if (limit - value).abs() > 1e-6 {
                chart.draw_series([Circle::new((k, limit), 5, WHITE.filled())])?;
                chart.draw_series([Circle::new((k, limit), 5, colour.stroke_width(2))])?;
            }
        }
        chart.draw_series([Circle::new((k, value), 5, colour.filled())])?;
    }
    Ok(())
}

/// f and f′ of one member, with their kink dots.
fn rule_and_derivative(
    chart: &mut Chart<'_, '_>,
    f: Rule,
    df: Rule,
    kinks: &[f64],
    labelled: bool,
) -> Result<()> {
    pieces(chart, f, kinks, f_style(), labelled.then_some("f(x)"))?;
    pieces(chart, df, kinks, df_style(), labelled.then_some("f′(x)"))?;
    kink_dots(chart, f, kinks, BLUE_)?;
    kink_dots(chart, df, kinks, VERMILLION)
}

/// The legend entries for the kink dots, drawn as empty series.
fn dot_legend(chart: &mut Chart<'_, '_>) -> Result<()> {
    let none = std::iter::empty::<Circle<(f64, f64), i32>>;
    chart
        .draw_series(none())?
        .label("value at a kink")
        .legend(|(x, y)| Circle::new((x + 12, y), 5, BLACK_.filled()));
    chart
        .draw_series(none())?
        .label("limit not taken")
        .legend(|(x, y)| Circle::new((x + 12, y), 5, BLACK_.stroke_width(2)));
    Ok(())
}

/// The gradient `layer` passes back for an input of exactly 0 and an
/// upstream gradient of 1.
fn grad_at_zero(mut layer: impl Layer) -> Result<f64> {
    layer.forward(&array![[0.0]])?;
    Ok(layer.backward(&array![[1.0]])?[[0, 0]])
}

/// A cross at (0, f′(0)) for a layer built with `AtZero::Active`.
fn at_zero_active(chart: &mut Chart<'_, '_>, grad: f64) -> Result<()> {
    chart
        .draw_series([Cross::new((0.0, grad), 7, BLACK_.stroke_width(3))])?
        .label("f′(0) with AtZero::Active")
        .legend(|(x, y)| Cross::new((x + 12, y), 7, BLACK_.stroke_width(3)));
    Ok(())
}

/// f and f′ of ReLU, Leaky ReLU, PReLU (with `prelu_slopes`, learned on the
/// digits), RReLU, ReLU6 and Threshold, computed by the crate's scalar
/// functions and layers, on a 3 × 2 grid.
fn family(path: &Path, prelu_slopes: &[f64]) -> Result<()> {
    const SHOWN_SLOPE: f64 = 0.1;
    let (lower, upper) = (1.0 / 8.0, 1.0 / 3.0);
    let mean = (lower + upper) / 2.0;
    let (cap, t, v) = (6.0, 1.0, -0.5);
    let root = sheet(path, 1200, "The rectifier family: f and its derivative f′")?;
    let areas = root.split_evenly((3, 2));
    let axes = ("x", "f(x), f′(x)");
    let (x, y) = (-3.0..3.0, -2.4..3.2);

    let mut chart = panel(&areas[0], "ReLU: max(0, x)", x.clone(), y.clone(), axes)?;
    rule_and_derivative(&mut chart, &relu, &relu_grad, &[0.0], false)?;
    at_zero_active(
        &mut chart,
        grad_at_zero(ReluLayer::new().at_zero(AtZero::Active))?,
    )?;
    legend(&mut chart, SeriesLabelPosition::LowerRight)?;

    let caption = format!("Leaky ReLU, slope {SHOWN_SLOPE} (default 0.01)");
    let mut chart = panel(&areas[1], &caption, x.clone(), y.clone(), axes)?;
    let f = |x| leaky_relu(x, SHOWN_SLOPE);
    let df = |x| leaky_relu_grad(x, SHOWN_SLOPE);
    rule_and_derivative(&mut chart, &f, &df, &[0.0], false)?;
    at_zero_active(
        &mut chart,
        grad_at_zero(LeakyReluLayer::new(SHOWN_SLOPE)?.at_zero(AtZero::Active))?,
    )?;
    legend(&mut chart, SeriesLabelPosition::LowerRight)?;

    let mut chart = panel(
        &areas[2],
        "PReLU: slopes learned on the digits",
        x.clone(),
        y.clone(),
        axes,
    )?;
    let (min, max) = prelu_slopes
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &a| {
            (lo.min(a), hi.max(a))
        });
    let labels = [
        format!("f(x), {} learned slopes", prelu_slopes.len()),
        format!("f′(x): {min:.2} to {max:.2}"),
    ];
    for (i, &a) in prelu_slopes.iter().enumerate() {
        let thin = |colour: RGBColor| colour.mix(0.5).stroke_width(1);
        let [f_label, df_label] = labels.each_ref().map(|l| (i == 0).then_some(l.as_str()));
        pieces(
            &mut chart,
            &|x| leaky_relu(x, a),
            &[0.0],
            thin(BLUE_),
            f_label,
        )?;
        pieces(
            &mut chart,
            &|x| leaky_relu_grad(x, a),
            &[0.0],
            thin(VERMILLION),
            df_label,
        )?;
    }
    pieces(
        &mut chart,
        &|x| leaky_relu(x, 0.25),
        &[0.0],
        BLACK_.stroke_width(2),
        Some("f(x), initial slope 0.25"),
    )?;
    legend(&mut chart, SeriesLabelPosition::LowerRight)?;

    let mut chart = panel(
        &areas[3],
        "RReLU (1/8, 1/3): random slopes",
        x.clone(),
        y.clone(),
        axes,
    )?;
    let band = |colour: RGBColor| colour.mix(0.25).filled();
    chart
        .draw_series([Polygon::new(
            vec![
                (x.start, lower * x.start),
                (0.0, 0.0),
                (x.start, upper * x.start),
            ],
            band(BLUE_),
        )])?
        .label("forward: r·x, r ~ U(1/8, 1/3)")
        .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 24, y + 6)], band(BLUE_)));
    chart
        .draw_series([Rectangle::new(
            [(x.start, lower), (0.0, upper)],
            band(VERMILLION),
        )])?
        .label("forward: f′ = r")
        .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 24, y + 6)], band(VERMILLION)));
    let f = |x| leaky_relu(x, mean);
    let df = |x| leaky_relu_grad(x, mean);
    pieces(
        &mut chart,
        &f,
        &[0.0],
        f_style(),
        Some("predict: slope 0.23"),
    )?;
    pieces(&mut chart, &df, &[0.0], df_style(), None)?;
    kink_dots(&mut chart, &f, &[0.0], BLUE_)?;
    kink_dots(&mut chart, &df, &[0.0], VERMILLION)?;
    legend(&mut chart, SeriesLabelPosition::LowerRight)?;

    let mut chart = panel(
        &areas[4],
        "ReLU6: min(max(0, x), 6)",
        -2.0..8.0,
        -0.8..7.5,
        axes,
    )?;
    let dashed = BLACK_.stroke_width(1);
    chart
        .draw_series(DashedLineSeries::new(
            [(-2.0, cap), (8.0, cap)],
            6,
            4,
            dashed,
        ))?
        .label("the cap, 6")
        .legend(line_mark(dashed));
    rule_and_derivative(
        &mut chart,
        &|x| clipped_relu(x, cap),
        &|x| clipped_relu_grad(x, cap),
        &[0.0, cap],
        false,
    )?;
    legend(&mut chart, SeriesLabelPosition::UpperLeft)?;

    let caption = format!("Threshold(t = {t}, v = {v}): x if x > t, else v");
    let mut chart = panel(&areas[5], &caption, x, y, axes)?;
    rule_and_derivative(
        &mut chart,
        &|x| threshold(x, t, v),
        &|x| threshold_grad(x, t),
        &[t],
        true,
    )?;
    // The key to every panel's lines and dots, where this one has room.
    dot_legend(&mut chart)?;
    legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
    root.present()?;
    Ok(())
}

// ---- Figure 2: training curves --------------------------------------------

/// What a training curve shows of an epoch's measure.
type Quantity = fn(&Measure) -> f64;

/// Loss, accuracy and dead fraction per epoch of each run, one panel each.
fn training_curves(path: &Path, title: &str, runs: &[Run]) -> Result<()> {
    let root = sheet(path, 1000, title)?;
    let areas = root.split_evenly((3, 1));
    let epochs = runs.iter().map(|r| r.history.len() - 1).max().unwrap_or(0) as f64;
    // Training lowers the loss: the axis ends at 2.2 times the largest
    // initial loss (room for the legend above the curves), and higher values
    // are drawn at its top.
    let initial_loss = runs
        .iter()
        .map(|r| r.history[0].evaluation.loss)
        .fold(0.0, f64::max);
    let panels: [(&str, &str, f64, Quantity); 3] = [
        (
            "loss (softmax cross-entropy, training set)",
            "loss",
            2.2 * initial_loss,
            |m| m.evaluation.loss,
        ),
        ("accuracy (training set)", "accuracy", 1.0, |m| {
            m.evaluation.accuracy
        }),
        (
            "dead units (pre-activation ≤ 0 on every sample)",
            "dead fraction",
            1.0,
            |m| m.evaluation.dead,
        ),
    ];
    for (i, (area, (caption, axis, top, value))) in areas.iter().zip(panels).enumerate() {
        let mut chart = panel(area, caption, 0.0..epochs, 0.0..top, ("epoch", axis))?;
        for (run, colour) in runs.iter().zip(NETWORK_COLOURS) {
            // A network whose loss is not finite has diverged: its curves
            // stop at the last finite loss.
            let finite = run
                .history
                .iter()
                .take_while(|m| m.evaluation.loss.is_finite());
            let points: Vec<_> = finite
                .enumerate()
                .map(|(e, m)| (e as f64, value(m).min(top)))
                .collect();
            let label = match points.len() {
                n if n == run.history.len() => run.name.to_string(),
                n => format!("{} (diverged in epoch {n})", run.name),
            };
            let style = colour.stroke_width(3);
            chart
                .draw_series(LineSeries::new(points, style))?
                .label(label)
                .legend(line_mark(style));
        }
        if i == 0 {
            legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        }
    }
    root.present()?;
    Ok(())
}

// ---- Figure 3: the dead-unit raster ---------------------------------------

/// For each run, a raster of hidden units (rows) by epochs (columns), each
/// cell coloured by the fraction of samples on which the unit was active.
fn dead_units(path: &Path, runs: &[Run]) -> Result<()> {
    let root = sheet(
        path,
        560,
        "Hidden units of the spiral networks, epoch by epoch",
    )?;
    let (panels, scale) = root.split_horizontally(WIDTH - 130);
    let areas = panels.split_evenly((1, runs.len()));
    for (area, run) in areas.iter().zip(runs) {
        let epochs = run.history.len() as f64;
        let units = run.history[0].active.len() as f64;
        let mut chart = panel(
            area,
            run.name,
            0.0..epochs,
            0.0..units,
            ("epoch", "hidden unit"),
        )?;
        let colours: Vec<Vec<RGBColor>> = (0..run.history[0].active.len())
            .map(|unit| {
                run.history
                    .iter()
                    .map(|m| viridis(m.active[unit]))
                    .collect()
            })
            .collect();
        cells(&mut chart, &colours, (0.0, 1.0), (0.0, 1.0))?;
    }
    colour_bar(&scale)?;
    root.present()?;
    Ok(())
}

/// The raster's colour of a unit active on no sample.
const DEAD: RGBColor = RGBColor(221, 221, 221);

/// The raster's colour of a unit active on `fraction` of the samples:
/// [`DEAD`] for none, else viridis at `fraction` rounded up to a multiple
/// of 1/20 (so that neighbouring cells share a rectangle more often).
fn viridis(fraction: f64) -> RGBColor {
    match fraction {
        0.0 => DEAD,
        _ => ViridisRGB::get_color((fraction * 20.0).ceil() / 20.0),
    }
}

/// Draws a grid of cells: cell (row, column) is `colours[row][column]`
/// over x from `x0 + column·dx` and y from `y0 + row·dy`. One rectangle
/// for each run of equal colours in a row keeps the file small; each
/// reaches half a cell into its right and upper neighbours, which are
/// drawn after it, so that no seam shows between them.
fn cells(
    chart: &mut Chart<'_, '_>,
    colours: &[Vec<RGBColor>],
    (x0, dx): (f64, f64),
    (y0, dy): (f64, f64),
) -> Result<()> {
    for (row, line) in colours.iter().enumerate() {
        let top = if row + 1 < colours.len() { 1.5 } else { 1.0 };
        let mut start = 0;
        for end in 1..=line.len() {
            if end == line.len() || line[end] != line[start] {
                let right = if end < line.len() { 0.5 } else { 0.0 };
                let (x, y) = (x0 + start as f64 * dx, y0 + row as f64 * dy);
                let corner = (x0 + (end as f64 + right) * dx, y + top * dy);
                chart.draw_series([Rectangle::new([(x, y), corner], line[start].filled())])?;
                start = end;
            }
        }
    }
    Ok(())
}

/// `colour` mixed with white, `share` of it.
fn tint(colour: RGBColor, share: f64) -> RGBColor {
    let mix = |c: u8| (255.0 - share * (255.0 - f64::from(c))).round() as u8;
    RGBColor(mix(colour.0), mix(colour.1), mix(colour.2))
}

/// The key to the raster's colours: viridis from 0 to 1.
fn colour_bar(area: &Area<'_>) -> Result<()> {
    let mut chart = ChartBuilder::on(area)
        .caption("active on", (FONT, LABEL))
        .margin_top(8)
        .margin_bottom(56)
        .margin_right(8)
        .y_label_area_size(64)
        .build_cartesian_2d(0.0..1.0, -0.12..1.0)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .y_label_formatter(&|&v| match v {
            0.0.. => format!("{:.0}%", 100.0 * v),
            _ => String::new(),
        })
        .label_style((FONT, TICK))
        .draw()?;
    let steps = 50;
    chart.draw_series((0..steps).map(|i| {
        let (lo, hi) = (i as f64 / steps as f64, (i + 1) as f64 / steps as f64);
        Rectangle::new([(0.0, lo), (1.0, hi)], viridis((lo + hi) / 2.0).filled())
    }))?;
    // The dead colour's block, below the scale.
    chart.draw_series([Rectangle::new([(0.0, -0.12), (1.0, -0.04)], DEAD.filled())])?;
    let centred = Pos::new(HPos::Center, VPos::Center);
    chart.draw_series([Text::new(
        "dead",
        (0.5, -0.08),
        TextStyle::from((FONT, TICK).into_font()).pos(centred),
    )])?;
    Ok(())
}

// ---- Figure 4: decision regions -------------------------------------------

/// The class each run predicts over the plane, shaded, with the training
/// points on top.
fn decision_regions(path: &Path, runs: &[Run], x: &Array2<f64>, labels: &[usize]) -> Result<()> {
    const CELLS: usize = 120;
    const EXTENT: f64 = 1.15;
    let class_colours = [ORANGE, SKY_BLUE, GREEN_];
    let root = sheet(path, 520, "What the spiral networks learned")?;
    let areas = root.split_evenly((1, runs.len()));
    let step = 2.0 * EXTENT / CELLS as f64;
    let centre = |i: usize| -EXTENT + (i as f64 + 0.5) * step;
    let grid = Array2::from_shape_fn((CELLS * CELLS, 2), |(i, j)| {
        centre(if j == 0 { i % CELLS } else { i / CELLS })
    });
    for (area, run) in areas.iter().zip(runs) {
        let accuracy = run.last().accuracy;
        let caption = format!("{}: {:.0}% of points right", run.name, 100.0 * accuracy);
        let mut chart = panel(
            area,
            &caption,
            -EXTENT..EXTENT,
            -EXTENT..EXTENT,
            ("x₁", "x₂"),
        )?;
        let classes: Vec<usize> = run
            .net
            .predict(&grid)?
            .rows()
            .into_iter()
            .map(|r| argmax(r.iter()))
            .collect();
        let colours: Vec<Vec<RGBColor>> = classes
            .chunks(CELLS)
            .map(|row| {
                row.iter()
                    .map(|&class| tint(class_colours[class], 0.3))
                    .collect()
            })
            .collect();
        cells(&mut chart, &colours, (-EXTENT, step), (-EXTENT, step))?;
        for (class, &colour) in class_colours.iter().enumerate() {
            let points = (x.rows().into_iter().zip(labels))
                .filter(|(_, &l)| l == class)
                .map(|(p, _)| (p[0], p[1]));
            chart
                .draw_series(points.map(|p| Circle::new(p, 4, colour.filled())))?
                .label(format!("arm {}", class + 1))
                .legend(move |(x, y)| Circle::new((x + 12, y), 5, colour.filled()));
        }
        legend(&mut chart, SeriesLabelPosition::UpperRight)?;
    }
    root.present()?;
    Ok(())
}

// ---- Figure 5: born dead ---------------------------------------------------

/// P(born dead) against depth for each width: on the left He's Monte
/// Carlo estimates with ± 2 standard errors on its closed form, on the
/// right RAI's, over the same closed form.
fn born_dead_figure(path: &Path) -> Result<()> {
    let root = sheet(
        path,
        560,
        "Born dead: P(some hidden layer has no active unit)",
    )?;
    let areas = root.split_evenly((1, 2));
    let depths = 0.5..(BORN_DEAD_DEPTH as f64 + 0.5);
    let axes = (
        "depth k (hidden layers of n units)",
        "P(born dead), input all ones",
    );
    let mut he_chart = panel(
        &areas[0],
        "He: Monte Carlo and 1 − (1 − 2⁻ⁿ)ᵏ",
        depths.clone(),
        0.0..1.0,
        axes,
    )?;
    let mut rai_chart = panel(&areas[1], "RAI: Monte Carlo", depths, 0.0..1.0, axes)?;
    let colours = [VERMILLION, BLUE_, GREEN_];
    for (i, (&width, colour)) in BORN_DEAD_WIDTHS.iter().zip(colours).enumerate() {
        let ones = Array1::ones(width);
        let seed = BORN_DEAD_SEED + 2 * i as u64;
        let trials = |init, seed| {
            born_dead::estimate(
                width,
                BORN_DEAD_DEPTH,
                init,
                ones.view(),
                BORN_DEAD_TRIALS,
                seed,
            )
        };
        let label = format!("n = {width}");
        let formula = || (1..=BORN_DEAD_DEPTH).map(|k| (k as f64, born_dead::formula(width, k)));
        let line = colour.stroke_width(2);
        he_chart
            .draw_series(LineSeries::new(formula(), line))?
            .label(&label)
            .legend(line_mark(line));
        let faint = colour.mix(0.6).stroke_width(1);
        rai_chart.draw_series(DashedLineSeries::new(formula(), 5, 4, faint))?;
        // He's estimates as filled dots, RAI's as open ones.
        for (chart, init, seed, dot) in [
            (&mut he_chart, Init::HeNormal, seed, colour.filled()),
            (&mut rai_chart, Init::Rai, seed + 1, colour.stroke_width(2)),
        ] {
            let estimate = trials(init, seed)?;
            let points = (1..=BORN_DEAD_DEPTH).map(|k| {
                (
                    k as f64,
                    estimate.probability(k),
                    estimate.standard_error(k),
                )
            });
            chart.draw_series(points.clone().map(|(k, p, se)| {
                ErrorBar::new_vertical(
                    k,
                    (p - 2.0 * se).max(0.0),
                    p,
                    (p + 2.0 * se).min(1.0),
                    colour.stroke_width(2),
                    6,
                )
            }))?;
            let series = chart.draw_series(points.map(|(k, p, _)| Circle::new((k, p), 5, dot)))?;
            if init == Init::Rai {
                series
                    .label(&label)
                    .legend(move |(x, y)| Circle::new((x + 12, y), 5, dot));
            }
        }
    }
    let none = std::iter::empty::<Circle<(f64, f64), i32>>;
    he_chart
        .draw_series(none())?
        .label("Monte Carlo ± 2 s.e.")
        .legend(|(x, y)| Circle::new((x + 12, y), 5, BLACK_.filled()));
    let faint = BLACK_.mix(0.6).stroke_width(1);
    rai_chart
        .draw_series(none())?
        .label("He's closed form")
        .legend(line_mark(faint));
    legend(&mut he_chart, SeriesLabelPosition::LowerRight)?;
    legend(&mut rai_chart, SeriesLabelPosition::UpperLeft)?;
    root.present()?;
    Ok(())
}

// ---- Figure 6: gradient flow over training --------------------------------

/// The Dense layers of a spirals network, by path, and their colours.
const FLOW_LAYERS: [(&str, &str, RGBColor); 2] = [
    ("0", "layer 0 (Dense 2 → 64)", GREEN_),
    ("2", "layer 2 (Dense 64 → 3)", PURPLE),
];

/// A spirals network's [`GradientFlow`] at every SGD step.
struct FlowRun {
    name: &'static str,
    /// For each step, each of [`FLOW_LAYERS`]' gradient.
    steps: Vec<[GradStats; 2]>,
}

/// Trains a spirals network as [`spiral_run`] does (the same weights,
/// batches and learning rate), measuring the gradient flow after every
/// backward.
fn flow_run(
    name: &'static str,
    activation: impl Layer + 'static,
    (x, labels): Samples<'_>,
) -> Result<FlowRun> {
    let mut net = spirals::mlp(activation, SPIRALS_SEED);
    let mut sgd = Sgd::new(SPIRALS_LEARNING_RATE)?.with_non_finite(NonFinite::Write);
    let mut rng = StdRng::seed_from_u64(SPIRALS_SEED);
    let mut order: Vec<usize> = (0..labels.len()).collect();
    let mut steps = Vec::new();
    for _ in 0..SPIRALS_EPOCHS {
        order.shuffle(&mut rng);
        for rows in order.chunks(SPIRALS_BATCH) {
            let batch_labels: Vec<usize> = rows.iter().map(|&i| labels[i]).collect();
            let logits = net.forward_owned(x.select(Axis(0), rows))?;
            let (_, grad) = softmax_cross_entropy(&logits, &batch_labels)?;
            net.backward_owned(grad)?;
            let flow = GradientFlow::measure(&mut net);
            let layer = |path| flow.layer(path).and_then(LayerFlow::gradient);
            let gradients = FLOW_LAYERS.map(|(path, ..)| layer(path));
            steps.push(gradients.map(|g| g.unwrap_or_default()));
            sgd.step(&mut net)?;
        }
    }
    Ok(FlowRun { name, steps })
}

/// The median of `values` (the lower middle one of an even count).
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[(values.len() - 1) / 2]
}

/// Each Dense layer's gradient norm at every step (thin) and its median
/// over each epoch (thick), one panel per run; below, the share of the
/// first layer's gradient entries that are exactly zero.
fn gradient_flow(path: &Path, runs: &[FlowRun]) -> Result<()> {
    let title =
        format!("Gradient flow on the spirals: SGD at learning rate {SPIRALS_LEARNING_RATE}");
    let root = sheet(path, 900, &title)?;
    let (top, bottom) = root.split_vertically(470);
    let areas = top.split_evenly((1, runs.len()));
    let per_epoch = runs[0].steps.len() / SPIRALS_EPOCHS;
    let epochs = SPIRALS_EPOCHS as f64;
    let logs = (runs.iter().flat_map(|r| &r.steps).flatten())
        .filter(|g| g.norm > 0.0 && g.norm.is_finite())
        .map(|g| g.norm.log10());
    let (low, high) = logs.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    let y = low.floor()..high.ceil() + 1.0;
    for (area, run) in areas.iter().zip(runs) {
        let axes = ("epoch", "log₁₀ ‖gradient‖");
        let mut chart = panel(area, run.name, 0.0..epochs, y.clone(), axes)?;
        for (i, (_, label, colour)) in FLOW_LAYERS.into_iter().enumerate() {
            let norm = |step: &[GradStats; 2]| step[i].norm;
            let at = |step: usize| (step + 1) as f64 / per_epoch as f64;
            // Steps where the gradient is exactly zero have no logarithm.
            let every = (run.steps.iter().enumerate())
                .filter(|(_, s)| norm(s) > 0.0)
                .map(|(k, s)| (at(k), norm(s).log10()));
            chart.draw_series(LineSeries::new(every, colour.mix(0.3).stroke_width(1)))?;
            let medians = (run.steps.chunks(per_epoch).enumerate())
                .map(|(e, epoch)| (e as f64 + 1.0, median(epoch.iter().map(norm).collect())))
                .filter(|&(_, m)| m > 0.0)
                .map(|(e, m)| (e, m.log10()));
            let style = colour.stroke_width(3);
            chart
                .draw_series(LineSeries::new(medians, style))?
                .label(label)
                .legend(line_mark(style));
        }
        legend(&mut chart, SeriesLabelPosition::LowerRight)?;
    }
    let caption = "layer 0's gradient entries exactly 0 (mean over each epoch's steps)";
    let axes = ("epoch", "share of entries");
    let mut chart = panel(&bottom, caption, 0.0..epochs, 0.0..1.0, axes)?;
    for (run, colour) in runs.iter().zip(NETWORK_COLOURS) {
        let zeros = (run.steps.chunks(per_epoch).enumerate()).map(|(e, epoch)| {
            let sum: f64 = epoch.iter().map(|s| s[0].zero_fraction()).sum();
            (e as f64 + 1.0, sum / epoch.len() as f64)
        });
        let style = colour.stroke_width(3);
        chart
            .draw_series(LineSeries::new(zeros, style))?
            .label(run.name)
            .legend(line_mark(style));
    }
    legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
    root.present()?;
    Ok(())
}

// ---- Figure 7: ReDo ---------------------------------------------------------

/// The networks of `examples/redo.rs`: dead fraction and accuracy at each
/// checkpoint.
fn redo_figure(path: &Path, series: &[redo::Series], setup: &redo::Setup) -> Result<()> {
    let title = format!(
        "ReDo on the spirals: 2 → {} → {}, SGD at learning rate {}",
        redo::HIDDEN,
        redo::CLASSES,
        setup.learning_rate
    );
    let root = sheet(path, 700, &title)?;
    let areas = root.split_evenly((2, 1));
    let epochs = setup.epochs as f64;
    let colours = [VERMILLION, BLUE_, BLACK_];
    // (caption, axis label, the series' values)
    type Panel = (&'static str, &'static str, fn(&redo::Series) -> &[f64]);
    let panels: [Panel; 2] = [
        (
            "dead units (pre-activation ≤ 0 on every point)",
            "dead fraction",
            |s| &s.dead,
        ),
        ("accuracy (training set)", "accuracy", |s| &s.accuracy),
    ];
    for (i, (area, (caption, axis, values))) in areas.iter().zip(panels).enumerate() {
        let mut chart = panel(area, caption, 0.0..epochs, 0.0..1.0, ("epoch", axis))?;
        for (s, colour) in series.iter().zip(colours) {
            let points = (s.epochs.iter().zip(values(s))).map(|(&e, &v)| (e as f64, v));
            let label = match s.recycled {
                0 => s.name.to_string(),
                n => format!(
                    "{} every {} steps ({n} units recycled)",
                    s.name, setup.redo_every
                ),
            };
            let style = colour.stroke_width(3);
            chart
                .draw_series(LineSeries::new(points, style))?
                .label(label)
                .legend(line_mark(style));
        }
        if i == 0 {
            legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
        }
    }
    root.present()?;
    Ok(())
}
