//! Launching a background job from a request: `?wait=true` waits and answers 200 with the
//! finished job, otherwise the job runs in the background and the answer is 202; both carry
//! `Location` (where the job is followed).

use std::future::Future;

use actix_web::{HttpRequest, HttpResponse};
use crm_domain::job::Job;
use serde::Serialize;

use crate::problem::ApiError;

/// The `wait` query parameter (the only one a job launch takes; default `false`).
///
/// # Errors
/// A 400 naming the parameter when it is unknown or `wait` is not `true` or `false`.
pub fn wait_param(req: &HttpRequest) -> Result<bool, ApiError> {
    let mut wait = false;
    crate::query::each_param(req.query_string(), &["wait"], |name, value| {
        wait = value
            .parse()
            .map_err(|_| ApiError::bad(name, "`wait` is true or false"))?;
        Ok(())
    })?;
    Ok(wait)
}

/// Runs a started job: with `wait`, awaits `run` and answers 200 with the finished job;
/// otherwise spawns it and answers 202 with the job as started. `B` is the body a job is
/// rendered as; `location` is where it is followed.
pub async fn launch<B>(
    wait: bool,
    location: String,
    started: &Job,
    run: impl Future<Output = Job> + 'static,
) -> HttpResponse
where
    B: for<'a> From<&'a Job> + Serialize,
{
    if wait {
        let done = run.await;
        return HttpResponse::Ok()
            .insert_header(("Location", location))
            .json(B::from(&done));
    }
    let accepted = B::from(started);
    actix_web::rt::spawn(run);
    HttpResponse::Accepted()
        .insert_header(("Location", location))
        .json(accepted)
}
