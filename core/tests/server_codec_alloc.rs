//! The codec reserves no memory for a length that the input cannot back.
//!
//! `unsafe` is forbidden in this workspace, so instead of a counting allocator this
//! reads the process's peak virtual size (`VmPeak`, Linux): a decoder that reserved a
//! declared 4 GiB would raise it by 4 GiB even if it never touched the pages. This file
//! holds a single test so nothing else runs in the process meanwhile.

#![cfg(target_os = "linux")]

use reqchan_core::codec::{self, Value};

fn vm_peak_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmPeak:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmPeak in /proc/self/status")
}

#[test]
fn hostile_declared_lengths_reserve_no_memory() {
    let hostile: &[&[u8]] = &[
        b"\xdb\xff\xff\xff\xff abc",     // str32 of 4 GiB
        b"\xc6\xff\xff\xff\xff\x00",     // bin32 of 4 GiB
        b"\xc9\xff\xff\xff\xff\x01\x00", // ext32 of 4 GiB
        b"\xdd\xff\xff\xff\xff\x01\x02", // array32 of 4G items
        b"\xdf\xff\xff\xff\xff\x01\x02", // map32 of 4G entries
        b"\x83\xa3enc\xa5clear\xa7version\x03\xa4load\xdd\x7f\xff\xff\xff\xc0",
    ];
    let before = vm_peak_kib();
    for _ in 0..10 {
        for wire in hostile {
            assert!(codec::decode_reply::<Value>(wire).is_err());
            assert!(codec::decode_request(wire).is_err());
            assert!(codec::decode_reply::<Vec<String>>(wire).is_err());
            assert!(codec::decode_reply::<Vec<u8>>(wire).is_err());
        }
    }
    // Declared lengths that the bytes do back still decode.
    let mut wire = vec![0xdc, 0xff, 0xff];
    wire.extend(std::iter::repeat_n(0xc0u8, 0xffff));
    let value: Value = codec::decode_reply(&wire).unwrap();
    assert!(matches!(value, Value::Array(ref items) if items.len() == 0xffff));
    let grown = vm_peak_kib().saturating_sub(before);
    assert!(grown < 64 * 1024, "peak virtual size grew by {grown} KiB");
}
