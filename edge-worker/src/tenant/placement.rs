//! Where a tenant's conversations' Durable Objects live: a location hint (Cloudflare places
//! a new object near the hinted region instead of near its first caller, which matters when a
//! provider refuses some regions) and a jurisdiction (`eu`: the objects run and store data in
//! the EU only). Applied where the Worker gets a conversation's stub; see `docs/deploy.md`.

use serde::{Deserialize, Serialize};

/// Cloudflare's Durable Object location hints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LocationHint {
    /// Western North America.
    Wnam,
    /// Eastern North America.
    Enam,
    /// South America.
    Sam,
    /// Western Europe.
    Weur,
    /// Eastern Europe.
    Eeur,
    /// Asia-Pacific.
    Apac,
    /// Oceania.
    Oc,
    /// Africa.
    Afr,
    /// Middle East.
    Me,
}

impl LocationHint {
    /// The `locationHint` value Cloudflare takes.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Wnam => "wnam",
            Self::Enam => "enam",
            Self::Sam => "sam",
            Self::Weur => "weur",
            Self::Eeur => "eeur",
            Self::Apac => "apac",
            Self::Oc => "oc",
            Self::Afr => "afr",
            Self::Me => "me",
        }
    }
}

/// A jurisdiction a Durable Object is kept in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Jurisdiction {
    /// The European Union.
    Eu,
}

impl Jurisdiction {
    /// The value of `namespace.jurisdiction(...)`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Eu => "eu",
        }
    }
}

/// A tenant's placement of its conversations' objects (none: near the first caller).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Placement {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location_hint: Option<LocationHint>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jurisdiction: Option<Jurisdiction>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_and_jurisdictions_are_cloudflares_words_and_nothing_else() {
        for word in [
            "wnam", "enam", "sam", "weur", "eeur", "apac", "oc", "afr", "me",
        ] {
            let hint: LocationHint = serde_json::from_value(word.into()).unwrap();
            assert_eq!(hint.as_str(), word);
        }
        for bad in ["WEUR", "eu", "us-east", ""] {
            assert!(
                serde_json::from_value::<LocationHint>(bad.into()).is_err(),
                "{bad}"
            );
        }
        assert_eq!(Jurisdiction::Eu.as_str(), "eu");
        assert!(serde_json::from_value::<Jurisdiction>("fedramp".into()).is_err());
        let p: Placement = serde_json::from_str(r#"{"jurisdiction":"eu"}"#).unwrap();
        assert_eq!(p.jurisdiction, Some(Jurisdiction::Eu));
        assert_eq!(p.location_hint, None);
        assert_eq!(serde_json::to_string(&Placement::default()).unwrap(), "{}");
    }
}
