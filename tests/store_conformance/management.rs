//! Conformance cases: associations and keys, management rows (credentials, allocations,
//! templates, operators) and their compare-and-set, message rows, attempts and the unfinished
//! index, batched and concurrent writes, meta.

use super::*;

pub(crate) async fn associations_and_keys(s: SharedStore) {
    s.create_association(&assoc(5), &[key("pub5", 5, KeyKind::Public), key("adm5", 5, KeyKind::Admin)]).await.unwrap();
    s.create_association(&assoc(2), &[]).await.unwrap();
    let dup = s.create_association(&assoc(5), &[]).await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
    assert_eq!(s.get_association(5).await.unwrap().unwrap(), assoc(5));
    assert!(s.get_association(6).await.unwrap().is_none());
    let all: Vec<i64> = s.list_associations(None, 10).await.unwrap().iter().map(|a| a.id).collect();
    assert_eq!(all, vec![2, 5]);
    let after: Vec<i64> = s.list_associations(Some(2), 10).await.unwrap().iter().map(|a| a.id).collect();
    assert_eq!(after, vec![5]);
    assert_eq!(s.list_associations(None, 1).await.unwrap().len(), 1);
    assert_eq!(s.lookup_key(b"pub5").await.unwrap().unwrap().kind, KeyKind::Public);

    // Rotation swaps index rows atomically with the record, derived from the row replaced.
    let mut a = assoc(5);
    a.name = "renamed".into();
    a.api_key_hash = b"pub5b".to_vec();
    s.update_association(&a, 1).await.unwrap();
    assert!(s.lookup_key(b"pub5").await.unwrap().is_none());
    assert_eq!(s.lookup_key(b"pub5b").await.unwrap().unwrap().association_id, 5);
    assert_eq!(s.lookup_key(b"adm5").await.unwrap().unwrap().kind, KeyKind::Admin, "unchanged key keeps its row");
    let stored = s.get_association(5).await.unwrap().unwrap();
    assert_eq!((stored.name.as_str(), stored.version), ("renamed", 2));
}

/// Compare-and-set on associations: a write at a stale version is refused and writes
/// nothing (its key-index changes included); of racing writers at one version exactly one
/// wins, and the index ends holding exactly the winner's keys.
pub(crate) async fn association_writes_are_compare_and_set(s: SharedStore) {
    s.create_association(&assoc(7), &[key("pub7", 7, KeyKind::Public), key("adm7", 7, KeyKind::Admin)]).await.unwrap();
    let mut stale = assoc(7);
    stale.api_key_hash = b"pub7-stale".to_vec();
    let r = s.update_association(&stale, 5).await;
    assert!(matches!(r, Err(StoreError::VersionMismatch(_))), "{r:?}");
    assert!(s.lookup_key(b"pub7-stale").await.unwrap().is_none(), "a refused write adds no index row");
    assert!(s.lookup_key(b"pub7").await.unwrap().is_some());
    assert!(matches!(s.update_association(&assoc(99), 1).await, Err(StoreError::VersionMismatch(_))), "absent row: mismatch");
    assert!(s.get_association(99).await.unwrap().is_none(), "an update never creates");

    let handles: Vec<_> = (0..16)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move {
                let mut a = assoc(7);
                a.api_key_hash = format!("pub7-{i}").into_bytes();
                a.admin_key_hash = format!("adm7-{i}").into_bytes();
                s.update_association(&a, 1).await.map(|_| i)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for h in handles {
        match h.await.unwrap() {
            Ok(i) => winners.push(i),
            Err(StoreError::VersionMismatch(_)) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one write at version 1 wins");
    let w = winners[0];
    let stored = s.get_association(7).await.unwrap().unwrap();
    assert_eq!(stored.version, 2);
    assert_eq!(stored.api_key_hash, format!("pub7-{w}").into_bytes());
    for i in 0..16 {
        let (p, a) = (s.lookup_key(format!("pub7-{i}").as_bytes()).await.unwrap(), s.lookup_key(format!("adm7-{i}").as_bytes()).await.unwrap());
        assert_eq!(p.is_some(), i == w, "public key {i}");
        assert_eq!(a.is_some(), i == w, "admin key {i}");
    }
    assert!(s.lookup_key(b"pub7").await.unwrap().is_none() && s.lookup_key(b"adm7").await.unwrap().is_none(), "old keys gone");
}

/// Credentials, allocations, templates and operators: insert-if-absent, update and delete
/// at the version read, refused (writing nothing) at any other; an update after a delete
/// does not bring the row back.
pub(crate) async fn management_rows_are_compare_and_set(s: SharedStore) {
    let c = CredentialRecord {
        association_id: 3,
        id: 30,
        provider_id: 1,
        sender_name: "S".into(),
        credentials_sealed: vec![9],
        api_url: None,
        is_default: true,
        created_at: 1,
        updated_at: 1,
        version: 0,
    };
    s.put_credentials(&[(c.clone(), Expect::Absent)]).await.unwrap();
    assert!(matches!(s.put_credentials(&[(c.clone(), Expect::Absent)]).await, Err(StoreError::Conflict(_))));
    assert_eq!(s.get_credential(3, 30).await.unwrap().unwrap().version, 1);
    let other = CredentialRecord { id: 31, is_default: false, ..c.clone() };
    // All or nothing: one stale expectation refuses the whole batch.
    let r = s.put_credentials(&[(other.clone(), Expect::Absent), (CredentialRecord { is_default: false, ..c.clone() }, Expect::Version(7))]).await;
    assert!(matches!(r, Err(StoreError::VersionMismatch(_))), "{r:?}");
    assert!(s.get_credential(3, 31).await.unwrap().is_none(), "nothing of a refused batch is written");
    s.put_credentials(&[(CredentialRecord { sender_name: "T".into(), ..c.clone() }, Expect::Version(1))]).await.unwrap();
    assert!(matches!(s.delete_credential(3, 30, 1).await, Err(StoreError::VersionMismatch(_))), "stale delete refused");
    assert!(s.delete_credential(3, 30, 2).await.unwrap());
    assert!(!s.delete_credential(3, 30, 2).await.unwrap(), "already gone");
    let r = s.put_credentials(&[(c.clone(), Expect::Version(2))]).await;
    assert!(matches!(r, Err(StoreError::VersionMismatch(_))), "an update after a delete: {r:?}");
    assert!(s.get_credential(3, 30).await.unwrap().is_none(), "not resurrected");

    let al = AllocationRecord {
        association_id: 3,
        id: 40,
        credential_id: 30,
        routing_type: RoutingType::Include,
        country_code: Some("SA".into()),
        country_name: None,
        excluded_countries: vec![],
        priority: 0,
        created_at: 1,
        updated_at: 1,
        version: 0,
    };
    s.put_allocation(&al, Expect::Absent).await.unwrap();
    assert!(matches!(s.put_allocation(&al, Expect::Version(0)).await, Err(StoreError::VersionMismatch(_))));
    s.put_allocation(&AllocationRecord { priority: 5, ..al.clone() }, Expect::Version(1)).await.unwrap();
    assert_eq!(s.get_allocation(40).await.unwrap().unwrap().version, 2);
    assert!(matches!(s.delete_allocation(3, 40, 1).await, Err(StoreError::VersionMismatch(_))));
    assert!(s.delete_allocation(3, 40, 2).await.unwrap());
    assert!(s.get_allocation(40).await.unwrap().is_none());

    let t = TemplateRecord {
        association_id: 3,
        code: "otp".into(),
        name: None,
        content: "Code {{c}}".into(),
        channel: "sms".into(),
        created_at: 1,
        updated_at: 1,
        version: 0,
    };
    s.put_template(&t, Expect::Absent).await.unwrap();
    assert!(matches!(s.put_template(&t, Expect::Absent).await, Err(StoreError::Conflict(_))));
    assert!(matches!(s.put_template(&t, Expect::Version(3)).await, Err(StoreError::VersionMismatch(_))));
    s.put_template(&TemplateRecord { content: "x".into(), ..t.clone() }, Expect::Version(1)).await.unwrap();
    assert!(s.delete_template(3, "otp", 2).await.unwrap());
    assert!(matches!(s.put_template(&t, Expect::Version(2)).await, Err(StoreError::VersionMismatch(_))));
    assert!(s.get_template(3, "otp").await.unwrap().is_none());

    let op = OperatorRecord {
        username: "op".into(),
        password_hash: "h".into(),
        association_id: None,
        created_at: 1,
        updated_at: 1,
        version: 0,
        session_epoch: 9,
        disabled: false,
    };
    s.put_operator(&op, Expect::Absent).await.unwrap();
    assert!(matches!(s.put_operator(&op, Expect::Absent).await, Err(StoreError::Conflict(_))));
    s.put_operator(&OperatorRecord { disabled: true, ..op.clone() }, Expect::Version(1)).await.unwrap();
    assert!(s.get_operator("op").await.unwrap().unwrap().disabled);
    assert!(matches!(s.delete_operator("op", 1).await, Err(StoreError::VersionMismatch(_))));
    assert!(s.delete_operator("op", 2).await.unwrap());
    assert!(s.get_operator("op").await.unwrap().is_none());

    // Racing updates of one row at one version: exactly one wins.
    s.put_template(&t, Expect::Absent).await.unwrap();
    let handles: Vec<_> = (0..16)
        .map(|i| {
            let (s, t) = (s.clone(), t.clone());
            tokio::spawn(async move { s.put_template(&TemplateRecord { content: format!("v{i}"), ..t }, Expect::Version(1)).await })
        })
        .collect();
    let mut ok = 0;
    for h in handles {
        match h.await.unwrap() {
            Ok(()) => ok += 1,
            Err(StoreError::VersionMismatch(_)) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(ok, 1);
}

pub(crate) async fn concurrent_creates_of_one_id_admit_one(s: SharedStore) {
    let handles: Vec<_> = (0..32)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move { s.create_association(&assoc(42), &[]).await })
        })
        .collect();
    let mut ok = 0;
    for h in handles {
        match h.await.unwrap() {
            Ok(()) => ok += 1,
            Err(StoreError::Conflict(_)) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(ok, 1);
}

pub(crate) async fn credentials(s: SharedStore) {
    let c = |assoc: i64, id: i64, default: bool| CredentialRecord {
        association_id: assoc,
        id,
        provider_id: 1,
        sender_name: "S".into(),
        credentials_sealed: vec![9],
        api_url: None,
        is_default: default,
        created_at: 1,
        updated_at: 1,
        version: 1,
    };
    let new = |c: CredentialRecord| (c, Expect::Absent);
    s.put_credentials(&[new(c(1, 20, true)), new(c(1, 10, false)), new(c(2, 5, true))]).await.unwrap();
    let ids: Vec<i64> = s.list_credentials(1).await.unwrap().iter().map(|c| c.id).collect();
    assert_eq!(ids, vec![10, 20], "clustering order by id");
    assert_eq!(s.get_credential(2, 5).await.unwrap().unwrap(), c(2, 5, true));
    assert!(s.get_credential(1, 5).await.unwrap().is_none(), "partitioned by association");
    s.put_credentials(&[(c(1, 20, false), Expect::Version(1))]).await.unwrap();
    assert!(!s.get_credential(1, 20).await.unwrap().unwrap().is_default);
    assert!(s.delete_credential(1, 20, 2).await.unwrap());
    assert!(!s.delete_credential(1, 20, 2).await.unwrap());
    assert_eq!(s.list_credentials(1).await.unwrap().len(), 1);
}

pub(crate) async fn messages_attempts_and_unfinished(s: SharedStore) {
    let msgs: Vec<_> = (1..=40).map(|i| msg(i * 1000 + 7, 1)).collect();
    s.insert_messages(&msgs).await.unwrap();
    assert_eq!(s.get_message(5007).await.unwrap().unwrap(), msgs[4]);
    assert!(s.get_message(5008).await.unwrap().is_none());
    let unfinished = s.list_unfinished(None, 100).await.unwrap();
    assert_eq!(unfinished, msgs.iter().map(|m| m.id).collect::<Vec<_>>(), "sorted across shards");
    assert_eq!(s.list_unfinished(Some(10007), 3).await.unwrap(), vec![11007, 12007, 13007]);

    let mut m = msgs[0].clone();
    m.status = MessageStatus::Dispatching;
    s.update_message(&m, None).await.unwrap();
    assert!(s.list_unfinished(None, 100).await.unwrap().contains(&m.id));
    m.status = MessageStatus::Sent;
    m.attempts = 2;
    let attempt = |n: u32, result: &str| AttemptRecord {
        message_id: m.id,
        attempt: n,
        credential_id: 3,
        provider: "twilio".into(),
        result: result.into(),
        provider_message_id: None,
        error: None,
        latency_ms: 12,
        at: 5,
    };
    s.update_message(&m, Some(&attempt(2, "sent"))).await.unwrap();
    s.update_message(&m, Some(&attempt(1, "retryable"))).await.unwrap();
    let got: Vec<(u32, String)> = s.list_attempts(m.id).await.unwrap().into_iter().map(|a| (a.attempt, a.result)).collect();
    assert_eq!(got, vec![(1, "retryable".into()), (2, "sent".into())]);
    assert!(s.list_attempts(msgs[1].id).await.unwrap().is_empty());
    assert!(!s.list_unfinished(None, 100).await.unwrap().contains(&m.id), "terminal leaves the index");
    assert_eq!(s.get_message(m.id).await.unwrap().unwrap().status, MessageStatus::Sent);
}

pub(crate) async fn allocations(s: SharedStore) {
    let a = |assoc: i64, id: i64, t: RoutingType| AllocationRecord {
        association_id: assoc,
        id,
        credential_id: 10,
        routing_type: t,
        country_code: (t == RoutingType::Include).then(|| "SA".to_string()),
        country_name: None,
        excluded_countries: if t == RoutingType::Exclude { vec!["SA".into(), "AE".into()] } else { vec![] },
        priority: id as i32,
        created_at: 1,
        updated_at: 1,
        version: 1,
    };
    s.put_allocation(&a(1, 3, RoutingType::Exclude), Expect::Absent).await.unwrap();
    s.put_allocation(&a(1, 2, RoutingType::Include), Expect::Absent).await.unwrap();
    s.put_allocation(&a(2, 1, RoutingType::Include), Expect::Absent).await.unwrap();
    let got = s.list_allocations(1).await.unwrap();
    assert_eq!(got, vec![a(1, 2, RoutingType::Include), a(1, 3, RoutingType::Exclude)]);
    assert!(s.delete_allocation(1, 2, 1).await.unwrap());
    assert!(!s.delete_allocation(1, 2, 1).await.unwrap());
    assert_eq!(s.list_allocations(1).await.unwrap().len(), 1);
    assert_eq!(s.list_allocations(2).await.unwrap().len(), 1);
}

pub(crate) async fn batched_updates_apply_in_order(s: SharedStore) {
    let m = msg(777, 1);
    s.insert_messages(&[m.clone()]).await.unwrap();
    let mut dispatching = m.clone();
    dispatching.status = MessageStatus::Dispatching;
    let mut failed = m.clone();
    failed.status = MessageStatus::Failed;
    failed.error = Some("invalid number".into());
    s.update_messages(&[
        MessageUpdate { message: dispatching, attempt: None },
        MessageUpdate { message: failed.clone(), attempt: None },
    ])
    .await
    .unwrap();
    assert_eq!(s.get_message(777).await.unwrap().unwrap(), failed, "the later update wins");
    assert!(!s.list_unfinished(None, 10).await.unwrap().contains(&777));
}

pub(crate) async fn meta(s: SharedStore) {
    assert!(s.get_meta("k").await.unwrap().is_none());
    s.put_meta("k", b"v1").await.unwrap();
    s.put_meta("k", b"v2").await.unwrap();
    assert_eq!(s.get_meta("k").await.unwrap().unwrap(), b"v2");
}

pub(crate) async fn many_concurrent_writers(s: SharedStore) {
    let handles: Vec<_> = (0..2000i64)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move { s.insert_messages(&[msg(1_000_000 + i, 9)]).await })
        })
        .collect();
    for h in handles {
        h.await.unwrap().unwrap();
    }
    for i in (0..2000i64).step_by(97) {
        assert!(s.get_message(1_000_000 + i).await.unwrap().is_some());
    }
}
