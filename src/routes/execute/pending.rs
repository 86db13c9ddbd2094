//! `Pending`: one stream's output (stdout or stderr) that /execute/stream has not sent yet. Whole
//! lines go at once, a partial line once it is `PARTIAL_LINE_AFTER` old, and never the first
//! bytes of a character whose other bytes have not come. Bytes in, text out: when the text is
//! sent, and how it is framed, is `events.rs`'s.

use std::time::Duration;

use tokio::time::Instant;

/// A partial line (no newline yet) is sent once it is this old.
pub(super) const PARTIAL_LINE_AFTER: Duration = Duration::from_millis(50);

/// Output of one stream that has not been sent yet.
#[derive(Default)]
pub(super) struct Pending {
    bytes: Vec<u8>,
    /// When the oldest byte that could be sent arrived.
    since: Option<Instant>,
}

impl Pending {
    pub(super) fn push(&mut self, bytes: &[u8], now: Instant) {
        self.bytes.extend_from_slice(bytes);
        self.since.get_or_insert(now);
    }

    pub(super) fn due(&self) -> Option<Instant> {
        self.since.map(|since| since + PARTIAL_LINE_AFTER)
    }

    /// Every complete line, if there is one; the partial line after them stays.
    pub(super) fn take_lines(&mut self, now: Instant) -> Option<String> {
        let end = self.bytes.iter().rposition(|&b| b == b'\n')? + 1;
        let rest = self.bytes.split_off(end);
        let lines = std::mem::replace(&mut self.bytes, rest);
        self.since = (!self.bytes.is_empty()).then_some(now);
        // A newline cannot be part of a UTF-8 sequence, so no character is split here.
        Some(String::from_utf8_lossy(&lines).into_owned())
    }

    /// The partial line, except the start of a character whose other bytes have not come yet.
    pub(super) fn take_partial(&mut self) -> Option<String> {
        self.since = None;
        let end = self.bytes.len() - incomplete_tail(&self.bytes);
        if end == 0 {
            return None;
        }
        let tail = self.bytes.split_off(end);
        let text = std::mem::replace(&mut self.bytes, tail);
        Some(String::from_utf8_lossy(&text).into_owned())
    }

    /// Everything, at the end of the run.
    pub(super) fn take_all(&mut self) -> Option<String> {
        self.since = None;
        if self.bytes.is_empty() {
            return None;
        }
        let text = std::mem::take(&mut self.bytes);
        Some(String::from_utf8_lossy(&text).into_owned())
    }
}

/// How many bytes at the end of `bytes` begin a UTF-8 character that is not complete yet.
fn incomplete_tail(bytes: &[u8]) -> usize {
    for back in 1..=bytes.len().min(3) {
        let byte = bytes[bytes.len() - back];
        if byte & 0xC0 == 0x80 {
            continue; // a continuation byte: the character starts further back
        }
        let needs = match byte {
            0xC2..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF4 => 4,
            _ => return 0, // ASCII, or a byte no character starts with
        };
        return if needs > back { back } else { 0 };
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incomplete_characters_are_held_back() {
        assert_eq!(incomplete_tail(b""), 0);
        assert_eq!(incomplete_tail(b"abc"), 0);
        assert_eq!(incomplete_tail("é".as_bytes()), 0);
        assert_eq!(incomplete_tail(&"é".as_bytes()[..1]), 1);
        assert_eq!(incomplete_tail(&"€".as_bytes()[..2]), 2);
        assert_eq!(incomplete_tail(&"😀".as_bytes()[..3]), 3);
        assert_eq!(incomplete_tail("a😀".as_bytes()), 0);
        assert_eq!(incomplete_tail(b"a\xff"), 0, "invalid: sent (as U+FFFD)");
        assert_eq!(incomplete_tail(b"\x80\x80\x80"), 0);
    }

    #[test]
    fn pieces_decode_like_the_whole() {
        let text = "ab€c😀\n\u{e9}x".as_bytes();
        let mut invalid = text.to_vec();
        invalid.insert(3, 0xff);
        for whole in [text.to_vec(), invalid] {
            for cut in 0..=whole.len() {
                let now = Instant::now();
                let mut pending = Pending::default();
                let mut sent = String::new();
                pending.push(&whole[..cut], now);
                sent.extend(pending.take_lines(now));
                sent.extend(pending.take_partial());
                pending.push(&whole[cut..], now);
                sent.extend(pending.take_lines(now));
                sent.extend(pending.take_partial());
                sent.extend(pending.take_all());
                assert_eq!(sent, String::from_utf8_lossy(&whole), "cut at {cut}");
            }
        }
    }

    #[test]
    fn the_partial_line_waits_for_its_time() {
        let now = Instant::now();
        let mut pending = Pending::default();
        pending.push(b"one\ntw", now);
        assert_eq!(pending.take_lines(now).as_deref(), Some("one\n"));
        assert_eq!(pending.due(), Some(now + PARTIAL_LINE_AFTER));
        assert_eq!(pending.take_partial().as_deref(), Some("tw"));
        assert_eq!(pending.due(), None);
        pending.push(&"€".as_bytes()[..1], now);
        assert_eq!(pending.take_partial(), None, "half a character is held");
        assert_eq!(
            pending.due(),
            None,
            "and does not fire again until more comes"
        );
    }
}
