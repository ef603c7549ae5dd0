// A visitor's session in one engine (tests/browser/engine.mjs: chromium, firefox or webkit),
// by keyboard only, printed as JSON on stdout. The tests that must hold in every engine use it.
//   node tests/browser/visit.mjs ENGINE type URL "question" [shot.png]   no microphone at all
//   node tests/browser/visit.mjs ENGINE talk URL FILE.wav [shot.png]     the microphone plays FILE.wav
//   node tests/browser/visit.mjs ENGINE deny URL                         the microphone is refused
//   node tests/browser/visit.mjs ENGINE drop URL "first" "second"        types; the network drops
//        (GET ORIGIN/__cut: CuttableProxy in tests/src/proxy.rs); waits for the reconnection; types again
//   node tests/browser/visit.mjs ENGINE look URL FILE.wav DIR [light|dark]   what a visitor sees: a
//        typed turn, then the microphone playing FILE.wav; at 1280 and 320 px wide, the widget's
//        header, text box, status text and level bar (`looks`), and a screenshot each in DIR
//        (ENGINE-SCHEME-STEP-WIDTH.png)
//   node tests/browser/visit.mjs ENGINE page URL FILE.wav TIMEOUT_MS     a test page with the microphone
//        playing FILE.wav; prints the page's window.__result (the page sets window.__capturing
//        once it hears the microphone)
// Widget modes print {reply, replies, transcript, states, errors, globals, styles, pageErrors}.
// `styles` are computed styles inside the widget's closed shadow root, read through WebDriver's
// "Get Element Shadow Root" (which reaches closed roots); `pageErrors` are uncaught errors.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { KEY, launch } from "./engine.mjs";

const [engine, mode, url, arg, extra] = process.argv.slice(2);
const scratch = join(process.env.TMPDIR ?? "/tmp", `visit-${engine}-${process.pid}`);
const mic = mode === "talk" || mode === "page" || mode === "look" ? "file" : mode === "deny" ? "refused" : "none";
const scheme = mode === "look" ? process.argv[7] ?? "light" : "light";
const browser = await launch(engine, { mic, wav: mic === "file" ? arg : null, scratch, scheme });
// Firefox's capture graph stalls ~1.7 s after getUserMedia: the file starts after that.
const CAPTURE_SETTLE_MS = 2000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Installed after each load: the widget's events, uncaught errors, and the window's own names
// (compared with those of a fresh same-origin frame: what the page and the widget added, less
// what a driver's own scripts leave: chromedriver's element finder `ret_nodes`, geckodriver's
// `se_exportedFunctionSymbol`).
const WATCH = `
  window.__events = []; window.__pageErrors = window.__pageErrors ?? [];
  addEventListener("error", (e) => window.__pageErrors.push(String(e.message)));
  addEventListener("unhandledrejection", (e) => window.__pageErrors.push(String(e.reason && e.reason.message || e.reason)));
  for (const name of ["open", "state", "reply", "transcript", "error"]) {
    window.Aura.on(name, (d) => window.__events.push({ event: name, at: performance.now(), ...d }));
  }`;
const RESULT = `
  const DRIVER_GLOBALS = ["ret_nodes", "se_exportedFunctionSymbol"];
  const events = window.__events;
  const f = document.createElement("iframe");
  f.style.display = "none";
  document.body.append(f);
  const fresh = new Set(Object.getOwnPropertyNames(f.contentWindow));
  f.remove();
  return {
    reply: events.find((e) => e.event === "reply")?.text ?? null,
    replies: events.filter((e) => e.event === "reply").map((e) => e.text),
    transcript: events.find((e) => e.event === "transcript")?.text ?? null,
    states: events.filter((e) => e.event === "state").map((e) => e.detail ? e.state + ": " + e.detail : e.state),
    errors: events.filter((e) => e.event === "error").map(({ code, message }) => ({ code, message })),
    globals: Object.getOwnPropertyNames(window).filter((n) => !fresh.has(n) && !n.startsWith("__") && !DRIVER_GLOBALS.includes(n)),
    pageErrors: window.__pageErrors,
  };`;
const replyOrEnd = (n) => `return (window.__events.filter((e) => e.event === "reply").length >= ${n} && window.Aura.state === "ready")
  || window.__events.some((e) => e.event === "error") || window.Aura.state === "busy";`;

async function openWidget() {
  await browser.waitFor("window.Aura", "return !!window.Aura", 15000);
  await browser.run(WATCH);
  for (let i = 0; i < 30; i++) {
    await browser.keys(KEY.TAB);
    if (await browser.run(`return document.activeElement?.hasAttribute("data-aura-widget") ?? false`)) {
      await browser.keys(KEY.ENTER);
      return browser.waitFor("the panel to open", `return window.__events.some((e) => e.event === "open")`, 5000);
    }
  }
  throw new Error("the widget cannot be reached with Tab");
}

async function ask(text, replies) {
  await browser.keys(text, KEY.ENTER);
  await browser.waitFor(`reply ${replies}`, replyOrEnd(replies), 20000);
}

// Computed styles of the widget's launcher and Send button, inside its closed shadow root.
// Colours as rgb(r, g, b) in every engine (Chromium's WebDriver says rgba(r, g, b, 1)).
async function styles() {
  const out = {};
  const opaque = (c) => c.replace(/^rgba\((\d+), (\d+), (\d+), 1\)$/, "rgb($1, $2, $3)");
  try {
    for (const cls of ["launcher", "send"]) {
      const el = await browser.inShadow("[data-aura-widget]", `.${cls}`);
      out[cls] = { background: opaque(await browser.css(el, "background-color")), fontSize: await browser.css(el, "font-size"),
        letterSpacing: await browser.css(el, "letter-spacing") };
    }
  } catch (e) {
    out.error = e.message;
  }
  return out;
}

// The widget as laid out now, at `width` px: its header's and text box's boxes, the status
// text, the level bar's scale; and a screenshot. Where WebDriver cannot reach the closed
// shadow root (WebKit), `error` says so and only the screenshot is taken.
let width = 0;
async function look(step, w, dir) {
  if (w !== width) {
    await browser.setSize(w, 760);
    await sleep(400);
    width = w;
  }
  const out = { innerWidth: await browser.run("return window.innerWidth"), state: await browser.run("return window.Aura.state") };
  try {
    const part = (sel) => browser.inShadow("[data-aura-widget]", sel);
    out.header = await browser.rect(await part("header"));
    out.input = await browser.rect(await part("input"));
    out.status = await browser.text(await part(".state"));
    // The level bar's transform, read eight times 100 ms apart (speech has its quiet moments).
    const bar = await part(".level i");
    out.levels = [];
    for (let i = 0; i < 8; i++) {
      if (i) await sleep(100);
      out.levels.push(await browser.css(bar, "transform"));
    }
    out.voicebar = await browser.rect(await part(".controls")).then((r) => r.height);
  } catch (e) {
    out.error = e.message;
  }
  writeFileSync(join(dir, `${engine}-${scheme}-${step}-${w}.png`), await browser.screenshot());
  return out;
}

let code = 0;
try {
  await browser.go(url);
  if (mode === "page") {
    await browser.waitFor("the page to capture", "return window.__capturing || window.__result", 20000);
    await sleep(CAPTURE_SETTLE_MS);
    await browser.feed(arg);
    const result = await browser.waitFor("window.__result", "return window.__result", Number(extra ?? 30000));
    console.log(JSON.stringify(result));
  } else if (mode === "look") {
    const looks = {};
    const dir = extra;
    await openWidget();
    await browser.waitFor("ready", `return window.Aura.state === "ready"`, 15000);
    looks["ready-320"] = await look("ready", 320, dir);
    await browser.setSize(1280, 760);
    width = 1280;
    await ask("When do you open on Sundays?", 1);
    for (const w of [1280, 320]) looks[`answered-${w}`] = await look("answered", w, dir);
    await browser.keys(KEY.SHIFT + KEY.TAB, KEY.ENTER);
    await browser.waitFor("listening", `return window.Aura.state === "listening"`, 15000);
    looks["listening-320"] = await look("listening", 320, dir);
    await sleep(CAPTURE_SETTLE_MS);
    const fed = browser.feed(arg);
    await browser.waitFor("hearing you", `return window.__events.filter((e) => e.event === "state").at(-1)?.detail === "hearing you"`, 15000, 50);
    for (const w of [320, 1280]) looks[`hearing-${w}`] = await look("hearing", w, dir);
    await fed;
    console.log(JSON.stringify({ engine, scheme, looks, ...(await browser.run(RESULT)) }));
  } else {
    await openWidget();
    if (mode === "type") await ask(arg, 1);
    else if (mode === "drop") {
      await ask(arg, 1);
      const cut = await fetch(new URL("/__cut", url));
      if (!cut.ok) throw new Error("the proxy did not cut");
      await browser.waitFor("reconnecting", `return window.__events.some((e) => e.event === "state" && e.state === "reconnecting")`, 10000);
      await browser.waitFor("ready again", `return window.Aura.state === "ready"`, 20000);
      await ask(extra, 2);
    } else {
      // Once the session is ready, Shift+Tab from the text box to the microphone button.
      await browser.waitFor("ready", `return window.Aura.state === "ready"`, 15000);
      await browser.keys(KEY.SHIFT + KEY.TAB, KEY.ENTER);
      if (mode === "talk") {
        await browser.waitFor("listening", `return window.Aura.state === "listening" || window.__events.some((e) => e.event === "error")`, 15000);
        await sleep(CAPTURE_SETTLE_MS);
        await browser.feed(arg);
        await browser.waitFor("the reply, then listening", `return (window.__events.some((e) => e.event === "reply") && window.Aura.state === "listening")
          || window.__events.some((e) => e.event === "error")`, 30000);
      } else {
        await browser.waitFor("an error", `return window.__events.some((e) => e.event === "error")`, 10000);
      }
    }
    const shot = mode === "drop" ? null : extra;
    if (shot) writeFileSync(shot, await browser.screenshot());
    const result = await browser.run(RESULT);
    console.log(JSON.stringify({ engine, ...result, styles: await styles() }));
  }
} catch (e) {
  console.error(`visit (${engine}): ${e.message}`);
  const seen = await browser.run("return JSON.stringify(window.__events ?? window.__result ?? null)").catch(() => null);
  if (seen) console.error(`visit (${engine}): events so far: ${seen}`);
  code = 1;
} finally {
  if (browser.droppedMs()) console.error(`visit (${engine}): ${browser.droppedMs()} ms of the microphone file dropped (the sound server did not take it in time)`);
  await browser.close();
}
process.exit(code);
