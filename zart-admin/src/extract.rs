//! axum's `Path` and `Query`, whose failures are the admin's own errors: a 400 naming the
//! parameter (in JSON for the API, as a page for the UI), not axum's plain text.

use axum::extract::path::ErrorKind;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::AdminError;
use crate::params::without_nul;

/// The path's parameters, each valid UTF-8 once percent-decoded and free of NUL (which no
/// id or name the store keeps can hold).
pub(crate) struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AdminError> {
        let axum::extract::Path(value) = axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map_err(path_error)?;
        // Decoded above, so these are known to be UTF-8.
        if let Ok(raw) = RawPathParams::from_request_parts(parts, state).await {
            for (key, text) in &raw {
                without_nul(&format!("`{key}` in the path"), text)?;
            }
        }
        Ok(Path(value))
    }
}

fn path_error(rejection: PathRejection) -> AdminError {
    match rejection {
        PathRejection::FailedToDeserializePathParams(failed) => match failed.into_kind() {
            ErrorKind::InvalidUtf8InPathParam { key } => AdminError::bad_request(format!(
                "`{key}` in the path is not UTF-8 once percent-decoded"
            )),
            kind => AdminError::bad_request(format!("the path is not understood: {kind}")),
        },
        // Only a route written without the parameters its handler reads: the admin's bug.
        other => {
            tracing::error!(error = %other, "an admin route reads parameters it lacks");
            AdminError {
                status: other.status(),
                code: "internal",
                message: "this route is broken: the server's log tells why".to_owned(),
            }
        }
    }
}

/// The query string, read into `T`.
pub(crate) struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AdminError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Query(value)),
            Err(rejection) => Err(query_error(rejection)),
        }
    }
}

fn query_error(rejection: QueryRejection) -> AdminError {
    // axum's text names the parameter after its own prefix: `count: provided string was
    // not `true` or `false``.
    let text = rejection.body_text();
    let detail = text
        .strip_prefix("Failed to deserialize query string: ")
        .unwrap_or(&text);
    AdminError::bad_request(format!("the query is not understood: {detail}"))
}
