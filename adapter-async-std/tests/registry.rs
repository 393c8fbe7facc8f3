//! The shared-channel registry under async-std, against a real libzmq peer (pyzmq).
//!
//! Its own test binary: it counts the process's live drivers, so no other test may run
//! channels beside it.

use reqchan_async_std::{Channel, ChannelConfig, ChannelKey, ConnectionState, live_drivers};
use reqchan_peers::{PythonPeer, python};

/// Runs `test` within a bound: nothing here may hang.
async fn bounded<T>(test: impl Future<Output = T>) -> T {
    reqchan_peers::within(std::time::Duration::from_secs(60), "the test", test).await
}

#[async_std::test]
async fn the_registry_shares_a_live_channel_and_the_last_drop_ends_its_driver() {
    let Some(python) = python() else { return };
    bounded(async {
        let peer = PythonPeer::start(&python, "zmq_peer.py", &["--type", "rep"]).await;
        let key = || ChannelKey::new("/tmp/pki", "minion-async-std", peer.endpoint().to_owned());
        assert_eq!(live_drivers(), 0);
        for round in 0..20 {
            let a = Channel::get(key(), ChannelConfig::lockstep()).unwrap();
            let b = Channel::get(key(), ChannelConfig::lockstep()).unwrap();
            assert!(a.same_channel(&b));
            assert_eq!(live_drivers(), 1, "round {round}: one driver for both handles");
            let reply = b.request_raw(&b"\x90"[..]).await.unwrap();
            assert_eq!(reply.as_ref(), b"\x90");
            let mut watch = a.watch();
            drop((a, b));
            // `Closed` is announced once the driver has ended and dropped its socket.
            assert_eq!(watch.wait_for(|s| s == ConnectionState::Closed).await, ConnectionState::Closed);
            assert_eq!(live_drivers(), 0, "round {round}: the driver outlived its last handle");
        }
    })
    .await;
}
