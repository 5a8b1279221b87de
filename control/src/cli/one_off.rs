//! `slipway run --app A [--detach] [-e KEY=VALUE] -- COMMAND...`: a one-off dyno over the
//! API (so it works against a remote control plane). Attached (the default), its stdout
//! and stderr come to ours live, our stdin goes to it (our EOF closes its stdin), and we
//! exit with its exit status; leaving (Ctrl-C, a lost connection) stops it. Detached, it
//! runs in the background (`slipway ps` shows it) and its output only goes to the log.
//! The wire format is in `api/one_off.rs`.

use std::io::Read;
use std::process::ExitCode;

use futures_util::{SinkExt, StreamExt};
use http::Method;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use super::args::{RunArgs, parse_pairs};
use super::client::WebSocket;
use super::ctx::Ctx;
use super::error::CliError;
use crate::api::one_off::channel;
use crate::model::{NewDyno, StartedDyno};
use crate::runtime::Exit;

/// Largest stdin frame sent (the control plane takes at least 16 KiB).
const STDIN_CHUNK: usize = 8 * 1024;

pub(super) async fn run(ctx: &Ctx, args: RunArgs) -> Result<ExitCode, CliError> {
    let app = ctx.app()?;
    let command = command_line(&args.command);
    let env = parse_pairs(&args.env, "KEY=VALUE")?.into_iter().collect();
    let new = NewDyno { command: command.clone(), attach: !args.detach, env };
    let started: StartedDyno = ctx.client.call(Method::POST, &format!("/v1/apps/{app}/dynos"), Some(&new)).await?;
    let name = &started.dyno.name;
    if args.detach {
        if ctx.json {
            ctx.out.json(&started.dyno);
        } else {
            ctx.out.line(&format!(
                "Running `{command}` on {app} as {name}, detached: `slipway ps` shows it, \
                 `slipway logs --app {app} --dyno {name} --tail` its output"
            ));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let Some(url) = &started.attach_url else {
        return Err(CliError::new("the control plane gave no attach_url for the attached run")
            .hint("is it a Slipway control plane of the same version?"));
    };
    let config = WebSocketConfig::default().max_message_size(Some(1 << 20)).max_frame_size(Some(1 << 20));
    let ws = ctx.client.websocket(url, config).await?;
    attached(ws).await.map_err(|e| e.hint(format!("what it printed is in `slipway logs --app {app} --dyno {name}`")))
}

/// One argument is a command line as it is; several are quoted for the shell, so that
/// `-- sh -c 'exit 3'` runs exactly that.
fn command_line(args: &[String]) -> String {
    match args {
        [one] => one.clone(),
        many => many.iter().map(|a| quote(a)).collect::<Vec<_>>().join(" "),
    }
}

fn quote(arg: &str) -> String {
    let plain = !arg.is_empty() && arg.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-./=:,@%+".contains(&b));
    if plain { arg.to_owned() } else { format!("'{}'", arg.replace('\'', "'\\''")) }
}

/// Relays until the command exits; its exit status.
async fn attached(ws: WebSocket) -> Result<ExitCode, CliError> {
    let (mut sink, mut incoming) = ws.split();
    let mut stdin = Some(read_stdin());
    let (mut stdout, mut stderr) = (tokio::io::stdout(), tokio::io::stderr());
    let lost = |e: &dyn std::fmt::Display| CliError::new(format!("the connection to the control plane broke: {e}"));
    loop {
        tokio::select! {
            message = incoming.next() => match message {
                Some(Ok(Message::Binary(bytes))) => match bytes.split_first() {
                    Some((&channel::STDOUT, data)) => write(&mut stdout, data, "standard output").await?,
                    Some((&channel::STDERR, data)) => write(&mut stderr, data, "standard error").await?,
                    Some((&channel::EXIT, json)) => {
                        let exit: Exit = serde_json::from_slice(json)
                            .map_err(|e| CliError::new(format!("unexpected exit message from the control plane: {e}")))?;
                        let _ = sink.close().await;
                        return Ok(ExitCode::from(u8::try_from(exit.status).unwrap_or(1)));
                    }
                    // Channels of later versions.
                    _ => {}
                },
                Some(Ok(Message::Close(_))) | None => {
                    return Err(CliError::new("the control plane ended the connection before the command ended"));
                }
                Some(Err(e)) => return Err(lost(&e)),
                Some(Ok(_)) => {}
            },
            chunk = async { stdin.as_mut()?.recv().await }, if stdin.is_some() => {
                let frame = match chunk {
                    Some(data) => [&[channel::STDIN], data.as_slice()].concat(),
                    None => {
                        stdin = None;
                        vec![channel::STDIN_EOF]
                    }
                };
                sink.send(Message::Binary(frame.into())).await.map_err(|e| lost(&e))?;
            }
        }
    }
}

async fn write(to: &mut (impl AsyncWriteExt + Unpin), data: &[u8], what: &str) -> Result<(), CliError> {
    let written = async {
        to.write_all(data).await?;
        to.flush().await
    };
    written.await.map_err(|e| CliError::new(format!("cannot write to {what}: {e}; the command is stopped")))
}

/// Our stdin, in chunks, read by a thread of its own: a blocking read cannot be
/// cancelled, and this one must not keep the process from exiting when the command ends.
/// The channel ends at EOF.
fn read_stdin() -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel(4);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut buf = vec![0u8; STDIN_CHUNK];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => {
                    if tx.blocking_send(buf[..n].to_vec()).is_err() {
                        return;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    });
    rx
}
