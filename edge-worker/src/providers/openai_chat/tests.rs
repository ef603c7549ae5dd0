//! Tests of [`super`].

use super::*;

fn run(body: &str, piece: usize) -> (Vec<ChatEvent>, Result<(), ChatStreamError>) {
    let mut s = ChatStream::new();
    let mut events = Vec::new();
    for chunk in body.as_bytes().chunks(piece) {
        if let Err(e) = s.push(chunk, |e| events.push(e)) {
            return (events, Err(e));
        }
    }
    let end = s.finish();
    (events, end)
}

/// A reply as OpenAI streams it, with a keep-alive comment, CRLF line ends and usage.
const OPENAI: &str = concat!(
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n",
    ": keep-alive\n\n",
    "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"We open \"},\"finish_reason\":null}]}\r\n\r\n",
    "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"at nine.\"},\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
    "data: {\"id\":\"c1\",\"choices\":[],\"usage\":{\"prompt_tokens\":40,\"completion_tokens\":5,\"total_tokens\":45}}\n\n",
    "data: [DONE]\n\n",
);

#[test]
fn a_text_reply_gives_text_finish_and_usage_for_any_read_size() {
    let expected = vec![
        ChatEvent::Text("We open ".into()),
        ChatEvent::Text("at nine.".into()),
        ChatEvent::Finish(FinishReason::Stop),
        ChatEvent::Usage {
            prompt_tokens: 40,
            completion_tokens: 5,
        },
    ];
    for piece in [1, 2, 7, 64, OPENAI.len()] {
        let (events, end) = run(OPENAI, piece);
        assert_eq!(events, expected, "reads of {piece}");
        assert_eq!(end, Ok(()));
    }
}

#[test]
fn tool_call_deltas_are_passed_on_in_pieces() {
    let body = concat!(
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"index\":0,\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"check_order\",\"arguments\":\"\"}}]},\"finish_reason\":null}]}\n\n",
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"order\\\":\"}}]},\"finish_reason\":null}]}\n\n",
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"42}\"}}]},\"finish_reason\":null}]}\n\n",
        "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n",
        "data: [DONE]\n\n",
    );
    let (events, end) = run(body, 5);
    assert_eq!(end, Ok(()));
    let args: String = events
        .iter()
        .filter_map(|e| match e {
            ChatEvent::ToolCall { arguments, .. } => Some(arguments.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(args, "{\"order\":42}");
    assert!(
        matches!(&events[0], ChatEvent::ToolCall { id: Some(id), name: Some(n), .. } if id == "call_1" && n == "check_order")
    );
    assert_eq!(
        events.last(),
        Some(&ChatEvent::Finish(FinishReason::ToolCalls))
    );
}

#[test]
fn a_cut_stream_is_truncated_unless_it_ended_cleanly_after_a_finish_reason() {
    // Cut before the finish chunk: a disconnect.
    let before_finish = &OPENAI[..OPENAI
        .find("data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{},")
        .unwrap()];
    let (events, end) = run(before_finish, 16);
    assert_eq!(events.len(), 2);
    assert_eq!(end, Err(ChatStreamError::Truncated));
    let (_, end) = run(&OPENAI[..30], 8);
    assert_eq!(end, Err(ChatStreamError::Truncated));
    // No [DONE] after the finish reason and usage: a normal end.
    let no_done = &OPENAI[..OPENAI.find("data: [DONE]").unwrap()];
    for piece in [1, 3, 64, no_done.len()] {
        let (events, end) = run(no_done, piece);
        assert_eq!(events.len(), 4, "reads of {piece}");
        assert_eq!(end, Ok(()), "reads of {piece}");
    }
    // Cut in the middle of the usage event after the finish reason: still a disconnect.
    let mid_event = &no_done[..no_done.len() - 10];
    assert_eq!(run(mid_event, 7).1, Err(ChatStreamError::Truncated));
    // The finish event's blank line missing: the finish never arrived.
    let unterminated = &OPENAI[..OPENAI.find("data: {\"id\":\"c1\",\"choices\":[],").unwrap() - 1];
    assert_eq!(run(unterminated, 5).1, Err(ChatStreamError::Truncated));
}

#[test]
fn every_prefix_of_a_stream_without_done_ends_ok_only_after_the_finish_event() {
    let no_done = &OPENAI[..OPENAI.find("data: {\"id\":\"c1\",\"choices\":[],").unwrap()];
    let finish_end = no_done.len();
    for cut in 0..=finish_end {
        let (_, end) = run(&no_done[..cut], 9);
        // Ok exactly when the finish event is complete (its blank line included).
        let complete = cut == finish_end;
        assert_eq!(end.is_ok(), complete, "cut at {cut}: {end:?}");
    }
}

/// DeepSeek-R1 on Azure AI / DashScope style: `null` for every absent field.
const NULLS: &str = concat!(
    "data: {\"id\":\"n1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":null,\"function_call\":null,\"refusal\":null,\"reasoning_content\":null},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null,\"system_fingerprint\":null}\n\n",
    "data: {\"id\":\"n1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"We open \",\"tool_calls\":null,\"function_call\":null,\"refusal\":null},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n",
    "data: {\"id\":\"n1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"at nine.\",\"tool_calls\":null},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n",
    "data: {\"id\":\"n1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":null,\"tool_calls\":null,\"role\":null},\"logprobs\":null,\"finish_reason\":\"stop\"}],\"usage\":null}\n\n",
    "data: {\"id\":\"n1\",\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":4,\"total_tokens\":16,\"prompt_tokens_details\":null,\"completion_tokens_details\":null}}\n\n",
    "data: {\"id\":\"n1\",\"choices\":null,\"usage\":null}\n\n",
    "data: [DONE]\n\n",
);

#[test]
fn null_fields_are_the_same_as_absent_ones_for_any_read_size() {
    let expected = vec![
        ChatEvent::Text("We open ".into()),
        ChatEvent::Text("at nine.".into()),
        ChatEvent::Finish(FinishReason::Stop),
        ChatEvent::Usage {
            prompt_tokens: 12,
            completion_tokens: 4,
        },
    ];
    for piece in 1..=NULLS.len().min(200) {
        let (events, end) = run(NULLS, piece);
        assert_eq!(events, expected, "reads of {piece}");
        assert_eq!(end, Ok(()), "reads of {piece}");
    }
    // Nulls inside tool call deltas, and a null index, too.
    let body = concat!(
        "data: {\"choices\":[{\"index\":null,\"delta\":{\"content\":null,\"tool_calls\":[{\"index\":null,\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"check_order\",\"arguments\":null}}]},\"finish_reason\":null}]}\n\n",
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":null,\"tool_calls\":[{\"index\":0,\"id\":null,\"type\":null,\"function\":{\"name\":null,\"arguments\":\"{}\"}}]},\"finish_reason\":null}]}\n\n",
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":null},\"finish_reason\":\"tool_calls\"}],\"usage\":{\"prompt_tokens\":null,\"completion_tokens\":null}}\n\n",
        "data: [DONE]\n\n",
    );
    let (events, end) = run(body, 11);
    assert_eq!(end, Ok(()));
    assert_eq!(
        events,
        vec![
            ChatEvent::ToolCall {
                index: 0,
                id: Some("call_1".into()),
                name: Some("check_order".into()),
                arguments: String::new()
            },
            ChatEvent::ToolCall {
                index: 0,
                id: None,
                name: None,
                arguments: "{}".into()
            },
            ChatEvent::Finish(FinishReason::ToolCalls),
            ChatEvent::Usage {
                prompt_tokens: 0,
                completion_tokens: 0
            },
        ]
    );
}

/// llama.cpp before the OpenAI-style errors: an `error:` field, then `[DONE]`, HTTP 200.
const LLAMA_ERROR: &str = concat!(
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null},\"finish_reason\":null}],\"object\":\"chat.completion.chunk\"}\n\n",
    "error: {\"code\":500,\"message\":\"the request exceeds the available context size\",\"type\":\"server_error\"}\n\n",
    "data: [DONE]\n\n",
);

#[test]
fn llama_cpp_error_field_is_a_provider_error_not_an_empty_reply() {
    for piece in 1..=LLAMA_ERROR.len() {
        let (events, end) = run(LLAMA_ERROR, piece);
        assert!(events.is_empty(), "reads of {piece}: {events:?}");
        let Err(ChatStreamError::Provider(e)) = &end else {
            panic!("reads of {piece}: {end:?}");
        };
        assert_eq!(e.via, ErrorVia::ErrorField);
        assert_eq!(e.blame, Blame::Provider);
        assert_eq!(e.kind.as_deref(), Some("server_error"));
        assert_eq!(e.code.as_deref(), Some("500"));
        assert!(e.message.contains("context size"));
        assert_eq!(end.unwrap_err().code(), ChatStreamErrorCode::ProviderError);
    }
    // Wrapped in `error`, or not JSON at all: still an error.
    let wrapped = "error: {\"error\":{\"code\":400,\"message\":\"bad\",\"type\":\"invalid_request_error\"}}\n\ndata: [DONE]\n\n";
    let (_, end) = run(wrapped, 4);
    assert!(
        matches!(&end, Err(ChatStreamError::Provider(e)) if e.kind.as_deref() == Some("invalid_request_error")),
        "{end:?}"
    );
    let (_, end) = run("error: out of memory\n\ndata: [DONE]\n\n", 4);
    assert!(
        matches!(&end, Err(ChatStreamError::Provider(e)) if e.message == "out of memory"),
        "{end:?}"
    );
}

/// Groq, when the model writes a tool call its parser cannot read.
const GROQ_TOOL_USE_FAILED: &str = concat!(
    "data: {\"id\":\"chatcmpl-g1\",\"object\":\"chat.completion.chunk\",\"model\":\"llama-3.3-70b-versatile\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}],\"x_groq\":{\"id\":\"req_1\"}}\n\n",
    "event: error\n",
    "data: {\"error\":{\"message\":\"Failed to call a function. Please adjust your prompt. See 'failed_generation' for more details.\",\"type\":\"invalid_request_error\",\"code\":\"tool_use_failed\",\"failed_generation\":\"<function=check_order>{\\\"order\\\": 42}</function>\"}}\n\n",
);

#[test]
fn groq_tool_use_failed_is_the_models_mistake_not_the_providers() {
    for piece in 1..=GROQ_TOOL_USE_FAILED.len() {
        let (events, end) = run(GROQ_TOOL_USE_FAILED, piece);
        assert!(events.is_empty(), "{events:?}");
        let err = end.unwrap_err();
        assert!(err.is_model_mistake(), "reads of {piece}: {err:?}");
        assert_eq!(err.code(), ChatStreamErrorCode::ModelError);
        let ChatStreamError::Provider(e) = &err else {
            unreachable!()
        };
        assert_eq!(e.code.as_deref(), Some("tool_use_failed"));
        assert_eq!(e.blame, Blame::Model);
        // The model's failed output is never kept.
        assert!(!e.message.contains("check_order"));
        assert!(!err.to_string().contains("Failed to call"));
    }
    // Any other `event: error` is the provider's, even with an odd body.
    let other = "event: error\ndata: {\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\"}}\n\n";
    let err = run(other, 5).1.unwrap_err();
    assert_eq!(err.code(), ChatStreamErrorCode::ProviderError);
    for body in ["event: error\ndata: oops\n\n", "event: error\ndata: {}\n\n"] {
        let err = run(body, 5).1.unwrap_err();
        assert_eq!(err.code(), ChatStreamErrorCode::ProviderError, "{body}");
    }
}

#[test]
fn reasoning_deltas_are_never_text_and_reasoning_tokens_are_reported() {
    let body = concat!(
        // xAI / llama.cpp / DeepSeek
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"reasoning_content\":\"The user\"},\"finish_reason\":null}]}\n\n",
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"reasoning_content\":\" asks.\",\"content\":null},\"finish_reason\":null}]}\n\n",
        // Ollama / OpenRouter
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"reasoning\":\"Hmm\",\"content\":\"\"},\"finish_reason\":null}]}\n\n",
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Nine.\",\"reasoning_content\":\"\"},\"finish_reason\":null}]}\n\n",
        "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
        "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":2,\"completion_tokens_details\":{\"reasoning_tokens\":31,\"accepted_prediction_tokens\":0}}}\n\n",
        "data: [DONE]\n\n",
    );
    for piece in [1, 5, 17, body.len()] {
        let (events, end) = run(body, piece);
        assert_eq!(end, Ok(()));
        assert_eq!(
            events,
            vec![
                ChatEvent::Reasoning(8),
                ChatEvent::Reasoning(6),
                ChatEvent::Reasoning(3),
                ChatEvent::Text("Nine.".into()),
                ChatEvent::Finish(FinishReason::Stop),
                ChatEvent::Usage {
                    prompt_tokens: 9,
                    completion_tokens: 2
                },
                ChatEvent::ReasoningTokens {
                    tokens: 31,
                    apart: None
                },
            ],
            "reads of {piece}"
        );
    }
}

#[test]
fn reasoning_text_and_tool_calls_show_progress_and_bookkeeping_does_not() {
    assert!(ChatEvent::Reasoning(3).shows_progress());
    assert!(ChatEvent::Text("a".into()).shows_progress());
    assert!(
        ChatEvent::ToolCall {
            index: 0,
            id: None,
            name: None,
            arguments: String::new()
        }
        .shows_progress()
    );
    assert!(!ChatEvent::Finish(FinishReason::Stop).shows_progress());
    assert!(
        !ChatEvent::ReasoningTokens {
            tokens: 1,
            apart: None
        }
        .shows_progress()
    );
    assert!(
        !ChatEvent::Usage {
            prompt_tokens: 1,
            completion_tokens: 1
        }
        .shows_progress()
    );
}

/// Content deltas of `text` cut at the given byte positions, as a stream without `[DONE]`.
fn content_stream(text: &str, cuts: &[usize]) -> String {
    let mut out = String::new();
    let mut last = 0;
    for &c in cuts.iter().chain([text.len()].iter()) {
        let piece = serde_json::to_string(&text[last..c]).unwrap();
        out.push_str(&format!(
            "data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":{piece}}},\"finish_reason\":null}}]}}\n\n"
        ));
        last = c;
    }
    out.push_str("data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n");
    out
}

fn text_of(events: &[ChatEvent]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            ChatEvent::Text(t) => Some(t.as_str()),
            _ => None,
        })
        .collect()
}

#[test]
fn think_tags_in_content_are_removed_wherever_the_deltas_split_them() {
    let text =
        "<think>The user wants the hours. We open at nine.</think>\n\nWe open at nine. See you <3";
    for at in 0..=text.len() {
        let body = content_stream(text, &[at]);
        let (events, end) = run(&body, 13);
        assert_eq!(end, Ok(()), "split at {at}");
        assert_eq!(
            text_of(&events),
            "We open at nine. See you <3",
            "split at {at}"
        );
        assert!(events.iter().any(|e| matches!(e, ChatEvent::Reasoning(_))));
        // Text held back at the end is released before the finish event.
        assert_eq!(events.last(), Some(&ChatEvent::Finish(FinishReason::Stop)));
    }
    // A reply ending in what could start a tag keeps it.
    let (events, _) = run(&content_stream("a <th", &[3]), 100);
    assert_eq!(text_of(&events), "a <th");
}

#[test]
fn every_split_of_every_quirky_stream_gives_the_same_events_and_never_panics() {
    for body in [OPENAI, NULLS, LLAMA_ERROR, GROQ_TOOL_USE_FAILED] {
        let whole = run(body, body.len());
        for at in 0..=body.len() {
            let mut s = ChatStream::new();
            let mut events = Vec::new();
            let first = s.push(&body.as_bytes()[..at], |e| events.push(e));
            let end = first
                .and_then(|()| s.push(&body.as_bytes()[at..], |e| events.push(e)))
                .and_then(|()| s.finish());
            assert_eq!((events, end), whole, "split at {at}");
        }
    }
    // Garbage in any shape is an error or nothing, never a panic.
    let mut seed: u64 = 7;
    for _ in 0..500 {
        let mut bytes = Vec::new();
        for _ in 0..(seed % 300) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let alphabet = b"data: {}[]\"error:event\n\r,nul0";
            bytes.push(alphabet[(seed % alphabet.len() as u64) as usize]);
        }
        let mut s = ChatStream::new();
        let _ = s.push(&bytes, |_| {});
        let _ = s.finish();
        seed = seed.wrapping_add(1);
    }
}

#[test]
fn provider_errors_and_garbage_mid_stream_are_typed() {
    let err = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\ndata: {\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\"}}\n\n";
    let (events, end) = run(err, 3);
    assert_eq!(events, vec![ChatEvent::Text("Hi".into())]);
    assert_eq!(
        end,
        Err(ChatStreamError::Provider(StreamedError {
            blame: Blame::Provider,
            via: ErrorVia::Data,
            kind: Some("server_error".into()),
            code: None,
            message: "overloaded".into()
        }))
    );
    let (_, end) = run("data: {not json\n\n", 4);
    assert!(matches!(end, Err(ChatStreamError::BadChunk(_))));
}

#[test]
fn groq_usage_is_read_from_x_groq() {
    let body = "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"x_groq\":{\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":3}}}\n\ndata: [DONE]\n\n";
    let (events, _) = run(body, 100);
    assert_eq!(
        events[1],
        ChatEvent::Usage {
            prompt_tokens: 7,
            completion_tokens: 3
        }
    );
}
