//! The generator's pseudo-random number source: a hand-written SplitMix64.
//!
//! Every random choice in the crate flows from a `Rng` derived from the configured seed and a
//! few integer tags, so the output depends only on the configuration, never on iteration order
//! elsewhere or on the platform.

/// SplitMix64: tiny, fast, statistically good enough for synthetic data, and trivially
/// reproducible.
#[derive(Clone, Debug)]
pub(crate) struct Rng(u64);

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// Finalizer of SplitMix64, also used to hash tags into seeds.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A seed derived from a parent seed and a list of tags; independent streams for independent
/// purposes keep one change from shifting every other random choice.
pub(crate) fn derive(seed: u64, tags: &[u64]) -> u64 {
    let mut h = mix(seed ^ 0x005E_ED0F_C10D_7A11);
    for &t in tags {
        h = mix(h ^ mix(t.wrapping_add(GOLDEN)));
    }
    h
}

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const UPPER_ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const HEX: &[u8] = b"0123456789abcdef";
const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub(crate) fn derived(seed: u64, tags: &[u64]) -> Self {
        Rng(derive(seed, tags))
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GOLDEN);
        mix(self.0)
    }

    /// Uniform in `0..n` (n > 0), by multiply-shift to avoid modulo bias worth caring about.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0);
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    pub(crate) fn index(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }

    /// Uniform in `lo..hi` (hi > lo).
    pub(crate) fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo) as u64) as i64
    }

    /// Uniform in `[0, 1)`.
    pub(crate) fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.f64() < p
    }

    pub(crate) fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.index(xs.len())]
    }

    /// Index chosen with probability proportional to `weights[i]`.
    pub(crate) fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u64 = weights.iter().map(|&w| w as u64).sum();
        let mut x = self.below(total.max(1));
        for (i, &w) in weights.iter().enumerate() {
            if x < w as u64 {
                return i;
            }
            x -= w as u64;
        }
        weights.len() - 1
    }

    /// Exponentially distributed with the given mean.
    pub(crate) fn exp(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.f64()).ln()
    }

    fn chars(&mut self, n: usize, alphabet: &[u8]) -> String {
        let mut s = String::with_capacity(n);
        for _ in 0..n {
            s.push(alphabet[self.index(alphabet.len())] as char);
        }
        s
    }

    pub(crate) fn alnum(&mut self, n: usize) -> String {
        self.chars(n, ALNUM)
    }

    pub(crate) fn upper_alnum(&mut self, n: usize) -> String {
        self.chars(n, UPPER_ALNUM)
    }

    pub(crate) fn hex(&mut self, n: usize) -> String {
        self.chars(n, HEX)
    }

    pub(crate) fn base64(&mut self, n: usize) -> String {
        self.chars(n, B64)
    }

    pub(crate) fn digits(&mut self, n: usize) -> String {
        self.chars(n, b"0123456789")
    }

    /// A random (version 4) UUID in canonical lowercase form.
    pub(crate) fn uuid(&mut self) -> String {
        let a = self.next_u64();
        let b = self.next_u64();
        let b = (b & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000;
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xFFFF,
            a & 0x0FFF,
            b >> 48,
            b & 0xFFFF_FFFF_FFFF
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_has_v4_shape() {
        let mut r = Rng::new(1);
        for _ in 0..100 {
            let u = r.uuid();
            let b = u.as_bytes();
            assert_eq!(u.len(), 36);
            assert_eq!(b[14], b'4');
            assert!(matches!(b[19], b'8' | b'9' | b'a' | b'b'), "{u}");
        }
    }

    #[test]
    fn below_stays_in_range_and_weighted_respects_zero() {
        let mut r = Rng::new(9);
        for _ in 0..1000 {
            assert!(r.below(7) < 7);
            assert_ne!(r.weighted(&[3, 0, 5]), 1);
        }
    }
}
