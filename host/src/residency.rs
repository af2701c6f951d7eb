//! Code that only start-up ran, given back to the kernel.
//!
//! The kernel maps a program's code in as it first runs, 64 KiB around each page touched
//! (fault-around), and leaves it mapped. The controller's start-up touches code it never runs
//! again: the command line and the config file, the kubeconfig's YAML, the TLS handshake,
//! discovery, the wasmtime engine's set-up, each plugin's loading and, on a cache miss or a
//! reload, Cranelift. Left alone, those pages stay in the resident set (VmRSS, and the
//! container's memory, which counts the page cache it brought in) until memory runs short.
//!
//! [`release_code_pages`] asks the kernel to reclaim the pages of the controller's own binary
//! (`madvise(MADV_PAGEOUT)`, Linux 5.4 and later) once the plugins are loaded, again once the
//! first lists are delivered (discovery and listing are done), and after each reload that
//! started a plugin. It changes nothing the program can see: the pages still in use fault back
//! in at their next touch (clean file pages: read again from the page cache or the file), and
//! pages the kernel shares with another process (a second replica on the same node) stay as they
//! are. The binary's mappings are found by inode; should another file with the same inode on
//! another device be mapped too, the advice moves its pages out just as harmlessly.
//! Against a real API server (docs/performance.md), VmRSS after a 20,000-object list fell from
//! 21.1 to 16.0 MiB (a native kube-rs watcher: 14.6); the code the controller keeps running is
//! about 4.4 MiB.

/// What one [`release_code_pages`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Released {
    /// Read-only mappings of the binary advised.
    pub mappings: usize,
    /// Their total size, in bytes (mapped, not necessarily resident).
    pub mapped_bytes: u64,
    /// The process's resident file-backed memory before, in bytes.
    pub resident_before: u64,
    /// The same after.
    pub resident_after: u64,
}

/// Why the code pages could not be released (the controller runs on, with them resident).
#[derive(Debug, thiserror::Error)]
pub enum ResidencyError {
    /// `/proc/self/…` could not be read.
    #[error("cannot read {path}: {cause}")]
    Proc {
        /// The file.
        path: &'static str,
        /// Why.
        cause: std::io::Error,
    },
    /// The kernel refused the advice (before Linux 5.4, or forbidden by a seccomp profile).
    #[error("the kernel refused MADV_PAGEOUT: {0}")]
    Refused(std::io::Error),
    /// Not Linux.
    #[error("releasing code pages needs Linux")]
    Unsupported,
}

/// Asks the kernel to reclaim the resident pages of the controller's own binary: its code and
/// read-only data, never a writable mapping.
pub fn release_code_pages() -> Result<Released, ResidencyError> {
    let resident_before = resident_file_bytes()?;
    let binary = binary_inode()?;
    let maps = read_proc("/proc/self/maps")?;
    let ranges: Vec<MappedRange> = maps
        .lines()
        .filter_map(MappedRange::parse)
        .filter(|range| range.inode == binary && !range.writable)
        .collect();
    for range in &ranges {
        page_out(range)?;
    }
    Ok(Released {
        mappings: ranges.len(),
        mapped_bytes: ranges.iter().map(|r| (r.end - r.start) as u64).sum(),
        resident_before,
        resident_after: resident_file_bytes()?,
    })
}

/// [`release_code_pages`], with what it did logged at debug (a refusal too: the controller
/// works the same without).
pub fn release_code_pages_logged(after: &str) {
    match release_code_pages() {
        Ok(released) => tracing::debug!(
            after,
            mappings = released.mappings,
            resident_file_kib_before = released.resident_before / 1024,
            resident_file_kib_after = released.resident_after / 1024,
            "code pages released to the kernel"
        ),
        Err(error) => tracing::debug!(after, "code pages kept: {error}"),
    }
}

/// [`release_code_pages_logged`] on a thread of its own, so that the caller (a tokio task)
/// does not wait the milliseconds it takes.
pub fn release_code_pages_soon(after: &'static str) {
    let spawned = std::thread::Builder::new()
        .name("residency".into())
        .spawn(move || release_code_pages_logged(after));
    if let Err(error) = spawned {
        tracing::debug!(after, "code pages kept: cannot start a thread: {error}");
    }
}

/// One line of `/proc/self/maps`: an address range, whether it is writable, and the inode of
/// the file it maps (0 for anonymous memory).
#[derive(Debug, Clone, PartialEq, Eq)]
struct MappedRange {
    start: usize,
    end: usize,
    writable: bool,
    inode: u64,
}

impl MappedRange {
    /// `start-end perms offset dev inode [path]`; `None` for a line not in that form.
    fn parse(line: &str) -> Option<MappedRange> {
        let mut fields = line.split_ascii_whitespace();
        let (start, end) = fields.next()?.split_once('-')?;
        let perms = fields.next()?;
        let _offset = fields.next()?;
        let _device = fields.next()?;
        let inode = fields.next()?.parse().ok()?;
        Some(MappedRange {
            start: usize::from_str_radix(start, 16).ok()?,
            end: usize::from_str_radix(end, 16).ok()?,
            writable: perms.as_bytes().get(1) == Some(&b'w'),
            inode,
        })
    }
}

/// The inode of the running binary (still right if the file was replaced or deleted since).
fn binary_inode() -> Result<u64, ResidencyError> {
    use std::os::unix::fs::MetadataExt;
    let path = "/proc/self/exe";
    std::fs::metadata(path)
        .map(|metadata| metadata.ino())
        .map_err(|cause| ResidencyError::Proc { path, cause })
}

/// Resident file-backed memory of this process (RssFile), in bytes.
fn resident_file_bytes() -> Result<u64, ResidencyError> {
    let status = read_proc("/proc/self/status")?;
    let kib = status
        .lines()
        .find_map(|line| line.strip_prefix("RssFile:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .unwrap_or(0);
    Ok(kib * 1024)
}

fn read_proc(path: &'static str) -> Result<String, ResidencyError> {
    std::fs::read_to_string(path).map_err(|cause| ResidencyError::Proc { path, cause })
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn page_out(range: &MappedRange) -> Result<(), ResidencyError> {
    use rustix::mm::{madvise, Advice};
    // SAFETY: MADV_PAGEOUT only moves pages out of memory; what the range reads stays the same
    // (clean file pages are read back, anything else stays or is swapped and read back), so no
    // reference anywhere can observe it. The range is one of this process's own mappings, of
    // its binary, which is mapped for the life of the process; an address no longer mapped
    // would only make the call fail.
    unsafe {
        madvise(
            range.start as *mut std::ffi::c_void,
            range.end - range.start,
            Advice::LinuxPageOut,
        )
    }
    .map_err(|errno| ResidencyError::Refused(errno.into()))
}

#[cfg(not(target_os = "linux"))]
fn page_out(_range: &MappedRange) -> Result<(), ResidencyError> {
    Err(ResidencyError::Unsupported)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_maps_line_is_read_with_its_permissions_and_inode() {
        let text = "55d0c8a00000-55d0c9c00000 r-xp 00200000 fd:01 1234567                    /usr/local/bin/event-controller";
        let data = "55d0c9e00000-55d0c9e10000 rw-p 01400000 fd:01 1234567  /usr/local/bin/event-controller";
        let anonymous = "7f2a3c000000-7f2a3c021000 rw-p 00000000 00:00 0 ";
        assert_eq!(
            MappedRange::parse(text),
            Some(MappedRange {
                start: 0x55d0c8a00000,
                end: 0x55d0c9c00000,
                writable: false,
                inode: 1234567,
            })
        );
        assert!(MappedRange::parse(data).is_some_and(|r| r.writable && r.inode == 1234567));
        assert!(MappedRange::parse(anonymous).is_some_and(|r| r.inode == 0));
        assert_eq!(MappedRange::parse("not a mapping"), None);
    }

    /// The test binary's own code: resident after running, fewer pages resident right after the
    /// release, and the program still runs (this test returns).
    #[cfg(target_os = "linux")]
    #[test]
    fn releasing_the_code_pages_lowers_the_resident_file_memory() {
        let released = release_code_pages().expect("MADV_PAGEOUT on Linux 5.4+");
        assert!(released.mappings >= 2, "{released:?}");
        assert!(released.mapped_bytes > 0, "{released:?}");
        assert!(
            released.resident_after < released.resident_before,
            "{released:?}"
        );
    }
}
