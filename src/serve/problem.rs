//! Errors as RFC 9457 problem details (`application/problem+json`), as Annif returns them.

use serde::Serialize;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// An error answer: status, short title, and a detail that says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    /// Methods allowed on the resource (for 405), sent as the `Allow` header.
    #[serde(skip)]
    pub allow: Option<&'static str>,
    /// The `WWW-Authenticate` challenge (for 401).
    #[serde(skip)]
    pub challenge: Option<&'static str>,
}

impl Problem {
    fn new(status: u16, title: &'static str, detail: impl Into<String>) -> Problem {
        Problem {
            kind: "about:blank",
            title,
            status,
            detail: detail.into(),
            allow: None,
            challenge: None,
        }
    }

    pub fn bad_request(detail: impl Into<String>) -> Problem {
        Problem::new(400, "Bad Request", detail)
    }

    /// 401: learning needs an indexer's token (`--learn-tokens`), and the request had none
    /// (`invalid` false) or a wrong one.
    pub fn unauthorized(detail: impl Into<String>, invalid: bool) -> Problem {
        let mut problem = Problem::new(401, "Unauthorized", detail);
        problem.challenge = Some(if invalid {
            "Bearer realm=\"dtag learn\", error=\"invalid_token\""
        } else {
            "Bearer realm=\"dtag learn\""
        });
        problem
    }

    /// 403, as Annif answers an operation a project does not allow.
    pub fn forbidden(detail: impl Into<String>) -> Problem {
        Problem::new(403, "Forbidden", detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Problem {
        Problem::new(404, "Not Found", detail)
    }

    pub fn project_not_found(project_id: &str) -> Problem {
        Problem::new(
            404,
            "Project not found",
            format!("Project '{project_id}' not found"),
        )
    }

    pub fn method_not_allowed(method: &str, allowed: &'static str) -> Problem {
        let mut problem = Problem::new(
            405,
            "Method Not Allowed",
            format!(
                "method {} is not allowed here; use {allowed}",
                method.chars().take(16).collect::<String>()
            ),
        );
        problem.allow = Some(allowed);
        problem
    }

    pub fn request_timeout(detail: impl Into<String>) -> Problem {
        Problem::new(408, "Request Timeout", detail)
    }

    pub fn payload_too_large(limit: usize) -> Problem {
        Problem::new(
            413,
            "Payload Too Large",
            format!("request body is larger than the limit of {limit} bytes"),
        )
    }

    pub fn unsupported_media_type(detail: impl Into<String>) -> Problem {
        Problem::new(415, "Unsupported Media Type", detail)
    }

    pub fn internal(detail: impl Into<String>) -> Problem {
        Problem::new(500, "Internal Server Error", detail)
    }

    /// 429: the client has as many connections open as one client may (behind a trusted
    /// proxy: as many requests in progress).
    pub fn too_many_connections(per_client: usize) -> Problem {
        Problem::new(
            429,
            "Too Many Requests",
            format!("this client already has {per_client} connections open; retry later"),
        )
    }

    pub fn unavailable(detail: impl Into<String>) -> Problem {
        Problem::new(503, "Service Unavailable", detail)
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a problem serialises")
    }
}
