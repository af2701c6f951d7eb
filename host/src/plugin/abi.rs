//! Checking a compiled module against guest ABI v1 (docs/ABI.md) before it is instantiated.

use event_controller_guest::abi;
use wasmtime::{ExternType, FuncType, Module};

/// The WASI preview 1 import module.
pub const WASI_P1_MODULE: &str = "wasi_snapshot_preview1";
/// A WASI command's entry point.
const WASI_START: &str = "_start";

/// How a module breaks the ABI; each message names the export or import at fault.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AbiError {
    /// A required export is absent.
    #[error("missing export `{name}` (expected {expected})")]
    MissingExport {
        /// The export's name.
        name: &'static str,
        /// What it should be, e.g. `func (i32, i32) -> i64`.
        expected: &'static str,
    },
    /// An export exists with the wrong kind or signature.
    #[error("export `{name}` is {found}, expected {expected}")]
    WrongExport {
        /// The export's name.
        name: &'static str,
        /// What the module has.
        found: String,
        /// What the ABI requires.
        expected: &'static str,
    },
    /// The module is a WASI command (`_start`), whose runtime only starts in `_start`: every
    /// other export would trap (Go without `-buildmode=c-shared`, C without
    /// `-mexec-model=reactor`).
    #[error("exports `_start` but not `_initialize`: it is a WASI command, not a reactor; build it as a reactor or library (docs/ABI.md §10: Go `-buildmode=c-shared`, C `-mexec-model=reactor`)")]
    Command,
    /// A component imports something the host does not provide.
    #[error("imports `{name}` ({found}), which the host does not provide (it provides `event-controller:plugin/host@2.0.0`, its `types` and WASI 0.2)")]
    UnknownComponentImport {
        /// The import's name.
        name: String,
        /// What kind of item it is.
        found: String,
    },
    /// A component exports `handle-event` or `init` as something other than a function.
    #[error("export `{name}` is {found}, expected a function (wit/plugin.wit)")]
    WrongComponentExport {
        /// The export's name.
        name: String,
        /// What kind of item it is.
        found: String,
    },
    /// The module imports something the host does not provide.
    #[error("imports `{module}::{name}` ({found}), which the host does not provide (it provides `event_controller::log` {LOG_SIGNATURE}, `event_controller::http_request` and `kube_request` {HTTP_REQUEST_SIGNATURE}, `event_controller::metric` {METRIC_SIGNATURE}, and WASI preview 1)")]
    UnknownImport {
        /// The import's module.
        module: String,
        /// The import's name.
        name: String,
        /// The import's type.
        found: String,
    },
}

const LOG_SIGNATURE: &str = "func (i32, i32, i32) -> ()";
const HTTP_REQUEST_SIGNATURE: &str = "func (i32, i32) -> i64";
const METRIC_SIGNATURE: &str = "func (i32, i32) -> i32";

/// One export the ABI names: its name, expected type, and whether it is required.
struct ExportSpec {
    name: &'static str,
    signature: &'static str,
    required: bool,
}

const EXPORTS: &[ExportSpec] = &[
    ExportSpec {
        name: abi::ALLOC,
        signature: "func (i32) -> i32",
        required: true,
    },
    ExportSpec {
        name: abi::DEALLOC,
        signature: "func (i32, i32) -> ()",
        required: true,
    },
    ExportSpec {
        name: abi::HANDLE_EVENT,
        signature: "func (i32, i32) -> i64",
        required: true,
    },
    ExportSpec {
        name: abi::INIT,
        signature: "func (i32, i32) -> i32",
        required: false,
    },
    ExportSpec {
        name: abi::INITIALIZE,
        signature: "func () -> ()",
        required: false,
    },
    ExportSpec {
        name: abi::ABI_VERSION_EXPORT,
        signature: "func () -> i32",
        required: false,
    },
];

/// What the ABI check learned about a module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModuleShape {
    /// Exports `init`.
    pub has_init: bool,
    /// Exports `_initialize` (a WASI reactor).
    pub has_initialize: bool,
    /// Exports `ec_abi_version`.
    pub declares_version: bool,
    /// Imports WASI (preview 1 for a core module, 0.2 for a component).
    pub uses_wasi: bool,
    /// The guest ABI it follows: 1 for a core module, 2 for a component.
    pub abi_version: i32,
}

/// Checks every export and import of `module` against the ABI.
pub fn check(module: &Module) -> Result<ModuleShape, AbiError> {
    check_memory(module)?;
    let mut present = Vec::new();
    for spec in EXPORTS {
        match module.get_export(spec.name) {
            Some(ty) => {
                let found = describe(&ty);
                if found != spec.signature {
                    return Err(AbiError::WrongExport {
                        name: spec.name,
                        found,
                        expected: spec.signature,
                    });
                }
                present.push(spec.name);
            }
            None if spec.required => {
                return Err(AbiError::MissingExport {
                    name: spec.name,
                    expected: spec.signature,
                })
            }
            None => {}
        }
    }
    if module.get_export(WASI_START).is_some() && !present.contains(&abi::INITIALIZE) {
        return Err(AbiError::Command);
    }
    let uses_wasi = check_imports(module)?;
    Ok(ModuleShape {
        has_init: present.contains(&abi::INIT),
        has_initialize: present.contains(&abi::INITIALIZE),
        declares_version: present.contains(&abi::ABI_VERSION_EXPORT),
        uses_wasi,
        abi_version: abi::ABI_VERSION,
    })
}

fn check_memory(module: &Module) -> Result<(), AbiError> {
    const EXPECTED: &str = "a 32-bit memory";
    match module.get_export(abi::MEMORY) {
        Some(ExternType::Memory(memory)) if !memory.is_64() => Ok(()),
        Some(other) => Err(AbiError::WrongExport {
            name: abi::MEMORY,
            found: describe(&other),
            expected: EXPECTED,
        }),
        None => Err(AbiError::MissingExport {
            name: abi::MEMORY,
            expected: EXPECTED,
        }),
    }
}

/// Returns whether the module imports WASI; rejects imports the host does not provide.
fn check_imports(module: &Module) -> Result<bool, AbiError> {
    let mut uses_wasi = false;
    for import in module.imports() {
        let ty = describe(&import.ty());
        let provided = match import.module() {
            WASI_P1_MODULE => {
                uses_wasi = true;
                true
            }
            abi::HOST_MODULE => matches!(
                (import.name(), ty.as_str()),
                (abi::LOG_IMPORT, LOG_SIGNATURE)
                    | (abi::HTTP_REQUEST_IMPORT, HTTP_REQUEST_SIGNATURE)
                    | (abi::KUBE_REQUEST_IMPORT, HTTP_REQUEST_SIGNATURE)
                    | (abi::METRIC_IMPORT, METRIC_SIGNATURE)
            ),
            _ => false,
        };
        if !provided {
            return Err(AbiError::UnknownImport {
                module: import.module().to_owned(),
                name: import.name().to_owned(),
                found: ty,
            });
        }
    }
    Ok(uses_wasi)
}

/// A short description of an extern's type, e.g. `func (i32, i32) -> i64` or `a 64-bit memory`.
fn describe(ty: &ExternType) -> String {
    match ty {
        ExternType::Func(func) => format!("func {}", signature(func)),
        ExternType::Memory(m) if m.is_64() => "a 64-bit memory".to_owned(),
        ExternType::Memory(_) => "a 32-bit memory".to_owned(),
        ExternType::Global(_) => "a global".to_owned(),
        ExternType::Table(_) => "a table".to_owned(),
        ExternType::Tag(_) => "a tag".to_owned(),
    }
}

fn signature(func: &FuncType) -> String {
    let params: Vec<String> = func.params().map(|p| p.to_string()).collect();
    let results: Vec<String> = func.results().map(|r| r.to_string()).collect();
    let results = match results.as_slice() {
        [single] => single.clone(),
        many => format!("({})", many.join(", ")),
    };
    format!("({}) -> {}", params.join(", "), results)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::Engine;

    fn module(wat: &str) -> Module {
        Module::new(&Engine::default(), wat).expect("valid wat")
    }

    const GOOD: &str = r#"(module
        (memory (export "memory") 1)
        (func (export "alloc") (param i32) (result i32) i32.const 0)
        (func (export "dealloc") (param i32 i32))
        (func (export "handle_event") (param i32 i32) (result i64) i64.const 0))"#;

    #[test]
    fn accepts_the_minimal_module() {
        let shape = check(&module(GOOD)).expect("conforms");
        assert!(!shape.has_init && !shape.uses_wasi);
    }

    #[test]
    fn names_a_missing_export() {
        let wat = GOOD.replace("\"handle_event\"", "\"handle\"");
        let err = check(&module(&wat)).expect_err("missing");
        assert_eq!(
            err.to_string(),
            "missing export `handle_event` (expected func (i32, i32) -> i64)"
        );
    }

    #[test]
    fn names_a_mistyped_export() {
        let wat = GOOD.replace("(result i64) i64.const 0", "(result i32) i32.const 0");
        let err = check(&module(&wat)).expect_err("mistyped");
        assert_eq!(
            err.to_string(),
            "export `handle_event` is func (i32, i32) -> i32, expected func (i32, i32) -> i64"
        );
    }

    #[test]
    fn rejects_wasi_commands() {
        let with = |exports: &str| GOOD.replace("(memory", &format!("{exports} (memory"));
        let command = with(r#"(func (export "_start"))"#);
        assert_eq!(check(&module(&command)), Err(AbiError::Command));
        let both = with(r#"(func (export "_start")) (func (export "_initialize"))"#);
        assert!(check(&module(&both)).is_ok());
    }

    #[test]
    fn rejects_foreign_imports() {
        let wat = GOOD.replace(
            "(memory",
            r#"(import "env" "abort" (func (param i32))) (memory"#,
        );
        let err = check(&module(&wat)).expect_err("foreign import");
        assert!(
            err.to_string()
                .starts_with("imports `env::abort` (func (i32) -> ())"),
            "{err}"
        );
    }
}
