//! A tenant: its settings and their validation ([`settings`], with the URL policy in
//! [`host_policy`]), publishable keys the Worker checks alone ([`key_tag`]), admission of sessions and turns ([`admission`], [`lease`], [`quota`]), provider keys
//! sealed at rest ([`key_vault`]), tools and their webhook signatures ([`tools`],
//! [`webhook_signature`]), the admin API ([`admin_api`]) and the deletion of all of a tenant's conversations ([`erasure`]) and the RPC between the Worker and the
//! Durable Objects ([`rpc`]).

pub mod admin_api;
pub mod admission;
pub mod api_error;
pub mod erasure;
pub mod fields;
pub mod host_policy;
pub mod key_tag;
pub mod key_vault;
pub mod lease;
pub mod placement;
pub mod quota;
pub mod rpc;
pub mod settings;
pub mod tool_answer;
pub mod tools;
pub mod webhook_signature;
