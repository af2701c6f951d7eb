//! The constants and encodings of guest ABI v1 (`docs/ABI.md`), shared by the host and the SDK.
//!
//! This module depends on nothing but `core`/`std` so the host can use it as the single source of
//! truth for export names, limits and levels.

use std::fmt;
use std::str::FromStr;

/// The ABI version this SDK implements and the host speaks.
pub const ABI_VERSION: i32 = 1;

/// Export: the module's linear memory.
pub const MEMORY: &str = "memory";
/// Export: `alloc(len: i32) -> i32`.
pub const ALLOC: &str = "alloc";
/// Export: `dealloc(ptr: i32, len: i32)`.
pub const DEALLOC: &str = "dealloc";
/// Export: `handle_event(ptr: i32, len: i32) -> i64`.
pub const HANDLE_EVENT: &str = "handle_event";
/// Optional export: `init(ptr: i32, len: i32) -> i32`, receives the plugin's config.
pub const INIT: &str = "init";
/// Optional export: `_initialize()`, the WASI reactor / C runtime start-up, called first.
pub const INITIALIZE: &str = "_initialize";
/// Optional export: `ec_abi_version() -> i32`; absent means version 1.
pub const ABI_VERSION_EXPORT: &str = "ec_abi_version";

/// Import module of the host functions.
pub const HOST_MODULE: &str = "event_controller";
/// Import: `log(level: i32, ptr: i32, len: i32)` in [`HOST_MODULE`].
pub const LOG_IMPORT: &str = "log";
/// Import: `http_request(ptr: i32, len: i32) -> i64` in [`HOST_MODULE`] (a capability).
pub const HTTP_REQUEST_IMPORT: &str = "http_request";
/// Import: `kube_request(ptr: i32, len: i32) -> i64` in [`HOST_MODULE`] (a capability).
pub const KUBE_REQUEST_IMPORT: &str = "kube_request";
/// Import: `metric(ptr: i32, len: i32) -> i32` in [`HOST_MODULE`]: updates one of the plugin's
/// own metrics; 0 when recorded, 1 when refused (the host logs why, once per reason).
pub const METRIC_IMPORT: &str = "metric";

/// Largest result buffer `handle_event` may return, in bytes (1 MiB).
pub const MAX_RESULT_LEN: usize = 1 << 20;
/// Longest message the host's `log` import accepts before truncating, in bytes (64 KiB).
pub const MAX_LOG_LEN: usize = 64 << 10;

/// A log level, as an integer in the `log` import and as a name in a result's `level` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[repr(i32)]
pub enum Level {
    /// `TRACE`, integer 0.
    Trace = 0,
    /// `DEBUG`, integer 1.
    Debug = 1,
    /// `INFO`, integer 2; the default when a result has no `level`.
    #[default]
    Info = 2,
    /// `WARN` (also accepted as `WARNING`), integer 3.
    Warn = 3,
    /// `ERROR`, integer 4.
    Error = 4,
}

impl Level {
    /// Decodes the `log` import's level; values below 0 clamp to `Trace`, above 4 to `Error`.
    pub const fn from_i32(level: i32) -> Level {
        match level {
            i32::MIN..=0 => Level::Trace,
            1 => Level::Debug,
            2 => Level::Info,
            3 => Level::Warn,
            _ => Level::Error,
        }
    }

    /// The integer passed to the `log` import.
    pub const fn as_i32(self) -> i32 {
        self as i32
    }

    /// The canonical upper-case name, as written in a result: `TRACE` ... `ERROR`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Level::Trace => "TRACE",
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Level {
    type Err = ParseLevelError;

    /// Parses `TRACE`, `DEBUG`, `INFO`, `WARN`, `WARNING` or `ERROR`, ignoring ASCII case.
    fn from_str(s: &str) -> Result<Level, ParseLevelError> {
        const NAMES: [(&str, Level); 6] = [
            ("TRACE", Level::Trace),
            ("DEBUG", Level::Debug),
            ("INFO", Level::Info),
            ("WARN", Level::Warn),
            ("WARNING", Level::Warn),
            ("ERROR", Level::Error),
        ];
        NAMES
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(s))
            .map(|&(_, level)| level)
            .ok_or_else(|| ParseLevelError {
                input: s.to_owned(),
            })
    }
}

/// The error of parsing an unknown level name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseLevelError {
    input: String,
}

impl ParseLevelError {
    /// The text that was not a level name.
    pub fn input(&self) -> &str {
        &self.input
    }
}

impl fmt::Display for ParseLevelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown level {:?} (expected TRACE, DEBUG, INFO, WARN, WARNING or ERROR)",
            self.input
        )
    }
}

impl std::error::Error for ParseLevelError {}

/// Packs a result buffer as `handle_event` returns it: `(ptr << 32) | len`.
pub const fn pack(ptr: u32, len: u32) -> i64 {
    (((ptr as u64) << 32) | len as u64) as i64
}

/// Splits `handle_event`'s return value into `(ptr, len)`; `0` gives `(0, 0)`, "no result".
pub const fn unpack(packed: i64) -> (u32, u32) {
    let packed = packed as u64;
    ((packed >> 32) as u32, packed as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_roundtrip() {
        for (ptr, len) in [
            (0, 0),
            (16, 19),
            (1, u32::MAX),
            (u32::MAX, 1),
            (0xFFFF_FF00, 4096),
            (u32::MAX, u32::MAX),
        ] {
            assert_eq!(unpack(pack(ptr, len)), (ptr, len));
        }
        assert_eq!(pack(0, 0), 0);
        assert_eq!(pack(16, 19), 68_719_476_755); // the ABI.md example
        assert!(pack(0x8000_0000, 0) < 0, "high pointers give negative i64s");
        assert_eq!(unpack(-1), (u32::MAX, u32::MAX));
    }

    #[test]
    fn level_from_i32_clamps() {
        assert_eq!(Level::from_i32(i32::MIN), Level::Trace);
        assert_eq!(Level::from_i32(-1), Level::Trace);
        assert_eq!(Level::from_i32(0), Level::Trace);
        assert_eq!(Level::from_i32(1), Level::Debug);
        assert_eq!(Level::from_i32(2), Level::Info);
        assert_eq!(Level::from_i32(3), Level::Warn);
        assert_eq!(Level::from_i32(4), Level::Error);
        assert_eq!(Level::from_i32(5), Level::Error);
        assert_eq!(Level::from_i32(i32::MAX), Level::Error);
        for level in [
            Level::Trace,
            Level::Debug,
            Level::Info,
            Level::Warn,
            Level::Error,
        ] {
            assert_eq!(Level::from_i32(level.as_i32()), level);
            assert_eq!(level.as_str().parse::<Level>(), Ok(level));
            assert_eq!(level.to_string(), level.as_str());
        }
    }

    #[test]
    fn level_from_str() {
        assert_eq!("info".parse::<Level>(), Ok(Level::Info));
        assert_eq!("Warning".parse::<Level>(), Ok(Level::Warn));
        assert_eq!("WARNING".parse::<Level>(), Ok(Level::Warn));
        assert_eq!("wArN".parse::<Level>(), Ok(Level::Warn));
        assert_eq!("error".parse::<Level>(), Ok(Level::Error));
        assert_eq!("trace".parse::<Level>(), Ok(Level::Trace));
        assert_eq!("Debug".parse::<Level>(), Ok(Level::Debug));
        for bad in ["", "fatal", " INFO", "INFO ", "warnings", "İNFO"] {
            let err = bad.parse::<Level>().unwrap_err();
            assert_eq!(err.input(), bad);
            assert!(err.to_string().contains("unknown level"), "{err}");
        }
        assert_eq!(Level::default(), Level::Info);
        assert!(Level::Trace < Level::Error);
    }

    #[test]
    fn names() {
        assert_eq!(HOST_MODULE, "event_controller");
        assert_eq!(INITIALIZE, "_initialize");
        assert_eq!(ABI_VERSION_EXPORT, "ec_abi_version");
        assert_eq!(MAX_RESULT_LEN, 1_048_576);
        assert_eq!(MAX_LOG_LEN, 65_536);
    }
}
