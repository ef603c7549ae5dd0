// Cost of the client's real-time path in WebAssembly, per 128-sample render quantum at 48 kHz,
// measured in Node on the same www/pkg build the browser loads. Prints JSON.
//
//   scripts/build.sh client && node client-wasm/benches/capture_cost.mjs
//
// engine: AudioEngine.process() with a reply playing (playback render, resampling 48k->16k,
// VAD, barge-in with echo-path estimation, turn-taking) - the worst case, as the worklet runs it.
// engine_silero*: the same with the on-demand Silero weights loaded (www/pkg/silero-v6-int8.bin),
// the VAD the worklet runs once they arrive (earshot's figures are the fallback's).
// silero_alone: the network on one 32 ms chunk, divided by the 12 quanta a chunk spans.
// earshot_alone: the VAD model on one 16 ms frame, divided by the 6 quanta a frame spans at
// 48 kHz, timed in the same run. Target: engine median <= 27 us (1% of the 2.67 ms quantum).
// resamplers: the client's polyphase converter against rubato's sinc resampler with the same
// filter, 128 input samples per call, for the microphone (48k -> 16k, 44.1k -> 16k) and for
// playback (24k -> 48k): the benchmark that justifies writing our own.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { performance } from "node:perf_hooks";

const root = fileURLToPath(new URL("../../", import.meta.url));
const { initSync, AudioEngine, VadOnly, SileroOnly, ResamplerOnly, recordSummary } = await import(`${root}www/pkg/aura_client.js`);
const wasm = initSync({ module: readFileSync(`${root}www/pkg/aura_client_bg.wasm`) });

const RATE = 48000, QUANTUM = 128, QUANTA = Number(process.env.QUANTA ?? 30000);

// A deterministic, speech-like microphone signal: a 150 Hz buzz with harmonics, syllable-rate
// amplitude modulation, plus noise.
let seed = 1;
const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) - 0.5;
const mic = (n) => {
  const t = n / RATE;
  const env = 0.5 + 0.5 * Math.sin(2 * Math.PI * 4 * t);
  let s = 0;
  for (let h = 1; h <= 8; h++) s += Math.sin(2 * Math.PI * 150 * h * t) / h;
  return 0.1 * env * s + 0.01 * rand();
};

// A reply to play: 24 kHz audio in 20 ms frames (protocol v1 output frames).
const frame = (reply, seq, end) => {
  const samples = 480, buf = new ArrayBuffer(20 + samples * 2), v = new DataView(buf);
  v.setUint8(0, 1); v.setUint8(1, 2); v.setUint16(2, end ? 1 : 0, true);
  v.setUint32(4, reply, true); v.setUint32(8, seq, true); v.setUint32(12, 24000, true);
  v.setUint16(16, samples, true); v.setUint16(18, 0, true);
  for (let i = 0; i < samples; i++) {
    const n = seq * samples + i;
    v.setInt16(20 + 2 * i, Math.round(8000 * Math.sin(2 * Math.PI * 220 * n / 24000) * (0.6 + 0.4 * Math.sin(n / 3000))), true);
  }
  return new Uint8Array(buf);
};

const view = (ptr, len) => new Float32Array(wasm.memory.buffer, ptr, len);

const sileroWeights = readFileSync(`${root}www/pkg/silero-v6-int8.bin`);

// Times AudioEngine.process() per quantum, with or without a reply playing through it.
const runEngine = (withReply, silero = false) => {
  const engine = new AudioEngine(RATE);
  if (silero && engine.loadVadWeights(sileroWeights) !== 0) throw new Error("Silero weights refused");
  if (withReply) {
    const replyFrames = Math.min(2999, Math.ceil(QUANTA * QUANTUM / RATE / 0.02) + 10);
    for (let seq = 0; seq < replyFrames; seq++) {
      const code = engine.pushReplyFrame(frame(1, seq, seq === replyFrames - 1));
      if (code !== 0) throw new Error(`pushReplyFrame returned ${code} at seq ${seq}`);
    }
  }
  const times = new Float64Array(QUANTA);
  let n = 0, events = 0, sent = 0, heard = 0;
  for (let q = 0; q < QUANTA; q++) {
    const input = view(engine.inputPtr(), QUANTUM);
    for (let i = 0; i < QUANTUM; i++) input[i] = mic(n++);
    const t0 = performance.now();
    const pending = engine.process();
    times[q] = (performance.now() - t0) * 1000;
    const out = view(engine.outputPtr(), QUANTUM);
    if (out[64] !== 0) heard++;
    if (pending) {
      const records = recordSummary(engine.takeRecords());
      for (let i = 0; i < records.length; i += 4) {
        if (records[i] === 0) sent += records[i + 1];
        else events++;
      }
    }
  }
  engine.free();
  return { times, check: { quanta_with_reply_audio: heard, events, input_bytes_sent: sent } };
};
const listening = runEngine(false);
const playing = runEngine(true);
const sileroListening = runEngine(false, true);
const sileroPlaying = runEngine(true, true);

const vad = new VadOnly();
const FRAMES = Math.ceil(QUANTA / 6);
const vadTimes = new Float64Array(FRAMES);
for (let f = 0; f < FRAMES; f++) {
  const buf = view(vad.framePtr(), 256);
  for (let i = 0; i < 256; i++) buf[i] = mic(f * 768 + i * 3);
  const t0 = performance.now();
  vad.process();
  vadTimes[f] = ((performance.now() - t0) * 1000) / 6;
}

// Silero alone: one 32 ms chunk per call, divided by the 12 quanta a chunk spans at 48 kHz.
const silero = new SileroOnly(sileroWeights);
const CHUNKS = Math.ceil(QUANTA / 12);
const sileroTimes = new Float64Array(CHUNKS);
for (let c = 0; c < CHUNKS; c++) {
  const buf = view(silero.chunkPtr(), 512);
  for (let i = 0; i < 512; i++) buf[i] = mic(c * 1536 + i * 3);
  const t0 = performance.now();
  silero.process();
  sileroTimes[c] = ((performance.now() - t0) * 1000) / 12;
}

// Each converter alone, alternating between them so both see the same machine state.
const CALLS = Math.min(QUANTA, 20000);
const resamplers = {};
for (const [name, from, to, speech] of [
  ["mic_48k_to_16k", 48000, 16000, true],
  ["mic_44k1_to_16k", 44100, 16000, true],
  ["playback_24k_to_48k", 24000, 48000, false],
]) {
  const engines = { polyphase: new ResamplerOnly(from, to, speech, false), rubato: new ResamplerOnly(from, to, speech, true) };
  const times = { polyphase: new Float64Array(CALLS), rubato: new Float64Array(CALLS) };
  const sums = { polyphase: 0, rubato: 0 };
  for (let c = 0; c < CALLS; c++) {
    for (const e of ["polyphase", "rubato"]) {
      const input = view(engines[e].inputPtr(), QUANTUM);
      for (let i = 0; i < QUANTUM; i++) input[i] = mic(c * QUANTUM + i);
      const t0 = performance.now();
      sums[e] += engines[e].process();
      times[e][c] = (performance.now() - t0) * 1000;
    }
  }
  resamplers[name] = { times, sums };
  engines.polyphase.free(); engines.rubato.free();
}

const stats = (a) => {
  const s = Float64Array.from(a).sort();
  const q = (p) => s[Math.min(s.length - 1, Math.round((s.length - 1) * p))];
  return { median_us: +q(0.5).toFixed(2), p95_us: +q(0.95).toFixed(2), p99_us: +q(0.99).toFixed(2), mean_us: +(s.reduce((x, y) => x + y, 0) / s.length).toFixed(2) };
};
const listeningStats = stats(listening.times.subarray(100));
const engineStats = stats(playing.times.subarray(100)), earshot = stats(vadTimes.subarray(20));
console.log(JSON.stringify({
  benchmark: "capture_cost",
  runtime: `node ${process.version} (V8 WebAssembly)`,
  rate_hz: RATE,
  quanta: QUANTA,
  // Listening: resampling to 16 kHz, VAD, turn-taking, framing. Reply playing: the same plus
  // playback (jitter buffer, 24 kHz -> 48 kHz) and barge-in with echo-path estimation.
  engine_listening_per_quantum: listeningStats,
  engine_per_quantum: engineStats,
  engine_silero_listening_per_quantum: stats(sileroListening.times.subarray(100)),
  engine_silero_per_quantum: stats(sileroPlaying.times.subarray(100)),
  earshot_alone_per_quantum: earshot,
  silero_alone_per_quantum: stats(sileroTimes.subarray(10)),
  // A VAD frame is decided every 5th to 6th quantum, so the cost per quantum is bursty: the
  // mean is the fair per-quantum figure and p99 the worst case.
  engine_listening_over_earshot_mean: +(listeningStats.mean_us / earshot.mean_us).toFixed(2),
  engine_over_earshot_median: +(engineStats.median_us / earshot.median_us).toFixed(2),
  engine_over_earshot_mean: +(engineStats.mean_us / earshot.mean_us).toFixed(2),
  // Per call of 128 input samples. The sums of all output (check) agree when both converters
  // produce the same signal.
  resampler_per_call: Object.fromEntries(Object.entries(resamplers).map(([name, r]) => {
    const p = stats(r.times.polyphase.subarray(100)), q = stats(r.times.rubato.subarray(100));
    return [name, { polyphase: p, rubato: q, rubato_over_polyphase_mean: +(q.mean_us / p.mean_us).toFixed(2), check_output_sum: { polyphase: +r.sums.polyphase.toFixed(3), rubato: +r.sums.rubato.toFixed(3) } }];
  })),
  target_median_us: 27,
  quantum_budget_us: +(QUANTUM / RATE * 1e6).toFixed(1),
  check: { listening: listening.check, reply_playing: playing.check, silero_listening: sileroListening.check, silero_reply_playing: sileroPlaying.check },
  wasm_bytes: readFileSync(`${root}www/pkg/aura_client_bg.wasm`).length,
}));
