//! Random scenarios drawn from a seed, weighted so that random runs go deep (connect,
//! submit, answer what was sent, let time pass): the core's property tests play them
//! through the same model the fuzzer runs on arbitrary bytes.

use super::ops::*;
use crate::SimRng;

impl Scenario {
    /// A scenario of `ops` operations drawn from `rng`, with a small valid configuration.
    pub fn random(rng: &mut SimRng, ops: usize) -> Self {
        let config = ConfigChoice {
            pipelined: rng.chance(0.5),
            max_in_flight: rng.below(4) as u8,
            // Now and then a config the client must refuse (a 255 here means zero).
            max_queued: if rng.below(40) == 0 { u8::MAX } else { rng.below(6) as u8 },
            max_message_size: 10 + rng.below(40) as u8,
            timeout: TimeoutChoice::Millis(rng.below(200) as u8),
            tries: rng.below(4) as u8,
            backoff: if rng.chance(0.5) { BackoffChoice::Immediate } else { backoff(rng) },
            reconnect: ReconnectChoice {
                initial_ms: rng.below(50) as u8,
                spread: rng.below(8) as u8,
                jitter: jitter(rng),
            },
            seed: rng.next_u64(),
        };
        let ops = (0..ops).map(|_| op(rng)).collect();
        Scenario { config, ops }
    }
}

fn jitter(rng: &mut SimRng) -> JitterChoice {
    rng.pick(&[JitterChoice::None, JitterChoice::Quarter, JitterChoice::Half, JitterChoice::Full])
}

fn backoff(rng: &mut SimRng) -> BackoffChoice {
    BackoffChoice::Exponential {
        initial_ms: rng.below(100) as u8,
        spread: rng.below(8) as u8,
        factor: rng.below(3) as u8,
        jitter: jitter(rng),
    }
}

fn target(rng: &mut SimRng) -> Target {
    let i = rng.below(4) as u8;
    match rng.below(10) {
        0..=6 => Target::Transmitted(i),
        7..=8 => Target::Accepted(i),
        _ => Target::Unknown(i),
    }
}

fn op(rng: &mut SimRng) -> Op {
    match rng.below(100) {
        0..=19 => {
            let options = OptionsChoice {
                timeout: rng.chance(0.2).then(|| RequestTimeout::Valid(TimeoutChoice::Millis(rng.below(250) as u8))),
                tries: rng.chance(0.2).then(|| rng.below(4) as u8),
                backoff: rng.chance(0.1).then(|| backoff(rng)),
            };
            let payload = match rng.below(10) {
                0 => PayloadChoice::Filled { byte: 0x61, len: rng.below(60) as u8 },
                _ => PayloadChoice::Fixed(rng.below(6) as u8),
            };
            Op::Submit { payload, options }
        }
        20..=29 => Op::Connected,
        30..=32 => Op::ConnectFailed,
        33..=35 => Op::PeerLost,
        36..=37 => Op::SendFailed(target(rng)),
        38 => Op::Refusing(rng.chance(0.3)),
        39..=63 => {
            let shape = match rng.below(20) {
                0 => ReplyShape::Oversized(rng.below(4) as u8),
                1 => ReplyShape::MissingDelimiter,
                2 => ReplyShape::NonEmptyDelimiter,
                3 => ReplyShape::BadIdFrame(rng.below(12) as u8),
                4 => ReplyShape::ExtraFrame,
                5 => ReplyShape::AtLimit,
                _ => ReplyShape::Echo,
            };
            Op::Reply { target: target(rng), shape, copies: rng.below(2) as u8 }
        }
        64..=67 => Op::Cancel(target(rng)),
        68..=79 => Op::Tick,
        80..=87 => Op::Advance(Step::Millis(rng.below(300) as u16)),
        88..=91 => Op::HandleTimeout,
        92..=95 => Op::JustBefore,
        96 => Op::Close,
        _ => Op::Advance(Step::Nanos(rng.below(1000) as u16)),
    }
}
