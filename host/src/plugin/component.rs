//! Plugins as WebAssembly components (guest ABI v2, `wit/plugin.wit`): the check of what a
//! component imports and exports, and one live instance of it.
//!
//! A component instance gets everything a core module instance gets: the same store data, the
//! same limits and deadlines, and the same rule that a trap poisons it (the caller,
//! [`super::Plugin`], starts a fresh one for the next event).

use super::abi::{AbiError, ModuleShape};
use super::instance::{arm, failed, start_failed, start_store, CallError, StartError};
use super::outcome::{Message, Outcome, Retry};
use super::PluginSettings;
use crate::sandbox::component::{self as wit, HANDLE_EVENT, HOST_INTERFACE, INIT, TYPES_INTERFACE};
use crate::sandbox::{HostServices, HostState, Limits};
use event_controller_guest::abi::MAX_RESULT_LEN;
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, Func, InstancePre};
use wasmtime::{Engine, Store};

/// The WASI 0.2 packages the host provides, with nothing granted.
const WASI_PREFIX: &str = "wasi:";

/// Checks what `component` imports and exports against ABI v2: it must export `handle-event`,
/// may export `init`, and may import only the host interface and WASI 0.2.
pub fn check(component: &Component, engine: &Engine) -> Result<ModuleShape, AbiError> {
    let ty = component.component_type();
    let mut shape = ModuleShape {
        has_init: false,
        has_initialize: false,
        declares_version: false,
        uses_wasi: false,
        abi_version: 2,
    };
    for (name, item) in ty.imports(engine) {
        if name.starts_with(WASI_PREFIX) {
            shape.uses_wasi = true;
        } else if name != HOST_INTERFACE && name != TYPES_INTERFACE {
            return Err(AbiError::UnknownComponentImport {
                name: name.to_owned(),
                found: describe(&item.ty).to_owned(),
            });
        }
    }
    let mut has_handle_event = false;
    for (name, item) in ty.exports(engine) {
        let is_func = matches!(item.ty, ComponentItem::ComponentFunc(_));
        match name {
            HANDLE_EVENT | INIT if !is_func => {
                return Err(AbiError::WrongComponentExport {
                    name: name.to_owned(),
                    found: describe(&item.ty).to_owned(),
                })
            }
            HANDLE_EVENT => has_handle_event = true,
            INIT => shape.has_init = true,
            _ => {}
        }
    }
    if !has_handle_event {
        return Err(AbiError::MissingExport {
            name: HANDLE_EVENT,
            expected: "func(event: string) -> option<outcome>",
        });
    }
    Ok(shape)
}

fn describe(item: &ComponentItem) -> &'static str {
    match item {
        ComponentItem::ComponentFunc(_) => "a function",
        ComponentItem::CoreFunc(_) => "a core function",
        ComponentItem::Module(_) => "a core module",
        ComponentItem::Component(_) => "a component",
        ComponentItem::ComponentInstance(_) => "an instance",
        ComponentItem::Type(_) => "a type",
        ComponentItem::Resource(_) => "a resource",
    }
}

/// A live, initialised component instance.
pub struct ComponentInstance {
    store: Store<HostState>,
    limits: Limits,
    /// The engine meters fuel: every call must be given some.
    metered: bool,
    handle_event: Func,
}

/// `handle-event`'s parameters and results, as wasmtime types them.
type HandleEventParams<'a> = (&'a str,);
type HandleEventResults = (Option<wit::Outcome>,);

impl ComponentInstance {
    /// Instantiates the component and runs its `init`, if it exports one, with the plugin's
    /// config JSON, all within the plugin's limits (`init_timeout` for the guest code).
    pub fn start(
        pre: &InstancePre<HostState>,
        plugin: Arc<str>,
        settings: &PluginSettings,
        services: HostServices,
    ) -> Result<ComponentInstance, StartError> {
        let limits = &settings.limits;
        let mut state = HostState::new(plugin, limits, &settings.capabilities, services);
        state.limiter().allow_component();
        let (mut store, metered) = start_store(pre.engine(), state, limits);
        // Instantiation and `init` run under one deadline.
        let _starting = arm(&mut store, limits.init_timeout, limits.fuel, metered);
        let instantiated = pre.instantiate(&mut store);
        store.data().flush_output();
        let instance = instantiated.map_err(start_failed("instantiation", limits))?;
        let handle_event =
            instance
                .get_func(&mut store, HANDLE_EVENT)
                .ok_or_else(|| StartError::Failed {
                    stage: "instantiation",
                    message: format!("no `{HANDLE_EVENT}` export"),
                })?;
        handle_event
            .typed::<HandleEventParams<'_>, HandleEventResults>(&store)
            .map_err(failed(HANDLE_EVENT))?;
        let init = instance.get_func(&mut store, INIT);
        let mut started = ComponentInstance {
            store,
            limits: *limits,
            metered,
            handle_event,
        };
        if let Some(init) = init {
            started.run_init(init, &settings.config_json)?;
        }
        Ok(started)
    }

    fn run_init(&mut self, init: Func, config_json: &str) -> Result<(), StartError> {
        let init = init
            .typed::<(&str,), (Result<(), String>,)>(&self.store)
            .map_err(failed(INIT))?;
        let result = init.call(&mut self.store, (config_json,));
        self.store.data().flush_output();
        match result.map_err(start_failed(INIT, &self.limits))? {
            (Ok(()),) => Ok(()),
            (Err(reason),) => Err(StartError::RefusedWith(reason)),
        }
    }

    /// Bytes of linear memory the instance's memories hold together.
    pub fn memory_bytes(&mut self) -> usize {
        self.store.data_mut().limiter().memory_in_use()
    }

    /// Calls `handle-event` with one event's JSON and converts the outcome, within the
    /// plugin's `call_timeout` (and fuel).
    pub fn handle_event(&mut self, event: &[u8]) -> Result<Outcome, CallError> {
        let event = match std::str::from_utf8(event) {
            Ok(event) => std::borrow::Cow::Borrowed(event),
            Err(_) => String::from_utf8_lossy(event),
        };
        let timeout = self.limits.call_timeout;
        let _in_flight = arm(&mut self.store, timeout, self.limits.fuel, self.metered);
        let result = self
            .handle_event
            .typed::<HandleEventParams<'_>, HandleEventResults>(&self.store)
            .and_then(|f| f.call(&mut self.store, (event.as_ref(),)));
        self.store.data().flush_output();
        let (outcome,) = result.map_err(|e| CallError::from_wasm(e, timeout, self.limits.fuel))?;
        outcome.map_or(Ok(Outcome::none()), convert)
    }
}

/// The host's [`Outcome`] for a component's: a message longer than v1's result limit is refused
/// the same way.
fn convert(outcome: wit::Outcome) -> Result<Outcome, CallError> {
    if let Some(message) = &outcome.message {
        if message.len() > MAX_RESULT_LEN {
            return Err(CallError::BadResult(format!(
                "message of {} bytes is larger than the {MAX_RESULT_LEN} byte limit",
                message.len()
            )));
        }
    }
    let retry = match (outcome.retry_after_ms, outcome.retry) {
        (Some(ms), _) => Some(Retry::After(Duration::from_millis(ms))),
        (None, true) => Some(Retry::Backoff),
        (None, false) => None,
    };
    Ok(Outcome {
        message: outcome.message.map(|text| Message {
            level: outcome.level.into(),
            text,
        }),
        retry,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::instance::tests::within_patience;
    use crate::plugin::{LoadError, Plugin};
    use crate::runtime::Runtime;
    use std::path::Path;

    fn load(wat: &str) -> Result<Plugin, LoadError> {
        let runtime = Runtime::new().expect("runtime");
        let bytes = wat::parse_str(wat).expect("valid WAT");
        Plugin::from_bytes(
            &runtime,
            Path::new("c.wasm"),
            &bytes,
            PluginSettings::default(),
        )
    }

    fn load_error(wat: &str) -> String {
        match load(wat) {
            Ok(_) => panic!("loaded"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn a_component_must_export_handle_event() {
        let error = load_error("(component)");
        assert!(error.contains("missing export `handle-event`"), "{error}");
    }

    #[test]
    fn a_component_may_import_only_the_host_and_wasi() {
        let error = load_error(r#"(component (import "evil:steal/token" (instance)))"#);
        assert!(
            error.contains(
                "imports `evil:steal/token` (an instance), which the host does not provide"
            ),
            "{error}"
        );
    }

    #[test]
    fn wasi_interfaces_the_host_does_not_provide_are_refused_by_name() {
        let error = load_error(
            r#"(component
                (import "wasi:http/types@0.2.0" (instance (export "f" (func))))
                (core module $m
                    (memory (export "m") 1)
                    (func (export "realloc") (param i32 i32 i32 i32) (result i32) (i32.const 0))
                    (func (export "f") (param i32 i32) (result i32) (i32.const 0)))
                (core instance $i (instantiate $m))
                (func $f (param "event" string) (result (option u8))
                    (canon lift (core func $i "f") (memory (core memory $i "m"))
                        (realloc (core func $i "realloc"))))
                (export "handle-event" (func $f)))"#,
        );
        assert!(error.contains("wasi:http/types@0.2.0"), "{error}");
    }

    #[test]
    fn handle_event_must_be_a_function() {
        let error =
            load_error(r#"(component (core module $m) (export "handle-event" (core module $m)))"#);
        assert!(
            error.contains("export `handle-event` is a core module, expected a function"),
            "{error}"
        );
    }

    #[test]
    fn a_handle_event_of_the_wrong_type_is_named() {
        let error = load_error(
            r#"(component
                (core module $m (func (export "f")))
                (core instance $i (instantiate $m))
                (func $f (canon lift (core func $i "f")))
                (export "handle-event" (func $f)))"#,
        );
        assert!(error.contains("handle-event"), "{error}");
        assert!(error.contains("type"), "{error}");
    }

    /// A component whose `handle-event` spins forever.
    const SPINNER: &str = r#"(component
        (type $level (enum "trace" "debug" "info" "warn" "error"))
        (export $level-type "level" (type $level))
        (type $outcome (record
            (field "level" $level-type)
            (field "message" (option string))
            (field "retry" bool)
            (field "retry-after-ms" (option u64))))
        (export $outcome-type "outcome" (type $outcome))
        (core module $m
            (memory (export "m") 1)
            (func (export "realloc") (param i32 i32 i32 i32) (result i32) (i32.const 0))
            (func (export "spin") (param i32 i32) (result i32) (loop $forever (br $forever))
                (i32.const 0)))
        (core instance $i (instantiate $m))
        (func $spin (param "event" string) (result (option $outcome-type))
            (canon lift (core func $i "spin") (memory (core memory $i "m"))
                (realloc (core func $i "realloc"))))
        (export "handle-event" (func $spin)))"#;

    #[test]
    fn a_stuck_component_traps_at_its_deadline_after_the_ticker_parked() {
        let runtime = Runtime::new().expect("runtime");
        let bytes = wat::parse_str(SPINNER).expect("valid WAT");
        let mut settings = PluginSettings::default();
        settings.limits.call_timeout = Duration::from_millis(200);
        let mut plugin =
            Plugin::from_bytes(&runtime, Path::new("c.wasm"), &bytes, settings).expect("loads");
        let ticker = runtime.epoch_ticker();
        ticker.assert_idle();

        let started = std::time::Instant::now();
        let result = within_patience(runtime.engine(), || plugin.handle_event(b"{}"));
        assert!(
            matches!(result, Err(CallError::Timeout(t)) if t == Duration::from_millis(200)),
            "{result:?}"
        );
        assert!(started.elapsed() >= Duration::from_millis(200));
        assert_eq!(ticker.in_flight(), 0);
        ticker.assert_idle();
    }

    #[test]
    fn outcomes_convert_with_their_retry() {
        let outcome = |retry, retry_after_ms| wit::Outcome {
            level: wit::WitLevel::Warn,
            message: Some("m".to_owned()),
            retry,
            retry_after_ms,
        };
        let converted = convert(outcome(false, None)).expect("valid");
        assert_eq!(
            converted,
            Outcome::log(event_controller_guest::abi::Level::Warn, "m")
        );
        assert_eq!(
            convert(outcome(true, None)).expect("valid").retry,
            Some(Retry::Backoff)
        );
        assert_eq!(
            convert(outcome(false, Some(1500))).expect("valid").retry,
            Some(Retry::After(Duration::from_millis(1500)))
        );
        let mut huge = outcome(false, None);
        huge.message = Some("x".repeat(MAX_RESULT_LEN + 1));
        assert!(matches!(convert(huge), Err(CallError::BadResult(_))));
    }
}
