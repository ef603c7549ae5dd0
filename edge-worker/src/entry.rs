//! The Workers runtime adapter: turns a `fetch` event into a routed handler call.

use worker::{Context, Env, Request, Response, Result, event};

use crate::endpoint::{Endpoint, endpoint};

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    match endpoint(req.method().as_ref(), &req.path()) {
        Endpoint::Health => {
            let mut resp = Response::from_json(&crate::health::health())?;
            resp.headers_mut().set("cache-control", "no-store")?;
            Ok(resp)
        }
        Endpoint::MethodNotAllowed => Response::error("method not allowed", 405),
        Endpoint::NotFound => Response::error("not found", 404),
        Endpoint::Asset => env.assets("ASSETS")?.fetch_request(req).await,
    }
}
