//! Scenarios written by hand: each a known behaviour, played through the harness.

use super::ops::*;

/// Lockstep or pipelined (2 in flight), 3 requests queued at most, 100 ms timeout,
/// 2 tries, no backoff.
fn scenario(pipelined: bool, ops: Vec<Op>) -> Scenario {
    let config = ConfigChoice {
        pipelined,
        max_in_flight: 1,
        max_queued: 2,
        max_message_size: 39,
        timeout: TimeoutChoice::Millis(99),
        tries: 1,
        backoff: BackoffChoice::Immediate,
        reconnect: ReconnectChoice { initial_ms: 9, spread: 0, jitter: JitterChoice::Half },
        seed: 7,
    };
    Scenario { config, ops }
}

fn submit() -> Op {
    let options = OptionsChoice { timeout: None, tries: None, backoff: None };
    Op::Submit { payload: PayloadChoice::Fixed(0), options }
}

#[test]
fn silent_server_two_attempts_then_timed_out() {
    for pipelined in [false, true] {
        let ops = vec![submit(), Op::Connected, Op::Tick, Op::Connected, Op::Tick, Op::Tick];
        let seen = scenario(pipelined, ops).play();
        assert_eq!((seen.retries, seen.timed_out), (1, 1), "{seen:?}");
    }
}

#[test]
fn a_refusing_socket_cannot_keep_a_request_past_its_queue_deadline() {
    let mut ops = vec![submit(), Op::Advance(Step::Millis(50)), Op::Refusing(true)];
    for _ in 0..4 {
        ops.extend([Op::Connected, Op::Advance(Step::Millis(10))]);
    }
    ops.push(Op::Tick);
    let seen = scenario(false, ops).play();
    assert_eq!(seen.expired_in_queue, 1, "{seen:?}");
    assert_eq!(seen.send_failures, 4, "{seen:?}");
}

#[test]
fn identical_payloads_are_two_requests_and_replies_match_by_id() {
    let reply = |i| Op::Reply { target: Target::Transmitted(i), shape: ReplyShape::Echo, copies: 1 };
    let ops = vec![submit(), submit(), Op::Connected, reply(0), reply(1)];
    let seen = scenario(true, ops).play();
    // Each reply delivered twice: the second copy is stray.
    assert_eq!((seen.replied, seen.stray), (2, 2), "{seen:?}");
}
