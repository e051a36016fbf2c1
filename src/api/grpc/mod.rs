//! gRPC facade (tonic): the `jood.v1.Notifications` service of `proto/jood/v1`, on its own
//! listener (`server.grpc_addr`). Like the HTTP handlers it translates and delegates: sends go
//! to the same ingress and campaign service, callers are authenticated by the same
//! [`Authenticator`](crate::auth::Authenticator) (`x-api-key` / `x-api-secret` metadata), sends
//! count against the same per-IP limits, and every failure is an [`ApiError`] turned into a
//! `tonic::Status` in one place (`api::http::error`).
//!
//! Auth is a shared helper rather than a tonic interceptor because interceptors are
//! synchronous and the key check reads the store.

mod bulk;
pub mod codec;
mod convert;
pub mod pb;
mod watch;

use crate::api::http::protect::{check_limit, RouteClass};
use crate::api::http::{timeline, visible_notification, ApiError, AppState};
use crate::auth::Caller;
use crate::ingress::NewMessage;
use pb::notifications_server::{Notifications, NotificationsServer};
use std::net::IpAddr;
use std::time::Instant;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status, Streaming};

/// The service: the HTTP API's shared state plus the engine's shutdown token (watch streams
/// end when it fires, so a graceful stop is not held up by them).
#[derive(Clone)]
pub struct GrpcApi {
    state: AppState,
    shutdown: CancellationToken,
}

/// Serves the API on `listener` until `shutdown` fires, then lets running calls finish.
pub fn spawn(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<Result<(), tonic::transport::Error>> {
    let api = GrpcApi { state, shutdown: shutdown.clone() };
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(NotificationsServer::new(api))
            .serve_with_incoming_shutdown(incoming, async move { shutdown.cancelled().await })
            .await
    })
}

impl GrpcApi {
    /// The client address: the TCP peer, or the `x-forwarded-for` client behind a trusted
    /// proxy, exactly as for HTTP.
    fn client_ip<T>(&self, req: &Request<T>) -> Option<IpAddr> {
        let peer = req.remote_addr()?.ip();
        let forwarded = req.metadata().get_all("x-forwarded-for").into_iter().filter_map(|v| v.to_str().ok());
        Some(self.state.client_ip.resolve(peer, forwarded))
    }

    /// `x-api-key` + `x-api-secret`, checked like the HTTP key-pair scheme.
    async fn caller<T>(&self, req: &Request<T>, ip: Option<IpAddr>) -> Result<Caller, ApiError> {
        let md = req.metadata();
        let key = md.get("x-api-key").and_then(|v| v.to_str().ok());
        let secret = md.get("x-api-secret").and_then(|v| v.to_str().ok());
        Ok(self.state.auth.key_and_secret(key, secret, ip).await?)
    }

    /// Whether `caller` may send for `association_id`: its own association, or any existing,
    /// active one for the super-admin (an association's own keys already proved both).
    async fn may_send(&self, caller: Caller, association_id: i64) -> Result<(), ApiError> {
        caller.require_association(association_id)?;
        if caller.is_super_admin() {
            let assoc = self.state.directory.get_association(association_id).await?;
            if !assoc.is_active {
                return Err(ApiError::Forbidden("Inactive association".into()));
            }
        }
        Ok(())
    }

    /// Per-IP limit, then authentication: what every send does first.
    async fn admit_send<T>(&self, req: &Request<T>, class: RouteClass) -> Result<Caller, ApiError> {
        let ip = self.client_ip(req);
        check_limit(&self.state, class, ip, "grpc").await?;
        self.caller(req, ip).await
    }

    async fn send_notification(&self, req: Request<pb::SendNotificationRequest>) -> Result<pb::SendNotificationResponse, ApiError> {
        let caller = self.admit_send(&req, RouteClass::Notification).await?;
        let r = req.into_inner();
        self.may_send(caller, r.association_id).await?;
        let accepted = self
            .state
            .webhook
            .ingress
            .accept(NewMessage {
                association_id: r.association_id,
                recipient: r.recipient,
                body: r.message,
                channel: convert::channel(r.channel)?.into(),
                priority: r.priority,
                credential_id: None,
                scheduled_at: r.scheduled_at.map(convert::ms_of),
                content: None,
                callback_url: None,
                validity_secs: None,
                sms: Default::default(),
                email: None,
                fallback: Vec::new(),
                shorten_links: None,
            })
            .await?;
        Ok(pb::SendNotificationResponse {
            queue_id: accepted.id,
            status: convert::message_status(accepted.status) as i32,
            encoding: convert::sms_encoding(accepted.encoding) as i32,
            segments: accepted.segments,
            smart_encoding_applied: accepted.smart_encoding_applied,
        })
    }

    async fn get_notification(&self, req: Request<pb::GetNotificationRequest>) -> Result<pb::Notification, ApiError> {
        let caller = self.caller(&req, self.client_ip(&req)).await?;
        let (m, attempts) = visible_notification(&self.state, caller, req.into_inner().id).await?;
        let timeline = timeline(&m, &attempts, self.state.store.list_events(m.id).await?);
        Ok(convert::notification(m, attempts, timeline))
    }
}

/// Counts and times a call under its method name, by resulting code.
async fn observed<T>(method: &'static str, call: impl std::future::Future<Output = Result<T, ApiError>>) -> Result<Response<T>, Status> {
    let started = Instant::now();
    let result = call.await.map_err(Status::from);
    let code = match &result {
        Ok(_) => tonic::Code::Ok,
        Err(s) => s.code(),
    };
    metrics::counter!(crate::telemetry::GRPC_REQUESTS_TOTAL, "method" => method, "code" => convert::code_label(code)).increment(1);
    metrics::histogram!(crate::telemetry::GRPC_REQUEST_SECONDS, "method" => method).record(started.elapsed().as_secs_f64());
    result.map(Response::new)
}

#[tonic::async_trait]
impl Notifications for GrpcApi {
    async fn send_notification(&self, req: Request<pb::SendNotificationRequest>) -> Result<Response<pb::SendNotificationResponse>, Status> {
        observed("SendNotification", GrpcApi::send_notification(self, req)).await
    }

    async fn send_bulk(&self, req: Request<Streaming<pb::SendBulkChunk>>) -> Result<Response<pb::SendBulkResponse>, Status> {
        observed("SendBulk", bulk::send_bulk(self, req)).await
    }

    async fn get_notification(&self, req: Request<pb::GetNotificationRequest>) -> Result<Response<pb::Notification>, Status> {
        observed("GetNotification", GrpcApi::get_notification(self, req)).await
    }

    type WatchCampaignStream = watch::ProgressStream;

    async fn watch_campaign(&self, req: Request<pb::WatchCampaignRequest>) -> Result<Response<Self::WatchCampaignStream>, Status> {
        observed("WatchCampaign", watch::watch_campaign(self, req)).await
    }
}
