//! A latency histogram in bounded memory: exact below 128 µs, then 64
//! buckets per power of two (under 1.6 % error), like a small HdrHistogram.

const SUB_BITS: u32 = 7;
const HALF: u64 = 1 << (SUB_BITS - 1);
const BUCKETS: usize = 64 * 64 + 128;

#[derive(Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    sum: u128,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; BUCKETS],
            total: 0,
            sum: 0,
            max: 0,
        }
    }
}

fn index(v: u64) -> usize {
    if v < (1 << SUB_BITS) {
        return v as usize;
    }
    let msb = 63 - v.leading_zeros();
    let shift = msb + 1 - SUB_BITS;
    (shift as u64 * HALF + (v >> shift)) as usize
}

/// The middle of bucket `i`.
fn value(i: usize) -> u64 {
    let i = i as u64;
    if i < (1 << SUB_BITS) {
        return i;
    }
    let shift = i / HALF - 1;
    let low = (i - shift * HALF) << shift;
    low + (1 << shift) / 2
}

impl Histogram {
    /// Records `n` samples of `micros`.
    pub fn record(&mut self, micros: u64, n: u64) {
        self.counts[index(micros).min(BUCKETS - 1)] += n;
        self.total += n;
        self.sum += micros as u128 * n as u128;
        self.max = self.max.max(micros);
    }

    pub fn mean(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.sum as f64 / self.total as f64
        }
    }

    pub fn max(&self) -> u64 {
        self.max
    }

    /// The value at quantile `q` (0..=1).
    pub fn quantile(&self, q: f64) -> u64 {
        let target = ((q * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= target {
                return value(i).min(self.max);
            }
        }
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_close() {
        let mut h = Histogram::default();
        for v in 1..=100_000u64 {
            h.record(v, 1);
        }
        for (q, want) in [(0.5, 50_000.0), (0.99, 99_000.0), (0.999, 99_900.0)] {
            let got = h.quantile(q) as f64;
            assert!((got - want).abs() / want < 0.02, "q{q}: {got} vs {want}");
        }
        assert_eq!(h.max(), 100_000);
        assert_eq!(h.total, 100_000);
        assert_eq!(index(127), 127);
        assert_eq!(index(128), 128);
        assert_eq!(value(index(1_000_000)) / 10_000, 100);
    }
}
