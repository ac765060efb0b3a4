//! The records of `family.txt` (float64) and `family_f32.txt` (float32),
//! written by `tests/fixtures/family.py`: input sets, layer cases, scalar
//! functions, refused hyperparameters, and the departures from PyTorch.

use std::collections::HashMap;

use rectify::ndarray::{Array2, Ix2};

use super::bits::same;
use super::tokens::{hex, Lines, Token};

/// An input set: the input and the upstream gradient, row-major.
pub struct Input<A> {
    pub name: String,
    pub x: Array2<A>,
    pub g: Array2<A>,
}

/// Where rectify differs from PyTorch on purpose (docs/semantics.md).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Departure {
    /// PyTorch's y is -0.0; rectify's relu and clipped ReLU give +0.0.
    NegZero,
    /// PyTorch's dx at a NaN input is not g; rectify's clipped ReLU gives g.
    NanGrad,
}

/// One layer configuration run by PyTorch on one input set.
pub struct Case<A> {
    pub name: String,
    pub layer: String,
    pub input: usize,
    pub params: HashMap<String, String>,
    pub slopes: Vec<A>,
    pub y: Array2<A>,
    pub dx: Array2<A>,
    pub dslopes: Vec<A>,
    pub departures: Vec<(Departure, usize, usize)>,
}

/// A scalar function evaluated by PyTorch on each value alone.
pub struct Scalar<A> {
    pub name: String,
    pub func: String,
    pub params: HashMap<String, String>,
    pub x: Vec<A>,
    pub y: Vec<A>,
    pub d1: Vec<A>,
    pub departures: Vec<(Departure, usize, usize)>,
}

/// A layer configuration PyTorch refused to run on a tensor of the
/// fixture's type: a hyperparameter overflows it.
pub struct Refused {
    pub layer: String,
    pub params: HashMap<String, String>,
}

pub struct Fixture<A> {
    pub torch: String,
    pub dtype: String,
    pub inputs: Vec<Input<A>>,
    pub cases: Vec<Case<A>>,
    pub scalars: Vec<Scalar<A>>,
    pub refused: Vec<Refused>,
}

/// The `departure` lines that follow, if any.
fn departures(lines: &mut Lines<'_>) -> Vec<(Departure, usize, usize)> {
    let mut out = Vec::new();
    while lines
        .rest
        .peek()
        .is_some_and(|(_, words)| words[0] == "departure")
    {
        let (n, w) = lines.tagged("departure");
        let kind = match w[0] {
            "neg-zero" => Departure::NegZero,
            "nan-grad" => Departure::NanGrad,
            other => panic!("{}: unknown departure {other}", lines.at(n)),
        };
        out.push((kind, w[1].parse().unwrap(), w[2].parse().unwrap()));
    }
    out
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

/// Parses `family.txt` (A = f64) or `family_f32.txt` (A = f32), named
/// `file` in messages; the `dtype` line (float64 if there is none) must
/// name A.
pub fn parse<A: Token>(file: &'static str, text: &str) -> Fixture<A> {
    let mut lines = Lines::new(file, text);
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
                let dim = Ix2(words[2].parse().unwrap(), words[3].parse().unwrap());
                let x = lines.array("x", dim, None);
                let g = lines.array("g", dim, None);
                let name = words[1].to_string();
                fixture.inputs.push(Input { name, x, g });
            }
            "case" => {
                let input = fixture
                    .inputs
                    .iter()
                    .position(|i| i.name == words[3])
                    .unwrap_or_else(|| panic!("{}: no input {}", lines.at(n), words[3]));
                let (x, g) = (&fixture.inputs[input].x, &fixture.inputs[input].g);
                let layer = words[2].to_string();
                let prelu = layer == "prelu";
                let slopes = if prelu {
                    lines.vector("slopes", None)
                } else {
                    Vec::new()
                };
                let y = lines.array("y", x.raw_dim(), Some(x));
                let dx = lines.array("dx", g.raw_dim(), Some(g));
                let dslopes = if prelu {
                    lines.vector("dslopes", Some(slopes.len()))
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
                    departures: departures(&mut lines),
                });
            }
            "scalar" => {
                let count = Some(words.last().unwrap().parse().unwrap());
                let x = lines.vector("x", count);
                let y = lines.vector("y", count);
                let d1 = lines.vector("d1", count);
                fixture.scalars.push(Scalar {
                    name: words[1].to_string(),
                    func: words[2].to_string(),
                    params: key_values(&words[3..words.len() - 1]),
                    x,
                    y,
                    d1,
                    departures: departures(&mut lines),
                });
            }
            "refused" => fixture.refused.push(Refused {
                layer: words[1].to_string(),
                params: key_values(&words[2..]),
            }),
            "end" => {
                assert_eq!(fixture.dtype, A::DTYPE, "{file}: the dtype");
                return fixture;
            }
            other => panic!("{}: unknown record {other}", lines.at(n)),
        }
    }
}

/// A hyperparameter as the fixture gives it: the f64 PyTorch was given.
pub fn param(params: &HashMap<String, String>, key: &str) -> f64 {
    params
        .get(key)
        .unwrap_or_else(|| panic!("parameter {key} missing"))
        .parse()
        .unwrap()
}

impl<A: Token> Fixture<A> {
    /// The cases of `layer`, each with its input set.
    pub fn cases<'a>(
        &'a self,
        layer: &'a str,
    ) -> impl Iterator<Item = (&'a Case<A>, &'a Input<A>)> {
        self.cases
            .iter()
            .filter(move |c| c.layer == layer)
            .map(|c| (c, &self.inputs[c.input]))
    }

    /// The scalar records of `func`.
    pub fn scalars<'a>(&'a self, func: &'a str) -> impl Iterator<Item = &'a Scalar<A>> {
        self.scalars.iter().filter(move |s| s.func == func)
    }
}

impl<A: Token> Case<A> {
    pub fn param(&self, key: &str) -> f64 {
        param(&self.params, key)
    }

    /// The output and input gradient rectify must give: PyTorch's, with the
    /// departures of docs/semantics.md applied where the fixture marks them.
    pub fn expected(&self, input: &Input<A>) -> (Array2<A>, Array2<A>) {
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

impl<A: Token> Scalar<A> {
    pub fn param(&self, key: &str) -> f64 {
        param(&self.params, key)
    }

    /// (x, expected value, expected derivative) for each value, with the
    /// departures applied (the derivative's upstream is 1).
    pub fn expected(&self) -> Vec<(A, A, A)> {
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
                d1[i] = A::nearest(1.0);
            }
        }
        (0..self.x.len())
            .map(|i| (self.x[i], y[i], d1[i]))
            .collect()
    }
}

/// Checks that a marked departure is one docs/semantics.md states, and
/// replaces a -0.0 output by +0.0.
fn apply_departure<A: Token>(case: &str, layer: &str, kind: Departure, x: A, y: &mut A) {
    match kind {
        Departure::NegZero => {
            assert!(
                (layer == "relu" || layer == "clipped") && same(*y, A::nearest(-0.0)),
                "{case}: neg-zero departure at y = {}",
                hex(*y)
            );
            *y = A::nearest(0.0);
        }
        Departure::NanGrad => assert!(
            layer == "clipped" && x.wide().is_nan(),
            "{case}: nan-grad departure at x = {}",
            hex(x)
        ),
    }
}
