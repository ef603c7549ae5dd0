//! The language the client sends with `session.start`. Browsers report what they like in
//! `navigator.language` (WebKit says `C` under `LANG=C`; others `""` or `en_US`): the first
//! candidate that is a well-formed BCP 47 tag wins, else [`FALLBACK_LANGUAGE`], so a visitor's
//! browser can never make the edge refuse the session.

use aura_protocol::is_language_tag;

/// Sent when no candidate is a tag.
pub const FALLBACK_LANGUAGE: &str = "en";

/// The first candidate (surrounding white space ignored) that is a BCP 47 tag, in order of
/// preference: the page's `data-language` or the browser's language, then the page's
/// `<html lang>`; else `en`.
pub fn choose_language<'a>(candidates: impl IntoIterator<Item = Option<&'a str>>) -> String {
    candidates
        .into_iter()
        .flatten()
        .map(str::trim)
        .find(|c| is_language_tag(c))
        .unwrap_or(FALLBACK_LANGUAGE)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_valid_browser_language_is_kept() {
        assert_eq!(choose_language([Some("en-GB"), Some("fr")]), "en-GB");
        assert_eq!(choose_language([Some(" de-CH "), None]), "de-CH");
    }

    #[test]
    fn an_invalid_browser_language_falls_back_to_the_page_then_en() {
        let long = "a".repeat(300);
        for bad in ["C", "", "en_US", "x", "123", "C.UTF-8", long.as_str()] {
            assert_eq!(
                choose_language([Some(bad), Some("fr-CA")]),
                "fr-CA",
                "{bad:?}"
            );
            assert_eq!(choose_language([Some(bad), Some("")]), "en", "{bad:?}");
            assert_eq!(choose_language([Some(bad), Some("C")]), "en", "{bad:?}");
            assert_eq!(choose_language([Some(bad), None]), "en", "{bad:?}");
        }
        assert_eq!(choose_language([None, None]), "en");
    }
}
