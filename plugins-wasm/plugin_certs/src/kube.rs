//! Kubernetes writes through the host's `event_controller.kube_request` import, a capability
//! (docs/ABI.md §6). The SDK has no wrapper for it yet: this module declares the import and
//! frees the host's answer the way the SDK's `http` module does.

use serde::Deserialize;
use serde_json::Value;

/// The resource as the plugin names it in its requests; the operator's grant
/// (`[plugins.NAME.capabilities.kubernetes] patch = [...]`) must say exactly this.
pub const ROUTES: &str = "routes.route.openshift.io";

/// What came of a patch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The API server applied it; the object's new `metadata.resourceVersion`, when it has one.
    Patched { resource_version: Option<String> },
    /// The API server refused it (403, 404, 422...), with its Status message.
    Refused { status: u16, message: String },
    /// The host did not send it (not granted, no cluster connection, timeout), with its reason;
    /// or (`unreadable`) its answer could not be read.
    Failed { reason: String, unreadable: bool },
}

/// Reads the host's answer JSON.
pub fn parse_answer(answer: &str) -> Answer {
    #[derive(Deserialize)]
    struct Raw {
        error: Option<String>,
        status: Option<u16>,
        #[serde(default)]
        message: String,
        #[serde(default)]
        object: Value,
    }
    let raw: Raw = match serde_json::from_str(answer) {
        Ok(raw) => raw,
        Err(error) => {
            return Answer::Failed {
                reason: format!(
                    "unreadable answer from the host's kube_request ({error}): {}",
                    crate::excerpt(answer)
                ),
                unreadable: true,
            }
        }
    };
    if let Some(reason) = raw.error {
        return Answer::Failed {
            reason,
            unreadable: false,
        };
    }
    match raw.status {
        Some(200..=299) => Answer::Patched {
            resource_version: raw.object["metadata"]["resourceVersion"]
                .as_str()
                .map(str::to_owned),
        },
        Some(status) => Answer::Refused {
            status,
            message: raw.message,
        },
        None => Answer::Failed {
            reason: format!(
                "the host's kube_request answer has neither status nor error: {}",
                crate::excerpt(answer)
            ),
            unreadable: true,
        },
    }
}

#[cfg(target_arch = "wasm32")]
mod host {
    #[link(wasm_import_module = "event_controller")]
    extern "C" {
        pub fn kube_request(ptr: *const u8, len: usize) -> i64;
    }
}

/// Hands the request JSON to the host's `kube_request` and returns its answer's JSON.
#[cfg(target_arch = "wasm32")]
pub fn exchange(request: &str) -> Result<String, String> {
    use event_controller_guest::{__rt, abi};
    // SAFETY: the host only reads `[ptr, ptr + len)`, which is `request`.
    let packed = unsafe { host::kube_request(request.as_ptr(), request.len()) };
    let (ptr, len) = abi::unpack(packed);
    if ptr == 0 || len == 0 {
        return Err("the host's kube_request returned no answer".to_owned());
    }
    let ptr = ptr as usize as *mut u8;
    let len = len as usize;
    // SAFETY: the host wrote its answer into `len` bytes it got from our `alloc(len)` and hands
    // them over; they are read once, then freed once with the same length.
    let bytes = unsafe { std::slice::from_raw_parts(ptr, len) }.to_vec();
    // SAFETY: as above.
    unsafe { __rt::dealloc(ptr, len) };
    String::from_utf8(bytes).map_err(|e| format!("the host's kube_request answer: {e}"))
}

/// Natively there is no host: tests use their own [`crate::Host`].
#[cfg(not(target_arch = "wasm32"))]
pub fn exchange(_request: &str) -> Result<String, String> {
    Err("no kube_request outside the host".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers() {
        assert_eq!(
            parse_answer(
                r#"{"status":200,"object":{"metadata":{"name":"web","resourceVersion":"17"}}}"#
            ),
            Answer::Patched {
                resource_version: Some("17".to_owned())
            }
        );
        assert_eq!(
            parse_answer(r#"{"status":200}"#),
            Answer::Patched {
                resource_version: None
            }
        );
        assert_eq!(
            parse_answer(
                r#"{"status":403,"message":"routes.route.openshift.io \"web\" is forbidden"}"#
            ),
            Answer::Refused {
                status: 403,
                message: "routes.route.openshift.io \"web\" is forbidden".to_owned()
            }
        );
        assert_eq!(
            parse_answer(
                r#"{"error":"denied: patch of routes.route.openshift.io is not granted"}"#
            ),
            Answer::Failed {
                reason: "denied: patch of routes.route.openshift.io is not granted".to_owned(),
                unreadable: false,
            }
        );
        for bad in ["", "[]", "{}", r#"{"status":"200"}"#] {
            assert!(
                matches!(
                    parse_answer(bad),
                    Answer::Failed {
                        unreadable: true,
                        ..
                    }
                ),
                "{bad}"
            );
        }
    }
}
