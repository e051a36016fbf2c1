//! The simulator's SMTP sink: a loopback SMTP server (RFC 5321, plain: no TLS, which the
//! engine's `tls: "none"` credentials use) so the email channel is tested with real SMTP.
//! It accepts every well-formed message, counts it per credential in `/_sim/stats` under
//! `smtp` (the identity is the AUTH username, else the MAIL FROM address) and keeps the last
//! messages for `/_sim/requests?provider=smtp` (method `DATA`, the envelope in `headers`,
//! the message as `raw_body`).
//!
//! Failures on demand: the scripted faults (`/_sim/faults`, provider `smtp`) answer MAIL FROM
//! with a 4yz or 5yz: `error500`/`server_error` → `451 4.3.0`, `throttle` → `421 4.7.0` (and
//! the connection closes, as relays do), `auth_error` → `535 5.7.8`, `timeout` → no answer for
//! `hang_ms`. A recipient whose local part starts with `bounce` gets `550 5.1.1` (mailbox
//! unavailable). `latency_ms` delays the answer to the message's final dot.

use super::state::{Outcome, Reason, RecordedRequest, SimState};
use super::FaultMode;
use crate::domain::ProviderKind;
use base64::Engine;
use serde_json::{json, Map, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// Longest command line read (RFC 5321 says 512; AUTH lines may be longer).
const MAX_LINE: usize = 4096;
/// Largest message accepted (announced as SIZE).
const MAX_MESSAGE: usize = 10 * 1024 * 1024;

/// Serves SMTP on `listener` until `shutdown`.
pub(crate) async fn serve(listener: TcpListener, state: Arc<SimState>, shutdown: CancellationToken) {
    loop {
        let conn = tokio::select! {
            c = listener.accept() => c,
            _ = shutdown.cancelled() => return,
        };
        let Ok((stream, _)) = conn else { continue };
        let (state, stop) = (state.clone(), shutdown.clone());
        tokio::spawn(async move {
            tokio::select! {
                _ = session(stream, &state, &stop) => {}
                _ = stop.cancelled() => {}
            }
        });
    }
}

#[derive(Default)]
struct Envelope {
    identity: Option<String>,
    from: Option<String>,
    to: Vec<String>,
}

async fn session(stream: TcpStream, state: &SimState, stop: &CancellationToken) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    write.write_all(b"220 jood-sim ESMTP ready\r\n").await?;
    let mut user: Option<String> = None;
    let mut env = Envelope::default();
    let mut line = String::new();
    loop {
        line.clear();
        if read_line(&mut reader, &mut line).await? == 0 {
            return Ok(());
        }
        let cmd = line.trim_end_matches(['\r', '\n']);
        let upper = cmd.to_ascii_uppercase();
        let verb = upper.split_whitespace().next().unwrap_or("");
        let reply: String = match verb {
            "EHLO" => format!("250-jood-sim\r\n250-AUTH PLAIN LOGIN\r\n250-8BITMIME\r\n250-SIZE {MAX_MESSAGE}\r\n250 ENHANCEDSTATUSCODES"),
            "HELO" => "250 jood-sim".into(),
            "AUTH" => match auth(&mut reader, &mut write, cmd).await? {
                Some(name) => {
                    user = Some(name);
                    "235 2.7.0 Authentication successful".into()
                }
                None => "535 5.7.8 Authentication credentials invalid".into(),
            },
            "MAIL" => {
                let from = path_of(cmd);
                let identity = user.clone().unwrap_or_else(|| from.clone());
                state.count(ProviderKind::Smtp, &identity, None);
                env = Envelope { identity: Some(identity.clone()), from: Some(from), to: Vec::new() };
                match state.take_fault(ProviderKind::Smtp, &identity, 1) {
                    // Never matched: a mail carries one message (see `take_fault`).
                    None | Some(FaultMode::PartialServerError) => "250 2.1.0 Ok".into(),
                    Some(FaultMode::Timeout) => {
                        state.count(ProviderKind::Smtp, &identity, Some(Outcome::Hung));
                        let ms = state.config().hang_ms;
                        tokio::select! { _ = tokio::time::sleep(Duration::from_millis(ms)) => {}, _ = stop.cancelled() => return Ok(()) }
                        "250 2.1.0 Ok".into()
                    }
                    Some(FaultMode::Throttle) => {
                        state.count(ProviderKind::Smtp, &identity, Some(Outcome::Rejected(Reason::Throttled)));
                        write.write_all(b"421 4.7.0 Too many messages, try again later\r\n").await?;
                        return Ok(());
                    }
                    Some(FaultMode::AuthError) => {
                        state.count(ProviderKind::Smtp, &identity, Some(Outcome::Rejected(Reason::Auth)));
                        env = Envelope::default();
                        "535 5.7.8 Authentication credentials invalid".into()
                    }
                    Some(FaultMode::Error500 | FaultMode::ServerError) => {
                        state.count(ProviderKind::Smtp, &identity, Some(Outcome::Rejected(Reason::ServerError)));
                        env = Envelope::default();
                        "451 4.3.0 Temporary local problem, try again later".into()
                    }
                }
            }
            "RCPT" if env.from.is_none() => "503 5.5.1 MAIL first".into(),
            "RCPT" => {
                let to = path_of(cmd);
                if to.split('@').next().unwrap_or("").to_ascii_lowercase().starts_with("bounce") {
                    let identity = env.identity.clone().unwrap_or_default();
                    state.count(ProviderKind::Smtp, &identity, Some(Outcome::Rejected(Reason::InvalidNumber)));
                    "550 5.1.1 Mailbox unavailable".into()
                } else {
                    env.to.push(to);
                    "250 2.1.5 Ok".into()
                }
            }
            "DATA" if env.to.is_empty() => "503 5.5.1 RCPT first".into(),
            "DATA" => {
                write.write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n").await?;
                let Some(data) = read_data(&mut reader).await? else {
                    write.write_all(b"552 5.3.4 Message too big\r\n").await?;
                    return Ok(());
                };
                let latency = state.config().latency_ms;
                if latency > 0 {
                    tokio::time::sleep(Duration::from_millis(latency)).await;
                }
                let identity = env.identity.clone().unwrap_or_default();
                state.count(ProviderKind::Smtp, &identity, Some(Outcome::Accepted));
                record(state, &env, &data);
                let id = state.rng.hex(12);
                env = Envelope::default();
                format!("250 2.0.0 Ok: queued as {id}")
            }
            "RSET" => {
                env = Envelope::default();
                "250 2.0.0 Ok".into()
            }
            "NOOP" => "250 2.0.0 Ok".into(),
            "QUIT" => {
                write.write_all(b"221 2.0.0 Bye\r\n").await?;
                return Ok(());
            }
            _ => "502 5.5.2 Command not recognised".into(),
        };
        write.write_all(reply.as_bytes()).await?;
        write.write_all(b"\r\n").await?;
    }
}

/// One line, bounded (a longer one ends the session: no client of ours sends one).
async fn read_line<R: AsyncBufReadExt + Unpin>(r: &mut R, line: &mut String) -> std::io::Result<usize> {
    let mut buf = Vec::new();
    let n = (&mut *r).take(MAX_LINE as u64).read_until(b'\n', &mut buf).await?;
    if n == MAX_LINE && !buf.ends_with(b"\n") {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "line too long"));
    }
    line.push_str(&String::from_utf8_lossy(&buf));
    Ok(n)
}

/// The message up to the lone dot, dot-unstuffed; `None` past `MAX_MESSAGE`.
async fn read_data<R: AsyncBufReadExt + Unpin>(r: &mut R) -> std::io::Result<Option<Vec<u8>>> {
    let mut data = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        if r.read_until(b'\n', &mut line).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if line == b".\r\n" || line == b".\n" {
            return Ok(Some(data));
        }
        let l = if line.starts_with(b"..") { &line[1..] } else { &line[..] };
        if data.len() + l.len() > MAX_MESSAGE {
            return Ok(None);
        }
        data.extend_from_slice(l);
    }
}

/// AUTH PLAIN (with or without the initial response) and AUTH LOGIN; any password is good
/// (the simulator checks no secrets), the username is the credential's identity. `None` for
/// a malformed exchange.
async fn auth<R: AsyncBufReadExt + Unpin, W: AsyncWriteExt + Unpin>(r: &mut R, w: &mut W, cmd: &str) -> std::io::Result<Option<String>> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut parts = cmd.split_whitespace().skip(1);
    let mechanism = parts.next().unwrap_or("").to_ascii_uppercase();
    let initial = parts.next().map(str::to_string);
    match mechanism.as_str() {
        "PLAIN" => {
            let token = match initial {
                Some(t) => t,
                None => ask(r, w, b"334 \r\n").await?,
            };
            let Ok(raw) = b64.decode(token) else { return Ok(None) };
            let mut fields = raw.split(|b| *b == 0);
            let _authzid = fields.next();
            Ok(fields.next().map(|u| String::from_utf8_lossy(u).into_owned()).filter(|u| !u.is_empty()))
        }
        "LOGIN" => {
            let user = match initial {
                Some(t) => t,
                None => ask(r, w, b"334 VXNlcm5hbWU6\r\n").await?,
            };
            let _password = ask(r, w, b"334 UGFzc3dvcmQ6\r\n").await?;
            Ok(b64.decode(user).ok().map(|u| String::from_utf8_lossy(&u).into_owned()).filter(|u| !u.is_empty()))
        }
        _ => Ok(None),
    }
}

/// A server challenge and the client's one-line answer.
async fn ask<R: AsyncBufReadExt + Unpin, W: AsyncWriteExt + Unpin>(r: &mut R, w: &mut W, prompt: &[u8]) -> std::io::Result<String> {
    w.write_all(prompt).await?;
    let mut l = String::new();
    read_line(r, &mut l).await?;
    Ok(l.trim().to_string())
}

/// `MAIL FROM:<a@b> SIZE=1` → `a@b`.
fn path_of(cmd: &str) -> String {
    let after = cmd.split_once(':').map(|(_, r)| r).unwrap_or("").trim();
    let path = after.split_whitespace().next().unwrap_or("");
    path.trim_start_matches('<').trim_end_matches('>').to_string()
}

fn record(state: &SimState, env: &Envelope, data: &[u8]) {
    let keep = state.config().record_requests;
    if keep == 0 {
        return;
    }
    let mut headers = Map::new();
    headers.insert("mail-from".into(), json!(env.from));
    headers.insert("rcpt-to".into(), json!(env.to));
    headers.insert("identity".into(), json!(env.identity));
    let text = String::from_utf8_lossy(&data[..data.len().min(8192)]).into_owned();
    let request = RecordedRequest {
        at_ms: crate::domain::now_ms(),
        method: "DATA".into(),
        path: "smtp".into(),
        query: Value::Null,
        headers,
        body: Value::Null,
        raw_body: text,
    };
    state.record(ProviderKind::Smtp, request, keep);
}

#[cfg(test)]
mod tests {
    use super::path_of;

    #[test]
    fn paths_come_out_of_their_brackets() {
        assert_eq!(path_of("MAIL FROM:<a@b.co> SIZE=10"), "a@b.co");
        assert_eq!(path_of("RCPT TO:<bounce@x.io>"), "bounce@x.io");
        assert_eq!(path_of("MAIL FROM:<>"), "");
    }
}
