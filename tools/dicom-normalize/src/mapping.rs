//! The normalization itself: a linear map from the image's modality-value range onto the
//! requested range, expressed back in stored values.
//!
//! With stored value `s`, Rescale Slope `k` and Rescale Intercept `b` (PS3.3 C.11.1.1.2),
//! the modality value is `m = k·s + b`. Over all samples of all frames let `lo = min m` and
//! `hi = max m`. For the requested range `[MIN, MAX]`:
//!
//! ```text
//! scale = (MAX − MIN) / (hi − lo)                     (computed once)
//! m'    = MIN + (m − lo) · scale     if hi > lo
//! m'    = MIN                        if hi = lo        (constant image)
//! s'    = round_half_away_from_zero((m' − b) / k)
//! s'    = clamp(s', round((MIN − b)/k), round((MAX − b)/k))   (bounds ordered by sign of k)
//! ```
//!
//! All arithmetic is IEEE 754 binary64 in exactly this order, so an independent
//! implementation doing the same operations gets bit-identical results. The clamp only
//! matters when floating-point error pushes `m'` a hair outside `[MIN, MAX]` at a rounding
//! tie; both clamp bounds are checked up front to be representable with Bits Stored and
//! Pixel Representation, which is why no value can leave the representable range.

/// Why the map cannot be built.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MappingError {
    /// Rescale Slope of zero or not finite: modality values would not be an invertible map.
    #[error("Rescale Slope {slope} cannot be inverted (it must be finite and non-zero)")]
    InvalidRescale {
        /// The slope found.
        slope: f64,
    },
    /// A bound of the requested range maps to a stored value out of the representable range.
    #[error(
        "{bound} {value} cannot be represented: it needs stored value {stored}, but Bits Stored {bits_stored} \
         with {signedness} pixels allows only [{repr_min}, {repr_max}], which with Rescale Slope {slope} and \
         Intercept {intercept} covers modality values [{modality_min}, {modality_max}]"
    )]
    Unrepresentable {
        /// `--min` or `--max`.
        bound: &'static str,
        /// The requested modality value.
        value: f64,
        /// The stored value it would need, after rounding.
        stored: f64,
        /// Bits Stored of the image.
        bits_stored: u16,
        /// `signed` or `unsigned`.
        signedness: &'static str,
        /// Smallest representable stored value.
        repr_min: i32,
        /// Largest representable stored value.
        repr_max: i32,
        /// Rescale Slope.
        slope: f64,
        /// Rescale Intercept.
        intercept: f64,
        /// Modality value of the representable range's lower end.
        modality_min: f64,
        /// Modality value of the representable range's upper end.
        modality_max: f64,
    },
}

impl MappingError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            MappingError::Unrepresentable { modality_min, modality_max, .. } => Some(format!(
                "choose `--min` and `--max` within [{modality_min}, {modality_max}]; the output keeps the input's Bits Stored, Pixel Representation and rescale"
            )),
            MappingError::InvalidRescale { .. } => None,
        }
    }
}

/// The Modality LUT as a linear rescale: `m = slope · s + intercept`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rescale {
    /// Rescale Slope (0028,1053).
    pub slope: f64,
    /// Rescale Intercept (0028,1052).
    pub intercept: f64,
}

impl Rescale {
    /// The identity rescale (slope 1, intercept 0), the default when the attributes are absent.
    pub const IDENTITY: Rescale = Rescale { slope: 1.0, intercept: 0.0 };

    /// Modality value of a stored value.
    pub fn modality(&self, stored: i32) -> f64 {
        self.slope * f64::from(stored) + self.intercept
    }

    /// Stored value (before rounding) of a modality value.
    pub fn stored(&self, modality: f64) -> f64 {
        (modality - self.intercept) / self.slope
    }
}

/// The requested output range, in modality values. `min <= max`, both finite.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TargetRange {
    min: f64,
    max: f64,
}

impl TargetRange {
    /// Checks the bounds: both finite and `min <= max`.
    pub fn new(min: f64, max: f64) -> Option<Self> {
        (min.is_finite() && max.is_finite() && min <= max).then_some(Self { min, max })
    }

    /// Lower bound.
    pub fn min(&self) -> f64 {
        self.min
    }

    /// Upper bound.
    pub fn max(&self) -> f64 {
        self.max
    }
}

/// The stored representation's limits, from Bits Stored and Pixel Representation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Representation {
    /// Bits Stored.
    pub bits_stored: u16,
    /// Pixel Representation 1.
    pub signed: bool,
    /// Smallest representable stored value.
    pub min: i32,
    /// Largest representable stored value.
    pub max: i32,
}

/// A ready-to-apply map from input stored values to output stored values.
#[derive(Debug, Clone, PartialEq)]
pub struct LinearMap {
    rescale: Rescale,
    target: TargetRange,
    lo: f64,
    hi: f64,
    scale: f64,
    clamp_lo: i32,
    clamp_hi: i32,
}

impl LinearMap {
    /// Builds the map for an image whose stored values span `[stored_min, stored_max]`.
    pub fn new(
        stored_min: i32,
        stored_max: i32,
        rescale: Rescale,
        target: TargetRange,
        repr: Representation,
    ) -> Result<Self, MappingError> {
        if !rescale.slope.is_finite() || rescale.slope == 0.0 || !rescale.intercept.is_finite() {
            return Err(MappingError::InvalidRescale { slope: rescale.slope });
        }
        // The rescale is monotone, so the modality extremes sit at the stored extremes
        // (swapped for a negative slope); IEEE multiplication and addition are monotone too,
        // so this equals the minimum of the per-sample modality values bit for bit.
        let (a, b) = (rescale.modality(stored_min), rescale.modality(stored_max));
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        let stored_bound = |bound: &'static str, value: f64| -> Result<i32, MappingError> {
            let stored = rescale.stored(value).round();
            if stored < f64::from(repr.min) || stored > f64::from(repr.max) {
                let (m1, m2) = (rescale.modality(repr.min), rescale.modality(repr.max));
                return Err(MappingError::Unrepresentable {
                    bound,
                    value,
                    stored,
                    bits_stored: repr.bits_stored,
                    signedness: if repr.signed { "signed" } else { "unsigned" },
                    repr_min: repr.min,
                    repr_max: repr.max,
                    slope: rescale.slope,
                    intercept: rescale.intercept,
                    modality_min: m1.min(m2),
                    modality_max: m1.max(m2),
                });
            }
            Ok(stored as i32)
        };
        let s_min = stored_bound("--min", target.min)?;
        let s_max = stored_bound("--max", target.max)?;
        let (clamp_lo, clamp_hi) = if s_min <= s_max { (s_min, s_max) } else { (s_max, s_min) };
        let scale = if hi > lo { (target.max - target.min) / (hi - lo) } else { 0.0 };
        Ok(Self { rescale, target, lo, hi, scale, clamp_lo, clamp_hi })
    }

    /// The input modality range `[lo, hi]`.
    pub fn input_range(&self) -> (f64, f64) {
        (self.lo, self.hi)
    }

    /// The output modality value of an input stored value, before conversion to stored.
    pub fn modality_out(&self, stored: i32) -> f64 {
        if self.hi > self.lo {
            self.target.min + (self.rescale.modality(stored) - self.lo) * self.scale
        } else {
            self.target.min
        }
    }

    /// The output stored value of an input stored value.
    pub fn apply(&self, stored: i32) -> i32 {
        let s = self.rescale.stored(self.modality_out(stored)).round();
        // `as` saturates, and the clamp bounds are representable i32 values.
        s.clamp(f64::from(self.clamp_lo), f64::from(self.clamp_hi)) as i32
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test reports failure
mod tests {
    use super::*;

    const U12: Representation = Representation { bits_stored: 12, signed: false, min: 0, max: 4095 };
    const S16: Representation = Representation { bits_stored: 16, signed: true, min: -32768, max: 32767 };

    fn target(min: f64, max: f64) -> TargetRange {
        TargetRange::new(min, max).unwrap()
    }

    #[test]
    fn target_range_rejects_reversed_and_non_finite_bounds() {
        assert!(TargetRange::new(10.0, 0.0).is_none());
        assert!(TargetRange::new(f64::NAN, 1.0).is_none());
        assert!(TargetRange::new(0.0, f64::INFINITY).is_none());
        assert!(TargetRange::new(5.0, 5.0).is_some());
    }

    #[test]
    fn extremes_map_to_the_bounds() {
        let map = LinearMap::new(100, 1100, Rescale::IDENTITY, target(0.0, 1000.0), U12).unwrap();
        assert_eq!(map.apply(100), 0);
        assert_eq!(map.apply(1100), 1000);
        assert_eq!(map.apply(600), 500);
        assert_eq!(map.input_range(), (100.0, 1100.0));
    }

    #[test]
    fn rounding_is_half_away_from_zero() {
        // [0, 4] -> [0, 2]: stored 1 -> 0.5 -> 1, stored 3 -> 1.5 -> 2.
        let map = LinearMap::new(0, 4, Rescale::IDENTITY, target(0.0, 2.0), U12).unwrap();
        assert_eq!((0..=4).map(|s| map.apply(s)).collect::<Vec<_>>(), [0, 1, 1, 2, 2]);
        // Negative side: [-4, 0] -> [-2, 0]: -1 -> -0.5 -> -1, -3 -> -1.5 -> -2.
        let map = LinearMap::new(-4, 0, Rescale::IDENTITY, target(-2.0, 0.0), S16).unwrap();
        assert_eq!((-4..=0).map(|s| map.apply(s)).collect::<Vec<_>>(), [-2, -2, -1, -1, 0]);
    }

    #[test]
    fn constant_image_maps_everything_to_min() {
        let map = LinearMap::new(700, 700, Rescale::IDENTITY, target(10.0, 20.0), U12).unwrap();
        assert_eq!(map.apply(700), 10);
    }

    #[test]
    fn range_is_expressed_in_modality_values() {
        // CT-like: stored 0..=4095, slope 1, intercept -1024 -> modality -1024..=3071.
        let ct = Rescale { slope: 1.0, intercept: -1024.0 };
        let map = LinearMap::new(0, 4095, ct, target(-1000.0, 1000.0), U12).unwrap();
        // Modality -1000 is stored 24, modality 1000 is stored 2024.
        assert_eq!(map.apply(0), 24);
        assert_eq!(map.apply(4095), 2024);
    }

    #[test]
    fn slope_two_rounds_the_stored_bounds() {
        let r = Rescale { slope: 2.0, intercept: 0.0 };
        // [0, 7] stored -> modality [0, 14] -> [0, 7] modality -> stored [0, 3.5 -> 4].
        let map = LinearMap::new(0, 7, r, target(0.0, 7.0), U12).unwrap();
        assert_eq!(map.apply(0), 0);
        assert_eq!(map.apply(7), 4);
    }

    #[test]
    fn negative_slope_keeps_modality_order() {
        let r = Rescale { slope: -1.0, intercept: 100.0 };
        // Stored 0 is modality 100 (hi), stored 100 is modality 0 (lo).
        let map = LinearMap::new(0, 100, r, target(0.0, 10.0), U12).unwrap();
        assert_eq!(map.input_range(), (0.0, 100.0));
        // Output modality 10 is stored 90, modality 0 is stored 100.
        assert_eq!(map.apply(0), 90);
        assert_eq!(map.apply(100), 100);
    }

    #[test]
    fn unrepresentable_bound_names_the_bound_and_the_range() {
        let err = LinearMap::new(0, 10, Rescale::IDENTITY, target(-1.0, 100.0), U12).unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("--min -1 cannot be represented"), "{msg}");
        assert!(msg.contains("[0, 4095]"), "{msg}");
        assert!(err.hint().unwrap().contains("[0, 4095]"));
        let err = LinearMap::new(0, 10, Rescale::IDENTITY, target(0.0, 5000.0), U12).unwrap_err();
        assert!(err.to_string().starts_with("--max 5000"), "{err}");
    }

    #[test]
    fn zero_slope_is_refused() {
        let r = Rescale { slope: 0.0, intercept: 1.0 };
        assert_eq!(LinearMap::new(0, 1, r, target(0.0, 1.0), U12), Err(MappingError::InvalidRescale { slope: 0.0 }));
    }

    #[test]
    fn output_never_leaves_the_requested_stored_range() {
        // Awkward scales that do not divide evenly.
        for (lo, hi, min, max) in [(3, 4093, 1.0, 4094.0), (-7, 30001, -3.3, 77.7), (0, 1, 0.0, 0.4)] {
            let repr = S16;
            let map = LinearMap::new(lo, hi, Rescale::IDENTITY, target(min, max), repr).unwrap();
            for s in lo..=hi {
                let out = map.apply(s);
                assert!(out >= min.round() as i32 && out <= max.round() as i32, "{s} -> {out}");
            }
        }
    }
}
