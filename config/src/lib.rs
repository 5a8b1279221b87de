//! Process plumbing that Slipway's three programs (router, logd, control) share, kept
//! once here so that they behave alike and cannot drift apart:
//!
//! - [`load`]: layered config loading (defaults, a TOML file, `SLIPWAY_<PROGRAM>__...`
//!   environment variables) with one-line [`ConfigError`]s naming the key and the origin;
//!   [`de`] has the deserializers for addresses and durations those configs use;
//! - [`listen`]: the error (naming the config key) when a listener cannot be opened;
//! - [`logging`]: the `tracing` set-up and the [`LogFormat`] config value;
//! - [`signals`]: SIGTERM/SIGINT handling for a graceful shutdown;
//! - [`api_error`]: the JSON error body of every Slipway HTTP API, and axum extractors that
//!   answer with it;
//! - [`metrics`]: making and registering Prometheus metrics, and serving `/metrics`;
//! - [`process_group`]: Linux process groups seen from `/proc`, and signalling them;
//! - [`request_id`]: the rule for keeping a client's `X-Request-Id`;
//! - [`secret`]: constant-time comparison of tokens;
//! - [`app_name`]: the one rule for what an app name may be;
//! - [`websocket`]: the server side of a WebSocket upgrade.
//!
//! The crate lives in `config/`, next to the sample config files that [`load`] reads. It
//! depends on no other Slipway crate.
#![forbid(unsafe_code)]

pub mod api_error;
pub mod app_name;
pub mod de;
pub mod listen;
pub mod load;
pub mod logging;
pub mod metrics;
pub mod process_group;
pub mod request_id;
pub mod secret;
pub mod signals;
pub mod websocket;

pub use api_error::{ApiError, ErrorBody, ErrorDetail};
pub use load::{ConfigError, load_layered};
pub use logging::LogFormat;
pub use signals::Signals;
