//! Random scenarios drawn from a seed, weighted so that random runs go deep (valid
//! requests, handler results in any order, timeouts, shutdown): the core's property
//! tests play them through the same model the fuzzer runs on arbitrary bytes.

use super::ops::*;
use crate::SimRng;

impl Scenario {
    /// A scenario of `ops` operations drawn from `rng`, with a small valid configuration.
    pub fn random(rng: &mut SimRng, ops: usize) -> Self {
        let config = ConfigChoice {
            bare: rng.chance(0.3),
            max_concurrent: rng.below(4) as u8,
            max_queued: rng.below(5) as u8,
            max_message_size: 40 + rng.below(200) as u8,
            request_timeout_ms: 1 + rng.below(200) as u8,
        };
        let ops = (0..ops).map(|_| op(rng)).collect();
        Scenario { config, ops }
    }
}

fn load(rng: &mut SimRng) -> LoadChoice {
    match rng.below(4) {
        0 => LoadChoice::Ping,
        1 => LoadChoice::Auth { id: rng.below(8) as u8 },
        2 => LoadChoice::Number(rng.below(1000) as i64 - 500),
        _ => LoadChoice::Nil,
    }
}

fn op(rng: &mut SimRng) -> Op {
    match rng.below(100) {
        0..=34 => {
            let payload = match rng.below(10) {
                0 => PayloadChoice::Fixed(rng.below(8) as u8),
                1 => PayloadChoice::Oversized(rng.below(4) as u8),
                2 => PayloadChoice::Aes(load(rng)),
                _ => PayloadChoice::Clear(load(rng)),
            };
            let identity = rng.below(4) as u8;
            let framing = match rng.below(20) {
                0 => FrameShape::NoDelimiter,
                1 => FrameShape::TwoPayloads,
                2 => FrameShape::NoFrames,
                3 => FrameShape::NoPayload,
                4..=11 => FrameShape::Dealer { identity, request_id: rng.below(1000) },
                _ => FrameShape::Req { identity },
            };
            Op::Message { payload, framing }
        }
        35..=69 => {
            let outcome = match rng.below(10) {
                0 => Outcome::Error,
                1 => Outcome::Panic,
                2 => Outcome::Large(rng.below(4) as u8),
                _ => Outcome::Reply(load(rng)),
            };
            Op::Handler { target: rng.below(4) as u8, late: rng.chance(0.1), outcome }
        }
        70..=79 => Op::Tick,
        80..=87 => Op::Advance(Step::Millis(rng.below(120) as u8)),
        88..=92 => Op::HandleTimeout,
        93..=97 => Op::JustBefore,
        _ => Op::Shutdown(Step::Millis(rng.below(100) as u8)),
    }
}
