//! The Workers runtime adapter: turns a `fetch` event into an endpoint's handler.
//!
//! Session admission happens here, before any WebSocket upgrade: the publishable key names the
//! tenant and carries the edge's tag, checked here before any Durable Object is touched
//! ([`crate::tenant::key_tag`]); the tenant's object checks that the key is still live, the
//! page's origin and the session limit (a resume takes no slot here: its `session.resume` with
//! the conversation's latest token takes the conversation's over, in the conversation's
//! object). Only then is the socket handed to the conversation's object, whose name is derived
//! from the tenant id and the conversation id, so no request for one tenant can address
//! another's conversations.

use serde::Serialize;
use serde::de::DeserializeOwned;
use wasm_bindgen::{JsCast, JsValue};
use worker::{
    Context, Env, Headers, Method, ObjectNamespace, Request, RequestInit, Response, Result, Stub,
    WebSocketPair, console_log, event,
};

use crate::endpoint::{Endpoint, endpoint};
use crate::session::token::TokenSigner;
use crate::tenant::admin_api::{self, AdminError, AdminRoute, admin_route, is_conversation_id};
use crate::tenant::admission::{AdmitAnswer, AdmitRequest};
use crate::tenant::api_error::ApiError;
use crate::tenant::key_tag::KeyTagger;
use crate::tenant::placement::Placement;
use crate::tenant::quota::Limited;
use crate::tenant::rpc::{ConversationIdentity, IndexAnswer, IndexRequest};
use crate::tenant::settings::{PublishableKey, TenantId};
use crate::worker::runtime::{api_error, hex, json_error, json_response, now_ms, random_bytes};
use crate::worker::tenant_object::TENANT_HEADER;

/// Headers by which the Worker tells a conversation's object whose it is, which connection
/// this socket is (its lease's), and for which client (its tag).
pub(crate) const CONVERSATION_HEADER: &str = "x-aura-conversation";
pub(crate) const CONNECTION_HEADER: &str = "x-aura-connection";
pub(crate) const CLIENT_HEADER: &str = "x-aura-client";
pub(crate) const KEY_HEADER: &str = "x-aura-key";
/// `1` when the connection resumes a conversation (its token checked), `0` for a new one.
pub(crate) const RESUME_HEADER: &str = "x-aura-resume";
/// The Workers rate-limiting binding that bounds how often one client opens sessions
/// (wrangler.toml), checked before the tenant's object is asked anything.
const SESSION_OPENS_BINDING: &str = "SESSION_OPENS";

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    match endpoint(req.method().as_ref(), &req.path()) {
        Endpoint::Health => {
            let mut resp = Response::from_json(&crate::health::health())?;
            resp.headers_mut().set("cache-control", "no-store")?;
            Ok(resp)
        }
        Endpoint::Session => session(req, env).await,
        Endpoint::Admin => admin(req, env).await,
        Endpoint::MethodNotAllowed => Response::error("method not allowed", 405),
        Endpoint::NotFound => Response::error("not found", 404),
        // Static files are served before the Worker runs (their headers, CORS for the widget
        // included, are in www/_headers); what reaches here is a path with no file.
        Endpoint::Asset => env.assets("ASSETS")?.fetch_request(req).await,
    }
}

/// The session-token signer, if `SESSION_SIGNING_KEY` is configured (32 bytes or more).
pub(crate) fn signer(env: &Env) -> Option<TokenSigner> {
    let secret = env.secret("SESSION_SIGNING_KEY").ok()?.to_string();
    TokenSigner::new(secret.as_bytes()).ok()
}

/// The publishable-key tagger, if `PUBLISHABLE_KEY_SECRET` is configured (32 bytes or more).
pub(crate) fn key_tagger(env: &Env) -> Option<KeyTagger> {
    let secret = env.secret("PUBLISHABLE_KEY_SECRET").ok()?.to_string();
    KeyTagger::new(secret.as_bytes()).ok()
}

/// The tenant's object (one per tenant, named by its id).
pub(crate) fn tenant_stub(env: &Env, tenant: &TenantId) -> Result<Stub> {
    env.durable_object("TENANTS")?
        .id_from_name(tenant.as_str())?
        .get_stub()
}

/// The object of conversation `name` (`{tenant}/{conversation}`), placed as the tenant says:
/// in its jurisdiction's namespace (`namespace.jurisdiction("eu")`, which workers-rs does not
/// wrap, called through JS) and with its location hint, which only a new object follows.
/// Local workerd throws "Jurisdiction restrictions are not implemented": in local development
/// (`AURA_DEV=1`) the plain namespace is used and the log says so; deployed, the session fails
/// rather than store a conversation outside its jurisdiction.
fn session_stub(env: &Env, placement: Placement, name: &str) -> Result<Stub> {
    let mut sessions = env.durable_object("SESSIONS")?;
    if let Some(jurisdiction) = placement.jurisdiction {
        let namespace: &JsValue = sessions.as_ref();
        let scoped = js_sys::Reflect::get(namespace, &"jurisdiction".into())?
            .dyn_into::<js_sys::Function>()?
            .call1(namespace, &jurisdiction.as_str().into());
        let dev = env.var("AURA_DEV").is_ok_and(|v| v.to_string() == "1");
        match scoped {
            Ok(scoped) => sessions = ObjectNamespace::unchecked_from_js(scoped),
            Err(_) if dev => console_log!(
                "{}",
                serde_json::json!({"event": "jurisdiction_ignored", "jurisdiction": jurisdiction.as_str(), "why": "not available in local workerd"})
            ),
            Err(e) => return Err(e.into()),
        }
    }
    match placement.location_hint {
        Some(hint) => sessions.get_by_name_with_location_hint(name, hint.as_str()),
        None => sessions.id_from_name(name)?.get_stub(),
    }
}

/// POSTs JSON to an object's internal path and reads the JSON answer.
pub(crate) async fn call<T: Serialize, A: DeserializeOwned>(
    stub: &Stub,
    tenant: &TenantId,
    path: &str,
    body: &T,
) -> Result<A> {
    let headers = Headers::new();
    headers.set(TENANT_HEADER, tenant.as_str())?;
    headers.set("content-type", "application/json")?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(serde_json::to_string(body)?.into()));
    let req = Request::new_with_init(&format!("https://tenant.internal{path}"), &init)?;
    stub.fetch_with_request(req).await?.json().await
}

/// Admits the WebSocket (see the module comment) and hands it to the conversation's object.
async fn session(req: Request, env: Env) -> Result<Response> {
    let upgrade = req.headers().get("upgrade")?.unwrap_or_default();
    if !upgrade.eq_ignore_ascii_case("websocket") {
        return api_error(&ApiError::UpgradeRequired);
    }
    let url = req.url()?;
    let query = |name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    let Some(key) = query("key").and_then(|k| PublishableKey::parse(&k).ok()) else {
        return api_error(&ApiError::InvalidKey);
    };
    let (Some(signer), Some(tagger)) = (signer(&env), key_tagger(&env)) else {
        return api_error(&ApiError::SessionsNotConfigured);
    };
    // A key the edge did not issue (made up, or for a made-up tenant) is refused here, with
    // one HMAC: no Durable Object is asked anything.
    if tagger.check(&key).is_err() {
        return api_error(&ApiError::InvalidKey);
    }
    let (conversation, resume) = match query("session") {
        Some(id) if is_conversation_id(&id) => {
            // The token belongs in `session.resume`, which alone takes the conversation over
            // (its object checks it is the latest). An older client also puts it in the URL:
            // a forged or misdirected one is refused here, before any upgrade.
            if let Some(token) = query("token") {
                let now_s = now_ms() / 1000;
                if signer
                    .verify_for(&token, key.tenant.as_str(), &id, now_s)
                    .is_err()
                {
                    return api_error(&ApiError::BadSessionToken);
                }
            }
            (id, true)
        }
        Some(_) => return api_error(&ApiError::UnknownSession),
        None => (hex(&random_bytes::<16>()?), false),
    };
    // The client as Cloudflare reports it (a visitor cannot set this header through
    // Cloudflare), known to the counters only by a keyed tag.
    let address = req.headers().get("cf-connecting-ip")?.unwrap_or_default();
    let client = signer.client_tag(&address);
    if !session_opens_allowed(&env, &client).await {
        return rate_limited_socket(Limited::new(
            "session_opens_per_client",
            SESSION_OPENS_RETRY_MS,
        ));
    }
    let connection = hex(&random_bytes::<16>()?);
    let origin = req.headers().get("origin")?.unwrap_or_default();
    let tenant_object = tenant_stub(&env, &key.tenant)?;
    let answer: AdmitAnswer = call(
        &tenant_object,
        &key.tenant,
        "/admit",
        &AdmitRequest {
            publishable_key: key.key.clone(),
            origin,
            conversation: conversation.clone(),
            resume,
            connection: connection.clone(),
            client: client.clone(),
        },
    )
    .await?;
    let placement = match answer {
        AdmitAnswer::Admitted(placement) => placement,
        AdmitAnswer::Refused { status, message } => return json_error(status, &message),
        AdmitAnswer::Limited(limited) => return rate_limited_socket(limited),
    };
    let stub = session_stub(&env, placement, &format!("{}/{conversation}", key.tenant))?;
    let headers = req.headers().clone();
    headers.set(TENANT_HEADER, key.tenant.as_str())?;
    headers.set(CONVERSATION_HEADER, &conversation)?;
    headers.set(CONNECTION_HEADER, &connection)?;
    headers.set(CLIENT_HEADER, &client)?;
    headers.set(KEY_HEADER, &key.key)?;
    headers.set(RESUME_HEADER, if resume { "1" } else { "0" })?;
    let mut init = RequestInit::new();
    init.with_headers(headers);
    let inner = Request::new_with_init("https://session.internal/", &init)?;
    stub.fetch_with_request(inner).await
}

/// `DELETE .../conversations/{id}`: the conversation's own object deletes itself.
async fn delete_conversation(env: &Env, tenant: &TenantId, conversation: &str) -> Result<Response> {
    let placement: Placement = call(&tenant_stub(env, tenant)?, tenant, "/placement", &()).await?;
    delete_conversation_object(env, placement, tenant, conversation).await
}

/// Asks the object of `tenant`'s `conversation` (placed at `placement`) to delete itself; it
/// answers `{"deleted": bool}`. Also the tenant object's, deleting all its conversations.
pub(crate) async fn delete_conversation_object(
    env: &Env,
    placement: Placement,
    tenant: &TenantId,
    conversation: &str,
) -> Result<Response> {
    session_stub(env, placement, &format!("{tenant}/{conversation}"))?
        .fetch_with_request(delete_request(tenant, conversation)?)
        .await
}

/// The request by which a conversation's object deletes itself.
fn delete_request(tenant: &TenantId, conversation: &str) -> Result<Request> {
    let headers = Headers::new();
    headers.set(TENANT_HEADER, tenant.as_str())?;
    headers.set(CONVERSATION_HEADER, conversation)?;
    let mut init = RequestInit::new();
    init.with_method(Method::Delete).with_headers(headers);
    Request::new_with_init("https://session.internal/admin/conversation", &init)
}

/// `POST /admin/v1/conversation-objects/{object_id}/index`: asks the conversation's object
/// whose it is and lists it with its tenant's object; a conversation whose tenant no longer
/// exists is deleted. Answers `{"stored": false}` for an object that stores nothing, else
/// `{"stored": true, "tenant", "conversation", "outcome": "listed"|"marked"|"deleted"}`.
async fn index_conversation_object(env: &Env, object_id: &str) -> Result<Response> {
    let sessions = env.durable_object("SESSIONS")?;
    // An id this namespace did not make is refused by the runtime.
    let Ok(id) = sessions.id_from_string(object_id) else {
        return api_error(&ApiError::NotFound);
    };
    let stub = id.get_stub()?;
    let mut init = RequestInit::new();
    init.with_method(Method::Get);
    let ask = Request::new_with_init("https://session.internal/admin/identity", &init)?;
    let identity: Option<ConversationIdentity> = stub.fetch_with_request(ask).await?.json().await?;
    let Some((tenant, conversation)) = identity.and_then(|i| {
        let tenant = TenantId::parse(&i.tenant).ok()?;
        is_conversation_id(&i.conversation).then_some((tenant, i.conversation))
    }) else {
        return json_response(200, &serde_json::json!({"stored": false}));
    };
    let answer: IndexAnswer = call(
        &tenant_stub(env, &tenant)?,
        &tenant,
        "/index",
        &IndexRequest {
            conversation: conversation.clone(),
        },
    )
    .await?;
    let outcome = match answer {
        IndexAnswer::Listed => "listed",
        IndexAnswer::Marked => "marked",
        IndexAnswer::NoTenant => {
            stub.fetch_with_request(delete_request(&tenant, &conversation)?)
                .await?;
            "deleted"
        }
    };
    console_log!(
        "{}",
        serde_json::json!({"event": "admin", "action": "index_conversation", "outcome": outcome})
    );
    json_response(
        200,
        &serde_json::json!({"stored": true, "tenant": tenant.as_str(), "conversation": conversation, "outcome": outcome}),
    )
}

/// What a client over the session-open rate is told to wait (the binding's period).
const SESSION_OPENS_RETRY_MS: u32 = 60_000;

/// Whether `client` may open another session now (the rate-limiting binding). A deployment
/// without the binding is not limited here (the tenant's own limits still hold), and says so
/// in the log.
async fn session_opens_allowed(env: &Env, client: &str) -> bool {
    let Ok(limiter) = env.rate_limiter(SESSION_OPENS_BINDING) else {
        console_log!(
            "{}",
            serde_json::json!({"event": "binding_missing", "binding": SESSION_OPENS_BINDING})
        );
        return true;
    };
    match limiter.limit(client.to_string()).await {
        Ok(outcome) => outcome.success,
        // The limiter failing is no reason to refuse a visitor.
        Err(_) => true,
    }
}

/// A browser cannot read the status of a refused upgrade, so a limit is told on the socket,
/// with when to retry, and the socket closed with 1013 (try again later).
fn rate_limited_socket(limited: Limited) -> Result<Response> {
    let pair = WebSocketPair::new()?;
    pair.server.accept()?;
    pair.server.send_with_str(
        aura_protocol::ServerMessage::RateLimited {
            retry_after_ms: limited.retry_after_ms,
            limit: limited.limit,
        }
        .to_json(),
    )?;
    pair.server.close(Some(1013), Some("rate limited"))?;
    Response::from_websocket(pair.client)
}

/// The admin API: checks the bearer token, then hands the request to the tenant's object.
async fn admin(mut req: Request, env: Env) -> Result<Response> {
    let token = env.secret("ADMIN_TOKEN").ok().map(|s| s.to_string());
    let header = req.headers().get("authorization")?;
    if !admin_api::authorized(header.as_deref(), token.as_deref()) {
        return api_error(&ApiError::AdminTokenRequired);
    }
    let method = req.method().to_string();
    let path = req.path();
    match admin_api::object_index_route(&method, &path) {
        Some(Ok(object_id)) => return index_conversation_object(&env, &object_id).await,
        Some(Err(e)) => return api_error(&ApiError::from(e)),
        None => {}
    }
    let tenant = match admin_route(&method, &path) {
        Ok((tenant, AdminRoute::DeleteConversation(conversation))) => {
            return delete_conversation(&env, &tenant, &conversation).await;
        }
        Ok((tenant, _)) => tenant,
        Err(e @ (AdminError::NotFound | AdminError::MethodNotAllowed | AdminError::Invalid(_))) => {
            return api_error(&ApiError::from(e));
        }
    };
    let body = req.bytes().await?;
    if body.len() > admin_api::BODY_MAX {
        return api_error(&ApiError::BodyTooLarge);
    }
    let headers = Headers::new();
    headers.set(TENANT_HEADER, tenant.as_str())?;
    let mut init = RequestInit::new();
    init.with_method(req.method()).with_headers(headers);
    if !matches!(req.method(), Method::Get | Method::Head) {
        init.with_body(Some(js_sys::Uint8Array::from(body.as_slice()).into()));
    }
    let inner = Request::new_with_init(&format!("https://tenant.internal{path}"), &init)?;
    tenant_stub(&env, &tenant)?.fetch_with_request(inner).await
}
