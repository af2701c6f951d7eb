//! Capture of a plugin's WASI stdout and stderr, drained into the log after each call.

use bytes::Bytes;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// At most this many bytes of output are kept between two drains; the rest is counted and dropped.
pub const OUTPUT_CAPACITY: usize = 64 << 10;

/// A bounded in-memory stdout/stderr for one plugin instance.
#[derive(Clone, Default)]
pub struct CapturedOutput {
    inner: Arc<Mutex<Captured>>,
}

#[derive(Default)]
struct Captured {
    buffer: Vec<u8>,
    dropped: usize,
}

/// What a plugin wrote since the last drain.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Drained {
    /// Complete lines, then the partial last line if any, without their newlines.
    pub lines: Vec<String>,
    /// Bytes dropped because the buffer was full.
    pub dropped: usize,
}

impl CapturedOutput {
    fn append(&self, bytes: &[u8]) {
        let mut captured = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let room = OUTPUT_CAPACITY.saturating_sub(captured.buffer.len());
        let kept = bytes.len().min(room);
        captured.buffer.extend_from_slice(&bytes[..kept]);
        captured.dropped += bytes.len() - kept;
    }

    /// Takes everything written so far, split into lines.
    pub fn drain(&self) -> Drained {
        let mut captured = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if captured.buffer.is_empty() && captured.dropped == 0 {
            return Drained::default();
        }
        let buffer = std::mem::take(&mut captured.buffer);
        let dropped = std::mem::take(&mut captured.dropped);
        let text = String::from_utf8_lossy(&buffer);
        let lines = text
            .split_terminator('\n')
            .map(|line| line.strip_suffix('\r').unwrap_or(line).to_owned())
            .collect();
        Drained { lines, dropped }
    }
}

impl IsTerminal for CapturedOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CapturedOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for CapturedOutput {
    async fn ready(&mut self) {}
}

impl OutputStream for CapturedOutput {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.append(&bytes);
        Ok(())
    }
    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }
    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(OUTPUT_CAPACITY)
    }
}

impl AsyncWrite for CapturedOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.append(buf);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_lines_and_keeps_the_partial_one() {
        let out = CapturedOutput::default();
        out.append(b"one\r\ntwo\nthr");
        out.append(b"ee");
        let drained = out.drain();
        assert_eq!(drained.lines, ["one", "two", "three"]);
        assert_eq!(out.drain(), Drained::default());
    }

    #[test]
    fn is_bounded() {
        let out = CapturedOutput::default();
        out.append(&vec![b'x'; OUTPUT_CAPACITY + 10]);
        let drained = out.drain();
        assert_eq!(drained.dropped, 10);
        assert_eq!(drained.lines[0].len(), OUTPUT_CAPACITY);
    }
}
