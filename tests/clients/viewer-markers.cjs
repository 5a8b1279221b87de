// Drives logd's viewer page in headless Chromium through its source and text filters and
// its dropped and gap markers, printing a word at each step so the test can act between:
//   READY            the page is live                   -> the test sends four lines
//   FILTERED         the source filter, the text filter and both together show exactly
//                    the matching rows                  -> the test sends two more lines
//   LIVE-FILTERED    of those, only the matching one shows; filters cleared
//                                                       -> the test stalls the stream,
//                    sends a burst and "end of the burst", and lets it flow again
//   DROPPED <n>      a "lines dropped" marker showed up (n: the lines it says are missing)
//                    and so did "end of the burst"      -> the test cuts the connection,
//                    sends lines until older ones leave history, then lets it reconnect
//   DISCONNECTED     the page noticed
//   GAP <text>       after reconnecting, the gap marker and "after the gap" showed up
//   DONE <rows>      <rows> lines on the page
// Usage: node viewer-markers.cjs <url>
"use strict";
const { run, T } = require("./browser.cjs");

const [url] = process.argv.slice(2);
run(async (page) => {
  const row = (t) => page.locator(".row:not(.marker) .msg", { hasText: t }).first();
  const marker = (t) => page.locator(".row.marker", { hasText: t }).first();
  const shown = () => page.$$eval(".row:not(.marker):not(.hidden) .msg", (els) => els.map((e) => e.textContent));
  const expect = async (what, want) => {
    const got = await shown();
    if (JSON.stringify(got) !== JSON.stringify(want)) {
      throw new Error(`${what}: rows shown ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
    }
  };

  await page.goto(url);
  await page.waitForSelector('#status[data-state="live"]', T);
  console.log("READY");
  await row("build failed: 500 errors").waitFor(T);
  await page.locator('#source option[value="build"]').waitFor({ state: "attached", ...T });
  await page.selectOption("#source", "build");
  await expect("source=build", ["compiling assets", "build failed: 500 errors"]);
  await page.fill("#text", "500");
  await expect("source=build, text=500", ["build failed: 500 errors"]);
  await page.selectOption("#source", "");
  await expect("text=500", ["GET /checkout 500", "build failed: 500 errors"]);
  await page.fill("#text", "CHECKOUT");
  await expect("text=CHECKOUT (any case)", ["GET /checkout 500"]);
  await page.fill("#text", "500");
  console.log("FILTERED");

  // Lines arriving while a filter is set are filtered too.
  await page.locator(".row.hidden .msg", { hasText: "GET /live 200" }).waitFor({ state: "attached", ...T });
  await expect("live lines, text=500", ["GET /checkout 500", "build failed: 500 errors", "GET /live 500"]);
  await page.fill("#text", "");
  await expect("no filter", ["GET /cart 200", "compiling assets", "GET /checkout 500",
    "build failed: 500 errors", "GET /live 500", "GET /live 200"]);
  console.log("LIVE-FILTERED");

  await marker("lines dropped").waitFor(T);
  await row("end of the burst").waitFor(T);
  const markers = await page.$$eval(".row.marker", (els) => els.map((e) => e.textContent));
  const dropped = markers.filter((m) => m.includes("lines dropped")).map((m) => parseInt(m.replace(/^\D*/, ""), 10));
  console.log(`DROPPED ${dropped.reduce((a, b) => a + b, 0)}`);

  await page.waitForSelector('#status[data-state="reconnecting"]', T);
  console.log("DISCONNECTED");
  await page.waitForSelector('#status[data-state="live"]', T);
  const gap = marker("no longer in history");
  await gap.waitFor(T);
  await row("after the gap").waitFor(T);
  console.log(`GAP ${(await gap.textContent()).trim()}`);
  console.log(`DONE ${await page.locator(".row:not(.marker)").count()}`);
});
