// The OpenAI chat-completions wire format of the local LLM server (server.mjs), as plain
// functions with no engine, so `node --test` checks them without the model.

/** A request the server answers with HTTP 400; `code` is the OpenAI-style error code. */
export class BadRequest extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
  body() {
    return JSON.stringify({ error: { type: "invalid_request_error", code: this.code, message: this.message } });
  }
}

/** The text of an OpenAI message's `content`: a string, or an array of `{type:"text",text}` parts. */
function textOf(content) {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) return content.filter((p) => p && p.type === "text").map((p) => String(p.text ?? "")).join("");
  return "";
}

/**
 * node-llama-cpp's chat history for OpenAI `messages`. System messages become one system item;
 * tool results are told to the model as plain text (this small model is offered no tools), and
 * consecutive messages of one side are merged (a chat template wants them alternating).
 */
export function chatHistory(messages) {
  if (!Array.isArray(messages) || messages.length === 0) throw new BadRequest("missing_messages", "`messages` must be a non-empty array");
  const system = [];
  const turns = [];
  const push = (type, text) => {
    if (!text) return;
    const last = turns[turns.length - 1];
    if (last && last.type === type) {
      if (type === "user") last.text += "\n" + text;
      else last.response[0] += " " + text;
    } else turns.push(type === "user" ? { type, text } : { type, response: [text] });
  };
  for (const m of messages) {
    if (!m || typeof m !== "object") throw new BadRequest("bad_message", "each message must be an object");
    const text = textOf(m.content);
    if (m.role === "system" || m.role === "developer") system.push(text);
    else if (m.role === "user") push("user", text);
    else if (m.role === "assistant") push("model", text);
    else if (m.role === "tool") push("user", `(tool result: ${text})`);
    else throw new BadRequest("bad_role", `unknown role ${JSON.stringify(m.role)}`);
  }
  if (turns.length === 0 || turns[turns.length - 1].type !== "user") throw new BadRequest("no_user_turn", "the last message must be the user's");
  const history = system.length ? [{ type: "system", text: system.filter(Boolean).join("\n") }] : [];
  return history.concat(turns);
}

/** The reply's token cap: the request's `max_completion_tokens`/`max_tokens`, never above `cap`. */
export function maxTokens(request, cap) {
  const asked = request.max_completion_tokens ?? request.max_tokens;
  return Number.isInteger(asked) && asked > 0 ? Math.min(asked, cap) : cap;
}

/** One server-sent event of a streamed `chat.completion.chunk`. */
export function chunkEvent(id, model, created, delta, finishReason = null, usage = undefined) {
  const chunk = { id, object: "chat.completion.chunk", created, model, choices: usage ? [] : [{ index: 0, delta, finish_reason: finishReason }] };
  if (usage) chunk.usage = usage;
  return `data: ${JSON.stringify(chunk)}\n\n`;
}

export const DONE_EVENT = "data: [DONE]\n\n";

/** OpenAI's finish reason for node-llama-cpp's stop reason. */
export function finishReason(stopReason) {
  return stopReason === "maxTokens" ? "length" : "stop";
}

/** How many sentences `text` has finished: `.`, `!` or `?` followed by a space or the end. */
export function sentencesDone(text) {
  return (text.match(/[.!?]+(?=\s|$)/g) ?? []).length;
}
