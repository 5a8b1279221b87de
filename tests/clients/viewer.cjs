// Opens logd's viewer page in headless Chromium (playwright-core, Debian's chromium) and
// walks through it, printing a word at each step so the test can act in between:
//   READY        the page is live                 -> the test sends a line
//   SEEN         a row shows that line
//   FILTERED     the dyno filter hides other dynos' rows
//   PAUSED       paused                           -> the test sends a line
//   RESUMED      the paused line showed up after resuming
//   DISCONNECTED the page noticed logd went away  -> the test restarts logd
//   RECONNECTED  the page is live again           -> the test sends a line
//   DONE <rows>  that line showed up; <rows> lines on the page (no duplicates)
// Usage: node viewer.cjs <url> <first line text> [screenshot.png]
"use strict";
const { run, T } = require("./browser.cjs");

const [url, text, screenshot] = process.argv.slice(2);
run(async (page) => {
  await page.goto(url);
  await page.waitForSelector('#status[data-state="live"]', T);
  console.log("READY");
  const row = (t) => page.locator(".row:not(.marker) .msg", { hasText: t }).first();
  await row(text).waitFor(T);
  if (screenshot) await page.screenshot({ path: screenshot });
  console.log("SEEN");

  await page.fill("#dyno", "worker");
  await row(text).waitFor(T);
  await page.locator(".row.hidden").first().waitFor({ state: "attached", ...T });
  console.log("FILTERED");
  await page.fill("#dyno", "");

  await page.click("#pause");
  await page.waitForSelector('#status[data-state="paused"]', T);
  console.log("PAUSED");
  await page.waitForFunction(() => document.getElementById("pending").textContent.startsWith("1 new"), null, T);
  await page.click("#pause");
  await row("sent while paused").waitFor(T);
  console.log("RESUMED");

  await page.waitForSelector('#status[data-state="reconnecting"]', T);
  console.log("DISCONNECTED");
  await page.waitForSelector('#status[data-state="live"]', T);
  console.log("RECONNECTED");
  await row("sent after the restart").waitFor(T);
  const rows = await page.locator(".row:not(.marker)").count();
  console.log(`DONE ${rows}`);
});
