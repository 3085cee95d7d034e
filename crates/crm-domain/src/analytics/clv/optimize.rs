//! Maximum-likelihood fitting over log-parameters: argmin's L-BFGS (Nocedal & Wright 2006,
//! "Numerical Optimization", 2nd ed., §7.2, Algorithm 7.5) with the Moré-Thuente line search
//! (Moré & Thuente 1994) on the analytic gradient, and argmin's Nelder-Mead simplex, restarted
//! from its own optimum until a restart no longer improves the objective, as the fallback when
//! the gradient method fails.

use std::cell::{Cell, RefCell};

use argmin::core::{CostFunction, Error, Executor, Gradient, State, TerminationReason};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::neldermead::NelderMead;
use argmin::solver::quasinewton::LBFGS;

use super::{FitError, FitMethod, FitReport, MAX_ABS_LOG_PARAM};

/// L-BFGS stops once the Euclidean norm of the gradient of the objective (the mean negative
/// log-likelihood per customer, over log-parameters) falls below this. On the CDNOW sample the
/// estimates at 1e-7 differ from those at 1e-9 by under 2e-7 of their values (and the
/// log-likelihood by 1e-10), far inside the 4 significant figures asked for. Tighter costs
/// dearly: below ~1e-8 the objective's decrease along a step is at its rounding level
/// (`ε · 4 ≈ 1e-15`), the line search's sufficient-decrease test cannot be met, and the full
/// CDNOW BG/NBD fit took 400 evaluations instead of 20.
pub(crate) const GRADIENT_TOLERANCE: f64 = 1e-7;

/// L-BFGS's answer is accepted when its gradient norm is below this (the tolerance itself);
/// otherwise Nelder-Mead takes over. A looser bar (1e-6) accepted, on an 8-customer tenant, a
/// point far out on a ridge of the likelihood (`a`, `b` ~ 1e7, gradient 8e-7) where the
/// predictions' hypergeometric series no longer converge.
const GRADIENT_ACCEPT: f64 = GRADIENT_TOLERANCE;

/// Iteration cap of one L-BFGS run. The CDNOW fits converge in 15–40.
const LBFGS_MAX_ITERS: u64 = 500;

/// Correction pairs kept by L-BFGS (its `m`; 3 or 4 parameters, so this is full-memory BFGS).
const LBFGS_MEMORY: usize = 8;

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

/// An objective with its gradient: `f(point, gradient)` returns the value at `point` and writes
/// the gradient (same length as `point`) into `gradient`.
pub(crate) trait Smooth: Fn(&[f64], &mut [f64]) -> f64 {}
impl<F: Fn(&[f64], &mut [f64]) -> f64> Smooth for F {}

/// argmin's view of a [`Smooth`] objective. argmin asks for the cost and the gradient at the
/// same point in separate calls; both come from one evaluation, cached for the last point.
/// A non-finite value or gradient is an error (argmin's line search ends, and the fit falls
/// back to Nelder-Mead).
/// The last evaluation: point, value, gradient.
type Evaluation = Option<(Vec<f64>, f64, Vec<f64>)>;

struct WithGradient<'f, F> {
    objective: &'f F,
    last: &'f RefCell<Evaluation>,
    evaluations: &'f Cell<u64>,
}

impl<F: Smooth> WithGradient<'_, F> {
    fn evaluate(&self, point: &[f64]) -> Result<(f64, Vec<f64>), Error> {
        if let Some((p, value, gradient)) = self.last.borrow().as_ref()
            && p.as_slice() == point
        {
            return Ok((*value, gradient.clone()));
        }
        let mut gradient = vec![0.0; point.len()];
        let value = clamped(self.objective, point, &mut gradient);
        self.evaluations.set(self.evaluations.get() + 1);
        if !value.is_finite() || !gradient.iter().all(|g| g.is_finite()) {
            return Err(Error::msg(
                "the log-likelihood or its gradient is not finite",
            ));
        }
        *self.last.borrow_mut() = Some((point.to_vec(), value, gradient.clone()));
        Ok((value, gradient))
    }
}

impl<F: Smooth> CostFunction for WithGradient<'_, F> {
    type Param = Vec<f64>;
    type Output = f64;

    fn cost(&self, param: &Self::Param) -> Result<f64, Error> {
        Ok(self.evaluate(param)?.0)
    }
}

impl<F: Smooth> Gradient for WithGradient<'_, F> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;

    fn gradient(&self, param: &Self::Param) -> Result<Vec<f64>, Error> {
        Ok(self.evaluate(param)?.1)
    }
}

/// Log-parameters beyond `±CLAMP` are evaluated at `±CLAMP` plus the penalty
/// `Σ (|v| − CLAMP)²`: within the box the models' likelihoods and gradients stay finite, so a
/// long line-search step lands on a finite value (not an overflow), and the penalty's gradient
/// leads back into the box.
const CLAMP: f64 = 50.0;

/// Evaluates `objective` at `point` clamped to `±CLAMP`, plus the penalty beyond it.
fn clamped<F: Smooth>(objective: &F, point: &[f64], gradient: &mut [f64]) -> f64 {
    let inside: Vec<f64> = point.iter().map(|v| v.clamp(-CLAMP, CLAMP)).collect();
    let mut value = objective(&inside, gradient);
    for ((g, v), c) in gradient.iter_mut().zip(point).zip(&inside) {
        if v != c {
            *g = 2.0 * (v - c);
            value += (v - c) * (v - c);
        }
    }
    value
}

/// L-BFGS runs at most, each from the previous run's best point with a fresh memory, while a
/// run ends above [`GRADIENT_TOLERANCE`] (its line search failed on a direction the memory
/// made poor) and still lowers the objective.
const LBFGS_RUNS: u32 = 5;

/// The Euclidean norm of `v`.
pub(crate) fn norm(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// The gradient norm of `objective` at `point` (∞ where it is not finite).
fn gradient_norm<F: Smooth>(objective: &F, point: &[f64]) -> f64 {
    let mut gradient = vec![0.0; point.len()];
    objective(point, &mut gradient);
    let n = norm(&gradient);
    if n.is_finite() { n } else { f64::INFINITY }
}

/// One L-BFGS run from `start`: the best point, its value, iterations and evaluations.
fn lbfgs<F: Smooth>(objective: &F, start: &[f64]) -> Result<(Vec<f64>, f64, u64, u64), String> {
    let last = RefCell::new(None);
    let evaluations = Cell::new(0);
    let problem = WithGradient {
        objective,
        last: &last,
        evaluations: &evaluations,
    };
    // Steps no longer than the quasi-Newton step (no extrapolation beyond it): far steps in
    // log-parameters only reach regions where the likelihood under- or overflows.
    let linesearch = MoreThuenteLineSearch::new()
        .with_bounds(f64::EPSILON.sqrt(), 1.0)
        .map_err(|e| e.to_string())?;
    // A cost tolerance of 0 leaves the gradient norm as the only convergence test.
    let solver = LBFGS::new(linesearch, LBFGS_MEMORY)
        .with_tolerance_grad(GRADIENT_TOLERANCE)
        .and_then(|s| s.with_tolerance_cost(0.0))
        .map_err(|e| e.to_string())?;
    let result = Executor::new(problem, solver)
        .configure(|state| state.param(start.to_vec()).max_iters(LBFGS_MAX_ITERS))
        .run()
        .map_err(|e| e.to_string())?;
    let state = result.state();
    let point = state
        .get_best_param()
        .cloned()
        .ok_or_else(|| "no best parameter".to_owned())?;
    Ok((
        point,
        state.get_best_cost(),
        state.get_iter(),
        evaluations.get(),
    ))
}

/// Minimises a smooth `objective` (a function of log-parameters, with its gradient) from
/// `start`: L-BFGS on the analytic gradient until the gradient norm is below
/// [`GRADIENT_TOLERANCE`], restarted with a fresh memory from its best point (at most
/// [`LBFGS_RUNS`] runs) while a run ends above it and still gains. When that ends above
/// [`GRADIENT_ACCEPT`] or outside `±MAX_ABS_LOG_PARAM`, or L-BFGS fails, Nelder-Mead
/// ([`minimize`]) on `fallback` (the same function, evaluated per distinct summary as the fits
/// did before L-BFGS) from all log-parameters 0 (every parameter 1), the fits' way before
/// L-BFGS. The report says which method gave the answer, its iterations (L-BFGS's plus
/// Nelder-Mead's when it fell back), the evaluations and the final gradient norm.
///
/// Errors: those of [`minimize`] when the fallback fails too.
pub(crate) fn minimize_smooth<F: Smooth, G: Fn(&[f64]) -> f64>(
    objective: &F,
    start: &[f64],
    fallback: G,
) -> Result<(Vec<f64>, FitReport), FitError> {
    let mut lbfgs_iterations = 0;
    let mut evaluations = 0;
    let mut best: Option<(Vec<f64>, f64)> = None;
    for _ in 0..LBFGS_RUNS {
        let from = best.as_ref().map_or(start, |(p, _)| p.as_slice());
        let Ok((point, value, iterations, evals)) = lbfgs(objective, from) else {
            break;
        };
        lbfgs_iterations += iterations;
        evaluations += evals;
        if !value.is_finite() || best.as_ref().is_some_and(|(_, v)| value >= *v) {
            break;
        }
        let done = gradient_norm(objective, &point) <= GRADIENT_TOLERANCE;
        best = Some((point, value));
        if done {
            break;
        }
    }
    if let Some((point, _)) = best {
        let gradient_norm = gradient_norm(objective, &point);
        let interior = point.iter().all(|v| v.abs() <= MAX_ABS_LOG_PARAM);
        if interior && gradient_norm <= GRADIENT_ACCEPT {
            let report = FitReport {
                method: FitMethod::Lbfgs,
                iterations: lbfgs_iterations,
                evaluations,
                gradient_norm,
            };
            return Ok((point, report));
        }
    }
    // The fits as they ran before L-BFGS: Nelder-Mead from every parameter = 1 on `fallback`.
    let counted = Cell::new(0_u64);
    let minimum = minimize(
        |p: &[f64]| {
            counted.set(counted.get() + 1);
            fallback(p)
        },
        &vec![0.0; start.len()],
    )?;
    let gradient_norm = gradient_norm(objective, &minimum.point);
    let report = FitReport {
        method: FitMethod::NelderMead,
        iterations: lbfgs_iterations + minimum.iterations,
        evaluations: evaluations + counted.get(),
        gradient_norm,
    };
    Ok((minimum.point, report))
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
