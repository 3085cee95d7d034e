//! The global guarantee that a panic in a handler is an answer, not a dropped connection:
//! [`catch_panic`] runs every request's service call under `catch_unwind`, logs the panic
//! with `tracing::error!` and answers a 500 `application/problem+json` of type `internal`.
//!
//! Panics are bugs (input is validated into field errors); this only makes sure a bug costs
//! the client one 500 it can read, with the panic message in the log and never in the body.
//! It needs unwinding: the workspace profiles must not set `panic = "abort"`.

use std::any::Any;
use std::panic::AssertUnwindSafe;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use crm_domain::DomainError;
use futures_util::FutureExt;

use crate::problem::ApiError;

/// Middleware (for `actix_web::middleware::from_fn`): the inner service's answer, or a logged
/// 500 problem when producing it panicked.
///
/// The problem travels as the middleware's error: actix-web renders an error from the service
/// chain with its [`actix_web::ResponseError::error_response`] (our problem+json), and the outer
/// middleware (request span, metrics) see it like any other error. (The request cannot be kept
/// aside to build a response here: holding a clone of it breaks the router's exclusive access.)
///
/// # Errors
/// The inner service's error, unchanged; a 500 `internal` [`ApiError`] after a panic.
pub async fn catch_panic(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let method = req.method().clone();
    let path = req.path().to_owned();
    // The call itself inside the future: a panic while building the handler's future is
    // caught as well as one while polling it.
    let answer = AssertUnwindSafe(async move { next.call(req).await })
        .catch_unwind()
        .await;
    answer.unwrap_or_else(|panic| {
        tracing::error!(
            panic = %message(panic.as_ref()),
            %method,
            %path,
            "a handler panicked; answered 500"
        );
        // The problem renders without the message (logged above, not shown to the client).
        Err(ApiError::Domain(DomainError::Internal("a handler panicked".into())).into())
    })
}

/// The text of a panic payload (`panic!` with a literal or a formatted message).
fn message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a panic without a message")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use actix_web::middleware::from_fn;
    use actix_web::test as atest;
    use actix_web::{App, HttpResponse, web};
    use serde_json::Value;

    use super::catch_panic;

    async fn panics() -> HttpResponse {
        let values: Vec<u64> = Vec::new();
        // An out-of-bounds index: the kind of bug the guarantee is for.
        HttpResponse::Ok().body(values[usize::from(values.is_empty())].to_string())
    }

    async fn fine() -> HttpResponse {
        HttpResponse::Ok().body("fine")
    }

    #[actix_web::test]
    async fn a_panicking_handler_answers_a_500_problem_and_the_next_request_is_served() {
        let app = atest::init_service(
            App::new()
                .route("/panics", web::get().to(panics))
                .route("/fine", web::get().to(fine))
                .wrap(from_fn(catch_panic)),
        )
        .await;
        // What actix-web's dispatcher sends for an error of the service chain.
        let res = match atest::try_call_service(
            &app,
            atest::TestRequest::get().uri("/panics").to_request(),
        )
        .await
        {
            Ok(res) => res.into_parts().1.map_into_boxed_body(),
            Err(e) => e.error_response(),
        };
        assert_eq!(res.status().as_u16(), 500);
        assert_eq!(
            res.headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/problem+json")
        );
        let bytes = actix_web::body::to_bytes(res.into_body()).await.unwrap();
        let body: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body["type"], "/problems/internal");
        assert_eq!(body["status"], 500);
        assert!(
            !body.to_string().contains("index out of bounds"),
            "the panic message stays in the log: {body}"
        );
        let res =
            atest::call_service(&app, atest::TestRequest::get().uri("/fine").to_request()).await;
        assert_eq!(res.status().as_u16(), 200);
    }

    #[test]
    fn the_message_of_either_payload_kind_is_read() {
        let literal: Box<dyn std::any::Any + Send> = Box::new("boom");
        let formatted: Box<dyn std::any::Any + Send> = Box::new(format!("boom {}", 1));
        assert_eq!(super::message(literal.as_ref()), "boom");
        assert_eq!(super::message(formatted.as_ref()), "boom 1");
        assert_eq!(
            super::message(Box::new(1_u8).as_ref()),
            "a panic without a message"
        );
    }
}
