//! Maximum-likelihood fitting: argmin's Nelder-Mead simplex over log-parameters, restarted from
//! its own optimum until a restart no longer improves the objective.

use argmin::core::{CostFunction, Error, Executor, State, TerminationReason};
use argmin::solver::neldermead::NelderMead;

use super::FitError;

/// Iteration cap of one Nelder-Mead run. The CDNOW fits converge in a few hundred.
const MAX_ITERS_PER_RUN: u64 = 20_000;

/// Restarts after the first run at most; a restart that gains less than
/// [`RESTART_GAIN_ULPS`] ends the search.
const MAX_RESTARTS: u32 = 10;

/// Convergence of one run: the standard deviation of the objective over the simplex's
/// vertices falls below this many ulps of the objective (`× ε × max(1, |f|)`): as tight as the
/// objective's own rounding noise allows (one ulp is too tight: runs then stall).
const SD_TOLERANCE_ULPS: f64 = 10.0;

/// A restart must lower the objective by more than this many ulps (`× ε × max(1, |f|)`) to
/// be followed by another.
const RESTART_GAIN_ULPS: f64 = 100.0;

/// `ulps` units in the last place of `value` (at least of 1).
fn ulps(ulps: f64, value: f64) -> f64 {
    ulps * f64::EPSILON * value.abs().max(1.0)
}

/// Edge of the initial simplex in log-parameter space (each parameter ×e^0.5 ≈ 1.65).
const INITIAL_STEP: f64 = 0.5;

/// Where the search ended.
#[derive(Debug, Clone)]
pub(crate) struct Minimum {
    /// The minimising log-parameters.
    pub point: Vec<f64>,
    /// Nelder-Mead iterations over all runs.
    pub iterations: u64,
}

/// argmin's view of the objective. Non-finite values become +∞ so that the simplex moves
/// away from them: argmin's Nelder-Mead calls `unwrap` on the cost at initialisation, so the
/// objective never returns an error.
struct Objective<F>(F);

impl<F: Fn(&[f64]) -> f64> CostFunction for Objective<F> {
    type Param = Vec<f64>;
    type Output = f64;

    fn cost(&self, param: &Self::Param) -> Result<f64, Error> {
        let value = (self.0)(param);
        Ok(if value.is_nan() { f64::INFINITY } else { value })
    }
}

/// Minimises `objective` (a function of log-parameters) from `start`. Fails with
/// [`FitError::NonFiniteLikelihood`] when the objective is not finite at `start` or at the
/// optimum, [`FitError::Optimizer`] when argmin reports an error and
/// [`FitError::NotConverged`] when a run hits its iteration cap.
pub(crate) fn minimize<F>(objective: F, start: &[f64]) -> Result<Minimum, FitError>
where
    F: Fn(&[f64]) -> f64,
{
    let mut best_point = start.to_vec();
    let mut best_value = objective(start);
    if !best_value.is_finite() {
        return Err(FitError::NonFiniteLikelihood);
    }
    let mut iterations = 0;
    for _ in 0..=MAX_RESTARTS {
        let simplex = std::iter::once(best_point.clone())
            .chain((0..best_point.len()).map(|i| {
                let mut vertex = best_point.clone();
                vertex[i] += INITIAL_STEP;
                vertex
            }))
            .collect();
        let solver = NelderMead::new(simplex)
            .with_sd_tolerance(ulps(SD_TOLERANCE_ULPS, best_value))
            .map_err(|e| FitError::Optimizer(e.to_string()))?;
        let result = Executor::new(Objective(&objective), solver)
            .configure(|state| state.max_iters(MAX_ITERS_PER_RUN))
            .run()
            .map_err(|e| FitError::Optimizer(e.to_string()))?;
        let state = result.state();
        iterations += state.get_iter();
        match state.get_termination_reason() {
            Some(TerminationReason::SolverConverged) => {}
            Some(TerminationReason::MaxItersReached) => {
                return Err(FitError::NotConverged { iterations });
            }
            other => {
                return Err(FitError::Optimizer(format!(
                    "Nelder-Mead stopped: {}",
                    other.map_or("without a reason", |r| r.text())
                )));
            }
        }
        let (Some(point), value) = (state.get_best_param(), state.get_best_cost()) else {
            return Err(FitError::Optimizer("no best parameter".to_owned()));
        };
        let gain = best_value - value;
        if gain > 0.0 {
            best_point = point.clone();
            best_value = value;
        }
        if gain <= ulps(RESTART_GAIN_ULPS, best_value) {
            if !best_value.is_finite() {
                return Err(FitError::NonFiniteLikelihood);
            }
            return Ok(Minimum {
                point: best_point,
                iterations,
            });
        }
    }
    Err(FitError::NotConverged { iterations })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_minimum_of_a_rosenbrock_valley() {
        let rosenbrock = |p: &[f64]| (1.0 - p[0]).powi(2) + 100.0 * (p[1] - p[0] * p[0]).powi(2);
        let min = minimize(rosenbrock, &[-1.2, 1.0]).unwrap();
        assert!((min.point[0] - 1.0).abs() < 1e-5, "{:?}", min.point);
        assert!((min.point[1] - 1.0).abs() < 1e-5, "{:?}", min.point);
        assert!(min.iterations > 0);
    }

    #[test]
    fn non_finite_start_is_an_error() {
        let nan = |_: &[f64]| f64::NAN;
        assert!(matches!(
            minimize(nan, &[0.0]),
            Err(FitError::NonFiniteLikelihood)
        ));
    }
}
