//! The matrix products of [`DenseLayer`](crate::DenseLayer), on the `gemm`
//! crate.
//!
//! `gemm` takes each operand as a pointer and a row and a column stride, so
//! any ndarray view goes in as it is: standard, transposed (`a.t()` swaps the
//! strides), sliced with steps, reversed (negative strides, which `gemm`
//! handles) or broadcast (stride 0). It picks its kernel (AVX-512, AVX2+FMA,
//! NEON, or portable scalar code) at run time from the CPU it runs on.
//!
//! With a seed, training is bit-for-bit the same from run to run on one
//! machine, whatever the thread count: under the crate's `rayon` feature,
//! large products use `gemm`'s threads, which split the output, never the
//! sum over the inner dimension, so the bits do not change (tested).
//! Without the feature every product runs on one thread.

use gemm::Parallelism;
use ndarray::{Array2, ArrayRef1, ArrayRef2};

use crate::Float;

/// `lhs·rhs` as a new standard-layout array, in `out`, an empty buffer with
/// room for it (from [`Need::buffer`](crate::alloc::Need::buffer)).
///
/// # Panics
///
/// If `lhs.ncols() != rhs.nrows()`, or `out` is not empty with room for
/// the result.
pub(crate) fn product<A: Float>(
    lhs: &ArrayRef2<A>,
    rhs: &ArrayRef2<A>,
    mut out: Vec<A>,
) -> Array2<A> {
    let (m, n) = (lhs.nrows(), rhs.ncols());
    let len = m * n;
    assert!(
        out.is_empty(),
        "the product is written into an empty buffer"
    );
    let dst = out.spare_capacity_mut()[..len].as_mut_ptr().cast::<A>();
    // SAFETY: `dst` has room for the m × n standard-layout result (strides
    // n, 1), in a fresh buffer that overlaps neither operand; without
    // `accumulate`, gemm writes every element of dst and reads none.
    unsafe { gemm_raw(dst, [n as isize, 1], lhs, rhs, false) };
    // SAFETY: gemm wrote all `len` elements.
    unsafe { out.set_len(len) };
    Array2::from_shape_vec((m, n), out).expect("m × n elements")
}

/// `lhs·rhs + bias`, with `bias` added to every row, as a new
/// standard-layout array in `out`, an empty buffer with room for it. The
/// array is first filled with the bias, which `gemm` then adds the product
/// to, in the same pass as it writes it.
///
/// # Panics
///
/// If `lhs.ncols() != rhs.nrows()`, `bias.len() != rhs.ncols()`, or `out`
/// is not empty.
pub(crate) fn affine<A: Float>(
    lhs: &ArrayRef2<A>,
    rhs: &ArrayRef2<A>,
    bias: &ArrayRef1<A>,
    mut out: Vec<A>,
) -> Array2<A> {
    let (m, n) = (lhs.nrows(), rhs.ncols());
    assert_eq!(bias.len(), n, "one bias per output column");
    assert!(out.is_empty(), "the result is written into an empty buffer");
    for _ in 0..m {
        match bias.as_slice() {
            Some(bias) => out.extend_from_slice(bias),
            None => out.extend(bias.iter()),
        }
    }
    let mut out = Array2::from_shape_vec((m, n), out).expect("m × n elements");
    product_into(&mut out, lhs, rhs, true);
    out
}

/// `dst = lhs·rhs`, or `dst += lhs·rhs` if `accumulate`, in place, whatever
/// `dst`'s layout.
///
/// # Panics
///
/// If the shapes do not fit: `dst` must be `lhs.nrows() × rhs.ncols()`.
pub(crate) fn product_into<A: Float>(
    dst: &mut ArrayRef2<A>,
    lhs: &ArrayRef2<A>,
    rhs: &ArrayRef2<A>,
    accumulate: bool,
) {
    assert_eq!(
        dst.dim(),
        (lhs.nrows(), rhs.ncols()),
        "dst is lhs.nrows × rhs.ncols"
    );
    let strides = [dst.strides()[0], dst.strides()[1]];
    // SAFETY: `dst` is an initialized m × n array with these strides, and
    // borrowed mutably here, so it overlaps neither operand.
    unsafe { gemm_raw(dst.as_mut_ptr(), strides, lhs, rhs, accumulate) };
}

/// `dst ← lhs·rhs`, or `dst ← dst + lhs·rhs` if `accumulate`, where `dst` is
/// the `lhs.nrows() × rhs.ncols()` matrix at `dst` with row and column
/// strides `dst_strides` (in elements).
///
/// # Panics
///
/// If `lhs.ncols() != rhs.nrows()`.
///
/// # Safety
///
/// Every element of `dst` must be valid for writes and must not overlap
/// `lhs` or `rhs`; with `accumulate`, valid for reads and initialized too.
/// Without it `gemm` (0.19) only writes `dst`: it sets its `alpha` to zero
/// and its kernels store `beta·product` without loading the destination.
unsafe fn gemm_raw<A: Float>(
    dst: *mut A,
    dst_strides: [isize; 2],
    lhs: &ArrayRef2<A>,
    rhs: &ArrayRef2<A>,
    accumulate: bool,
) {
    assert_eq!(lhs.ncols(), rhs.nrows(), "lhs.ncols == rhs.nrows");
    let (m, k, n) = (lhs.nrows(), lhs.ncols(), rhs.ncols());
    let ([lhs_rs, lhs_cs], [rhs_rs, rhs_cs]) = (strides(lhs), strides(rhs));
    // SAFETY: the caller's guarantees for `dst`; `lhs` and `rhs` are views
    // whose every element (row i, column j) lies at ptr + i·rs + j·cs. With
    // `read_dst` (accumulate), gemm computes dst = alpha·dst + beta·lhs·rhs
    // with alpha = beta = 1; without, dst = beta·lhs·rhs.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            dst_strides[1],
            dst_strides[0],
            accumulate,
            lhs.as_ptr(),
            lhs_cs,
            lhs_rs,
            rhs.as_ptr(),
            rhs_cs,
            rhs_rs,
            A::one(),
            A::one(),
            false,
            false,
            false,
            parallelism(m, n, k),
        )
    }
}

/// The row and column strides of `a`, in elements.
fn strides<A>(a: &ArrayRef2<A>) -> [isize; 2] {
    [a.strides()[0], a.strides()[1]]
}

/// How `gemm` may use threads for an `m × k` by `k × n` product: one thread
/// without the `rayon` feature.
#[cfg(not(feature = "rayon"))]
fn parallelism(_m: usize, _n: usize, _k: usize) -> Parallelism {
    Parallelism::None
}

/// How `gemm` may use threads for an `m × k` by `k × n` product: those of
/// the current rayon pool from [`PARALLEL_MIN_WORK`] multiply-adds on.
#[cfg(feature = "rayon")]
fn parallelism(m: usize, n: usize, k: usize) -> Parallelism {
    let work = m.saturating_mul(n).saturating_mul(k);
    if work >= PARALLEL_MIN_WORK {
        Parallelism::Rayon(0)
    } else {
        Parallelism::None
    }
}

/// Multiply-adds from which a product runs on the rayon pool's threads.
///
/// Measured on this project's 2-core machine, 2 threads against 1: 1.3-1.4
/// times as fast at 128x256x256 (2^23), 1.5-2.0 from 128x784x256 up;
/// 0.84-1.3 at 256x1024x10 (2.6 million).
#[cfg(feature = "rayon")]
const PARALLEL_MIN_WORK: usize = 1 << 23;

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_abs_diff_eq;
    #[cfg(feature = "rayon")]
    use ndarray::Zip;
    use ndarray::{s, Array1, ArrayView2};
    use ndarray_rand::rand::{rngs::StdRng, SeedableRng};
    use ndarray_rand::rand_distr::Uniform;
    use ndarray_rand::RandomExt;

    /// [`super::product`] into a buffer of the right size.
    fn product(lhs: &ArrayRef2<f64>, rhs: &ArrayRef2<f64>) -> Array2<f64> {
        super::product(lhs, rhs, Vec::with_capacity(lhs.nrows() * rhs.ncols()))
    }

    /// [`super::affine`] into a buffer of the right size.
    fn affine(lhs: &ArrayRef2<f64>, rhs: &ArrayRef2<f64>, bias: &ArrayRef1<f64>) -> Array2<f64> {
        super::affine(
            lhs,
            rhs,
            bias,
            Vec::with_capacity(lhs.nrows() * rhs.ncols()),
        )
    }

    fn random(shape: (usize, usize), seed: u64) -> Array2<f64> {
        let uniform = Uniform::new(-1.0, 1.0).unwrap();
        Array2::random_using(shape, uniform, &mut StdRng::seed_from_u64(seed))
    }

    /// Within rounding of ndarray's `dot`, relative to the size of the sum.
    fn assert_close(actual: &Array2<f64>, expected: &Array2<f64>, k: usize) {
        assert_eq!(actual.dim(), expected.dim());
        assert_abs_diff_eq!(actual, expected, epsilon = 1e-14 * (k as f64 + 1.0));
    }

    /// Runs `f` on `a` through each layout's view (not a copy).
    fn each_layout(a: &Array2<f64>, mut f: impl FnMut(ArrayView2<'_, f64>)) {
        let (r, c) = a.dim();
        f(a.view());
        let fortran = a.t().to_owned();
        f(fortran.t());
        let mut padded = Array2::from_elem((2 * r, 3 * c), f64::NAN);
        padded.slice_mut(s![..;2, ..;3]).assign(a);
        f(padded.slice(s![..;2, ..;3]));
        let reversed = a.slice(s![..;-1, ..;-1]).to_owned();
        f(reversed.slice(s![..;-1, ..;-1]));
        let flipped = a.slice(s![.., ..;-1]).to_owned();
        f(flipped.slice(s![.., ..;-1]));
    }

    /// Shapes (m, k, n) that are multiples of no SIMD width, tiny ones that
    /// take gemm's small-matrix paths, a vector, and empty ones.
    const SHAPES: [(usize, usize, usize); 10] = [
        (1, 1, 1),
        (3, 5, 7),
        (4, 16, 4),
        (1, 33, 17),
        (17, 33, 1),
        (67, 129, 35),
        (130, 70, 261),
        (0, 5, 3),
        (5, 0, 3),
        (5, 3, 0),
    ];

    #[test]
    fn products_match_ndarray_in_every_layout_of_either_operand() {
        for (m, k, n) in SHAPES {
            let (a, b) = (random((m, k), 1), random((k, n), 2));
            let expected = a.dot(&b);
            each_layout(&a, |lhs| {
                each_layout(&b, |rhs| {
                    let ab = product(&lhs, &rhs);
                    assert!(ab.is_standard_layout());
                    assert_close(&ab, &expected, k);
                })
            });
        }
    }

    #[test]
    fn transposed_products_need_no_copies() {
        for (m, k, n) in SHAPES {
            // xᵀ·g and g·Wᵀ, as DenseLayer's backward computes them.
            let (x, g) = (random((k, m), 3), random((k, n), 4));
            assert_close(&product(&x.t(), &g), &x.t().dot(&g), k);
            let (g, w) = (random((m, k), 5), random((n, k), 6));
            assert_close(&product(&g, &w.t()), &g.dot(&w.t()), k);
        }
    }

    #[test]
    fn affine_adds_the_bias_to_every_row() {
        for (m, k, n) in SHAPES {
            let (a, b) = (random((m, k), 7), random((k, n), 8));
            let bias = Array1::from_shape_fn(n, |j| j as f64 - 2.5);
            let expected = a.dot(&b) + &bias;
            each_layout(&a, |lhs| {
                let y = affine(&lhs, &b.t().to_owned().t(), &bias);
                assert_close(&y, &expected, k);
            });
            let reversed = bias.slice(s![..;-1]).to_owned();
            let y = affine(&a, &b, &reversed.slice(s![..;-1]));
            assert_close(&y, &expected, k);
        }
    }

    #[test]
    fn product_into_overwrites_or_accumulates_into_any_layout() {
        for (m, k, n) in SHAPES {
            let (a, b) = (random((m, k), 9), random((k, n), 10));
            let start = random((n, m), 11);
            let mut dst = start.clone();
            let mut dst_t = dst.view_mut().reversed_axes();
            product_into(&mut dst_t, &a, &b, false);
            assert_close(&dst.t().to_owned(), &a.dot(&b), k);
            let mut dst = start.clone();
            product_into(&mut dst.view_mut().reversed_axes(), &a, &b, true);
            assert_close(&dst.t().to_owned(), &(a.dot(&b) + start.t()), k);

            let mut stepped = Array2::from_elem((m, 2 * n), 5.0);
            product_into(&mut stepped.slice_mut(s![.., ..;-2]), &a, &b, false);
            let expected = a.dot(&b);
            assert_close(&stepped.slice(s![.., ..;-2]).to_owned(), &expected, k);
            assert!(stepped.slice(s![.., ..;2]).iter().all(|&v| v == 5.0));
        }
    }

    #[test]
    fn a_broadcast_operand_works() {
        let row = random((1, 9), 12);
        let wide = row.broadcast((6, 9)).unwrap();
        let b = random((9, 4), 13);
        assert_close(&product(&wide, &b), &wide.to_owned().dot(&b), 9);
    }

    #[test]
    #[should_panic(expected = "lhs.ncols == rhs.nrows")]
    fn mismatched_inner_dimensions_panic() {
        product(&Array2::zeros((2, 3)), &Array2::zeros((4, 2)));
    }

    /// CI runs these tests on an emulated CPU without AVX2 or FMA (see
    /// `.ci/run`), with `RECTIFY_EXPECT_PORTABLE` set: there this checks that
    /// the CPU really lacks them, so that gemm chose its portable kernels.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn an_emulated_cpu_without_avx2_runs_the_portable_kernels() {
        if std::env::var_os("RECTIFY_EXPECT_PORTABLE").is_some() {
            assert!(!is_x86_feature_detected!("avx2"));
            assert!(!is_x86_feature_detected!("fma"));
        }
    }

    /// Threads split the output, never the inner sum: the bits do not depend
    /// on how many threads run a product.
    #[cfg(feature = "rayon")]
    #[test]
    fn the_thread_count_does_not_change_the_bits() {
        for (m, k, n) in [
            (256, 784, 128),
            (128, 256, 256),
            (300, 1000, 70),
            (64, 64, 32),
        ] {
            let (a, b) = (random((m, k), 15), random((k, n), 16));
            let run = |parallelism| {
                let mut dst = Array2::<f64>::zeros((m, n));
                let [rs, cs] = strides(&dst);
                // SAFETY: as in `product_into`.
                unsafe {
                    gemm::gemm(
                        m,
                        n,
                        k,
                        dst.as_mut_ptr(),
                        cs,
                        rs,
                        false,
                        a.as_ptr(),
                        1,
                        k as isize,
                        b.as_ptr(),
                        1,
                        n as isize,
                        1.0,
                        1.0,
                        false,
                        false,
                        false,
                        parallelism,
                    )
                };
                dst
            };
            let one = run(Parallelism::None);
            for threads in [2, 3, 4] {
                let many = run(Parallelism::Rayon(threads));
                let same = Zip::from(&one)
                    .and(&many)
                    .all(|a, b| a.to_bits() == b.to_bits());
                assert!(same, "{m}x{k}x{n} on {threads} threads");
            }
            assert_close(&one, &a.dot(&b), k);
        }
    }
}
