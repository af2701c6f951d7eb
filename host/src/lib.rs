//! event-controller: watches Kubernetes resources and hands every watch event, as the JSON the
//! API server sent, to sandboxed WebAssembly plugins.
//!
//! The modules, one line each, in the order an event travels:
//!
//! - [`cluster`]: the connection to the API server, resource discovery, error messages;
//! - [`source`]: a cluster's watches ([`source::kube`], [`source::reconcile`]) or a file
//!   ([`source::replay`]) turned into events;
//! - [`event`]: one watch event, the server's bytes plus the identity read from their head;
//! - [`relay`]: from the source to the dispatcher as leadership allows, resuming from
//!   checkpoints, with the standby's warm cache;
//! - [`reflector`]: the watched objects kept for reads without the API server (the standby's
//!   warm cache, plugins' `get` and `list`);
//! - [`election`]: which replica delivers (a Lease);
//! - [`dispatch`]: every event to every plugin that subscribed;
//! - [`subscription`]: which events a plugin sees;
//! - [`redact`]: Secrets' values removed for plugins not granted them;
//! - [`worker`]: each plugin's lanes, backlog, calls, retries, back-off and priority;
//! - [`checkpoint`]: what each plugin has handled, kept in a directory or in ConfigMaps;
//! - [`plugin`]: one plugin's module or component (ABI v1 or v2) and live instance, the ABI
//!   checks and the outcome;
//! - [`runtime`]: the one wasmtime engine, its linkers, and the compiled-module cache;
//! - [`sandbox`]: an instance's store data, its limits and every function a plugin imports;
//! - [`capabilities`]: the outbound HTTP and Kubernetes requests granted per plugin;
//! - [`logging`]: the log lines plugins cause;
//! - [`metrics`]: what is counted, what runs (`/plugins`), and the health endpoints;
//!
//! and around them:
//!
//! - [`config`]: the TOML file, with file and line in every error;
//! - [`loader`]: a directory of plugins, loaded once;
//! - [`oci`]: plugins pulled from OCI registries, signatures, credentials, the local store;
//! - [`reload`]: hot reload of the directory and the config;
//! - [`residency`]: the code only start-up and reloads ran, given back to the kernel;
//! - [`controller`]: the live controller wired together;
//! - [`commands`]: the one-shot `replay`, `record` and `check`, and `status`;
//! - [`backoff`]: the one doubling delay (reconnects, plugin pauses, retries).
//!
//! Layers point down: no module imports one that imports it back, directly or through others
//! (`tests::no_module_imports_one_that_imports_it_back` reads the `crate::` paths and checks).

pub mod backoff;
pub mod capabilities;
pub mod checkpoint;
pub mod cluster;
pub mod commands;
pub mod config;
pub mod controller;
pub mod dispatch;
pub mod election;
pub mod event;
pub mod loader;
pub mod logging;
pub mod metrics;
pub mod oci;
pub mod plugin;
pub mod redact;
pub mod reflector;
pub mod relay;
pub mod reload;
pub mod residency;
pub mod runtime;
pub mod sandbox;
pub mod source;
pub mod subscription;
pub mod worker;

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::{Path, PathBuf};

    /// The top-level modules each module's code (not its tests, not its comments) names with
    /// a `crate::` path.
    fn imports() -> BTreeMap<String, BTreeSet<String>> {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for file in rust_files(&src) {
            let relative = file.strip_prefix(&src).expect("under src");
            let first = relative.iter().next().expect("a path").to_string_lossy();
            let module = first.trim_end_matches(".rs").to_owned();
            if module == "lib" || module == "main" {
                continue;
            }
            let text = std::fs::read_to_string(&file).expect("readable source");
            let code = text
                .split("#[cfg(test)]\nmod tests")
                .next()
                .unwrap_or_default();
            let code: String = code
                .lines()
                .filter(|line| !line.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n");
            let named = graph.entry(module.clone()).or_default();
            named.extend(
                crate_paths(&code)
                    .into_iter()
                    .filter(|used| *used != module),
            );
        }
        graph
    }

    /// The first segment of every `crate::` path in `code`, and of each item of a
    /// `crate::{a, b::c}` group.
    fn crate_paths(code: &str) -> Vec<String> {
        let ident = |text: &str| -> String {
            text.trim_start()
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        };
        let mut found = Vec::new();
        for (at, _) in code.match_indices("crate::") {
            let rest = &code[at + "crate::".len()..];
            match rest.strip_prefix('{') {
                Some(group) => {
                    let (mut depth, mut item_start) = (0usize, 0usize);
                    for (i, c) in group.char_indices() {
                        match c {
                            '{' => depth += 1,
                            '}' if depth == 0 => {
                                found.push(ident(&group[item_start..i]));
                                break;
                            }
                            '}' => depth -= 1,
                            ',' if depth == 0 => {
                                found.push(ident(&group[item_start..i]));
                                item_start = i + 1;
                            }
                            _ => {}
                        }
                    }
                }
                None => found.push(ident(rest)),
            }
        }
        found.retain(|name| !name.is_empty());
        found
    }

    fn rust_files(dir: &Path) -> Vec<PathBuf> {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).expect("readable dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                files.extend(rust_files(&path));
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
        files
    }

    /// A path of imports from `from` back to itself, if there is one.
    fn cycle_through(
        graph: &BTreeMap<String, BTreeSet<String>>,
        from: &str,
    ) -> Option<Vec<String>> {
        let mut stack = vec![vec![from.to_owned()]];
        let mut seen = BTreeSet::new();
        while let Some(path) = stack.pop() {
            let last = path.last().expect("non-empty");
            for next in graph.get(last).into_iter().flatten() {
                if next == from {
                    let mut cycle = path.clone();
                    cycle.push(from.to_owned());
                    return Some(cycle);
                }
                if seen.insert(next.clone()) {
                    let mut longer = path.clone();
                    longer.push(next.clone());
                    stack.push(longer);
                }
            }
        }
        None
    }

    #[test]
    fn no_module_imports_one_that_imports_it_back() {
        let graph = imports();
        assert!(graph.len() > 15, "modules found: {:?}", graph.keys());
        assert!(graph["worker"].contains("plugin"), "{:?}", graph["worker"]);
        let cycles: Vec<String> = graph
            .keys()
            .filter_map(|module| cycle_through(&graph, module))
            .map(|cycle| cycle.join(" -> "))
            .collect();
        assert!(cycles.is_empty(), "import cycles: {cycles:#?}");
    }

    #[test]
    fn the_module_map_lists_every_module() {
        let map = include_str!("lib.rs");
        for module in imports().keys() {
            assert!(
                map.contains(&format!("//! - [`{module}`]"))
                    || map.contains(&format!("[`{module}`]:")),
                "lib.rs's map does not list {module}"
            );
        }
    }
}
