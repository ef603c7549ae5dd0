//! Tests of [`super`].

use super::*;

pub(crate) fn sample() -> TenantSettings {
    TenantSettings {
        name: "Mill Lane Bakery".into(),
        enabled: true,
        allowed_origins: vec!["https://mill-lane.example".into()],
        stt: SttSettings {
            api: SttApi::Openai,
            base_url: "https://api.openai.com".into(),
            model: "whisper-1".into(),
            prompt: None,
        },
        stt_fallback: None,
        llm: vec![LlmRouteSettings {
            base_url: "https://api.openai.com".into(),
            model: "gpt-4o-mini".into(),
            tier: Tier::Strong,
            reasoning_effort: None,
            context_tokens: None,
        }],
        smart_routing: true,
        tts: TtsSettings {
            api: TtsApi::Openai,
            base_url: "https://api.openai.com".into(),
            model: "tts-1".into(),
            format: TtsFormat::Pcm,
            sample_rate: None,
            voice: None,
        },
        tts_fallback: None,
        tts_voice: "alloy".into(),
        system_prompt: "You are the bakery's assistant.".into(),
        context_budget_tokens: 6_000,
        first_token_timeout_ms: 2_500,
        turn_eagerness: Eagerness::Medium,
        limits: Limits::default(),
        tools: Vec::new(),
        builtin_tools: Vec::new(),
        time_zone: "UTC".into(),
        retention_days: 30,
        location_hint: None,
        jurisdiction: None,
    }
}

#[test]
fn tenant_ids_are_short_lowercase_slugs() {
    assert!(TenantId::parse("mill-lane").is_ok());
    assert!(TenantId::parse("a1b").is_ok());
    for bad in [
        "",
        "ab",
        "Mill",
        "mill_lane",
        "-mill",
        "a/b",
        "../x",
        "é-tenant",
    ] {
        assert!(TenantId::parse(bad).is_err(), "{bad:?} accepted");
    }
    assert_eq!(
        TenantId::parse(&"a".repeat(41)),
        Err(TenantError::TooLong("tenant id"))
    );
}

#[test]
fn publishable_keys_name_their_tenant() {
    let tail = "ab".repeat(24);
    let k = PublishableKey::parse(&format!("pk_mill-lane_{tail}")).unwrap();
    assert_eq!(k.tenant.as_str(), "mill-lane");
    for bad in [
        "",
        "pk_",
        &format!("sk_mill-lane_{tail}"),
        "pk_mill-lane_short",
        &format!("pk_Mill_{tail}"),
        &format!("pk__{tail}"),
        &format!("pk_mill-lane_zz{}", &tail[2..]),
        // A key of before the tag (32 hex digits).
        "pk_mill-lane_abababababababababababababababab",
    ] {
        assert!(PublishableKey::parse(bad).is_err(), "{bad:?} accepted");
    }
}

#[test]
fn a_sample_tenant_is_valid_and_round_trips() {
    let s = sample();
    s.validate(UrlPolicy::HttpsOnly).unwrap();
    let json = serde_json::to_string(&s).unwrap();
    assert_eq!(serde_json::from_str::<TenantSettings>(&json).unwrap(), s);
}

#[test]
fn turn_eagerness_is_medium_unless_set_and_refuses_other_values() {
    let mut v = serde_json::to_value(sample()).unwrap();
    assert_eq!(v["turn_eagerness"], "medium", "always shown");
    v.as_object_mut().unwrap().remove("turn_eagerness");
    let stored_before_the_setting: TenantSettings = serde_json::from_value(v.clone()).unwrap();
    assert_eq!(stored_before_the_setting.turn_eagerness, Eagerness::Medium);
    for (json, want) in [
        ("low", Eagerness::Low),
        ("medium", Eagerness::Medium),
        ("high", Eagerness::High),
    ] {
        v["turn_eagerness"] = json.into();
        let s: TenantSettings = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(s.turn_eagerness, want);
        s.validate(UrlPolicy::HttpsOnly).unwrap();
    }
    // A bad value fails to parse, which the admin API answers 400 `invalid_settings` without
    // quoting the value (as for `stt.api`). serde_json classes a number or null given for a
    // string-named enum as a syntax error, so that message says "not valid JSON".
    for (bad, class) in [
        (serde_json::json!("fast"), serde_json::error::Category::Data),
        (serde_json::json!("High"), serde_json::error::Category::Data),
        (serde_json::json!(""), serde_json::error::Category::Data),
        (serde_json::json!(2), serde_json::error::Category::Syntax),
        (serde_json::json!(null), serde_json::error::Category::Syntax),
    ] {
        v["turn_eagerness"] = bad.clone();
        let text = serde_json::to_string(&v).unwrap();
        let e = serde_json::from_str::<TenantSettings>(&text).unwrap_err();
        assert_eq!(e.classify(), class, "{bad}");
    }
}

#[test]
fn unknown_fields_are_refused_so_typos_do_not_pass_silently() {
    let mut v = serde_json::to_value(sample()).unwrap();
    v["alowed_origins"] = serde_json::json!(["https://x.example"]);
    assert!(serde_json::from_value::<TenantSettings>(v).is_err());
}

#[test]
fn provider_urls_must_be_https_except_loopback_in_dev() {
    let with_llm = |url: &str| {
        let mut s = sample();
        s.llm[0].base_url = url.into();
        s
    };
    let local = with_llm("http://127.0.0.1:8790");
    assert!(local.validate(UrlPolicy::AllowLoopback).is_ok());
    assert!(matches!(
        local.validate(UrlPolicy::HttpsOnly),
        Err(TenantError::Invalid("llm.base_url", _))
    ));
    for bad in [
        "http://api.openai.com",
        "ftp://api.openai.com",
        "https://user:pw@api.openai.com",
        "https://api.openai.com/?key=1",
        "https://api.openai.com/#x",
        "not a url",
        "http://10.0.0.1",
    ] {
        assert!(
            with_llm(bad).validate(UrlPolicy::AllowLoopback).is_err(),
            "{bad} accepted"
        );
    }
    let long = format!("https://api.openai.com/{}", "a".repeat(400));
    assert_eq!(
        with_llm(&long).validate(UrlPolicy::HttpsOnly),
        Err(TenantError::TooLong("llm.base_url"))
    );
}

/// Every spelling of an internal host the SSRF probe tried (issue 14), as a provider URL
/// and as a webhook URL: refused in production, and still refused in local development
/// unless it is this machine.
#[test]
fn provider_and_webhook_urls_refuse_internal_hosts_in_every_spelling() {
    let loopback = [
        "https://127.0.0.1",
        "https://127.1",
        "https://2130706433",
        "https://0x7f.1",
        "https://017700000001",
        "https://[::1]",
        "https://[::ffff:127.0.0.1]",
        "https://[::ffff:7f00:1]",
        "https://localhost",
        "https://localhost.",
        "https://api.localhost",
        "http://127.0.0.1:8790",
        "http://localhost:8790",
    ];
    let internal = [
        "https://169.254.169.254",
        "https://169.254.169.254/latest/meta-data",
        "https://10.0.0.1",
        "https://10.1.2.3:8443/v1",
        "https://172.16.0.1",
        "https://172.31.0.9",
        "https://192.168.1.10",
        "https://100.64.0.1",
        "https://0.0.0.0",
        "https://0.1.2.3",
        "https://[fe80::1]",
        "https://[fc00::1]",
        "https://[fd00:ec2::254]",
        "https://[::ffff:169.254.169.254]",
        "https://metadata.google.internal",
        "https://db.internal",
        "https://kubernetes.default.svc",
        "https://api.default.svc.cluster.local",
        "https://printer.local",
        "https://metadata",
        "http://10.0.0.1",
        "http://169.254.169.254",
    ];
    let public = [
        "https://api.openai.com",
        "https://api.x.ai",
        "https://api.groq.com/openai",
        "https://hooks.mill-lane.example/tools",
        "https://8.8.8.8",
        "https://172.32.0.1",
        "https://[2606:4700:4700::1111]",
        "https://localhost.mill-lane.example",
    ];
    let with_url = |url: &str| {
        let mut llm = sample();
        llm.llm[0].base_url = url.into();
        let mut stt = sample();
        stt.stt.base_url = url.into();
        let mut hook = sample();
        hook.tools = vec![crate::tenant::tools::ToolSettings {
            name: "lookup".into(),
            description: "Looks things up.".into(),
            parameters: serde_json::json!({"type": "object"}),
            webhook_url: url.into(),
            timeout_ms: 5_000,
            cancellable: true,
        }];
        [
            ("llm.base_url", llm),
            ("stt.base_url", stt),
            ("tools.webhook_url", hook),
        ]
    };
    for url in loopback.iter().chain(&internal) {
        for (field, s) in with_url(url) {
            assert!(
                matches!(s.validate(UrlPolicy::HttpsOnly), Err(TenantError::Invalid(f, _)) if f == field),
                "{url} accepted as {field} in production"
            );
        }
    }
    for url in internal {
        for (field, s) in with_url(url) {
            assert!(
                s.validate(UrlPolicy::AllowLoopback).is_err(),
                "{url} accepted as {field} in local development"
            );
        }
    }
    for url in loopback {
        for (field, s) in with_url(url) {
            assert_eq!(
                s.validate(UrlPolicy::AllowLoopback),
                Ok(()),
                "{url} as {field} in local development"
            );
        }
    }
    for url in public {
        for (field, s) in with_url(url) {
            assert_eq!(s.validate(UrlPolicy::HttpsOnly), Ok(()), "{url} as {field}");
            assert_eq!(
                s.validate_urls(UrlPolicy::HttpsOnly),
                Ok(()),
                "{url} as {field}"
            );
        }
    }
    // The grant's re-check refuses the same URLs.
    for url in loopback.iter().chain(&internal) {
        for (field, s) in with_url(url) {
            assert!(
                matches!(s.validate_urls(UrlPolicy::HttpsOnly), Err(TenantError::Invalid(f, _)) if f == field),
                "{url} passed the grant's check as {field}"
            );
        }
    }
}

#[test]
fn sizes_are_bounded() {
    let mut s = sample();
    s.system_prompt = "x".repeat(bounds::SYSTEM_PROMPT_MAX + 1);
    assert_eq!(
        s.validate(UrlPolicy::HttpsOnly),
        Err(TenantError::TooLong("system_prompt"))
    );
    let mut s = sample();
    s.allowed_origins = (0..21).map(|i| format!("https://s{i}.example")).collect();
    assert_eq!(
        s.validate(UrlPolicy::HttpsOnly),
        Err(TenantError::TooMany("allowed_origins"))
    );
    let mut s = sample();
    s.llm = vec![s.llm[0].clone(); 5];
    assert_eq!(
        s.validate(UrlPolicy::HttpsOnly),
        Err(TenantError::TooMany("llm"))
    );
    let mut s = sample();
    s.name = "  ".into();
    assert_eq!(
        s.validate(UrlPolicy::HttpsOnly),
        Err(TenantError::Missing("name"))
    );
}

#[test]
fn origin_patterns_are_exact_origins() {
    let mut s = sample();
    for bad in [
        "https://mill-lane.example/",
        "https://mill-lane.example/shop",
        "https://Mill-Lane.example",
        "mill-lane.example",
        "*",
        "https://*",
        "https://shop.*.example",
        "javascript://x",
        "https://mill-lane.example:443",
    ] {
        s.allowed_origins = vec![bad.into()];
        assert!(s.validate(UrlPolicy::HttpsOnly).is_err(), "{bad} accepted");
    }
    s.allowed_origins = vec!["https://*.mill-lane.example".into()];
    s.validate(UrlPolicy::HttpsOnly).unwrap();
    s.allowed_origins = vec![
        "https://*.mill-lane.example".into(),
        "http://127.0.0.1:8787".into(),
    ];
    s.validate(UrlPolicy::AllowLoopback).unwrap();
}

/// Issue 14 item 10: no wildcard over a public or hosting suffix, an address or this
/// machine; no plain http in production, and in local development only to this machine.
#[test]
fn origin_patterns_refuse_public_suffix_wildcards_and_http_in_production() {
    let policy_table: [(&str, bool, bool); 36] = [
        // (pattern, allowed in production, allowed in local development)
        ("https://mill-lane.example", true, true),
        ("https://*.mill-lane.example", true, true),
        ("https://*.shop.mill-lane.co.uk", true, true),
        ("https://*.mill-lane.co.uk", true, true),
        ("https://*.mill-lane.github.io", true, true),
        ("https://*.mill-lane.workers.dev", true, true),
        ("https://mill-lane.github.io", true, true),
        ("https://shop.example:8443", true, true),
        ("https://*.com", false, false),
        ("https://*.example", false, false),
        ("https://*.com.", false, false),
        ("https://*.co.uk", false, false),
        ("https://*.com.au", false, false),
        ("https://*.github.io", false, false),
        ("https://*.workers.dev", false, false),
        ("https://*.pages.dev", false, false),
        ("https://*.vercel.app", false, false),
        ("https://*.netlify.app", false, false),
        ("https://*.herokuapp.com", false, false),
        ("https://*.myshopify.com", false, false),
        ("https://*.s3.amazonaws.com", false, false),
        ("https://*.blogspot.com", false, false),
        ("https://*.1.1.1", false, false),
        ("https://*.localhost", false, false),
        ("https://*.app.localhost", false, false),
        ("http://*.localhost:8787", false, false),
        ("http://mill-lane.example", false, false),
        ("http://*.mill-lane.example", false, false),
        ("http://10.0.0.5:8080", false, false),
        ("http://127.0.0.1:8787", false, true),
        ("http://localhost:3000", false, true),
        ("http://[::1]:8787", false, true),
        ("https://localhost:3000", true, true),
        ("https://*.xn--bcher-kva.example", true, true),
        ("https://*.", false, false),
        ("https://*..example", false, false),
    ];
    for (pattern, production, dev) in policy_table {
        let mut s = sample();
        s.allowed_origins = vec![pattern.into()];
        assert_eq!(
            s.validate(UrlPolicy::HttpsOnly).is_ok(),
            production,
            "{pattern} in production"
        );
        assert_eq!(
            s.validate(UrlPolicy::AllowLoopback).is_ok(),
            dev,
            "{pattern} in local development"
        );
    }
}

/// The subdomain part of a wildcard match holds host labels only.
#[test]
fn wildcard_origins_admit_only_host_names() {
    let mut s = sample();
    s.allowed_origins = vec!["https://*.shop-b.example".into()];
    s.validate(UrlPolicy::HttpsOnly).unwrap();
    for ok in [
        "https://a.shop-b.example",
        "https://a-1.b2.shop-b.example",
        "https://xn--bcher-kva.shop-b.example",
        "https://0.shop-b.example",
    ] {
        assert!(s.allows_origin(ok), "{ok} refused");
    }
    for bad in [
        "https://a b.shop-b.example",
        "https://*.shop-b.example",
        "https://..shop-b.example",
        "https://a..shop-b.example",
        "https://.shop-b.example",
        "https://-a.shop-b.example",
        "https://a-.shop-b.example",
        "https://A.shop-b.example",
        "https://a_b.shop-b.example",
        "https://a%20b.shop-b.example",
        "https://a@b.shop-b.example",
        "https://a\tb.shop-b.example",
        "https://a\nb.shop-b.example",
        "https://a/b.shop-b.example",
        "https://a:1.shop-b.example",
        "https://a?.shop-b.example",
        "https://a#.shop-b.example",
        "https://é.shop-b.example",
        "https://shop-b.example",
        "https://x.shop-b.example.evil.example",
    ] {
        assert!(!s.allows_origin(bad), "{bad:?} allowed");
    }
    let long = format!("https://{}.shop-b.example", "a".repeat(64));
    assert!(!s.allows_origin(&long));
    let longest = format!("https://{}.shop-b.example", "a".repeat(63));
    assert!(s.allows_origin(&longest));
}

#[test]
fn origins_match_exactly_or_as_subdomains() {
    let mut s = sample();
    s.allowed_origins = vec![
        "https://mill-lane.example".into(),
        "https://*.bakery.example".into(),
    ];
    assert!(s.allows_origin("https://mill-lane.example"));
    assert!(s.allows_origin("https://shop.bakery.example"));
    assert!(s.allows_origin("https://a.b.bakery.example"));
    for bad in [
        "http://mill-lane.example",
        "https://mill-lane.example:8443",
        "https://evil-mill-lane.example",
        "https://mill-lane.example.evil.example",
        "https://bakery.example",
        "https://evilbakery.example",
        "https://x.bakery.example:444",
        "https://x.bakery.example/",
        "null",
        "",
    ] {
        assert!(!s.allows_origin(bad), "{bad} allowed");
    }
}

#[test]
fn key_slots_follow_the_routes() {
    let mut s = sample();
    s.llm.push(s.llm[0].clone());
    assert_eq!(key_slots(&s), ["stt", "tts", "llm0", "llm1"]);
    for ok in ["stt", "tts", "llm0", "llm3", "webhook"] {
        assert!(is_key_slot(ok));
    }
    for bad in ["llm4", "llm", "llm00", "llm-1", "STT", "stt "] {
        assert!(!is_key_slot(bad), "{bad}");
    }
}

#[test]
fn a_slots_key_is_bound_to_its_providers_origin() {
    let mut s = sample();
    s.stt.base_url = "https://api.groq.com/openai".into();
    s.llm[0].base_url = "https://api.x.ai/v1".into();
    s.tts.base_url = "https://tts.example:8443/x".into();
    assert_eq!(s.key_binding("stt"), "https://api.groq.com");
    assert_eq!(s.key_binding("llm0"), "https://api.x.ai");
    assert_eq!(s.key_binding("tts"), "https://tts.example:8443");
    // The webhook secret is never sent, so it follows no host; a slot with no route neither.
    assert_eq!(s.key_binding("webhook"), "");
    assert_eq!(s.key_binding("llm3"), "");
    let before = s.key_binding("llm0");
    s.llm[0].base_url = "https://api.x.ai.attacker.example/v1".into();
    assert_ne!(s.key_binding("llm0"), before);
}

#[test]
fn a_second_stt_route_has_its_own_slot_binding_and_checks() {
    let mut s = sample();
    s.stt.api = SttApi::Deepgram;
    s.stt_fallback = Some(SttSettings {
        api: SttApi::Openai,
        base_url: "https://api.groq.com/openai".into(),
        model: "whisper-large-v3-turbo".into(),
        prompt: None,
    });
    s.validate(UrlPolicy::HttpsOnly).unwrap();
    assert_eq!(key_slots(&s), ["stt", "tts", "stt1", "llm0"]);
    assert!(is_key_slot("stt1") && !is_key_slot("stt2"));
    assert_eq!(s.key_binding("stt1"), "https://api.groq.com");
    let round: TenantSettings = serde_json::from_value(serde_json::to_value(&s).unwrap()).unwrap();
    assert_eq!(round, s);

    let mut bad = s.clone();
    bad.stt_fallback.as_mut().unwrap().base_url = "http://10.0.0.1".into();
    assert!(bad.validate(UrlPolicy::HttpsOnly).is_err());
    assert!(bad.validate_urls(UrlPolicy::HttpsOnly).is_err());
    // A batch first route hands over a whole WAV, which a live socket does not take.
    let mut batch_then_live = s.clone();
    batch_then_live.stt.api = SttApi::Openai;
    batch_then_live.stt_fallback.as_mut().unwrap().api = SttApi::Deepgram;
    assert_eq!(
        batch_then_live.validate(UrlPolicy::HttpsOnly),
        Err(TenantError::Invalid(
            "stt_fallback.api",
            "after a batch (openai) stt, the fallback must be batch too"
        ))
    );
    assert!(
        !serde_json::to_string(&sample())
            .unwrap()
            .contains("stt_fallback")
    );
}

#[test]
fn a_placement_is_stored_with_the_settings_and_absent_unless_set() {
    use crate::tenant::placement::{Jurisdiction, LocationHint, Placement};
    let mut s = sample();
    assert_eq!(s.placement(), Placement::default());
    let json = serde_json::to_value(&s).unwrap();
    assert!(json.get("location_hint").is_none() && json.get("jurisdiction").is_none());
    s.location_hint = Some(LocationHint::Weur);
    s.jurisdiction = Some(Jurisdiction::Eu);
    let json = serde_json::to_value(&s).unwrap();
    assert_eq!(
        (&json["location_hint"], &json["jurisdiction"]),
        (&"weur".into(), &"eu".into())
    );
    let back: TenantSettings = serde_json::from_value(json).unwrap();
    assert_eq!(back.placement(), s.placement());
    let mut bad = serde_json::to_value(&s).unwrap();
    bad["location_hint"] = "mars".into();
    assert!(serde_json::from_value::<TenantSettings>(bad).is_err());
}
