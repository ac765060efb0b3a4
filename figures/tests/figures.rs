//! The committed figures of `figures/examples/figures.rs` (in `figures/svg/`)
//! are well-formed SVG with their titles, axis names, legends and series.
//! CI reruns the example and checks that the files do not change.

use std::collections::BTreeSet;
use std::path::Path;

/// The figure's SVG text.
fn read(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("svg").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// What a figure holds: every text, and how many elements of each kind.
struct Figure {
    texts: BTreeSet<String>,
    svg: String,
}

impl Figure {
    /// Parses `name` as XML.
    fn parse(name: &str) -> Self {
        let svg = read(name);
        let doc = roxmltree::Document::parse(&svg).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(doc.root_element().tag_name().name(), "svg", "{name}");
        let texts = (doc.descendants())
            .filter(|n| n.has_tag_name("text"))
            .filter_map(|n| n.text().map(|t| t.trim().to_string()))
            .collect();
        Figure { texts, svg }
    }

    /// Panics unless each of `texts` is one of the figure's texts.
    fn has_texts(&self, texts: &[&str]) -> &Self {
        for text in texts {
            assert!(
                self.texts.contains(*text),
                "no text {text:?} in {:?}",
                self.texts
            );
        }
        self
    }

    /// How many `tag` elements have every attribute of `attributes`.
    fn count(&self, tag: &str, attributes: &[(&str, &str)]) -> usize {
        let doc = roxmltree::Document::parse(&self.svg).expect("parsed before");
        doc.descendants()
            .filter(|n| n.has_tag_name(tag))
            .filter(|n| attributes.iter().all(|&(a, v)| n.attribute(a) == Some(v)))
            .count()
    }
}

/// The networks of the training figures and their line colours
/// (Okabe-Ito vermillion, blue, bluish green, reddish purple).
const NETWORKS: [(&str, &str); 4] = [
    ("ReLU", "#D55E00"),
    ("Leaky ReLU 0.01", "#0072B2"),
    ("PReLU (per unit, from 0.25)", "#009E73"),
    ("RReLU (1/8, 1/3)", "#CC79A7"),
];

#[test]
fn the_family_sheet_shows_every_member_and_its_conventions() {
    let figure = Figure::parse("family.svg");
    figure.has_texts(&[
        "The rectifier family: f and its derivative f′",
        "ReLU: max(0, x)",
        "Leaky ReLU, slope 0.1 (default 0.01)",
        "PReLU: slopes learned on the digits",
        "RReLU (1/8, 1/3): random slopes",
        "ReLU6: min(max(0, x), 6)",
        "Threshold(t = 1, v = -0.5): x if x > t, else v",
        "x",
        "f(x), f′(x)",
        "f(x)",
        "f′(x)",
        "value at a kink",
        "limit not taken",
        "f′(0) with AtZero::Active",
        "f(x), 128 learned slopes",
        "f(x), initial slope 0.25",
        "forward: r·x, r ~ U(1/8, 1/3)",
        "forward: f′ = r",
        "predict: slope 0.23",
        "the cap, 6",
    ]);
    // The learned slopes: one f and one f′ line of two segments each.
    let thin_f = [("stroke", "#0072B2"), ("stroke-width", "1")];
    assert!(figure.count("polyline", &thin_f) >= 2 * 128);
    // Filled dots at kinks, open ones at the limits not taken (white fill
    // under a coloured ring).
    assert!(figure.count("circle", &[("fill", "#D55E00")]) >= 6);
    assert!(figure.count("circle", &[("fill", "#FFFFFF")]) >= 6);
    assert_eq!(
        figure.count("polygon", &[("fill", "#0072B2")]),
        1,
        "RReLU's band"
    );
}

#[test]
fn the_training_curves_have_three_panels_of_four_networks() {
    for (name, title) in [
        (
            "spirals_training.svg",
            "Spirals: 2 → 64 → 3, SGD at learning rate 4",
        ),
        (
            "digits_training.svg",
            "Digits: 64 → 128 → 10, Adam at learning rate 0.003",
        ),
    ] {
        let figure = Figure::parse(name);
        figure.has_texts(&[
            title,
            "loss (softmax cross-entropy, training set)",
            "accuracy (training set)",
            "dead units (pre-activation ≤ 0 on every sample)",
            "epoch",
            "loss",
            "accuracy",
            "dead fraction",
        ]);
        for (network, colour) in NETWORKS {
            let legend = figure.texts.iter().any(|t| t.starts_with(network));
            assert!(legend, "{name}: no legend entry for {network}");
            // A curve in each panel, and the legend's mark.
            let lines = figure.count("polyline", &[("stroke", colour), ("stroke-width", "3")]);
            assert_eq!(lines, 4, "{name}: {network}");
        }
    }
    // At this learning rate PReLU's loss turns NaN, and its curves stop.
    let spirals = Figure::parse("spirals_training.svg");
    assert!(spirals
        .texts
        .iter()
        .any(|t| t.starts_with("PReLU (per unit, from 0.25) (diverged in epoch ")));
}

#[test]
fn the_raster_shows_every_unit_of_relu_and_leaky_relu() {
    let figure = Figure::parse("dead_units.svg");
    figure.has_texts(&[
        "Hidden units of the spiral networks, epoch by epoch",
        "ReLU",
        "Leaky ReLU 0.01",
        "epoch",
        "hidden unit",
        "active on",
        "dead",
        "0%",
        "100%",
    ]);
    // Dead cells are light grey, next to cells of the viridis scale.
    assert!(figure.count("rect", &[("fill", "#DDDDDD")]) > 2 * 10);
    assert!(figure.count("rect", &[]) > 2 * 64);
}

#[test]
fn the_decision_regions_show_both_networks_and_every_point() {
    let figure = Figure::parse("decision_regions.svg");
    figure.has_texts(&[
        "What the spiral networks learned",
        "x₁",
        "x₂",
        "arm 1",
        "arm 2",
        "arm 3",
    ]);
    for network in ["ReLU: ", "Leaky ReLU 0.01: "] {
        let caption = figure
            .texts
            .iter()
            .any(|t| t.starts_with(network) && t.ends_with("% of points right"));
        assert!(caption, "no panel for {network}");
    }
    // 300 points in each panel, and the legend's three marks.
    assert_eq!(figure.count("circle", &[]), 2 * (300 + 3));
}

#[test]
fn born_dead_compares_he_and_rai_with_the_closed_form() {
    let figure = Figure::parse("born_dead.svg");
    figure.has_texts(&[
        "Born dead: P(some hidden layer has no active unit)",
        "He: Monte Carlo and 1 − (1 − 2⁻ⁿ)ᵏ",
        "RAI: Monte Carlo",
        "depth k (hidden layers of n units)",
        "P(born dead), input all ones",
        "n = 2",
        "n = 3",
        "n = 5",
        "Monte Carlo ± 2 s.e.",
        "He's closed form",
    ]);
    // 20 depths for each of 3 widths and 2 initializations, each an error
    // bar (which marks its mean with a dot) and a dot; and 4 legend dots.
    assert_eq!(figure.count("circle", &[]), 2 * (20 * 3 * 2) + 4);
}

#[test]
fn gradient_flow_shows_both_dense_layers_of_relu_and_leaky_relu() {
    let figure = Figure::parse("gradient_flow.svg");
    figure.has_texts(&[
        "Gradient flow on the spirals: SGD at learning rate 4",
        "ReLU",
        "Leaky ReLU 0.01",
        "layer 0 (Dense 2 → 64)",
        "layer 2 (Dense 64 → 3)",
        "log₁₀ ‖gradient‖",
        "layer 0's gradient entries exactly 0 (mean over each epoch's steps)",
        "share of entries",
        "epoch",
    ]);
    // Per panel and layer, every step (thin) and each epoch's median
    // (thick, and its legend mark): bluish green for layer 0, reddish
    // purple for layer 2.
    for colour in ["#009E73", "#CC79A7"] {
        let thick = figure.count("polyline", &[("stroke", colour), ("stroke-width", "3")]);
        assert_eq!(thick, 2 * 2, "{colour}");
        let thin = figure.count("polyline", &[("stroke", colour), ("stroke-width", "1")]);
        assert!(thin >= 2, "{colour}: {thin}");
    }
    // The zero share: one curve and a legend mark per network.
    for (_, colour) in &NETWORKS[..2] {
        let lines = figure.count("polyline", &[("stroke", colour), ("stroke-width", "3")]);
        assert_eq!(lines, 2, "{colour}");
    }
}

#[test]
fn redo_shows_dead_fraction_and_accuracy_of_three_networks() {
    let figure = Figure::parse("redo.svg");
    figure.has_texts(&[
        "ReDo on the spirals: 2 → 64 → 3, SGD at learning rate 4",
        "dead units (pre-activation ≤ 0 on every point)",
        "accuracy (training set)",
        "dead fraction",
        "accuracy",
        "epoch",
        "ReLU",
        "Leaky ReLU",
    ]);
    let redo = figure
        .texts
        .iter()
        .any(|t| t.starts_with("ReLU + ReDo every 100 steps (") && t.ends_with(" units recycled)"));
    assert!(redo, "no legend entry for ReDo in {:?}", figure.texts);
    // A curve per panel, and the legend's mark: vermillion, blue, black.
    for colour in ["#D55E00", "#0072B2", "#000000"] {
        let lines = figure.count("polyline", &[("stroke", colour), ("stroke-width", "3")]);
        assert_eq!(lines, 3, "{colour}");
    }
}
