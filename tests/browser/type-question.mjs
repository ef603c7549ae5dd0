// Opens the demo page in headless Chromium with no microphone, types a question into the text
// box and sends it as a person would, waits for Aura's caption to finish, and prints
// {captions, state} as JSON. Saves a screenshot when a path is given.
//   node tests/browser/type-question.mjs URL "question" [screenshot.png]
import { chromium } from "playwright-core";

const [url, question, screenshot] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1000, height: 1100 } });
  page.on("pageerror", (e) => console.error(`[page error] ${e.message}`));
  await page.goto(url);
  await page.fill("#text-input", question);
  await page.click("#text-form button[type=submit]");
  await page.waitForFunction(() => {
        // A reply caption exists (made at response.started, when the state becomes "speaking") and
    // the state is back to "listening": the reply has been played to its end.
    const aura = document.querySelector("#captions .aura");
    return aura && document.getElementById("voice-state").textContent === "listening";
  }, null, { timeout: 20000 });
  if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
  const captions = await page.$$eval("#captions li", (items) => items.map((li) => ({ who: li.className, text: li.textContent })));
  const state = await page.textContent("#voice-state");
  console.log(JSON.stringify({ captions, state }));
} catch (e) {
  console.error(`type-question: ${e.message}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
