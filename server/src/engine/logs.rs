//! Bounded per-stream output buffers addressed by absolute byte offsets.
//!
//! Offsets only grow; the buffer keeps the newest `cap` bytes. A reader that
//! asks for an offset older than what is kept gets what is kept and learns it
//! missed something (`dropped`). Bytes are stored as read from the pipe:
//! partial lines and non-UTF-8 stay intact and are made lossy only on display.

use bytes::Bytes;
use std::collections::VecDeque;

#[derive(Debug)]
pub struct StreamBuf {
    chunks: VecDeque<Bytes>,
    /// Absolute offset of the first kept byte.
    start: u64,
    /// Absolute offset just past the last byte.
    end: u64,
    cap: usize,
    /// The pipe reached end of file.
    pub closed: bool,
}

/// A range read out of a buffer.
#[derive(Debug, Default, PartialEq)]
pub struct Slice {
    pub bytes: Vec<u8>,
    /// Offset just past `bytes`.
    pub next: u64,
    /// Bytes between the requested offset and what was kept (lost to the cap).
    pub dropped: u64,
}

impl StreamBuf {
    pub fn new(cap: usize) -> Self {
        StreamBuf {
            chunks: VecDeque::new(),
            start: 0,
            end: 0,
            cap: cap.max(1),
            closed: false,
        }
    }

    pub fn start(&self) -> u64 {
        self.start
    }

    pub fn end(&self) -> u64 {
        self.end
    }

    /// Bytes kept now.
    pub fn len(&self) -> usize {
        (self.end - self.start) as usize
    }

    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }

    /// Copy what is kept into one buffer of its own, so that it holds only
    /// its own bytes (no read buffer it was sliced from, no chunk list).
    pub fn compact(&mut self) {
        if self.chunks.len() == 1 && self.chunks[0].len() == self.len() {
            // One chunk may still be a slice of a bigger read buffer.
            let c = &self.chunks[0];
            self.chunks[0] = Bytes::copy_from_slice(c);
        } else if !self.chunks.is_empty() {
            let all = self.read(self.start, usize::MAX).bytes;
            self.chunks = VecDeque::from([Bytes::from(all)]);
        }
        self.chunks.shrink_to_fit();
    }

    /// Forget the oldest `n` kept bytes (all if fewer), copying what stays
    /// so the forgotten bytes are freed. Returns how many were forgotten.
    pub fn trim_front(&mut self, n: usize) -> usize {
        let n = n.min(self.len());
        if n == 0 {
            return 0;
        }
        let rest = self.read(self.start + n as u64, usize::MAX).bytes;
        self.start += n as u64;
        self.chunks = if rest.is_empty() {
            VecDeque::new()
        } else {
            VecDeque::from([Bytes::from(rest)])
        };
        self.chunks.shrink_to_fit();
        n
    }

    pub fn push(&mut self, chunk: Bytes) {
        if chunk.is_empty() {
            return;
        }
        self.end += chunk.len() as u64;
        self.chunks.push_back(chunk);
        let mut excess = (self.end - self.start).saturating_sub(self.cap as u64);
        while excess > 0 {
            let front = self.chunks.front_mut().expect("excess implies data");
            let n = front.len() as u64;
            if n <= excess {
                self.chunks.pop_front();
                self.start += n;
                excess -= n;
            } else {
                *front = front.slice(excess as usize..);
                self.start += excess;
                excess = 0;
            }
        }
    }

    /// Bytes from `from` to the end, at most `max` of them.
    pub fn read(&self, from: u64, max: usize) -> Slice {
        let dropped = self.start.saturating_sub(from);
        let from = from.max(self.start).min(self.end);
        let want = ((self.end - from) as usize).min(max);
        let mut bytes = Vec::with_capacity(want);
        let mut pos = self.start;
        for c in &self.chunks {
            if bytes.len() >= want {
                break;
            }
            let clen = c.len() as u64;
            if pos + clen <= from {
                pos += clen;
                continue;
            }
            let skip = from.saturating_sub(pos) as usize;
            let take = (c.len() - skip).min(want - bytes.len());
            bytes.extend_from_slice(&c[skip..skip + take]);
            pos += clen;
        }
        let next = from + bytes.len() as u64;
        Slice {
            bytes,
            next,
            dropped,
        }
    }

    /// The kept bytes' last `n` lines (a partial last line counts as one).
    pub fn tail_lines(&self, n: usize) -> Slice {
        if n == 0 {
            return Slice {
                bytes: Vec::new(),
                next: self.end,
                dropped: 0,
            };
        }
        let all = self.read(self.start, usize::MAX);
        let b = &all.bytes;
        let mut cut = b.len();
        let mut seen = 0;
        // A trailing newline ends the last line; it does not start a new one.
        let body_end = if b.last() == Some(&b'\n') {
            b.len() - 1
        } else {
            b.len()
        };
        for i in (0..body_end).rev() {
            if b[i] == b'\n' {
                seen += 1;
                if seen == n {
                    cut = i + 1;
                    break;
                }
            }
        }
        if seen < n {
            cut = 0;
        }
        Slice {
            bytes: b[cut..].to_vec(),
            next: all.next,
            dropped: 0,
        }
    }
}

/// Length of `b` without an incomplete UTF-8 sequence at its very end, so
/// that a cursor never splits a character (only a genuinely truncated or
/// invalid sequence stays, to be shown lossily).
pub fn utf8_safe_len(b: &[u8]) -> usize {
    let n = b.len();
    for back in 1..=3.min(n) {
        let byte = b[n - back];
        if byte & 0b1100_0000 == 0b1000_0000 {
            continue; // continuation byte: keep looking for the lead byte
        }
        let need = if byte & 0b1110_0000 == 0b1100_0000 {
            2
        } else if byte & 0b1111_0000 == 0b1110_0000 {
            3
        } else if byte & 0b1111_1000 == 0b1111_0000 {
            4
        } else {
            1
        };
        return if need > back { n - back } else { n };
    }
    n
}

/// Split `b` into complete lines (without their `\n` / `\r\n`), returning
/// the lines and the length consumed (up to and including the last `\n`).
pub fn complete_lines(b: &[u8]) -> (Vec<&[u8]>, usize) {
    let mut lines = Vec::new();
    let mut start = 0;
    for (i, &c) in b.iter().enumerate() {
        if c == b'\n' {
            let mut line = &b[start..i];
            if line.last() == Some(&b'\r') {
                line = &line[..line.len() - 1];
            }
            lines.push(line);
            start = i + 1;
        }
    }
    (lines, start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_newest_bytes_within_cap() {
        let mut s = StreamBuf::new(10);
        s.push(Bytes::from_static(b"0123456"));
        s.push(Bytes::from_static(b"789abc"));
        assert_eq!(s.start(), 3);
        assert_eq!(s.end(), 13);
        let r = s.read(0, usize::MAX);
        assert_eq!(r.bytes, b"3456789abc");
        assert_eq!(r.dropped, 3);
        assert_eq!(r.next, 13);
        let r = s.read(8, 2);
        assert_eq!(r.bytes, b"89");
        assert_eq!(r.next, 10);
        assert_eq!(s.read(13, 5).bytes, b"");
    }

    #[test]
    fn compact_and_trim_keep_offsets() {
        let mut s = StreamBuf::new(100);
        s.push(Bytes::from_static(b"abc"));
        s.push(Bytes::from_static(b"defg"));
        s.compact();
        assert_eq!(s.len(), 7);
        assert_eq!(s.read(2, usize::MAX).bytes, b"cdefg");
        assert_eq!(s.trim_front(3), 3);
        assert_eq!(s.start(), 3);
        assert_eq!(s.end(), 7);
        let r = s.read(0, usize::MAX);
        assert_eq!(r.bytes, b"defg");
        assert_eq!(r.dropped, 3);
        assert_eq!(s.trim_front(10), 4);
        assert!(s.is_empty());
        assert_eq!(s.read(7, 10).bytes, b"");
        s.push(Bytes::from_static(b"h"));
        assert_eq!(s.read(7, 10).bytes, b"h");
    }

    #[test]
    fn tail_counts_lines() {
        let mut s = StreamBuf::new(100);
        s.push(Bytes::from_static(b"a\nb\nc\n"));
        assert_eq!(s.tail_lines(2).bytes, b"b\nc\n");
        assert_eq!(s.tail_lines(5).bytes, b"a\nb\nc\n");
        s.push(Bytes::from_static(b"part"));
        assert_eq!(s.tail_lines(2).bytes, b"c\npart");
    }

    #[test]
    fn utf8_boundary() {
        let s = "aé€".as_bytes();
        assert_eq!(utf8_safe_len(s), s.len());
        assert_eq!(utf8_safe_len(&s[..s.len() - 1]), 3);
        assert_eq!(utf8_safe_len(&s[..2]), 1);
        assert_eq!(utf8_safe_len(b"\xff"), 1);
    }

    #[test]
    fn lines_split() {
        let (l, used) = complete_lines(b"x\r\ny\nrest");
        assert_eq!(l, vec![&b"x"[..], &b"y"[..]]);
        assert_eq!(used, 5);
    }
}
