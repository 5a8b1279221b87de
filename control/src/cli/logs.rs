//! `slipway logs [--tail] [--num N] [--dyno D] [--source S]`: gets an app-scoped log token
//! from the control plane, then reads the app's stream from logd as NDJSON (logd's line
//! format, [`slipway_logd::LogLine`]) and prints Heroku-style lines:
//! `2026-11-23T10:00:00.123456+00:00 app[web.1]: GET / 200`.

use bytes::{Buf, Bytes, BytesMut};
use http::Method;
use http_body_util::BodyExt;

use super::args::LogsArgs;
use super::ctx::Ctx;
use super::error::CliError;
use crate::model::LogToken;

pub(super) async fn run(ctx: &Ctx, args: LogsArgs) -> Result<(), CliError> {
    let app = ctx.app()?;
    let token: LogToken = ctx.client.call(Method::POST, &format!("/v1/apps/{app}/log-token"), None::<&()>).await?;
    let mut url = format!("{}?tail={}&follow={}", token.stream_url, args.num, args.tail);
    for (name, value) in [("dyno", &args.dyno), ("source", &args.source)] {
        if let Some(value) = value {
            let ok = !value.is_empty() && value.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-,".contains(&b));
            if !ok {
                return Err(CliError::usage(format!("--{name} {value:?}: use names like web, web.1 or app")));
            }
            url.push_str(&format!("&{name}={value}"));
        }
    }
    let response = ctx.client.raw(Method::GET, &url, &token.token, None, "application/x-ndjson", Bytes::new()).await?;
    let status = response.status();
    let mut body = response.into_body();
    if !status.is_success() {
        let bytes = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        return Err(super::client::api_error(status, &bytes));
    }
    let mut buffer = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|e| CliError::new(format!("the log stream broke: {e}")).hint("run the command again"))?;
        let Some(data) = frame.data_ref() else { continue };
        buffer.extend_from_slice(data);
        while let Some(end) = buffer.iter().position(|&b| b == b'\n') {
            let line = buffer.split_to(end);
            buffer.advance(1);
            print(ctx, &line);
        }
    }
    if !buffer.is_empty() {
        print(ctx, &buffer);
    }
    Ok(())
}

fn print(ctx: &Ctx, raw: &[u8]) {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(raw) else { return };
    if let Some(event) = value.get("event").and_then(|e| e.as_str()) {
        match event {
            "heartbeat" => {}
            "dropped" => {
                let n = value.get("dropped").and_then(serde_json::Value::as_u64).unwrap_or(0);
                note(&format!("{n} lines dropped: this terminal fell behind the stream"));
            }
            "gap" => note("some lines are no longer in logd's history"),
            other => note(&format!("logd: {other}")),
        }
        return;
    }
    if ctx.json {
        ctx.out.line(&String::from_utf8_lossy(raw));
        return;
    }
    let Ok(line) = serde_json::from_value::<slipway_logd::LogLine>(value) else { return };
    ctx.out.line(&format_line(&line));
}

fn note(message: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "-- {message}");
}

/// `<time> <source>[<dyno>]: <message>`, the time in logd's Heroku format (microseconds
/// and `+00:00`); a time that does not parse is printed as it came.
pub(super) fn format_line(line: &slipway_logd::LogLine) -> String {
    let time = match humantime::parse_rfc3339(&line.time) {
        Ok(time) => {
            let since = time.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            slipway_logd::Timestamp::new(since.as_secs(), since.subsec_nanos()).heroku()
        }
        Err(_) => line.time.clone(),
    };
    let who = if line.dyno.is_empty() { line.source.clone() } else { format!("{}[{}]", line.source, line.dyno) };
    format!("{time} {who}: {}", line.message)
}

#[cfg(test)]
mod tests;
