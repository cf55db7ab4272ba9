//! Operator settings (DESIGN.md §4), read from the environment. A missing or
//! invalid setting is reported as one line naming it.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

/// Every setting `rerunbot serve` needs.
#[derive(Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub database_url: String,
    pub webhook_secrets: WebhookSecrets,
    pub github_app_id: u64,
    /// PEM text of the App's private key.
    pub github_private_key: Secret,
    pub github_api_url: String,
    pub taskcluster_root_url: String,
    pub taskcluster_credentials: Option<TaskclusterCredentials>,
    /// Slug of the GitHub App whose check runs and statuses name tasks.
    pub taskcluster_app: String,
    /// Scopes every queue call is restricted to, with `{owner}`/`{repo}`
    /// filled per repository (Hawk `authorizedScopes`).
    pub authorized_scopes: Vec<String>,
    pub workers: usize,
    /// How long a claimed job is leased: a job whose process died is taken
    /// over by another worker this long after its last renewal.
    pub lease: Duration,
    /// Finished jobs (and the comment bodies they hold) older than this
    /// are purged.
    pub retention: Duration,
    pub log_json: bool,
    /// How long running jobs may take to finish after SIGTERM.
    pub shutdown_grace: Duration,
    /// How often watched tasks are polled (`RERUNBOT_POLL_INTERVAL`).
    pub poll_interval: Duration,
    /// Pulse (AMQP) URL with credentials (`RERUNBOT_PULSE_URL`); polling
    /// only when unset.
    pub pulse_url: Option<Secret>,
    /// The durable Pulse queue (`RERUNBOT_PULSE_QUEUE`).
    pub pulse_queue: String,
}

/// A value that must never be printed. `Debug` and `Display` show `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// One or more webhook secrets (several during a rotation).
#[derive(Clone, Debug)]
pub struct WebhookSecrets(Vec<Secret>);

impl WebhookSecrets {
    /// Splits a comma-separated list; empty entries are dropped.
    pub fn parse(list: &str) -> Option<Self> {
        let secrets: Vec<Secret> = list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(Secret::new)
            .collect();
        (!secrets.is_empty()).then_some(Self(secrets))
    }
    pub fn iter(&self) -> impl Iterator<Item = &Secret> {
        self.0.iter()
    }
}

/// Taskcluster credentials, under Taskcluster's own variable names.
#[derive(Clone, Debug)]
pub struct TaskclusterCredentials {
    pub client_id: String,
    pub access_token: Secret,
    /// JSON text of a temporary-credentials certificate.
    pub certificate: Option<Secret>,
}

/// A setting that is missing or cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SettingsError {
    #[error("{0} is required but not set")]
    Missing(&'static str),
    #[error("{name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

impl Settings {
    /// Reads settings from the process environment.
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_vars(&std::env::vars().collect())
    }

    /// Reads settings from a map of variables (the environment, or a test's).
    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Self, SettingsError> {
        let get = |name: &str| vars.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
        let required = |name: &'static str| get(name).ok_or(SettingsError::Missing(name));
        let invalid = |name: &'static str, reason: &str| SettingsError::Invalid {
            name,
            reason: reason.to_owned(),
        };

        let listen = get("RERUNBOT_LISTEN")
            .unwrap_or("127.0.0.1:3000")
            .parse()
            .map_err(|_| invalid("RERUNBOT_LISTEN", "expected HOST:PORT, e.g. 127.0.0.1:3000"))?;
        let database_url = get("RERUNBOT_DATABASE_URL")
            .unwrap_or("sqlite://rerunbot.db")
            .to_owned();
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            return Err(invalid(
                "RERUNBOT_DATABASE_URL",
                "expected sqlite://PATH or postgres://...",
            ));
        }
        let webhook_secrets = WebhookSecrets::parse(required("RERUNBOT_WEBHOOK_SECRET")?)
            .ok_or(SettingsError::Missing("RERUNBOT_WEBHOOK_SECRET"))?;
        let github_app_id = required("RERUNBOT_GITHUB_APP_ID")?
            .parse()
            .map_err(|_| invalid("RERUNBOT_GITHUB_APP_ID", "expected a number"))?;
        let github_private_key = load_pem(required("RERUNBOT_GITHUB_PRIVATE_KEY")?)?;
        let github_api_url = parse_url(
            "RERUNBOT_GITHUB_API_URL",
            get("RERUNBOT_GITHUB_API_URL").unwrap_or("https://api.github.com"),
        )?;
        let taskcluster_root_url =
            parse_url("TASKCLUSTER_ROOT_URL", required("TASKCLUSTER_ROOT_URL")?)?;
        let taskcluster_credentials = match (
            get("TASKCLUSTER_CLIENT_ID"),
            get("TASKCLUSTER_ACCESS_TOKEN"),
        ) {
            (Some(client_id), Some(token)) => Some(TaskclusterCredentials {
                client_id: client_id.to_owned(),
                access_token: Secret::new(token),
                certificate: get("TASKCLUSTER_CERTIFICATE").map(Secret::new),
            }),
            (None, None) => None,
            (Some(_), None) => return Err(SettingsError::Missing("TASKCLUSTER_ACCESS_TOKEN")),
            (None, Some(_)) => return Err(SettingsError::Missing("TASKCLUSTER_CLIENT_ID")),
        };
        if let Some(cert) = taskcluster_credentials
            .as_ref()
            .and_then(|c| c.certificate.as_ref())
        {
            serde_json::from_str::<serde_json::Value>(cert.expose())
                .map_err(|_| invalid("TASKCLUSTER_CERTIFICATE", "expected JSON"))?;
        }
        let taskcluster_app = get("RERUNBOT_TASKCLUSTER_APP")
            .unwrap_or(DEFAULT_TASKCLUSTER_APP)
            .to_owned();
        if !taskcluster_app
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-')
        {
            return Err(invalid(
                "RERUNBOT_TASKCLUSTER_APP",
                "expected a GitHub App slug (letters, digits, -)",
            ));
        }
        let authorized_scopes = parse_authorized_scopes(
            get("RERUNBOT_AUTHORIZED_SCOPES").unwrap_or(DEFAULT_AUTHORIZED_SCOPES),
        )
        .map_err(|reason| invalid("RERUNBOT_AUTHORIZED_SCOPES", &reason))?;
        let workers = match get("RERUNBOT_WORKERS") {
            None => 4,
            Some(text) => text
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=256).contains(n))
                .ok_or_else(|| invalid("RERUNBOT_WORKERS", "expected a number from 1 to 256"))?,
        };
        let lease = match get("RERUNBOT_LEASE") {
            None => DEFAULT_LEASE,
            Some(text) => parse_duration(text)
                .filter(|d| (MIN_LEASE..=MAX_LEASE).contains(d))
                .ok_or_else(|| {
                    invalid(
                        "RERUNBOT_LEASE",
                        "expected a duration from 5s to 1h, e.g. 60s or 2m",
                    )
                })?,
        };
        let retention = match get("RERUNBOT_RETENTION") {
            None => DEFAULT_RETENTION,
            Some(text) => parse_duration(text)
                .filter(|d| *d >= MIN_RETENTION)
                .ok_or_else(|| {
                    invalid(
                        "RERUNBOT_RETENTION",
                        "expected a duration of at least 1h, e.g. 30d or 720h",
                    )
                })?,
        };
        let log_json = match get("RERUNBOT_LOG_FORMAT") {
            None | Some("text") => false,
            Some("json") => true,
            Some(_) => return Err(invalid("RERUNBOT_LOG_FORMAT", "expected json or text")),
        };
        let poll_interval = match get("RERUNBOT_POLL_INTERVAL") {
            None => Duration::from_secs(30),
            Some(text) => parse_duration(text)
                .filter(|d| *d >= Duration::from_secs(1))
                .ok_or_else(|| {
                    invalid(
                        "RERUNBOT_POLL_INTERVAL",
                        "expected a duration of at least 1s, e.g. 30s, 2m",
                    )
                })?,
        };
        let pulse_url = get("RERUNBOT_PULSE_URL").map(Secret::new);
        if let Some(url) = &pulse_url {
            if !(url.expose().starts_with("amqp://") || url.expose().starts_with("amqps://")) {
                return Err(invalid(
                    "RERUNBOT_PULSE_URL",
                    "expected amqps://user:password@host:port/vhost",
                ));
            }
        }
        let pulse_queue = match get("RERUNBOT_PULSE_QUEUE") {
            Some(q) => q.to_owned(),
            None => format!(
                "queue/{}/rerunbot",
                pulse_url
                    .as_ref()
                    .and_then(|u| pulse_user(u.expose()))
                    .unwrap_or_else(|| "rerunbot".to_owned())
            ),
        };
        Ok(Settings {
            poll_interval,
            pulse_url,
            pulse_queue,
            listen,
            database_url,
            webhook_secrets,
            github_app_id,
            github_private_key,
            github_api_url,
            taskcluster_root_url,
            taskcluster_credentials,
            taskcluster_app,
            authorized_scopes,
            workers,
            lease,
            retention,
            log_json,
            shutdown_grace: Duration::from_secs(25),
        })
    }
}

/// `RERUNBOT_TASKCLUSTER_APP` default: taskcluster-github's App.
pub const DEFAULT_TASKCLUSTER_APP: &str = "taskcluster";

/// `RERUNBOT_AUTHORIZED_SCOPES` default: the repository's own role.
pub const DEFAULT_AUTHORIZED_SCOPES: &str = "assume:repo:github.com/{owner}/{repo}:*";

/// Scopes separated by commas or whitespace; the only placeholders are
/// `{owner}` and `{repo}`.
fn parse_authorized_scopes(text: &str) -> Result<Vec<String>, String> {
    let scopes: Vec<String> = text
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if scopes.is_empty() {
        return Err("expected at least one scope".to_owned());
    }
    for scope in &scopes {
        let rest = scope.replace("{owner}", "").replace("{repo}", "");
        if rest.contains(['{', '}']) {
            return Err(format!(
                "{scope}: the only placeholders are {{owner}} and {{repo}}"
            ));
        }
        if !scope.is_ascii() {
            return Err(format!("{scope}: scopes are printable ASCII"));
        }
    }
    Ok(scopes)
}

/// `RERUNBOT_RETENTION` when unset.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(30 * 86_400);
/// Shorter would purge jobs that may still be retried (the retry and
/// report budgets are hours).
const MIN_RETENTION: Duration = Duration::from_secs(3600);

/// `RERUNBOT_LEASE` when unset.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);
/// A lease is renewed every third of it; under 5 s that is a database
/// write per worker more than once a second for nothing.
const MIN_LEASE: Duration = Duration::from_secs(5);
const MAX_LEASE: Duration = Duration::from_secs(3600);

/// A duration as operators write it: `500ms`, `30s`, `2m`, `1h`, `30d`, or
/// a bare number of seconds.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().ok()?;
    let millis = match unit.trim() {
        "ms" => Some(1),
        "" | "s" => Some(1_000),
        "m" => Some(60_000),
        "h" => Some(3_600_000),
        "d" => Some(86_400_000),
        _ => None,
    }?;
    n.checked_mul(millis).map(Duration::from_millis)
}

/// The user of an AMQP URL (`amqps://user:password@host/...`).
fn pulse_user(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let userinfo = rest.split_once('@')?.0;
    let user = userinfo.split(':').next()?;
    (!user.is_empty()).then(|| user.to_owned())
}

/// PEM text as given, or the contents of the file it names.
fn load_pem(value: &str) -> Result<Secret, SettingsError> {
    let name = "RERUNBOT_GITHUB_PRIVATE_KEY";
    let text = if value.contains("-----BEGIN") {
        value.replace("\\n", "\n")
    } else {
        std::fs::read_to_string(value).map_err(|e| SettingsError::Invalid {
            name,
            reason: format!("not PEM text, and the file cannot be read: {e}"),
        })?
    };
    if !text.contains("-----BEGIN") || !text.contains("PRIVATE KEY-----") {
        return Err(SettingsError::Invalid {
            name,
            reason: "expected a PEM private key".to_owned(),
        });
    }
    Ok(Secret::new(text))
}

fn parse_url(name: &'static str, value: &str) -> Result<String, SettingsError> {
    if !(value.starts_with("http://") || value.starts_with("https://")) || value.len() < 10 {
        return Err(SettingsError::Invalid {
            name,
            reason: "expected an http(s) URL".to_owned(),
        });
    }
    Ok(value.trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "-----BEGIN RSA PRIVATE KEY-----\nabc\n-----END RSA PRIVATE KEY-----\n";

    fn base() -> HashMap<String, String> {
        [
            ("RERUNBOT_WEBHOOK_SECRET", "s1, s2"),
            ("RERUNBOT_GITHUB_APP_ID", "42"),
            ("RERUNBOT_GITHUB_PRIVATE_KEY", KEY),
            ("TASKCLUSTER_ROOT_URL", "https://tc.example.com/"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    #[test]
    fn defaults_apply() {
        let s = Settings::from_vars(&base()).expect("valid");
        assert_eq!(s.listen.to_string(), "127.0.0.1:3000");
        assert_eq!(s.database_url, "sqlite://rerunbot.db");
        assert_eq!(s.github_api_url, "https://api.github.com");
        assert_eq!(s.taskcluster_root_url, "https://tc.example.com");
        assert_eq!(s.workers, 4);
        assert_eq!(s.taskcluster_app, "taskcluster");
        assert_eq!(
            s.authorized_scopes,
            vec!["assume:repo:github.com/{owner}/{repo}:*".to_owned()]
        );
        assert_eq!(s.lease, Duration::from_secs(60));
        assert_eq!(s.retention, Duration::from_secs(30 * 86_400));
        assert_eq!(s.webhook_secrets.iter().count(), 2);
        assert!(s.taskcluster_credentials.is_none());
        assert_eq!(s.poll_interval, Duration::from_secs(30));
        assert!(s.pulse_url.is_none());
        assert_eq!(s.pulse_queue, "queue/rerunbot/rerunbot");
    }

    #[test]
    fn pulse_queue_defaults_to_the_pulse_user() {
        let mut vars = base();
        vars.insert(
            "RERUNBOT_PULSE_URL".into(),
            "amqps://releng-bot:secret@pulse.example:5671/".into(),
        );
        let s = Settings::from_vars(&vars).expect("valid");
        assert_eq!(s.pulse_queue, "queue/releng-bot/rerunbot");
        assert!(!format!("{:?}", s.pulse_url).contains("secret"));
    }

    #[test]
    fn each_error_names_the_variable() {
        let cases: Vec<(&str, Option<&str>, &str)> = vec![
            (
                "RERUNBOT_WEBHOOK_SECRET",
                None,
                "RERUNBOT_WEBHOOK_SECRET is required",
            ),
            (
                "RERUNBOT_WEBHOOK_SECRET",
                Some(" , "),
                "RERUNBOT_WEBHOOK_SECRET is required",
            ),
            (
                "RERUNBOT_GITHUB_APP_ID",
                Some("abc"),
                "RERUNBOT_GITHUB_APP_ID is invalid",
            ),
            (
                "RERUNBOT_GITHUB_PRIVATE_KEY",
                None,
                "RERUNBOT_GITHUB_PRIVATE_KEY is required",
            ),
            (
                "RERUNBOT_GITHUB_PRIVATE_KEY",
                Some("/nonexistent.pem"),
                "RERUNBOT_GITHUB_PRIVATE_KEY is invalid",
            ),
            (
                "TASKCLUSTER_ROOT_URL",
                Some("tc.example.com"),
                "TASKCLUSTER_ROOT_URL is invalid",
            ),
            (
                "RERUNBOT_LISTEN",
                Some("nowhere"),
                "RERUNBOT_LISTEN is invalid",
            ),
            (
                "RERUNBOT_DATABASE_URL",
                Some("mysql://x"),
                "RERUNBOT_DATABASE_URL is invalid",
            ),
            ("RERUNBOT_WORKERS", Some("0"), "RERUNBOT_WORKERS is invalid"),
            ("RERUNBOT_LEASE", Some("1s"), "RERUNBOT_LEASE is invalid"),
            ("RERUNBOT_LEASE", Some("soon"), "RERUNBOT_LEASE is invalid"),
            (
                "RERUNBOT_RETENTION",
                Some("10m"),
                "RERUNBOT_RETENTION is invalid",
            ),
            (
                "RERUNBOT_RETENTION",
                Some("forever"),
                "RERUNBOT_RETENTION is invalid",
            ),
            (
                "RERUNBOT_TASKCLUSTER_APP",
                Some("task cluster"),
                "RERUNBOT_TASKCLUSTER_APP is invalid",
            ),
            (
                "RERUNBOT_AUTHORIZED_SCOPES",
                Some("assume:repo:{org}/x"),
                "RERUNBOT_AUTHORIZED_SCOPES is invalid",
            ),
            (
                "RERUNBOT_POLL_INTERVAL",
                Some("100ms"),
                "RERUNBOT_POLL_INTERVAL is invalid",
            ),
            (
                "RERUNBOT_PULSE_URL",
                Some("http://pulse"),
                "RERUNBOT_PULSE_URL is invalid",
            ),
            (
                "RERUNBOT_LOG_FORMAT",
                Some("xml"),
                "RERUNBOT_LOG_FORMAT is invalid",
            ),
            (
                "TASKCLUSTER_CLIENT_ID",
                Some("me"),
                "TASKCLUSTER_ACCESS_TOKEN is required",
            ),
        ];
        for (name, value, expected) in cases {
            let mut vars = base();
            match value {
                Some(v) => vars.insert(name.to_owned(), v.to_owned()),
                None => vars.remove(name),
            };
            let err = Settings::from_vars(&vars).err().map(|e| e.to_string());
            assert!(
                err.as_deref().is_some_and(|e| e.starts_with(expected)),
                "{name}={value:?}: got {err:?}"
            );
        }
    }

    #[test]
    fn lease_is_read_as_a_duration() {
        let cases = [
            ("90", 90_000),
            ("90s", 90_000),
            ("2m", 120_000),
            ("1h", 3_600_000),
            ("15000ms", 15_000),
        ];
        for (text, millis) in cases {
            let mut vars = base();
            vars.insert("RERUNBOT_LEASE".into(), text.into());
            let s = Settings::from_vars(&vars).expect("valid");
            assert_eq!(s.lease, Duration::from_millis(millis), "{text}");
        }
    }

    #[test]
    fn durations_parse_one_unit() {
        let cases = [
            ("0", Some(0)),
            ("5s", Some(5_000)),
            (" 7m ", Some(420_000)),
            ("250ms", Some(250)),
            ("1d", Some(86_400_000)),
            ("1w", None),
            ("s", None),
            ("-1s", None),
            ("1.5s", None),
        ];
        for (text, millis) in cases {
            assert_eq!(
                parse_duration(text),
                millis.map(Duration::from_millis),
                "{text}"
            );
        }
    }

    #[test]
    fn secrets_are_not_printed() {
        let mut vars = base();
        vars.insert("TASKCLUSTER_CLIENT_ID".into(), "me".into());
        vars.insert("TASKCLUSTER_ACCESS_TOKEN".into(), "tok-123".into());
        let s = Settings::from_vars(&vars).expect("valid");
        let shown = format!("{:?} {:?}", s.webhook_secrets, s.taskcluster_credentials);
        assert!(
            !shown.contains("s1") && !shown.contains("tok-123"),
            "{shown}"
        );
    }
}
