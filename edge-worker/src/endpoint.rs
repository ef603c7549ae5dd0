//! Which endpoint an HTTP request is for. Everything the Worker does not route is a static asset
//! served from `www/` by the assets binding.

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `GET /health`: liveness and the protocol version.
    Health,
    /// `GET /v1/session` with `Upgrade: websocket`: a voice session (`?session=ID` resumes).
    Session,
    /// `/admin/v1/...`: the admin API (bearer token; see [`crate::tenant::admin_api`]).
    Admin,
    /// A path under the API prefix that exists with another method.
    MethodNotAllowed,
    /// A path under the API prefix that does not exist.
    NotFound,
    /// Anything else: a static asset (the widget script, the demo page).
    Asset,
}

/// The prefix of the paths the Worker answers itself, besides `/health`.
const API_PREFIX: &str = "/v1/";

/// The endpoint for a method and path.
pub fn endpoint(method: &str, path: &str) -> Endpoint {
    match path {
        "/health" if method == "GET" || method == "HEAD" => Endpoint::Health,
        "/health" => Endpoint::MethodNotAllowed,
        "/v1/session" if method == "GET" => Endpoint::Session,
        "/v1/session" => Endpoint::MethodNotAllowed,
        p if p.starts_with("/admin/") => Endpoint::Admin,
        p if p.starts_with(API_PREFIX) => Endpoint::NotFound,
        _ => Endpoint::Asset,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_is_get_or_head_only() {
        assert_eq!(endpoint("GET", "/health"), Endpoint::Health);
        assert_eq!(endpoint("HEAD", "/health"), Endpoint::Health);
        assert_eq!(endpoint("POST", "/health"), Endpoint::MethodNotAllowed);
    }

    #[test]
    fn the_session_endpoint_is_get_only() {
        assert_eq!(endpoint("GET", "/v1/session"), Endpoint::Session);
        assert_eq!(endpoint("POST", "/v1/session"), Endpoint::MethodNotAllowed);
    }

    #[test]
    fn unknown_api_paths_are_not_found_rather_than_assets() {
        assert_eq!(endpoint("GET", "/v1/nothing"), Endpoint::NotFound);
        assert_eq!(endpoint("GET", "/healthz"), Endpoint::Asset);
    }

    #[test]
    fn admin_paths_go_to_the_admin_api_whatever_the_method() {
        assert_eq!(endpoint("PUT", "/admin/v1/tenants/x"), Endpoint::Admin);
        assert_eq!(endpoint("GET", "/admin/"), Endpoint::Admin);
        assert_eq!(endpoint("GET", "/admin"), Endpoint::Asset);
    }

    #[test]
    fn everything_else_is_an_asset() {
        assert_eq!(endpoint("GET", "/"), Endpoint::Asset);
        assert_eq!(endpoint("GET", "/aura.js"), Endpoint::Asset);
    }
}
