//! The text format's fields, written as `tracing-subscriber`'s [`DefaultFields`] writes them,
//! with a fast path for the common case.
//!
//! Every plugin message is a log line of five string fields. The default visitor writes each
//! string through `Debug` (a character at a time) and each message through its ANSI-escaping
//! writer (a character at a time again). A string that neither would change is written here as
//! it is; anything else (escapes needed, colours on, other types) goes to the default visitor,
//! so the output is the same byte for byte.
//!
//! [`DefaultFields`]: tracing_subscriber::fmt::format::DefaultFields

use std::fmt;
use tracing::field::{Field, Visit};
use tracing_subscriber::field::{MakeVisitor, VisitFmt, VisitOutput};
use tracing_subscriber::fmt::format::{DefaultVisitor, Writer};

/// Makes a [`FastVisitor`] for each line's fields (the text format's `fmt_fields`).
#[derive(Debug, Clone, Copy, Default)]
pub struct FastFields;

impl<'a> MakeVisitor<Writer<'a>> for FastFields {
    type Visitor = FastVisitor<'a>;

    fn make_visitor(&self, target: Writer<'a>) -> FastVisitor<'a> {
        FastVisitor {
            writer: target,
            is_empty: true,
            result: Ok(()),
        }
    }
}

/// Writes one line's fields: `message` first as it is, then `name="value"` pairs, separated by
/// spaces.
pub struct FastVisitor<'a> {
    writer: Writer<'a>,
    is_empty: bool,
    result: fmt::Result,
}

impl FastVisitor<'_> {
    /// Writes `text` as the default visitor would, if that needs no escaping or colour.
    fn write_plain_str(&mut self, field: &Field, text: &str) -> bool {
        let name = field.name();
        if self.writer.has_ansi_escapes() || name.starts_with("r#") {
            return false;
        }
        let result = if name == "message" {
            if self.writer.sanitizes_ansi_escapes() && !ansi_safe(text) {
                return false;
            }
            self.pad().and_then(|()| self.writer.write_str(text))
        } else {
            if !debug_plain(text) {
                return false;
            }
            self.pad().and_then(|()| {
                let writer = &mut self.writer;
                writer.write_str(name)?;
                writer.write_str("=\"")?;
                writer.write_str(text)?;
                writer.write_char('"')
            })
        };
        self.result = result;
        true
    }

    /// The space before every field but the first.
    fn pad(&mut self) -> fmt::Result {
        if std::mem::take(&mut self.is_empty) {
            Ok(())
        } else {
            self.writer.write_char(' ')
        }
    }

    /// Has the default visitor write one field.
    fn with_default(&mut self, record: impl FnOnce(&mut DefaultVisitor<'_>)) {
        let mut default = DefaultVisitor::new(self.writer.by_ref(), self.is_empty);
        record(&mut default);
        self.result = default.finish();
        // It wrote the field, and its padding.
        self.is_empty = false;
    }
}

impl Visit for FastVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if self.result.is_ok() && !skipped(field) && !self.write_plain_str(field, value) {
            self.with_default(|default| default.record_str(field, value));
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        if self.result.is_ok() && !skipped(field) {
            self.with_default(|default| default.record_error(field, value));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.result.is_ok() && !skipped(field) {
            self.with_default(|default| default.record_debug(field, value));
        }
    }
}

impl VisitOutput<fmt::Result> for FastVisitor<'_> {
    fn finish(self) -> fmt::Result {
        self.result
    }
}

impl VisitFmt for FastVisitor<'_> {
    fn writer(&mut self) -> &mut dyn fmt::Write {
        &mut self.writer
    }
}

/// A `log` record's metadata, which the default visitor leaves out (it is in the line's head).
fn skipped(field: &Field) -> bool {
    field.name().starts_with("log.")
}

/// True if `tracing-subscriber`'s ANSI sanitizing leaves `text` as it is: no C0 control that
/// starts an escape (ESC, BEL, BS, FF), no DEL, and no C1 control (U+0080 to U+009F, which
/// UTF-8 writes as 0xC2 0x80-0x9F; any 0xC2 byte is sent the slow way).
fn ansi_safe(text: &str) -> bool {
    !text
        .bytes()
        .any(|b| matches!(b, 0x07 | 0x08 | 0x0c | 0x1b | 0x7f | 0xc2))
}

/// True if `str`'s `Debug` is `text` in quotes: printable ASCII without `"` or `\`.
fn debug_plain(text: &str) -> bool {
    text.bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::fmt::format::DefaultFields;
    use tracing_subscriber::fmt::FormatFields;

    /// One event's fields as `fields` formats them.
    fn formatted<F>(fields: F, ansi: bool, emit: fn()) -> String
    where
        F: for<'w> FormatFields<'w> + Send + Sync + 'static,
    {
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = Sink(lines.clone());
        let subscriber = tracing_subscriber::fmt()
            .fmt_fields(fields)
            .with_ansi(ansi)
            .without_time()
            .with_level(false)
            .with_target(false)
            .with_writer(move || sink.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, emit);
        let bytes = lines.lock().map(|l| l.clone()).unwrap_or_default();
        String::from_utf8(bytes).expect("UTF-8")
    }

    #[derive(Clone)]
    struct Sink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if let Ok(mut lines) = self.0.lock() {
                lines.extend_from_slice(buf);
            }
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Events whose fields take every path: plain, escaped, coloured, other types.
    const EVENTS: &[fn()] = &[
        || {
            tracing::info!(
                message = "Kind: Pod; Name: web-1",
                plugin = "simple",
                kind = "Pod"
            )
        },
        || tracing::info!(plugin = "simple", message = "fields first", namespace = ""),
        || {
            tracing::info!(
                message = "bell \x07 esc \x1b[31m del \x7f c1 \u{85} é",
                name = "a"
            )
        },
        || {
            tracing::info!(
                message = "quote \" backslash \\ tab \t",
                name = "a\"b\\c\td\né"
            )
        },
        || tracing::info!(message = "emoji 🦀 and ünïcode", name = "ünïcode 🦀"),
        || {
            tracing::info!(
                count = 3,
                ok = true,
                ratio = 0.5,
                name = "n",
                "formatted {}",
                7
            )
        },
        || tracing::info!(r#type = "ADDED", "raw identifier"),
        || {
            let error = std::io::Error::other("disk \x1b full");
            tracing::info!(error = &error as &dyn std::error::Error, "with an error")
        },
        || tracing::info!(debug = ?Some("x"), display = %"y", "sigils"),
        || tracing::info!(name = "only fields"),
    ];

    #[test]
    fn writes_what_the_default_fields_write() {
        for ansi in [false, true] {
            for (index, emit) in EVENTS.iter().enumerate() {
                let default = formatted(DefaultFields::new(), ansi, *emit);
                assert!(default.len() > 10, "event {index} was written: {default:?}");
                assert_eq!(
                    formatted(FastFields, ansi, *emit),
                    default,
                    "event {index}, ansi {ansi}"
                );
            }
        }
    }

    #[test]
    fn takes_the_fast_path_only_where_nothing_changes() {
        assert!(ansi_safe("Kind: Pod; Name: web-1 é 🦀"));
        assert!(!ansi_safe("\x1b[31m"));
        assert!(!ansi_safe("next line \u{85}"));
        assert!(debug_plain("Pod web-1 ns/x"));
        assert!(!debug_plain("a\"b"));
        assert!(!debug_plain("é"));
        assert!(!debug_plain("tab\t"));
        let plain = formatted(FastFields, false, EVENTS[0]);
        assert!(
            plain.ends_with(
                r#"Kind: Pod; Name: web-1 plugin="simple" kind="Pod"
"#
            ),
            "{plain:?}"
        );
    }
}
