// One browser engine behind plain W3C WebDriver (no engine's private protocol), for the tests
// that run in every engine: Chromium (chromedriver), Firefox ESR (geckodriver) and WebKitGTK
// (WebKitWebDriver + MiniBrowser on an Xvfb display). How each runs offline here:
// /work/shared/notes/toolchain.md and docs/testing.md.
//   const browser = await launch("firefox", { mic: "file" | "none" | "refused", scratch });
//   await browser.go(url); await browser.run("return 1+1"); await browser.keys(TAB, ENTER) ...
//   await browser.feed(wav)   plays a 48 kHz mono WAV into the microphone at real-time pace
//   await browser.close()
// Chromium hears the file through its fake capture device (the WAV given to `launch`); Firefox
// and WebKit hear it through a PulseAudio pipe source fed by this process (silence until `feed`).
import { spawn } from "node:child_process";
import { closeSync, constants, mkdirSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";

// A WebDriver element or shadow-root reference's id.
const ref = (v) => v[Object.keys(v).find((k) => k.startsWith("element-") || k.startsWith("shadow-"))];

export const KEY = { TAB: "\uE004", ENTER: "\uE007", SHIFT: "\uE008", ESCAPE: "\uE00C" };
export const ENGINES = ["chromium", "firefox", "webkit"];
const MIC_RATE = 48000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const freePort = () => new Promise((resolve) => {
  const s = createServer().listen(0, "127.0.0.1", () => { const { port } = s.address(); s.close(() => resolve(port)); });
});

// A child in its own process group, killed with its children at the end.
function start(cmd, args, env, log) {
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  const out = (d) => log && process.stderr.write(`[${log}] ${d}`);
  child.stdout.on("data", out);
  child.stderr.on("data", out);
  return { child, stop: () => { try { process.kill(-child.pid, "SIGKILL"); } catch { /* gone */ } } };
}

async function until(what, test, ms, every = 100) {
  const end = Date.now() + ms;
  for (;;) {
    const r = await test().catch(() => false);
    if (r) return r;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(every);
  }
}

// A PulseAudio server of this run: a null sink (Firefox's AudioContext needs a sound server) and,
// as the default source, a pipe this process writes the microphone into.
async function pulse(dir, log) {
  const env = { XDG_RUNTIME_DIR: dir, PULSE_RUNTIME_PATH: dir, HOME: dir };
  const server = start("pulseaudio", ["--daemonize=no", "--exit-idle-time=-1", "-n", "--disallow-exit",
    "--load=module-native-protocol-unix", "--load=module-null-sink sink_name=nullsink"], env, log && "pulse");
  const pactl = (...a) => new Promise((resolve, reject) => {
    const p = spawn("pactl", a, { env: { ...process.env, ...env }, stdio: "ignore" });
    p.on("exit", (c) => (c === 0 ? resolve() : reject(new Error(`pactl ${a.join(" ")}: ${c}`))));
  });
  await until("pulseaudio", () => pactl("info").then(() => true), 10000);
  const fifo = join(dir, "mic.fifo");
  await pactl("load-module", "module-pipe-source", "source_name=pipemic", `file=${fifo}`,
    "format=s16le", `rate=${MIC_RATE}`, "channels=1");
  await pactl("set-default-source", "pipemic");
  await pactl("set-default-sink", "nullsink");
  // Silence at real-time pace until `feed` gives a file; then its samples, then silence again.
  // Non-blocking, as a microphone is: what does not fit in the pipe in time is dropped (counted
  // in `dropped_ms`), so the file keeps its timing against the wall clock.
  const fd = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
  const chunk = MIC_RATE / 50; // 20 ms
  let queue = null;
  let pos = 0;
  let sent = 0;
  let pending = null;
  let dropped = 0;
  let fromFile = false;
  const t0 = Date.now();
  const timer = setInterval(() => {
    const due = Math.floor(((Date.now() - t0) * MIC_RATE) / 1000) + chunk * 2; // 40 ms ahead
    while (sent < due) {
      if (!pending) {
        pending = Buffer.alloc(chunk * 2);
        fromFile = !!queue;
        if (queue) {
          const n = Math.min(pending.length, queue.length - pos);
          queue.copy(pending, 0, pos, pos + n);
          pos += n;
          if (pos >= queue.length) { queue.done(); queue = null; }
        }
      }
      try {
        const n = writeSync(fd, pending);
        pending = n < pending.length ? pending.subarray(n) : null;
        if (pending) return;
      } catch (e) {
        if (e.code !== "EAGAIN") { clearInterval(timer); return; }
        if (fromFile) dropped += 20;
        pending = null;
      }
      sent += chunk;
    }
  }, 10);
  return {
    env,
    feed: (pcm) => new Promise((resolve) => { pcm.done = resolve; queue = pcm; pos = 0; }),
    dropped: () => dropped,
    stop: () => { clearInterval(timer); try { closeSync(fd); } catch { /* closed */ } server.stop(); },
  };
}

// The s16le samples of a 16-bit mono WAV at 48 kHz (what tests/src/microphone.rs writes).
export function wavSamples(path) {
  const b = readFileSync(path);
  let off = 12;
  let fmt = null;
  while (off + 8 <= b.length) {
    const id = b.toString("ascii", off, off + 4);
    const size = b.readUInt32LE(off + 4);
    if (id === "fmt ") fmt = { channels: b.readUInt16LE(off + 10), rate: b.readUInt32LE(off + 12), bits: b.readUInt16LE(off + 22) };
    if (id === "data") {
      if (!fmt || fmt.channels !== 1 || fmt.rate !== MIC_RATE || fmt.bits !== 16) throw new Error(`${path}: not 48 kHz mono s16`);
      return b.subarray(off + 8, off + 8 + size);
    }
    off += 8 + size + (size % 2);
  }
  throw new Error(`${path}: no data chunk`);
}

const CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
  "--autoplay-policy=no-user-gesture-required", "--window-size=1000,900"];

// The driver to start and the capabilities to ask it for, per engine.
// `scheme` is the visitor's colour scheme (prefers-color-scheme): "light" or "dark".
function driverFor(engine, { mic, wav, scratch, port, display, scheme }) {
  const dark = scheme === "dark";
  if (engine === "chromium") {
    const args = [...CHROMIUM_ARGS, `--user-data-dir=${join(scratch, "profile")}`, `--blink-settings=preferredColorScheme=${dark ? 0 : 1}`];
    if (dark) args.push("--force-dark-mode");
    if (mic === "file") args.push("--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream", `--use-file-for-fake-audio-capture=${wav}%noloop`);
    // Refused: a microphone there, blocked as a visitor's "Block" does (content setting 2).
    if (mic === "refused") args.push("--use-fake-device-for-media-stream");
    const prefs = mic === "refused" ? { "profile.default_content_setting_values.media_stream_mic": 2 } : {};
    return {
      cmd: "/usr/bin/chromedriver", args: [`--port=${port}`],
      caps: { browserName: "chrome", "goog:chromeOptions": { binary: "/usr/bin/chromium", args, prefs } },
    };
  }
  if (engine === "firefox") {
    const prefs = {
      "media.navigator.streams.fake": false, // the default source: the pipe
      "media.navigator.permission.disabled": mic !== "refused",
      "permissions.default.microphone": mic === "refused" ? 2 : 0, // 2: blocked, as a visitor's "Block"
      "media.autoplay.default": 0, "media.autoplay.block-webaudio": false,
      "browser.shell.checkDefaultBrowser": false, "datareporting.policy.dataSubmissionEnabled": false,
      "app.update.disabledForTesting": true, "devtools.console.stdout.content": true, "network.captive-portal-service.enabled": false,
      "browser.safebrowsing.update.enabled": false, "extensions.update.enabled": false,
      "layout.css.prefers-color-scheme.content-override": dark ? 0 : 1, "ui.systemUsesDarkTheme": dark ? 1 : 0,
    };
    return {
      cmd: "geckodriver", args: ["--port", String(port), "--binary", "/usr/bin/firefox-esr", "--profile-root", scratch],
      caps: { browserName: "firefox", "moz:firefoxOptions": { args: ["-headless", "-width", "1000", "-height", "900"], prefs } },
    };
  }
  if (engine === "webkit") {
    const args = ["--automation", "--autoplay-policy=allow", "--enable-mock-capture-devices=false",
      "--enable-media-stream=true", "--enable-webaudio=true", "--geometry=1000x900"];
    return {
      cmd: "WebKitWebDriver", args: [`--port=${port}`], env: { DISPLAY: display, LANG: "en_US.UTF-8", GTK_THEME: dark ? "Adwaita:dark" : "Adwaita" },
      caps: { browserName: "MiniBrowser", "webkitgtk:browserOptions": {
        binary: "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser", args } },
    };
  }
  throw new Error(`unknown engine ${engine} (one of ${ENGINES.join(", ")})`);
}

// An X display for WebKit: Xvfb picks a free number and writes it to a pipe (-displayfd).
async function xvfb() {
  const x = spawn("Xvfb", ["-displayfd", "3", "-screen", "0", "1280x1000x24", "-nolisten", "tcp"],
    { detached: true, stdio: ["ignore", "ignore", "ignore", "pipe"] });
  const display = await new Promise((resolve, reject) => {
    let s = "";
    x.stdio[3].on("data", (d) => { s += d; if (s.includes("\n")) resolve(`:${s.trim()}`); });
    x.on("exit", (c) => reject(new Error(`Xvfb exited ${c}`)));
  });
  return { display, stop: () => { try { process.kill(-x.pid, "SIGKILL"); } catch { /* gone */ } } };
}

export async function launch(engine, { mic = "none", wav = null, scratch, log = true, scheme = "light" } = {}) {
  mkdirSync(scratch, { recursive: true });
  const cleanup = [];
  const env = { TMPDIR: scratch };
  let sound = null;
  if (engine !== "chromium") {
    const dir = join(scratch, "run");
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    // WebKit cannot be told to refuse (MiniBrowser grants capture under automation, and
    // WebKitWebDriver has no permissions command): it runs with no sound server, so there is
    // no microphone at all (NotFoundError), which the widget meets as a refusal.
    if (engine === "webkit" && mic === "refused") Object.assign(env, { XDG_RUNTIME_DIR: dir, HOME: dir });
    else {
      sound = await pulse(dir, false);
      cleanup.push(sound.stop);
      Object.assign(env, sound.env);
    }
  }
  let display = null;
  if (engine === "webkit") {
    const x = await xvfb();
    cleanup.push(x.stop);
    display = x.display;
  }
  // Killed by a signal: the drivers, browsers and servers go too (each is its own process group).
  for (const sig of ["SIGINT", "SIGTERM"]) process.once(sig, () => { for (const c of cleanup.slice(1)) c(); process.exit(1); });
  const port = await freePort();
  const d = driverFor(engine, { mic, wav, scratch, port, display, scheme });
  const driver = start(d.cmd, d.args, { ...env, ...(d.env ?? {}) }, log && engine);
  cleanup.push(driver.stop);
  const base = `http://127.0.0.1:${port}`;
  const call = async (method, path, body) => {
    const r = await fetch(`${base}${path}`, { method, headers: { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body) });
    const j = await r.json();
    if (j.value && j.value.error) throw new Error(`${method} ${path}: ${j.value.error}: ${j.value.message}`);
    return j.value;
  };
  try {
    await until(`${d.cmd}`, () => fetch(`${base}/status`).then((r) => r.ok), 15000);
    const { sessionId } = await call("POST", "/session", { capabilities: { alwaysMatch: d.caps } });
    const s = `/session/${sessionId}`;
    cleanup.unshift(() => call("DELETE", s).catch(() => {}));
    const keys = (...values) => call("POST", `${s}/actions`, { actions: [{ type: "key", id: "keyboard",
      actions: values.flatMap((v) => {
        const chars = [...v];
        // A chord ("\uE008\uE004": Shift+Tab) is pressed together; text is typed key by key.
        if (chars[0] === KEY.SHIFT) return [...chars.map((c) => ({ type: "keyDown", value: c })), ...chars.reverse().map((c) => ({ type: "keyUp", value: c }))];
        return chars.flatMap((c) => [{ type: "keyDown", value: c }, { type: "keyUp", value: c }]);
      }) }] }).then(() => call("DELETE", `${s}/actions`));
    return {
      engine,
      go: (url) => call("POST", `${s}/url`, { url }),
      run: (script, ...args) => call("POST", `${s}/execute/sync`, { script, args }),
      runAsync: (script, ...args) => call("POST", `${s}/execute/async`, { script, args }),
      permission: (name, state) => call("POST", `${s}/permissions`, { descriptor: { name }, state }),
      // Polls `script` (a function body) until it returns something truthy.
      waitFor: (what, script, ms = 20000, every = 100) => until(what, () => call("POST", `${s}/execute/sync`, { script, args: [] }), ms, every),
      keys,
      screenshot: () => call("GET", `${s}/screenshot`).then((b64) => Buffer.from(b64, "base64")),
      // The element `inner` in the shadow root (open or closed) of `hostSel`, and what WebDriver
      // reads of an element: computed style, rectangle, text.
      inShadow: async (hostSel, inner) => {
        const host = ref(await call("POST", `${s}/element`, { using: "css selector", value: hostSel }));
        const root = ref(await call("GET", `${s}/element/${host}/shadow`));
        return ref(await call("POST", `${s}/shadow/${root}/element`, { using: "css selector", value: inner }));
      },
      css: (el, prop) => call("GET", `${s}/element/${el}/css/${prop}`),
      rect: (el) => call("GET", `${s}/element/${el}/rect`),
      text: (el) => call("GET", `${s}/element/${el}/text`),
      setSize: (width, height) => call("POST", `${s}/window/rect`, { width, height }),
      feed: (path) => {
        if (!sound) return Promise.resolve(); // Chromium plays the WAV itself
        return sound.feed(wavSamples(path));
      },
      // How much of the fed file the sound server did not take in time, in ms.
      droppedMs: () => sound?.dropped() ?? 0,
      close: async () => { for (const c of cleanup) await c(); },
    };
  } catch (e) {
    for (const c of cleanup) await c();
    throw e;
  }
}
