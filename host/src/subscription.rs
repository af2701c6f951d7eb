//! Which events a plugin sees: its subscription filter (work in progress).

use serde::Deserialize;

/// A subscription as written in `[plugins.NAME.subscribe]` or in a module's custom section.
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionSection {
    /// Resources, kubectl-style or by kind.
    pub resources: Option<Vec<String>>,
    /// `ADDED`, `MODIFIED`, `DELETED`.
    pub event_types: Option<Vec<String>>,
    /// Namespaces to include.
    pub namespaces: Option<Vec<String>>,
    /// Namespaces to exclude.
    pub exclude_namespaces: Option<Vec<String>>,
    /// A label selector.
    pub label_selector: Option<String>,
}
