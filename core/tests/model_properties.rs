//! Random scenarios through the reference models of `reqchan-sim` (the same models the
//! fuzzers run on arbitrary bytes): drawn from seeds, so a failure names the seed that
//! replays it. The models check every output and invariant after every operation; this
//! test also makes sure the random runs reach the behaviours worth checking.

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
    let mut totals = [0u64; 5];
    for seed in 0..RUNS {
        let scenario = server::Scenario::random(&mut SimRng::new(seed), 150);
        let stats = std::panic::catch_unwind(|| scenario.play()).unwrap_or_else(|_| panic!("seed {seed} broke a rule"));
        let Some(s) = stats else { continue };
        let counts =
            [s.handler_replies, s.handler_errors, s.timed_out_running, s.refused_queue_full, s.rejected_malformed];
        totals.iter_mut().zip(counts).for_each(|(t, c)| *t += c);
    }
    assert!(totals.iter().all(|&t| t > 0), "some outcome never reached: {totals:?}");
}
