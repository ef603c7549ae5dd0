//! How long a provider asks to be left alone, from its answer's headers: `retry-after-ms`
//! (OpenAI's, in ms), `retry-after` (seconds, or an HTTP date), or, when neither is given, the
//! latest of `x-ratelimit-reset-requests` / `x-ratelimit-reset-tokens` (OpenAI's and Groq's
//! durations such as `1s`, `6m0s`, `20ms`, `1h2m3.5s`). Sans-IO: the caller passes a header
//! lookup and the current time.

use std::time::{Duration, UNIX_EPOCH};

/// The wait the headers ask for, in ms; `now_unix_ms` dates an HTTP-date `retry-after`.
pub fn retry_after_ms(header: impl Fn(&str) -> Option<String>, now_unix_ms: u64) -> Option<u64> {
    if let Some(ms) = header("retry-after-ms").and_then(|v| v.trim().parse::<f64>().ok())
        && ms.is_finite()
        && ms >= 0.0
    {
        return Some(ms.ceil() as u64);
    }
    if let Some(v) = header("retry-after") {
        let v = v.trim();
        if let Ok(s) = v.parse::<u64>() {
            return Some(s.saturating_mul(1000));
        }
        if let Ok(at) = httpdate::parse_http_date(v) {
            let at_ms = at
                .duration_since(UNIX_EPOCH)
                .unwrap_or(Duration::ZERO)
                .as_millis() as u64;
            return Some(at_ms.saturating_sub(now_unix_ms));
        }
    }
    ["x-ratelimit-reset-requests", "x-ratelimit-reset-tokens"]
        .into_iter()
        .filter_map(|name| header(name).and_then(|v| reset_duration_ms(&v)))
        .max()
}

/// A duration as OpenAI and Groq write their reset headers: numbers with `h`, `m`, `s` or `ms`
/// units, in that order (`6m0s`, `1.5s`, `20ms`); a bare number is seconds.
pub fn reset_duration_ms(v: &str) -> Option<u64> {
    let v = v.trim();
    if let Ok(s) = v.parse::<f64>() {
        return (s.is_finite() && s >= 0.0).then(|| (s * 1000.0).ceil() as u64);
    }
    let mut total = 0.0f64;
    let mut rest = v;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let (scale, unit_len) = if rest.starts_with("ms") {
            (1.0, 2)
        } else if rest.starts_with('h') {
            (3_600_000.0, 1)
        } else if rest.starts_with('m') {
            (60_000.0, 1)
        } else if rest.starts_with('s') {
            (1_000.0, 1)
        } else {
            return None;
        };
        total += number * scale;
        rest = &rest[unit_len..];
    }
    (total > 0.0 || v.starts_with('0')).then_some(total.ceil() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        }
    }

    type Pairs = &'static [(&'static str, &'static str)];

    /// Sun, 06 Nov 1994 08:49:37 GMT, in ms since the epoch.
    const RFC_EXAMPLE_MS: u64 = 784_111_777_000;

    #[test]
    fn every_documented_form_is_read() {
        let now = RFC_EXAMPLE_MS - 90_000;
        let cases: [(Pairs, Option<u64>); 8] = [
            (&[("retry-after-ms", "1500.5")], Some(1_501)),
            (&[("retry-after", "20")], Some(20_000)),
            (
                &[("retry-after", "Sun, 06 Nov 1994 08:49:37 GMT")],
                Some(90_000),
            ),
            (
                &[("retry-after-ms", "250"), ("retry-after", "20")],
                Some(250),
            ),
            (
                &[
                    ("x-ratelimit-reset-requests", "6m0s"),
                    ("x-ratelimit-reset-tokens", "20ms"),
                ],
                Some(360_000),
            ),
            (&[("x-ratelimit-reset-tokens", "1h2m3.5s")], Some(3_723_500)),
            (&[("retry-after", "soon")], None),
            (&[], None),
        ];
        for (pairs, want) in cases {
            assert_eq!(retry_after_ms(headers(pairs), now), want, "{pairs:?}");
        }
        // A date already past asks for no wait.
        let later = RFC_EXAMPLE_MS + 5_000;
        let past = headers(&[("retry-after", "Sun, 06 Nov 1994 08:49:37 GMT")]);
        assert_eq!(retry_after_ms(past, later), Some(0));
    }

    #[test]
    fn reset_durations_refuse_what_is_not_one() {
        assert_eq!(reset_duration_ms("0s"), Some(0));
        assert_eq!(reset_duration_ms("7.66s"), Some(7_660));
        assert_eq!(reset_duration_ms("2"), Some(2_000));
        for bad in ["", "s", "5 minutes", "1d", "-3s"] {
            assert_eq!(reset_duration_ms(bad), None, "{bad:?}");
        }
    }
}
