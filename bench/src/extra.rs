//! What the `copy`, `alloc` and `instr` suites add to a report: figures that are not rates
//! (allocations, bytes, instructions per operation), goals with a ceiling (`value <= at_most`),
//! notes, and the whole report as JSON (`--json FILE`).

use serde_json::{Value, json};

use crate::machine;
use crate::report::Report;

/// A figure that is not a rate, for one (case, contender): allocations/op, Ir/op, bytes/s.
pub struct Metric {
    pub suite: &'static str,
    pub case: String,
    pub contender: &'static str,
    pub name: &'static str,
    pub value: f64,
}

/// A goal `value <= at_most`. `value: None` means it could not be measured: that is a MISS,
/// and `why` says what stopped it.
pub struct Ceiling {
    pub name: String,
    pub value: Option<f64>,
    pub at_most: f64,
    pub why: String,
}

impl Ceiling {
    pub fn passed(&self) -> bool {
        self.value.is_some_and(|v| v <= self.at_most)
    }

    fn shown(&self) -> String {
        match self.value {
            Some(v) => format!("{v:.3}"),
            None => format!("not run: {}", self.why),
        }
    }
}

fn verdict(passed: bool) -> &'static str {
    if passed { "PASS" } else { "MISS" }
}

impl Report {
    pub fn metric(
        &mut self,
        suite: &'static str,
        case: &str,
        contender: &'static str,
        name: &'static str,
        value: f64,
    ) {
        self.metrics.push(Metric {
            suite,
            case: case.to_owned(),
            contender,
            name,
            value,
        });
    }

    /// Adds the goal `value <= at_most`.
    pub fn ceiling(&mut self, name: &str, value: f64, at_most: f64) {
        self.ceilings.push(Ceiling {
            name: name.to_owned(),
            value: Some(value),
            at_most,
            why: String::new(),
        });
    }

    /// Adds a goal that could not be measured: a MISS that says why.
    pub fn not_run(&mut self, name: &str, at_most: f64, why: &str) {
        self.ceilings.push(Ceiling {
            name: name.to_owned(),
            value: None,
            at_most,
            why: why.to_owned(),
        });
    }

    pub fn metric_value(&self, case: &str, contender: &str, name: &str) -> Option<f64> {
        self.metrics
            .iter()
            .find(|m| m.case == case && m.contender == contender && m.name == name)
            .map(|m| m.value)
    }

    pub(crate) fn print_extra(&self) {
        if !self.metrics.is_empty() {
            println!(
                "{:<8} {:<28} {:<22} {:<16} {:>14}",
                "suite", "case", "contender", "metric", "value"
            );
            for m in &self.metrics {
                println!(
                    "{:<8} {:<28} {:<22} {:<16} {:>14.3}",
                    m.suite, m.case, m.contender, m.name, m.value
                );
            }
        }
        for c in &self.ceilings {
            println!(
                "{} {}: {} (goal <= {:.2})",
                verdict(c.passed()),
                c.name,
                c.shown(),
                c.at_most
            );
        }
        for n in &self.notes {
            println!("note: {n}");
        }
    }

    pub(crate) fn markdown_extra(&self) -> String {
        let mut out = String::new();
        if !self.metrics.is_empty() {
            out += "\n| suite | case | contender | metric | value |\n| --- | --- | --- | --- | ---: |\n";
            for m in &self.metrics {
                out += &format!(
                    "| {} | {} | {} | {} | {:.3} |\n",
                    m.suite, m.case, m.contender, m.name, m.value
                );
            }
        }
        if !self.ceilings.is_empty() {
            out += "\n| goal | value | target | verdict |\n| --- | ---: | ---: | --- |\n";
            for c in &self.ceilings {
                out += &format!(
                    "| {} | {} | ≤ {:.2} | {} |\n",
                    c.name,
                    c.shown(),
                    c.at_most,
                    verdict(c.passed())
                );
            }
        }
        if !self.notes.is_empty() {
            out += "\n";
            for n in &self.notes {
                out += &format!("- {n}\n");
            }
        }
        out
    }

    /// Every row, metric, goal and note, with the machine it ran on.
    pub fn json(&self, command: &[String], quick: bool, rounds: usize, load: f64) -> Value {
        let rows: Vec<Value> = self
            .rows
            .iter()
            .map(|r| {
                let mut metrics: serde_json::Map<String, Value> = self
                    .metrics
                    .iter()
                    .filter(|m| {
                        m.suite == r.suite && m.case == r.case && m.contender == r.contender
                    })
                    .map(|m| (m.name.to_owned(), json!(m.value)))
                    .collect();
                // Per-round figures of the row itself (echo: server busy %, p50, p99).
                for (name, _) in &r.samples.extra {
                    metrics.insert((*name).to_owned(), json!(r.samples.extra_median(name)));
                }
                json!({
                    "suite": r.suite,
                    "case": r.case,
                    "contender": r.contender,
                    "median_ops_per_s": r.samples.median(),
                    "spread": r.samples.spread(),
                    "cpu_us_per_op": r.samples.cpu_median(),
                    "rates": r.samples.rates,
                    "cpu_us": r.samples.cpu_us,
                    "dropped_rounds": r.samples.dropped,
                    "metrics": metrics,
                })
            })
            .collect();
        let metrics: Vec<Value> = self
            .metrics
            .iter()
            .map(|m| {
                json!({
                    "suite": m.suite,
                    "case": m.case,
                    "contender": m.contender,
                    "metric": m.name,
                    "value": m.value,
                })
            })
            .collect();
        let mut goals: Vec<Value> = self
            .goals
            .iter()
            .map(|g| {
                json!({
                    "goal": g.name,
                    "ratio": g.ratio,
                    "target": g.at_least,
                    "comparison": ">=",
                    "verdict": verdict(g.passed()),
                })
            })
            .collect();
        goals.extend(self.ceilings.iter().map(|c| {
            json!({
                "goal": c.name,
                "ratio": c.value,
                "target": c.at_most,
                "comparison": "<=",
                "verdict": verdict(c.passed()),
                "not_run": if c.value.is_none() { Some(&c.why) } else { None },
            })
        }));
        json!({
            "command": command,
            "quick": quick,
            "rounds": rounds,
            "machine": {
                "date": machine::date(),
                "cpus": machine::cpus(),
                "cpu_model": machine::cpu_model(),
                "kernel": machine::kernel(),
                "load_average_1min_start": load,
                "load_average_1min_end": crate::stats::load_average(),
            },
            "rows": rows,
            "metrics": metrics,
            "goals": goals,
            "notes": self.notes,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::report::{Report, Row};
    use crate::stats::Samples;

    #[test]
    fn json_has_rows_metrics_goals_and_verdicts() {
        let mut report = Report::default();
        for (contender, rate) in [("a", 90.0), ("b", 100.0)] {
            report.rows.push(Row {
                suite: "copy",
                case: "c".into(),
                contender,
                samples: Samples {
                    rates: vec![rate],
                    cpu_us: vec![1.0],
                    ..Samples::default()
                },
            });
        }
        report.metric("copy", "c", "a", "bytes/s", 5.0);
        report.goal("a/b", ("c", "a"), ("c", "b"), 0.95);
        report.ceiling("allocs", 0.0, 0.0);
        report.not_run("instr", 2.0, "valgrind not installed");
        let v = report.json(&["copy".into()], true, 3, 0.5);
        assert_eq!(v["rows"][0]["metrics"]["bytes/s"], 5.0);
        assert_eq!(v["rows"][1]["median_ops_per_s"], 100.0);
        let verdicts: Vec<&str> = v["goals"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["verdict"].as_str().unwrap())
            .collect();
        assert_eq!(verdicts, ["MISS", "PASS", "MISS"]);
        assert_eq!(v["goals"][2]["not_run"], "valgrind not installed");
        assert_eq!(v["goals"][2]["ratio"], serde_json::Value::Null);
        assert_eq!(v["machine"]["load_average_1min_start"], 0.5);
    }
}
