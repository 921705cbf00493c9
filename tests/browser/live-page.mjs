// Opens a running weir's live page in headless Chromium, waits for what a
// person would look for — counters rising, a window result and an alert
// arriving, the plugins listed — saves a screenshot, and prints what it saw
// as one JSON object for tests/tests/live_page.rs to check against the host.
//
//   node live-page.mjs http://127.0.0.1:7370/ screenshot.png
import { chromium } from "playwright-core";

const [url, screenshot] = process.argv.slice(2);
if (!url || !screenshot) {
  console.error("usage: node live-page.mjs URL SCREENSHOT.png");
  process.exit(2);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
  ],
});
const seen = {};
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
  await page.goto(url);
  const count = async (id) => Number((await page.textContent(id)).replace(/[^0-9]/g, ""));

  await page.waitForFunction(() => document.getElementById("state").textContent === "running", null, { timeout: 15000 });
  await page.waitForFunction(() => Number(document.getElementById("events-read").textContent.replace(/[^0-9]/g, "")) > 0,
    null, { timeout: 15000 });
  seen.events_first = await count("#events-read");
  await page.waitForFunction((first) => Number(document.getElementById("events-read").textContent.replace(/[^0-9]/g, "")) > first,
    seen.events_first, { timeout: 15000 });
  seen.events_later = await count("#events-read");

  await page.waitForSelector("#window-results li.result", { timeout: 60000 });
  await page.waitForSelector("#results li.result", { timeout: 60000 });
  // A few more samples, so that the charts in the screenshot have a shape.
  await page.waitForTimeout(4000);

  seen.results = await page.$$eval("#results li.result", (items) => items.map((li) => li.textContent));
  seen.window_results = await page.$$eval("#window-results li.result", (items) => items.map((li) => li.textContent));
  seen.stages = await page.$$eval("#stages tr", (rows) => rows.map((tr) => ({
    stage: tr.dataset.stage,
    cells: [...tr.children].map((td) => td.textContent),
  })));
  seen.bottleneck = await page.getAttribute("#bottleneck", "data-part");
  seen.queues = await page.textContent("#queues");
  seen.events_rate = await page.textContent("#events-rate");
  seen.watermark_lag = await page.textContent("#watermark-lag");
  seen.dead_letters = await page.$$eval("#dead-letter-kinds tr", (rows) => rows.map((tr) => tr.textContent));
  seen.state = await page.textContent("#state");
  seen.errors = errors;
  await page.screenshot({ path: screenshot, fullPage: true });
} catch (e) {
  seen.failure = String(e);
} finally {
  await browser.close();
}
console.log(JSON.stringify(seen));
process.exit(seen.failure ? 1 : 0);
