//! Replays the committed corpus of every fuzz target, and the hand-written seeds: what
//! CI runs instead of fuzzing.

use std::path::{Path, PathBuf};

use reqchan_fuzz::client::{self, Seen};
use reqchan_fuzz::{input_files, read, server};

fn dir(kind: &str, target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(kind).join(target)
}

/// The committed corpus of `target`: it must exist and hold at least one input.
fn corpus(target: &str) -> Vec<PathBuf> {
    let dir = dir("corpus", target);
    assert!(dir.is_dir(), "{} is missing", dir.display());
    let files = input_files([dir.clone()]);
    assert!(!files.is_empty(), "{} is empty", dir.display());
    files
}

/// The hand-written seeds of `target`, if it has any.
fn seeds(target: &str) -> Vec<PathBuf> {
    let dir = dir("seeds", target);
    if dir.is_dir() { input_files([dir]) } else { Vec::new() }
}

#[test]
fn every_target_replays_its_corpus_and_seeds() {
    for (target, run) in reqchan_fuzz::TARGETS {
        for path in corpus(target).into_iter().chain(seeds(target)) {
            let data = read(&path);
            let outcome = std::panic::catch_unwind(|| run(&data));
            assert!(outcome.is_ok(), "{target}: {} fails", path.display());
        }
    }
}

/// A corpus that passes proves little if it never gets anywhere: the client's must
/// reach every behaviour the model checks.
#[test]
fn client_corpus_reaches_every_behaviour() {
    let mut seen = Seen::default();
    for path in corpus("client_ops") {
        if let Some(one) = client::play(&read(&path)) {
            seen.add(&one);
        }
    }
    assert!(seen.missing().is_empty(), "the client_ops corpus never reaches {:?}\n{seen:#?}", seen.missing());
}

/// Likewise for the server: every way a request can be answered.
#[test]
fn server_corpus_reaches_every_behaviour() {
    let mut totals = [0u64; 13];
    for path in corpus("server_ops") {
        let Some(s) = server::play(&read(&path)) else { continue };
        let counts = [
            s.handler_replies,
            s.handler_errors,
            s.handler_panics,
            s.replies_too_large,
            s.timed_out_running,
            s.timed_out_queued,
            s.refused_queue_full,
            s.refused_shutting_down,
            s.refused_shutting_down_queued,
            s.rejected_malformed,
            s.rejected_too_large,
            s.unroutable,
            s.late_handler_results,
        ];
        for (total, n) in totals.iter_mut().zip(counts) {
            *total += n;
        }
    }
    let names = [
        "handler_replies",
        "handler_errors",
        "handler_panics",
        "replies_too_large",
        "timed_out_running",
        "timed_out_queued",
        "refused_queue_full",
        "refused_shutting_down",
        "refused_shutting_down_queued",
        "rejected_malformed",
        "rejected_too_large",
        "unroutable",
        "late_handler_results",
    ];
    let missing: Vec<&str> = names.iter().zip(totals).filter(|(_, n)| *n == 0).map(|(name, _)| *name).collect();
    assert!(missing.is_empty(), "the server_ops corpus never reaches {missing:?}");
}

/// The salt seeds must get past the MAC, the marker and the nonce to a decoded answer
/// (`salt::request_nonce` is the nonce they carry); if the target's session or nonce
/// changes, the seeds must be remade.
#[test]
fn salt_seeds_open_to_an_answer() {
    let opened = seeds("salt_reply").iter().filter(|path| reqchan_fuzz::salt::opens(&read(path))).count();
    assert!(opened >= 2, "only {opened} salt_reply seeds open (nonce {})", reqchan_fuzz::salt::request_nonce());
}
