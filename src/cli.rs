//! The `rerunbot` command line (`serve`, `demo`, `plan`, `check-config`,
//! `send`, `supervise`), run by `src/main.rs`. It lives in the library, not
//! the binary, so the async code it drives (the service, the demo, the
//! supervisor) is compiled once, here: a non-generic `async fn`'s state
//! machine is instantiated by the crate that polls it, so a `block_on` in
//! the binary compiled all of it a second time in the binary crate (23 s of
//! a clean release build's critical path).

use crate::config::Settings;
use crate::service::Service;
use crate::store::Store;
use crate::worker::WorkerConfig;
use clap::{Parser, Subcommand};
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "rerunbot",
    version,
    about = "Rerun and retrigger Taskcluster tasks from pull-request comments"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the service (settings from the environment; see README).
    Serve,
    /// Run the whole flow against the built-in sandboxes and print each reply.
    #[cfg(feature = "sandbox")]
    Demo,
    /// Send a signed webhook delivery to a running server.
    Send(rerunbot_send::SendArgs),
    /// Dry run of the rules: what a comment would do to a task group (touches no service).
    Plan(PlanArgs),
    /// Validate a `.github/rerunbot.yml`; exit 0, or 1 with the error and its position.
    CheckConfig {
        /// Path to the file
        path: std::path::PathBuf,
    },
    /// Follow a task group to the end and rerun its failures within limits;
    /// exit 0 all completed, 1 internal error, 2 failures remain, 5 canceled, 6 timed out.
    Supervise(crate::follow::supervise::SuperviseArgs),
}

#[derive(clap::Args)]
struct PlanArgs {
    /// A listTaskGroup response (`{"tasks":[...]}`); repeat for several groups
    #[arg(long = "tasks", required = true)]
    tasks: Vec<std::path::PathBuf>,
    /// The comment text, e.g. "/retrigger 3 test-linux*"
    #[arg(long)]
    comment: String,
    /// The commenter's repository role: none, read, triage, write, maintain, admin
    #[arg(long, default_value = "write", value_parser = parse_role)]
    role: crate::policy::Role,
    /// The commenter is the pull request's author
    #[arg(long)]
    pr_author: bool,
    /// A .github/rerunbot.yml to apply (default: the built-in defaults)
    #[arg(long)]
    config: Option<std::path::PathBuf>,
    /// Print JSON, one entry per task
    #[arg(long)]
    json: bool,
    /// Judge deadlines at this time (RFC 3339) instead of now, e.g. to replay
    /// a saved task group
    #[arg(long)]
    now: Option<chrono::DateTime<chrono::Utc>>,
}

fn parse_role(text: &str) -> Result<crate::policy::Role, String> {
    crate::policy::Role::parse(text).ok_or_else(|| {
        format!("unknown role `{text}`: use none, read, triage, write, maintain or admin")
    })
}

/// Prints a CLI answer and turns its code into the exit status.
fn answer((code, text): (i32, String)) -> ExitCode {
    if code == 0 {
        println!("{}", text.trim_end());
        ExitCode::SUCCESS
    } else {
        eprintln!("{}", text.trim_end());
        ExitCode::from(u8::try_from(code).unwrap_or(1))
    }
}

mod rerunbot_send {
    //! `rerunbot send`: sign a payload file with RERUNBOT_WEBHOOK_SECRET and post it.
    use clap::Args;

    #[derive(Args)]
    pub struct SendArgs {
        /// Webhook URL, e.g. http://127.0.0.1:3000/webhook
        #[arg(long, default_value = "http://127.0.0.1:3000/webhook")]
        pub url: String,
        /// X-GitHub-Event
        #[arg(long, default_value = "issue_comment")]
        pub event: String,
        /// Payload file (JSON)
        pub file: std::path::PathBuf,
    }

    pub async fn run(args: SendArgs) -> anyhow::Result<()> {
        let secret = std::env::var("RERUNBOT_WEBHOOK_SECRET")
            .map_err(|_| anyhow::anyhow!("RERUNBOT_WEBHOOK_SECRET is required but not set"))?;
        let secret = secret
            .split(',')
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned();
        let body = std::fs::read(&args.file)?;
        let response = reqwest::Client::new()
            .post(&args.url)
            .header("content-type", "application/json")
            .header("x-github-event", &args.event)
            .header("x-github-delivery", uuid::Uuid::new_v4().to_string())
            .header(
                "x-hub-signature-256",
                crate::webhook::signature::sign(&secret, &body),
            )
            .body(body)
            .send()
            .await?;
        println!("{} {}", response.status(), response.text().await?.trim());
        Ok(())
    }
}

/// Parses the command line and runs the command; the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = match cli.command {
        Cmd::CheckConfig { path } => return answer(crate::repo_config::check_config_cli(&path)),
        Cmd::Plan(args) => {
            let args = crate::dry_run::DryRunArgs {
                tasks: args.tasks,
                comment: args.comment,
                role: args.role,
                pr_author: args.pr_author,
                config: args.config,
                json: args.json,
                now: args.now.unwrap_or_else(chrono::Utc::now),
            };
            return answer(crate::dry_run::run(&args, crate::command::parse_comment));
        }
        other => other,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("rerunbot: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Cmd::Supervise(args) = command {
        let exit = runtime.block_on(crate::follow::supervise::run_cli(args));
        return ExitCode::from(exit.code());
    }
    let result = runtime.block_on(async {
        match command {
            Cmd::Serve => serve().await,
            #[cfg(feature = "sandbox")]
            Cmd::Demo => crate::demo::run().await,
            Cmd::Send(args) => rerunbot_send::run(args).await,
            Cmd::Plan(_) | Cmd::CheckConfig { .. } | Cmd::Supervise(_) => Ok(()),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rerunbot: {e}");
            ExitCode::from(2)
        }
    }
}

async fn serve() -> anyhow::Result<()> {
    let settings = Settings::from_env()?;
    crate::telemetry::init(settings.log_json);
    let store = Store::connect(&settings.database_url).await?;
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", settings.listen))?;
    let github = crate::github::GithubApp::new(
        &settings.github_api_url,
        settings.github_app_id,
        &settings.github_private_key,
    )
    .map_err(|e| anyhow::anyhow!("RERUNBOT_GITHUB_PRIVATE_KEY is invalid: {e}"))?;
    // One content-creation budget per installation for every replica.
    github.share_content_limit(store.clone());
    let queue = crate::taskcluster::QueueClient::new(
        &settings.taskcluster_root_url,
        settings.taskcluster_credentials.clone(),
    )
    .with_authorized_scopes_template(settings.authorized_scopes.clone());
    let pipeline = crate::pipeline::Pipeline::with_taskcluster_app(
        github,
        queue,
        &settings.taskcluster_root_url,
        &settings.taskcluster_app,
    );
    let options = crate::service::ServiceOptions {
        taskcluster_app: settings.taskcluster_app.clone(),
        ..Default::default()
    };
    // Comments, and automatic reruns (check suites, Pulse group resolutions).
    let handler = Arc::new(crate::follow::auto_rerun::Jobs::new(
        pipeline.clone(),
        options.metrics.clone(),
    ));
    let workers = WorkerConfig {
        workers: settings.workers,
        lease: settings.lease,
        retention: settings.retention,
        ..WorkerConfig::default()
    };
    let limits = (workers, crate::server::IngressLimits::default());
    let mut service = Service::start_with(
        listener,
        store,
        settings.webhook_secrets.clone(),
        handler,
        limits,
        options,
    )
    .await?;
    let pulse = settings
        .pulse_url
        .as_ref()
        .map(|url| crate::follow::pulse::PulseConfig::new(url.expose(), &settings.pulse_queue));
    service.start_following_with(
        pipeline,
        crate::follow::FollowConfig {
            poll_interval: settings.poll_interval,
            ..crate::follow::FollowConfig::default()
        },
        pulse,
    );
    tracing::info!(addr = %service.addr, "listening");
    shutdown_signal().await;
    tracing::info!("shutting down");
    service.shutdown(settings.shutdown_grace).await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
