//! WebSocket streams (tokio-tungstenite): each line is a text message holding the line's
//! JSON (the same shared bytes as SSE and NDJSON); markers are JSON objects with an
//! `event` key (`dropped`, `gap`, `reset`). Idle streams get a Ping; the client's Pongs and
//! Close are read. Buffers are kept small: an idle subscriber must stay cheap.

use axum::extract::Request;
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Bytes, Message, Utf8Bytes};

use super::Guard;
use super::stream::write_marker;
use crate::hub::{Item, Subscription};

/// Messages queued before a flush.
const BATCH: usize = 256;

fn config() -> WebSocketConfig {
    WebSocketConfig::default()
        // Clients only send control frames: a small read buffer is plenty.
        .read_buffer_size(1024)
        // Messages of a batch are written together at the flush (the buffer only grows
        // while a batch is written); at most 1 MiB is queued for a slow reader.
        .write_buffer_size(64 << 10)
        .max_write_buffer_size(1 << 20)
        .max_message_size(Some(64 << 10))
        .max_frame_size(Some(64 << 10))
}

/// Answers the upgrade and streams `sub` on the WebSocket once it is established.
pub(crate) fn upgrade(req: &mut Request, sub: Subscription, guard: Guard) -> Response {
    slipway_config::websocket::accept(req, config(), move |ws| run(ws, sub, guard))
}

/// Adds the items ready now, up to a batch (stopping after an `End`).
fn collect(sub: &mut Subscription, items: &mut Vec<Item>) {
    while items.len() < BATCH && !matches!(items.last(), Some(Item::End)) {
        match sub.try_next() {
            Some(item) => items.push(item),
            None => break,
        }
    }
}

/// A marker item as a text message holding its JSON.
fn marker(item: &Item) -> Option<Message> {
    let mut json = Vec::with_capacity(48);
    write_marker(&mut json, item);
    // The marker JSON is ASCII.
    String::from_utf8(json).ok().map(|json| Message::Text(Utf8Bytes::from(json)))
}

async fn run<S>(ws: WebSocketStream<S>, mut sub: Subscription, guard: Guard)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let app = sub.app().clone();
    let (mut sink, mut incoming) = ws.split();
    let mut wrote = false;
    let mut last_write = std::time::Instant::now();
    let mut items = Vec::new();
    // Registered once: a new cancellation future per item would take the token's lock
    // for every line of every subscriber.
    let cancelled = guard.shutdown().clone().cancelled_owned();
    tokio::pin!(cancelled);
    loop {
        let item = tokio::select! {
            item = sub.next() => item,
            message = incoming.next() => match message {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                // Pings are answered by tungstenite; pongs and client text are ignored.
                Some(Ok(_)) => continue,
            },
            () = &mut cancelled => Item::End,
        };
        items.clear();
        items.push(item);
        collect(&mut sub, &mut items);
        // Nothing more ready yet: wait a little for more lines to share this write.
        if items.len() < BATCH
            && items.iter().any(|i| matches!(i, Item::Line(_)))
            && let Some(until) = guard.coalesce_until(last_write)
        {
            tokio::select! {
                () = tokio::time::sleep_until(until.into()) => {}
                () = &mut cancelled => items.push(Item::End),
            }
            collect(&mut sub, &mut items);
        }
        let mut end = false;
        for item in items.drain(..) {
            let message = match &item {
                Item::Line(line) => {
                    wrote = true;
                    // The shared JSON, already checked as UTF-8 when it was encoded.
                    Some(Message::Text(line.json_text(&app).clone()))
                }
                Item::Dropped(n) => {
                    wrote = true;
                    guard.dropped(*n);
                    marker(&item)
                }
                Item::Gap { .. } | Item::Reset => marker(&item),
                Item::Heartbeat => {
                    let idle = !wrote;
                    wrote = false;
                    idle.then(|| Message::Ping(Bytes::new()))
                }
                Item::End => {
                    end = true;
                    break;
                }
            };
            if let Some(message) = message
                && sink.feed(message).await.is_err()
            {
                return;
            }
        }
        if sink.flush().await.is_err() {
            return;
        }
        last_write = std::time::Instant::now();
        if end {
            break;
        }
    }
    let _ = sink.send(Message::Close(None)).await;
}
