"""Times the Python `lifetimes` package (0.11.3) on the calibration summaries that
`crm-bench-clv --summary-out FILE` wrote, for docs/BENCHMARKS.md: BetaGeoFitter (BG/NBD) on
every customer and GammaGammaFitter on those with a repeat purchase and a positive mean spend,
each fit run 3 times, the best wall time printed with the parameters, in the same line format
as crm-bench-clv.

Usage: python clv_lifetimes.py SUMMARY.csv   (columns frequency,recency,T,monetary_value)
"""

import sys
import time
import warnings

import pandas as pd
from lifetimes import BetaGeoFitter, GammaGammaFitter

RUNS = 3


def best_of(fit):
    best, out = float("inf"), None
    for _ in range(RUNS):
        started = time.perf_counter()
        out = fit()
        best = min(best, (time.perf_counter() - started) * 1e3)
    return best, out


def main():
    warnings.simplefilter("ignore")
    df = pd.read_csv(sys.argv[1])
    bg_ms, bg = best_of(
        lambda: BetaGeoFitter(penalizer_coef=0.0).fit(df["frequency"], df["recency"], df["T"])
    )
    rep = df[(df["frequency"] > 0) & (df["monetary_value"] > 0)]
    gg_ms, gg = best_of(
        lambda: GammaGammaFitter(penalizer_coef=0.0).fit(rep["frequency"], rep["monetary_value"])
    )
    b, g = bg.params_, gg.params_
    print(
        f"lifetimes bgnbd {len(df)} customers in {bg_ms:.1f} ms (best of {RUNS}): "
        f"r={b['r']:.4f} alpha={b['alpha']:.4f} a={b['a']:.4f} b={b['b']:.4f}"
    )
    print(
        f"lifetimes gamma_gamma {len(rep)} customers in {gg_ms:.1f} ms (best of {RUNS}): "
        f"p={g['p']:.4f} q={g['q']:.4f} gamma={g['v']:.4f}"
    )


if __name__ == "__main__":
    main()
