//! `crm-bench-clv`: times the CLV model fits (BG/NBD and Gamma-Gamma, maximum likelihood) on
//! the full CDNOW purchase history (`examples/cdnow/CDNOW_master.csv`, 23,570 customers,
//! calibration 1997-01-01..1997-09-30, weeks), the same domain code `POST
//! /api/v1/analytics/clv/fit` runs. Prints one line per model: customers, milliseconds, and the
//! fitted parameters.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::NaiveDate;
use crm_domain::analytics::clv::{CustomerSummary, TimeUnit, fit_bgnbd, fit_gamma_gamma};

fn main() -> anyhow::Result<()> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "examples/cdnow/CDNOW_master.csv".into());
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
    let started = Instant::now();
    let summaries: Vec<CustomerSummary> = purchases
        .values_mut()
        .filter_map(|p| {
            p.sort_by_key(|(d, _)| *d);
            CustomerSummary::from_purchases(p, end, TimeUnit::Week)
        })
        .collect();
    let summarise_ms = started.elapsed().as_secs_f64() * 1e3;
    let t = Instant::now();
    let bg = fit_bgnbd(&summaries).map_err(|e| anyhow::anyhow!("{e}"))?;
    let bg_ms = t.elapsed().as_secs_f64() * 1e3;
    let t = Instant::now();
    let gg = fit_gamma_gamma(&summaries).map_err(|e| anyhow::anyhow!("{e}"))?;
    let gg_ms = t.elapsed().as_secs_f64() * 1e3;
    println!(
        "summaries {} customers in {summarise_ms:.0} ms",
        summaries.len()
    );
    println!(
        "bgnbd {} customers in {bg_ms:.0} ms: r={:.4} alpha={:.4} a={:.4} b={:.4} ll={:.1}",
        bg.customers, bg.params.r, bg.params.alpha, bg.params.a, bg.params.b, bg.log_likelihood
    );
    println!(
        "gamma_gamma {} customers in {gg_ms:.0} ms: p={:.4} q={:.4} gamma={:.4}",
        gg.customers, gg.params.p, gg.params.q, gg.params.gamma
    );
    Ok(())
}
