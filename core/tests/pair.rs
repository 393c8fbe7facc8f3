//! The whole channel in memory: the core client against the core server, through a
//! ROUTER-like link, in both modes and both lockstep framings.

use std::time::Duration;

use bytes::Bytes;
use reqchan_core::client::{ClientConfig, LockstepFraming, Mode, RequestError, RequestOptions};
use reqchan_core::codec::{self, Crypt, Refusal, Value};
use reqchan_core::server::ServerConfig;
use reqchan_sim::Pair;

fn configs() -> Vec<ClientConfig> {
    let mut lockstep = ClientConfig::default();
    lockstep.defaults.timeout = Duration::from_secs(1);
    let mut plain = lockstep.clone();
    plain.lockstep_framing = LockstepFraming::Plain;
    let mut pipelined = lockstep.clone();
    pipelined.mode = Mode::Pipelined { max_in_flight: 4 };
    vec![lockstep, plain, pipelined]
}

#[test]
fn every_request_gets_its_own_load_back_through_the_core_server() {
    for config in configs() {
        let mut pair = Pair::new(config.clone(), ServerConfig::default());
        for n in 0..10u64 {
            let payload = codec::encode_request(Crypt::Clear, &Value::from(n)).unwrap();
            pair.submit(payload, RequestOptions::default(), 100 + n).unwrap();
        }
        pair.run_until_idle();
        let done = pair.completions();
        assert_eq!(done.len(), 10, "{:?}", config.mode);
        for completion in done {
            let n = completion.tag - 100;
            let reply: Value = codec::decode_reply(completion.result.as_ref().unwrap()).unwrap();
            assert_eq!(reply, Value::from(n), "request {n} got another's reply ({:?})", config.mode);
        }
        assert_eq!(pair.server.stats().replies_sent, 10);
    }
}

#[test]
fn a_malformed_request_comes_back_as_a_typed_refusal() {
    for config in configs() {
        let mut pair = Pair::new(config, ServerConfig::default());
        let detect = RequestOptions::default().detect_refusals(true);
        pair.submit(Bytes::from_static(b"\xc1 not msgpack"), detect, 1).unwrap();
        pair.run_until_idle();
        assert_eq!(pair.completions()[0].result, Err(RequestError::Rejected { reason: Refusal::BadLoad }));
        assert_eq!(pair.client.stats().rejected, 1);
    }
}

#[test]
fn a_handler_that_never_answers_times_the_request_out_then_the_server_answers_for_it() {
    for config in configs() {
        let server = ServerConfig::default().request_timeout(Duration::from_millis(1500));
        let mut pair = Pair::with_handler(config, server, Box::new(|_| None));
        let payload = codec::encode_request(Crypt::Clear, &Value::Nil).unwrap();
        pair.submit(payload, RequestOptions::default().tries(1), 7).unwrap();
        pair.advance(Duration::from_millis(1200));
        assert_eq!(pair.completions()[0].result, Err(RequestError::TimedOut { attempts: 1 }));
        // The server gives up on its handler later and answers for it; that late reply
        // is stray at the client.
        pair.advance(Duration::from_secs(1));
        assert_eq!(pair.server.stats().timed_out_running, 1);
        assert_eq!(pair.completions().len(), 1, "exactly one completion");
    }
}
