// Headless Chromium (Debian's) through playwright-core, the way every browser script here
// starts it, and the pass/fail plumbing they share: run(steps) prints "ERROR <message>"
// and exits 1 when a step throws, and always closes the browser.
"use strict";
const { chromium } = require("playwright-core");

async function run(steps) {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
      "--disable-component-update", "--no-first-run"],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 390, height: 700 } });
    page.on("pageerror", (e) => console.log(`PAGEERROR ${e.message}`));
    await steps(page);
  } finally {
    await browser.close();
  }
}

module.exports = {
  run: (steps) => run(steps).catch((e) => {
    console.log(`ERROR ${e.message}`);
    process.exit(1);
  }),
  // Long enough for a loaded two-core machine; a step that takes longer has failed.
  T: { timeout: 30000 },
};
