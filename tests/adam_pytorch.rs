//! rectify's Adam against PyTorch's: `tests/fixtures/adam_trajectory.txt`,
//! written by `tests/fixtures/adam_trajectory.py` from `torch.optim.Adam`
//! and `torch.optim.AdamW` (torch 2.15, f64, x86-64 with AVX2), holds the
//! gradients of ten steps and the parameters after each step, for four
//! configurations. The same gradients go through rectify's `Adam`, and
//! every parameter after every step must have the same bits as PyTorch's,
//! with one exception: PyTorch's CPU sqrt is not always correctly rounded
//! (rectify's is), so an element whose `sqrt(exp_avg_sq)` the fixture
//! flags as 1 ulp off at some step may differ from then on, by at most
//! [`MAX_ULPS`].

use std::collections::HashMap;

use rectify::ndarray::{Array2, ArrayD, ArrayRef2, IxDyn};
use rectify::{Adam, Layer, LayerError, Param};

const FIXTURE: &str = include_str!("fixtures/adam_trajectory.txt");

/// The largest difference allowed downstream of PyTorch's inexact sqrt;
/// the fixture's worst is 4 ulps, after several steps.
const MAX_ULPS: u64 = 8;

/// A layer that is nothing but parameters with given gradients.
struct Tensors {
    values: Vec<ArrayD<f64>>,
    grads: Vec<ArrayD<f64>>,
}

impl Layer for Tensors {
    fn forward(&mut self, input: &ArrayRef2<f64>) -> Result<Array2<f64>, LayerError> {
        Ok(input.to_owned())
    }
    fn backward(&mut self, grad: &ArrayRef2<f64>) -> Result<Array2<f64>, LayerError> {
        Ok(grad.to_owned())
    }
    fn predict(&self, input: &ArrayRef2<f64>) -> Result<Array2<f64>, LayerError> {
        Ok(input.to_owned())
    }
    fn params(&mut self) -> Vec<Param<'_>> {
        (self.values.iter_mut().zip(&self.grads))
            .map(|(value, grad)| Param {
                value: value.view_mut(),
                grad: grad.view(),
            })
            .collect()
    }
}

/// One configuration's hyperparameters, the parameters after each step,
/// and the elements whose sqrt PyTorch rounded differently at each step.
struct Trajectory {
    name: String,
    adam: Adam,
    after: Vec<Vec<f64>>,
    sqrt_off: Vec<Vec<usize>>,
}

/// The fixture: parameter shapes, initial values, gradients per step (all
/// parameters flattened and concatenated), and the trajectories.
struct Fixture {
    shapes: Vec<Vec<usize>>,
    init: Vec<f64>,
    grads: Vec<Vec<f64>>,
    trajectories: Vec<Trajectory>,
}

fn bits(tokens: &[&str]) -> Vec<f64> {
    let bits = |t: &&str| u64::from_str_radix(t, 16).expect("16 hex digits");
    tokens.iter().map(|t| f64::from_bits(bits(t))).collect()
}

fn parse() -> Result<Fixture, LayerError> {
    let mut lines: HashMap<&str, Vec<Vec<&str>>> = HashMap::new();
    let mut fixture = Fixture {
        shapes: Vec::new(),
        init: Vec::new(),
        grads: Vec::new(),
        trajectories: Vec::new(),
    };
    for line in FIXTURE.lines().filter(|l| !l.starts_with('#')) {
        let tokens: Vec<&str> = line.split_whitespace().collect();
        match tokens[0] {
            "shapes" => {
                fixture.shapes = (tokens[1..].iter())
                    .map(|s| s.split('x').map(|d| d.parse().unwrap()).collect())
                    .collect();
            }
            "init" => fixture.init = bits(&tokens[1..]),
            "grad" => fixture.grads.push(bits(&tokens[2..])),
            "config" => {
                let h: Vec<f64> = tokens[2..7].iter().map(|t| t.parse().unwrap()).collect();
                let adam = Adam::new(h[0])?.with_betas(h[1], h[2])?.with_eps(h[3])?;
                let adam = match tokens[7] {
                    "1" => adam.with_decoupled_weight_decay(h[4])?,
                    _ => adam.with_weight_decay(h[4])?,
                };
                fixture.trajectories.push(Trajectory {
                    name: tokens[1].to_string(),
                    adam,
                    after: Vec::new(),
                    sqrt_off: Vec::new(),
                });
            }
            "after" => {
                let trajectory = fixture.trajectories.last_mut().expect("a config first");
                trajectory.after.push(bits(&tokens[2..]));
            }
            "sqrt_off" => {
                let trajectory = fixture.trajectories.last_mut().expect("a config first");
                let indices = tokens[2..].iter().map(|t| t.parse().unwrap());
                trajectory.sqrt_off.push(indices.collect());
            }
            other => lines.entry(other).or_default().push(tokens),
        }
    }
    assert!(lines.is_empty(), "unknown lines: {:?}", lines.keys());
    Ok(fixture)
}

/// `flat` cut into arrays of `shapes`.
fn split(flat: &[f64], shapes: &[Vec<usize>]) -> Vec<ArrayD<f64>> {
    let mut rest = flat;
    let arrays = shapes
        .iter()
        .map(|shape| {
            let (head, tail) = rest.split_at(shape.iter().product());
            rest = tail;
            ArrayD::from_shape_vec(IxDyn(shape), head.to_vec()).unwrap()
        })
        .collect();
    assert!(rest.is_empty(), "{} values left over", rest.len());
    arrays
}

/// How many representable f64 lie between `a` and `b` (same sign assumed
/// when they are close).
fn ulps(a: f64, b: f64) -> u64 {
    let key = |x: f64| {
        let bits = x.to_bits() as i64;
        if bits < 0 {
            i64::MIN - bits
        } else {
            bits
        }
    };
    key(a).abs_diff(key(b))
}

#[test]
fn adam_and_adamw_follow_pytorchs_trajectories() -> Result<(), LayerError> {
    let fixture = parse()?;
    assert_eq!(fixture.trajectories.len(), 4);
    let (mut identical, mut total) = (0, 0);
    for trajectory in fixture.trajectories {
        let mut adam = trajectory.adam;
        let mut layer = Tensors {
            values: split(&fixture.init, &fixture.shapes),
            grads: Vec::new(),
        };
        let steps = fixture.grads.len();
        assert_eq!(
            (trajectory.after.len(), trajectory.sqrt_off.len()),
            (steps, steps)
        );
        let mut tainted = vec![false; fixture.init.len()];
        for (step, grad) in fixture.grads.iter().enumerate() {
            layer.grads = split(grad, &fixture.shapes);
            adam.step(&mut layer)?;
            for &i in &trajectory.sqrt_off[step] {
                tainted[i] = true;
            }
            let actual = layer.values.iter().flatten();
            for (i, (&a, &e)) in actual.zip(&trajectory.after[step]).enumerate() {
                let (name, step, d) = (&trajectory.name, step + 1, ulps(a, e));
                if tainted[i] {
                    assert!(
                        d <= MAX_ULPS,
                        "{name} step {step}: element {i} is {d} ulps off"
                    );
                } else {
                    assert_eq!(
                        d, 0,
                        "{name} step {step}: element {i} is {a:e}, PyTorch's {e:e}"
                    );
                }
                identical += usize::from(d == 0);
                total += 1;
            }
        }
    }
    // 1110 of 1120 with this fixture.
    assert!(
        identical * 100 >= total * 99,
        "{identical} of {total} identical"
    );
    Ok(())
}
