// Aura widget: one tag on any page.
//
//   <script src="https://AURA_HOST/aura.js" data-key="pk_..." async></script>
//
// Options (data-key, data-position, data-color, data-greeting, data-language, data-voice,
// data-title), the API (window.Aura) and its events: docs/widget.md.
// A closed Shadow DOM with a constructed stylesheet: no CSS or JavaScript leaks either way and
// no inline style or script, so it runs under a strict Content-Security-Policy. The microphone
// is asked for only when the user presses the microphone button.
(() => {
  const script = document.currentScript;
  if (!script || window.Aura) return;
  const base = new URL(".", script.src);
  const data = script.dataset;
  const options = {
    key: data.key ?? "",
    position: data.position === "bottom-left" ? "bottom-left" : "bottom-right",
    color: /^#[0-9a-fA-F]{3,8}$/.test(data.color ?? "") ? data.color : "#6b4226",
    greeting: data.greeting ?? "Hi! Ask me anything, by voice or by typing.",
    language: data.language ?? navigator.language ?? "en-US",
    title: data.title ?? "Assistant",
    voice: data.voice ?? null,
    // "client": speak protocol v1, where the client's 600 ms of silence ends every spoken turn
    // (the old way, for comparisons); otherwise the edge decides (v2).
    endOfTurn: data.endOfTurn === "client" ? "client" : "edge",
  };
  const wsBase = base.href.replace(/^http/, "ws");
  const sessionUrl = `${new URL("v1/session", wsBase)}?key=${encodeURIComponent(options.key)}`;

  const listeners = new Map();
  const emit = (name, detail) => (listeners.get(name) ?? []).forEach((fn) => {
    try { fn(detail); } catch (e) { console.error(e); }
  });

  const side = options.position === "bottom-left" ? "left" : "right";
  const css = `
    :host { all: initial; --aura-color: ${options.color}; --bg: #fff; --fg: #1f1f1f; --muted: #5f6368;
      --line: #dadce0; --field: #fff; --user: #eef1f5; --aura: #f6efe7; --notice-bg: #fff4e5; --notice-fg: #6d4500; }
    @media (prefers-color-scheme: dark) {
      :host { --bg: #202124; --fg: #e8eaed; --muted: #bdc1c6; --line: #5f6368; --field: #303134;
        --user: #3c4043; --aura: #3a3026; --notice-bg: #4a3a1a; --notice-fg: #fde2a8; }
    }
    * { box-sizing: border-box; font: 15px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; letter-spacing: normal; }
    .launcher { position: fixed; bottom: 20px; ${side}: 20px;
      width: 56px; height: 56px; border-radius: 50%; border: none; cursor: pointer; z-index: 2147483000;
      background: var(--aura-color); color: #fff; box-shadow: 0 4px 14px rgba(0,0,0,.25); }
    .launcher svg { width: 26px; height: 26px; fill: currentColor; }
    .launcher.live::after { content: ""; position: absolute; inset: -4px; border-radius: 50%; border: 3px solid var(--aura-color); opacity: .5; }
    .panel { position: fixed; bottom: 88px; ${side}: 20px;
      width: min(360px, calc(100vw - 40px)); height: min(480px, calc(100vh - 120px)); z-index: 2147483000;
      display: flex; flex-direction: column; background: var(--bg); color: var(--fg); border-radius: 14px;
      box-shadow: 0 10px 30px rgba(0,0,0,.3), 0 0 0 1px rgba(0,0,0,.06); overflow: hidden; }
    @media (max-width: 400px) { .panel { left: 8px; right: 8px; width: auto; } }
    .panel[hidden] { display: none; }
    header { display: flex; align-items: center; gap: 4px; height: 56px; flex: none; padding: 0 6px 0 14px;
      background: var(--aura-color); color: #fff; }
    .heading { flex: 1; min-width: 0; }
    header h2, .state { display: block; margin: 0; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
    header h2 { font-weight: 600; }
    .state { font-size: 13px; line-height: 18px; height: 18px; opacity: .92; }
    .state::before { content: ""; display: inline-block; width: 8px; height: 8px; margin-right: 6px; border-radius: 50%;
      background: currentColor; opacity: .5; vertical-align: 1px; }
    .state[data-tone="live"]::before { background: #7ee2a8; opacity: 1; animation: pulse 1.6s ease-in-out infinite; }
    .state[data-tone="busy"]::before { background: #ffd479; opacity: 1; }
    .state[data-tone="bad"]::before { background: #ff8a80; opacity: 1; }
    @keyframes pulse { 50% { box-shadow: 0 0 0 5px rgba(126,226,168,.35); } }
    .captions { flex: 1; overflow-y: auto; margin: 0; padding: 10px 12px; list-style: none; }
    .captions li { margin: 6px 0; padding: 6px 10px; border-radius: 10px; max-width: 85%; white-space: pre-wrap; overflow-wrap: anywhere; }
    .captions .user { margin-left: auto; background: var(--user); }
    .captions .aura { background: var(--aura); }
    .captions .partial { opacity: .6; }
    .controls { display: flex; flex-wrap: wrap; gap: 4px; padding: 8px; border-top: 1px solid var(--line); }
    .voicebar { display: flex; align-items: center; gap: 8px; width: 100%; order: -1; color: var(--muted); font-size: 13px; }
    .voicebar[hidden] { display: none; }
    .voicebar span { font-size: 13px; }
    .level { flex: 1; height: 6px; border-radius: 3px; background: var(--line); overflow: hidden; }
    .level i { display: block; height: 100%; width: 100%; background: var(--aura-color); transform-origin: left;
      transform: scaleX(0); transition: transform 60ms linear; }
    .controls input { flex: 1; min-width: 0; padding: 8px 10px; border: 1px solid var(--line); border-radius: 8px;
      background: var(--field); color: var(--fg); }
    button { cursor: pointer; }
    .icon { flex: none; border: 1px solid var(--line); background: var(--field); color: var(--fg); border-radius: 8px; padding: 6px 8px; }
    .icon svg { width: 18px; height: 18px; fill: currentColor; vertical-align: middle; }
    .icon[aria-pressed="true"] { background: var(--aura-color); border-color: var(--aura-color); color: #fff; }
    .mic[aria-pressed="true"] { box-shadow: 0 0 0 3px rgba(126,226,168,.6); }
    .voicebar .mute { padding: 2px 10px; font-size: 13px; }
    .close { flex: none; width: 36px; height: 36px; background: transparent; border: none; border-radius: 8px; color: #fff; font-size: 22px; line-height: 1; }
    .voice svg { width: 20px; height: 20px; fill: currentColor; vertical-align: middle; }
    .voice[aria-pressed="true"] { opacity: .55; text-decoration: line-through; }
    :focus-visible { outline: 3px solid #1a73e8; outline-offset: 2px; }
    header :focus-visible { outline-color: #fff; outline-offset: -3px; }
    .notice { flex: none; margin: 0; padding: 6px 12px; font-size: 13px; background: var(--notice-bg); color: var(--notice-fg); }
    .notice[hidden] { display: none; }
    @media (prefers-reduced-motion: reduce) { .state[data-tone="live"]::before { animation: none; } .level i { transition: none; } }
  `;

  const host = document.createElement("div");
  host.setAttribute("data-aura-widget", "");
  const shadow = host.attachShadow({ mode: "closed" });
  const sheet = new CSSStyleSheet();
  sheet.replaceSync(css);
  shadow.adoptedStyleSheets = [sheet];

  const el = (tag, attrs = {}, children = []) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === "text") e.textContent = v; else e.setAttribute(k, v);
    }
    e.append(...children);
    return e;
  };
  const svg = (path) => {
    const s = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    s.setAttribute("viewBox", "0 0 24 24");
    s.setAttribute("aria-hidden", "true");
    const p = document.createElementNS("http://www.w3.org/2000/svg", "path");
    p.setAttribute("d", path);
    s.append(p);
    return s;
  };
  const MIC = "M12 14a3 3 0 0 0 3-3V5a3 3 0 0 0-6 0v6a3 3 0 0 0 3 3zm5-3a5 5 0 0 1-10 0H5a7 7 0 0 0 6 6.9V21h2v-3.1A7 7 0 0 0 19 11z";

  const launcher = el("button", { class: "launcher", type: "button", "aria-label": `Open ${options.title}`, "aria-expanded": "false", "aria-controls": "aura-panel" }, [svg(MIC)]);
  const state = el("span", { class: "state", role: "status", "aria-live": "polite", text: "Ask by voice or text" });
  const closeButton = el("button", { class: "close", type: "button", "aria-label": "Close", text: "×" });
  const voiceButton = el("button", { class: "close voice", type: "button", "aria-label": "Mute the assistant's voice", "aria-pressed": "false" },
    [svg("M3 9v6h4l5 5V4L7 9H3zm13.5 3A4.5 4.5 0 0 0 14 8v8a4.5 4.5 0 0 0 2.5-4z")]);
  const captions = el("ol", { class: "captions", "aria-live": "polite", "aria-label": "Conversation" });
  const notice = el("p", { class: "notice", hidden: "" });
  const micButton = el("button", { class: "icon mic", type: "button", "aria-label": "Talk (use the microphone)", "aria-pressed": "false" }, [svg(MIC)]);
  const muteButton = el("button", { class: "icon mute", type: "button", "aria-label": "Mute the microphone", "aria-pressed": "false", hidden: "", text: "Mute" });
  // While listening: the microphone's level (a bar the input's loudness fills) and Mute, on a
  // row of their own above the text box, which keeps its width.
  const levelBar = el("i");
  const voiceLabel = el("span", { text: "Listening" });
  const voiceBar = el("div", { class: "voicebar", hidden: "" }, [
    el("div", { class: "level", role: "meter", "aria-label": "Microphone level", "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": "0" }, [levelBar]),
    voiceLabel, muteButton]);
  const endButton = el("button", { class: "icon end", type: "button", "aria-label": "End the conversation", text: "End" });
  const input = el("input", { type: "text", maxlength: "4000", autocomplete: "off", "aria-label": "Type a message", placeholder: "Type a message…" });
  const send = el("button", { class: "icon send", type: "submit", "aria-label": "Send" }, [svg("M3 20.5 21.5 12 3 3.5v6.6l13 1.9-13 1.9z")]);
  const form = el("form", { class: "controls" }, [micButton, voiceBar, input, send, endButton]);
  const panel = el("section", { class: "panel", id: "aura-panel", role: "dialog", "aria-label": options.title, hidden: "" }, [
    el("header", {}, [el("div", { class: "heading" }, [el("h2", { text: options.title }), state]), voiceButton, closeButton]),
    notice, captions, form,
  ]);
  shadow.append(launcher, panel);

  let voice = null;
  let starting = null;
  let audio = null; // the AudioContext, made in a user gesture
  let micOn = false;
  let muted = false;
  let voiceMuted = false;
  let silent = null; // the text-mode input: no microphone
  let replyItem = null;
  let partialItem = null;
  let currentState = "idle";

  // What the status line says for each state (the `state` event keeps the names), and its dot.
  const LABEL = {
    idle: "Ask by voice or text", connecting: "Connecting…", ready: "Ready", listening: "Listening",
    muted: "Microphone muted", thinking: "Thinking…", speaking: "Answering", reconnecting: "Connection lost",
    error: "Something went wrong", busy: "Busy right now", ended: "Conversation ended",
  };
  const DETAIL = { "hearing you": "Hearing you…", "microphone blocked: type instead": "Microphone unavailable: type instead" };
  const TONE = { listening: "live", muted: "busy", thinking: "busy", speaking: "live", connecting: "busy", reconnecting: "bad", error: "bad", busy: "bad" };
  const setState = (name, detail = "") => {
    currentState = name;
    const say = DETAIL[detail] ?? (name === "reconnecting" ? `Connection lost: reconnecting ${detail}`
      : detail ? `${LABEL[name] ?? name}: ${detail}` : LABEL[name] ?? name);
    state.textContent = say;
    state.title = say; // the whole text, where the line is too narrow for it
    state.dataset.tone = TONE[name] ?? "";
    voiceLabel.textContent = name === "muted" ? "Muted" : detail === "hearing you" ? "Hearing you" : "Listening";
    emit("state", { state: name, detail });
  };
  const say = (who, text, extra = "") => {
    const li = el("li", { class: `${who} ${extra}`.trim(), text });
    captions.append(li);
    captions.scrollTop = captions.scrollHeight;
    return li;
  };
  const showNotice = (text) => { notice.textContent = text; notice.hidden = !text; };
  // Browsers keep audio suspended until a user gesture allows it (Safari: only within the
  // gesture's handler), so each gesture calls this synchronously. Resolves whether sound runs.
  const BLOCKED = "The browser is holding back the sound: replies show as text. Press the microphone or send a message to allow it.";
  function wakeAudio() {
    if (!audio || audio.state === "closed") {
      audio = new AudioContext();
      audio.onstatechange = () => audio?.state === "running" && notice.textContent === BLOCKED && showNotice("");
    }
    const ctx = audio;
    if (ctx.state === "running") return Promise.resolve(true);
    const late = new Promise((r) => setTimeout(r, 2000));
    return Promise.race([ctx.resume().catch(() => {}), late]).then(() => {
      const ok = ctx.state === "running";
      if (!ok && ctx === audio) showNotice(BLOCKED);
      return ok;
    });
  }

  function onEvent(kind, data) {
    if (kind === "ready") setState(micOn ? "listening" : "ready");
    else if (kind === "reconnecting") setState("reconnecting", `in ${Math.ceil(data.in_ms / 1000)} s`);
    else if (kind === "failed") { setState("error", data.message); emit("error", data); }
    else if (kind === "speech" && data.started) setState("listening", "hearing you");
    else if (kind === "speech" && (data.stopped || data.committed)) setState("thinking");
    else if (kind === "barge_in" && data.interrupted) setState("listening");
    else if (kind === "reply_played") setState(micOn ? "listening" : "ready");
    else if (kind === "message") onMessage(data);
  }

  function onMessage(m) {
    if (m.type === "transcript.partial") {
      partialItem ??= say("user", "", "partial");
      partialItem.textContent = m.text;
    } else if (m.type === "transcript.final") {
      if (partialItem) { partialItem.remove(); partialItem = null; }
      if (m.text) { say("user", m.text); emit("transcript", { text: m.text }); }
    } else if (m.type === "response.started") {
      replyItem = say("aura", "");
      setState("speaking");
    } else if (m.type === "response.text_delta" && replyItem) {
      replyItem.textContent += m.delta;
      captions.scrollTop = captions.scrollHeight;
    } else if (m.type === "response.done") {
      if (replyItem) emit("reply", { text: replyItem.textContent, status: m.status });
      replyItem = null;
      // A reply that cannot play (sound held back) was shown: the turn is over.
      if ((m.status !== "completed" || audio?.state !== "running") && currentState === "speaking") setState(micOn ? "listening" : "ready");
    } else if (m.type === "error") {
      setState("error", m.message);
      emit("error", { code: m.code, message: m.message });
    } else if (m.type === "handoff") {
      // The assistant hands the visitor to a person: the page decides how (Aura.on("handoff")).
      showNotice("Connecting you with a person…");
      emit("handoff", { reason: m.reason });
    } else if (m.type === "session.end") {
      setState("ended");
      emit("end", { reason: m.reason });
      voice?.stop();
      voice = null;
      starting = null;
      micOn = false;
      showListening(false);
    } else if (m.type === "rate_limited") {
      const s = Math.ceil(m.retry_after_ms / 1000);
      setState("busy", `try again in ${s} s`);
      showNotice(`The assistant is busy right now; try again in ${s} s.`);
      emit("error", { code: "rate_limited", message: m.limit, retry_after_ms: m.retry_after_ms });
    }
  }

  // A session in text mode: a silent input, so no microphone permission is needed.
  async function ensureSession() {
    if (voice) return voice;
    starting ??= (async () => {
      setState("connecting");
      wakeAudio(); // before any await: still inside the user's gesture
      const ctx = audio;
      const { startVoice } = await import(new URL("aura-voice.js", base).href);
      silent = ctx.createMediaStreamDestination().stream;
      voice = await startVoice({
        sessionUrl, onEvent, audioContext: ctx, stream: silent, language: options.language, voice: options.voice,
        endOfTurn: options.endOfTurn,
      });
      voice.setVoiceMuted(voiceMuted || panel.hidden);
      return voice;
    })().catch((e) => { starting = null; setState("error", e.message); emit("error", { code: "start", message: e.message }); throw e; });
    return starting;
  }

  async function startMicrophone() {
    try {
      const awake = wakeAudio(); // in the gesture, before any await
      const v = await ensureSession();
      if (!(await awake)) return; // the microphone is heard through the audio graph
      // Echo cancellation for barge-in, gain control as the VAD's level normaliser; no noise
      // suppression: it changed what the recogniser heard (docs/local-engines.md, chain_wer).
      const mic = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: true, noiseSuppression: false, autoGainControl: true, channelCount: 1 },
      });
      v.setInput(mic);
      micOn = true;
      showListening(true, mic);
      showNotice("");
      setState("listening");
    } catch (e) {
      // Refused, absent (WebKit says OverconstrainedError when there is no capture device at
      // all) or held by another application: the visitor can still type.
      if (e && ["NotAllowedError", "NotFoundError", "SecurityError", "OverconstrainedError", "NotReadableError"].includes(e.name)) {
        showNotice("The microphone is not available. You can type your question instead.");
        setState("ready", "microphone blocked: type instead");
        input.focus();
        emit("error", { code: "microphone_denied", message: e.name });
      } else { setState("error", e.message); emit("error", { code: "start", message: e.message }); }
    }
  }

  // Back to text mode: the microphone is released (its tracks stopped).
  function stopMicrophone() {
    if (voice && silent) voice.setInput(silent);
    micOn = false;
    setMicMuted(false);
    showListening(false);
    if (voice) setState("ready");
  }

  // The controls of listening, and the microphone's level: an analyser on its stream, drawn
  // once a frame while listening (nothing runs otherwise).
  const meter = voiceBar.querySelector(".level");
  let stopMeter = () => {};
  function showListening(on, stream) {
    micButton.setAttribute("aria-pressed", String(on));
    muteButton.hidden = !on;
    voiceBar.hidden = !on;
    launcher.classList.toggle("live", on);
    stopMeter();
    if (!on || !audio) return;
    const analyser = audio.createAnalyser();
    analyser.fftSize = 512;
    const source = audio.createMediaStreamSource(stream);
    // Through a silent gain to the speakers: Firefox may not run a branch that reaches none.
    const sink = audio.createGain();
    sink.gain.value = 0;
    source.connect(analyser).connect(sink).connect(audio.destination);
    const buf = new Float32Array(analyser.fftSize);
    let frame = 0;
    let shown = -1;
    const draw = () => {
      analyser.getFloatTimeDomainData(buf);
      let sum = 0;
      for (const v of buf) sum += v * v;
      const dbfs = 10 * Math.log10(sum / buf.length + 1e-10);
      const level = muted ? 0 : Math.round(Math.max(0, Math.min(1, (dbfs + 60) / 45)) * 20) * 5; // -60..-15 dBFS, 5 % steps
      if (level !== shown) {
        shown = level;
        levelBar.style.transform = `scaleX(${level / 100})`;
        meter.setAttribute("aria-valuenow", String(level));
      }
      frame = requestAnimationFrame(draw);
    };
    frame = requestAnimationFrame(draw);
    stopMeter = () => {
      cancelAnimationFrame(frame);
      source.disconnect();
      sink.disconnect();
      levelBar.style.transform = "scaleX(0)";
      meter.setAttribute("aria-valuenow", "0");
      stopMeter = () => {};
    };
  }
  function setMicMuted(m) {
    muted = m;
    voice?.setMuted(m);
    muteButton.setAttribute("aria-pressed", String(m));
    muteButton.textContent = m ? "Unmute" : "Mute";
    muteButton.setAttribute("aria-label", m ? "Unmute the microphone" : "Mute the microphone");
  }

  function open() {
    panel.hidden = false;
    launcher.setAttribute("aria-expanded", "true");
    if (!captions.childElementCount) say("aura", options.greeting);
    wakeAudio();
    voice?.setVoiceMuted(voiceMuted);
    ensureSession().catch(() => {});
    input.focus();
    emit("open", {});
  }

  // Closing stops listening and silences the voice: nothing is heard or said behind a closed
  // panel (a reply that arrives still shows in the captions).
  function close() {
    if (micOn) stopMicrophone();
    voice?.stopReply();
    voice?.setVoiceMuted(true);
    panel.hidden = true;
    launcher.setAttribute("aria-expanded", "false");
    launcher.focus();
    emit("close", {});
  }

  function end() {
    voice?.stop();
    voice?.context.close();
    voice = null;
    audio = null;
    starting = null;
    stopMicrophone();
    captions.replaceChildren(); // the conversation is gone: so are its captions
    replyItem = partialItem = null;
    setState("idle");
    close();
  }

  launcher.addEventListener("click", () => (panel.hidden ? open() : close()));
  closeButton.addEventListener("click", close);
  endButton.addEventListener("click", end);
  micButton.addEventListener("click", () => (micOn ? stopMicrophone() : startMicrophone()));
  muteButton.addEventListener("click", () => {
    setMicMuted(!muted);
    setState(muted ? "muted" : "listening");
  });
  voiceButton.addEventListener("click", () => {
    voiceMuted = !voiceMuted;
    voice?.setVoiceMuted(voiceMuted);
    if (voiceMuted) voice?.stopReply();
    voiceButton.setAttribute("aria-pressed", String(voiceMuted));
  });
  panel.addEventListener("keydown", (e) => { if (e.key === "Escape") close(); });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    say("user", text);
    wakeAudio(); // in the gesture; the reply still shows as text if sound stays blocked
    try {
      const v = await ensureSession();
      await new Promise((resolve, reject) => {
        const t0 = Date.now();
        const wait = () => (v.client.ready ? resolve() : Date.now() - t0 > 15000 ? reject(new Error("not connected")) : setTimeout(wait, 50));
        wait();
      });
      v.sendText(text);
      setState("thinking");
    } catch (err) {
      setState("error", err.message);
    }
  });

  const mount = () => document.body.append(host);
  if (document.body) mount(); else document.addEventListener("DOMContentLoaded", mount);

  window.Aura = Object.freeze({
    open, close,
    on(name, fn) { listeners.set(name, [...(listeners.get(name) ?? []), fn]); },
    off(name, fn) { listeners.set(name, (listeners.get(name) ?? []).filter((f) => f !== fn)); },
    get state() { return currentState; },
  });
})();
