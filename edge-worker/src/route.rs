//! Which handler a request goes to. Everything the Worker does not route is a static asset
//! served from `www/` by the assets binding.

/// A routed request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `GET /health`: liveness and the protocol version.
    Health,
    /// A path under the API prefix that exists with another method.
    MethodNotAllowed,
    /// A path under the API prefix that does not exist.
    NotFound,
    /// Anything else: a static asset (the widget script, the demo page).
    Asset,
}

/// The prefix of the paths the Worker answers itself, besides `/health`.
const API_PREFIX: &str = "/v1/";

/// Routes a request by method and path.
pub fn route(method: &str, path: &str) -> Route {
    match path {
        "/health" if method == "GET" || method == "HEAD" => Route::Health,
        "/health" => Route::MethodNotAllowed,
        p if p.starts_with(API_PREFIX) => Route::NotFound,
        _ => Route::Asset,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_is_get_or_head_only() {
        assert_eq!(route("GET", "/health"), Route::Health);
        assert_eq!(route("HEAD", "/health"), Route::Health);
        assert_eq!(route("POST", "/health"), Route::MethodNotAllowed);
    }

    #[test]
    fn unknown_api_paths_are_not_found_rather_than_assets() {
        assert_eq!(route("GET", "/v1/nothing"), Route::NotFound);
        assert_eq!(route("GET", "/healthz"), Route::Asset);
    }

    #[test]
    fn everything_else_is_an_asset() {
        assert_eq!(route("GET", "/"), Route::Asset);
        assert_eq!(route("GET", "/aura.js"), Route::Asset);
    }
}
