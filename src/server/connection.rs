//! One client connection: read frames, decode and run requests in arrival
//! order, write responses in that same order.
//!
//! Two halves: this task reads and runs requests; a writer task awaits each
//! reply in turn and writes it. A reply that must wait (a long poll, an fsync)
//! does not stop the next requests from being read and run.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseKind};
use kafka_protocol::protocol::Decodable;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tracing::Instrument;

use super::authenticator::{Authenticator, Verdict};
use super::connection_quotas::OpenConnection;
use super::frame::{FrameError, FrameReader};
use super::outbox::Outbox;
use super::request_memory::{RequestMemory, RequestReader};
use crate::api::throttle::{self, ConnectionThrottle, RequestCost};
use crate::api::{self, Reply, RequestContext};
use crate::broker::BrokerState;
use crate::security::KafkaPrincipal;

/// Replies queued behind one that is still waiting.
const MAX_QUEUED_REPLIES: usize = 64;
/// Responses are gathered up to this size before a write.
const WRITE_BUFFER: usize = 256 * 1024;

struct Outgoing {
    /// When the request was read (for the latency metric).
    started: Instant,
    correlation_id: i32,
    api_key: ApiKey,
    version: i16,
    answer: Answer,
    /// The request's bytes, held until its response is encoded.
    memory: Option<RequestMemory>,
}

/// What goes back for one frame.
enum Answer {
    Kafka(Reply),
    /// A bare SASL token (after SaslHandshake v0): its length, then the token.
    SaslToken(Bytes),
}

/// Why a connection is closed instead of answered, as Kafka does for input it
/// cannot parse.
#[derive(Debug, thiserror::Error)]
pub enum Malformed {
    #[error("request shorter than its header")]
    Short,
    #[error("unknown api key {0}")]
    UnknownApi(i16),
    #[error("{0:?} v{1} is not supported")]
    Unsupported(ApiKey, i16),
    #[error("cannot decode {0:?} v{1}: {2}")]
    Decode(ApiKey, i16, String),
    #[error("{0}")]
    IllegalSaslState(String),
    #[error("SASL authentication failed: {0}")]
    SaslAuthenticationFailed(String),
}

/// Whether the connection stays open after a reply.
#[derive(PartialEq)]
enum After {
    Continue,
    Close,
}

/// Serves one connection that came in through listener number `listener`,
/// whose client is `principal`: its two halves are those of a TCP stream or
/// of a TLS stream over one.
pub async fn serve<R, W>(
    (reader, writer): (R, W),
    peer: SocketAddr,
    listener: usize,
    principal: KafkaPrincipal,
    state: Arc<BrokerState>,
    connection: Arc<OpenConnection>,
) where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (queue, replies) = mpsc::channel(MAX_QUEUED_REPLIES);
    let write_task = tokio::spawn(write_replies(
        writer,
        replies,
        peer,
        state.clone(),
        connection.clone(),
    ));
    state.metrics.connections.inc();
    let socket = &state.config.socket;
    let mut throttle = ConnectionThrottle::default();
    let mut requests = RequestReader::new(
        FrameReader::new(reader, socket.request_max_bytes as usize),
        socket.queued_max_request_bytes_per_connection,
        state.request_memory.clone(),
        std::time::Duration::from_millis(socket.connections_max_idle_ms),
        throttle.mute.clone(),
        state.metrics.clone(),
    );
    let mut stop = state.shutdown.clone();
    let sasl = state
        .listeners
        .get(listener)
        .is_some_and(|l| l.protocol.uses_sasl());
    let mut auth = Authenticator::new(sasl, principal);
    // Whether the broker closes it to get back under max.connections.
    let excess = loop {
        requests.set_max_frame(auth.max_receive(socket.request_max_bytes as usize));
        let frame = tokio::select! {
            f = requests.next() => f,
            _ = stop.changed() => break false,
            _ = connection.closed() => break true,
        };
        let (frame, memory) = match frame {
            Ok(Some(frame)) => frame,
            Ok(None) => break false,
            Err(FrameError::Io(e)) => {
                tracing::debug!(%peer, error = %e, "connection read failed");
                break false;
            }
            Err(e) => {
                tracing::warn!(%peer, error = %e, "closing connection");
                break false;
            }
        };
        connection.touch();
        match run(&state, peer, listener, &mut auth, frame, &mut throttle).await {
            Ok((mut outgoing, after)) => {
                outgoing.memory = Some(memory);
                let sent = tokio::select! {
                    sent = queue.send(outgoing) => sent,
                    _ = connection.closed() => break true,
                };
                if sent.is_err() {
                    break false; // the writer failed: the socket is gone
                }
                if after == After::Close {
                    // Authentication failed: the writer sends the error now, the
                    // close follows after Kafka's delay.
                    let delay = socket.connection_failed_authentication_delay_ms;
                    tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
                    break false;
                }
            }
            Err(e) => {
                tracing::warn!(%peer, error = %e, "closing connection on a malformed request");
                break false;
            }
        }
    };
    if excess {
        // As Kafka closes it: at once, its pending responses dropped.
        tracing::debug!(%peer, "closing connection: over max.connections");
        write_task.abort();
    }
    drop(queue);
    let _ = write_task.await;
    state.metrics.connections.dec();
}

/// A request frame, decoded.
#[expect(
    clippy::large_enum_variant,
    reason = "made once per request and taken apart at once"
)]
pub enum Decoded {
    Request {
        correlation_id: i32,
        api_key: ApiKey,
        version: i16,
        header: RequestHeader,
        request: RequestKind,
    },
    /// ApiVersions at a version runnel does not know: answered at v0 with
    /// UNSUPPORTED_VERSION so the client can pick another (KIP-511).
    UnknownApiVersionsVersion { correlation_id: i32 },
}

/// Decodes one request frame (without its length prefix): api key and version
/// checked against SUPPORTED_APIS, then the header and the body.
pub fn decode_request(mut frame: Bytes) -> Result<Decoded, Malformed> {
    if frame.len() < 8 {
        return Err(Malformed::Short);
    }
    let key = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
    let api_key = ApiKey::try_from(key).map_err(|_| Malformed::UnknownApi(key))?;
    let (min, max) = api::supported_versions(api_key).ok_or(Malformed::UnknownApi(key))?;
    if !(min..=max).contains(&version) {
        if api_key == ApiKey::ApiVersions {
            return Ok(Decoded::UnknownApiVersionsVersion { correlation_id });
        }
        return Err(Malformed::Unsupported(api_key, version));
    }
    let header = RequestHeader::decode(&mut frame, api_key.request_header_version(version))
        .map_err(|e| Malformed::Decode(api_key, version, e.to_string()))?;
    let request = RequestKind::decode(api_key, &mut frame, version)
        .map_err(|e| Malformed::Decode(api_key, version, e.to_string()))?;
    Ok(Decoded::Request {
        correlation_id,
        api_key,
        version,
        header,
        request,
    })
}

/// Decodes one request frame and runs it.
async fn run(
    state: &Arc<BrokerState>,
    peer: SocketAddr,
    listener: usize,
    auth: &mut Authenticator,
    frame: Bytes,
    throttle: &mut ConnectionThrottle,
) -> Result<(Outgoing, After), Malformed> {
    let started = Instant::now();
    if auth.expects_raw_token() {
        let token = auth
            .raw_token(state, &frame)
            .map_err(Malformed::SaslAuthenticationFailed)?;
        let outgoing = Outgoing {
            started,
            correlation_id: 0,
            api_key: ApiKey::SaslAuthenticate,
            version: 0,
            answer: Answer::SaslToken(token.into()),
            memory: None,
        };
        return Ok((outgoing, After::Continue));
    }
    let size = frame.len();
    let (correlation_id, api_key, version, header, mut request) = match decode_request(frame)? {
        Decoded::Request {
            correlation_id,
            api_key,
            version,
            header,
            request,
        } => (correlation_id, api_key, version, header, request),
        Decoded::UnknownApiVersionsVersion { correlation_id } => {
            let outgoing = Outgoing {
                started,
                correlation_id,
                api_key: ApiKey::ApiVersions,
                version: 0,
                answer: Answer::Kafka(Reply::now(ResponseKind::ApiVersions(
                    api::unsupported_version_response(),
                ))),
                memory: None,
            };
            return Ok((outgoing, After::Continue));
        }
    };
    let span = tracing::debug_span!(
        "request",
        api = ?api_key,
        version,
        correlation_id,
        client_id = header.client_id.as_deref().unwrap_or("")
    );
    let (reply, after) = match auth.admit(state, api_key, &request, version) {
        Verdict::Close(why) => return Err(Malformed::IllegalSaslState(why)),
        Verdict::Answer(response) => (Reply::now(response), After::Continue),
        Verdict::AnswerAndClose(response) => (Reply::now(response), After::Close),
        verdict @ (Verdict::Run | Verdict::RunUnthrottled) => {
            let quotas = matches!(verdict, Verdict::Run);
            let ctx = RequestContext {
                client_id: header.client_id.map(|c| c.to_string()).unwrap_or_default(),
                client_host: format!("/{}", peer.ip()),
                listener,
                principal: auth.principal().clone(),
                mutation_throttle_ms: Default::default(),
            };
            if quotas {
                throttle::bound_fetch(state, &ctx, throttle, &mut request);
            }
            let handling = Instant::now();
            let reply = api::handle(state, &ctx, request, version)
                .instrument(span)
                .await;
            // A long poll's wait is in the reply, not in this handling time.
            let cost = RequestCost {
                bytes: size,
                handling: handling.elapsed(),
            };
            let reply = if quotas {
                throttle::apply(state, &ctx, throttle, api_key, version, cost, reply)
            } else {
                reply
            };
            (reply, After::Continue)
        }
    };
    let outgoing = Outgoing {
        started,
        correlation_id,
        api_key,
        version,
        answer: Answer::Kafka(reply),
        memory: None,
    };
    Ok((outgoing, after))
}

fn observe(state: &BrokerState, out: &Outgoing) {
    state
        .metrics
        .observe_request(out.api_key, out.started.elapsed());
}

async fn write_replies<W: AsyncWrite + Unpin>(
    mut writer: W,
    mut replies: mpsc::Receiver<Outgoing>,
    peer: SocketAddr,
    state: Arc<BrokerState>,
    connection: Arc<OpenConnection>,
) {
    let mut outbox = Outbox::default();
    while let Some(mut out) = replies.recv().await {
        let reply = match std::mem::replace(&mut out.answer, Answer::Kafka(Reply::None)) {
            Answer::Kafka(reply) => reply,
            Answer::SaslToken(token) => {
                observe(&state, &out);
                outbox.push_raw(token);
                if let Err(e) = outbox.flush(&mut writer).await {
                    tracing::debug!(%peer, error = %e, "connection write failed");
                    return;
                }
                continue;
            }
        };
        let response = match reply {
            Reply::None => {
                observe(&state, &out);
                continue;
            }
            Reply::Now(r) => *r,
            Reply::Later(f) => f.await,
        };
        // A response going out is activity too, as in Kafka (a bare SASL
        // token goes out right after its request is read).
        connection.touch();
        observe(&state, &out);
        state.metrics.observe_errors(out.api_key, &response);
        if let Err(e) = outbox.push(out.correlation_id, out.api_key, out.version, &response) {
            tracing::error!(%peer, api = ?out.api_key, version = out.version, error = %e, "cannot encode response");
            return;
        }
        // Gather the replies already waiting into one write.
        if (replies.is_empty() || outbox.len() >= WRITE_BUFFER)
            && !outbox.is_empty()
            && let Err(e) = outbox.flush(&mut writer).await
        {
            tracing::debug!(%peer, error = %e, "connection write failed");
            return;
        }
    }
    let _ = outbox.flush(&mut writer).await;
    let _ = writer.shutdown().await;
}
