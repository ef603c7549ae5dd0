// Aura voice: joins the microphone, the AudioWorklet (capture, VAD, turn-taking, barge-in,
// playback; all Rust) and the session connection (Rust on the main thread) for a page.
// Thin glue: it only moves messages between them.
//
//   const voice = await startVoice({ sessionUrl: "wss://host/v1/session", onEvent });
//   onEvent(kind, data): "ready" | "reconnecting" | "failed" | "message" (server messages,
//   e.g. transcripts and reply captions) | "speech" ({started} | {paused, silence_ms} |
//   {resumed} | {committed} (the edge ended the turn) | {stopped} (the client did)) | "barge_in"
//   ({paused|resumed|interrupted}) | "reply_played" | "vad" ({model: "silero"} once the
//   on-demand VAD weights are loaded; earshot decides until then, and if they cannot be had:
//   {model: "earshot", error}).
//   voice.sendText(text); voice.setInput(stream); voice.setMuted(bool); voice.setVoiceMuted(bool);
//   voice.stopReply(); voice.stop();
//   Without `stream`, it asks for the microphone; pass a silent stream for text only.
//   endOfTurn: "edge" (default: protocol v2, the edge decides when a spoken turn is over, the
//   client reports pauses) | "client" (protocol v1: the client's 600 ms of silence ends every turn).
import { initSync, SessionClient } from "./pkg/aura_client.js";

export async function startVoice({ sessionUrl, onEvent = () => {}, audioContext, stream, microphone, language, voice, endOfTurn = "edge" } = {}) {
  // Silero's weights are fetched when the microphone opens, in parallel with getUserMedia
  // (a separate file: the widget's first load does not carry them; the browser caches it).
  let weights = null;
  const fetchVadWeights = () => {
    weights ??= fetch(new URL("./pkg/silero-v6-int8.bin", import.meta.url))
      .then((r) => (r.ok ? r.arrayBuffer() : Promise.reject(new Error(`HTTP ${r.status}`))));
    return weights;
  };
  if (!stream) fetchVadWeights();
  const module = await WebAssembly.compileStreaming(fetch(new URL("./pkg/aura_client_bg.wasm", import.meta.url)));
  initSync({ module });
  const ctx = audioContext ?? new AudioContext();
  await ctx.audioWorklet.addModule(new URL("./aura-worklet.js", import.meta.url));
  const node = new AudioWorkletNode(ctx, "aura-processor", { processorOptions: { module }, outputChannelCount: [1] });
  // No noise suppression: it changed what the recogniser heard (docs/local-engines.md).
  const mic = stream ?? await navigator.mediaDevices.getUserMedia({
    audio: { echoCancellation: true, noiseSuppression: false, autoGainControl: true, channelCount: 1, ...microphone },
  });
  let input = mic;
  let source = ctx.createMediaStreamSource(mic);
  source.connect(node);
  // The assistant's voice goes through a gain: 0 silences it (the worklet still plays and
  // counts it, so turn-taking and barge-in go on).
  const out = ctx.createGain();
  node.connect(out).connect(ctx.destination);

  // The session says who ends a spoken turn (session.ready.end_of_turn_fallback_ms, v2) and
  // the worklet's turn-taking follows; the edge's commit ends the utterance there.
  const onSessionEvent = (kind, data) => {
    if (kind === "ready") node.port.postMessage({ type: "end-of-turn", fallback_ms: data.end_of_turn_fallback_ms ?? 0 });
    onEvent(kind, data);
    if (kind === "message" && data.type === "turn.committed") {
      node.port.postMessage({ type: "turn-committed", stream_id: data.stream_id });
      onEvent("speech", { committed: data.stream_id });
    }
  };
  const client = new SessionClient(
    sessionUrl,
    (kind, json) => onSessionEvent(kind, JSON.parse(json)),
    (buffer) => node.port.postMessage({ type: "reply-frame", bytes: buffer }, [buffer]),
  );
  if (endOfTurn === "client") client.setProtocol(1);
  node.port.onmessage = ({ data }) => {
    // The worklet's events and input frames, in the order they happened: the Rust session
    // client sends each and tells onEvent ("speech", "barge_in", "reply_played").
    if (data.type === "records") {
      client.dispatchRecords(new Uint8Array(data.bytes));
    } else if (data.type === "vad-ready") {
      onEvent("vad", { model: "silero" });
    } else if (data.type === "vad-weights-refused") {
      onEvent("vad", { model: "earshot", error: `weights refused (${data.code})` });
    } else if (data.type === "error") {
      onEvent("failed", { code: "internal", message: data.message });
    }
  };
  const loadVadWeights = () => fetchVadWeights().then(
    (bytes) => node.port.postMessage({ type: "vad-weights", bytes }),
    (e) => onEvent("vad", { model: "earshot", error: String(e) }),
  );
  let vadRequested = !stream;
  if (vadRequested) loadVadWeights();
  // The client sends `language` if it is a BCP 47 tag, else the page's <html lang>, else "en".
  client.setPreferences(language ?? null, voice ?? null, document.documentElement.lang || null);
  client.connect();
  return {
    client, node, context: ctx,
    sendText: (text) => client.sendText(text),
    // Switches the input (e.g. from a silent text-mode stream to the microphone) on the same
    // session: the conversation goes on.
    setInput(next) {
      if (!vadRequested) { vadRequested = true; loadVadWeights(); }
      source.disconnect();
      if (input !== stream) input.getTracks().forEach((t) => t.stop());
      input = next;
      source = ctx.createMediaStreamSource(next);
      source.connect(node);
    },
    // A muted microphone sends silence: nothing is detected as speech.
    setMuted(muted) {
      input.getAudioTracks().forEach((t) => { t.enabled = !muted; });
    },
    setVoiceMuted(muted) { out.gain.value = muted ? 0 : 1; },
    // Drops the reply audio not played yet.
    stopReply() { node.port.postMessage({ type: "stop-reply" }); },
    stop() {
      client.close();
      source.disconnect();
      node.disconnect();
      out.disconnect();
      if (input !== stream) input.getTracks().forEach((t) => t.stop());
    },
  };
}
