//! `aura-admin`: Aura's admin API from the command line.
//!
//! ```text
//! aura-admin [--url URL] demo-tenant --origin ORIGIN [--origin ...] [--provider-url URL] [--keys-from FILE]
//!            [--local-engines STT_URL,LLM_URL,TTS_URL]
//! aura-admin [--url URL] put-tenant ID SETTINGS.json
//! aura-admin [--url URL] get-tenant ID | add-key ID | revoke-key ID KEY | rewrap ID | usage ID
//!     | delete-conversation ID CONVERSATION | delete-conversations ID | delete-tenant ID
//!     | reissue-keys ID
//! aura-admin [--url URL] index-conversations   (conversation object ids, one a line, from stdin)
//! aura-admin [--url URL] set-provider-key ID SLOT [--grace-s N]     (the key is read from stdin)
//! ```
//! The admin token comes from `AURA_ADMIN_TOKEN`; URL defaults to `http://127.0.0.1:8787`.
//! Keys are never taken as arguments (they would show in the process list and shell history).

use std::io::Read;
use std::process::ExitCode;

use aura_admin::{AdminClient, settings_for};
use serde_json::Value;

const DEMO_TENANT: &str = "demo";
const DEMO_PROMPT: &str = "You are the voice assistant of Mill Lane Bakery, a small bakery. Answer in one to three short spoken sentences, without lists or formatting.";
/// The prompt for `make dev`'s local SmolLM2-135M: one instruction line, then the bakery's
/// facts (the same as the demo page's) as questions and answers, the form this small model
/// repeats most faithfully. It still gets facts wrong: the demo page says so.
const SMALL_MODEL_PROMPT: &str = "You are the assistant of Mill Lane Bakery. Reply with one short sentence using only these answers.
Q: When are you open? A: Tuesday to Saturday 7 am to 6 pm, Sunday 8 am to 1 pm, closed on Monday.
Q: What bread do you sell? A: Sourdough, rye and seeded loaves, baked every day.
Q: Can I order a cake? A: Yes, with two days' notice.
Q: Where are you? A: 12 Mill Lane, with a step-free entrance and bike racks.";
/// The local LLM's first-token timeout (the edge's default, 2.5 s, is for cloud providers).
const LOCAL_FIRST_TOKEN_TIMEOUT_MS: u32 = 10_000;
/// The models `make dev`'s local engines serve (their servers answer whatever name is asked;
/// these say what runs), in the order STT, LLM, TTS.
const LOCAL_MODELS: [&str; 3] = [
    "whisper-tiny.en",
    "smollm2-135m-instruct",
    "piper-en_US-joe-medium",
];

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let url = take_opt(&mut args, "--url").unwrap_or_else(|| "http://127.0.0.1:8787".into());
    let Ok(token) = std::env::var("AURA_ADMIN_TOKEN") else {
        eprintln!("aura-admin: set AURA_ADMIN_TOKEN to the edge's ADMIN_TOKEN");
        return ExitCode::from(2);
    };
    let client = AdminClient::new(&url, &token);
    match run(&client, args) {
        Ok(out) => {
            println!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("aura-admin: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Lists every conversation object whose id is on stdin with its tenant, one JSON answer a
/// line (a one-time step: `docs/deploy.md`).
fn index_conversations(client: &AdminClient) -> Out {
    let mut ids = String::new();
    std::io::stdin().read_to_string(&mut ids)?;
    let mut out = Vec::new();
    for id in ids.split_whitespace() {
        let answer = client.index_conversation_object(id)?;
        out.push(serde_json::json!({"object": id, "answer": answer}).to_string());
    }
    Ok(out.join("\n"))
}

fn take_opt(args: &mut Vec<String>, name: &str) -> Option<String> {
    let i = args.iter().position(|a| a == name)?;
    if i + 1 >= args.len() {
        return None;
    }
    let value = args.remove(i + 1);
    args.remove(i);
    Some(value)
}

fn take_all(args: &mut Vec<String>, name: &str) -> Vec<String> {
    std::iter::from_fn(|| take_opt(args, name)).collect()
}

type Out = Result<String, Box<dyn std::error::Error>>;

fn run(client: &AdminClient, mut args: Vec<String>) -> Out {
    let usage = "usage: aura-admin [--url URL] demo-tenant|put-tenant|get-tenant|add-key|revoke-key|set-provider-key|rewrap|usage ...";
    if args.is_empty() {
        return Err(usage.into());
    }
    let command = args.remove(0);
    let pretty = |v: Value| serde_json::to_string_pretty(&v).unwrap_or_default();
    match (command.as_str(), args.as_slice()) {
        ("demo-tenant", _) => demo_tenant(client, &mut args),
        ("put-tenant", [id, file]) => {
            let settings: Value = serde_json::from_str(&std::fs::read_to_string(file)?)?;
            Ok(pretty(client.put_tenant(id, &settings)?))
        }
        ("get-tenant", [id]) => Ok(pretty(client.get_tenant(id)?)),
        ("add-key", [id]) => Ok(client.add_publishable_key(id)?),
        ("revoke-key", [id, key]) => Ok(pretty(client.revoke_publishable_key(id, key)?)),
        ("rewrap", [id]) => Ok(pretty(client.rewrap(id)?)),
        ("usage", [id]) => Ok(pretty(client.usage(id)?)),
        ("delete-conversation", [id, conversation]) => {
            Ok(pretty(client.delete_conversation(id, conversation)?))
        }
        ("delete-conversations", [id]) => Ok(pretty(client.delete_conversations(id)?)),
        ("delete-tenant", [id]) => Ok(pretty(client.delete_tenant(id)?)),
        ("reissue-keys", [id]) => Ok(pretty(client.reissue_publishable_keys(id)?)),
        ("index-conversations", []) => index_conversations(client),
        ("set-provider-key", _) => {
            let grace: u64 = take_opt(&mut args, "--grace-s").map_or(Ok(0), |g| g.parse())?;
            let [id, slot] = args.as_slice() else {
                return Err(
                    "usage: aura-admin set-provider-key ID SLOT [--grace-s N] < key".into(),
                );
            };
            let mut key = String::new();
            std::io::stdin().read_to_string(&mut key)?;
            Ok(pretty(client.set_provider_key(
                id,
                slot,
                key.trim(),
                grace,
            )?))
        }
        _ => Err(usage.into()),
    }
}

/// Creates (or updates) the local demo tenant and prints a publishable key for it: the
/// existing first one, or a new one. `--keys-from FILE` reads `LLM_API_KEY`, `STT_API_KEY`,
/// `TTS_API_KEY`, `LLM_FALLBACK_API_KEY`, `TTS_FALLBACK_API_KEY` (and `*_BASE_URL`, `*_MODEL`,
/// `TTS_VOICE`, `TURN_EAGERNESS` (`low`, `medium`, `high`), and the speech APIs of
/// [`aura_admin::dev_vars`]) in
/// .dev.vars format to use real providers. `--local-engines STT,LLM,TTS` names the base URLs of
/// `make dev`'s local engines: providers that .dev.vars does not set use them (and the LLM's
/// prompt suits a small model) instead of `--provider-url`.
fn demo_tenant(client: &AdminClient, args: &mut Vec<String>) -> Out {
    let origins = take_all(args, "--origin");
    if origins.is_empty() {
        return Err("demo-tenant needs at least one --origin (the demo page's)".into());
    }
    let provider_url = take_opt(args, "--provider-url");
    let local = match take_opt(args, "--local-engines") {
        Some(urls) => match urls.split(',').collect::<Vec<_>>().as_slice() {
            [stt, llm, tts] => Some([stt.to_string(), llm.to_string(), tts.to_string()]),
            _ => return Err("--local-engines takes STT_URL,LLM_URL,TTS_URL".into()),
        },
        None => None,
    };
    let vars = match take_opt(args, "--keys-from") {
        Some(file) => parse_dev_vars(&std::fs::read_to_string(file).unwrap_or_default()),
        None => Vec::new(),
    };
    let settings = demo_settings(&origins, provider_url, local.as_ref(), &vars);
    let var = |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    client.put_tenant(DEMO_TENANT, &settings)?;
    let keys = [
        ("STT_API_KEY", "stt"),
        ("TTS_API_KEY", "tts"),
        ("LLM_API_KEY", "llm0"),
        ("LLM_FALLBACK_API_KEY", "llm1"),
        ("STT_FALLBACK_API_KEY", "stt1"),
        ("TTS_FALLBACK_API_KEY", "tts1"),
    ];
    for (name, slot) in keys {
        if let Some(key) = var(name).filter(|k| !k.is_empty()) {
            client.set_provider_key(DEMO_TENANT, slot, &key, 0)?;
        }
    }
    // A key of before the edge tagged its keys (32 hex digits after the tenant, not 48) is
    // refused by today's edge: such a one is not reused.
    let existing = client.get_tenant(DEMO_TENANT)?["publishable_keys"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|k| k.as_str())
        .find(|k| k.rsplit_once('_').is_some_and(|(_, tail)| tail.len() == 48))
        .map(str::to_string);
    match existing {
        Some(key) => Ok(key),
        None => Ok(client.add_publishable_key(DEMO_TENANT)?),
    }
}

/// The demo tenant's settings: see [`demo_tenant`].
fn demo_settings(
    origins: &[String],
    provider_url: Option<String>,
    local: Option<&[String; 3]>,
    vars: &[(String, String)],
) -> Value {
    let var = |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    // Each provider: its own base URL if given; OpenAI's if only its key is given; else the
    // default (`--provider-url`, the emulator in `make dev`; OpenAI's without it).
    let default_url = provider_url.unwrap_or_else(|| "https://api.openai.com".into());
    let set_by_dev_vars = |prefix: &str| {
        var(&format!("{prefix}_BASE_URL")).is_some()
            || var(&format!("{prefix}_API_KEY")).is_some_and(|k| !k.is_empty())
    };
    let url_of = |prefix: &str| {
        var(&format!("{prefix}_BASE_URL")).unwrap_or_else(|| {
            if var(&format!("{prefix}_API_KEY")).is_some_and(|k| !k.is_empty()) {
                "https://api.openai.com".into()
            } else {
                default_url.clone()
            }
        })
    };
    let local_llm = local.is_some() && !set_by_dev_vars("LLM");
    let prompt = if local_llm {
        SMALL_MODEL_PROMPT
    } else {
        DEMO_PROMPT
    };
    let origin_refs: Vec<&str> = origins.iter().map(String::as_str).collect();
    let mut settings = settings_for("Aura demo", &origin_refs, &default_url, prompt);
    if local_llm {
        // One shared core: the first token of a 135M model can take seconds while the box is busy.
        settings["first_token_timeout_ms"] = LOCAL_FIRST_TOKEN_TIMEOUT_MS.into();
    }
    let slots = [("STT", "/stt"), ("LLM", "/llm/0"), ("TTS", "/tts")];
    for (i, (prefix, pointer)) in slots.into_iter().enumerate() {
        let Some(provider) = settings.pointer_mut(pointer) else {
            continue;
        };
        match local {
            Some(urls) if !set_by_dev_vars(prefix) => {
                provider["base_url"] = urls[i].clone().into();
                provider["model"] = LOCAL_MODELS[i].into();
            }
            _ => provider["base_url"] = url_of(prefix).into(),
        }
        if let Some(m) = var(&format!("{prefix}_MODEL")) {
            provider["model"] = m.into();
        }
    }
    if let Some(v) = var("TTS_VOICE") {
        settings["tts_voice"] = v.into();
    }
    // Checked by the edge: a bad value is refused there, with its field's error.
    if let Some(e) = var("TURN_EAGERNESS") {
        settings["turn_eagerness"] = e.into();
    }
    aura_admin::dev_vars::apply_speech_vars(&mut settings, |name| var(name));
    if let Some(u) = var("LLM_FALLBACK_BASE_URL") {
        let model = var("LLM_FALLBACK_MODEL").unwrap_or_else(|| "gpt-4o-mini".into());
        if let Some(routes) = settings["llm"].as_array_mut() {
            routes.push(serde_json::json!({"base_url": u, "model": model}));
        }
    }
    settings
}

/// `NAME=value` lines (quotes stripped, comments and blanks skipped), as wrangler reads them.
fn parse_dev_vars(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v);
            (k.trim().to_string(), v.to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aura_admin::AdminError;

    #[test]
    fn dev_vars_are_read_like_wrangler_reads_them() {
        let vars = parse_dev_vars(
            "# keys\nLLM_API_KEY=\"sk-1\"\n\nLLM_BASE_URL = https://api.x.ai\nbroken\n",
        );
        assert_eq!(
            vars,
            [
                ("LLM_API_KEY".to_string(), "sk-1".to_string()),
                ("LLM_BASE_URL".to_string(), "https://api.x.ai".to_string())
            ]
        );
    }

    #[test]
    fn local_engines_serve_the_demo_unless_dev_vars_name_a_provider() {
        let origins = ["http://127.0.0.1:8787".to_string()];
        let local = [
            "http://s".to_string(),
            "http://l".to_string(),
            "http://t".to_string(),
        ];
        let emulator = Some("http://e".to_string());
        let s = demo_settings(&origins, emulator.clone(), Some(&local), &[]);
        assert_eq!(s["stt"]["base_url"], "http://s");
        assert_eq!(s["llm"][0]["base_url"], "http://l");
        assert_eq!(s["llm"][0]["model"], "smollm2-135m-instruct");
        assert_eq!(s["tts"]["base_url"], "http://t");
        assert_eq!(s["system_prompt"], SMALL_MODEL_PROMPT);
        assert_eq!(s["first_token_timeout_ms"], LOCAL_FIRST_TOKEN_TIMEOUT_MS);

        let vars = parse_dev_vars("LLM_API_KEY=sk-1\nTTS_BASE_URL=http://my-tts\n");
        let s = demo_settings(&origins, emulator.clone(), Some(&local), &vars);
        assert_eq!(s["stt"]["base_url"], "http://s", "not in .dev.vars: local");
        assert_eq!(s["llm"][0]["base_url"], "https://api.openai.com");
        assert_eq!(s["llm"][0]["model"], "gpt-4o-mini");
        assert_eq!(s["tts"]["base_url"], "http://my-tts");
        assert_eq!(
            s["system_prompt"], DEMO_PROMPT,
            "a real LLM gets the full prompt"
        );

        let s = demo_settings(&origins, emulator, None, &[]);
        assert_eq!(s["stt"]["base_url"], "http://e", "AURA_ENGINES=emulator");
        assert_eq!(s["llm"][0]["base_url"], "http://e");
        assert_eq!(s["system_prompt"], DEMO_PROMPT);
    }

    #[test]
    fn turn_eagerness_comes_from_dev_vars_or_is_left_to_the_edge_default() {
        let origins = ["http://127.0.0.1:8787".to_string()];
        let s = demo_settings(&origins, None, None, &[]);
        assert!(s.get("turn_eagerness").is_none(), "the edge's default");
        let vars = parse_dev_vars("TURN_EAGERNESS=high\n");
        let s = demo_settings(&origins, None, None, &vars);
        assert_eq!(s["turn_eagerness"], "high");
    }

    #[test]
    fn options_are_taken_out_of_the_arguments() {
        let mut args: Vec<String> = ["x", "--origin", "a", "--origin", "b", "--url"]
            .map(String::from)
            .to_vec();
        assert_eq!(take_all(&mut args, "--origin"), ["a", "b"]);
        assert_eq!(take_opt(&mut args, "--url"), None, "no value: not taken");
        assert_eq!(args, ["x", "--url"]);
    }

    #[test]
    fn errors_say_the_status_and_the_edge_text() {
        let e = AdminError::Status(400, "`name` is missing or empty".into());
        assert_eq!(e.to_string(), "HTTP 400: `name` is missing or empty");
    }
}
