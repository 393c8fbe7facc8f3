//! Scenarios written by hand: each a known behaviour, played through the harness.

use super::ops::*;

/// Routed, one handler, one queued, 100 ms request timeout.
fn scenario(ops: Vec<Op>) -> Scenario {
    let config =
        ConfigChoice { bare: false, max_concurrent: 0, max_queued: 1, max_message_size: 200, request_timeout_ms: 99 };
    Scenario { config, ops }
}

fn ping() -> Op {
    Op::Message { payload: PayloadChoice::Clear(LoadChoice::Ping), framing: FrameShape::Req { identity: 1 } }
}

fn reply(outcome: Outcome) -> Op {
    Op::Handler { target: 0, late: false, outcome }
}

#[test]
fn one_runs_one_waits_the_third_is_refused_and_each_is_answered_once() {
    let ops = vec![ping(), ping(), ping(), reply(Outcome::Reply(LoadChoice::Nil)), reply(Outcome::Panic)];
    let s = scenario(ops).play().expect("a valid config");
    assert_eq!((s.accepted, s.refused_queue_full, s.handler_replies, s.handler_panics), (2, 1, 1, 1), "{s:?}");
}

#[test]
fn bad_input_gets_bad_load_and_a_late_handler_is_refused() {
    let bad = |i| Op::Message { payload: PayloadChoice::Fixed(i), framing: FrameShape::Req { identity: 2 } };
    let late = Op::Handler { target: 0, late: true, outcome: Outcome::Error };
    let ops = vec![bad(0), bad(3), ping(), Op::Tick, late, Op::Shutdown(Step::Millis(5)), ping()];
    let s = scenario(ops).play().expect("a valid config");
    assert_eq!((s.rejected_malformed, s.timed_out_running, s.late_handler_results), (2, 1, 1), "{s:?}");
    assert_eq!(s.refused_shutting_down, 1, "{s:?}");
}
