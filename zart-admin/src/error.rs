//! What a request that fails is told: a status and a message naming what was wrong. The API
//! answers `{"error": {"code": .., "message": ..}}`; the pages render the same message.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// A failed request.
#[derive(Debug)]
pub(crate) struct AdminError {
    pub status: StatusCode,
    /// A stable word for programs: `bad_request`, `not_found`, `unauthorized`, ...
    pub code: &'static str,
    pub message: String,
}

pub(crate) type AdminResult<T> = Result<T, AdminError>;

impl AdminError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        AdminError {
            status: StatusCode::BAD_REQUEST,
            code: "bad_request",
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        AdminError {
            status: StatusCode::NOT_FOUND,
            code: "not_found",
            message: message.into(),
        }
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        AdminError {
            status: StatusCode::CONFLICT,
            code: "conflict",
            message: message.into(),
        }
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        AdminError {
            status: StatusCode::UNAUTHORIZED,
            code: "unauthorized",
            message: message.into(),
        }
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        AdminError {
            status: StatusCode::FORBIDDEN,
            code: "forbidden",
            message: message.into(),
        }
    }
}

impl From<zart::Error> for AdminError {
    /// The store's errors are the server's (503 while the database is unreachable), and
    /// are logged, not told: the database's own text can name its tables and hold what
    /// another request stored. The caller's mistakes are 4xx and say what was wrong.
    fn from(error: zart::Error) -> Self {
        use zart::store::ErrorKind;
        let (status, code) = match &error {
            zart::Error::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            zart::Error::InvalidTask { .. } | zart::Error::InvalidQueueLimits { .. } => {
                (StatusCode::BAD_REQUEST, "bad_request")
            }
            zart::Error::AlreadyExists(_) => (StatusCode::CONFLICT, "conflict"),
            zart::Error::Store(store) if store.kind() == ErrorKind::Transient => {
                (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
            }
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        let message = match status {
            StatusCode::SERVICE_UNAVAILABLE => {
                tracing::warn!(%error, "an admin request failed: the database is unavailable");
                "the database cannot be reached just now: try again".to_owned()
            }
            status if status.is_server_error() => {
                tracing::error!(%error, "an admin request failed");
                "the store failed to answer: the server's log tells why".to_owned()
            }
            _ => error.to_string(),
        };
        AdminError {
            status,
            code,
            message,
        }
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let body = json!({ "error": { "code": self.code, "message": self.message } });
        (self.status, Json(body)).into_response()
    }
}
