//! The channel registry with real drivers and sockets: shared per key and runtime,
//! held weakly, dead channels replaced, and no leak of tasks, sockets or file
//! descriptors over many get/drop cycles.
//!
//! The tests here count process-wide resources, so they run one at a time.

use std::sync::Mutex;
use std::time::Duration;

use reqchan_driver::client::{live_drivers, registered_channels};
use reqchan_tests::zmqrs::ZmqRsServer;
use reqchan_tests::{eventually, open_fds, within};
use reqchan_tokio::{BuildError, Channel, ChannelConfig, ChannelKey, ConnectionState, Error, TokioRuntime};

const LIMIT: Duration = Duration::from_secs(20);

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn key(master_uri: &str) -> ChannelKey {
    ChannelKey::new("/etc/salt/pki/minion", "minion-1", master_uri)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

#[test]
fn one_live_channel_per_key_and_runtime() {
    let _serial = serial();
    let rt = runtime();
    rt.block_on(async {
        let server = ZmqRsServer::rep("tcp://127.0.0.1:0").await;
        let other = ZmqRsServer::rep("tcp://127.0.0.1:0").await;
        let a = Channel::get(key(server.endpoint()), ChannelConfig::lockstep()).unwrap();
        let b = Channel::get(key(server.endpoint()), ChannelConfig::lockstep()).unwrap();
        assert!(a.same_channel(&b), "same key, same runtime: one channel");
        let conflicting = Channel::get(key(server.endpoint()), ChannelConfig::pipelined(8));
        assert!(matches!(conflicting, Err(reqchan_tokio::BuildError::ConfigMismatch { .. })), "never ignored silently");
        let c = Channel::get(key(other.endpoint()), ChannelConfig::lockstep()).unwrap();
        assert!(!a.same_channel(&c));
        let d = Channel::get(key(server.endpoint()).with_crypt(reqchan_tokio::Crypt::Clear), ChannelConfig::lockstep());
        assert!(a.same_channel(&d.unwrap()));
        within(LIMIT, "request", a.request_raw(&b"x"[..])).await.unwrap();
        within(LIMIT, "request", b.request_raw(&b"y"[..])).await.unwrap();
        assert_eq!(a.stats().replied, 2, "both handles drive one socket");
    });
}

#[test]
fn a_closed_channel_is_replaced_never_handed_out() {
    let _serial = serial();
    runtime().block_on(async {
        let server = ZmqRsServer::rep("tcp://127.0.0.1:0").await;
        let a = Channel::get(key(server.endpoint()), ChannelConfig::lockstep()).unwrap();
        a.close();
        let b = Channel::get(key(server.endpoint()), ChannelConfig::lockstep()).unwrap();
        assert!(!a.same_channel(&b));
        assert!(b.is_live());
        within(LIMIT, "request on the replacement", b.request_raw(&b"x"[..])).await.unwrap();
    });
}

#[test]
fn many_get_drop_cycles_leak_no_task_socket_or_fd() {
    let _serial = serial();
    let rt = runtime();
    rt.block_on(async {
        let server = ZmqRsServer::rep("tcp://127.0.0.1:0").await;
        let tasks = || tokio::runtime::Handle::current().metrics().num_alive_tasks();
        let drivers_before = live_drivers();
        let cycle = |n: u64| {
            let endpoint = server.endpoint().to_owned();
            async move {
                let channel = Channel::get(key(&endpoint), ChannelConfig::lockstep()).unwrap();
                let clone = channel.clone();
                let reply = within(LIMIT, "request", clone.request_raw(n.to_be_bytes().to_vec())).await.unwrap();
                assert_eq!(&reply[..], n.to_be_bytes());
                let mut watch = channel.watch();
                drop((channel, clone));
                // The driver task ends, and with it the socket: `Closed` announces both.
                let state = within(LIMIT, "driver ended", watch.wait_for(|s| s == ConnectionState::Closed)).await;
                assert_eq!(state, ConnectionState::Closed);
                assert_eq!(live_drivers(), drivers_before);
            }
        };
        // Warm up (zeromq's lazily created state, the server's first accept).
        for n in 0..5 {
            cycle(n).await;
        }
        let (fds, alive) = (open_fds(), tasks());
        for n in 5..205 {
            cycle(n).await;
        }
        assert_eq!(live_drivers(), drivers_before);
        assert_eq!(registered_channels(), 0);
        // The server side of each closed connection goes away too; allow it a moment.
        eventually(LIMIT, "tasks back to the baseline", || tasks() <= alive).await;
        eventually(LIMIT, "fds back to the baseline", || open_fds() <= fds).await;
        eprintln!("after 200 cycles: {} fds (baseline {fds}), {} tasks (baseline {alive})", open_fds(), tasks());
    });
}

#[test]
fn two_runtimes_get_two_channels_and_a_dead_runtime_s_channel_is_replaced() {
    let _serial = serial();
    let server_rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let server = server_rt.block_on(ZmqRsServer::rep("tcp://127.0.0.1:0"));
    let endpoint = server.endpoint().to_owned();

    let rt_a = runtime();
    let rt_b = runtime();
    let a = rt_a.block_on(async { Channel::get(key(&endpoint), ChannelConfig::lockstep()).unwrap() });
    let b = rt_b.block_on(async { Channel::get(key(&endpoint), ChannelConfig::lockstep()).unwrap() });
    assert!(!a.same_channel(&b), "each runtime has its own channel");
    let a2 = rt_a.block_on(async { Channel::get(key(&endpoint), ChannelConfig::lockstep()).unwrap() });
    assert!(a.same_channel(&a2));
    // Each works on its own runtime.
    rt_a.block_on(async { within(LIMIT, "a", a.request_raw(&b"a"[..])).await.unwrap() });
    rt_b.block_on(async { within(LIMIT, "b", b.request_raw(&b"b"[..])).await.unwrap() });

    // Runtime B shuts down: its driver is dropped with it. The handle still held
    // reports the channel dead and fails at once instead of hanging.
    let tokio_b = TokioRuntime::from_handle(rt_b.handle().clone());
    drop(rt_b);
    assert!(!b.is_live());
    let gone = rt_a.block_on(async { within(LIMIT, "request on a dead runtime", b.request_raw(&b"b"[..])).await });
    assert_eq!(gone.unwrap_err(), Error::DriverGone);
    // The registry never hands it out: asking on the dead runtime is refused ...
    assert_eq!(
        Channel::get_on(&tokio_b, key(&endpoint), ChannelConfig::lockstep()).unwrap_err(),
        BuildError::RuntimeShutDown
    );
    // ... and a new runtime gets a new, live channel.
    let rt_c = runtime();
    let c = rt_c.block_on(async { Channel::get(key(&endpoint), ChannelConfig::lockstep()).unwrap() });
    assert!(!c.same_channel(&b) && c.is_live());
    rt_c.block_on(async { within(LIMIT, "c", c.request_raw(&b"c"[..])).await.unwrap() });
    assert!(a.is_live(), "runtime A's channel is untouched");
    drop((a, a2, b, c));
    drop((rt_a, rt_c));
    assert_eq!(registered_channels(), 0);
    server_rt.block_on(server.stop());
}
