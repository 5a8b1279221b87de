// Sends records to a Fluent forward server with the Node `fluent-logger` client.
// Usage: node fluent-send.cjs '<json options>'
//   {"port": 24224, "tag": "slipway", "label": "shop.web.1", "count": 10, "prefix": "node",
//    "mode": "Message" | "PackedForward" | "CompressedPackedForward", "ack": false,
//    "record": {extra keys}, "security": {"clientHostname": "...", "sharedKey": "...",
//    "username": "...", "password": "..."}}
// Prints "SENT <count>" and exits 0 when every record was written (and acked, with ack),
// or prints "ERROR <message>" and exits 1.
"use strict";
const fluent = require("fluent-logger");

const opts = JSON.parse(process.argv[2] || "{}");
const sender = fluent.createFluentSender(opts.tag || "slipway", {
  host: "127.0.0.1",
  port: opts.port,
  eventMode: opts.mode || "Message",
  requireAckResponse: !!opts.ack,
  ackResponseTimeout: 10000,
  timeout: 5,
  reconnectInterval: 600000,
  flushInterval: 20,
  security: opts.security,
  internalLogger: { info() {}, error() {} },
});

let failed = false;
function fail(err) {
  if (failed) return;
  failed = true;
  console.log(`ERROR ${err && err.message ? err.message : err}`);
  process.exit(1);
}
sender.on("error", fail);

const count = opts.count || 1;
let done = 0;
for (let i = 0; i < count; i++) {
  const record = Object.assign({ log: `${opts.prefix || "node"} ${i}` }, opts.record || {});
  sender.emit(opts.label, record, (err) => {
    if (err) return fail(err);
    done++;
    if (done === count) {
      console.log(`SENT ${count}`);
      sender.end(undefined, undefined, () => process.exit(0));
      setTimeout(() => process.exit(0), 200);
    }
  });
}
setTimeout(() => fail(new Error(`timed out after sending ${done} of ${count}`)), 20000);
