//! The Workers runtime adapter: turns a `fetch` event into a routed handler call.

use worker::{Context, Env, Request, Response, Result, event};

use crate::route::{Route, route};

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    match route(req.method().as_ref(), &req.path()) {
        Route::Health => {
            let mut resp = Response::from_json(&crate::health::health())?;
            resp.headers_mut().set("cache-control", "no-store")?;
            Ok(resp)
        }
        Route::MethodNotAllowed => Response::error("method not allowed", 405),
        Route::NotFound => Response::error("not found", 404),
        Route::Asset => env.assets("ASSETS")?.fetch_request(req).await,
    }
}
