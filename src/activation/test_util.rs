//! Test helpers shared by the family's unit tests: a semantics table
//! checked through every entry point and many layouts, and every code path
//! of a member checked against the portable one.

use std::mem::MaybeUninit;

use ndarray::{s, Array2};

use super::kernel::{Backward, Forward, Predict};
use super::lanes::Lanes;
use super::loops::{self, Pass, WORD};
use super::rectifier::{Member, Rectifier};
use crate::Layer;

pub(crate) const INF: f64 = f64::INFINITY;
pub(crate) const NAN: f64 = f64::NAN;

/// The inputs of the semantics table, in order: the tutorial's five points,
/// then -0.0, the infinities and NaN.
pub(crate) const X: [f64; 9] = [1.0, -10.0, 0.0, 15.0, -20.0, -0.0, INF, -INF, NAN];
/// A non-uniform upstream gradient, one per input of [`X`].
pub(crate) const G: [f64; 9] = [0.5, 2.0, 3.0, -4.0, 5.0, 6.0, 7.0, 8.0, 9.0];

/// The same value bit for bit (so `-0.0` differs from `+0.0`), or both NaN.
pub(crate) fn same(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

fn assert_same(what: &str, got: &Array2<f64>, want: &Array2<f64>) {
    assert_eq!(got.dim(), want.dim(), "{what}: shape");
    for ((idx, &g), &w) in got.indexed_iter().zip(want.iter()) {
        assert!(same(g, w), "{what} at {idx:?}: got {g:?}, want {w:?}");
    }
}

/// `v` as a row, as a column, and tiled into 37 rows with each row rotated.
fn layouts(v: &[f64]) -> [(&'static str, Array2<f64>); 3] {
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
pub(crate) fn check_table(layer: &mut dyn Layer, x: &[f64], y: &[f64], g: &[f64], dx: &[f64]) {
    let [xs, ys, gs, dxs] = [x, y, g, dx].map(layouts);
    for (((name, xa), (_, ya)), ((_, ga), (_, dxa))) in
        xs.into_iter().zip(ys).zip(gs.into_iter().zip(dxs))
    {
        assert_same(
            &format!("{name} forward"),
            &layer.forward(&xa).unwrap(),
            &ya,
        );
        assert_same(
            &format!("{name} backward"),
            &layer.backward(&ga).unwrap(),
            &dxa,
        );
        assert_same(
            &format!("{name} predict"),
            &layer.predict(&xa).unwrap(),
            &ya,
        );

        assert_same(
            &format!("{name} forward_owned"),
            &layer.forward_owned(xa.clone()).unwrap(),
            &ya,
        );
        assert_same(
            &format!("{name} backward_owned"),
            &layer.backward_owned(ga.clone()).unwrap(),
            &dxa,
        );

        // Transposed: a view whose logical shape is the transpose.
        let (xt, gt) = (xa.t().to_owned(), ga.t().to_owned());
        assert_same(
            &format!("{name} transposed forward"),
            &layer.forward(&xt.t()).unwrap(),
            &ya,
        );
        assert_same(
            &format!("{name} transposed backward"),
            &layer.backward(&gt.t()).unwrap(),
            &dxa,
        );
        assert_same(
            &format!("{name} transposed predict"),
            &layer.predict(&xt.t()).unwrap(),
            &ya,
        );
        let owned_t = xt.reversed_axes(); // an owned array in column-major layout
        assert_same(
            &format!("{name} F-order forward_owned"),
            &layer.forward_owned(owned_t).unwrap(),
            &ya,
        );
        let grad_t = gt.reversed_axes();
        assert_same(
            &format!("{name} F-order backward_owned"),
            &layer.backward_owned(grad_t).unwrap(),
            &dxa,
        );

        // Sliced with steps: every other row and column of a padded array.
        let (r, c) = xa.dim();
        let spread = |a: &Array2<f64>| {
            let mut big = Array2::from_elem((2 * r + 1, 2 * c + 1), 99.0);
            big.slice_mut(s![1..;2, 1..;2]).assign(a);
            big
        };
        let (xb, gb) = (spread(&xa), spread(&ga));
        assert_same(
            &format!("{name} sliced forward"),
            &layer.forward(&xb.slice(s![1..;2, 1..;2])).unwrap(),
            &ya,
        );
        assert_same(
            &format!("{name} sliced backward"),
            &layer.backward(&gb.slice(s![1..;2, 1..;2])).unwrap(),
            &dxa,
        );
        assert_same(
            &format!("{name} sliced predict"),
            &layer.predict(&xb.slice(s![1..;2, 1..;2])).unwrap(),
            &ya,
        );
    }
}

/// Awkward values (NaN with payloads and both signs, ±0.0, ±inf,
/// subnormals, the extremes) mixed with ordinary ones, deterministically.
pub(crate) fn awkward(len: usize, seed: u64) -> Vec<f64> {
    const SPECIAL: [f64; 12] = [
        f64::NAN,
        -f64::NAN,
        0.0,
        -0.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::MIN_POSITIVE,
        -f64::MIN_POSITIVE,
        1e-310,
        -1e-310,
        f64::MAX,
        f64::MIN,
    ];
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let r = state >> 33;
            match r % 4 {
                0 => SPECIAL[(r / 4) as usize % SPECIAL.len()],
                // A NaN with a payload.
                1 if r % 64 == 1 => f64::from_bits(0x7ff8_0000_0000_0000 | r),
                _ => (r % 2001) as f64 / 100.0 - 10.0,
            }
        })
        .collect()
}

/// [`loops::blocks_copied`] with lanes `V` into a vector that starts out
/// full of a NaN no pass produces from [`awkward`] values, so that an
/// element left unwritten shows.
fn copied_with<V: Lanes, P: Pass>(pass: &mut P, src: &[f64]) -> Vec<f64> {
    let unwritten = MaybeUninit::new(f64::from_bits(0x7ff4_dead_beef_0000));
    let mut out = vec![unwritten; src.len()];
    loops::blocks_copied::<V, P>(pass, src, &mut out);
    // SAFETY: every element was initialized, with `unwritten` if not by the pass.
    out.into_iter()
        .map(|y| unsafe { y.assume_init() })
        .collect()
}

fn bits_of<'a>(a: impl IntoIterator<Item = &'a f64>) -> Vec<u64> {
    a.into_iter().map(|v| v.to_bits()).collect()
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

/// A forward of `member` over `x` (of shape `dim`) with lanes `V`, in place
/// or into new memory: the output and the mask words.
fn forward_with<V: Lanes, M: Member>(
    member: &mut M,
    x: &[f64],
    dim: (usize, usize),
    copied: bool,
) -> (Vec<f64>, Vec<u64>) {
    let mut words = vec![0; x.len().div_ceil(WORD)];
    let rule = member.rule();
    let y = {
        let (slopes, tap) = member.forward_parts(dim).unwrap();
        let mut pass = Forward {
            rule,
            slopes,
            tap,
            bits: &mut words,
        };
        run::<V, _>(&mut pass, x, copied)
    };
    member.forwarded();
    (y, words)
}

/// The backward after [`forward_with`]: the input gradient and the
/// parameter gradients.
fn backward_with<V: Lanes, M: Member>(
    member: &mut M,
    g: &[f64],
    words: &[u64],
    copied: bool,
) -> (Vec<f64>, Vec<Vec<u64>>) {
    let rule = member.rule();
    let dx = {
        let (slopes, tap) = member.backward_parts();
        let mut pass = Backward {
            rule,
            slopes,
            tap,
            bits: words,
        };
        run::<V, _>(&mut pass, g, copied)
    };
    member.backwarded();
    let grads = member.params().iter().map(|p| bits_of(&p.grad)).collect();
    (dx, grads)
}

/// `pass` over `src` with lanes `V`, in place on a copy or into new memory.
fn run<V: Lanes, P: Pass>(pass: &mut P, src: &[f64], copied: bool) -> Vec<f64> {
    if copied {
        copied_with::<V, P>(pass, src)
    } else {
        let mut data = src.to_vec();
        loops::blocks_in_place::<V, P>(pass, &mut data);
        data
    }
}

/// Every pass of `member` over `x` and `g` with lanes `V` (one lane for
/// the tails), after checking that the in-place and copying loops agree.
fn passes_with<V: Lanes, M: Member>(member: &M, x: &Array2<f64>, g: &Array2<f64>) -> Run {
    let (xs, gs, dim) = (x.as_slice().unwrap(), g.as_slice().unwrap(), x.dim());
    let mut in_place = member.clone();
    let (y, mask) = forward_with::<V, M>(&mut in_place, xs, dim, false);
    let (y_copied, mask_copied) = forward_with::<V, M>(&mut member.clone(), xs, dim, true);
    assert_eq!(bits_of(&y_copied), bits_of(&y), "copied forward");
    assert_eq!(mask_copied, mask, "copied forward's mask");

    let mut copying = in_place.clone();
    let (dx, grads) = backward_with::<V, M>(&mut in_place, gs, &mask, false);
    let (dx_copied, grads_copied) = backward_with::<V, M>(&mut copying, gs, &mask, true);
    assert_eq!(bits_of(&dx_copied), bits_of(&dx), "copied backward");
    assert_eq!(grads_copied, grads, "copied backward's parameter gradients");

    let mut table = Vec::new();
    let mut predict = Predict {
        rule: member.rule(),
        slopes: member.predict_slopes(dim, &mut table),
    };
    Run {
        output: bits_of(&y),
        mask,
        predicted: bits_of(&run::<V, _>(&mut predict, xs, true)),
        grad_input: bits_of(&dx),
        grad_params: grads,
    }
}

/// [`passes_with`] compiled for AVX2.
///
/// # Safety
///
/// The CPU must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn passes_with_avx2<M: Member>(member: &M, x: &Array2<f64>, g: &Array2<f64>) -> Run {
    passes_with::<super::lanes::Avx2, M>(member, x, g)
}

/// The runs of `layer`'s entry points on `x` and `g` reached three ways
/// (the owned pair on standard arrays, transposed views, and a sliced view
/// with a column-major gradient), each from a fresh copy of `layer` (so that
/// RReLU draws the same slopes).
fn layer_run<M: Member>(layer: &Rectifier<M>, x: &Array2<f64>, g: &Array2<f64>) -> [Run; 3] {
    let params = |l: &mut Rectifier<M>| -> Vec<Vec<u64>> {
        l.params().iter().map(|p| bits_of(&p.grad)).collect()
    };
    let predicted = bits_of(&layer.predict(x).unwrap());
    // The owned pair on standard arrays.
    let mut owned = layer.clone();
    let y = owned.forward_owned(x.clone()).unwrap();
    let mask = owned.mask().unwrap().words().to_vec();
    let dx = owned.backward_owned(g.clone()).unwrap();
    let a = Run {
        output: bits_of(&y),
        mask,
        predicted: predicted.clone(),
        grad_input: bits_of(&dx),
        grad_params: params(&mut owned),
    };
    // Views: transposed arrays seen through `.t()`.
    let (xt, gt) = (x.t().to_owned(), g.t().to_owned());
    let mut viewed = layer.clone();
    let y = viewed.forward(&xt.t()).unwrap();
    let mask = viewed.mask().unwrap().words().to_vec();
    let dx = viewed.backward(&gt.t()).unwrap();
    let b = Run {
        output: bits_of(&y),
        mask,
        predicted: bits_of(&layer.predict(&xt.t()).unwrap()),
        grad_input: bits_of(&dx),
        grad_params: params(&mut viewed),
    };
    // Column-major owned arrays, and views sliced with steps.
    let (rows, cols) = x.dim();
    let mut wide = Array2::from_elem((rows, 2 * cols), f64::NAN);
    wide.slice_mut(s![.., ..;2]).assign(x);
    let mut mixed = layer.clone();
    let y = mixed.forward(&wide.slice(s![.., ..;2])).unwrap();
    let mask = mixed.mask().unwrap().words().to_vec();
    let dx = mixed.backward_owned(gt.reversed_axes()).unwrap();
    let c = Run {
        output: bits_of(&y),
        mask,
        predicted: bits_of(&layer.predict(&wide.slice(s![.., ..;2])).unwrap()),
        grad_input: bits_of(&dx),
        grad_params: params(&mut mixed),
    };
    [a, b, c]
}

/// Every way of running `layer` (the SIMD blocks and the scalar tails, in
/// place and into new memory, forward, predict and backward, every entry
/// point of the layer, and the parallel path where enabled) agrees bit for
/// bit with the portable path, at lengths that are not multiples of any
/// SIMD width or of 64, for standard, transposed, F-order and sliced inputs.
pub(crate) fn paths_agree<M: Member>(layer: Rectifier<M>) {
    paths_agree_with(|_| layer.clone());
}

/// [`paths_agree`] with the layer for inputs of `cols` columns made by
/// `make(cols)` (PReLU with one slope per column).
pub(crate) fn paths_agree_with<M: Member>(make: impl Fn(usize) -> Rectifier<M>) {
    let mut lengths: Vec<(usize, usize)> = (0..=131).map(|n| (1, n)).collect();
    lengths.extend([
        (3, 21),
        (2, 32),
        (5, 13),
        (7, 19),
        (33, 65),
        (2, 1031),
        (131, 7),
    ]);
    for (rows, cols) in lengths {
        let n = rows * cols;
        let x = Array2::from_shape_vec((rows, cols), awkward(n, n as u64)).unwrap();
        let g = Array2::from_shape_vec((rows, cols), awkward(n, 7 * n as u64)).unwrap();
        let layer = make(cols);
        let portable = passes_with::<f64, M>(layer.member(), &x, &g);
        #[cfg(target_arch = "x86_64")]
        {
            let sse2 = passes_with::<super::lanes::Sse2, M>(layer.member(), &x, &g);
            assert_eq!(sse2, portable, "SSE2 {rows}x{cols}");
            if is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU has AVX2.
                let avx2 = unsafe { passes_with_avx2(layer.member(), &x, &g) };
                assert_eq!(avx2, portable, "AVX2 {rows}x{cols}");
            }
        }
        for (run, how) in layer_run(&layer, &x, &g)
            .iter()
            .zip(["owned", "transposed", "sliced"])
        {
            assert_eq!(run, &portable, "{} {how} {rows}x{cols}", M::LAYER);
        }
    }
}
