//! Conformance cases: redirect and tracked links, opt-outs, callback attempts, the WhatsApp
//! history and its statistics.

use super::*;

pub(crate) async fn redirect_links(s: SharedStore) {
    let link = |id: i64, assoc: i64, code: &str| LinkRecord {
        id,
        association_id: assoc,
        code: code.into(),
        target_url: format!("https://x.example/{id}"),
        name: None,
        created_at: 1,
        updated_at: 1,
        message_id: None,
        campaign_id: None,
        click_count: 0,
        last_clicked_at: None,
    };
    for id in 1..=5 {
        s.create_link(&link(id, 7, &format!("code{id}"))).await.unwrap();
    }
    s.create_link(&link(6, 8, "other")).await.unwrap();
    // Codes are unique across associations; a taken code writes nothing.
    assert!(matches!(s.create_link(&link(9, 8, "code1")).await, Err(StoreError::Conflict(_))));
    assert!(s.get_link(9).await.unwrap().is_none());
    assert_eq!(s.get_link_by_code("code1").await.unwrap().unwrap().id, 1);
    assert!(s.get_link_by_code("nope").await.unwrap().is_none());

    // Newest first, paged by offset, with the partition's total.
    let p = s.list_links(7, 0, 2).await.unwrap();
    assert_eq!((p.links.iter().map(|l| l.id).collect::<Vec<_>>(), p.total), (vec![5, 4], 5));
    let p = s.list_links(7, 4, 2).await.unwrap();
    assert_eq!((p.links.iter().map(|l| l.id).collect::<Vec<_>>(), p.total), (vec![1], 5));
    assert_eq!(s.list_links(7, 10, 2).await.unwrap().links.len(), 0);
    assert_eq!(s.list_links(8, 0, 10).await.unwrap().total, 1);

    // Clicks add up; the last click time only moves forward; unknown links are ignored.
    let c = |link_id, clicks, at| LinkClicks { link_id, clicks, last_clicked_at: at };
    s.add_link_clicks(&[c(1, 3, 100), c(2, 1, 50), c(404, 9, 1)]).await.unwrap();
    s.add_link_clicks(&[c(1, 2, 90)]).await.unwrap();
    let l1 = s.get_link(1).await.unwrap().unwrap();
    assert_eq!((l1.click_count, l1.last_clicked_at), (5, Some(100)));
    assert_eq!(s.get_link_by_code("code2").await.unwrap().unwrap().click_count, 1);
    assert!(s.get_link(404).await.unwrap().is_none());

    // An update keeps the code and the clicks.
    let mut u = s.get_link(1).await.unwrap().unwrap();
    u.target_url = "https://y.example/".into();
    u.name = Some("renamed".into());
    s.update_link(&u).await.unwrap();
    let got = s.get_link_by_code("code1").await.unwrap().unwrap();
    assert_eq!((got.target_url.as_str(), got.name.as_deref(), got.click_count), ("https://y.example/", Some("renamed"), 5));

    // A delete removes the row, its code and its place in the listing; the code is free again.
    assert!(s.delete_link(1).await.unwrap());
    assert!(!s.delete_link(1).await.unwrap());
    assert!(s.get_link(1).await.unwrap().is_none());
    assert!(s.get_link_by_code("code1").await.unwrap().is_none());
    assert_eq!(s.list_links(7, 0, 10).await.unwrap().total, 4);
    s.create_link(&link(10, 7, "code1")).await.unwrap();
    assert_eq!(s.get_link(10).await.unwrap().unwrap().click_count, 0, "a new link starts with no clicks");
}

/// Tracked links (`shortenLinks`): written with their messages in one call, found by code and
/// by message (not listed with the association's links); a taken code refuses the whole
/// write; clicks add up per campaign, a recipient (message) counted once however many of its
/// links are clicked.
pub(crate) async fn tracked_links(s: SharedStore) {
    let tracked = |id: i64, message: i64, code: &str| LinkRecord {
        id,
        association_id: 7,
        code: code.into(),
        target_url: format!("https://shop.example/{id}"),
        name: None,
        created_at: 1,
        updated_at: 1,
        message_id: Some(message),
        campaign_id: Some(50),
        click_count: 0,
        last_clicked_at: None,
    };
    let m1 = MessageRecord { campaign_id: Some(50), ..msg(101, 7) };
    let m2 = MessageRecord { campaign_id: Some(50), ..msg(102, 7) };
    let links = [tracked(201, 101, "trkA"), tracked(202, 101, "trkB"), tracked(203, 102, "trkC")];
    s.insert_messages_with_links(&[m1, m2], &links).await.unwrap();
    assert!(s.get_message(102).await.unwrap().is_some());
    let got = s.get_link_by_code("trkC").await.unwrap().unwrap();
    assert_eq!((got.id, got.message_id, got.campaign_id), (203, Some(102), Some(50)));
    let mut of1: Vec<i64> = s.list_message_links(101).await.unwrap().iter().map(|l| l.id).collect();
    of1.sort();
    assert_eq!(of1, vec![201, 202]);
    assert_eq!(s.list_links(7, 0, 10).await.unwrap().total, 0, "tracked links are the messages'");
    // A taken code: nothing of the write is stored.
    let err = s.insert_messages_with_links(&[msg(103, 7)], &[tracked(204, 103, "trkD"), tracked(205, 103, "trkA")]).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert!(s.get_message(103).await.unwrap().is_none());
    assert!(s.get_link_by_code("trkD").await.unwrap().is_none());
    assert_eq!(s.get_link_by_code("trkA").await.unwrap().unwrap().id, 201, "the taken code still points at its link");

    let c = |link_id, clicks, at| LinkClicks { link_id, clicks, last_clicked_at: at };
    s.add_link_clicks(&[c(201, 2, 10), c(202, 1, 11)]).await.unwrap();
    assert_eq!(s.campaign_clicks(50).await.unwrap(), CampaignClicks { clicks: 3, clicked_recipients: 1 });
    s.add_link_clicks(&[c(203, 1, 12), c(201, 1, 13)]).await.unwrap();
    assert_eq!(s.campaign_clicks(50).await.unwrap(), CampaignClicks { clicks: 5, clicked_recipients: 2 });
    assert_eq!(s.campaign_clicks(51).await.unwrap(), CampaignClicks::default());
    let a = s.get_link(201).await.unwrap().unwrap();
    assert_eq!((a.click_count, a.last_clicked_at), (3, Some(13)));
    assert!(s.delete_link(202).await.unwrap());
    assert_eq!(s.list_message_links(101).await.unwrap().iter().map(|l| l.id).collect::<Vec<_>>(), vec![201]);
}

/// The opt-out list: one row per (association, recipient, channel), a recipient's rows in one
/// read, deletes of one channel or all, listing in (recipient, channel) order with a cursor,
/// partitions kept apart; message rows keep their encoding and segments.
pub(crate) async fn opt_outs_and_sms_fields(s: SharedStore) {
    use jood::store::OptOutRecord;
    let row = |a: i64, r: &str, c: &str| OptOutRecord { association_id: a, recipient: r.into(), channel: c.into(), reason: None, source: "api".into(), created_at: 1 };
    for r in [row(1, "+966501", "sms"), row(1, "+966501", "whatsapp"), row(1, "+9665011", "all"), row(1, "+966502", "all"), row(2, "+966501", "all")] {
        s.put_opt_out(&r).await.unwrap();
    }
    // Replacing a row keeps one.
    s.put_opt_out(&OptOutRecord { reason: Some("again".into()), ..row(1, "+966501", "sms") }).await.unwrap();
    let mine = s.opt_outs_of(1, "+966501").await.unwrap();
    assert_eq!(mine.iter().map(|r| r.channel.as_str()).collect::<Vec<_>>(), vec!["sms", "whatsapp"], "a prefix of another number is another number");
    assert_eq!(mine[0].reason.as_deref(), Some("again"));
    let page = s.list_opt_outs(1, None, 2).await.unwrap();
    assert_eq!(page.iter().map(|r| (r.recipient.as_str(), r.channel.as_str())).collect::<Vec<_>>(), vec![("+966501", "sms"), ("+966501", "whatsapp")]);
    let rest = s.list_opt_outs(1, Some(("+966501", "whatsapp")), 10).await.unwrap();
    assert_eq!(rest.iter().map(|r| r.recipient.as_str()).collect::<Vec<_>>(), vec!["+9665011", "+966502"]);
    assert_eq!(s.list_opt_outs(2, None, 10).await.unwrap().len(), 1);
    assert_eq!(s.delete_opt_outs(1, "+966501", Some("sms")).await.unwrap(), 1);
    assert_eq!(s.delete_opt_outs(1, "+966501", Some("sms")).await.unwrap(), 0);
    assert_eq!(s.delete_opt_outs(1, "+966501", None).await.unwrap(), 1);
    assert!(s.opt_outs_of(1, "+966501").await.unwrap().is_empty());
    assert_eq!(s.opt_outs_of(2, "+966501").await.unwrap().len(), 1, "another association's row stays");

    let m = MessageRecord { encoding: Some(jood::domain::sms::Encoding::Ucs2), segments: 3, ..msg(900, 1) };
    s.insert_messages(std::slice::from_ref(&m)).await.unwrap();
    let got = s.get_message(900).await.unwrap().unwrap();
    assert_eq!((got.encoding, got.segments), (Some(jood::domain::sms::Encoding::Ucs2), 3));
}

/// Attempts older than the cutoff go, across every outcome partition, a bounded number per
/// call; newer ones stay listed.
pub(crate) async fn callback_attempts_are_pruned_by_age(s: SharedStore) {
    let attempt = |n: u32, outcome: CallbackOutcome| CallbackAttempt {
        event_id: format!("evt_{n}"),
        association_id: 7,
        message_id: 100 + i64::from(n),
        url: "https://example.com/cb".into(),
        attempt: 1,
        at: jood::domain::now_ms(),
        status_code: Some(200),
        latency_ms: 3,
        outcome,
        next_at: None,
        error: None,
    };
    let entry = |n: u32| OutboxEntry {
        event_id: format!("evt_{n}"),
        association_id: 7,
        message_id: 100 + i64::from(n),
        url: "https://example.com/cb".into(),
        payload: b"{}".to_vec(),
        attempt: 0,
        next_at: 1,
        created_at: 1,
    };
    for n in 0..3 {
        let o = if n == 1 { CallbackOutcome::Failed } else { CallbackOutcome::Delivered };
        s.settle_callback(&entry(n), &attempt(n, o), None).await.unwrap();
    }
    // Nothing is older than a cutoff in the past; another association's rows are not touched.
    assert_eq!(s.prune_callback_attempts(7, jood::domain::now_ms() - 3_600_000, 100).await.unwrap(), 0);
    // Every outcome, newest first, merged across the outcomes; one outcome alone; a limit.
    let ids = |v: Vec<CallbackAttempt>| v.into_iter().map(|a| a.event_id).collect::<Vec<_>>();
    assert_eq!(ids(s.list_callback_attempts(7, None, 10).await.unwrap()), ["evt_2", "evt_1", "evt_0"]);
    assert_eq!(ids(s.list_callback_attempts(7, Some(CallbackOutcome::Delivered), 10).await.unwrap()), ["evt_2", "evt_0"]);
    assert_eq!(ids(s.list_callback_attempts(7, None, 2).await.unwrap()), ["evt_2", "evt_1"]);
    let later = jood::domain::now_ms() + 1_000;
    assert_eq!(s.prune_callback_attempts(8, later, 100).await.unwrap(), 0);
    // Each attempt is one row, under its outcome: three in all, two per call.
    let mut gone = 0;
    for _ in 0..2 {
        let n = s.prune_callback_attempts(7, later, 2).await.unwrap();
        assert!(n <= 2, "a call deletes at most its limit, deleted {n}");
        gone += n;
    }
    assert_eq!(gone, 3);
    assert_eq!(s.prune_callback_attempts(7, later, 100).await.unwrap(), 0);
    assert!(s.list_callback_attempts(7, None, 10).await.unwrap().is_empty());
    assert!(s.list_callback_attempts(7, Some(CallbackOutcome::Failed), 10).await.unwrap().is_empty());
}

/// The callback outbox read as the sender reads it: due rows in (`next_at`, `event_id`)
/// order, of one association, and on from a row (`after`) so settled rows at the front are
/// not stepped over again; an empty `event_id` in `after` reads that millisecond again.
pub(crate) async fn outbox_is_read_on_from_a_row(s: SharedStore) {
    let entry = |assoc: i64, at: i64, id: &str| OutboxEntry {
        event_id: id.into(),
        association_id: assoc,
        message_id: 1,
        url: "https://example.com/cb".into(),
        payload: b"{}".to_vec(),
        attempt: 0,
        next_at: at,
        created_at: 1,
    };
    let attempt = |e: &OutboxEntry| CallbackAttempt {
        event_id: e.event_id.clone(),
        association_id: e.association_id,
        message_id: 1,
        url: e.url.clone(),
        attempt: 1,
        at: jood::domain::now_ms(),
        status_code: Some(503),
        latency_ms: 1,
        outcome: CallbackOutcome::Pending,
        next_at: Some(e.next_at),
        error: None,
    };
    // Empty to begin with. (On kassandra this read also has to come before the first batch
    // into the outbox: a batch as the keyspace's first statement there is refused with
    // "Table does not exist", seen only in this case.)
    assert!(s.due_callbacks(9, None, 30, 10).await.unwrap().is_empty());
    assert!(s.outbox_associations().await.unwrap().is_empty());
    // A row enters the outbox as the rescheduled `next` of a settled attempt.
    for (assoc, at, id) in [(9, 10, "b"), (9, 10, "a"), (9, 20, "c"), (9, 30, "d"), (9, 50, "e"), (10, 15, "x")] {
        let e = entry(assoc, at, id);
        s.settle_callback(&entry(assoc, 0, "none"), &attempt(&e), Some(&e)).await.unwrap();
    }
    let ids = |rows: Vec<OutboxEntry>| rows.into_iter().map(|e| e.event_id).collect::<Vec<_>>();
    assert_eq!(ids(s.due_callbacks(9, None, 30, 10).await.unwrap()), ["a", "b", "c", "d"]);
    assert_eq!(ids(s.due_callbacks(9, None, 30, 2).await.unwrap()), ["a", "b"]);
    assert_eq!(ids(s.due_callbacks(9, Some((10, "a")), 30, 10).await.unwrap()), ["b", "c", "d"]);
    assert_eq!(ids(s.due_callbacks(9, Some((10, "")), 30, 10).await.unwrap()), ["a", "b", "c", "d"], "the same millisecond again");
    assert_eq!(ids(s.due_callbacks(9, Some((20, "c")), 100, 1).await.unwrap()), ["d"]);
    assert!(s.due_callbacks(9, Some((50, "e")), 100, 10).await.unwrap().is_empty());
    assert!(s.due_callbacks(9, Some((40, "")), 30, 10).await.unwrap().is_empty(), "a cursor past `until`");
    assert_eq!(ids(s.due_callbacks(10, None, 100, 10).await.unwrap()), ["x"]);
    // A settled row leaves the front.
    let a = entry(9, 10, "a");
    let mut done = attempt(&a);
    done.outcome = CallbackOutcome::Delivered;
    s.settle_callback(&a, &done, None).await.unwrap();
    assert_eq!(ids(s.due_callbacks(9, None, 30, 10).await.unwrap()), ["b", "c", "d"]);
    // The attempts: each once, under its outcome; the newest (delivered) first in the listing of all.
    let listed = s.list_callback_attempts(9, None, 100).await.unwrap();
    assert_eq!(listed.len(), 6, "{listed:?}");
    assert_eq!((listed[0].event_id.as_str(), listed[0].outcome), ("a", CallbackOutcome::Delivered));
    assert_eq!(s.list_callback_attempts(9, Some(CallbackOutcome::Pending), 100).await.unwrap().len(), 5);
}

/// `GET /api/v1/whatsapp-messages` on the store: WhatsApp messages only, newest first across
/// days, paged by offset; a recipient filter led by `+` (prefix) or not (anywhere); a status
/// filter follows the message's status now.
pub(crate) async fn whatsapp_history(s: SharedStore) {
    use jood::store::whatsapp_messages::{WaMessageQuery, WaStatus};
    let day = 86_400_000;
    let wa = |id: i64, recipient: &str, at: i64| MessageRecord { channel: "whatsapp".into(), recipient: recipient.into(), created_at: at, updated_at: at, ..msg(id, 1) };
    s.insert_messages(&[wa(10, "+966501110001", day + 1), wa(11, "+966502220002", day + 2)]).await.unwrap();
    s.insert_messages(&[wa(12, "+966501110003", 2 * day + 1), wa(13, "+201001110004", 2 * day + 2), wa(14, "+966503330005", 2 * day + 3)]).await.unwrap();
    s.insert_messages(&[MessageRecord { recipient: "+966501110006".into(), ..msg(15, 1) }, MessageRecord { channel: "whatsapp".into(), ..msg(16, 2) }]).await.unwrap();
    let q = |status: Option<WaStatus>, recipient: Option<&str>, offset: usize, limit: usize| WaMessageQuery {
        association_id: 1,
        status,
        recipient_digits: recipient.map(|r| r.trim_start_matches('+').to_owned()),
        recipient_anywhere: recipient.is_some_and(|r| !r.starts_with('+')),
        offset,
        limit,
    };
    let ids = |p: &jood::store::whatsapp_messages::WaMessagePage| p.items.iter().map(|m| m.id).collect::<Vec<_>>();
    let all = s.list_wa_messages(&q(None, None, 0, 10)).await.unwrap();
    assert_eq!((ids(&all), all.total), (vec![14, 13, 12, 11, 10], 5));
    let page = s.list_wa_messages(&q(None, None, 1, 2)).await.unwrap();
    assert_eq!((ids(&page), page.total), (vec![13, 12], 5));
    let page = s.list_wa_messages(&q(None, None, 4, 10)).await.unwrap();
    assert_eq!(ids(&page), vec![10]);
    // Prefix: numbers starting with 9665011; anywhere: 111 is in three numbers, one Egyptian.
    let mut prefix = ids(&s.list_wa_messages(&q(None, Some("+9665011"), 0, 10)).await.unwrap());
    prefix.sort();
    assert_eq!(prefix, vec![10, 12]);
    let infix = s.list_wa_messages(&q(None, Some("111"), 0, 10)).await.unwrap();
    let mut got = ids(&infix);
    got.sort();
    assert_eq!((got, infix.total, infix.total_limited), (vec![10, 12, 13], 3, false));
    let one = s.list_wa_messages(&q(None, Some("111"), 1, 1)).await.unwrap();
    assert_eq!((one.items.len(), one.total), (1, 3));
    assert!(s.list_wa_messages(&q(None, Some("+111"), 0, 10)).await.unwrap().items.is_empty());
    // A status filter follows the message as it moves.
    s.apply_status(&[report(12, MessageStatus::Sent, 2 * day + 10)]).await.unwrap();
    assert_eq!(status_of(&s, 12).await, MessageStatus::Sent);
    let sent = s.list_wa_messages(&q(Some(WaStatus::Sent), None, 0, 10)).await.unwrap();
    assert_eq!((ids(&sent), sent.total), (vec![12], 1));
    let pending = s.list_wa_messages(&q(Some(WaStatus::Pending), Some("111"), 0, 10)).await.unwrap();
    let mut got = ids(&pending);
    got.sort();
    assert_eq!(got, vec![10, 13]);
}

/// `GET /api/v1/whatsapp-stats` on the store: the daily WhatsApp counters follow status
/// changes (sent, delivered, read, failed), each counted once however often it is reported,
/// and `wa.total` counts the insert (issue 12: on ScyllaDB they stayed at zero).
pub(crate) async fn whatsapp_stats_follow_status(s: SharedStore) {
    use jood::store::stats::day_of;
    let now = jood::domain::now_ms();
    let wa = |id: i64| MessageRecord { channel: "whatsapp".into(), created_at: now, updated_at: now, ..msg(id, 7) };
    s.insert_messages(&[wa(30), wa(31), MessageRecord { created_at: now, updated_at: now, ..msg(32, 7) }]).await.unwrap();
    for (id, status) in [(30, MessageStatus::Sent), (30, MessageStatus::Delivered), (30, MessageStatus::Delivered), (30, MessageStatus::Read), (31, MessageStatus::Sent), (31, MessageStatus::Failed), (32, MessageStatus::Delivered)] {
        s.apply_status(&[report(id, status, now)]).await.unwrap();
    }
    assert_eq!(status_of(&s, 30).await, MessageStatus::Read);
    let today = s.get_counters(CounterScope { association_id: 7, day: day_of(jood::domain::now_ms()) }).await.unwrap();
    let get = |k: &str| today.get(k).copied().unwrap_or(0);
    // The SMS message (32) counts in none of them.
    assert_eq!(
        [get("wa.total"), get("wa.sent"), get("wa.delivered"), get("wa.read"), get("wa.failed")],
        [2, 2, 1, 1, 1],
        "{today:?}"
    );
}
