//! `crm-bench-clv`: times the CLV model fits (BG/NBD and Gamma-Gamma, maximum likelihood) on
//! the full CDNOW purchase history (`examples/cdnow/CDNOW_master.csv`, 23,570 customers,
//! calibration 1997-01-01..1997-09-30, weeks), the same domain code `POST
//! /api/v1/analytics/clv/fit` runs, then the predictions (P(alive), expected purchases in the
//! next 39 weeks, 12-month CLV at 1 % a month) for every customer in one pass.
//!
//! Usage: `crm-bench-clv [CDNOW_master.csv] [--summary-out FILE]`. Each step runs `RUNS`
//! times; the best time is printed, with the fit's method, iterations, evaluations and final
//! gradient norm. `--summary-out` writes the calibration summaries (`frequency,recency,T,
//! monetary_value`, weeks) for `tests/bench/clv_lifetimes.py` to fit the same data with the
//! Python `lifetimes` package.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Instant;

use chrono::NaiveDate;
use crm_domain::analytics::clv::{
    CustomerSummary, FitReport, TimeUnit, customer_lifetime_value, fit_bgnbd, fit_gamma_gamma,
};

/// Runs of each step; the best is reported.
const RUNS: usize = 3;

/// The best wall time of `RUNS` runs of `f`, in milliseconds, and the last run's result.
fn best_of<T>(mut f: impl FnMut() -> T) -> (f64, T) {
    let mut best = f64::INFINITY;
    let mut last = None;
    for _ in 0..RUNS {
        let started = Instant::now();
        let out = f();
        best = best.min(started.elapsed().as_secs_f64() * 1e3);
        last = Some(out);
    }
    (best, last.expect("RUNS > 0"))
}

fn describe(report: &FitReport) -> String {
    format!(
        "method={} iterations={} evaluations={} gradient_norm={:.1e}",
        report.method, report.iterations, report.evaluations, report.gradient_norm
    )
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut path = "examples/cdnow/CDNOW_master.csv".to_owned();
    let mut summary_out = None;
    while let Some(arg) = args.next() {
        if arg == "--summary-out" {
            summary_out = Some(args.next().expect("--summary-out FILE"));
        } else {
            path = arg;
        }
    }
    let text = std::fs::read_to_string(&path)?;
    let mut purchases: BTreeMap<u64, Vec<(NaiveDate, f64)>> = BTreeMap::new();
    for line in text.lines().skip(1) {
        let cols: Vec<&str> = line
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
            .collect();
        if cols.len() < 4 {
            continue;
        }
        let day = NaiveDate::parse_from_str(cols[1], "%Y%m%d")?;
        purchases
            .entry(cols[0].parse()?)
            .or_default()
            .push((day, cols[3].parse()?));
    }
    let end = NaiveDate::from_ymd_opt(1997, 9, 30).expect("date");
    let (summarise_ms, summaries) = best_of(|| {
        purchases
            .values()
            .filter_map(|p| CustomerSummary::from_purchases(p, end, TimeUnit::Week))
            .collect::<Vec<CustomerSummary>>()
    });
    if let Some(out) = &summary_out {
        let mut file = std::io::BufWriter::new(std::fs::File::create(out)?);
        writeln!(file, "frequency,recency,T,monetary_value")?;
        for s in &summaries {
            writeln!(
                file,
                "{},{},{},{}",
                s.frequency, s.recency, s.age, s.monetary
            )?;
        }
    }
    let (bg_ms, bg) = best_of(|| fit_bgnbd(&summaries));
    let bg = bg.map_err(|e| anyhow::anyhow!("{e}"))?;
    let (gg_ms, gg) = best_of(|| fit_gamma_gamma(&summaries));
    let gg = gg.map_err(|e| anyhow::anyhow!("{e}"))?;
    let (predict_ms, totals) = best_of(|| {
        let (mut alive, mut purchases, mut value) = (0.0, 0.0, 0.0);
        for s in &summaries {
            alive += bg.params.probability_alive(s);
            purchases += bg.params.conditional_expected_purchases(39.0, s);
            value += customer_lifetime_value(&bg.params, &gg.params, s, 12, 0.01, TimeUnit::Week);
        }
        (alive, purchases, value)
    });
    println!(
        "summaries {} customers in {summarise_ms:.1} ms (best of {RUNS})",
        summaries.len()
    );
    println!(
        "bgnbd {} customers in {bg_ms:.1} ms (best of {RUNS}): r={:.4} alpha={:.4} a={:.4} b={:.4} ll={:.1}; {}",
        bg.customers,
        bg.params.r,
        bg.params.alpha,
        bg.params.a,
        bg.params.b,
        bg.log_likelihood,
        describe(&bg.report)
    );
    println!(
        "gamma_gamma {} customers in {gg_ms:.1} ms (best of {RUNS}): p={:.4} q={:.4} gamma={:.4} ll={:.1}; {}",
        gg.customers,
        gg.params.p,
        gg.params.q,
        gg.params.gamma,
        gg.log_likelihood,
        describe(&gg.report)
    );
    println!(
        "predictions {} customers in {predict_ms:.1} ms (best of {RUNS}): mean P(alive)={:.4}, expected purchases in 39 weeks={:.0}, 12-month CLV={:.0}",
        summaries.len(),
        totals.0 / summaries.len() as f64,
        totals.1,
        totals.2
    );
    Ok(())
}
