//! The problem responses operations share, documented in one place.
//!
//! Some refusals do not belong to an operation but to what it takes: any operation behind the
//! bearer token can answer 401, 403 and 503; any with a path id can answer 404 (no such
//! record) and 400 (an id that is not a UUID); any with a body can answer 400 (syntax), 413
//! and 422, and 415 when the body is JSON; and any can answer 500. [`SharedProblems`] writes each once under
//! `components.responses` and adds a reference to it to every operation that can answer it and
//! does not document the status itself (an operation's own description, naming its case, wins).
//! It runs on the whole document after the routes are collected, so a new route inherits them.

use std::collections::btree_map::Entry;

use utoipa::Modify;
use utoipa::openapi::header::Header;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::{
    ContentBuilder, HeaderBuilder, OpenApi, Ref, RefOr, ResponseBuilder, Type,
    schema::ObjectBuilder,
};

use crate::problem::PROBLEM_JSON;

/// One shared problem response.
#[derive(Debug, Clone, Copy)]
pub struct SharedProblem {
    /// The HTTP status.
    pub status: u16,
    /// Its name under `components.responses`.
    pub name: &'static str,
    /// What the response means (the document's `description`).
    pub description: &'static str,
    /// A header it always carries, with the header's description.
    pub header: Option<(&'static str, &'static str)>,
    /// Which operations can answer it.
    pub applies_to: Applies,
}

/// Which operations a [`SharedProblem`] belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applies {
    /// Every operation.
    All,
    /// Operations behind the bearer token (they declare a `security` requirement).
    Secured,
    /// Operations with a path, query or header parameter or a request body.
    Input,
    /// Operations with a path parameter.
    PathId,
    /// Operations with a request body.
    Body,
    /// Operations with a JSON request body (`application/json` or `application/*+json`).
    JsonBody,
    /// Operations with a request body or a query parameter.
    BodyOrQuery,
}

/// Every shared problem response, by status.
pub const SHARED_PROBLEMS: &[SharedProblem] = &[
    SharedProblem {
        status: 400,
        name: "BadRequest",
        description: "`/problems/bad-request`: a path id, query parameter, header or body that does not \
            parse (an id that is not a UUID, an unknown or malformed parameter, JSON syntax); \
            `errors[0].field` names it",
        header: None,
        applies_to: Applies::Input,
    },
    SharedProblem {
        status: 401,
        name: "Unauthorized",
        description: "`/problems/unauthorized`: no valid bearer token (missing, malformed, expired, \
            badly signed, or for a tenant that does not exist)",
        header: Some(("WWW-Authenticate", "`Bearer`")),
        applies_to: Applies::Secured,
    },
    SharedProblem {
        status: 403,
        name: "Forbidden",
        description: "`/problems/forbidden`: the token lacks the permission the operation needs",
        header: None,
        applies_to: Applies::Secured,
    },
    SharedProblem {
        status: 404,
        name: "NotFound",
        description: "`/problems/not-found`: no such record in the caller's tenant (or it is deleted)",
        header: None,
        applies_to: Applies::PathId,
    },
    SharedProblem {
        status: 413,
        name: "PayloadTooLarge",
        description: "`/problems/payload-too-large`: the body exceeds the configured limit \
            (`CRM_MAX_BODY_BYTES` for JSON)",
        header: None,
        applies_to: Applies::Body,
    },
    SharedProblem {
        status: 415,
        name: "UnsupportedMediaType",
        description: "`/problems/unsupported-media-type`: the body is missing or not JSON",
        header: None,
        applies_to: Applies::JsonBody,
    },
    SharedProblem {
        status: 422,
        name: "ValidationError",
        description: "`/problems/validation-error`: fields or parameters break input rules (a wrong \
            type, an unknown or missing field, a value out of range); `errors` names each by its \
            path",
        header: None,
        applies_to: Applies::BodyOrQuery,
    },
    SharedProblem {
        status: 429,
        name: "RateLimited",
        description: "`/problems/rate-limited`: the caller's token, tenant or (for failed \
            authentications) address has spent its request budget (`CRM_RATE_LIMIT_*`); \
            `RateLimit-Policy` and `RateLimit` describe the bucket; retry after `Retry-After` \
            seconds",
        header: Some(("Retry-After", "Seconds to wait before retrying")),
        applies_to: Applies::Secured,
    },
    SharedProblem {
        status: 500,
        name: "Internal",
        description: "`/problems/internal`: a bug; the details are only in the server's log",
        header: None,
        applies_to: Applies::All,
    },
    SharedProblem {
        status: 503,
        name: "Unavailable",
        description: "`/problems/unavailable`: the database does not answer in time, or a record \
            changes too often to write; retry after `Retry-After` seconds",
        header: Some(("Retry-After", "Seconds to wait before retrying")),
        applies_to: Applies::Secured,
    },
];

impl Applies {
    /// Whether `op` can answer the response.
    pub fn matches(self, op: &Operation) -> bool {
        let params = op.parameters.as_deref().unwrap_or_default();
        let has_param = |place: ParameterIn| {
            params.iter().any(|p| match p {
                RefOr::T(p) => p.parameter_in == place,
                RefOr::Ref(_) => true,
            })
        };
        let body_types = || {
            op.request_body
                .iter()
                .flat_map(|b| match b {
                    RefOr::T(b) => b.content.keys().cloned().collect::<Vec<_>>(),
                    RefOr::Ref(_) => Vec::new(),
                })
                .collect::<Vec<_>>()
        };
        let has_body = op.request_body.is_some();
        match self {
            Applies::All => true,
            Applies::Secured => op.security.as_ref().is_some_and(|s| !s.is_empty()),
            Applies::Input => has_body || !params.is_empty(),
            Applies::PathId => has_param(ParameterIn::Path),
            Applies::Body => has_body,
            Applies::JsonBody => body_types().iter().any(|t| crate::json::is_json(t)),
            Applies::BodyOrQuery => has_body || has_param(ParameterIn::Query),
        }
    }
}

/// The header `shared` always carries, as documented.
fn header(shared: &SharedProblem) -> Header {
    let description = shared.header.map(|(_, d)| d);
    HeaderBuilder::new()
        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
        .description(description)
        .build()
}

/// The [`Modify`] that documents [`SHARED_PROBLEMS`] (see the module documentation); an
/// operation's own 401 or 503 gets the shared one's header.
#[derive(Debug, Clone, Copy, Default)]
pub struct SharedProblems;

impl Modify for SharedProblems {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        for shared in SHARED_PROBLEMS {
            let mut response = ResponseBuilder::new()
                .description(shared.description)
                .content(
                    PROBLEM_JSON,
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Problem")))
                        .build(),
                );
            if let Some((name, _)) = shared.header {
                response = response.header(name, header(shared));
            }
            components
                .responses
                .insert(shared.name.to_owned(), RefOr::T(response.build()));
        }
        for item in openapi.paths.paths.values_mut() {
            for op in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.options,
                &mut item.head,
                &mut item.patch,
                &mut item.trace,
                &mut item.query,
            ]
            .into_iter()
            .flatten()
            {
                for shared in SHARED_PROBLEMS {
                    let applies = shared.applies_to.matches(op);
                    match op.responses.responses.entry(shared.status.to_string()) {
                        // The operation's own description of the status: it gets the header
                        // every such answer carries.
                        Entry::Occupied(mut own) => {
                            if let (RefOr::T(own), Some((name, _))) = (own.get_mut(), shared.header)
                            {
                                own.headers
                                    .entry(name.to_owned())
                                    .or_insert_with(|| RefOr::T(header(shared)));
                            }
                        }
                        Entry::Vacant(slot) => {
                            if applies {
                                slot.insert(RefOr::Ref(Ref::from_response_name(shared.name)));
                            }
                        }
                    }
                }
            }
        }
    }
}
