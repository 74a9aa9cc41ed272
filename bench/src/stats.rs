//! Rounds, medians, spread, CPU time and the machine's load: what every suite reports.

use std::time::{Duration, Instant};

/// One contender's measurements over the rounds of a suite.
#[derive(Clone, Debug, Default)]
pub struct Samples {
    /// Operations per second of wall time, one per round.
    pub rates: Vec<f64>,
    /// Process CPU microseconds per operation, one per round.
    pub cpu_us: Vec<f64>,
}

impl Samples {
    pub fn median(&self) -> f64 {
        median(&self.rates)
    }

    /// (max - min) / median, as a fraction.
    pub fn spread(&self) -> f64 {
        let (lo, hi) = self
            .rates
            .iter()
            .fold((f64::MAX, f64::MIN), |(lo, hi), &r| (lo.min(r), hi.max(r)));
        (hi - lo) / self.median()
    }

    pub fn cpu_median(&self) -> f64 {
        median(&self.cpu_us)
    }
}

pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Process CPU time (user + system).
pub fn cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: writes into a live local.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Runs `work` (which performs `ops` operations) and records its rate and CPU cost.
pub fn measure(samples: &mut Samples, ops: u64, work: impl FnOnce()) {
    let (cpu0, t0) = (cpu_time(), Instant::now());
    work();
    let (cpu, wall) = (cpu_time() - cpu0, t0.elapsed());
    samples.rates.push(ops as f64 / wall.as_secs_f64());
    samples.cpu_us.push(cpu.as_secs_f64() * 1e6 / ops as f64);
}

/// The 1-minute load average.
pub fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}
