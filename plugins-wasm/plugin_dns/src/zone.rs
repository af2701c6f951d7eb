//! The zone as PowerDNS's API shows it, and the plan: which rrsets to replace or delete so that
//! one object's hosts, and only them, have its records.
//!
//! # Ownership
//! Beside each A record it writes, the plugin writes a TXT record holding
//! `"heritage=event-controller,owner=Route/shop/web"` at the name's *ownership name*
//! ([`names::ownership_name`]: `_ec.web.apps.example.com.`, or
//! `_ec-wildcard.x.apps.example.com.` for `*.x.apps.example.com.`). The zone, read before every
//! change, is the source of truth:
//!
//! - a name is **this object's** when its ownership record holds exactly this object's owner
//!   string;
//! - it is **free** when it has no ownership record and no A, AAAA or CNAME record;
//! - anything else is **taken**: owned by another object, or holding records that
//!   event-controller did not write. A taken name is never changed nor deleted.
//!
//! The names to remove are the ones this object owns (found through the ownership records,
//! so also after a restart) or remembered holding (the per-instance state), minus the ones it
//! still wants.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::names;
use crate::settings::Settings;

/// What an ownership record's text starts with.
const HERITAGE: &str = "heritage=event-controller,owner=";

/// The ownership record's content for `owner`, quoted as PowerDNS's API wants TXT content.
pub fn ownership_content(owner: &str) -> String {
    format!("\"{HERITAGE}{owner}\"")
}

/// `GET /api/v1/servers/{id}/zones/{zone}`: the parts of the answer the plugin reads.
#[derive(Debug, Deserialize)]
pub struct ZoneDoc {
    #[serde(default)]
    rrsets: Vec<RrsetDoc>,
}

#[derive(Debug, Deserialize)]
struct RrsetDoc {
    name: String,
    #[serde(rename = "type")]
    rtype: String,
    #[serde(default)]
    ttl: Option<u32>,
    #[serde(default)]
    records: Vec<RecordDoc>,
}

#[derive(Debug, Deserialize)]
struct RecordDoc {
    content: String,
    #[serde(default)]
    disabled: bool,
}

/// One rrset of the zone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Rrset {
    ttl: Option<u32>,
    /// `(content, disabled)`, in the API's order.
    records: Vec<(String, bool)>,
}

impl Rrset {
    /// Whether it is exactly one enabled record with `content`, and TTL `ttl` when given.
    fn is_exactly(&self, content: &str, ttl: Option<u32>) -> bool {
        matches!(self.records.as_slice(), [(c, false)] if c == content)
            && (ttl.is_none() || self.ttl == ttl)
    }
}

/// Who the ownership record of a name names.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Claim {
    /// No ownership record.
    None,
    /// Exactly this owner string.
    Owner(String),
    /// Something else: several records, or text the plugin did not write.
    Other(String),
}

/// The zone's rrsets, by (lower-case name, type).
#[derive(Debug, Default)]
pub struct ZoneView {
    rrsets: BTreeMap<(String, String), Rrset>,
}

impl ZoneView {
    /// The view of the API's answer.
    pub fn from_doc(doc: ZoneDoc) -> ZoneView {
        let rrsets = doc
            .rrsets
            .into_iter()
            .map(|rrset| {
                let records = rrset
                    .records
                    .into_iter()
                    .map(|record| (record.content, record.disabled))
                    .collect();
                let key = (rrset.name.to_ascii_lowercase(), rrset.rtype);
                (
                    key,
                    Rrset {
                        ttl: rrset.ttl,
                        records,
                    },
                )
            })
            .collect();
        ZoneView { rrsets }
    }

    fn get(&self, name: &str, rtype: &str) -> Option<&Rrset> {
        self.rrsets.get(&(name.to_owned(), rtype.to_owned()))
    }

    /// Whether `name` has a record that an A record would clash with or replace.
    fn has_address(&self, name: &str) -> bool {
        ["A", "AAAA", "CNAME"]
            .iter()
            .any(|rtype| self.get(name, rtype).is_some())
    }

    /// Who claims `name` through its ownership record.
    fn claim(&self, name: &str) -> Claim {
        let Some(txt) = self.get(&names::ownership_name(name), "TXT") else {
            return Claim::None;
        };
        let owners: Vec<Option<&str>> = txt
            .records
            .iter()
            .map(|(content, _)| content.trim_matches('"').strip_prefix(HERITAGE))
            .collect();
        match owners.as_slice() {
            [Some(owner)] => Claim::Owner((*owner).to_owned()),
            [Some(owner), ..] => Claim::Other(format!("{owner} and others")),
            _ => Claim::Other("a TXT record that event-controller did not write".to_owned()),
        }
    }

    /// The names whose ownership record names `owner`.
    fn owned_by(&self, owner: &str) -> Vec<String> {
        self.rrsets
            .keys()
            .filter(|(_, rtype)| rtype == "TXT")
            .filter_map(|(name, _)| names::owned_name(name))
            .filter(|name| self.claim(name) == Claim::Owner(owner.to_owned()))
            .collect()
    }
}

/// What the plan does or found about one name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// Its A record (and ownership record) is written.
    Set(String),
    /// Its records are already as wanted.
    Unchanged(String),
    /// Its records are deleted: the object no longer has that host.
    Removed(String),
    /// A host outside the zone: nothing to do.
    OutOfZone(String),
    /// A host that is not a DNS name, and why.
    Invalid(String, &'static str),
    /// A name the object wants but does not own, and who or what has it.
    Taken(String, String),
    /// A name this instance wrote for the object whose ownership record is gone or changed: not
    /// removed.
    Disowned(String),
}

impl Item {
    /// Whether it calls for a warning.
    pub fn is_warning(&self) -> bool {
        matches!(
            self,
            Item::Invalid(..) | Item::Taken(..) | Item::Disowned(_)
        )
    }
}

/// One entry of a PATCH's `rrsets`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub name: String,
    #[serde(rename = "type")]
    pub rtype: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u32>,
    pub changetype: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub records: Option<Vec<Record>>,
}

/// One record of a [`Change`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Record {
    pub content: String,
    pub disabled: bool,
}

/// The body of `PATCH /api/v1/servers/{id}/zones/{zone}`.
#[derive(Debug, Serialize)]
pub struct Patch<'a> {
    pub rrsets: &'a [Change],
}

impl Change {
    fn replace(name: String, rtype: &'static str, ttl: u32, content: String) -> Change {
        Change {
            name,
            rtype,
            ttl: Some(ttl),
            changetype: "REPLACE",
            records: Some(vec![Record {
                content,
                disabled: false,
            }]),
        }
    }

    fn delete(name: String, rtype: &'static str) -> Change {
        Change {
            name,
            rtype,
            ttl: None,
            changetype: "DELETE",
            records: None,
        }
    }
}

/// What to do for one object.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// What happens to each name, in order: the wanted hosts, then the removals.
    pub items: Vec<Item>,
    /// The PATCH's rrsets; none when the zone is already as wanted.
    pub changes: Vec<Change>,
    /// The names the object holds once the changes are applied.
    pub held: Vec<String>,
}

/// The plan for the object `owner` whose hosts are now `hosts` (none once deleted), which this
/// instance remembers holding `remembered`, given the zone as it is.
pub fn plan(
    settings: &Settings,
    owner: &str,
    hosts: &[String],
    remembered: &[String],
    zone: &ZoneView,
) -> Plan {
    let mut plan = Plan::default();
    let address = settings.router_address.to_string();
    let ownership = ownership_content(owner);
    let mut wanted = BTreeSet::new();
    for host in hosts {
        let name = match names::host(host) {
            Ok(name) => name,
            Err(reason) => {
                plan.items.push(Item::Invalid(host.clone(), reason));
                continue;
            }
        };
        if !names::in_zone(&name, &settings.zone) {
            plan.items.push(Item::OutOfZone(host.clone()));
            continue;
        }
        if !wanted.insert(name.clone()) {
            continue;
        }
        match zone.claim(&name) {
            Claim::Owner(other) if other != owner => {
                let other = crate::objects::display_owner(&other);
                plan.items
                    .push(Item::Taken(name, format!("owned by {other}")));
                continue;
            }
            Claim::Other(what) => {
                plan.items
                    .push(Item::Taken(name, format!("claimed by {what}")));
                continue;
            }
            Claim::None if zone.has_address(&name) => {
                let what = ["A", "AAAA", "CNAME"]
                    .into_iter()
                    .filter(|rtype| zone.get(&name, rtype).is_some())
                    .collect::<Vec<_>>()
                    .join("/");
                plan.items.push(Item::Taken(
                    name,
                    format!("it has {what} records that event-controller did not write"),
                ));
                continue;
            }
            Claim::Owner(_) | Claim::None => {}
        }
        let ownership_name = names::ownership_name(&name);
        let in_place = zone
            .get(&name, "A")
            .is_some_and(|a| a.is_exactly(&address, Some(settings.ttl)))
            && zone
                .get(&ownership_name, "TXT")
                .is_some_and(|txt| txt.is_exactly(&ownership, None));
        if in_place {
            plan.items.push(Item::Unchanged(name.clone()));
        } else {
            plan.changes.push(Change::replace(
                name.clone(),
                "A",
                settings.ttl,
                address.clone(),
            ));
            plan.changes.push(Change::replace(
                ownership_name,
                "TXT",
                settings.ttl,
                ownership.clone(),
            ));
            plan.items.push(Item::Set(name.clone()));
        }
        plan.held.push(name);
    }

    let owned: BTreeSet<String> = zone.owned_by(owner).into_iter().collect();
    let candidates: BTreeSet<&String> = owned.iter().chain(remembered).collect();
    for name in candidates {
        if wanted.contains(name) {
            continue;
        }
        if owned.contains(name) {
            plan.changes.push(Change::delete(name.clone(), "A"));
            plan.changes
                .push(Change::delete(names::ownership_name(name), "TXT"));
            plan.items.push(Item::Removed(name.clone()));
        } else if zone.has_address(name) {
            // Remembered, but no longer ours in the zone: someone changed it; leave it.
            plan.items.push(Item::Disowned(name.clone()));
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings::from_json(
            r#"{"api_url": "http://127.0.0.1:8081", "zone": "apps.example.com.", "router_address": "10.0.0.10", "ttl": 60}"#,
        )
        .expect("valid")
    }

    fn zone(json: &str) -> ZoneView {
        ZoneView::from_doc(serde_json::from_str(json).expect("zone JSON"))
    }

    fn hosts(hosts: &[&str]) -> Vec<String> {
        hosts.iter().map(|h| (*h).to_owned()).collect()
    }

    const EMPTY: &str = r#"{"rrsets":[{"name":"apps.example.com.","type":"SOA","ttl":60,"records":[{"content":"ns1.apps.example.com. hostmaster.apps.example.com. 1 10800 3600 604800 60","disabled":false}]}]}"#;

    /// The zone with web.apps.example.com. as Route/shop/web wrote it, plus `extra` rrsets.
    fn with_web(extra: &str) -> ZoneView {
        zone(&format!(
            r#"{{"rrsets":[{{"name":"web.apps.example.com.","type":"A","ttl":60,"records":[{{"content":"10.0.0.10","disabled":false}}]}},{{"name":"_ec.web.apps.example.com.","type":"TXT","ttl":60,"records":[{{"content":"\"heritage=event-controller,owner=Route/shop/web\"","disabled":false}}]}}{extra}]}}"#
        ))
    }

    #[test]
    fn a_new_host_is_replaced_with_its_ownership_record() {
        let plan = plan(
            &settings(),
            "Route/shop/web",
            &hosts(&["web.apps.example.com"]),
            &[],
            &zone(EMPTY),
        );
        assert_eq!(plan.items, [Item::Set("web.apps.example.com.".into())]);
        assert_eq!(plan.held, ["web.apps.example.com."]);
        assert_eq!(
            serde_json::to_string(&Patch {
                rrsets: &plan.changes
            })
            .expect("JSON"),
            r#"{"rrsets":[{"name":"web.apps.example.com.","type":"A","ttl":60,"changetype":"REPLACE","records":[{"content":"10.0.0.10","disabled":false}]},{"name":"_ec.web.apps.example.com.","type":"TXT","ttl":60,"changetype":"REPLACE","records":[{"content":"\"heritage=event-controller,owner=Route/shop/web\"","disabled":false}]}]}"#
        );
    }

    #[test]
    fn records_in_place_need_no_change() {
        let plan = plan(
            &settings(),
            "Route/shop/web",
            &hosts(&["WEB.apps.example.com."]),
            &[],
            &with_web(""),
        );
        assert_eq!(
            plan.items,
            [Item::Unchanged("web.apps.example.com.".into())]
        );
        assert!(plan.changes.is_empty());
        assert_eq!(plan.held, ["web.apps.example.com."]);
    }

    #[test]
    fn a_changed_address_or_ttl_is_replaced() {
        let mut other = settings();
        other.router_address = "10.0.0.11".parse().expect("IPv4");
        let plan_ = plan(
            &other,
            "Route/shop/web",
            &hosts(&["web.apps.example.com"]),
            &[],
            &with_web(""),
        );
        assert_eq!(plan_.items, [Item::Set("web.apps.example.com.".into())]);
        assert_eq!(
            plan_.changes[0].records.as_ref().expect("records")[0].content,
            "10.0.0.11"
        );
        let mut longer = settings();
        longer.ttl = 300;
        let plan_ = plan(
            &longer,
            "Route/shop/web",
            &hosts(&["web.apps.example.com"]),
            &[],
            &with_web(""),
        );
        assert_eq!(plan_.changes.len(), 2);
        assert_eq!(plan_.changes[0].ttl, Some(300));
    }

    #[test]
    fn a_moved_host_deletes_the_old_records() {
        let plan = plan(
            &settings(),
            "Route/shop/web",
            &hosts(&["shop.apps.example.com"]),
            &[],
            &with_web(""),
        );
        assert_eq!(
            plan.items,
            [
                Item::Set("shop.apps.example.com.".into()),
                Item::Removed("web.apps.example.com.".into())
            ]
        );
        assert_eq!(
            serde_json::to_string(&Patch {
                rrsets: &plan.changes
            })
            .expect("JSON"),
            r#"{"rrsets":[{"name":"shop.apps.example.com.","type":"A","ttl":60,"changetype":"REPLACE","records":[{"content":"10.0.0.10","disabled":false}]},{"name":"_ec.shop.apps.example.com.","type":"TXT","ttl":60,"changetype":"REPLACE","records":[{"content":"\"heritage=event-controller,owner=Route/shop/web\"","disabled":false}]},{"name":"web.apps.example.com.","type":"A","changetype":"DELETE"},{"name":"_ec.web.apps.example.com.","type":"TXT","changetype":"DELETE"}]}"#
        );
        assert_eq!(plan.held, ["shop.apps.example.com."]);
    }

    #[test]
    fn names_of_others_are_never_touched() {
        // Owned by another Route; and a hand-made A record with no ownership record.
        let zone = with_web(
            r#",{"name":"manual.apps.example.com.","type":"A","ttl":300,"records":[{"content":"192.0.2.1","disabled":false}]},{"name":"alias.apps.example.com.","type":"CNAME","ttl":300,"records":[{"content":"web.apps.example.com.","disabled":false}]},{"name":"_ec.odd.apps.example.com.","type":"TXT","ttl":300,"records":[{"content":"\"v=spf1 -all\"","disabled":false}]}"#,
        );
        let plan_ = plan(
            &settings(),
            "Route/shop/other",
            &hosts(&[
                "web.apps.example.com",
                "manual.apps.example.com",
                "alias.apps.example.com",
                "odd.apps.example.com",
            ]),
            // Even a name it remembers is left alone when the zone says it is not its own.
            &[
                "manual.apps.example.com.".to_owned(),
                "web.apps.example.com.".to_owned(),
            ],
            &zone,
        );
        assert_eq!(
            plan_.items,
            [
                Item::Taken(
                    "web.apps.example.com.".into(),
                    "owned by Route shop/web".into()
                ),
                Item::Taken(
                    "manual.apps.example.com.".into(),
                    "it has A records that event-controller did not write".into()
                ),
                Item::Taken(
                    "alias.apps.example.com.".into(),
                    "it has CNAME records that event-controller did not write".into()
                ),
                Item::Taken(
                    "odd.apps.example.com.".into(),
                    "claimed by a TXT record that event-controller did not write".into()
                ),
            ]
        );
        assert!(plan_.changes.is_empty());
        assert!(plan_.held.is_empty());

        // Once deleted, Route/shop/other removes nothing of them either.
        let deleted = plan(
            &settings(),
            "Route/shop/other",
            &[],
            &[
                "manual.apps.example.com.".to_owned(),
                "web.apps.example.com.".to_owned(),
            ],
            &zone,
        );
        assert_eq!(
            deleted.items,
            [
                Item::Disowned("manual.apps.example.com.".into()),
                Item::Disowned("web.apps.example.com.".into())
            ]
        );
        assert!(deleted.changes.is_empty());
    }

    #[test]
    fn a_deleted_object_removes_what_the_zone_says_it_owns() {
        // Nothing remembered (a new instance after a restart): the ownership records suffice.
        let zone = with_web(
            r#",{"name":"*.wild.apps.example.com.","type":"A","ttl":60,"records":[{"content":"10.0.0.10","disabled":false}]},{"name":"_ec-wildcard.wild.apps.example.com.","type":"TXT","ttl":60,"records":[{"content":"\"heritage=event-controller,owner=Route/shop/web\"","disabled":false}]},{"name":"_ec.api.apps.example.com.","type":"TXT","ttl":60,"records":[{"content":"\"heritage=event-controller,owner=Route/shop/web2\"","disabled":false}]},{"name":"api.apps.example.com.","type":"A","ttl":60,"records":[{"content":"10.0.0.10","disabled":false}]}"#,
        );
        let plan = plan(&settings(), "Route/shop/web", &[], &[], &zone);
        assert_eq!(
            plan.items,
            [
                Item::Removed("*.wild.apps.example.com.".into()),
                Item::Removed("web.apps.example.com.".into()),
            ]
        );
        let deleted: Vec<(&str, &str, &str)> = plan
            .changes
            .iter()
            .map(|c| (c.name.as_str(), c.rtype, c.changetype))
            .collect();
        assert_eq!(
            deleted,
            [
                ("*.wild.apps.example.com.", "A", "DELETE"),
                ("_ec-wildcard.wild.apps.example.com.", "TXT", "DELETE"),
                ("web.apps.example.com.", "A", "DELETE"),
                ("_ec.web.apps.example.com.", "TXT", "DELETE"),
            ]
        );
        assert!(plan.held.is_empty());
    }

    #[test]
    fn hosts_outside_the_zone_and_invalid_ones_are_skipped() {
        let plan = plan(
            &settings(),
            "Ingress/shop/store",
            &hosts(&[
                "a.apps.example.com",
                "other.example.org",
                "webapps.example.com",
                "bad_name.apps.example.com",
                "*.b.apps.example.com",
                "A.apps.example.com.",
            ]),
            &[],
            &zone(EMPTY),
        );
        assert_eq!(
            plan.items,
            [
                Item::Set("a.apps.example.com.".into()),
                Item::OutOfZone("other.example.org".into()),
                Item::OutOfZone("webapps.example.com".into()),
                Item::Invalid("bad_name.apps.example.com".into(), "not a valid DNS name"),
                Item::Set("*.b.apps.example.com.".into()),
            ]
        );
        assert_eq!(plan.changes.len(), 4);
        assert_eq!(plan.changes[3].name, "_ec-wildcard.b.apps.example.com.");
        assert_eq!(plan.held, ["a.apps.example.com.", "*.b.apps.example.com."]);
    }

    #[test]
    fn remembered_names_already_gone_are_forgotten_quietly() {
        let plan = plan(
            &settings(),
            "Route/shop/web",
            &[],
            &["gone.apps.example.com.".to_owned()],
            &zone(EMPTY),
        );
        assert_eq!(plan, Plan::default());
    }

    #[test]
    fn ownership_records_with_several_owners_are_nobodys() {
        let zone = zone(
            r#"{"rrsets":[{"name":"_ec.x.apps.example.com.","type":"TXT","ttl":60,"records":[{"content":"\"heritage=event-controller,owner=Route/a/x\"","disabled":false},{"content":"\"heritage=event-controller,owner=Route/b/x\"","disabled":false}]}]}"#,
        );
        let plan = plan(
            &settings(),
            "Route/a/x",
            &hosts(&["x.apps.example.com"]),
            &[],
            &zone,
        );
        assert_eq!(
            plan.items,
            [Item::Taken(
                "x.apps.example.com.".into(),
                "claimed by Route/a/x and others".into()
            )]
        );
        let deleted = super::plan(&settings(), "Route/a/x", &[], &[], &zone);
        assert!(deleted.changes.is_empty());
    }
}
