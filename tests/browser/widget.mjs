// Drives the Aura widget on a page in headless Chromium, by keyboard only, as a person would,
// and prints what happened as JSON: {reply, transcript, states, errors, globals, styles}.
// Chromium only (Playwright over the DevTools protocol: init scripts, WebSocket frames, the
// closed shadow root): the tests that must hold in every engine use visit.mjs instead.
//   node tests/browser/widget.mjs type URL "question" [screenshot.png]   no microphone at all
//   node tests/browser/widget.mjs talk URL FILE.wav [screenshot.png]     fake microphone plays FILE.wav
//   node tests/browser/widget.mjs steps URL FILE.wav|- 'STEPS'     a script of steps (JSON array):
//        "open", "key:Shift+Tab", "type:text", "sleep:MS", "wait:STATE" (a state shown, e.g.
//        "listening: hearing you"), "now:STATE" (Aura.state is STATE), "reply" / "replies:N" (N replies came),
//        "mark:NAME" (the time, in marks), "snap:NAME" (the widget's controls in snaps)
// `type` ends at the reply played, an error, or a busy state (a limit).
// What the browser reports, from the environment (init scripts, before the page runs):
//   AURA_NAVIGATOR_LANGUAGE=C   navigator.language and navigator.languages say this
//   AURA_SAMPLE_RATE=22050      every AudioContext runs at this rate (as iOS forces its own)
//   AURA_AUDIO=suspended        every AudioContext starts suspended (resumes on a gesture)
//   AURA_AUDIO=blocked          ... and can never be resumed (resume() rejects)
//   AURA_MIC_PROCESSING=ec+agc  getUserMedia gets exactly these of the browser's microphone
//                               processing on (ec: echoCancellation, ns: noiseSuppression, agc:
//                               autoGainControl), the others off, whatever the page asks; "off":
//                               none (chain_wer compares them)
// The result also carries `sessionStarts` (the session.start messages the page sent),
// `audioRates` (the rates of the AudioContexts made), `notice` (the widget's notice text),
// `requests` and `requestsBeforeOpen` (the URLs the page fetched, in all and before the widget
// opened), `failed` (answers of 400 or more, "STATUS URL") and `pageText` (the page's visible text).
// Keyboard: Tab until the widget's button has the focus, Enter opens the panel (the focus moves
// to the text box); `type` types and presses Enter; `talk` presses Shift+Tab (the microphone
// button) and Enter.
import { chromium } from "playwright-core";

const [mode, url, arg, screenshot] = process.argv.slice(2);
const steps = mode === "steps" ? JSON.parse(screenshot) : [];
const args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
  "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required"];
if (mode === "talk" || (mode === "steps" && arg !== "-")) {
  args.push("--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream", `--use-file-for-fake-audio-capture=${arg}%noloop`);
}
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", headless: true, args });
try {
  const context = await browser.newContext({ viewport: { width: 1000, height: 900 } });
  const page = await context.newPage();
  const pageErrors = [];
  page.on("pageerror", (e) => { pageErrors.push(e.message); console.error(`[page error] ${e.message}`); });
  page.on("console", (m) => console.error(`[console ${m.type()}] ${m.text()}`));
  // The page's globals before anything of the page runs (init scripts are not subject to CSP).
  await page.addInitScript(() => { window.__globalsBefore = Object.getOwnPropertyNames(window); });
  const env = { language: process.env.AURA_NAVIGATOR_LANGUAGE, rate: process.env.AURA_SAMPLE_RATE, audio: process.env.AURA_AUDIO, processing: process.env.AURA_MIC_PROCESSING };
  await page.addInitScript((env) => {
    if (env.language !== undefined) {
      Object.defineProperty(Navigator.prototype, "language", { get: () => env.language, configurable: true });
      Object.defineProperty(Navigator.prototype, "languages", { get: () => [env.language], configurable: true });
    }
    const Native = window.AudioContext;
    const rates = [];
    Object.defineProperty(window, "__audioRates", { value: rates });
    // The microphone's tracks (are they released?) and the times the page's output was audible.
    const tracks = [];
    Object.defineProperty(window, "__micTracks", { value: tracks });
    const gum = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
    const on = (env.processing ?? "").split("+");
    const processing = { echoCancellation: on.includes("ec"), noiseSuppression: on.includes("ns"), autoGainControl: on.includes("agc") };
    navigator.mediaDevices.getUserMedia = async (c) => {
      if (env.processing && c?.audio) c = { ...c, audio: { ...(c.audio === true ? {} : c.audio), ...processing } };
      const st = await gum(c); tracks.push(...st.getTracks()); return st; };
    const loud = [];
    Object.defineProperty(window, "__loud", { value: loud });
    const taps = new Map();
    const connect = AudioNode.prototype.connect;
    AudioNode.prototype.connect = function (dest, ...rest) {
      const r = connect.call(this, dest, ...rest);
      if (dest instanceof AudioDestinationNode) {
        if (!taps.has(this.context)) taps.set(this.context, new AnalyserNode(this.context, { fftSize: 1024 }));
        connect.call(this, taps.get(this.context));
      }
      return r;
    };
    const buf = new Float32Array(1024);
    setInterval(() => {
      for (const a of taps.values()) {
        a.getFloatTimeDomainData(buf);
        let peak = 0;
        for (const v of buf) peak = Math.max(peak, Math.abs(v));
        if (peak > 0.01) loud.push(Math.round(performance.now()));
      }
    }, 20);
    window.AudioContext = class AudioContext extends Native {
      constructor(options = {}) {
        super(env.rate ? { ...options, sampleRate: Number(env.rate) } : options);
        rates.push(this.sampleRate);
        if (env.audio === "suspended" || env.audio === "blocked") this.suspend();
        if (env.audio === "blocked") this.resume = () => Promise.reject(new DOMException("not allowed", "NotAllowedError"));
      }
    };
  }, env);
  const sessionStarts = [];
  page.on("websocket", (ws) => ws.on("framesent", ({ payload }) => {
    if (typeof payload === "string" && payload.includes('"session.start"')) sessionStarts.push(JSON.parse(payload));
  }));
  const requests = [];
  page.on("request", (r) => requests.push(r.url()));
  // Every answer of 400 or more, as "STATUS URL" (a missing favicon shows here).
  const failed = [];
  page.on("response", (r) => r.status() >= 400 && failed.push(`${r.status()} ${r.url()}`));
  await page.goto(url);
  await page.waitForFunction(() => window.Aura, null, { timeout: 15000 });
  await page.evaluate(() => {
    window.__events = [];
    for (const name of ["open", "state", "reply", "transcript", "error"]) {
      window.Aura.on(name, (d) => window.__events.push({ event: name, at: performance.now(), ...d }));
    }
  });
  await page.waitForLoadState("networkidle", { timeout: 5000 }).catch(() => {});
  const requestsBeforeOpen = [...requests];
  let reached = false;
  for (let i = 0; i < 30 && !reached; i++) {
    await page.keyboard.press("Tab");
    reached = await page.evaluate(() => document.activeElement?.hasAttribute("data-aura-widget") ?? false);
  }
  if (!reached) throw new Error("the widget cannot be reached with Tab");
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => window.__events.some((e) => e.event === "open"), null, { timeout: 5000 });
  // The widget's controls, read through the DevTools protocol (the shadow root is closed).
  const snapshot = async () => {
    const cdp = await context.newCDPSession(page);
    const { root } = await cdp.send("DOM.getDocument", { depth: -1, pierce: true });
    const all = [];
    const walk = (n) => { all.push(n); for (const c of [...(n.children ?? []), ...(n.shadowRoots ?? [])]) walk(c); };
    walk(root);
    const attrs = (n) => Object.fromEntries((n.attributes ?? []).flatMap((v, i, a) => (i % 2 ? [] : [[v, a[i + 1]]])));
    const byClass = (cls) => all.find((n) => (attrs(n).class ?? "").split(" ").includes(cls));
    const out = {};
    for (const cls of ["mic", "mute", "voice"]) {
      const n = byClass(cls);
      if (n) out[cls] = { ...attrs(n), text: (n.children ?? []).filter((c) => c.nodeType === 3).map((c) => c.nodeValue).join("") };
    }
    out.captions = (byClass("captions")?.children ?? []).filter((c) => c.nodeName === "LI").length;
    out.panelHidden = "hidden" in attrs(byClass("panel") ?? {});
    out.state = await page.evaluate(() => window.Aura.state);
    out.micTracks = await page.evaluate(() => window.__micTracks.map((t) => t.readyState));
    await cdp.detach();
    return out;
  };
  const ask = async (text, replies) => {
    await page.keyboard.type(text);
    await page.keyboard.press("Enter");
    await page.waitForFunction((n) => (window.__events.filter((e) => e.event === "reply").length >= n && window.Aura.state === "ready")
      || window.__events.some((e) => e.event === "error") || window.Aura.state === "busy",
      replies, { timeout: 20000 });
  };
  const marks = {};
  const snaps = {};
  if (mode === "steps") {
    // The steps start with the panel open (like the other modes).
    for (const step of steps) {
      const [op, ...rest] = step.split(":");
      const value = rest.join(":");
      if (op === "open") continue;
      else if (op === "key") await page.keyboard.press(value);
      else if (op === "type") await page.keyboard.type(value);
      else if (op === "sleep") await page.waitForTimeout(Number(value));
      else if (op === "wait") {
        await page.waitForFunction((v) => window.__events.some((e) => e.event === "state" && (e.detail ? `${e.state}: ${e.detail}` : e.state) === v),
          value, { timeout: 30000 });
      } else if (op === "now") await page.waitForFunction((v) => window.Aura.state === v, value, { timeout: 30000 });
      else if (op === "reply" || op === "replies") {
        await page.waitForFunction((n) => window.__events.filter((e) => e.event === "reply").length >= n, Number(value || 1), { timeout: 30000 });
      }
      else if (op === "mark") marks[value] = await page.evaluate(() => performance.now());
      else if (op === "snap") snaps[value] = await snapshot();
      else throw new Error(`unknown step ${step}`);
    }
  } else if (mode === "type") {
    await ask(arg, 1);
  } else if (mode === "talk") {
    // Wait for the session, then Shift+Tab from the text box to the microphone button.
    await page.waitForFunction(() => window.Aura.state === "ready", null, { timeout: 15000 });
    await page.keyboard.press("Shift+Tab");
    await page.keyboard.press("Enter");
    await page.waitForFunction(() => window.__events.some((e) => e.event === "reply")
      && window.Aura.state === "listening", null, { timeout: 30000 });
  } else {
    throw new Error(`unknown mode ${mode}`);
  }
  if (screenshot && mode !== "steps") await page.screenshot({ path: screenshot });
  // Computed styles inside the closed shadow root, through the DevTools protocol (page scripts
  // cannot see in): the page's aggressive CSS must not reach the widget.
  const cdp = await context.newCDPSession(page);
  await cdp.send("DOM.enable");
  await cdp.send("CSS.enable");
  const { root } = await cdp.send("DOM.getDocument", { depth: -1, pierce: true });
  const find = (node, cls) => {
    if ((node.attributes ?? []).some((v, i, a) => i % 2 === 1 && a[i - 1] === "class" && v.split(" ").includes(cls))) return node;
    for (const child of [...(node.children ?? []), ...(node.shadowRoots ?? [])]) {
      const hit = find(child, cls);
      if (hit) return hit;
    }
    return null;
  };
  const styles = {};
  for (const cls of ["launcher", "send"]) {
    const node = find(root, cls);
    if (!node) continue;
    const { computedStyle } = await cdp.send("CSS.getComputedStyleForNode", { nodeId: node.nodeId });
    const get = (name) => computedStyle.find((p) => p.name === name)?.value;
    styles[cls] = { background: get("background-color"), fontSize: get("font-size"), letterSpacing: get("letter-spacing") };
  }
  const noticeNode = find(root, "notice");
  const notice = noticeNode && !(noticeNode.attributes ?? []).includes("hidden")
    ? (noticeNode.children ?? []).map((c) => c.nodeValue ?? "").join("") : "";
  const result = await page.evaluate(() => {
    const events = window.__events;
    return {
      reply: events.find((e) => e.event === "reply")?.text ?? null,
      replies: events.filter((e) => e.event === "reply").map((e) => e.text),
      transcript: events.find((e) => e.event === "transcript")?.text ?? null,
      states: events.filter((e) => e.event === "state").map((e) => e.detail ? `${e.state}: ${e.detail}` : e.state),
      errors: events.filter((e) => e.event === "error").map(({ code, message }) => ({ code, message })),
      globals: Object.getOwnPropertyNames(window).filter((n) => !window.__globalsBefore.includes(n) && !n.startsWith("__")),
      audioRates: window.__audioRates,
      pageText: document.body.innerText,
      loud: window.__loud,
      micTracks: window.__micTracks.map((t) => t.readyState),
    };
  });
  console.log(JSON.stringify({ ...result, pageErrors, styles, sessionStarts, notice, requests, requestsBeforeOpen, failed, marks, snaps }));
} catch (e) {
  console.error(`widget: ${e.message}`);
  // What happened until then, to see where it stopped.
  const pages = browser.contexts().flatMap((c) => c.pages());
  const seen = await pages[0]?.evaluate(() => JSON.stringify(window.__events ?? [])).catch(() => null);
  if (seen) console.error(`widget: events so far: ${seen}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
