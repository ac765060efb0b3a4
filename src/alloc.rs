//! Buffers for the crate's new arrays, with huge pages for large ones.
//!
//! Writing a large fresh buffer costs one page fault per 4 KiB page, which
//! makes a new 32 MiB array cost 5 to 8 times a copy of it. On Linux, with
//! transparent huge pages in `madvise` (or `always`) mode, the kernel backs an
//! advised range with 2 MiB pages on first touch, 512 times fewer faults.
//!
//! Every new array of a method that returns `Result` is reserved here first,
//! so that a size that cannot be had is an error naming it
//! ([`LayerError::TooLarge`]), never an abort.

use ndarray::{Array, Array2, ArrayRef, Dimension};

use crate::{LayerError, Result};

/// Bytes from which [`Need::buffer`] advises huge pages.
///
/// Measured on this project's 2-core machine (THP in `madvise` mode),
/// allocating and writing fresh memory, as a ratio to a copy: at 2 and 3 MiB
/// advising changed nothing (the buffer holds at most one aligned 2 MiB page,
/// often none); from 4 MiB on, 3.8-4.5x instead of 7.3-8.9x, and 1.6-2.0x
/// instead of 5-6x from 16 MiB on. From 4 MiB, a buffer always holds at least
/// one whole aligned huge page.
#[cfg(target_os = "linux")]
const HUGE_PAGE_MIN_BYTES: usize = 4 << 20;

/// The huge page size of x86_64 and of aarch64 with 4 KiB pages. Advising a
/// range aligned to it is valid (page-aligned) with any base page size.
#[cfg(target_os = "linux")]
const HUGE_PAGE: usize = 2 << 20;

/// An array that a call needs: the layer, method and argument it is for,
/// and its shape (`[usize; N]` or `&[usize]`), to name in the error if it
/// cannot be had.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Need<S> {
    layer: &'static str,
    operation: &'static str,
    what: &'static str,
    shape: S,
}

/// The array `what` of `shape` that `layer::operation` needs.
pub(crate) fn need<S: AsRef<[usize]> + Copy>(
    layer: &'static str,
    operation: &'static str,
    what: &'static str,
    shape: S,
) -> Need<S> {
    Need {
        layer,
        operation,
        what,
        shape,
    }
}

impl<S: AsRef<[usize]> + Copy> Need<S> {
    /// [`LayerError::TooLarge`] for this array, needing `bytes`.
    fn too_large(self, bytes: Option<u128>) -> LayerError {
        LayerError::TooLarge {
            layer: self.layer,
            operation: self.operation,
            what: self.what,
            shape: self.shape.as_ref().to_vec(),
            bytes,
        }
    }

    /// The number of elements, if an array of this shape can exist: the
    /// product of its nonzero lengths fits `isize`, as ndarray requires (an
    /// array with a zero length has no elements, whatever its other lengths).
    /// The error counts 8 bytes an element.
    pub(crate) fn elements(self) -> Result<usize> {
        self.elements_of(size_of::<f64>())
    }

    /// [`Need::elements`], the error counting `size` bytes an element.
    fn elements_of(self, size: usize) -> Result<usize> {
        let shape = self.shape.as_ref();
        let nonzero = (shape.iter().filter(|&&n| n != 0))
            .try_fold(1usize, |product, &n| product.checked_mul(n))
            .filter(|&n| n <= isize::MAX as usize);
        let Some(nonzero) = nonzero else {
            let bytes = (shape.iter()).try_fold(size as u128, |b, &n| b.checked_mul(n as u128));
            return Err(self.too_large(bytes.filter(|&b| b > 0)));
        };
        Ok(if shape.contains(&0) { 0 } else { nonzero })
    }

    /// Makes room in `vec` for `len` elements in all (for this array or a
    /// buffer derived from it, such as a mask of its bits), leaving `vec`
    /// as it was if it cannot.
    pub(crate) fn reserve<T>(self, vec: &mut Vec<T>, len: usize) -> Result<()> {
        let bytes = len as u128 * size_of::<T>() as u128;
        vec.try_reserve_exact(len.saturating_sub(vec.len()))
            .map_err(|_| self.too_large(Some(bytes)))
    }

    /// An empty `Vec` with capacity for the array's elements, about to be
    /// written in full.
    ///
    /// On Linux, a buffer of at least [`HUGE_PAGE_MIN_BYTES`] is advised
    /// (`madvise(MADV_HUGEPAGE)`) to use transparent huge pages on its
    /// 2 MiB-aligned interior, before anything writes it.
    pub(crate) fn buffer<T>(self) -> Result<Vec<T>> {
        let mut buffer = Vec::new();
        self.reserve(&mut buffer, self.elements_of(size_of::<T>())?)?;
        #[cfg(target_os = "linux")]
        advise_huge_pages(&buffer);
        Ok(buffer)
    }

    /// The array's elements, all zero (`T::default()`), in a `Vec`.
    pub(crate) fn zeros<T: Clone + Default>(self) -> Result<Vec<T>> {
        let (mut zeros, len) = (Vec::new(), self.elements_of(size_of::<T>())?);
        self.reserve(&mut zeros, len)?;
        zeros.resize(len, T::default());
        Ok(zeros)
    }

    /// `a` copied into a new standard-layout array of its shape (which
    /// this need names).
    pub(crate) fn copy<A: Copy, D: Dimension>(self, a: &ArrayRef<A, D>) -> Result<Array<A, D>> {
        let mut buffer = self.buffer()?;
        match a.as_slice() {
            Some(slice) => buffer.extend_from_slice(slice),
            None => buffer.extend(a.iter().copied()),
        }
        Ok(Array::from_shape_vec(a.raw_dim(), buffer).expect("one value per element"))
    }
}

impl Need<[usize; 2]> {
    /// An array of this shape with its elements from `values`, in
    /// row-major order.
    pub(crate) fn array<A>(self, values: impl Iterator<Item = A>) -> Result<Array2<A>> {
        let mut buffer = self.buffer()?;
        buffer.extend(values);
        Ok(Array2::from_shape_vec(self.shape, buffer).expect("one value per element"))
    }
}

/// The 2 MiB-aligned interior `[first, last)` of `bytes` bytes from `start`,
/// if they are at least [`HUGE_PAGE_MIN_BYTES`].
#[cfg(target_os = "linux")]
fn huge_page_range(start: usize, bytes: usize) -> Option<(usize, usize)> {
    let first = start.next_multiple_of(HUGE_PAGE);
    let last = (start + bytes) / HUGE_PAGE * HUGE_PAGE;
    (bytes >= HUGE_PAGE_MIN_BYTES && first < last).then_some((first, last))
}

/// Advises the kernel to back the 2 MiB-aligned interior of `buffer`'s
/// allocation with huge pages, if it is large enough. The advice is only a
/// hint: a kernel without transparent huge pages, or with them off, refuses
/// or ignores it, and the buffer works as before.
#[cfg(target_os = "linux")]
fn advise_huge_pages<T>(buffer: &Vec<T>) {
    let bytes = buffer.capacity() * size_of::<T>();
    if let Some((first, last)) = huge_page_range(buffer.as_ptr() as usize, bytes) {
        // SAFETY: [first, last) lies inside `buffer`'s allocation, which this
        // function borrows, so the call touches no memory of anyone else;
        // MADV_HUGEPAGE changes only how the kernel backs those pages, never
        // what they hold, and `first` is page-aligned as madvise requires. An
        // error (EINVAL without THP support) leaves the memory as it was, and
        // is ignored since the advice is optional.
        unsafe {
            libc::madvise(
                first as *mut libc::c_void,
                last - first,
                libc::MADV_HUGEPAGE,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_empty_with_the_capacity_asked_for() {
        for len in [0, 1, 1000, (4 << 20) / 8 - 1, (4 << 20) / 8, 3 << 20] {
            let mut b = need("L", "op", "b", [len, 1]).buffer::<f64>().unwrap();
            assert_eq!(b.len(), 0);
            assert!(b.capacity() >= len);
            b.extend((0..len).map(|i| i as f64));
            assert_eq!(b.last().copied(), len.checked_sub(1).map(|i| i as f64));
        }
    }

    #[test]
    fn sizes_that_cannot_be_had_are_errors_naming_the_array() {
        let huge = 1usize << 31;
        let err = need("L", "forward", "output", [huge, huge]).buffer::<f64>();
        assert_eq!(
            err.unwrap_err().to_string(),
            "L::forward: output of shape [2147483648, 2147483648] needs \
             36893488147419103232 bytes, more than can be allocated"
        );
        // 2^59 bytes: the element count is fine, the allocation fails.
        let mut words: Vec<u64> = vec![7];
        let err = need("L", "forward", "mask", [huge, huge]).reserve(&mut words, 1 << 56);
        assert!(matches!(err, Err(LayerError::TooLarge { bytes: Some(b), .. }) if b == 1 << 59));
        assert_eq!((words.len(), words[0]), (1, 7));

        let err = need("L", "new", "weights", [usize::MAX, 0]).elements();
        assert_eq!(
            err.unwrap_err().to_string(),
            "L::new: weights of shape [18446744073709551615, 0] is larger than an array can \
             index (its nonzero lengths multiply to more than isize::MAX)"
        );
        let at_most = isize::MAX as usize;
        assert_eq!(need("L", "new", "w", [at_most, 0]).elements(), Ok(0));
        assert_eq!(need("L", "new", "w", [0, at_most, 0]).elements(), Ok(0));
        assert!(need("L", "new", "w", [at_most, 2]).elements().is_err());
        assert_eq!(need("L", "new", "w", [3, 4]).elements(), Ok(12));
    }

    #[test]
    fn copies_are_standard_layout_whatever_the_source() {
        let a = ndarray::array![[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]];
        for view in [a.view(), a.t(), a.slice(ndarray::s![..;-1, 1..])] {
            let copy = need("L", "op", "a", [view.nrows(), view.ncols()]).copy(&view);
            let copy = copy.unwrap();
            assert!(copy.is_standard_layout());
            assert_eq!(copy, view);
        }
    }

    /// The `VmFlags` of the mapping in `/proc/self/smaps` that holds `addr`.
    #[cfg(target_os = "linux")]
    fn vm_flags(addr: usize) -> String {
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let mut inside = false;
        for line in smaps.lines() {
            let range = line.split_whitespace().next().unwrap_or("");
            if let Some((lo, hi)) = range.split_once('-') {
                if let (Ok(lo), Ok(hi)) =
                    (usize::from_str_radix(lo, 16), usize::from_str_radix(hi, 16))
                {
                    inside = (lo..hi).contains(&addr);
                    continue;
                }
            }
            if inside {
                if let Some(flags) = line.strip_prefix("VmFlags:") {
                    return flags.to_string();
                }
            }
        }
        panic!("no mapping holds {addr:#x}");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_advised_range_is_the_aligned_interior_of_large_buffers() {
        const MIB: usize = 1 << 20;
        let min = HUGE_PAGE_MIN_BYTES;
        assert_eq!(huge_page_range(0, min - 8), None);
        assert_eq!(huge_page_range(0, min), Some((0, 4 * MIB)));
        assert_eq!(huge_page_range(16, min), Some((2 * MIB, 4 * MIB)));
        assert_eq!(
            huge_page_range(3 * MIB + 16, 5 * MIB),
            Some((4 * MIB, 8 * MIB))
        );
        assert_eq!(huge_page_range(16, 100 * MIB), Some((2 * MIB, 100 * MIB)));
    }

    /// A large buffer carries the kernel's `hg` (MADV_HUGEPAGE) flag on its
    /// aligned interior.
    #[cfg(target_os = "linux")]
    #[test]
    fn large_buffers_are_advised_to_use_huge_pages() {
        if !std::path::Path::new("/sys/kernel/mm/transparent_hugepage/enabled").exists() {
            eprintln!("skipped: this kernel has no transparent huge pages");
            return;
        }
        let large = (need("L", "op", "b", [HUGE_PAGE_MIN_BYTES / 8]).buffer::<f64>()).unwrap();
        let interior = (large.as_ptr() as usize).next_multiple_of(HUGE_PAGE);
        let flags = vm_flags(interior);
        assert!(flags.split_whitespace().any(|f| f == "hg"), "{flags}");
    }
}
