//! The adapter from a smol executor, with driver tasks on that executor
//! (`AsyncStdRuntime::with_spawner`): requests are answered by a real libzmq peer, and
//! async-std's own executor is never started (async-io's reactor serves both). A test
//! binary of its own, so no other test starts async-std's executor first.

use std::sync::Arc;
use std::time::Duration;

use reqchan_async_std::{AsyncStdRuntime, Channel, ChannelConfig, Value};
use reqchan_peers::{PythonPeer, python};

/// Names of this process's threads.
fn thread_names() -> Vec<String> {
    let tasks = std::fs::read_dir("/proc/self/task").expect("/proc/self/task");
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|n| n.trim().to_owned())
        .collect()
}

#[test]
fn requests_from_a_smol_executor_start_no_second_executor() {
    let Some(python) = python() else { return };
    let executor = Arc::new(smol::Executor::new());
    let spawner = executor.clone();
    let runtime = AsyncStdRuntime::with_spawner(move |task| spawner.spawn(task).detach());
    smol::block_on(executor.run(async {
        let limit = Duration::from_secs(60);
        reqchan_peers::within(limit, "the test", async {
            let peer = PythonPeer::start(&python, "zmq_peer.py", &["--type", "router"]).await;
            for config in [ChannelConfig::lockstep(), ChannelConfig::pipelined(8)] {
                let channel = Channel::connect_on(&runtime, peer.endpoint(), config).unwrap();
                let replies = futures::future::join_all((0..10u64).map(|n| {
                    let channel = channel.clone();
                    async move { (n, channel.request::<_, Value>(&Value::from(n)).await) }
                }))
                .await;
                for (n, reply) in replies {
                    assert_eq!(reply.unwrap()["load"], Value::from(n));
                }
                channel.close();
            }
        })
        .await;
    }));
    let names = thread_names();
    assert!(!names.iter().any(|n| n.starts_with("async-std")), "async-std's executor started: {names:?}");
}
