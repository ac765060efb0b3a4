//! An optimizer's element-wise pass over long parameters, cut into pieces
//! that run on the rayon pool's threads (with the `rayon` feature).
//!
//! Each element is computed by the same code whatever the cut, so a step
//! gives the same bits on any number of threads. After a backward whose
//! products ran on two threads, each core's cache holds part of the
//! gradients, and a step on one thread is slow; in pieces on both it is
//! not. Measured on the 2-core Xeon, an Sgd step with momentum of the
//! 784-256-256-10 MLP: 0.84-1.03 ms on one thread, 0.49-0.58 ms in pieces
//! (docs/performance.md, "Threads").

/// Slices of one length, cut at the same index: the arguments of an
/// element-wise pass (`None` for a state that does not exist yet).
/// Without the `rayon` feature nothing is cut.
#[cfg_attr(not(feature = "rayon"), allow(dead_code))]
pub(super) trait Split: Sized + Send {
    /// The elements of each slice.
    fn len(&self) -> usize;
    /// The slices before `mid` and the slices from `mid` on.
    fn split_at(self, mid: usize) -> (Self, Self);
}

impl<A: Sync> Split for &[A] {
    fn len(&self) -> usize {
        <[A]>::len(self)
    }

    fn split_at(self, mid: usize) -> (Self, Self) {
        <[A]>::split_at(self, mid)
    }
}

impl<A: Send> Split for &mut [A] {
    fn len(&self) -> usize {
        <[A]>::len(self)
    }

    fn split_at(self, mid: usize) -> (Self, Self) {
        self.split_at_mut(mid)
    }
}

impl<T: Split> Split for Option<T> {
    fn len(&self) -> usize {
        self.as_ref().map_or(0, T::len)
    }

    fn split_at(self, mid: usize) -> (Self, Self) {
        match self {
            Some(s) => {
                let (a, b) = s.split_at(mid);
                (Some(a), Some(b))
            }
            None => (None, None),
        }
    }
}

macro_rules! split_tuple {
    ($($t:ident $i:tt),+) => {
        /// Slices of one length; the first one's is the tuple's.
        impl<$($t: Split),+> Split for ($($t,)+) {
            fn len(&self) -> usize {
                self.0.len()
            }

            fn split_at(self, mid: usize) -> (Self, Self) {
                let halves = ($(self.$i.split_at(mid),)+);
                (($(halves.$i.0,)+), ($(halves.$i.1,)+))
            }
        }
    };
}
split_tuple!(T 0, U 1, V 2);
split_tuple!(T 0, U 1, V 2, W 3);

/// Elements from which [`run`] cuts a pass in two.
#[cfg(all(feature = "rayon", not(test)))]
const PIECE: usize = 1 << 15;

/// Small enough for the tests to reach the cut.
#[cfg(all(feature = "rayon", test))]
const PIECE: usize = 8;

/// `pass` over `slices`: on the calling thread, or, with the `rayon` feature,
/// at least 2·[`PIECE`] elements and a pool of more than one thread, over
/// the two halves on the pool's threads (each cut again the same way), the
/// results combined with `combine`.
pub(super) fn run<S: Split, R: Send>(
    slices: S,
    pass: &(impl Fn(S) -> R + Sync),
    combine: fn(R, R) -> R,
) -> R {
    #[cfg(feature = "rayon")]
    if slices.len() >= 2 * PIECE && rayon::current_num_threads() > 1 {
        let mid = slices.len() / 2;
        let (a, b) = slices.split_at(mid);
        let (ra, rb) = rayon::join(|| run(a, pass, combine), || run(b, pass, combine));
        return combine(ra, rb);
    }
    #[cfg(not(feature = "rayon"))]
    let _ = combine;
    pass(slices)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_element_is_passed_once_and_the_results_combine() {
        // 1001 elements: cut (with the rayon feature) into uneven pieces.
        let g: Vec<f64> = (0..1001).map(|i| i as f64).collect();
        let mut w = vec![0.0; g.len()];
        let mut v = vec![1.0; g.len()];
        let pass = |(w, g, v): (&mut [f64], &[f64], Option<&mut [f64]>)| {
            let v = v.expect("a state");
            for ((w, &g), v) in w.iter_mut().zip(g).zip(v) {
                *w += g;
                *v *= 2.0;
            }
            w.len()
        };
        let elements = run((&mut w[..], &g[..], Some(&mut v[..])), &pass, |a, b| a + b);
        assert_eq!(elements, g.len());
        assert_eq!(w, g);
        assert!(v.iter().all(|&v| v == 2.0));

        let none = run(
            (&mut w[..], &g[..], None::<&mut [f64]>),
            &|(w, _, v)| {
                assert!(v.is_none());
                w.len()
            },
            |a, b| a + b,
        );
        assert_eq!(none, g.len());

        // A check that fails in one element fails as a whole.
        for bad in [0, 500, 1000] {
            let mut x = vec![1.0; 1001];
            x[bad] = f64::NAN;
            let all = |(x, _, _): (&[f64], &[f64], &[f64])| x.iter().all(|x| x.is_finite());
            assert!(!run((&x[..], &g[..], &g[..]), &all, |a, b| a & b), "{bad}");
            x[bad] = 1.0;
            assert!(run((&x[..], &g[..], &g[..]), &all, |a, b| a & b));
        }
    }
}
