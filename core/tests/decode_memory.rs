//! What decoding a reply costs in heap memory, for the shapes that cost most per byte,
//! and the element budget that bounds it. Allocation is counted by a global allocator,
//! so the figures are exact for this build, not timings.
//!
//! Run with `--nocapture` to print the table quoted in `DecodeLimits`' docs.

use std::sync::Mutex;

use reqchan_core::codec::{DecodeError, DecodeLimits, MsgpackError, Value, decode_reply, decode_reply_with};

#[global_allocator]
static ALLOCATOR: dhat::Alloc = dhat::Alloc;

/// One heap profiler may run at a time: the tests in this binary take turns.
static SERIAL: Mutex<()> = Mutex::new(());

/// Peak heap bytes allocated while `f` runs, above what was allocated before.
fn peak_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let _profiler = dhat::Profiler::builder().testing().build();
    let base = dhat::HeapStats::get().curr_bytes;
    let out = f();
    (out, dhat::HeapStats::get().max_bytes - base)
}

/// `count` items under an array32 header, each `item`.
fn array_of(count: usize, item: &[u8]) -> Vec<u8> {
    let mut bytes = vec![0xdd];
    bytes.extend_from_slice(&(count as u32).to_be_bytes());
    for _ in 0..count {
        bytes.extend_from_slice(item);
    }
    bytes
}

/// `count` entries under a map32 header, each `nil: nil`.
fn map_of_nils(count: usize) -> Vec<u8> {
    let mut bytes = vec![0xdf];
    bytes.extend_from_slice(&(count as u32).to_be_bytes());
    bytes.resize(5 + 2 * count, 0xc0);
    bytes
}

/// The most heap one element may cost, as `DecodeLimits`' docs state.
const BYTES_PER_ELEMENT: usize = 66;

#[test]
fn the_costliest_shapes_stay_within_the_documented_bytes_per_element() {
    let _serial = SERIAL.lock().unwrap();
    // Just past a power of two: the array's buffer has just doubled, the costliest moment.
    let n = (1 << 17) + 1;
    let shapes: [(&str, Vec<u8>, usize); 4] = [
        ("array of nils", array_of(n, &[0xc0]), n + 1),
        ("array of empty arrays", array_of(n, &[0x90]), n + 1),
        ("array of 1-char strings", array_of(n, &[0xa1, b'x']), n + 1),
        ("map of nil: nil", map_of_nils(n), 2 * n + 1),
    ];
    println!("| shape | reply bytes | elements | peak heap | per element | per reply byte |");
    for (name, bytes, elements) in shapes {
        let (value, peak) = peak_during(|| decode_reply::<Value>(&bytes).unwrap());
        drop(value);
        let per_element = peak as f64 / elements as f64;
        println!(
            "| {name} | {} | {elements} | {peak} | {per_element:.1} | {:.1} |",
            bytes.len(),
            peak as f64 / bytes.len() as f64
        );
        assert!(
            peak <= BYTES_PER_ELEMENT * elements,
            "{name}: {peak} bytes for {elements} elements is more than {BYTES_PER_ELEMENT} per element"
        );
    }
}

#[test]
fn a_reply_over_the_element_budget_is_refused_before_anything_is_decoded() {
    let _serial = SERIAL.lock().unwrap();
    // 8 MiB of nils: without a budget this took 865 MB.
    let bytes = array_of(8 << 20, &[0xc0]);
    let (result, peak) = peak_during(|| decode_reply::<Value>(&bytes));
    let limit = DecodeLimits::DEFAULT_MAX_ELEMENTS;
    assert_eq!(result, Err(DecodeError::NotMsgpack(MsgpackError::TooManyElements { limit })));
    assert!(peak < 64 << 10, "refusing it allocated {peak} bytes");

    // A budget of one's own: the same reply decodes when the budget allows it.
    let small = array_of(1000, &[0xc0]);
    let tight = DecodeLimits::default().max_elements(1000);
    assert!(decode_reply_with::<Value>(&small, tight).is_err(), "1,001 elements with a budget of 1,000");
    let enough = DecodeLimits::default().max_elements(1001);
    assert_eq!(decode_reply_with::<Value>(&small, enough).unwrap().as_array().map(<[Value]>::len), Some(1000));
}
