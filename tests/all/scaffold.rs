//! `event-controller new`: in each language, a project written by the real binary into a
//! temporary directory (outside this repository, as a plugin author's would be) builds with the
//! build command of its README, passes its own unit tests (`bash build.sh test`), passes
//! `event-controller check`, and replays its `events.jsonl` into one `Kind: ...; Name: ...`
//! line per event, all with the commands exactly as its README gives them.
//!
//! A language whose toolchain is missing is an error under CI (`CI` set) and a loud skip
//! elsewhere, naming the command that installs it, as in the conformance suite. The Rust project
//! builds in a target directory of its own under this repository's (`scaffold-rust`), so that
//! later runs are incremental, and offline, from the crates this workspace has downloaded.

use serde_json::Value;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use support::*;

#[test]
fn a_new_rust_plugin_builds_checks_and_replays() {
    scaffold_and_run("rust");
}

#[test]
fn a_new_c_plugin_builds_checks_and_replays() {
    scaffold_and_run("c");
}

#[test]
fn a_new_go_plugin_builds_checks_and_replays() {
    scaffold_and_run("go");
}

#[test]
fn a_new_zig_plugin_builds_checks_and_replays() {
    scaffold_and_run("zig");
}

#[test]
fn a_new_assemblyscript_plugin_builds_checks_and_replays() {
    scaffold_and_run("assemblyscript");
}

/// Writes the project `hello-{lang}` with `event-controller new`, then runs its README's three
/// commands in it, and its unit tests after the build.
fn scaffold_and_run(lang: &str) {
    let Some(env) = build_env(lang) else {
        return;
    };
    let work = tempfile::tempdir().expect("temp dir");
    let name = format!("hello-{lang}");
    let output = controller()
        .args(["new", &name, "--lang", lang, "--dir"])
        .arg(work.path())
        .output()
        .expect("run event-controller new");
    assert_success(
        &output,
        &format!("event-controller new {name} --lang {lang}"),
    );
    let dir = work.path().join(&name);
    let [build, check, replay] = readme_commands(&dir);

    assert_success(&shell(&dir, &build, &env), &format!("{lang}: {build}"));
    let unit_tests = format!("{build} test");
    assert_success(
        &shell(&dir, &unit_tests, &env),
        &format!("{lang}: {unit_tests}"),
    );

    let output = host(&dir, &check, &[]);
    assert_success(&output, &format!("{lang}: {check}"));
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        report
            .lines()
            .any(|line| line == "result:   INFO Kind: Pod; Name: web-7d4b9c6f5-x2k8p"),
        "{lang}: `{check}` printed:\n{report}"
    );

    let run = Run::from(host(&dir, &replay, &["--log-format", "json"]));
    assert!(
        run.status.success(),
        "{lang}: `{replay}` failed:\n{}",
        run.stderr
    );
    let want = expected_lines(&dir.join("events.jsonl"));
    assert_eq!(want.len(), 5, "the sample has five events");
    assert_eq!(run.plugin_messages(&name), want, "{lang}: `{replay}`");
}

/// The environment `lang`'s build needs beyond the caller's, or `None` (a loud skip, or a
/// failure under CI) when its toolchain is missing.
fn build_env(lang: &str) -> Option<Vec<(&'static str, OsString)>> {
    match lang {
        // Always there: this test was built with it. The project's build.sh adds the wasm32
        // target when it is missing, as scripts/build-plugins.sh does.
        "rust" => {
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| repo().join("target"));
            Some(vec![
                ("CARGO_TARGET_DIR", target.join("scaffold-rust").into()),
                ("CARGO_NET_OFFLINE", "true".into()),
            ])
        }
        // The compiler that scripts/toolchains/assemblyscript.sh installs, so that the
        // project's build.sh does not `npm ci` one of its own.
        "assemblyscript" => toolchain_ready(lang).then(|| {
            let asc = repo().join("guest-sdk/assemblyscript/node_modules/.bin/asc");
            vec![("ASC", asc.into())]
        }),
        // build.sh finds them on PATH or where scripts/toolchains/<lang>.sh installs them.
        _ => toolchain_ready(lang).then(Vec::new),
    }
}

/// Whether `scripts/toolchains/{lang}.sh check` passes; if not, a failure under CI and a loud
/// skip elsewhere.
fn toolchain_ready(lang: &str) -> bool {
    let output = Command::new("bash")
        .arg(repo().join(format!("scripts/toolchains/{lang}.sh")))
        .arg("check")
        .stdin(Stdio::null())
        .output()
        .expect("run the toolchain check");
    if output.status.success() {
        return true;
    }
    let message = format!(
        "the {lang} toolchain is not usable ({}): run `just toolchains` \
         (or `bash scripts/toolchains/{lang}.sh install`)",
        String::from_utf8_lossy(&output.stderr)
            .lines()
            .next()
            .unwrap_or("no message")
    );
    assert!(std::env::var_os("CI").is_none(), "{message}");
    eprintln!("SKIPPED: a new {lang} plugin: {message}");
    false
}

/// The three commands of a project's README: the lines of its first `sh` code block.
fn readme_commands(dir: &Path) -> [String; 3] {
    let readme = std::fs::read_to_string(dir.join("README.md")).expect("README.md");
    let block = readme
        .split("```sh\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a sh code block in README.md");
    let commands: Vec<String> = block
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect();
    commands
        .try_into()
        .unwrap_or_else(|commands| panic!("three commands in README.md, not {commands:?}"))
}

/// Runs a README line with bash in `dir`, with `env` added to the environment.
fn shell(dir: &Path, line: &str, env: &[(&str, OsString)]) -> Output {
    Command::new("bash")
        .args(["-c", line])
        .current_dir(dir)
        .envs(env.iter().cloned())
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run `{line}`: {e}"))
}

/// Runs a README line `event-controller ARGS...` in `dir` with the real binary (see
/// [`controller`]), with `extra` arguments after it.
fn host(dir: &Path, line: &str, extra: &[&str]) -> Output {
    let mut words = line.split_whitespace();
    assert_eq!(words.next(), Some("event-controller"), "{line}");
    controller()
        .current_dir(dir)
        .args(words)
        .args(extra)
        .output()
        .expect("run event-controller")
}

/// Fails with the command's output unless it succeeded.
fn assert_success(output: &Output, what: &str) {
    assert!(
        output.status.success(),
        "`{what}` failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// What the simple plugin logs for the events of `file`, computed with serde_json: one INFO
/// `Kind: {kind}; Name: {name}` line per object event.
fn expected_lines(file: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(file).expect("events.jsonl");
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str::<Value>(line).expect("a JSON event"))
        .filter(|event| {
            matches!(
                event["type"].as_str(),
                Some("ADDED" | "MODIFIED" | "DELETED")
            )
        })
        .map(|event| {
            let object = &event["object"];
            let message = format!(
                "Kind: {}; Name: {}",
                str_of(object, "kind"),
                str_of(&object["metadata"], "name")
            );
            ("INFO".to_owned(), message)
        })
        .collect()
}
