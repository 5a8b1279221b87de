//! The Fluent forward input: framing and decoding (`decode`), the shared-key handshake
//! (`handshake`), and the listeners and connections (`server`).

pub mod decode;
pub mod handshake;
pub mod server;
