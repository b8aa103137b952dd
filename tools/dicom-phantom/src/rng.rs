//! A tiny deterministic random number generator (SplitMix64) and the noise drawn from it.
//!
//! Written out here instead of using `rand` so that the committed sample file can be
//! reproduced byte for byte forever: `rand`'s algorithms and value streams may change
//! between versions, and Box–Muller would need `ln`/`cos`, whose last bit differs between
//! libm implementations. Everything below uses only integer operations and IEEE 754
//! additions and multiplications, which are exact-rounded on every platform.

/// SplitMix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number generators",
/// OOPSLA 2014), the generator `java.util.SplittableRandom` uses.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator whose stream is fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Approximately standard normal: the Irwin–Hall sum of 12 uniforms, minus 6.
    ///
    /// Mean 0, variance exactly 1, tails cut at ±6σ — plenty for image noise, and free of
    /// transcendental functions (see the module documentation).
    pub fn gaussian(&mut self) -> f64 {
        let mut sum = 0.0;
        for _ in 0..12 {
            sum += self.uniform();
        }
        sum - 6.0
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test reports failure
mod tests {
    use super::*;

    #[test]
    fn splitmix64_matches_the_reference_stream() {
        // First outputs of the reference C implementation seeded with 1234567.
        let mut rng = SplitMix64::new(1_234_567);
        assert_eq!(rng.next_u64(), 6_457_827_717_110_365_317);
        assert_eq!(rng.next_u64(), 3_203_168_211_198_807_973);
        assert_eq!(rng.next_u64(), 9_817_491_932_198_370_423);
    }

    #[test]
    fn gaussian_has_unit_variance_and_zero_mean() {
        let mut rng = SplitMix64::new(7);
        let n = 200_000;
        let samples: Vec<f64> = (0..n).map(|_| rng.gaussian()).collect();
        let mean = samples.iter().sum::<f64>() / n as f64;
        let var = samples.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.01, "{mean}");
        assert!((var - 1.0).abs() < 0.02, "{var}");
        assert!(samples.iter().all(|x| x.abs() <= 6.0));
    }

    #[test]
    fn uniform_stays_in_the_half_open_unit_interval() {
        let mut rng = SplitMix64::new(0);
        assert!((0..10_000).map(|_| rng.uniform()).all(|u| (0.0..1.0).contains(&u)));
    }
}
