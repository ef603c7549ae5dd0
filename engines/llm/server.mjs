// `node server.mjs --model FILE.gguf [--port P] [--max-tokens N]`: an OpenAI-compatible
// `POST /v1/chat/completions` (streamed with `stream: true`, or one JSON answer) on 127.0.0.1,
// by llama.cpp through node-llama-cpp's prebuilt binary, on one CPU thread. Replies are capped
// at --max-sentences (default 2) and --max-tokens (default 60): a small model rambles, and a
// voice reply should be short. Requests are answered one at a time; a client that hangs up
// (barge-in) stops its generation.
import http from "node:http";
import { parseArgs } from "node:util";
import { getLlama, LlamaChat } from "node-llama-cpp";
import { BadRequest, chatHistory, chunkEvent, DONE_EVENT, finishReason, maxTokens, sentencesDone } from "./openai.mjs";

const { values: opts } = parseArgs({
  options: { model: { type: "string" }, port: { type: "string", default: "8793" }, "max-tokens": { type: "string", default: "60" },
    "max-sentences": { type: "string", default: "2" } },
});
if (!opts.model) {
  console.error("usage: node server.mjs --model FILE.gguf [--port P] [--max-tokens N]");
  process.exit(2);
}
const cap = Number(opts["max-tokens"]);
const maxSentences = Number(opts["max-sentences"]);
const llama = await getLlama({ build: "never", gpu: false, logLevel: "error" });
const model = await llama.loadModel({ modelPath: opts.model });
const context = await model.createContext({ contextSize: 2048, threads: 1 });
const chat = new LlamaChat({ contextSequence: context.getSequence() });
const modelName = "smollm2-135m-instruct";
let queue = Promise.resolve();

async function complete(request, res, stop) {
  const history = chatHistory(request.messages);
  const id = `chatcmpl-${Date.now().toString(36)}`;
  const created = Math.floor(Date.now() / 1000);
  const stream = request.stream === true;
  let tokens = 0;
  let text = "";
  if (stream) {
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    res.write(chunkEvent(id, modelName, created, { role: "assistant", content: "" }));
  }
  const result = await chat.generateResponse(history, {
    maxTokens: maxTokens(request, cap),
    temperature: typeof request.temperature === "number" ? request.temperature : 0.2,
    signal: stop.signal,
    stopOnAbortSignal: true,
    onToken: (t) => { tokens += t.length; },
    onTextChunk: (chunk) => {
      if (stop.signal.aborted) return;
      text += chunk;
      if (stream && chunk) res.write(chunkEvent(id, modelName, created, { content: chunk }));
      if (sentencesDone(text) >= maxSentences) stop.abort();
    },
  });
  const promptTokens = model.tokenize(history.map((h) => h.text ?? h.response.join(" ")).join("\n")).length;
  const usage = { prompt_tokens: promptTokens, completion_tokens: tokens, total_tokens: promptTokens + tokens };
  const finish = finishReason(result.metadata.stopReason);
  if (stream) {
    res.write(chunkEvent(id, modelName, created, {}, finish));
    if (request.stream_options?.include_usage) res.write(chunkEvent(id, modelName, created, {}, null, usage));
    res.end(DONE_EVENT);
  } else {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ id, object: "chat.completion", created, model: modelName, usage,
      choices: [{ index: 0, message: { role: "assistant", content: text }, finish_reason: finish }] }));
  }
}

function fail(res, status, error) {
  if (res.headersSent) return res.end();
  res.writeHead(status, { "content-type": "application/json" });
  res.end(error.body());
}

const server = http.createServer((req, res) => {
  if (req.method === "GET" && req.url === "/health") {
    res.writeHead(200, { "content-type": "application/json" });
    return res.end(JSON.stringify({ ok: true, engine: "aura-llm (node-llama-cpp)" }));
  }
  if (req.method !== "POST" || req.url.split("?")[0] !== "/v1/chat/completions") return fail(res, 404, new BadRequest("not_found", "no such route"));
  const parts = [];
  let size = 0;
  req.on("data", (d) => { size += d.length; if (size > 4 << 20) req.destroy(); else parts.push(d); });
  req.on("end", () => {
    let request;
    try {
      request = JSON.parse(Buffer.concat(parts).toString("utf8"));
    } catch {
      return fail(res, 400, new BadRequest("bad_json", "the body is not JSON"));
    }
    const hangUp = new AbortController();
    res.on("close", () => { if (!res.writableFinished) hangUp.abort(); });
    queue = queue.then(() => hangUp.signal.aborted ? undefined : complete(request, res, hangUp)).catch((e) => {
      if (e instanceof BadRequest) fail(res, 400, e);
      else { console.error(`aura-llm: generation failed: ${e?.name ?? "error"}`); fail(res, 500, new BadRequest("engine_error", "generation failed")); }
    });
  });
});
server.listen(Number(opts.port), "127.0.0.1", () => console.log(`aura-llm (node-llama-cpp) listening on http://127.0.0.1:${server.address().port}`));
