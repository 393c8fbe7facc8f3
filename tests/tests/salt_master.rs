//! The reqchan client against a real Salt master: salt 3007.16 from PyPI, whose request
//! server is a ROUTER in front of a DEALER and REP workers.
//!
//! Only requests Salt answers are sent: a request that raises inside a Salt worker is
//! never answered and leaves that worker stuck (the defect reqchan's server does not
//! repeat), which would make later requests depend on which worker they reach.

use std::time::Duration;

use bytes::Bytes;
use futures::future::join_all;
use reqchan_tests::salt::{SaltMaster, salt_master};
use reqchan_tests::within;
use reqchan_tokio::{Channel, ChannelConfig, Error, Refusal, RequestError, RequestOptions, Value};

/// The master starts in a few seconds; the first request waits for it in the queue.
const LIMIT: Duration = Duration::from_secs(120);

fn config(config: ChannelConfig) -> ChannelConfig {
    config.timeout(Duration::from_secs(60)).tries(1).connect_timeout(Duration::from_secs(60))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_salt_master_answers_reqchans_clear_requests() {
    let Some(salt_master) = salt_master() else { return };
    let master = SaltMaster::start(&salt_master);
    let unknown = Value::map([("cmd", "reqchan_no_such_command".into())]);

    // Lockstep, as Salt's minion does: our clear envelope is accepted, and an unknown
    // clear command is answered with an empty map.
    let lockstep = Channel::connect(master.ret_endpoint(), config(ChannelConfig::lockstep())).unwrap();
    let reply: Result<Value, _> = within(LIMIT, "lockstep request", lockstep.request(&unknown)).await;
    assert_eq!(reply.as_ref().ok(), Some(&Value::Map(vec![])), "{reply:?}\nmaster log:\n{}", master.log());

    // Pipelined: the request-id frame travels through Salt's ROUTER/DEALER device and
    // back from its REP workers, so concurrent replies still meet their requests.
    let pipelined = Channel::connect(master.ret_endpoint(), config(ChannelConfig::pipelined(8))).unwrap();
    let replies =
        within(LIMIT, "pipelined requests", join_all((0..16).map(|_| pipelined.request::<_, Value>(&unknown)))).await;
    for reply in replies {
        assert_eq!(reply.unwrap(), Value::Map(vec![]));
    }
    assert_eq!(pipelined.stats().stray_replies, 0);

    // Salt's two "bad load" answers: a msgpack value that is not an envelope gets the
    // bare string, bytes that are not msgpack get {"msg": "bad load"}.
    let not_an_envelope =
        within(LIMIT, "non-map payload", lockstep.request_raw(Bytes::from_static(b"\x92\x01\x02"))).await;
    let reply: Value = reqchan_core::codec::decode_reply(&not_an_envelope.unwrap()).unwrap();
    assert_eq!(reply, Value::from("bad load"));
    let not_msgpack = within(LIMIT, "non-msgpack payload", lockstep.request_raw(Bytes::from_static(b"\xc1"))).await;
    let reply: Value = reqchan_core::codec::decode_reply(&not_msgpack.unwrap()).unwrap();
    assert_eq!(reply, Value::map([("msg", "bad load".into())]));

    // The same refusals, byte for byte what reqchan recognises: with detection on (as
    // every enveloped `request` has), they are typed errors, counted apart.
    let detect = RequestOptions::default().detect_refusals(true);
    for payload in [&b"\x92\x01\x02"[..], &b"\xc1"[..]] {
        let refused = within(LIMIT, "refused payload", lockstep.request_raw_with(payload, detect)).await;
        assert_eq!(refused, Err(Error::Request(RequestError::Rejected { reason: Refusal::BadLoad })));
    }

    let stats = lockstep.stats();
    assert_eq!((stats.transmitted, stats.replied, stats.rejected, stats.retried), (5, 3, 2, 0), "{stats:?}");
    drop((lockstep, pipelined));
    within(LIMIT, "master stop", master.stop()).await;
}
