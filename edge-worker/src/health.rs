//! The health endpoint's body: what a load balancer or a test needs to know the edge is up and
//! which protocol it speaks.

use serde::Serialize;

/// Body of `GET /health`.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Health {
    pub status: &'static str,
    pub service: &'static str,
    pub version: &'static str,
    pub protocol: u32,
}

/// The health of this build. The edge has no dependency whose absence makes it unhealthy yet.
pub fn health() -> Health {
    Health {
        status: "ok",
        service: "aura-edge",
        version: env!("CARGO_PKG_VERSION"),
        protocol: aura_protocol::PROTOCOL_VERSION,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn health_names_the_protocol_version() {
        let body = serde_json::to_value(super::health()).unwrap();
        assert_eq!(body["status"], "ok");
        assert_eq!(body["protocol"], aura_protocol::PROTOCOL_VERSION);
    }
}
