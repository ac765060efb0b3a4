//! The text format of the PyTorch fixtures `family.txt`, `family_f32.txt`
//! and `prelu_nchw.txt` (the top of `tests/fixtures/family.py` documents
//! it): lines of words, `#` comments and blank lines skipped, each value
//! the hex bit pattern of an `f32` (8 digits) or `f64` (16 digits).

use std::iter::Peekable;

use rectify::ndarray::{Array, Dimension};

use super::bits::Bits;

/// A float type whose bit patterns the fixtures hold as hex tokens (as
/// `{:08x}` / `{:016x}` of `to_bits`).
pub trait Token: Bits {
    /// Hex digits per token.
    const DIGITS: usize;
    /// The fixtures' name of the type.
    const DTYPE: &'static str;
    /// The machine epsilon, widened.
    const EPS: f64;
    /// The value of `bits` (which fit in the type).
    fn of_bits(bits: u64) -> Self;
}

impl Token for f32 {
    const DIGITS: usize = 8;
    const DTYPE: &'static str = "float32";
    const EPS: f64 = f32::EPSILON as f64;
    fn of_bits(bits: u64) -> f32 {
        f32::from_bits(u32::try_from(bits).expect("an 8-digit token"))
    }
}

impl Token for f64 {
    const DIGITS: usize = 16;
    const DTYPE: &'static str = "float64";
    const EPS: f64 = f64::EPSILON;
    fn of_bits(bits: u64) -> f64 {
        f64::from_bits(bits)
    }
}

/// The bits of `v` as the fixtures print them.
pub fn hex<A: Token>(v: A) -> String {
    format!("{:0w$x}", v.bits(), w = A::DIGITS)
}

/// A data line: its number (from 1, for messages) and its words.
pub type Line<'a> = (usize, Vec<&'a str>);

/// A fixture's data lines.
pub struct Lines<'a> {
    file: &'static str,
    /// The lines not read yet.
    pub rest: Peekable<Box<dyn Iterator<Item = Line<'a>> + 'a>>,
}

impl<'a> Lines<'a> {
    /// The data lines of `text`, the fixture `file`.
    pub fn new(file: &'static str, text: &'a str) -> Self {
        let data: Box<dyn Iterator<Item = Line<'a>>> = Box::new(
            text.lines()
                .enumerate()
                .map(|(i, l)| (i + 1, l.trim()))
                .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
                .map(|(n, l)| (n, l.split_whitespace().collect())),
        );
        Lines {
            file,
            rest: data.peekable(),
        }
    }

    /// "`file` line `n`", for messages.
    pub fn at(&self, n: usize) -> String {
        format!("{} line {n}", self.file)
    }

    /// The next line's words; panics at the end of the file.
    pub fn next(&mut self) -> Line<'a> {
        let file = self.file;
        self.rest
            .next()
            .unwrap_or_else(|| panic!("{file} ends before `end`"))
    }

    /// The words of the next line after its first, which must be `tag`.
    pub fn tagged(&mut self, tag: &str) -> Line<'a> {
        let (n, mut words) = self.next();
        assert_eq!(words[0], tag, "{}: expected `{tag}`", self.at(n));
        words.remove(0);
        (n, words)
    }

    /// A one-line vector tagged `tag`, of `len` tokens if given.
    pub fn vector<A: Token>(&mut self, tag: &str, len: Option<usize>) -> Vec<A> {
        let (n, words) = self.tagged(tag);
        if let Some(len) = len {
            assert_eq!(words.len(), len, "{}: {len} tokens", self.at(n));
        }
        words.iter().map(|w| self.token(n, w, None)).collect()
    }

    /// An array of shape `dim`, one line tagged `tag` per innermost row,
    /// in logical order; a token `=` takes the value of the same element of
    /// `same_as`.
    pub fn array<A: Token, D: Dimension>(
        &mut self,
        tag: &str,
        dim: D,
        same_as: Option<&Array<A, D>>,
    ) -> Array<A, D> {
        let shape = dim.slice();
        let last = *shape.last().unwrap();
        let rows: usize = shape[..shape.len() - 1].iter().product();
        let mut reference = same_as.map(|a| a.iter());
        let mut values = Vec::with_capacity(rows * last);
        for _ in 0..rows {
            let (n, words) = self.tagged(tag);
            assert_eq!(words.len(), last, "{}: {last} tokens", self.at(n));
            for w in words {
                let same = reference.as_mut().map(|r| *r.next().unwrap());
                values.push(self.token(n, w, same));
            }
        }
        Array::from_shape_vec(dim, values).unwrap()
    }

    /// The value of a token of `A::DIGITS` hex digits on line `n`, or
    /// `reference` for `=`.
    fn token<A: Token>(&self, n: usize, word: &str, reference: Option<A>) -> A {
        if word == "=" {
            return reference.unwrap_or_else(|| panic!("{}: `=` not allowed", self.at(n)));
        }
        assert!(
            word.len() == A::DIGITS && word.bytes().all(|b| b.is_ascii_hexdigit()),
            "{}: token {word} is not {} hex digits",
            self.at(n),
            A::DIGITS
        );
        A::of_bits(u64::from_str_radix(word, 16).unwrap())
    }
}
