//! The bare-GEMM baseline of the benches: `gemm` called as rectify calls it.

use rectify::ndarray::{Array2, ArrayRef2};
use rectify::Float;

/// `dst = lhs·rhs` by `gemm` on one thread.
pub fn gemm_into<A: Float>(dst: &mut Array2<A>, lhs: &ArrayRef2<A>, rhs: &ArrayRef2<A>) {
    gemm_par_into(dst, lhs, rhs, gemm::Parallelism::None)
}

/// `dst = lhs·rhs` by `gemm` with `par`'s threads.
pub fn gemm_par_into<A: Float>(
    dst: &mut Array2<A>,
    lhs: &ArrayRef2<A>,
    rhs: &ArrayRef2<A>,
    par: gemm::Parallelism,
) {
    let (m, k, n) = (lhs.nrows(), lhs.ncols(), rhs.ncols());
    assert_eq!((dst.dim(), rhs.nrows()), ((m, n), k));
    let d = [dst.strides()[0], dst.strides()[1]];
    let (l, r) = (lhs.strides(), rhs.strides());
    // SAFETY: every pointer and stride pair describes a whole array of the
    // shape given; `dst` is borrowed mutably, so it overlaps neither operand.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            d[1],
            d[0],
            false,
            lhs.as_ptr(),
            l[1],
            l[0],
            rhs.as_ptr(),
            r[1],
            r[0],
            A::one(),
            A::one(),
            false,
            false,
            false,
            par,
        )
    }
}
