//! The driver's `tracing` events for resets, retries and timeouts.
//!
//! Alone in its own test binary on purpose: tracing caches each callsite's interest
//! process-wide, so a thread-local subscriber can miss an event whose callsite another
//! test's thread reached first.

use std::time::Duration;

use reqchan_tests::within;
use reqchan_tests::zmqrs::ZmqRsServer;
use reqchan_tokio::{Channel, ChannelConfig, RequestOptions};

const LIMIT: Duration = Duration::from_secs(20);
const TCP_ANY: &str = "tcp://127.0.0.1:0";

/// Collects the `message` of every tracing event, with its level.
#[derive(Default, Clone)]
struct Events(std::sync::Arc<std::sync::Mutex<Vec<(tracing::Level, String)>>>);

impl Events {
    fn has(&self, level: tracing::Level, message: &str) -> bool {
        self.0.lock().unwrap().iter().any(|(l, m)| *l == level && m == message)
    }
}

impl tracing::Subscriber for Events {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        struct Message(String);
        impl tracing::field::Visit for Message {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.0 = format!("{value:?}");
                }
            }
        }
        let mut message = Message(String::new());
        event.record(&mut message);
        self.0.lock().unwrap().push((*event.metadata().level(), message.0));
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[test]
fn resets_retries_and_timeouts_are_traced() {
    let events = Events::default();
    let _default = tracing::subscriber::set_default(events.clone());
    // A current-thread runtime: the driver task runs on this thread, under the subscriber.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let server = ZmqRsServer::router(TCP_ANY, true).await;
        let channel = Channel::connect(server.endpoint(), ChannelConfig::lockstep()).unwrap();
        let options = RequestOptions::default().timeout(Duration::from_millis(50)).tries(2);
        let result = within(LIMIT, "silent", channel.request_raw_with(&b"x"[..], options)).await;
        assert!(result.unwrap_err().is_timeout());
    });
    use tracing::Level;
    assert!(events.has(Level::INFO, "resetting the socket"), "no reset event");
    assert!(events.has(Level::INFO, "retrying"), "no retry event");
    assert!(events.has(Level::WARN, "request timed out"), "no timeout event: {:?}", events.0.lock().unwrap());
}
