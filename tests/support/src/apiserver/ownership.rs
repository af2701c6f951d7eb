//! Server-side apply's field ownership, as far as clients can tell it apart: every write records
//! which manager set which fields (`fieldManager` of the request, with its operation: `Apply` for
//! an apply, `Update` for a create, an update or a merge patch), and an apply without `force`
//! that would change a field another manager owns is a 409 naming the manager and the field, as
//! the real API server answers. A manager's `Apply` and `Update` are two owners: a field created
//! by `M` and applied with another value by `M` conflicts (the pitfall docs/ABI.md §6 warns of).
//!
//! Simplified: fields are the leaves of the object's maps (a list is one field); `metadata`
//! counts only through its `labels` and `annotations`; fields an apply leaves out are not
//! removed; `managedFields` is not written into objects.

use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

/// Who set each field of each object.
#[derive(Debug, Default)]
pub struct FieldOwners {
    /// Object (`resource/namespace/name`) → field path (`.data.k`) → owner (`manager (Apply)`).
    objects: HashMap<String, BTreeMap<String, Owner>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Owner {
    manager: String,
    apply: bool,
}

/// The `fieldManager` of a request's query (the real server derives one from the user agent
/// when absent; here `unknown`).
pub fn manager(query: &str) -> String {
    super::query::pairs(query)
        .ok()
        .and_then(|pairs| pairs.into_iter().find(|(k, _)| k == "fieldManager"))
        .map_or_else(|| "unknown".to_owned(), |(_, v)| v)
}

/// The key of an object: `resource/namespace/name`.
pub fn key(resource: &str, namespace: Option<&str>, name: &str) -> String {
    format!("{resource}/{}/{name}", namespace.unwrap_or_default())
}

/// Whether the query says `force=true`.
pub fn forced(query: &str) -> bool {
    super::query::pairs(query)
        .ok()
        .is_some_and(|pairs| pairs.iter().any(|(k, v)| k == "force" && v == "true"))
}

impl FieldOwners {
    /// `manager` set every field of `written` (a created or updated object, or a merge patch)
    /// with an update.
    pub fn updated(&mut self, object: &str, manager: &str, written: &Value) {
        self.take(object, manager, false, written);
    }

    /// `manager` applied `applied`: it owns its fields from now on (taken from others when
    /// forced).
    pub fn applied(&mut self, object: &str, manager: &str, applied: &Value) {
        self.take(object, manager, true, applied);
    }

    /// The object is gone, and its owners with it.
    pub fn forget(&mut self, object: &str) {
        self.objects.remove(object);
    }

    /// Why an apply of `applied` by `manager` over `current` conflicts, if it does: the
    /// real server's message.
    pub fn apply_conflict(
        &self,
        object: &str,
        manager: &str,
        current: &Value,
        applied: &Value,
    ) -> Option<String> {
        let owners = self.objects.get(object)?;
        let api_version = current["apiVersion"].as_str().unwrap_or("v1");
        let mut conflicts: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (path, value) in fields(applied) {
            let Some(owner) = owners.get(&path) else {
                continue;
            };
            let own = owner.apply && owner.manager == manager;
            if !own && lookup(current, &path) != Some(&value) {
                let who = if owner.apply {
                    format!("\"{}\"", owner.manager)
                } else {
                    format!("\"{}\" using {api_version}", owner.manager)
                };
                conflicts.entry(who).or_default().push(path);
            }
        }
        let count: usize = conflicts.values().map(Vec::len).sum();
        if count == 0 {
            return None;
        }
        let plural = if count == 1 { "" } else { "s" };
        let groups: Vec<String> = conflicts
            .iter()
            .map(|(who, paths)| match paths.as_slice() {
                [path] => format!("conflict with {who}: {path}"),
                paths => format!("conflicts with {who}:\n- {}", paths.join("\n- ")),
            })
            .collect();
        Some(format!(
            "Apply failed with {count} conflict{plural}: {}",
            groups.join("\n")
        ))
    }

    fn take(&mut self, object: &str, manager: &str, apply: bool, written: &Value) {
        let owners = self.objects.entry(object.to_owned()).or_default();
        for (path, _) in fields(written) {
            owners.insert(
                path,
                Owner {
                    manager: manager.to_owned(),
                    apply,
                },
            );
        }
    }
}

/// The fields an object or patch sets: leaf paths and values (a `null` of a merge patch removes,
/// and sets nothing).
fn fields(object: &Value) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let Value::Object(members) = object else {
        return out;
    };
    for (key, value) in members {
        match key.as_str() {
            "apiVersion" | "kind" | "status" => {}
            "metadata" => {
                for part in ["labels", "annotations"] {
                    collect(&format!(".metadata.{part}"), &value[part], &mut out);
                }
            }
            _ => collect(&format!(".{key}"), value, &mut out),
        }
    }
    out
}

fn collect(path: &str, value: &Value, out: &mut Vec<(String, Value)>) {
    match value {
        Value::Null => {}
        Value::Object(members) => {
            for (key, member) in members {
                collect(&format!("{path}.{key}"), member, out);
            }
        }
        leaf => out.push((path.to_owned(), leaf.clone())),
    }
}

/// The value at a leaf path of [`fields`].
fn lookup<'a>(object: &'a Value, path: &str) -> Option<&'a Value> {
    path.strip_prefix('.')?
        .split('.')
        .try_fold(object, |value, key| value.get(key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_apply_conflicts_with_other_owners_unless_the_value_is_the_same() {
        let mut owners = FieldOwners::default();
        let created = json!({"apiVersion": "v1", "metadata": {"name": "a", "labels": {"l": "1"}}, "data": {"k": "v1"}});
        owners.updated("cm/shop/a", "me", &created);
        let same = json!({"metadata": {"name": "a"}, "data": {"k": "v1"}});
        assert_eq!(
            owners.apply_conflict("cm/shop/a", "me", &created, &same),
            None
        );
        let other = json!({"metadata": {"name": "a", "labels": {"l": "2"}}, "data": {"k": "v2"}});
        assert_eq!(
            owners
                .apply_conflict("cm/shop/a", "me", &created, &other)
                .as_deref(),
            Some("Apply failed with 2 conflicts: conflicts with \"me\" using v1:\n- .data.k\n- .metadata.labels.l")
        );
        // Once the manager applied (forced), its own applies no longer conflict.
        owners.applied("cm/shop/a", "me", &other);
        let again = json!({"metadata": {"name": "a", "labels": {"l": "3"}}, "data": {"k": "v3"}});
        assert_eq!(
            owners.apply_conflict("cm/shop/a", "me", &other, &again),
            None
        );
        // A field no one owns is free.
        let new_field = json!({"data": {"new": "x"}});
        assert_eq!(
            owners.apply_conflict("cm/shop/a", "you", &other, &new_field),
            None
        );
    }

    #[test]
    fn queries_name_the_manager_and_force() {
        assert_eq!(
            manager("fieldManager=ns-defaults&force=true"),
            "ns-defaults"
        );
        assert_eq!(manager(""), "unknown");
        assert!(forced("fieldManager=x&force=true"));
        assert!(!forced("fieldManager=x&force=false"));
    }
}
