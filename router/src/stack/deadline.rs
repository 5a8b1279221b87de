//! How long a forwarded request waits for its app's answer.
//!
//! The response timeout (`timeouts.response_header`, or the app's `response_timeout`) runs
//! from when the request was sent whole: an upload slower than the timeout to a healthy
//! app is not a slow app (nginx's `proxy_read_timeout` counts the same way). While the
//! body is still being sent, what is bounded is a pause: no piece of it moving for
//! `timeouts.request_body` ends the request, as [`Late::Client`] (408) if the client
//! stopped sending, as [`Late::App`] (504) if the app stopped reading.
//!
//! A bodiless request costs one timer, as before. A request with a body reads its
//! [`Upload`] only when its timer fires, and re-arms the timer then: nothing per piece of
//! the body but the upload's two atomic stores.

use std::future::Future;
use std::pin::pin;
use std::time::Duration;

use crate::clock::now_ms;
use crate::downstream::body::{Progress, Upload};

/// Who made the request late.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Late {
    /// The app did not answer within the response timeout, or stopped reading the body.
    App,
    /// The client stopped sending the request body.
    Client,
}

/// Runs `send` (sending the request, resolving with the response head) until the app
/// answers or is late; `upload` is the request body's progress, if it has a body.
pub(crate) async fn answer<F: Future>(
    send: F,
    upload: Option<&Upload>,
    response_timeout: Duration,
    body_pause: Duration,
) -> Result<F::Output, Late> {
    let Some(upload) = upload else {
        return tokio::time::timeout(response_timeout, send).await.map_err(|_| Late::App);
    };
    let mut send = pin!(send);
    loop {
        let wait = next_wait(upload.progress(), now_ms(), response_timeout, body_pause)?;
        tokio::select! {
            biased;
            answered = &mut send => return Ok(answered),
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// How long to wait before looking at the upload again, or who is late already.
///
/// While the body is being sent, the next look is at its pause deadline, or sooner: one
/// response timeout from now, since a body sent whole after this look has its response
/// deadline no sooner than that.
fn next_wait(progress: Progress, now: u64, response_timeout: Duration, body_pause: Duration) -> Result<Duration, Late> {
    let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    let (deadline, late, at_most) = match progress {
        Progress::Sent { at_ms } => (at_ms.saturating_add(ms(response_timeout)), Late::App, u64::MAX),
        Progress::Sending { last_ms, client_stalled } => {
            let late = if client_stalled { Late::Client } else { Late::App };
            (last_ms.saturating_add(ms(body_pause)), late, ms(response_timeout))
        }
    };
    if now >= deadline { Err(late) } else { Ok(Duration::from_millis((deadline - now).min(at_most))) }
}

#[cfg(test)]
mod tests;
