//! Conformance cases: the one status decision on the store (provider index, precedence, no
//! downgrade, counted once) and compare-and-set transitions.

use super::*;

pub(crate) fn report(message_id: i64, status: MessageStatus, at: i64) -> MessageEvent {
    MessageEvent { message_id, seq: 0, status, at, source: "twilio".into(), raw_status: None, error_code: None, error_text: None }
}

pub(crate) async fn status_of(s: &SharedStore, id: i64) -> MessageStatus {
    s.get_message(id).await.unwrap().unwrap().status
}

/// The provider index is written with the update that carries the provider id; status
/// events never downgrade, repeat, or double-count, whichever writer comes first.
pub(crate) async fn provider_index_and_status_precedence(s: SharedStore) {
    let assoc = 77;
    let scope = CounterScope { association_id: assoc, day: 0 };
    s.insert_messages(&[msg(900, assoc), msg(901, assoc), msg(902, assoc)]).await.unwrap();
    let mut sent = msg(900, assoc);
    sent.status = MessageStatus::Sent;
    sent.provider = Some("twilio".into());
    sent.provider_message_id = Some("SM900".into());
    sent.credential_id = Some(3);
    sent.attempts = 1;
    s.update_messages(&[MessageUpdate { message: sent.clone(), attempt: None }]).await.unwrap();
    assert_eq!(s.find_by_provider_id("twilio", "SM900").await.unwrap(), Some(900));
    assert_eq!(s.find_by_provider_id("infobip", "SM900").await.unwrap(), None);
    assert_eq!(s.find_by_provider_id("twilio", "SM9").await.unwrap(), None);

    let out = s.apply_status(&[report(900, MessageStatus::Delivered, 10)]).await.unwrap();
    assert!(matches!(&out[0], StatusOutcome::Applied { before, after } if before.status == MessageStatus::Sent && after.status == MessageStatus::Delivered), "{out:?}");
    // A repeat, a late `sent` report and dispatch's own late `sent` change nothing.
    let out = s.apply_status(&[report(900, MessageStatus::Delivered, 11), report(900, MessageStatus::Sent, 12)]).await.unwrap();
    assert!(out.iter().all(|o| matches!(o, StatusOutcome::Unchanged(m) if m.status == MessageStatus::Delivered)), "{out:?}");
    s.update_messages(&[MessageUpdate { message: sent.clone(), attempt: None }]).await.unwrap();
    assert_eq!(status_of(&s, 900).await, MessageStatus::Delivered, "a late dispatch write does not downgrade");
    // Of two outcomes the first stands; `read` ranks above both.
    let out = s.apply_status(&[report(900, MessageStatus::Undelivered, 13), report(900, MessageStatus::Read, 14)]).await.unwrap();
    assert!(matches!(out[0], StatusOutcome::Unchanged(_)) && matches!(out[1], StatusOutcome::Applied { .. }), "{out:?}");
    let events = s.list_events(900).await.unwrap();
    assert!(events.windows(2).all(|w| w[0].seq < w[1].seq), "{events:?}");
    let history: Vec<(MessageStatus, String)> = events.into_iter().map(|e| (e.status, e.source)).collect();
    assert_eq!(
        history,
        vec![(MessageStatus::Sent, "engine".into()), (MessageStatus::Delivered, "twilio".into()), (MessageStatus::Read, "twilio".into())]
    );

    // `delivered` before the engine recorded `sent`: it stays delivered, the id is indexed.
    let mut dispatching = msg(901, assoc);
    dispatching.status = MessageStatus::Dispatching;
    s.update_messages(&[MessageUpdate { message: dispatching, attempt: None }]).await.unwrap();
    let out = s.apply_status(&[report(901, MessageStatus::Delivered, 20)]).await.unwrap();
    assert!(matches!(out[0], StatusOutcome::Applied { .. }), "{out:?}");
    let mut late = sent.clone();
    late.id = 901;
    late.provider_message_id = Some("SM901".into());
    s.update_messages(&[MessageUpdate { message: late, attempt: None }]).await.unwrap();
    let m = s.get_message(901).await.unwrap().unwrap();
    assert_eq!((m.status, m.provider_message_id.as_deref()), (MessageStatus::Delivered, Some("SM901")));
    assert_eq!(s.find_by_provider_id("twilio", "SM901").await.unwrap(), Some(901));
    assert!(!s.list_unfinished(None, 10_000).await.unwrap().contains(&901));

    // Concurrent identical reports: one applies, the others see it.
    let mut sent2 = sent.clone();
    sent2.id = 902;
    sent2.provider_message_id = Some("SM902".into());
    s.update_messages(&[MessageUpdate { message: sent2, attempt: None }]).await.unwrap();
    let handles: Vec<_> = (0..16)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move { s.apply_status(&[report(902, MessageStatus::Undelivered, 30 + i)]).await.unwrap() })
        })
        .collect();
    let mut applied = 0;
    for h in handles {
        applied += h.await.unwrap().iter().filter(|o| matches!(o, StatusOutcome::Applied { .. })).count();
    }
    assert_eq!(applied, 1);
    assert_eq!(s.list_events(902).await.unwrap().len(), 2, "sent, undelivered");

    assert!(matches!(s.apply_status(&[report(999_999, MessageStatus::Delivered, 1)]).await.unwrap()[0], StatusOutcome::Missing));
    let c = s.get_counters(scope).await.unwrap();
    let get = |k: &str| c.get(k).copied().unwrap_or(0);
    assert_eq!((get("sent"), get("sent:twilio")), (3, 3), "{c:?}");
    assert_eq!((get("delivered"), get("delivered:twilio"), get("read")), (2, 2, 1), "{c:?}: 901's by provider once its provider is known");
    assert_eq!((get("undelivered"), get("undelivered:twilio")), (1, 1), "{c:?}");
}

/// Dispatch's `sent` and the provider's `delivered` for the same messages, racing: whatever
/// order they commit in, every message ends `delivered`, counted once.
pub(crate) async fn dispatch_and_reports_race_without_downgrade(s: SharedStore) {
    let assoc = 78;
    let ids: Vec<i64> = (0..200).map(|i| 50_000 + i).collect();
    s.insert_messages(&ids.iter().map(|&id| msg(id, assoc)).collect::<Vec<_>>()).await.unwrap();
    let mut tasks = Vec::new();
    for &id in &ids {
        let mut sent = msg(id, assoc);
        sent.status = MessageStatus::Sent;
        sent.provider = Some("twilio".into());
        sent.provider_message_id = Some(format!("SM{id}"));
        let (s1, s2) = (s.clone(), s.clone());
        tasks.push(tokio::spawn(async move { s1.update_messages(&[MessageUpdate { message: sent, attempt: None }]).await.unwrap() }));
        tasks.push(tokio::spawn(async move {
            s2.apply_status(&[report(id, MessageStatus::Delivered, 1)]).await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    for &id in &ids {
        let m = s.get_message(id).await.unwrap().unwrap();
        assert_eq!(m.status, MessageStatus::Delivered, "{m:?}");
        assert_eq!(m.provider_message_id, Some(format!("SM{id}")));
        assert_eq!(s.find_by_provider_id("twilio", &format!("SM{id}")).await.unwrap(), Some(id));
    }
    let c = s.get_counters(CounterScope { association_id: assoc, day: 0 }).await.unwrap();
    assert_eq!((c.get("sent"), c.get("delivered")), (Some(&200), Some(&200)), "{c:?}");
    assert_eq!((c.get("sent:twilio"), c.get("delivered:twilio")), (Some(&200), Some(&200)), "{c:?}");
}

/// Compare-and-set on status (`transition_message`): of writers racing from one status
/// (as the scheduler firing and a cancel race from `scheduled`) exactly one wins and the row
/// holds its write; a transition from a status the row is not in, or of a message that is
/// not there, is refused and writes nothing. The race starts from `queued`: kassandra
/// 0.13 refuses a DELETE on a table it holds no rows of ("Table does not exist"), and a
/// scheduled message's insert deletes its (absent) `unfinished` row, so on a fresh keyspace
/// there a scheduled row cannot be inserted.
pub(crate) async fn transitions_are_compare_and_set(s: SharedStore) {
    transitions_race(&s, &s, 1_000).await;
}

/// The race itself, its writers split over two stores (one or two sessions).
pub(crate) async fn transitions_race(a: &SharedStore, b: &SharedStore, id: i64) {
    let queued = msg(id, 1);
    a.insert_messages(std::slice::from_ref(&queued)).await.unwrap();
    assert!(!a.transition_message(&MessageRecord { status: MessageStatus::Dispatching, ..queued.clone() }, MessageStatus::Scheduled).await.unwrap(), "wrong `from`");
    assert!(!a.transition_message(&msg(id + 1, 1), MessageStatus::Queued).await.unwrap(), "absent message");
    assert!(a.get_message(id + 1).await.unwrap().is_none(), "a refused transition creates nothing");
    assert_eq!(status_of(a, id).await, MessageStatus::Queued);

    let handles: Vec<_> = (0..16u32)
        .map(|i| {
            let s = if i % 2 == 0 { a.clone() } else { b.clone() };
            let status = if i % 4 < 2 { MessageStatus::Dispatching } else { MessageStatus::Cancelled };
            let m = MessageRecord { status, attempts: i, updated_at: 10 + i64::from(i), ..queued.clone() };
            tokio::spawn(async move { s.transition_message(&m, MessageStatus::Queued).await.map(|won| won.then_some(m)) })
        })
        .collect();
    let mut winners = Vec::new();
    for h in handles {
        if let Some(m) = h.await.unwrap().unwrap() {
            winners.push(m);
        }
    }
    assert_eq!(winners.len(), 1, "exactly one transition from queued wins: {:?}", winners.iter().map(|m| m.attempts).collect::<Vec<_>>());
    for s in [a, b] {
        let stored = s.get_message(id).await.unwrap().unwrap();
        assert_eq!((stored.status, stored.attempts), (winners[0].status, winners[0].attempts), "the row holds the winner's write");
    }
}
