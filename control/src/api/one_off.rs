//! One-off dynos (`slipway run`): `POST /v1/apps/{app}/dynos` starts one, and an attached
//! one's client connects its WebSocket to the `attach_url` of the answer.
//!
//! `POST /v1/apps/{app}/dynos` takes Heroku's shape, `{"command": "...", "attach": bool,
//! "env": {...}}`, and answers 201 with the dyno (`run.N`, as `GET .../dynos` lists it)
//! and, when attached, `"attach_url": "/v1/apps/{app}/dynos/run.N/attach"`. No release
//! with code → 422 `no_release`; `runtime.one_off_limit` reached → 429 `limit_reached`.
//!
//! `GET {attach_url}` (the admin token, `Upgrade: websocket`) must come within
//! `runtime.attach_timeout`, once; else the command is stopped. Until then the command
//! waits on its first write. On the WebSocket every message is binary, its first byte
//! the channel and the rest the payload:
//!
//! | byte | direction | payload |
//! |---|---|---|
//! | `0` | client → server | bytes for the command's stdin (at most `runtime.attach_max_frame_bytes` in all) |
//! | `1` | server → client | bytes the command wrote to stdout |
//! | `2` | server → client | bytes the command wrote to stderr |
//! | `3` | server → client | the exit, JSON `{"status": 3, "message": "exited with status 3"}` (`status` as a shell has it: the code, or 128 + the signal); the last message before Close |
//! | `4` | client → server | none: stdin is closed (EOF) |
//!
//! Output comes in the order the command wrote it on each stream, all of it, before the
//! exit. The server sends a Ping every third of `runtime.attach_idle_timeout`; a client
//! that closes, breaks the connection, sends anything else, or is silent (no Pong, no
//! frame) for `attach_idle_timeout` is gone, and the command is stopped (SIGTERM to its
//! process group, SIGKILL after `runtime.stop_grace`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use slipway_config::websocket::{self, ServerSocket};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use super::{Admin, Api, ApiError, ApiJson, ApiPath};
use crate::model::{NewDyno, StartedDyno};
use crate::runtime::{Attached, Output};

/// The channel bytes of the wire format (see the module docs).
pub mod channel {
    /// Client → server: stdin bytes.
    pub const STDIN: u8 = 0;
    /// Server → client: stdout bytes.
    pub const STDOUT: u8 = 1;
    /// Server → client: stderr bytes.
    pub const STDERR: u8 = 2;
    /// Server → client: the exit (JSON).
    pub const EXIT: u8 = 3;
    /// Client → server: stdin is closed.
    pub const STDIN_EOF: u8 = 4;
}

/// Attached one-off dynos whose client has not connected yet.
#[derive(Debug, Default)]
pub struct Waiting {
    attached: Mutex<HashMap<(String, String), Attached>>,
}

impl Waiting {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Attached>> {
        self.attached.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Keeps `attached` for its client for `timeout`; then drops it, which stops it.
    fn hold(self: &Arc<Self>, app: &str, name: &str, attached: Attached, timeout: Duration) {
        let key = (app.to_owned(), name.to_owned());
        self.map().insert(key.clone(), attached);
        let waiting = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(timeout).await;
            if waiting.map().remove(&key).is_some() {
                tracing::info!(app = %key.0, dyno = %key.1, "no client attached in time: the one-off dyno is stopped");
            }
        });
    }

    fn claim(&self, app: &str, name: &str) -> Option<Attached> {
        self.map().remove(&(app.to_owned(), name.to_owned()))
    }
}

pub(super) async fn create(
    _: Admin,
    State(api): State<Api>,
    ApiPath(app): ApiPath<String>,
    ApiJson(new): ApiJson<NewDyno>,
) -> Result<(StatusCode, Json<StartedDyno>), ApiError> {
    let started = api.platform.run_one_off(&app, new).await?;
    let attach_url = started.attached.map(|attached| {
        let name = &started.dyno.name;
        api.waiting.hold(&app, name, attached, api.platform.config.runtime.attach_timeout);
        format!("/v1/apps/{app}/dynos/{name}/attach")
    });
    Ok((StatusCode::CREATED, Json(StartedDyno { dyno: started.dyno, attach_url })))
}

pub(super) async fn attach(
    _: Admin,
    State(api): State<Api>,
    ApiPath((app, name)): ApiPath<(String, String)>,
    mut req: Request,
) -> Response {
    let Some(attached) = api.waiting.claim(&app, &name) else {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no one-off dyno {name:?} of app {app:?} is waiting for its client"),
        )
        .into_response();
    };
    let runtime = &api.platform.config.runtime;
    let idle = runtime.attach_idle_timeout;
    let max = runtime.attach_max_frame_bytes;
    let config = WebSocketConfig::default()
        .read_buffer_size(16 << 10)
        .write_buffer_size(64 << 10)
        .max_write_buffer_size(1 << 20)
        .max_message_size(Some(max))
        .max_frame_size(Some(max));
    // A refused upgrade drops `attached`: the command stops.
    websocket::accept(&mut req, config, move |ws| async move {
        let why = serve(ws, attached, idle).await;
        tracing::info!(app = %app, dyno = %name, why, "one-off dyno's client detached");
    })
}

/// Relays between the WebSocket and the command until it exits or the client is gone;
/// why it ended. Dropping `attached` at the end stops a command still running.
async fn serve(ws: ServerSocket, attached: Attached, idle: Duration) -> &'static str {
    let Attached { stdin, mut output, stop: _stop } = attached;
    let mut stdin = Some(stdin);
    let (mut sink, mut incoming) = ws.split();
    // Stdin read from the client that the command has not taken yet: the client is not
    // read further meanwhile (back-pressure), and not counted as silent.
    let mut pending: Option<Bytes> = None;
    let mut heard = Instant::now();
    let mut ping = tokio::time::interval(idle / 3);
    ping.reset();
    loop {
        tokio::select! {
            item = output.recv() => {
                let Some(item) = item else { return "the command ended" };
                let (channel, payload, last) = match item {
                    Output::Stdout(bytes) => (channel::STDOUT, bytes, false),
                    Output::Stderr(bytes) => (channel::STDERR, bytes, false),
                    Output::Exit(exit) => (channel::EXIT, Bytes::from(serde_json::to_vec(&exit).unwrap_or_default()), true),
                };
                let mut message = Vec::with_capacity(1 + payload.len());
                message.push(channel);
                message.extend_from_slice(&payload);
                if !sent(idle, sink.send(Message::Binary(message.into()))).await {
                    return "the client does not read";
                }
                if last {
                    let _ = sent(idle, sink.send(Message::Close(None))).await;
                    // Until the client's Close: a socket closed with the client's frames
                    // unread is reset, and the reset can destroy the exit before the
                    // client reads it.
                    let closed = async { while let Some(Ok(message)) = incoming.next().await {
                        if message.is_close() {
                            break;
                        }
                    } };
                    let _ = tokio::time::timeout(idle, closed).await;
                    return "the command exited";
                }
            }
            message = incoming.next(), if pending.is_none() => {
                heard = Instant::now();
                match message {
                    None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return "the client disconnected",
                    Some(Ok(Message::Binary(bytes))) => match bytes.first() {
                        Some(&channel::STDIN) if stdin.is_some() => pending = Some(bytes.slice(1..)),
                        Some(&channel::STDIN_EOF) => stdin = None,
                        // Stdin after its end is dropped.
                        Some(&channel::STDIN) => {}
                        _ => return "the client sent an unknown frame",
                    },
                    Some(Ok(Message::Text(_))) => return "the client sent an unknown frame",
                    // Pings are answered by tungstenite; Pongs only show it is there.
                    Some(Ok(_)) => {}
                }
            }
            permit = reserve(stdin.clone()), if pending.is_some() => {
                match permit {
                    Some(permit) => {
                        permit.send(pending.take().unwrap_or_default());
                    }
                    // The command closed its stdin: the rest is dropped.
                    None => {
                        pending = None;
                        stdin = None;
                    }
                }
                heard = Instant::now();
            }
            _ = ping.tick() => {
                if pending.is_none() && heard.elapsed() >= idle {
                    return "the client was silent for runtime.attach_idle_timeout";
                }
                if !sent(idle, sink.send(Message::Ping(Bytes::new()))).await {
                    return "the client does not read";
                }
            }
        }
    }
}

/// A slot on the command's stdin; None if it is closed.
async fn reserve(stdin: Option<mpsc::Sender<Bytes>>) -> Option<mpsc::OwnedPermit<Bytes>> {
    stdin?.reserve_owned().await.ok()
}

/// Whether a send finished within `idle` (a client that does not read for that long is
/// as gone as a silent one).
async fn sent<E>(idle: Duration, send: impl Future<Output = Result<(), E>>) -> bool {
    matches!(tokio::time::timeout(idle, send).await, Ok(Ok(())))
}
