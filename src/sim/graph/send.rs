//! The send-time rules of `POST /{version}/{phone-number-id}/messages` beyond the wire
//! format (which `sim::wire::meta` checks): the token list (190), per-number throughput
//! (130429), the template store (132001 / 132015 / 132016 / 132000 / 132012), the pair limit
//! (131056), the 24-hour window (131047, by webhook or synchronously), invalid numbers by
//! webhook (131026), mark-as-read; then the accepted message is remembered and its status
//! webhooks planned and queued. Called by `sim::server` after faults and the generic checks.

use super::webhooks::{Job, StatusKind};
use super::{GraphError, MAX_KEYS};
use crate::sim::config::SimConfig;
use crate::sim::state::{Outcome, Reason, SimState};
use crate::sim::wire::meta as wire_meta;
use crate::sim::wire::{Answer, Incoming, Parsed, Problem};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// Token buckets, pair clocks and windows, each map bounded by [`MAX_KEYS`].
#[derive(Default)]
pub(crate) struct Limits {
    buckets: HashMap<String, (f64, Instant)>,
    pairs: HashMap<(String, String), Instant>,
    windows: HashMap<(String, String), Instant>,
}

/// Keeps a clock map bounded: drops entries older than `keep`, then everything if still full.
fn prune<K: std::hash::Hash + Eq, V>(map: &mut HashMap<K, V>, at: impl Fn(&V) -> Instant, keep: Duration, now: Instant) {
    if map.len() < MAX_KEYS {
        return;
    }
    map.retain(|_, v| now.saturating_duration_since(at(v)) < keep);
    if map.len() >= MAX_KEYS {
        map.clear();
    }
}

impl Limits {
    /// One token of `rate`/s (burst `rate`) for this number.
    fn take(&mut self, number: &str, rate: u32, now: Instant) -> bool {
        prune(&mut self.buckets, |v| v.1, Duration::from_secs(1), now);
        let rate = f64::from(rate);
        let (tokens, last) = self.buckets.entry(number.to_owned()).or_insert((rate, now));
        *tokens = (*tokens + now.saturating_duration_since(*last).as_secs_f64() * rate).min(rate);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }

    fn pair_busy(&self, number: &str, to: &str, interval: Duration, now: Instant) -> bool {
        self.pairs.get(&(number.to_owned(), to.to_owned())).is_some_and(|t| now.saturating_duration_since(*t) < interval)
    }

    fn mark_pair(&mut self, number: &str, to: &str, interval: Duration, now: Instant) {
        prune(&mut self.pairs, |t| *t, interval, now);
        self.pairs.insert((number.to_owned(), to.to_owned()), now);
    }

    pub(crate) fn window_open(&self, number: &str, to: &str, window: Duration, now: Instant) -> bool {
        self.windows.get(&(number.to_owned(), to.to_owned())).is_some_and(|t| now.saturating_duration_since(*t) < window)
    }

    /// An inbound message from `from` opens (or refreshes) its window.
    pub(crate) fn open_window(&mut self, number: &str, from: &str, window: Duration, now: Instant) {
        prune(&mut self.windows, |t| *t, window, now);
        self.windows.insert((number.to_owned(), from.to_owned()), now);
    }
}

/// A message the simulator accepted or received, for mark-as-read and `/_sim/whatsapp/messages`.
#[derive(Debug, Clone)]
pub(crate) struct Remembered {
    pub wamid: String,
    pub phone_number_id: String,
    pub peer: String,
    pub inbound: bool,
    pub kind: String,
    pub statuses: Vec<String>,
}

/// The last `max_messages` messages, oldest forgotten first.
#[derive(Default)]
pub(crate) struct Messages {
    by_id: HashMap<String, Remembered>,
    order: VecDeque<String>,
}

impl Messages {
    pub(crate) fn len(&self) -> usize {
        self.by_id.len()
    }

    pub(crate) fn remember(&mut self, m: Remembered, cap: usize) {
        while self.order.len() >= cap.max(1) {
            if let Some(old) = self.order.pop_front() {
                self.by_id.remove(&old);
            }
        }
        self.order.push_back(m.wamid.clone());
        self.by_id.insert(m.wamid.clone(), m);
    }

    pub(crate) fn get(&self, wamid: &str) -> Option<&Remembered> {
        self.by_id.get(wamid)
    }

    pub(crate) fn note_status(&mut self, wamid: &str, status: &str) {
        if let Some(m) = self.by_id.get_mut(wamid) {
            if m.statuses.len() < 16 {
                m.statuses.push(status.to_owned());
            }
        }
    }

    /// The newest `limit` messages, optionally of one number, newest last.
    pub(crate) fn recent(&self, number: Option<&str>, limit: usize) -> Vec<Value> {
        let mut out: Vec<Value> = self
            .order
            .iter()
            .rev()
            .filter_map(|id| self.by_id.get(id))
            .filter(|m| number.is_none_or(|n| m.phone_number_id == n))
            .take(limit)
            .map(|m| {
                json!({"id": m.wamid, "phoneNumberId": m.phone_number_id, "peer": m.peer,
                       "direction": if m.inbound { "inbound" } else { "outbound" }, "type": m.kind, "statuses": m.statuses})
            })
            .collect();
        out.reverse();
        out
    }
}

/// Send outcomes by Graph code, for `/_sim/stats`.
#[derive(Default)]
pub(crate) struct Counters {
    accepted: AtomicU64,
    read_marks: AtomicU64,
    inbound: AtomicU64,
    refused: [AtomicU64; 9],
}

const REFUSED: [u32; 9] = [190, 130429, 131056, 131047, 132000, 132001, 132012, 132015, 132016];

impl Counters {
    fn refused(&self, code: u32) {
        if let Some(i) = REFUSED.iter().position(|c| *c == code) {
            self.refused[i].fetch_add(1, Relaxed);
        }
    }

    pub(crate) fn inbound(&self) {
        self.inbound.fetch_add(1, Relaxed);
    }

    pub(crate) fn reset(&self) {
        for c in [&self.accepted, &self.read_marks, &self.inbound].into_iter().chain(self.refused.iter()) {
            c.store(0, Relaxed);
        }
    }

    pub(crate) fn to_json(&self) -> Value {
        let refused: serde_json::Map<String, Value> =
            REFUSED.iter().zip(&self.refused).map(|(c, n)| (c.to_string(), n.load(Relaxed).into())).collect();
        json!({"accepted": self.accepted.load(Relaxed), "read_marks": self.read_marks.load(Relaxed),
               "inbound": self.inbound.load(Relaxed), "refused": refused})
    }
}

fn refuse(state: &SimState, e: GraphError, reason: Reason) -> Option<(Response, Outcome)> {
    state.graph.counters.refused(e.code);
    Some((e.into_response(), Outcome::Rejected(reason)))
}

fn bearer(req: &Incoming) -> &str {
    req.headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("")
}

/// The Graph API verdict on a send the generic pipeline evaluated; `None` = render `answer`
/// as the wire module does (problems, synchronous invalid numbers).
pub(crate) fn decide(state: &SimState, config: &SimConfig, p: &Parsed, answer: &Answer, req: &Incoming) -> Option<(Response, Outcome)> {
    let wa = &config.whatsapp;
    if matches!(p.problem, Some(Problem::NoCredentials)) {
        return None;
    }
    if !wa.token_ok(bearer(req)) {
        return refuse(state, GraphError::token(), Reason::Auth);
    }
    let number = p.identity.as_str();
    let now = Instant::now();
    if p.body.get("status").and_then(Value::as_str) == Some("read") {
        return Some(mark_read(state, p, number));
    }
    let forced = match answer {
        Answer::Accepted(_) => None,
        Answer::InvalidNumber(_) if wa.invalid_number_webhook => Some(131026),
        _ => return None,
    };
    let to = p.recipients.first().cloned().unwrap_or_default();
    let rate = wa.throughput_of(number);
    if rate > 0 && !state.graph.limits.lock().take(number, rate, now) {
        let e = GraphError::messaging(wa.rate_limit_status, 130429, "Rate limit hit", "Cloud API message throughput has been reached.");
        return refuse(state, e, Reason::Throttled);
    }
    let kind = p.body.get("type").and_then(Value::as_str).unwrap_or("text").to_owned();
    let mut category = None;
    if kind == "template" {
        let t = &p.body["template"];
        let name = t.get("name").and_then(Value::as_str).unwrap_or("");
        let language = t.get("language").and_then(|l| l.get("code")).and_then(Value::as_str).unwrap_or("");
        let (info, change) = state.graph.templates.lock().for_send(&config.whatsapp.waba_of(number), name, language, now);
        if let Some(c) = change {
            super::webhooks::template_changed(state, config, c);
        }
        category = info.as_ref().map(|i| i.category.to_ascii_lowercase());
        if wa.enforce_templates {
            if let Err(e) = check_template(info, name, language, t) {
                return refuse(state, e, Reason::BadRequest);
            }
        }
    }
    let interval = Duration::from_millis(wa.pair_interval_ms);
    if wa.pair_interval_ms > 0 && state.graph.limits.lock().pair_busy(number, &to, interval, now) {
        let e = GraphError::messaging(
            wa.rate_limit_status,
            131056,
            "(Business Account, Consumer Account) pair rate limit hit",
            "Message failed to send because there were too many messages sent from this phone number to the same phone number in a short period of time",
        );
        return refuse(state, e, Reason::Throttled);
    }
    let mut forced = forced;
    let window = Duration::from_millis(wa.window_ms);
    if forced.is_none() && wa.enforce_window && kind != "template" && !state.graph.limits.lock().window_open(number, &to, window, now) {
        if wa.window_error == "sync" {
            let (title, details) = super::error_text(131047);
            return refuse(state, GraphError::messaging(400, 131047, title, details), Reason::BadRequest);
        }
        forced = Some(131047);
    }
    if wa.pair_interval_ms > 0 {
        state.graph.limits.lock().mark_pair(number, &to, interval, now);
    }
    let wamid = wire_meta::wamid(&state.rng);
    state.graph.counters.accepted.fetch_add(1, Relaxed);
    let remembered = Remembered { wamid: wamid.clone(), phone_number_id: number.to_owned(), peer: to.clone(), inbound: false, kind: kind.clone(), statuses: Vec::new() };
    state.graph.messages.lock().remember(remembered, wa.max_messages);
    let plan = plan(state, config, forced);
    let biz = p.body.get("biz_opaque_callback_data").and_then(Value::as_str).map(str::to_owned);
    let category = if kind == "template" { category.unwrap_or_else(|| "utility".into()) } else { "service".into() };
    let job = Job::status_chain(number, &wamid, &to, biz, category, plan);
    super::webhooks::enqueue_chain(state, config, job);
    Some((wire_meta::accepted(&to, &wamid, kind == "template"), Outcome::Accepted))
}

/// 132001 (missing or not approved), 132015 / 132016 (paused / disabled), 132000 (body
/// parameter count), 132012 (media header missing).
fn check_template(info: Option<super::templates::SendInfo>, name: &str, language: &str, sent: &Value) -> Result<(), GraphError> {
    let missing = || {
        GraphError::messaging(404, 132001, "Template name does not exist in the translation", format!("template name ({name}) does not exist in {language}"))
    };
    let info = info.ok_or_else(missing)?;
    match info.status.as_str() {
        "APPROVED" => {}
        "PAUSED" => return Err(GraphError::messaging(400, 132015, "Template is paused", format!("Template {name} is paused due to low quality"))),
        "DISABLED" => return Err(GraphError::messaging(400, 132016, "Template is disabled", format!("Template {name} has been disabled"))),
        _ => return Err(missing()),
    }
    let components = sent.get("components").and_then(Value::as_array).cloned().unwrap_or_default();
    let of = |kind: &str| components.iter().find(|c| c.get("type").and_then(Value::as_str).is_some_and(|t| t.eq_ignore_ascii_case(kind)));
    let count = |c: Option<&Value>| c.and_then(|c| c.get("parameters")).and_then(Value::as_array).map_or(0, Vec::len);
    let given = count(of("body"));
    if given != info.body_params {
        return Err(GraphError::messaging(
            400,
            132000,
            "Number of parameters does not match the expected number of params",
            format!("body: number of localizable_params ({given}) does not match the expected number of params ({})", info.body_params),
        ));
    }
    if let Some(format) = info.header {
        let header = of("header").and_then(|h| h.get("parameters")?.get(0)?.get("type")?.as_str().map(str::to_ascii_uppercase));
        if header.as_deref() != Some(format.as_str()) {
            return Err(GraphError::messaging(
                400,
                132012,
                "Parameter format does not match format in the created template",
                format!("header: Format mismatch, expected {format}, received {}", header.unwrap_or_else(|| "UNKNOWN".into())),
            ));
        }
    }
    Ok(())
}

/// The statuses an accepted message will report, in order: a forced failure; a random one
/// (`failed_rate`); else sent, delivered and (`read_rate`) read — then duplicates and
/// reordering at their rates. One seeded RNG draw per decision.
fn plan(state: &SimState, config: &SimConfig, forced: Option<u32>) -> Vec<StatusKind> {
    let wa = &config.whatsapp;
    let draw = |rate: f64| rate > 0.0 && state.rng.unit() < rate;
    let mut plan = if let Some(code) = forced {
        vec![StatusKind::Failed(code)]
    } else if draw(wa.failed_rate) {
        vec![StatusKind::Failed(wa.failed_code)]
    } else if draw(wa.read_rate) {
        vec![StatusKind::Sent, StatusKind::Delivered, StatusKind::Read]
    } else {
        vec![StatusKind::Sent, StatusKind::Delivered]
    };
    if draw(wa.duplicate_rate) {
        let i = state.rng.below(plan.len() as u64) as usize;
        plan.insert(i, plan[i]);
    }
    if plan.len() >= 2 && draw(wa.reorder_rate) {
        let i = state.rng.below(plan.len() as u64 - 1) as usize;
        plan.swap(i, i + 1);
    }
    plan
}

/// `{"messaging_product":"whatsapp","status":"read","message_id":"wamid…"}` for an inbound message.
fn mark_read(state: &SimState, p: &Parsed, number: &str) -> (Response, Outcome) {
    let id = p.body.get("message_id").and_then(Value::as_str).unwrap_or("");
    let known = state.graph.messages.lock().get(id).is_some_and(|m| m.inbound && m.phone_number_id == number);
    if !known {
        let e = GraphError::messaging(400, 100, "Invalid parameter", format!("message_id {id} is not an inbound message of this phone number"));
        return (e.into_response(), Outcome::Rejected(Reason::BadRequest));
    }
    state.graph.messages.lock().note_status(id, "read");
    state.graph.counters.read_marks.fetch_add(1, Relaxed);
    (axum::Json(json!({"success": true})).into_response(), Outcome::Accepted)
}
