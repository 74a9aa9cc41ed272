//! Rounds, medians, spread, CPU time and the machine's load: what every suite reports.

use std::time::{Duration, Instant};

/// One contender's measurements over the rounds of a suite.
#[derive(Clone, Debug, Default)]
pub struct Samples {
    /// Operations per second of wall time, one per round.
    pub rates: Vec<f64>,
    /// Process CPU microseconds per operation, one per round.
    pub cpu_us: Vec<f64>,
    /// Further per-round figures a suite reports (name, one value per round), printed as
    /// medians after the CPU column.
    pub extra: Vec<(&'static str, Vec<f64>)>,
    /// Rounds measured but not counted (the suite found them invalid).
    pub dropped: usize,
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

    /// Records one round's value of the extra figure `name`.
    pub fn push_extra(&mut self, name: &'static str, value: f64) {
        match self.extra.iter_mut().find(|(n, _)| *n == name) {
            Some((_, values)) => values.push(value),
            None => self.extra.push((name, vec![value])),
        }
    }

    /// The median of the extra figure `name`, NaN if it was never recorded.
    pub fn extra_median(&self, name: &str) -> f64 {
        self.extra
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(f64::NAN, |(_, values)| median(values))
    }

    /// The extra figures' medians and the dropped rounds, for the table's last column.
    pub fn notes(&self) -> String {
        let mut parts: Vec<String> = self
            .extra
            .iter()
            .map(|(name, values)| format!("{name} {:.1}", median(values)))
            .collect();
        if self.dropped > 0 {
            parts.push(format!("{} rounds dropped", self.dropped));
        }
        parts.join(", ")
    }
}

/// The median, NaN for no values.
pub fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
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
