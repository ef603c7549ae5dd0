// Host tests of openai.mjs (no model): `node --test engines/llm/`, run by
// tests/tests/dev_scripts.rs in `make test`.
import assert from "node:assert/strict";
import { test } from "node:test";
import { BadRequest, chatHistory, chunkEvent, DONE_EVENT, finishReason, maxTokens, sentencesDone } from "./openai.mjs";

test("OpenAI messages become an alternating chat history with one system item", () => {
  const history = chatHistory([
    { role: "system", content: "Be brief." },
    { role: "user", content: "Hi" },
    { role: "assistant", content: "Hello." },
    { role: "assistant", content: [{ type: "text", text: "How can I help?" }] },
    { role: "tool", content: "12:00" },
    { role: "user", content: "When do you open?" },
  ]);
  assert.deepEqual(history, [
    { type: "system", text: "Be brief." },
    { type: "user", text: "Hi" },
    { type: "model", response: ["Hello. How can I help?"] },
    { type: "user", text: "(tool result: 12:00)\nWhen do you open?" },
  ]);
});

test("malformed messages are bad requests, never a crash", () => {
  for (const messages of [undefined, [], [null], [{ role: "robot", content: "x" }], [{ role: "user", content: "x" }, { role: "assistant", content: "y" }]]) {
    assert.throws(() => chatHistory(messages), BadRequest);
  }
  const e = new BadRequest("bad_role", "unknown role");
  assert.equal(JSON.parse(e.body()).error.code, "bad_role");
});

test("the reply cap is the request's, never above the server's", () => {
  assert.equal(maxTokens({}, 60), 60);
  assert.equal(maxTokens({ max_tokens: 20 }, 60), 20);
  assert.equal(maxTokens({ max_completion_tokens: 500 }, 60), 60);
  assert.equal(maxTokens({ max_tokens: -1 }, 60), 60);
});

test("sentences are counted when they end", () => {
  assert.equal(sentencesDone("We open at 8"), 0);
  assert.equal(sentencesDone("We open at 8. Sunday"), 1);
  assert.equal(sentencesDone("Yes! See you at 8.30 on Sunday."), 2);
});

test("stream events are OpenAI chunks", () => {
  const event = chunkEvent("c1", "m", 5, { content: "Hi" });
  assert.ok(event.startsWith("data: ") && event.endsWith("\n\n"));
  const chunk = JSON.parse(event.slice(6));
  assert.equal(chunk.object, "chat.completion.chunk");
  assert.deepEqual(chunk.choices, [{ index: 0, delta: { content: "Hi" }, finish_reason: null }]);
  const usage = JSON.parse(chunkEvent("c1", "m", 5, {}, null, { total_tokens: 3 }).slice(6));
  assert.deepEqual(usage.choices, []);
  assert.equal(usage.usage.total_tokens, 3);
  assert.equal(DONE_EVENT, "data: [DONE]\n\n");
  assert.equal(finishReason("maxTokens"), "length");
  assert.equal(finishReason("eogToken"), "stop");
});
