//! The phantom image: a Shepp–Logan-like head slice with T1-weighted-looking MR
//! intensities, a smooth receive-coil bias field and Rician noise.
//!
//! Geometry follows the modified Shepp–Logan phantom (Toft 1996) on the unit square
//! `[-1, 1]²`, plus one added ellipse for a skull layer and one for white matter, so the
//! tissue classes read like an MR slice: bright scalp fat, dark bone, grey matter, brighter
//! white matter, dark ventricles (CSF), a few bright (enhancing) and dark lesions.
//! Regions are painted in order, each replacing what is below it, as tissue labels do.

use crate::rng::SplitMix64;

/// Image side in pixels (rows = columns).
pub const SIZE: usize = 256;
/// Bits Stored: MR scanners commonly store 12 bits in 16-bit words.
pub const BITS_STORED: u32 = 12;

/// Standard deviation of the complex Gaussian noise, in stored-value units.
const NOISE_SIGMA: f64 = 18.0;

/// cos and sin of 18°, written out so no libm call is involved (see [`crate::rng`]).
const COS18: f64 = 0.951_056_516_295_153_5;
const SIN18: f64 = 0.309_016_994_374_947_4;

/// One painted region.
struct Ellipse {
    x0: f64,
    y0: f64,
    a: f64,
    b: f64,
    /// cos and sin of the rotation angle.
    rot: (f64, f64),
    /// T1-weighted-like signal of the tissue, before bias and noise.
    signal: f64,
}

const fn ellipse(x0: f64, y0: f64, a: f64, b: f64, rot: (f64, f64), signal: f64) -> Ellipse {
    Ellipse { x0, y0, a, b, rot, signal }
}

const NONE: (f64, f64) = (1.0, 0.0);

/// Painted in order; later regions replace earlier ones.
const REGIONS: [Ellipse; 12] = [
    ellipse(0.0, 0.0, 0.69, 0.92, NONE, 1650.0),            // scalp (fat)
    ellipse(0.0, -0.0092, 0.6762, 0.8970, NONE, 180.0),     // skull (cortical bone)
    ellipse(0.0, -0.0184, 0.6624, 0.8740, NONE, 880.0),     // grey matter
    ellipse(0.0, -0.0184, 0.5600, 0.7600, NONE, 1250.0),    // white matter (added)
    ellipse(0.22, 0.0, 0.11, 0.31, (COS18, -SIN18), 260.0), // right ventricle (CSF)
    ellipse(-0.22, 0.0, 0.16, 0.41, (COS18, SIN18), 260.0), // left ventricle (CSF)
    ellipse(0.0, 0.35, 0.21, 0.25, NONE, 1000.0),           // deep grey nucleus
    ellipse(0.0, 0.1, 0.046, 0.046, NONE, 1900.0),          // enhancing lesion
    ellipse(0.0, -0.1, 0.046, 0.046, NONE, 1900.0),         // enhancing lesion
    ellipse(-0.08, -0.605, 0.046, 0.023, NONE, 600.0),      // hypointense lesion
    ellipse(0.0, -0.606, 0.023, 0.023, NONE, 600.0),        // hypointense lesion
    ellipse(0.06, -0.605, 0.023, 0.046, NONE, 600.0),       // hypointense lesion
];

/// Noise-free, bias-free signal at a point of the unit square (y up).
fn signal(x: f64, y: f64) -> f64 {
    let mut value = 0.0;
    for e in &REGIONS {
        let (dx, dy) = (x - e.x0, y - e.y0);
        let (c, s) = e.rot;
        let xr = dx * c + dy * s;
        let yr = -dx * s + dy * c;
        if (xr / e.a) * (xr / e.a) + (yr / e.b) * (yr / e.b) <= 1.0 {
            value = e.signal;
        }
    }
    value
}

/// A smooth multiplicative field (0.75 to 1.15 inside the head), like a receive coil's
/// sensitivity.
fn bias(x: f64, y: f64) -> f64 {
    1.0 + 0.12 * x - 0.08 * y - 0.06 * (x * x + y * y) + 0.04 * x * y
}

/// Renders the phantom: row-major stored values in `[0, 2^BITS_STORED - 1]`.
///
/// Each pixel averages 2×2 sub-samples of the signal (partial-volume edges), is scaled by
/// the bias field, and gets Rician noise: the magnitude of the signal plus complex
/// Gaussian noise, as in a magnitude MR image.
pub fn render(seed: u64) -> Vec<u16> {
    let mut rng = SplitMix64::new(seed);
    let max = f64::from((1u32 << BITS_STORED) - 1);
    let step = 2.0 / SIZE as f64;
    let mut pixels = Vec::with_capacity(SIZE * SIZE);
    for row in 0..SIZE {
        for col in 0..SIZE {
            // Pixel centre in the unit square, row 0 at the top (anterior).
            let x = -1.0 + (col as f64 + 0.5) * step;
            let y = 1.0 - (row as f64 + 0.5) * step;
            let q = step / 4.0;
            let clean =
                (signal(x - q, y - q) + signal(x + q, y - q) + signal(x - q, y + q) + signal(x + q, y + q)) / 4.0;
            let real = clean * bias(x, y) + NOISE_SIGMA * rng.gaussian();
            let imaginary = NOISE_SIGMA * rng.gaussian();
            let magnitude = (real * real + imaginary * imaginary).sqrt();
            pixels.push(magnitude.round().clamp(0.0, max) as u16);
        }
    }
    pixels
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test reports failure
mod tests {
    use super::*;

    #[test]
    fn rotation_constants_are_cos_and_sin_of_18_degrees() {
        let rad = 18f64.to_radians();
        assert!((COS18 - rad.cos()).abs() < 1e-15);
        assert!((SIN18 - rad.sin()).abs() < 1e-15);
    }

    #[test]
    fn tissues_sit_where_the_phantom_puts_them() {
        assert_eq!(signal(0.0, 0.99), 0.0, "outside the head");
        assert_eq!(signal(0.0, 0.915), 1650.0, "scalp");
        assert_eq!(signal(0.0, 0.0), 1250.0, "white matter at the centre");
        assert_eq!(signal(0.22, 0.0), 260.0, "right ventricle");
        assert_eq!(signal(0.0, 0.1), 1900.0, "enhancing lesion");
        assert_eq!(signal(0.6, -0.0184), 880.0, "grey matter outside the white matter");
    }

    #[test]
    fn bias_field_is_smooth_and_moderate() {
        for i in 0..=20 {
            for j in 0..=20 {
                let (x, y) = (-1.0 + 0.1 * f64::from(i), -1.0 + 0.1 * f64::from(j));
                if signal(x, y) == 0.0 {
                    continue; // outside the head the field multiplies nothing
                }
                let b = bias(x, y);
                assert!((0.75..=1.15).contains(&b), "{x} {y} {b}");
            }
        }
    }

    #[test]
    fn render_is_deterministic_in_range_and_noisy_in_the_background() {
        let a = render(1);
        assert_eq!(a, render(1));
        assert_ne!(a, render(2));
        assert_eq!(a.len(), SIZE * SIZE);
        assert!(a.iter().all(|&v| u32::from(v) < (1 << BITS_STORED)));
        // Background corner: Rayleigh noise, mean sigma·sqrt(pi/2) ≈ 22.6.
        let corner: Vec<f64> =
            (0..16).flat_map(|r| (0..16).map(move |c| (r, c))).map(|(r, c)| f64::from(a[r * SIZE + c])).collect();
        let mean = corner.iter().sum::<f64>() / corner.len() as f64;
        assert!((15.0..30.0).contains(&mean), "{mean}");
    }
}
