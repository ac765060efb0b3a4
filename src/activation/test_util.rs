//! Test helpers shared by the family's unit tests: a semantics table
//! checked through every entry point and many layouts, and every code path
//! of every member (each instruction set, both element types, 2-D and n-D)
//! checked against the baseline one.

use std::mem::MaybeUninit;

use ndarray::{s, Array2, Array4, ArrayView3, Axis};

use super::kernel::{Backward, Forward, Pass, Predict, WORD};
use super::loops::Isa;
use super::rectifier::{Member, Rectifier};
use super::*;
use crate::{Float, Layer};

pub(crate) const INF: f64 = f64::INFINITY;
pub(crate) const NAN: f64 = f64::NAN;

/// The inputs of the semantics table, in order: the tutorial's five points,
/// then -0.0, the infinities and NaN.
pub(crate) const X: [f64; 9] = [1.0, -10.0, 0.0, 15.0, -20.0, -0.0, INF, -INF, NAN];
/// A non-uniform upstream gradient, one per input of [`X`].
pub(crate) const G: [f64; 9] = [0.5, 2.0, 3.0, -4.0, 5.0, 6.0, 7.0, 8.0, 9.0];

/// The same value bit for bit (so `-0.0` differs from `+0.0`), or both NaN.
pub(crate) fn same<A: Float>(a: A, b: A) -> bool {
    a.bits() == b.bits() || (a.is_nan() && b.is_nan())
}

fn assert_same<A: Float>(what: &str, got: &Array2<A>, want: &Array2<A>) {
    assert_eq!(got.dim(), want.dim(), "{what}: shape");
    for ((idx, &g), &w) in got.indexed_iter().zip(want.iter()) {
        assert!(same(g, w), "{what} at {idx:?}: got {g:?}, want {w:?}");
    }
}

/// `v` as a row, as a column, and tiled into 37 rows with each row rotated.
fn layouts<A: Float>(v: &[A]) -> [(&'static str, Array2<A>); 3] {
    let n = v.len();
    let row = Array2::from_shape_vec((1, n), v.to_vec()).unwrap();
    let column = row.t().as_standard_layout().into_owned();
    let tiled = Array2::from_shape_fn((37, n), |(r, c)| v[(c + r) % n]);
    [("row", row), ("column", column), ("tiled", tiled)]
}

/// Checks that input `x` gives output `y` and that upstream gradient `g`
/// gives input gradient `dx`, element by element and bit for bit, through
/// `forward`, `forward_owned`, `predict`, `backward` and `backward_owned`,
/// for the values laid out as a row, a column, a transposed view, a view
/// sliced with steps out of a larger array, and tiled 37 times (a length
/// that is a multiple of no SIMD width and not of 64).
pub(crate) fn check_table<A: Float>(layer: &mut dyn Layer<A>, x: &[A], y: &[A], g: &[A], dx: &[A]) {
    let [xs, ys, gs, dxs] = [x, y, g, dx].map(layouts);
    for (((name, xa), (_, ya)), ((_, ga), (_, dxa))) in
        xs.into_iter().zip(ys).zip(gs.into_iter().zip(dxs))
    {
        let check = |what: &str, got: Array2<A>, want: &Array2<A>| {
            assert_same(&format!("{name} {what}"), &got, want)
        };
        check("forward", layer.forward(&xa).unwrap(), &ya);
        check("backward", layer.backward(&ga).unwrap(), &dxa);
        check("predict", layer.predict(&xa).unwrap(), &ya);
        check(
            "forward_owned",
            layer.forward_owned(xa.clone()).unwrap(),
            &ya,
        );
        check(
            "backward_owned",
            layer.backward_owned(ga.clone()).unwrap(),
            &dxa,
        );

        // Transposed: a view whose logical shape is the transpose.
        let (xt, gt) = (xa.t().to_owned(), ga.t().to_owned());
        check("transposed forward", layer.forward(&xt.t()).unwrap(), &ya);
        check(
            "transposed backward",
            layer.backward(&gt.t()).unwrap(),
            &dxa,
        );
        check("transposed predict", layer.predict(&xt.t()).unwrap(), &ya);
        let owned_t = xt.reversed_axes(); // an owned array in column-major layout
        check(
            "F-order forward_owned",
            layer.forward_owned(owned_t).unwrap(),
            &ya,
        );
        let grad_t = gt.reversed_axes();
        check(
            "F-order backward_owned",
            layer.backward_owned(grad_t).unwrap(),
            &dxa,
        );

        // Sliced with steps: every other row and column of a padded array.
        let (r, c) = xa.dim();
        let spread = |a: &Array2<A>| {
            let mut big = Array2::from_elem((2 * r + 1, 2 * c + 1), A::round_from(99.0));
            big.slice_mut(s![1..;2, 1..;2]).assign(a);
            big
        };
        let (xb, gb) = (spread(&xa), spread(&ga));
        let (xv, gv) = (xb.slice(s![1..;2, 1..;2]), gb.slice(s![1..;2, 1..;2]));
        check("sliced forward", layer.forward(&xv).unwrap(), &ya);
        check("sliced backward", layer.backward(&gv).unwrap(), &dxa);
        check("sliced predict", layer.predict(&xv).unwrap(), &ya);
    }
}

/// Awkward values (NaN with payloads and both signs, ±0.0, ±inf,
/// subnormals, the extremes of `A`) mixed with ordinary ones,
/// deterministically.
pub(crate) fn awkward<A: Float>(len: usize, seed: u64) -> Vec<A> {
    let special = [
        A::nan(),
        -A::nan(),
        A::zero(),
        -A::zero(),
        A::infinity(),
        A::neg_infinity(),
        A::min_positive_value(),
        -A::min_positive_value(),
        A::min_positive_value() / A::round_from(1024.0), // subnormal
        -A::min_positive_value() / A::round_from(3.0),
        A::max_value(),
        A::min_value(),
    ];
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let r = state >> 33;
            match r % 4 {
                0 => special[(r / 4) as usize % special.len()],
                // A NaN with a payload (in the bits both types keep).
                1 if r % 64 == 1 => A::round_from(f64::from_bits(0x7ff8_0000_0000_0000 | r << 29)),
                _ => A::round_from((r % 2001) as f64 / 100.0 - 10.0),
            }
        })
        .collect()
}

fn bits_of<'a, A: Float>(a: impl IntoIterator<Item = &'a A>) -> Vec<u64> {
    a.into_iter().map(|v| v.bits()).collect()
}

/// Everything a member's passes produce, as bits.
#[derive(Debug, PartialEq)]
struct Run {
    output: Vec<u64>,
    mask: Vec<u64>,
    predicted: Vec<u64>,
    grad_input: Vec<u64>,
    grad_params: Vec<Vec<u64>>,
}

/// `pass` over `src` on `isa`, in place on a copy, or into new memory that
/// starts out full of a NaN no pass produces from [`awkward`] values, so
/// that an element left unwritten shows.
fn run<A: Float, P: Pass<A>>(isa: Isa, pass: &mut P, src: &[A], copied: bool) -> Vec<A> {
    if copied {
        let unwritten = MaybeUninit::new(A::round_from(f64::from_bits(0x7ff4_dead_beef_0000)));
        let mut out = vec![unwritten; src.len()];
        isa.copied(pass, src, &mut out);
        // SAFETY: every element was initialized, with `unwritten` if not by
        // the pass.
        out.into_iter()
            .map(|y| unsafe { y.assume_init() })
            .collect()
    } else {
        let mut data = src.to_vec();
        isa.in_place(pass, &mut data);
        data
    }
}

/// Every pass of `layer`'s member over `x` and `g` on `isa`, after
/// checking that the in-place and copying loops agree.
fn passes_on<A: Float, M: Member<A>>(
    isa: Isa,
    layer: &Rectifier<M>,
    x: &Array2<A>,
    g: &Array2<A>,
) -> Run {
    let (xs, gs, shape) = (x.as_slice().unwrap(), g.as_slice().unwrap(), x.shape());
    let zero = layer.zero_side();
    let forward = |member: &mut M, copied| {
        let mut words = vec![0; xs.len().div_ceil(WORD)];
        let rule = member.rule().unwrap();
        let y = {
            let (slopes, tap) = member.forward_parts(shape).unwrap();
            let bits = &mut words;
            run(
                isa,
                &mut Forward {
                    rule,
                    zero,
                    slopes,
                    tap,
                    bits,
                },
                xs,
                copied,
            )
        };
        member.forwarded();
        (bits_of(&y), words)
    };
    let backward = |member: &mut M, words: &[u64], copied| {
        let rule = member.rule().unwrap();
        let dx = {
            let (slopes, tap) = member.backward_parts().unwrap();
            run(
                isa,
                &mut Backward {
                    rule,
                    slopes,
                    tap,
                    bits: words,
                },
                gs,
                copied,
            )
        };
        member.backwarded();
        let grads: Vec<Vec<u64>> = member.params().iter().map(|p| bits_of(&p.grad)).collect();
        (bits_of(&dx), grads)
    };
    let mut in_place = layer.member().clone();
    let (output, mask) = forward(&mut in_place, false);
    assert_eq!(
        forward(&mut layer.member().clone(), true),
        (output.clone(), mask.clone()),
        "copied forward"
    );
    let mut copying = in_place.clone();
    let (grad_input, grad_params) = backward(&mut in_place, &mask, false);
    assert_eq!(
        backward(&mut copying, &mask, true),
        (grad_input.clone(), grad_params.clone()),
        "copied backward"
    );

    let mut table = Vec::new();
    let member = layer.member();
    let (rule, slopes) = (
        member.rule().unwrap(),
        member.predict_slopes(shape, &mut table).unwrap(),
    );
    let predicted = bits_of(&run(isa, &mut Predict { rule, zero, slopes }, xs, true));
    Run {
        output,
        mask,
        predicted,
        grad_input,
        grad_params,
    }
}

/// The runs of `layer`'s entry points on `x` and `g` reached five ways,
/// each from a fresh copy of `layer` (so that RReLU draws the same
/// slopes): the owned pair on standard arrays; transposed views; a sliced
/// view with a column-major gradient; the same data as a 4-D array
/// `(rows, cols, 1, 1)`; and as a permuted 3-D view.
fn layer_runs<A: Float, M: Member<A>>(
    layer: &Rectifier<M>,
    x: &Array2<A>,
    g: &Array2<A>,
) -> Vec<(&'static str, Run)> {
    let params = |l: &mut Rectifier<M>| -> Vec<Vec<u64>> {
        Layer::params(l).iter().map(|p| bits_of(&p.grad)).collect()
    };
    let finish = |mut l: Rectifier<M>, y: Vec<u64>, predicted: Vec<u64>, dx: Vec<u64>| Run {
        mask: l.mask().unwrap().words().to_vec(),
        grad_params: params(&mut l),
        output: y,
        predicted,
        grad_input: dx,
    };
    let mut runs = Vec::new();

    let mut owned = layer.clone();
    let y = bits_of(&owned.forward_owned(x.clone()).unwrap());
    let dx = bits_of(&owned.backward_owned(g.clone()).unwrap());
    let predicted = bits_of(&layer.predict(x).unwrap());
    runs.push(("owned", finish(owned, y, predicted, dx)));

    let (xt, gt) = (x.t().to_owned(), g.t().to_owned());
    let mut viewed = layer.clone();
    let y = bits_of(&viewed.forward(&xt.t()).unwrap());
    let dx = bits_of(&viewed.backward(&gt.t()).unwrap());
    let predicted = bits_of(&layer.predict(&xt.t()).unwrap());
    runs.push(("transposed", finish(viewed, y, predicted, dx)));

    let (rows, cols) = x.dim();
    let mut wide = Array2::from_elem((rows, 2 * cols), A::nan());
    wide.slice_mut(s![.., ..;2]).assign(x);
    let mut mixed = layer.clone();
    let y = bits_of(&mixed.forward(&wide.slice(s![.., ..;2])).unwrap());
    let dx = bits_of(&mixed.backward_owned(gt.clone().reversed_axes()).unwrap());
    let predicted = bits_of(&layer.predict(&wide.slice(s![.., ..;2])).unwrap());
    runs.push(("sliced", finish(mixed, y, predicted, dx)));

    let four = |a: &Array2<A>| -> Array4<A> {
        a.clone().into_shape_with_order((rows, cols, 1, 1)).unwrap()
    };
    let mut nd = layer.clone();
    let y = bits_of(&nd.forward(&four(x)).unwrap());
    let dx = bits_of(&nd.backward_owned(four(g)).unwrap());
    let predicted = bits_of(&layer.predict(&four(x)).unwrap());
    let run = finish(nd, y, predicted, dx);
    runs.push(("4-D", run));

    // (rows, cols, 1) seen through a permutation of a (cols, 1, rows) array.
    let three = |a: &Array2<A>| a.t().to_owned().insert_axis(Axis(1));
    let (x3, g3) = (three(x), three(g));
    fn view<A>(a: &ndarray::Array3<A>) -> ArrayView3<'_, A> {
        a.view().permuted_axes([2, 0, 1])
    }
    let mut permuted = layer.clone();
    let y = bits_of(&permuted.forward(&view(&x3)).unwrap());
    let dx = bits_of(&permuted.backward(&view(&g3)).unwrap());
    let predicted = bits_of(&layer.predict(&view(&x3)).unwrap());
    runs.push(("permuted 3-D", finish(permuted, y, predicted, dx)));
    runs
}

/// Every way of running `layer` in element type `A` (every instruction set
/// the CPU has, in place and into new memory, forward, predict and
/// backward, every entry point of the layer in 2-D and n-D, and the
/// parallel path where enabled) agrees bit for bit with the baseline path,
/// at every length up to 131 and at shapes that are not multiples of any
/// SIMD width or of 64, for standard, transposed, F-order, sliced and
/// permuted inputs. `make(cols)` makes the layer for inputs of `cols`
/// columns (PReLU with one slope per column).
pub(crate) fn paths_agree<A: Float, M: Member<A>>(make: impl Fn(usize) -> Rectifier<M>) {
    let mut shapes: Vec<(usize, usize)> = (0..=131).map(|n| (1, n)).collect();
    shapes.extend([
        (3, 21),
        (2, 32),
        (5, 13),
        (7, 19),
        (33, 65),
        (2, 1031),
        (131, 7),
    ]);
    for (rows, cols) in shapes {
        let n = rows * cols;
        let x = Array2::from_shape_vec((rows, cols), awkward(n, n as u64)).unwrap();
        let g = Array2::from_shape_vec((rows, cols), awkward(n, 7 * n as u64)).unwrap();
        let layer = make(cols);
        let baseline = passes_on(Isa::Baseline, &layer, &x, &g);
        for isa in Isa::available() {
            let run = passes_on(isa, &layer, &x, &g);
            assert_eq!(
                run,
                baseline,
                "{} {isa:?} {} {rows}x{cols}",
                M::LAYER,
                A::NAME
            );
        }
        for (how, run) in layer_runs(&layer, &x, &g) {
            assert_eq!(
                run,
                baseline,
                "{} {how} {} {rows}x{cols}",
                M::LAYER,
                A::NAME
            );
        }
    }
}

/// Layers of a member in several configurations, for inputs of `cols`
/// columns: what the shared tests run every member in. Each member's test
/// module implements it, and [`family!`] lists the members, so a new member
/// cannot miss the shared tests.
pub(crate) trait Examples<A: Float> {
    type Member: Member<A>;
    fn examples(cols: usize) -> Vec<Rectifier<Self::Member>>;
}

macro_rules! every_member_agrees_on_every_path {
    ($($layer:ident),*) => {
        #[test]
        fn every_member_agrees_on_every_path_f64() {
            $(
                for i in 0..<$layer as Examples<f64>>::examples(1).len() {
                    paths_agree::<f64, _>(|cols| <$layer as Examples<f64>>::examples(cols).swap_remove(i));
                }
            )*
        }

        #[test]
        fn every_member_agrees_on_every_path_f32() {
            $(
                for i in 0..<$layer as Examples<f32>>::examples(1).len() {
                    paths_agree::<f32, _>(|cols| <$layer as Examples<f32>>::examples(cols).swap_remove(i));
                }
            )*
        }
    };
}

crate::family!(every_member_agrees_on_every_path);

macro_rules! every_member_is_documented {
    ($($layer:ident),*) => {
        /// The crate docs and the README name every member of the family.
        #[test]
        fn every_member_is_documented() {
            let crate_docs = include_str!("../lib.rs");
            let readme = include_str!("../../README.md");
            $(
                let name = stringify!($layer);
                assert!(crate_docs.contains(&format!("[`{name}`]")), "lib.rs does not name {name}");
                assert!(readme.contains(&format!("`{name}`")), "README.md does not name {name}");
            )*
        }
    };
}

crate::family!(every_member_is_documented);
