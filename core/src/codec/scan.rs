//! A non-recursive msgpack structure scanner.
//!
//! Before anything is handed to rmp-serde, [`value_end`] walks the bytes once with an
//! explicit stack: it finds where the first value ends (so trailing bytes can be
//! refused), bounds the nesting depth (so decoding can never overflow the stack), and
//! proves that every declared length is backed by bytes that exist (so no decoder
//! allocates for a length the input cannot hold). Its stack of counters lives on the call
//! stack for the first few levels of nesting and allocates only for values nested deeper.

use super::error::MsgpackError;

/// How deeply arrays, maps and ext values may nest in a decoded message.
///
/// Salt loads nest a handful of levels; 100 leaves a wide margin while keeping the
/// recursive serde decode well inside a 2 MiB thread stack, even in debug builds.
pub const MAX_DEPTH: usize = 100;

/// Returns the offset one past the end of the msgpack value starting at `start`.
pub(crate) fn value_end(bytes: &[u8], start: usize) -> Result<usize, MsgpackError> {
    value_end_within(bytes, start, u64::MAX)
}

/// [`value_end`], refusing a value made of more than `max_elements` items (scalars,
/// strings, containers and map keys each count one), which bounds what decoding it
/// can allocate.
pub(crate) fn value_end_within(bytes: &[u8], start: usize, max_elements: u64) -> Result<usize, MsgpackError> {
    let mut pos = start;
    let mut elements: u64 = 0;
    // Items still to read in the innermost open container (the top level is one item).
    let mut pending: u64 = 1;
    // `pending` of each enclosing container, innermost last.
    let mut stack = Stack::default();
    loop {
        let head = header(bytes, pos)?;
        elements += 1;
        if elements > max_elements {
            return Err(MsgpackError::TooManyElements { limit: max_elements });
        }
        pos = pos
            .checked_add(head.header_len)
            .and_then(|p| p.checked_add(head.data_len))
            .filter(|&end| end <= bytes.len())
            .ok_or(MsgpackError::Truncated { offset: pos })?;
        pending -= 1;
        if head.container && stack.len >= MAX_DEPTH {
            return Err(MsgpackError::TooDeep { limit: MAX_DEPTH });
        }
        if head.children > 0 {
            // Every item takes at least one byte: a declared count larger than what is
            // left can never be satisfied, so fail now instead of walking to the end.
            if head.children > (bytes.len() - pos) as u64 {
                return Err(MsgpackError::Truncated { offset: pos });
            }
            stack.push(pending);
            pending = head.children;
        }
        while pending == 0 {
            match stack.pop() {
                Some(outer) => pending = outer,
                None => return Ok(pos),
            }
        }
    }
}

/// The scanner's stack: the first [`Stack::INLINE`] levels in place (a request envelope
/// and most loads need no more), deeper ones in a vector.
#[derive(Default)]
struct Stack {
    inline: [u64; Stack::INLINE],
    deeper: Vec<u64>,
    len: usize,
}

impl Stack {
    const INLINE: usize = 8;

    fn push(&mut self, pending: u64) {
        match self.inline.get_mut(self.len) {
            Some(slot) => *slot = pending,
            None => self.deeper.push(pending),
        }
        self.len += 1;
    }

    fn pop(&mut self) -> Option<u64> {
        self.len = self.len.checked_sub(1)?;
        match self.inline.get(self.len) {
            Some(&pending) => Some(pending),
            None => self.deeper.pop(),
        }
    }
}

/// The shape of one msgpack item: its header, inline data, and child items.
struct Header {
    header_len: usize,
    data_len: usize,
    children: u64,
    container: bool,
}

fn header(bytes: &[u8], pos: usize) -> Result<Header, MsgpackError> {
    let truncated = MsgpackError::Truncated { offset: pos };
    let marker = *bytes.get(pos).ok_or(truncated.clone())?;
    // Reads a big-endian length of `n` bytes right after the marker.
    let len = |n: usize| -> Result<u64, MsgpackError> {
        let raw = bytes.get(pos + 1..pos + 1 + n).ok_or(truncated.clone())?;
        Ok(raw.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    };
    let fixed = |header_len: usize, data_len: usize| Header { header_len, data_len, children: 0, container: false };
    let sized = |n: usize, extra: usize| -> Result<Header, MsgpackError> {
        let data = usize::try_from(len(n)?).map_err(|_| truncated.clone())?;
        Ok(fixed(1 + n + extra, data))
    };
    let container = |n: usize, per_entry: u64| -> Result<Header, MsgpackError> {
        Ok(Header { header_len: 1 + n, data_len: 0, children: len(n)? * per_entry, container: true })
    };
    Ok(match marker {
        0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => fixed(1, 0),
        0x80..=0x8f => Header { header_len: 1, data_len: 0, children: u64::from(marker & 0x0f) * 2, container: true },
        0x90..=0x9f => Header { header_len: 1, data_len: 0, children: u64::from(marker & 0x0f), container: true },
        0xa0..=0xbf => fixed(1, usize::from(marker & 0x1f)),
        0xc1 => return Err(MsgpackError::ReservedMarker { offset: pos }),
        // bin 8/16/32 and str 8/16/32
        0xc4 | 0xd9 => sized(1, 0)?,
        0xc5 | 0xda => sized(2, 0)?,
        0xc6 | 0xdb => sized(4, 0)?,
        // ext 8/16/32: length, then a one-byte type
        0xc7 => sized(1, 1)?,
        0xc8 => sized(2, 1)?,
        0xc9 => sized(4, 1)?,
        0xca => fixed(1, 4),
        0xcb => fixed(1, 8),
        0xcc | 0xd0 => fixed(1, 1),
        0xcd | 0xd1 => fixed(1, 2),
        0xce | 0xd2 => fixed(1, 4),
        0xcf | 0xd3 => fixed(1, 8),
        // fixext 1/2/4/8/16: a one-byte type, then the data
        0xd4 => fixed(2, 1),
        0xd5 => fixed(2, 2),
        0xd6 => fixed(2, 4),
        0xd7 => fixed(2, 8),
        0xd8 => fixed(2, 16),
        0xdc => container(2, 1)?,
        0xdd => container(4, 1)?,
        0xde => container(2, 2)?,
        0xdf => container(4, 2)?,
    })
}

/// Checks that `bytes` hold exactly one msgpack value within the depth limit and the
/// element budget.
pub(crate) fn check_whole(bytes: &[u8], max_elements: u64) -> Result<(), MsgpackError> {
    let end = value_end_within(bytes, 0, max_elements)?;
    if end == bytes.len() { Ok(()) } else { Err(MsgpackError::TrailingBytes { count: bytes.len() - end }) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_and_containers_end_where_expected() {
        assert_eq!(value_end(&[0x01], 0), Ok(1));
        assert_eq!(value_end(&[0xc0, 0xc0], 0), Ok(1));
        // {"a": [1, 2]}
        assert_eq!(value_end(&[0x81, 0xa1, b'a', 0x92, 0x01, 0x02], 0), Ok(6));
        // str8 of length 2
        assert_eq!(value_end(&[0xd9, 0x02, b'h', b'i'], 0), Ok(4));
        // fixext1 with type 5
        assert_eq!(value_end(&[0xd4, 0x05, 0xaa], 0), Ok(3));
        // ext8 of length 2 with type 1
        assert_eq!(value_end(&[0xc7, 0x02, 0x01, 0xaa, 0xbb], 0), Ok(5));
        // uint64
        assert_eq!(value_end(&[0xcf, 0, 0, 0, 0, 0, 0, 0, 1], 0), Ok(9));
        // empty containers
        assert_eq!(value_end(&[0x90], 0), Ok(1));
        assert_eq!(value_end(&[0xdf, 0, 0, 0, 0], 0), Ok(5));
    }

    #[test]
    fn truncation_is_reported_not_panicked() {
        assert!(matches!(value_end(&[], 0), Err(MsgpackError::Truncated { .. })));
        assert!(matches!(value_end(&[0x92, 0x01], 0), Err(MsgpackError::Truncated { .. })));
        assert!(matches!(value_end(&[0xcd, 0x01], 0), Err(MsgpackError::Truncated { .. })));
        // str32 declaring 4 GiB with 3 bytes present
        assert!(matches!(
            value_end(&[0xdb, 0xff, 0xff, 0xff, 0xff, b'a', b'b', b'c'], 0),
            Err(MsgpackError::Truncated { .. })
        ));
        // map32 declaring 2^32-1 entries
        assert!(matches!(value_end(&[0xdf, 0xff, 0xff, 0xff, 0xff, 0x01], 0), Err(MsgpackError::Truncated { .. })));
    }

    #[test]
    fn reserved_marker_is_refused() {
        assert_eq!(value_end(&[0x91, 0xc1], 0), Err(MsgpackError::ReservedMarker { offset: 1 }));
    }

    #[test]
    fn depth_is_bounded_without_recursion() {
        let mut deep = vec![0x91u8; 100_000];
        deep.push(0xc0);
        assert_eq!(value_end(&deep, 0), Err(MsgpackError::TooDeep { limit: MAX_DEPTH }));
        // MAX_DEPTH nested arrays, the innermost empty: accepted.
        let mut ok = vec![0x91u8; MAX_DEPTH - 1];
        ok.push(0x90);
        assert_eq!(value_end(&ok, 0), Ok(MAX_DEPTH));
        // One more level: refused, even though the innermost array is empty.
        let mut too_deep = vec![0x91u8; MAX_DEPTH];
        too_deep.push(0x90);
        assert_eq!(value_end(&too_deep, 0), Err(MsgpackError::TooDeep { limit: MAX_DEPTH }));
    }

    #[test]
    fn trailing_bytes_are_counted() {
        assert_eq!(check_whole(&[0x01, 0x02, 0x03], u64::MAX), Err(MsgpackError::TrailingBytes { count: 2 }));
        assert_eq!(check_whole(&[0x90], u64::MAX), Ok(()));
    }

    #[test]
    fn the_element_budget_counts_every_item() {
        // [nil, nil, nil]: four items (the array and its three elements).
        let three_nils = [0x93, 0xc0, 0xc0, 0xc0];
        assert_eq!(check_whole(&three_nils, 4), Ok(()));
        assert_eq!(check_whole(&three_nils, 3), Err(MsgpackError::TooManyElements { limit: 3 }));
        // {"a": 1}: the map, its key and its value.
        let map = [0x81, 0xa1, b'a', 0x01];
        assert_eq!(check_whole(&map, 3), Ok(()));
        assert_eq!(check_whole(&map, 2), Err(MsgpackError::TooManyElements { limit: 2 }));
        // A long string is one item, however long.
        let mut long = vec![0xdb, 0x00, 0x01, 0x00, 0x00];
        long.resize(5 + 65_536, b'x');
        assert_eq!(check_whole(&long, 1), Ok(()));
    }
}
