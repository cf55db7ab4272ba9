//! `rerunbot demo`: the whole flow against the sandboxes. (Until the
//! pipeline lands: start and stop the service on a temporary database.)

use crate::config::WebhookSecrets;
use crate::service::Service;
use crate::store::Store;
use crate::worker::WorkerConfig;
use std::sync::Arc;
use std::time::Duration;

pub async fn run() -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("rerunbot-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let store = Store::connect(&format!("sqlite://{}", dir.join("demo.db").display())).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let secrets = WebhookSecrets::parse("demo-secret").ok_or_else(|| anyhow::anyhow!("secret"))?;
    let service = Service::start(
        listener,
        store,
        secrets,
        Arc::new(crate::pipeline::LogOnly),
        WorkerConfig::default(),
    )
    .await?;
    println!(
        "rerunbot demo: service started on {} (sandbox scenarios arrive with the pipeline)",
        service.addr
    );
    service.shutdown(Duration::from_secs(5)).await;
    let _ = std::fs::remove_dir_all(&dir);
    println!("rerunbot demo: stopped cleanly");
    Ok(())
}
