//! A `kassandra-tester` server (in-memory, single-node, CQL protocol v4) for tests of the
//! ScyllaDB backend: it serves from a single-threaded `LocalSet` on its own thread and lives
//! until the test process ends.

/// Starts a server and returns its address (`127.0.0.1:port`).
pub fn kassandra() -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let tester = kassandra_tester::KassandraTester::new(kassandra_tester::kassandra::KassandraSession::new());
            let _ = tester
                .in_scope(|addr| {
                    let tx = tx.clone();
                    async move {
                        tx.send(addr).unwrap();
                        std::future::pending::<Result<(), ()>>().await
                    }
                })
                .await;
        });
    });
    rx.recv().unwrap().to_string()
}
