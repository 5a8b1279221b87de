// Opens logd's viewer page in headless Chromium (playwright-core, Debian's chromium) and
// waits for a line. Usage: node viewer.cjs <url> <text to wait for> [screenshot.png]
// Prints "READY" once the page says it is live, then "SEEN" when a row contains the text.
"use strict";
const { chromium } = require("playwright-core");

(async () => {
  const [url, text, screenshot] = process.argv.slice(2);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
      "--disable-component-update", "--no-first-run"],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 390, height: 700 } });
    page.on("pageerror", (e) => console.log(`PAGEERROR ${e.message}`));
    await page.goto(url);
    await page.waitForSelector('#status[data-state="live"]', { timeout: 20000 });
    console.log("READY");
    await page.locator(".row .msg", { hasText: text }).first().waitFor({ timeout: 20000 });
    if (screenshot) await page.screenshot({ path: screenshot, fullPage: false });
    console.log("SEEN");
  } finally {
    await browser.close();
  }
})().catch((e) => {
  console.log(`ERROR ${e.message}`);
  process.exit(1);
});
