//! Reading what comes out of a jail: its stdout and stderr up to their caps (copied, while they are
//! read, to an observer that may be slow), the result channel until its frame is complete, and the
//! head of nsjail's log. Every byte read here is hostile input: memory stays bounded by the caps,
//! and no reader ever waits for anything but its pipe.
//!
//! Not here: what the bytes mean (protocol.rs parses the frame, verdict.rs classifies the run).

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::unix::pipe;
use tokio::sync::{mpsc, oneshot};

use super::outcome::{OutputChunk, OutputSender, OutputStream};
use super::protocol::{frame_len, READY_MARK};

/// nsjail's own log is for operators; only its head is kept.
pub const MAX_LOG_BYTES: usize = 64 * 1024;
/// How long to wait for pipes to drain once the run's processes are gone.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// The head of a stream (nsjail's log, or a failed child's stderr): at most `cap` bytes, read for
/// at most `within`. For a jail that failed to start, whose writers have exited or been killed.
pub async fn read_head(stream: &mut pipe::Receiver, cap: usize, within: Duration) -> Vec<u8> {
    let mut kept = Vec::new();
    let _ = tokio::time::timeout(within, stream.take(cap as u64).read_to_end(&mut kept)).await;
    kept
}

pub type Reader = tokio::task::JoinHandle<(Vec<u8>, bool)>;

/// How much room a reader makes in its buffer before each read.
const READ_CHUNK: usize = 8 * 1024;

/// Reads a stream until EOF, keeping at most `cap` bytes. Past the cap it stops reading, reports
/// the overflow (so the run is killed) and returns what it kept: memory stays bounded. With
/// `forward`, what it keeps is also copied to an observer as it is read.
pub fn spawn_reader<R>(
    home: &tokio::runtime::Handle,
    stream: R,
    cap: usize,
    overflow: Option<mpsc::Sender<()>>,
    mut forward: Option<Forward>,
) -> Reader
where
    R: AsyncRead + Unpin + Send + 'static,
{
    home.spawn(async move {
        let mut kept = Vec::new();
        let mut limited = stream.take(cap as u64 + 1);
        loop {
            let before = kept.len();
            kept.reserve(READ_CHUNK);
            // While something is held for the observer, room for it is awaited alongside the
            // pipe, never instead of it (both are cancel safe).
            let step = match forward.as_mut() {
                Some(f) if f.holds() => tokio::select! {
                    read = limited.read_buf(&mut kept) => Step::Read(read),
                    open = f.flush() => Step::Flushed(open),
                },
                _ => Step::Read(limited.read_buf(&mut kept).await),
            };
            match step {
                // An I/O error ends the stream like EOF: what was read so far is the output.
                Step::Read(Ok(0) | Err(_)) => break,
                Step::Read(Ok(_)) => {}
                Step::Flushed(open) => {
                    if !open {
                        forward = None;
                    }
                    continue;
                }
            }
            // Only bytes within the cap are copied: the observer never sees more than the
            // outcome keeps.
            let end = kept.len().min(cap);
            if let Some(f) = forward.as_mut() {
                if end > before && !f.push(&kept[before..end]) {
                    forward = None;
                }
            }
        }
        if let Some(f) = forward {
            f.finish();
        }
        let over = kept.len() > cap;
        if over {
            kept.truncate(cap);
            if let Some(tx) = overflow {
                let _ = tx.try_send(());
            }
        }
        (kept, over)
    })
}

enum Step {
    Read(std::io::Result<usize>),
    /// Whether the observer is still there.
    Flushed(bool),
}

/// Copies a stream's bytes to an observer (the streaming endpoint) without ever making the reader
/// wait for it: a slow client must not stall the pipe, and so the script, into its deadline, nor
/// change its outcome. What the bounded channel cannot take yet is held and coalesced into one
/// chunk, handed over as soon as there is room. Nothing is dropped, and what is held is part of
/// the first `cap` bytes of the stream, so it is bounded by the output cap.
pub struct Forward {
    stream: OutputStream,
    tx: OutputSender,
    held: Vec<u8>,
}

impl Forward {
    pub fn new(stream: OutputStream, tx: OutputSender) -> Forward {
        Forward {
            stream,
            tx,
            held: Vec::new(),
        }
    }

    fn holds(&self) -> bool {
        !self.held.is_empty()
    }

    fn chunk(&mut self) -> OutputChunk {
        OutputChunk {
            stream: self.stream,
            bytes: std::mem::take(&mut self.held),
        }
    }

    /// Passes `bytes` on, or holds them if the channel is full. False once the observer is gone.
    fn push(&mut self, bytes: &[u8]) -> bool {
        self.held.extend_from_slice(bytes);
        let chunk = self.chunk();
        match self.tx.try_send(chunk) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(chunk)) => {
                self.held = chunk.bytes;
                true
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    /// Waits for room and passes on what is held. False once the observer is gone.
    async fn flush(&mut self) -> bool {
        match self.tx.reserve().await {
            Ok(permit) => {
                // Taken only once there is room: a flush cancelled while waiting loses nothing.
                permit.send(OutputChunk {
                    stream: self.stream,
                    bytes: std::mem::take(&mut self.held),
                });
                true
            }
            Err(_) => false,
        }
    }

    /// At EOF: what is still held is handed over by a task of its own, so that neither the reader
    /// nor the end of the run waits for the observer. The task ends when the observer takes it or
    /// goes away.
    fn finish(mut self) {
        if self.holds() {
            let chunk = self.chunk();
            tokio::spawn(async move {
                let _ = self.tx.send(chunk).await;
            });
        }
    }
}

/// Like `spawn_reader`, and also says when the runner's frame is complete, so that the run can
/// end without waiting for the jail to exit. It keeps reading until EOF: anything the script
/// writes after the frame makes the frame invalid.
pub fn spawn_result_reader(
    home: &tokio::runtime::Handle,
    mut stream: pipe::Receiver,
    expect_mark: bool,
    cap: usize,
    overflow: mpsc::Sender<()>,
    frame_done: oneshot::Sender<()>,
) -> Reader {
    home.spawn(async move {
        let mut kept = Vec::new();
        let mut frame_done = Some(frame_done);
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            let n = match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            kept.extend_from_slice(&chunk[..n]);
            if kept.len() > cap {
                kept.truncate(cap);
                let _ = overflow.try_send(());
                return (kept, true);
            }
            let frame = if expect_mark {
                kept.get(1..).filter(|_| kept[0] == READY_MARK)
            } else {
                Some(&kept[..])
            };
            if frame.and_then(frame_len).is_some() {
                if let Some(done) = frame_done.take() {
                    let _ = done.send(());
                }
            }
        }
        (kept, false)
    })
}

pub async fn drain(mut reader: Reader) -> (Vec<u8>, bool) {
    match tokio::time::timeout(DRAIN_TIMEOUT, &mut reader).await {
        Ok(Ok(read)) => read,
        _ => {
            reader.abort();
            (Vec::new(), false)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    /// Writes `pieces` into a pipe-like stream and reads it back with `spawn_reader`, forwarding
    /// to a channel of `capacity` that nobody reads until the reader has finished.
    async fn read_forwarded(
        pieces: Vec<Vec<u8>>,
        cap: usize,
        capacity: usize,
        observe: bool,
    ) -> ((Vec<u8>, bool), Option<Vec<u8>>) {
        let (mut writer, reader) = tokio::io::duplex(256);
        let (tx, rx) = mpsc::channel(capacity);
        let forward = Some(Forward::new(OutputStream::Stdout, tx));
        let handle = tokio::runtime::Handle::current();
        let read = spawn_reader(&handle, reader, cap, None, forward);
        let rx = observe.then_some(rx);
        tokio::spawn(async move {
            for piece in pieces {
                if writer.write_all(&piece).await.is_err() {
                    break;
                }
            }
        });
        let kept = tokio::time::timeout(Duration::from_secs(5), read)
            .await
            .expect("the reader never waits for the observer")
            .unwrap();
        let Some(mut rx) = rx else {
            return (kept, None);
        };
        let mut seen = Vec::new();
        while let Some(chunk) = rx.recv().await {
            assert_eq!(chunk.stream, OutputStream::Stdout);
            seen.extend_from_slice(&chunk.bytes);
        }
        (kept, Some(seen))
    }

    #[tokio::test]
    async fn a_full_channel_neither_blocks_the_reader_nor_loses_bytes() {
        let pieces: Vec<Vec<u8>> = (0..200u8).map(|i| vec![i; 100]).collect();
        let all: Vec<u8> = pieces.concat();
        let ((kept, over), seen) = read_forwarded(pieces, 1 << 20, 1, true).await;
        assert!(!over);
        assert_eq!(kept, all);
        assert_eq!(seen.unwrap(), all, "in order, complete");
    }

    #[tokio::test]
    async fn only_bytes_within_the_cap_are_forwarded() {
        let pieces: Vec<Vec<u8>> = (0..50u8).map(|i| vec![i; 100]).collect();
        let all: Vec<u8> = pieces.concat();
        let ((kept, over), seen) = read_forwarded(pieces, 1000, 4, true).await;
        assert!(over);
        assert_eq!(kept, all[..1000]);
        assert_eq!(seen.unwrap(), all[..1000]);
    }

    #[tokio::test]
    async fn a_gone_observer_does_not_disturb_the_reader() {
        let pieces: Vec<Vec<u8>> = (0..50u8).map(|i| vec![i; 100]).collect();
        let all: Vec<u8> = pieces.concat();
        let ((kept, over), _) = read_forwarded(pieces, 1 << 20, 1, false).await;
        assert!(!over);
        assert_eq!(kept, all);
    }
}
