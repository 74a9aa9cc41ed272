//! Printing results: a table per suite, PASS/MISS goal lines, and optional Markdown.

use crate::stats::Samples;

/// One row of a suite's table.
pub struct Row {
    pub suite: &'static str,
    pub case: String,
    pub contender: &'static str,
    pub samples: Samples,
}

/// A goal: `numerator / denominator >= at_least`, both named by (case, contender).
pub struct Goal {
    pub name: String,
    pub ratio: f64,
    pub at_least: f64,
}

impl Goal {
    pub fn passed(&self) -> bool {
        self.ratio >= self.at_least
    }
}

#[derive(Default)]
pub struct Report {
    pub rows: Vec<Row>,
    pub goals: Vec<Goal>,
    /// Figures that are not rates (allocations, instructions per operation); see `extra.rs`.
    pub metrics: Vec<crate::extra::Metric>,
    /// Goals `value <= at_most` (allocations, instruction ratios); see `extra.rs`.
    pub ceilings: Vec<crate::extra::Ceiling>,
    /// What a suite measured and how, and rounds it dropped: printed under the tables.
    pub notes: Vec<String>,
}

impl Report {
    pub fn rate(&self, case: &str, contender: &str) -> Option<f64> {
        self.rows
            .iter()
            .find(|r| r.case == case && r.contender == contender)
            .map(|r| r.samples.median())
    }

    /// Adds the goal `a / b >= at_least` if both rows exist.
    pub fn goal(&mut self, name: &str, a: (&str, &str), b: (&str, &str), at_least: f64) {
        if let (Some(x), Some(y)) = (self.rate(a.0, a.1), self.rate(b.0, b.1)) {
            self.goals.push(Goal {
                name: name.to_owned(),
                ratio: x / y,
                at_least,
            });
        }
    }

    pub fn print(&self, load: f64) {
        println!("load average (1 min): {load:.2}");
        println!(
            "{:<8} {:<22} {:<14} {:>12} {:>8} {:>12}  notes",
            "suite", "case", "contender", "median op/s", "spread", "cpu us/op"
        );
        for r in &self.rows {
            println!(
                "{:<8} {:<22} {:<14} {:>12.0} {:>7.1}% {:>12.3}  {}",
                r.suite,
                r.case,
                r.contender,
                r.samples.median(),
                r.samples.spread() * 100.0,
                r.samples.cpu_median(),
                r.samples.notes()
            );
        }
        for g in &self.goals {
            let verdict = if g.passed() { "PASS" } else { "MISS" };
            println!(
                "{verdict} {}: {:.3} (goal >= {:.2})",
                g.name, g.ratio, g.at_least
            );
        }
        self.print_extra();
    }

    pub fn markdown(&self, header: &str) -> String {
        let mut out = format!(
            "{header}\n\n| suite | case | contender | median op/s | spread | CPU µs/op | notes |\n| --- | --- | --- | ---: | ---: | ---: | --- |\n"
        );
        for r in &self.rows {
            out += &format!(
                "| {} | {} | {} | {:.0} | {:.1} % | {:.3} | {} |\n",
                r.suite,
                r.case,
                r.contender,
                r.samples.median(),
                r.samples.spread() * 100.0,
                r.samples.cpu_median(),
                r.samples.notes()
            );
        }
        out += "\n| goal | ratio | target | verdict |\n| --- | ---: | ---: | --- |\n";
        for g in &self.goals {
            let verdict = if g.passed() { "PASS" } else { "MISS" };
            out += &format!(
                "| {} | {:.3} | ≥ {:.2} | {verdict} |\n",
                g.name, g.ratio, g.at_least
            );
        }
        out + &self.markdown_extra()
    }
}
