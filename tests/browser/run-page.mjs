// Opens a page in Debian's headless Chromium with a fake microphone playing a WAV file once,
// waits for the page to publish window.__result, and prints it as JSON on stdout, with
// `sent_protocols`: the protocol version of each session.start / session.resume the page sent.
//   node tests/browser/run-page.mjs URL FILE.wav TIMEOUT_MS
// The page's console goes to stderr. Exit 1 on timeout or a page error.
import { chromium } from "playwright-core";

const [url, wav, timeout = "30000"] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  headless: true,
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
    "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
    `--use-file-for-fake-audio-capture=${wav}%noloop`,
  ],
});
try {
  const page = await browser.newPage();
  page.on("console", (m) => console.error(`[page] ${m.text()}`));
  page.on("pageerror", (e) => console.error(`[page error] ${e.message}`));
  // The protocol version each session.start / session.resume the page's client sent asked for.
  const protocols = [];
  page.on("websocket", (ws) => ws.on("framesent", ({ payload }) => {
    if (typeof payload !== "string" || !payload.startsWith("{\"type\":\"session.")) return;
    try { protocols.push(JSON.parse(payload).protocol); } catch {}
  }));
  await page.goto(url);
  const handle = await page.waitForFunction(() => window.__result, null, { timeout: Number(timeout) });
  console.log(JSON.stringify({ ...(await handle.jsonValue()), sent_protocols: protocols }));
} catch (e) {
  console.error(`run-page: ${e.message}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
