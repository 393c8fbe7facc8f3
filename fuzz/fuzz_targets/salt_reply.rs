//! The `salt_reply` fuzz target: see `reqchan_fuzz::salt`.
//!
//! Under cargo-fuzz (`--cfg fuzzing`) libFuzzer drives it; otherwise it is a plain
//! program that replays the files and directories named on its command line.
#![cfg_attr(fuzzing, no_main)]

#[cfg(fuzzing)]
libfuzzer_sys::fuzz_target!(|data: &[u8]| reqchan_fuzz::salt::run(data));

#[cfg(not(fuzzing))]
fn main() {
    reqchan_fuzz::replay_args(reqchan_fuzz::salt::run);
}
