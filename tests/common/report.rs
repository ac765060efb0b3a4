//! The comparison with PyTorch's bits: a report that collects mismatches,
//! and fails listing the first few.

use std::fmt::Write as _;
use std::ops::Mul;

use rectify::ndarray::{ArrayRef, ArrayView1, Dimension, IntoDimension};

use super::bits::same;
use super::tokens::{hex, Token};

/// How many mismatches a failing test prints.
const SHOWN: usize = 12;

/// The mismatches found so far; the first few are kept for the message.
#[derive(Default)]
pub struct Report {
    pub shown: Vec<String>,
    pub count: usize,
    pub checks: usize,
}

impl Report {
    pub fn mismatch(&mut self, line: String) {
        self.count += 1;
        if self.shown.len() < SHOWN {
            self.shown.push(line);
        }
    }

    /// One value: `got` must be `want` bit for bit, NaN matching NaN.
    pub fn value<A: Token>(&mut self, case: &str, what: &str, at: &str, x: A, want: A, got: A) {
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
    pub fn array<A: Token, D: Dimension>(
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
            let at = format!("{:?}", at.into_dimension().slice());
            self.value(case, what, &at, xv, w, gv);
        }
    }

    /// PReLU's slope gradient `got` after a backward of `g` on the input
    /// `x`, with one slope shared or one per index of axis 1 (the channel,
    /// or the column of a 2-D input): NaN where PyTorch's (`want`) is NaN,
    /// the same infinity, else within `n·ε` of the sum of the magnitudes of
    /// the slope's `n` terms x·g (x ≤ 0 or NaN; the product in the element
    /// type, as PyTorch computes it), the bound on any change of summation
    /// order.
    pub fn slopes_grad<A: Token + Mul<Output = A>, D: Dimension>(
        &mut self,
        case: &str,
        what: &str,
        (x, g): (&ArrayRef<A, D>, &ArrayRef<A, D>),
        want: &[A],
        got: ArrayView1<'_, A>,
    ) {
        let n = want.len();
        self.checks += 1;
        if got.len() != n {
            self.mismatch(format!(
                "{case} {what}: {} slope gradients, expected {n}",
                got.len()
            ));
            return;
        }
        let mut scale = vec![0.0f64; n];
        let mut terms = vec![0usize; n];
        for ((at, &xv), &gv) in x.view().into_dyn().indexed_iter().zip(g.iter()) {
            if xv.wide() > 0.0 {
                continue; // PyTorch's term is 0 there
            }
            let i = if n == 1 { 0 } else { at[1] };
            scale[i] += (xv * gv).wide().abs();
            terms[i] += 1;
        }
        for (i, (&want, &got)) in want.iter().zip(got.iter()).enumerate() {
            let ok = if want.wide().is_finite() {
                (got.wide() - want.wide()).abs() <= terms[i] as f64 * A::EPS * scale[i]
            } else {
                same(want, got)
            };
            if !ok {
                self.mismatch(format!(
                    "{case} {what} slope {i}: expected {} ({:e}), got {} ({:e}), {} terms of \
                     magnitude {:e}",
                    hex(want),
                    want.wide(),
                    hex(got),
                    got.wide(),
                    terms[i],
                    scale[i]
                ));
            }
        }
    }

    /// Panics listing the first mismatches, if there are any; `torch`
    /// names the PyTorch that wrote the fixture.
    pub fn finish(self, test: &str, torch: &str) {
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
