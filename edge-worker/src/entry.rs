//! The Workers runtime adapter: turns a `fetch` event into an endpoint's handler.

use worker::{Context, Env, Request, RequestInit, Response, Result, event};

use crate::endpoint::{Endpoint, endpoint};

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    match endpoint(req.method().as_ref(), &req.path()) {
        Endpoint::Health => {
            let mut resp = Response::from_json(&crate::health::health())?;
            resp.headers_mut().set("cache-control", "no-store")?;
            Ok(resp)
        }
        Endpoint::Session => session(req, env).await,
        Endpoint::MethodNotAllowed => Response::error("method not allowed", 405),
        Endpoint::NotFound => Response::error("not found", 404),
        Endpoint::Asset => env.assets("ASSETS")?.fetch_request(req).await,
    }
}

/// Hands the WebSocket to the conversation's Durable Object: a new one, or the one named by
/// `?session=ID` (a resume; the object still checks the token).
async fn session(req: Request, env: Env) -> Result<Response> {
    let upgrade = req.headers().get("upgrade")?.unwrap_or_default();
    if !upgrade.eq_ignore_ascii_case("websocket") {
        return Response::error("this endpoint takes a WebSocket upgrade", 426);
    }
    let sessions = env.durable_object("SESSIONS")?;
    let resume = req
        .url()?
        .query_pairs()
        .find(|(k, _)| k == "session")
        .map(|(_, v)| v.into_owned());
    let id = match resume {
        Some(hex) => match sessions.id_from_string(&hex) {
            Ok(id) => id,
            Err(_) => return Response::error("unknown session", 404),
        },
        None => sessions.unique_id()?,
    };
    let mut init = RequestInit::new();
    init.with_headers(req.headers().clone());
    let inner = Request::new_with_init("https://session.internal/", &init)?;
    id.get_stub()?.fetch_with_request(inner).await
}
