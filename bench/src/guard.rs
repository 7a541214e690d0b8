//! The regression guard's bookkeeping: named figures, the baseline file, and the comparison
//! of a run with it (`--save FILE`, `--check FILE`). What is measured is in `suite.rs`.
//!
//! Every figure says which way is better and how far it may move the wrong way before the
//! check fails: its noise margin, a fraction of the baseline value. Ratios of two things measured
//! in the same run (Versa vs a bare Runtime API loop, events executed vs accepted, durable
//! writes vs a raw SQLite commit loop) cancel most of this machine's noise and get a narrow
//! margin; absolute figures get a wide one. The margins are written into the baseline file next
//! to each value, so the file states what it allows and can be edited by hand.
//!
//! - higher is better: fails when `now < baseline × (1 − margin)`;
//! - lower is better: fails when `now > baseline × (1 + margin)`;
//! - a figure in the baseline that the run did not produce fails (a row disappeared);
//! - a figure the baseline does not have is listed as new and passes;
//! - an improvement always passes.

use anyhow::{Context, bail};
use serde_json::{Value, json};

/// A ratio of two figures measured in the same run may drop this much (15 %).
pub const MARGIN_RATIO: f64 = 0.15;
/// A durable-write rate over the raw SQLite commit rate may drop this much (35 %): both wait on
/// fsync, whose latency on a shared disk jumps between runs seconds apart.
pub const MARGIN_FSYNC_RATIO: f64 = 0.35;
/// An absolute throughput (ops/s) may drop this much (35 %): other load on the machine moves it.
pub const MARGIN_THROUGHPUT: f64 = 0.35;
/// A median latency may grow this much (60 %).
pub const MARGIN_P50: f64 = 0.6;
/// A tail latency (p99) may grow this much (150 %, i.e. to 2.5×): one preempted thread moves it.
pub const MARGIN_TAIL: f64 = 1.5;
/// The server's CPU time per invocation may grow this much (35 %): measured, the same build
/// moved 88–114 µs (8 clients) and 110–152 µs (64 clients) between runs minutes apart, as much
/// as the rates: a busy machine slows the server's caches as well as its clock.
pub const MARGIN_CPU: f64 = 0.35;
/// The format of the baseline file.
const FORMAT: u64 = 1;

/// Which direction is an improvement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    Higher,
    Lower,
}

impl Better {
    fn as_str(self) -> &'static str {
        match self {
            Better::Higher => "higher",
            Better::Lower => "lower",
        }
    }

    fn parse(s: &str) -> Option<Better> {
        match s {
            "higher" => Some(Better::Higher),
            "lower" => Some(Better::Lower),
            _ => None,
        }
    }
}

/// One measured figure.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// Stable identifier, e.g. `warm.c8.vs_bare`.
    pub name: String,
    pub value: f64,
    /// `ops/s`, `µs`, `ms`, `x` (a ratio).
    pub unit: &'static str,
    pub better: Better,
    /// The fraction the value may move the wrong way.
    pub margin: f64,
}

impl Figure {
    pub fn ratio(name: &str, value: f64) -> Figure {
        Figure { name: name.to_owned(), value, unit: "x", better: Better::Higher, margin: MARGIN_RATIO }
    }

    pub fn throughput(name: &str, value: f64) -> Figure {
        Figure { name: name.to_owned(), value, unit: "ops/s", better: Better::Higher, margin: MARGIN_THROUGHPUT }
    }

    /// A latency: `tail` selects the wider margin.
    pub fn latency(name: &str, value: f64, unit: &'static str, tail: bool) -> Figure {
        let margin = if tail { MARGIN_TAIL } else { MARGIN_P50 };
        Figure { name: name.to_owned(), value, unit, better: Better::Lower, margin }
    }

    /// CPU time per operation, in µs (lower is better).
    pub fn cpu(name: &str, value: f64) -> Figure {
        Figure { name: name.to_owned(), value, unit: "µs", better: Better::Lower, margin: MARGIN_CPU }
    }

    /// The worst value that still passes against this figure as a baseline.
    pub fn allowed(&self) -> f64 {
        match self.better {
            Better::Higher => self.value * (1.0 - self.margin),
            Better::Lower => self.value * (1.0 + self.margin),
        }
    }

    /// Whether `now` is at least as good as this (baseline) figure allows.
    pub fn passes(&self, now: f64) -> bool {
        match self.better {
            Better::Higher => now >= self.allowed(),
            Better::Lower => now <= self.allowed(),
        }
    }
}

/// Of several rounds of the same figures, the best value of each (noise only ever makes a
/// figure worse); figures keep the first round's order.
pub fn best_of(rounds: &[Vec<Figure>]) -> Vec<Figure> {
    let mut out: Vec<Figure> = Vec::new();
    for round in rounds {
        for f in round {
            match out.iter_mut().find(|o| o.name == f.name) {
                Some(o) => {
                    let better = match f.better {
                        Better::Higher => f.value > o.value,
                        Better::Lower => f.value < o.value,
                    };
                    if better {
                        o.value = f.value;
                    }
                }
                None => out.push(f.clone()),
            }
        }
    }
    out
}

/// A stored baseline: the figures and how they were recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct Baseline {
    /// Free text: the exact command, the machine, `uptime` at recording.
    pub comment: String,
    /// Measured against a `versa server` process (`--server-process`) rather than in-process:
    /// the two differ (in-process, client and server share one runtime), so they never compare.
    pub server_process: bool,
    pub figures: Vec<Figure>,
}

impl Baseline {
    pub fn to_json(&self) -> String {
        let figures: Vec<Value> = self
            .figures
            .iter()
            .map(|f| {
                json!({
                    "name": f.name,
                    "value": (f.value * 1000.0).round() / 1000.0,
                    "unit": f.unit,
                    "better": f.better.as_str(),
                    "margin": f.margin,
                })
            })
            .collect();
        let v = json!({
            "format": FORMAT,
            "comment": self.comment,
            "server_process": self.server_process,
            "figures": figures,
        });
        serde_json::to_string_pretty(&v).expect("a JSON value serialises") + "\n"
    }

    pub fn from_json(text: &str) -> anyhow::Result<Baseline> {
        let v: Value = serde_json::from_str(text).context("the baseline is not JSON")?;
        if v["format"].as_u64() != Some(FORMAT) {
            bail!("the baseline's \"format\" is not {FORMAT}");
        }
        let mut figures = Vec::new();
        for f in v["figures"].as_array().context("the baseline has no \"figures\" array")? {
            let name = f["name"].as_str().context("a figure without \"name\"")?;
            let value = f["value"].as_f64().with_context(|| format!("{name}: no numeric \"value\""))?;
            let better = f["better"]
                .as_str()
                .and_then(Better::parse)
                .with_context(|| format!("{name}: \"better\" must be \"higher\" or \"lower\""))?;
            let margin = f["margin"].as_f64().with_context(|| format!("{name}: no numeric \"margin\""))?;
            if !(0.0..=100.0).contains(&margin) {
                bail!("{name}: margin {margin} is not a fraction ≥ 0");
            }
            let unit = match f["unit"].as_str().unwrap_or("") {
                "ops/s" => "ops/s",
                "µs" => "µs",
                "ms" => "ms",
                "x" => "x",
                "MB" => "MB",
                _ => "",
            };
            figures.push(Figure { name: name.to_owned(), value, unit, better, margin });
        }
        Ok(Baseline {
            comment: v["comment"].as_str().unwrap_or_default().to_owned(),
            server_process: v["server_process"].as_bool().unwrap_or(false),
            figures,
        })
    }
}

/// The verdict on one figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    /// Better than the baseline by more than its margin: worth recording a new baseline.
    Improved,
    Regressed,
    /// In the baseline, not in this run.
    Missing,
    /// In this run, not in the baseline.
    New,
}

impl Verdict {
    pub fn fails(self) -> bool {
        matches!(self, Verdict::Regressed | Verdict::Missing)
    }

    fn as_str(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Improved => "ok (improved)",
            Verdict::Regressed => "REGRESSED",
            Verdict::Missing => "MISSING",
            Verdict::New => "new",
        }
    }
}

/// One row of the comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub name: String,
    pub unit: &'static str,
    pub baseline: Option<f64>,
    pub now: Option<f64>,
    /// The worst value that passes, and the margin it comes from.
    pub allowed: Option<(f64, f64, Better)>,
    pub verdict: Verdict,
}

/// Compares a run with a baseline: the baseline's figures in its order, then new ones.
/// `scale` multiplies every margin (`--margin-scale`).
pub fn compare(baseline: &Baseline, now: &[Figure], scale: f64) -> Vec<Row> {
    let mut rows = Vec::new();
    for b in &baseline.figures {
        let b = Figure { margin: b.margin * scale, ..b.clone() };
        let current = now.iter().find(|f| f.name == b.name).map(|f| f.value);
        let verdict = match current {
            None => Verdict::Missing,
            Some(v) if !b.passes(v) => Verdict::Regressed,
            Some(v) => {
                // Better by more than the margin the other way.
                let improved = match b.better {
                    Better::Higher => v > b.value * (1.0 + b.margin),
                    Better::Lower => v < b.value * (1.0 - b.margin).max(0.0),
                };
                if improved { Verdict::Improved } else { Verdict::Ok }
            }
        };
        rows.push(Row {
            name: b.name.clone(),
            unit: b.unit,
            baseline: Some(b.value),
            now: current,
            allowed: Some((b.allowed(), b.margin, b.better)),
            verdict,
        });
    }
    for f in now {
        if !baseline.figures.iter().any(|b| b.name == f.name) {
            rows.push(Row {
                name: f.name.clone(),
                unit: f.unit,
                baseline: None,
                now: Some(f.value),
                allowed: None,
                verdict: Verdict::New,
            });
        }
    }
    rows
}

/// The comparison as a text table.
pub fn render(rows: &[Row]) -> String {
    let number = |v: f64| {
        if v.abs() >= 100.0 {
            format!("{v:.0}")
        } else if v.abs() >= 10.0 {
            format!("{v:.1}")
        } else {
            format!("{v:.3}")
        }
    };
    let mut table: Vec<[String; 6]> =
        vec![["figure".into(), "unit".into(), "baseline".into(), "now".into(), "allowed".into(), "verdict".into()]];
    for r in rows {
        table.push([
            r.name.clone(),
            r.unit.to_owned(),
            r.baseline.map_or_else(|| "-".to_owned(), number),
            r.now.map_or_else(|| "-".to_owned(), number),
            r.allowed.map_or_else(
                || "-".to_owned(),
                |(a, m, b)| {
                    let sign = if b == Better::Higher { '≥' } else { '≤' };
                    format!("{sign}{} (±{:.0}%)", number(a), m * 100.0)
                },
            ),
            r.verdict.as_str().to_owned(),
        ]);
    }
    let widths: Vec<usize> = (0..6).map(|c| table.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for (i, row) in table.iter().enumerate() {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            let pad = " ".repeat(widths[c] - cell.chars().count());
            if (2..4).contains(&c) {
                line.push_str(&format!("{pad}{cell}  "));
            } else {
                line.push_str(&format!("{cell}{pad}  "));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
        if i == 0 {
            out.push_str(&"-".repeat(widths.iter().sum::<usize>() + 10));
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn baseline(figures: Vec<Figure>) -> Baseline {
        Baseline { comment: "test".to_owned(), server_process: false, figures }
    }

    fn verdict(rows: &[Row], name: &str) -> Verdict {
        rows.iter().find(|r| r.name == name).expect("row").verdict
    }

    #[test]
    fn a_drop_within_the_margin_passes_and_beyond_it_fails() {
        let b = baseline(vec![Figure::ratio("r", 1.0), Figure::throughput("t", 1000.0)]);
        // Ratio margin 15 %: 0.86 passes, 0.84 fails.
        let rows = compare(&b, &[Figure::ratio("r", 0.86), Figure::throughput("t", 660.0)], 1.0);
        assert_eq!(verdict(&rows, "r"), Verdict::Ok);
        assert_eq!(verdict(&rows, "t"), Verdict::Ok);
        let rows = compare(&b, &[Figure::ratio("r", 0.84), Figure::throughput("t", 640.0)], 1.0);
        assert_eq!(verdict(&rows, "r"), Verdict::Regressed);
        assert_eq!(verdict(&rows, "t"), Verdict::Regressed);
        assert!(rows.iter().all(|r| r.verdict.fails()));
    }

    #[test]
    fn latencies_fail_when_they_grow_past_the_margin() {
        let b = baseline(vec![Figure::latency("p50", 100.0, "µs", false), Figure::latency("p99", 1000.0, "µs", true)]);
        let ok =
            compare(&b, &[Figure::latency("p50", 159.0, "µs", false), Figure::latency("p99", 2490.0, "µs", true)], 1.0);
        assert!(ok.iter().all(|r| r.verdict == Verdict::Ok), "{ok:?}");
        let bad =
            compare(&b, &[Figure::latency("p50", 161.0, "µs", false), Figure::latency("p99", 2510.0, "µs", true)], 1.0);
        assert!(bad.iter().all(|r| r.verdict == Verdict::Regressed), "{bad:?}");
    }

    #[test]
    fn improved_figures_pass() {
        let b = baseline(vec![Figure::throughput("t", 1000.0), Figure::latency("l", 100.0, "ms", false)]);
        let rows = compare(&b, &[Figure::throughput("t", 5000.0), Figure::latency("l", 1.0, "ms", false)], 1.0);
        assert!(rows.iter().all(|r| r.verdict == Verdict::Improved), "{rows:?}");
        assert!(!rows.iter().any(|r| r.verdict.fails()));
        // Slightly better is plain ok.
        let rows = compare(&b, &[Figure::throughput("t", 1010.0), Figure::latency("l", 99.0, "ms", false)], 1.0);
        assert!(rows.iter().all(|r| r.verdict == Verdict::Ok), "{rows:?}");
    }

    #[test]
    fn a_missing_row_fails_and_a_new_one_passes() {
        let b = baseline(vec![Figure::ratio("gone", 1.0), Figure::ratio("kept", 1.0)]);
        let rows = compare(&b, &[Figure::ratio("kept", 1.0), Figure::ratio("added", 3.0)], 1.0);
        assert_eq!(verdict(&rows, "gone"), Verdict::Missing);
        assert!(Verdict::Missing.fails());
        assert_eq!(verdict(&rows, "kept"), Verdict::Ok);
        assert_eq!(verdict(&rows, "added"), Verdict::New);
        assert!(!Verdict::New.fails());
        // Baseline order first, then the new rows.
        let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["gone", "kept", "added"]);
    }

    #[test]
    fn the_margin_scale_widens_every_margin() {
        let b = baseline(vec![Figure::ratio("r", 1.0)]);
        assert_eq!(verdict(&compare(&b, &[Figure::ratio("r", 0.75)], 1.0), "r"), Verdict::Regressed);
        assert_eq!(verdict(&compare(&b, &[Figure::ratio("r", 0.75)], 2.0), "r"), Verdict::Ok);
    }

    #[test]
    fn the_baseline_file_round_trips_and_its_margins_rule() {
        let mut edited = Figure::throughput("t", 1234.5);
        edited.margin = 0.05;
        let b = Baseline {
            comment: "versa-bench --save; up 1 day, load average: 0.1".to_owned(),
            server_process: true,
            figures: vec![Figure::ratio("r", 0.987), Figure::latency("l", 42.0, "µs", true), edited],
        };
        let back = Baseline::from_json(&b.to_json()).expect("parses");
        assert_eq!(back, b);
        // The file's own margin (5 %) applies, not the default for throughput.
        assert_eq!(verdict(&compare(&back, &[Figure::throughput("t", 1100.0)], 1.0), "t"), Verdict::Regressed);
    }

    #[test]
    fn malformed_baselines_are_refused_with_the_reason() {
        assert!(Baseline::from_json("nope").is_err());
        let e = Baseline::from_json(r#"{"format":1,"figures":[{"name":"x","value":1,"better":"up","margin":0.1}]}"#)
            .expect_err("bad better");
        assert!(format!("{e:#}").contains("higher"), "{e:#}");
        assert!(Baseline::from_json(r#"{"format":2,"figures":[]}"#).is_err());
    }

    #[test]
    fn best_of_rounds_keeps_the_best_value_per_direction() {
        let r1 = vec![Figure::throughput("t", 100.0), Figure::latency("l", 50.0, "µs", false)];
        let r2 = vec![Figure::throughput("t", 120.0), Figure::latency("l", 70.0, "µs", false), Figure::ratio("x", 1.0)];
        let best = best_of(&[r1, r2]);
        assert_eq!(best.iter().map(|f| f.value).collect::<Vec<_>>(), [120.0, 50.0, 1.0]);
    }

    #[test]
    fn the_table_names_every_column_and_verdict() {
        let b = baseline(vec![Figure::throughput("warm.c8.ops", 8000.0)]);
        let text = render(&compare(&b, &[Figure::throughput("warm.c8.ops", 4000.0)], 1.0));
        for word in [
            "figure",
            "baseline",
            "now",
            "allowed",
            "verdict",
            "warm.c8.ops",
            "8000",
            "4000",
            "≥5200 (±35%)",
            "REGRESSED",
        ] {
            assert!(text.contains(word), "{word} not in\n{text}");
        }
    }
}
