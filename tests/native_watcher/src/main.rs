//! The code a user would write instead of event-controller with `plugin_simple`: a kube-rs
//! `watcher` over every namespace's ConfigMaps, storeless (no reflector), with its default
//! paginated initial list, logging `Kind: ConfigMap; Name: NAME` through `tracing` to stderr for
//! every object it sees (listed, added or modified) and `Deleted ...` for deletions.
//!
//! The cluster comes from the kubeconfig (`KUBECONFIG`, else `~/.kube/config`, else in-cluster).
//! `host/benches/real_server.rs` runs it beside the controller and reports the controller's
//! figures as ratios to this one's.

use futures::TryStreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, ResourceExt};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let client = Client::try_default().await?;
    let configmaps: Api<ConfigMap> = Api::all(client);
    watcher::watcher(configmaps, watcher::Config::default())
        .try_for_each(|event| async move {
            log_event(&event);
            Ok(())
        })
        .await?;
    Ok(())
}

/// One log line per object the event carries, as `plugin_simple` writes them.
fn log_event(event: &Event<ConfigMap>) {
    match event {
        Event::Apply(object) | Event::InitApply(object) => {
            tracing::info!("Kind: ConfigMap; Name: {}", object.name_any());
        }
        Event::Delete(object) => {
            tracing::info!("Deleted ConfigMap; Name: {}", object.name_any());
        }
        Event::Init | Event::InitDone => {}
    }
}
