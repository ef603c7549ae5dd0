// Aura voice: joins the microphone, the AudioWorklet (capture, VAD, turn-taking, barge-in,
// playback; all Rust) and the session connection (Rust on the main thread) for a page.
// Thin glue: it only moves messages between them.
//
//   const voice = await startVoice({ sessionUrl: "wss://host/v1/session", onEvent });
//   onEvent(kind, data): "ready" | "reconnecting" | "failed" | "message" (server messages,
//   e.g. transcripts and reply captions) | "speech" ({started|stopped}) | "barge_in"
//   ({paused|resumed|interrupted}) | "reply_played".
//   voice.sendText(text); voice.stop();
import { initSync, SessionClient } from "./pkg/aura_client.js";

const EVENT = { SPEECH_STARTED: 1, SPEECH_STOPPED: 2, PAUSED: 3, RESUMED: 4, INTERRUPTED: 5, REPLY_PLAYED: 6 };

export async function startVoice({ sessionUrl, onEvent = () => {}, audioContext, stream, microphone } = {}) {
  const module = await WebAssembly.compileStreaming(fetch(new URL("./pkg/aura_client_bg.wasm", import.meta.url)));
  initSync({ module });
  const ctx = audioContext ?? new AudioContext();
  await ctx.audioWorklet.addModule(new URL("./aura-worklet.js", import.meta.url));
  const node = new AudioWorkletNode(ctx, "aura-processor", { processorOptions: { module }, outputChannelCount: [1] });
  const mic = stream ?? await navigator.mediaDevices.getUserMedia({
    audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true, channelCount: 1, ...microphone },
  });
  const source = ctx.createMediaStreamSource(mic);
  source.connect(node);
  node.connect(ctx.destination);

  const client = new SessionClient(
    sessionUrl,
    (kind, json) => onEvent(kind, JSON.parse(json)),
    (buffer) => node.port.postMessage({ type: "reply-frame", bytes: buffer }, [buffer]),
  );
  node.port.onmessage = ({ data }) => {
    if (data.type === "events") {
      const e = data.events;
      for (let i = 0; i < e.length; i += 3) {
        const [kind, a, b] = [e[i], e[i + 1], e[i + 2]];
        if (kind === EVENT.SPEECH_STARTED) { client.speechStarted(a); onEvent("speech", { started: a }); }
        else if (kind === EVENT.SPEECH_STOPPED) { client.speechStopped(a, b); onEvent("speech", { stopped: a, frames: b }); }
        else if (kind === EVENT.PAUSED) onEvent("barge_in", { paused: true });
        else if (kind === EVENT.RESUMED) onEvent("barge_in", { resumed: true });
        else if (kind === EVENT.INTERRUPTED) { client.cancel(a, b); onEvent("barge_in", { interrupted: a, played_ms: b }); }
        else if (kind === EVENT.REPLY_PLAYED) onEvent("reply_played", { response_id: a, played_ms: b });
      }
    } else if (data.type === "frames") {
      client.sendFrames(new Uint8Array(data.bytes));
    } else if (data.type === "error") {
      onEvent("failed", { code: "internal", message: data.message });
    }
  };
  client.connect();
  return {
    client, node, context: ctx,
    sendText: (text) => client.sendText(text),
    stop() {
      client.close();
      source.disconnect();
      node.disconnect();
      if (!stream) mic.getTracks().forEach((t) => t.stop());
    },
  };
}
