//! The Fluent forward protocol: the input logd serves — framing and decoding (`decode`),
//! the shared-key handshake's server side (`handshake`), the listeners and connections
//! (`server`) with their limits (`budget`: the bytes all connections may buffer together;
//! `timer`: the idle and frame timeouts) — and the client Slipway's own senders use
//! (`client`: frame encoding, the server's replies, the handshake's client side, an acked
//! connection).
//!
//! Imports look down: `server` uses `budget`, `decode`, `handshake`, `timer`, `record` and
//! `store`; `client` uses `decode` (the splitter), `handshake` (digests) and `msgpack`, and
//! nothing of the record path.

pub mod budget;
pub mod client;
pub mod decode;
pub mod handshake;
pub mod server;
pub mod timer;
