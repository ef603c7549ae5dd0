// Aura's AudioWorkletProcessor: thin glue around the Rust AudioEngine (client-wasm/src/wasm.rs).
//
// The main thread compiles the WebAssembly module and passes it in processorOptions.module;
// it is instantiated synchronously here. Every render quantum: copy the microphone into WASM
// memory, run engine.process() (reply playback, capture, VAD, turn-taking, barge-in; barge-in
// pauses or stops playback right here, with no round trip), copy the reply audio out, and post
// whatever events and input frames came back to the main thread.
//
// Messages in (port): {type: "reply-frame", bytes: ArrayBuffer} | {type: "stop-reply"} |
//               {type: "vad-weights", bytes: ArrayBuffer} (Silero's, loaded on demand: earshot
//               decides until they arrive) |
//               {type: "end-of-turn", fallback_ms} (the session's end_of_turn_fallback_ms; 0 or
//               never sent: the client's silence ends each turn, v1) |
//               {type: "turn-committed", stream_id} (the edge ended that utterance, v2)
// Messages out: {type: "records", at: frame, bytes: ArrayBuffer} (the engine's events and
//                encoded input frames in the order they happened, client-wasm/src/records.rs),
//                one message per quantum that has any;
//               {type: "reply-frame-refused", code} | {type: "vad-ready"} |
//               {type: "vad-weights-refused", code} | {type: "error", message}
import "./worklet-env.js";
import { initSync, AudioEngine } from "./pkg/aura_client.js";

const QUANTUM = 128;

class AuraProcessor extends AudioWorkletProcessor {
  constructor(options) {
    super();
    try {
      this.wasm = initSync({ module: options.processorOptions.module });
      this.engine = new AudioEngine(sampleRate);
    } catch (e) {
      this.port.postMessage({ type: "error", message: `engine failed to start: ${e}` });
      this.engine = null;
    }
    this.views();
    this.port.onmessage = (e) => this.onMessage(e.data);
  }

  // Views on WASM memory; rebuilt when the memory grows (its buffer is then replaced).
  views() {
    if (!this.engine) return;
    const buffer = this.wasm.memory.buffer;
    if (this.buffer === buffer) return;
    this.buffer = buffer;
    this.input = new Float32Array(buffer, this.engine.inputPtr(), QUANTUM);
    this.output = new Float32Array(buffer, this.engine.outputPtr(), QUANTUM);
  }

  onMessage(msg) {
    if (!this.engine) return;
    if (msg.type === "reply-frame") {
      const code = this.engine.pushReplyFrame(new Uint8Array(msg.bytes));
      if (code !== 0) this.port.postMessage({ type: "reply-frame-refused", code });
    } else if (msg.type === "stop-reply") {
      this.engine.stopReply();
    } else if (msg.type === "end-of-turn") {
      this.engine.setEndOfTurn(msg.fallback_ms >>> 0);
    } else if (msg.type === "turn-committed") {
      this.engine.commitTurn(msg.stream_id >>> 0);
    } else if (msg.type === "vad-weights") {
      const code = this.engine.loadVadWeights(new Uint8Array(msg.bytes));
      this.port.postMessage(code === 0 ? { type: "vad-ready" } : { type: "vad-weights-refused", code });
    }
  }

  process(inputs, outputs) {
    if (!this.engine) return false;
    this.views();
    const mic = inputs[0] && inputs[0][0];
    if (mic) this.input.set(mic);
    else this.input.fill(0);
    const pending = this.engine.process();
    this.views();
    for (const channel of outputs[0]) channel.set(this.output);
    if (pending) {
      const bytes = this.engine.takeRecords();
      this.port.postMessage({ type: "records", at: currentFrame, bytes: bytes.buffer }, [bytes.buffer]);
    }
    return true;
  }
}

registerProcessor("aura-processor", AuraProcessor);
