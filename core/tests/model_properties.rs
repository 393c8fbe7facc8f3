//! Random scenarios through the reference models of `reqchan-sim` (the same models the
//! fuzzers run on arbitrary bytes): drawn from seeds, so a failure names the seed that
//! replays it. The models check every output and invariant after every operation; this
//! test also makes sure the random runs reach the behaviours worth checking.

use reqchan_core::server::ServerStats;
use reqchan_sim::SimRng;
use reqchan_sim::model::{client, server};

const RUNS: u64 = 400;

#[test]
fn random_client_scenarios_keep_every_rule_of_the_model() {
    let mut seen = client::Seen::default();
    for seed in 0..RUNS {
        let scenario = client::Scenario::random(&mut SimRng::new(seed), 150);
        let one = std::panic::catch_unwind(|| scenario.play()).unwrap_or_else(|_| panic!("seed {seed} broke a rule"));
        seen.add(&one);
    }
    assert!(seen.missing().is_empty(), "random scenarios never reached {:?}\n{seen:#?}", seen.missing());
}

#[test]
fn random_server_scenarios_keep_every_rule_of_the_model() {
    let mut totals = ServerStats::default();
    for seed in 0..RUNS {
        let scenario = server::Scenario::random(&mut SimRng::new(seed), 150);
        let stats = std::panic::catch_unwind(|| scenario.play()).unwrap_or_else(|_| panic!("seed {seed} broke a rule"));
        let Some(s) = stats else { continue };
        add(&mut totals, &s);
    }
    // Every path was taken somewhere in the runs.
    let t = totals;
    for (name, n) in [
        ("accepted", t.accepted),
        ("unroutable", t.unroutable),
        ("rejected_malformed", t.rejected_malformed),
        ("rejected_too_large", t.rejected_too_large),
        ("refused_queue_full", t.refused_queue_full),
        ("refused_shutting_down", t.refused_shutting_down),
        ("refused_shutting_down_queued", t.refused_shutting_down_queued),
        ("handler_replies", t.handler_replies),
        ("handler_errors", t.handler_errors),
        ("handler_panics", t.handler_panics),
        ("replies_too_large", t.replies_too_large),
        ("timed_out_running", t.timed_out_running),
        ("timed_out_queued", t.timed_out_queued),
        ("late_handler_results", t.late_handler_results),
    ] {
        assert!(n > 0, "no random scenario reached {name}: {t:?}");
    }
}

/// Sums two runs' counters.
fn add(t: &mut ServerStats, s: &ServerStats) {
    t.accepted += s.accepted;
    t.unroutable += s.unroutable;
    t.rejected_malformed += s.rejected_malformed;
    t.rejected_too_large += s.rejected_too_large;
    t.refused_queue_full += s.refused_queue_full;
    t.refused_shutting_down += s.refused_shutting_down;
    t.refused_shutting_down_queued += s.refused_shutting_down_queued;
    t.handler_replies += s.handler_replies;
    t.handler_errors += s.handler_errors;
    t.handler_panics += s.handler_panics;
    t.replies_too_large += s.replies_too_large;
    t.timed_out_running += s.timed_out_running;
    t.timed_out_queued += s.timed_out_queued;
    t.late_handler_results += s.late_handler_results;
}
