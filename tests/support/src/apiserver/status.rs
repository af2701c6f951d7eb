//! `Status` bodies, as the real server words and orders them.

use super::resources::ResourceDef;
use serde::Serialize;

/// The body of a 429 the real server sent for a watch on a just-created CRD, byte for byte.
pub const STORAGE_INITIALIZING_429: &str =
    include_str!("../../../data/status-429-storage-initializing.json");

#[derive(Serialize, Debug)]
pub struct Status {
    kind: &'static str,
    #[serde(rename = "apiVersion")]
    api_version: &'static str,
    metadata: Empty,
    status: &'static str,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub reason: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<Box<Details>>,
    #[serde(skip_serializing_if = "is_zero")]
    pub code: u16,
}

fn is_zero(code: &u16) -> bool {
    *code == 0
}

#[derive(Serialize, Debug)]
struct Empty {}

#[derive(Serialize, Debug, Default)]
struct Details {
    #[serde(skip_serializing_if = "str::is_empty")]
    name: String,
    #[serde(skip_serializing_if = "str::is_empty")]
    group: &'static str,
    #[serde(skip_serializing_if = "str::is_empty")]
    kind: String,
    #[serde(skip_serializing_if = "str::is_empty")]
    uid: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    causes: Vec<Cause>,
    #[serde(rename = "retryAfterSeconds", skip_serializing_if = "Option::is_none")]
    retry_after_seconds: Option<u32>,
}

impl Details {
    /// The details naming one object: its name, group and resource.
    fn about(def: &ResourceDef, name: &str) -> Details {
        Details {
            name: name.to_owned(),
            group: def.group,
            kind: def.plural.to_owned(),
            ..Details::default()
        }
    }
}

#[derive(Serialize, Debug)]
struct Cause {
    #[serde(skip_serializing_if = "str::is_empty")]
    reason: &'static str,
    message: String,
    #[serde(skip_serializing_if = "str::is_empty")]
    field: &'static str,
}

impl Status {
    fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Status {
        Status {
            kind: "Status",
            api_version: "v1",
            metadata: Empty {},
            status: "Failure",
            message: message.into(),
            reason,
            details: None,
            code,
        }
    }

    fn with_details(mut self, details: Details) -> Status {
        self.details = Some(Box::new(details));
        self
    }

    /// The JSON, without a trailing newline.
    pub fn to_json(&self) -> Vec<u8> {
        // A struct of strings and numbers always serializes.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// The answer to a DELETE of a resource that does not return the deleted object: `Success`,
    /// naming the object, without message, reason or code.
    pub fn deleted(def: &ResourceDef, name: &str, uid: &str) -> Status {
        let mut status = Status::new(0, "", "").with_details(Details {
            uid: uid.to_owned(),
            ..Details::about(def, name)
        });
        status.status = "Success";
        status
    }

    pub fn bad_request(message: impl Into<String>) -> Status {
        Status::new(400, "BadRequest", message)
    }

    pub fn unauthorized() -> Status {
        Status::new(401, "Unauthorized", "Unauthorized")
    }

    /// `pods is forbidden: User "u" cannot list resource "pods" in API group "" at the cluster
    /// scope` (or `in the namespace "ns"`).
    pub fn forbidden(user: &str, verb: &str, def: &ResourceDef, namespace: Option<&str>) -> Status {
        let scope = match namespace {
            Some(ns) => format!("in the namespace \"{ns}\""),
            None => "at the cluster scope".to_owned(),
        };
        let message = format!(
            "{} is forbidden: User \"{user}\" cannot {verb} resource \"{}\" in API group \"{}\" {scope}",
            def.plural, def.plural, def.group
        );
        Status::new(403, "Forbidden", message).with_details(Details {
            group: def.group,
            kind: def.plural.to_owned(),
            ..Details::default()
        })
    }

    /// The answer to a path the server does not serve.
    pub fn path_not_found() -> Status {
        Status::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
        .with_details(Details::default())
    }

    /// `configmaps "x" not found`, `leases.coordination.k8s.io "x" not found`.
    pub fn object_not_found(def: &ResourceDef, name: &str) -> Status {
        Status::new(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", def.qualified()),
        )
        .with_details(Details::about(def, name))
    }

    /// 409 AlreadyExists: a create of an existing name.
    pub fn already_exists(def: &ResourceDef, name: &str) -> Status {
        Status::new(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", def.qualified()),
        )
        .with_details(Details::about(def, name))
    }

    /// 409 Conflict, `Operation cannot be fulfilled on leases.coordination.k8s.io "x": {why}`.
    pub fn conflict(def: &ResourceDef, name: &str, why: &str) -> Status {
        Status::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": {why}",
                def.qualified()
            ),
        )
        .with_details(Details::about(def, name))
    }

    /// 409 Conflict of a server-side apply: `message` names the managers and fields.
    pub fn apply_conflict(def: &ResourceDef, name: &str, message: String) -> Status {
        Status::new(409, "Conflict", message).with_details(Details::about(def, name))
    }

    /// 422 Invalid: a created object without a name.
    pub fn name_required(def: &ResourceDef) -> Status {
        let message = "Required value: name or generateName is required";
        Status::new(
            422,
            "Invalid",
            format!("{} \"\" is invalid: metadata.name: {message}", def.kind),
        )
        .with_details(Details {
            group: def.group,
            kind: def.kind.to_owned(),
            causes: vec![Cause {
                reason: "FieldValueRequired",
                message: message.to_owned(),
                field: "metadata.name",
            }],
            ..Details::default()
        })
    }

    /// What the real server (its etcd store) answers to a create that carries a
    /// resourceVersion: a 500 with neither reason nor details.
    pub fn resource_version_on_create() -> Status {
        Status::new(
            500,
            "",
            "resourceVersion should not be set on objects to be created",
        )
    }

    pub fn method_not_allowed() -> Status {
        Status::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )
        .with_details(Details::default())
    }

    /// 410 Expired: a too old resourceVersion or continue token.
    pub fn expired(message: impl Into<String>) -> Status {
        Status::new(410, "Expired", message)
    }

    pub fn too_old_resource_version(rv: u64, floor: u64) -> Status {
        Status::expired(format!("too old resource version: {rv} ({floor})"))
    }

    /// 422 Invalid `ListOptions`: each problem is (field, message).
    pub fn invalid_list_options(problems: &[(&'static str, String)]) -> Status {
        let errors: Vec<String> = problems
            .iter()
            .map(|(field, message)| format!("{field}: Forbidden: {message}"))
            .collect();
        let joined = match errors.as_slice() {
            [one] => one.clone(),
            many => format!("[{}]", many.join(", ")),
        };
        let causes = problems
            .iter()
            .map(|(field, message)| Cause {
                reason: "FieldValueForbidden",
                message: format!("Forbidden: {message}"),
                field,
            })
            .collect();
        Status::new(
            422,
            "Invalid",
            format!("ListOptions.meta.k8s.io \"\" is invalid: {joined}"),
        )
        .with_details(Details {
            group: "meta.k8s.io",
            kind: "ListOptions".to_owned(),
            causes,
            ..Details::default()
        })
    }

    pub fn internal_error(cause: &str) -> Status {
        Status::new(
            500,
            "InternalError",
            format!("Internal error occurred: {cause}"),
        )
        .with_details(Details {
            causes: vec![Cause {
                reason: "",
                message: cause.to_owned(),
                field: "",
            }],
            ..Details::default()
        })
    }

    pub fn service_unavailable() -> Status {
        Status::new(
            503,
            "ServiceUnavailable",
            "the server is currently unable to handle the request",
        )
    }

    /// 504: a list at a resourceVersion the server has not reached.
    pub fn too_large_resource_version(rv: u64, current: u64) -> Status {
        Status::new(
            504,
            "Timeout",
            format!("Too large resource version: {rv}, current: {current}"),
        )
        .with_details(Details {
            causes: vec![Cause {
                reason: "ResourceVersionTooLarge",
                message: "Too large resource version".to_owned(),
                field: "",
            }],
            retry_after_seconds: Some(1),
            ..Details::default()
        })
    }

    /// Any other code, with the reason the real server gives it.
    pub fn for_code(code: u16) -> Status {
        match code {
            400 => Status::bad_request("the server rejected our request for an unknown reason"),
            401 => Status::unauthorized(),
            404 => Status::path_not_found(),
            405 => Status::method_not_allowed(),
            500 => Status::internal_error("injected by the test"),
            503 => Status::service_unavailable(),
            _ => {
                let reason = match code {
                    403 => "Forbidden",
                    409 => "Conflict",
                    410 => "Expired",
                    422 => "Invalid",
                    429 => "TooManyRequests",
                    504 => "Timeout",
                    _ => "InternalError",
                };
                Status::new(code, reason, format!("injected {code} {reason}"))
            }
        }
    }
}
