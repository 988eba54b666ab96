//! Who may use the admin, and which changes a browser may ask for.
//!
//! A request is let in with the admin's token as a bearer token (programs), or with the
//! cookie a browser gets by opening a page with `?token=` once; or by the application's
//! own [`authorize`](crate::Admin::authorize) check. A change asked for without an
//! `Authorization` header (so with ambient credentials, a cookie: a browser) must come from
//! the same site and carry the page's anti-forgery value, so that another site cannot make
//! a logged-in browser act.

use std::sync::Arc;

use axum::extract::{NestedPath, Request, State as Shared};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use crate::error::AdminError;
use crate::params::{
    local_path, percent_decode, percent_encode, query_value, under, without_query_value,
};
use crate::{ui, State};

/// The cookie that carries the token for a browser.
const COOKIE: &str = "zart_admin_token";

/// The query parameter (or `X-Zart-Csrf` header) that carries the anti-forgery value.
pub(crate) const CSRF_PARAM: &str = "csrf";

/// Where the admin is mounted (`""` at the root, `/admin` when nested there): links in the
/// pages start with it.
#[derive(Clone, Debug, Default)]
pub(crate) struct Base(pub String);

/// Compares without an early exit, so that timing tells nothing about the token.
fn same(given: &str, expected: &str) -> bool {
    let (a, b) = (given.as_bytes(), expected.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(COOKIE)?.strip_prefix('='))
        .map(percent_decode)
}

/// Lets in the requests that carry the token (or pass the application's check), refuses
/// changes in read-only mode and changes a browser was tricked into.
pub(crate) async fn guard(
    Shared(state): Shared<Arc<State>>,
    mut request: Request,
    next: Next,
) -> Response {
    let base = request
        .extensions()
        .get::<NestedPath>()
        .map(|nested| nested.as_str().trim_end_matches('/').to_owned())
        .unwrap_or_default();
    // What programs read (the API, a metrics scraper) is refused in JSON, never as a page.
    let path = request.uri().path();
    let api = path.starts_with("/api/") || path == "/metrics";
    let headers = request.headers();
    let query = request.uri().query().unwrap_or_default().to_owned();
    let allowed = match &state.authorize {
        Some(authorize) => {
            let (parts, body) = request.into_parts();
            let allowed = authorize(&parts);
            request = Request::from_parts(parts, body);
            allowed
        }
        None => {
            bearer(headers).is_some_and(|token| same(token, &state.token))
                || cookie(headers).is_some_and(|token| same(&token, &state.token))
        }
    };
    if !allowed {
        // Opening a page with the token in its address logs the browser in, and takes the
        // token out of the address (and so out of its history).
        let given = query_value(&query, "token");
        if state.authorize.is_none()
            && request.method() == Method::GET
            && given
                .as_deref()
                .is_some_and(|token| same(token, &state.token))
        {
            let rest = without_query_value(&query, "token");
            let path = under(&base, &local_path(request.uri().path()));
            let location = match rest.is_empty() {
                true => path,
                false => format!("{path}?{rest}"),
            };
            let cookie = format!(
                "{COOKIE}={}; Path={}; HttpOnly; SameSite=Strict",
                percent_encode(&state.token),
                if base.is_empty() { "/" } else { &base }
            );
            let mut response = Redirect::to(&location).into_response();
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response.headers_mut().insert(header::SET_COOKIE, value);
            }
            return response;
        }
        let message = refusal(given.is_some(), request.headers());
        return match api {
            true => AdminError::unauthorized(message).into_response(),
            false => ui::unauthorized(&base, state.read_only, message),
        };
    }

    let changes = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if changes {
        if state.read_only {
            return refuse(
                api,
                &base,
                state.read_only,
                "the admin is read-only: nothing can be changed here",
            );
        }
        let headers = request.headers();
        if !headers.contains_key(header::AUTHORIZATION) {
            if let Err(reason) = same_site(headers, &query, &state.csrf) {
                return refuse(api, &base, state.read_only, reason);
            }
        }
    }
    request.extensions_mut().insert(Base(base));
    next.run(request).await
}

/// Why a request was not let in, from the credentials it carried: a wrong one is told
/// it is wrong, not that one is needed.
fn refusal(token_in_query: bool, headers: &HeaderMap) -> &'static str {
    if token_in_query {
        "the token is wrong"
    } else if bearer(headers).is_some() {
        "the bearer token is wrong"
    } else if headers.contains_key(header::AUTHORIZATION) {
        "the Authorization header must be `Bearer <token>`"
    } else if cookie(headers).is_some() {
        "the token this browser kept is wrong (the admin's token may have changed): give the current one"
    } else {
        "this admin needs its token: send `Authorization: Bearer <token>`, or open a page with `?token=<token>` once"
    }
}

fn refuse(api: bool, base: &str, read_only: bool, message: &str) -> Response {
    match api {
        true => AdminError::forbidden(message).into_response(),
        false => ui::error_page(base, read_only, StatusCode::FORBIDDEN, message),
    }
}

/// A browser's change comes from the admin's own pages: the fetch metadata and origin it
/// sends say so, and it carries the value only those pages hold.
fn same_site(headers: &HeaderMap, query: &str, csrf: &str) -> Result<(), &'static str> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = text("sec-fetch-site") {
        if !matches!(site, "same-origin" | "none") {
            return Err("a change was asked for from another site, and refused");
        }
    }
    // A page whose referrer policy hides its address may send `Origin: null`: then the
    // fetch metadata and the anti-forgery value decide.
    if let (Some(origin), Some(host)) = (text("origin").filter(|o| *o != "null"), text("host")) {
        let origin_host = origin.split_once("://").map_or(origin, |(_, rest)| rest);
        if origin_host != host {
            return Err("a change was asked for from another origin, and refused");
        }
    }
    let given = text("x-zart-csrf")
        .map(str::to_owned)
        .or_else(|| query_value(query, CSRF_PARAM));
    match given {
        Some(given) if same(&given, csrf) => Ok(()),
        _ => Err("this change lacks the page's anti-forgery value: reload the page and try again"),
    }
}

/// Headers that keep pages from being framed, sniffed or leaking their address, and keep
/// scripts to the admin's own.
pub(crate) async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let set = [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::CACHE_CONTROL, "no-store"),
    ];
    for (name, value) in set {
        headers
            .entry(name)
            .or_insert(HeaderValue::from_static(value));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_whole() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("ab", "abc"));
        assert!(!same("", "abc"));
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; zart_admin_token=t%20k; b=2"),
        );
        assert_eq!(cookie(&headers).as_deref(), Some("t k"));
    }
}
