//! Test helpers: a small builder for task snapshots and for plan inputs. The
//! main crate's unit tests use them too, through the `testutil` feature.

use super::*;
use crate::policy::task::{Tags, TaskSnapshot, TaskState};
use crate::types::{TaskGroupId, TaskId};
use chrono::{Duration, TimeZone};

pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0)
        .single()
        .unwrap_or_default()
}

/// A failed "other" task, created an hour ago, deadline in a day.
pub fn task(id: &str, label: &str) -> TaskSnapshot {
    TaskSnapshot {
        task_id: TaskId::new(id),
        label: label.into(),
        name: None,
        task_group_id: TaskGroupId::new("GROUP"),
        state: TaskState::Failed,
        runs: 1,
        last_reason_resolved: Some("failed".into()),
        ran: true,
        created: now() - Duration::hours(1),
        deadline: now() + Duration::hours(23),
        expires: now() + Duration::days(30),
        dependencies: Vec::new(),
        consumes: Vec::new(),
        dependents: Vec::new(),
        task_queue_id: "gecko-3/b-linux".into(),
        tags: Tags::default(),
        job_kind: None,
        provenance: None,
    }
}

pub trait TaskExt {
    fn state(self, s: TaskState) -> Self;
    fn test(self) -> Self;
    fn release(self) -> Self;
    fn runs(self, n: u32) -> Self;
    fn past_deadline(self) -> Self;
    fn created_mins_ago(self, m: i64) -> Self;
    fn deps(self, ids: &[&str]) -> Self;
    fn dependents(self, ids: &[&str]) -> Self;
    fn named(self, name: &str) -> Self;
    fn consumes(self, ids: &[&str]) -> Self;
    fn kind(self, kind: &str) -> Self;
    /// Resolved exception without running, for `reason`.
    fn never_ran(self, reason: &str) -> Self;
}

impl TaskExt for TaskSnapshot {
    fn state(mut self, s: TaskState) -> Self {
        self.state = s;
        self
    }
    fn test(mut self) -> Self {
        self.tags.insert("retrigger", "true");
        self
    }
    fn release(mut self) -> Self {
        self.task_queue_id = "scriptworker-k8s/gecko-3-signing".into();
        self
    }
    fn runs(mut self, n: u32) -> Self {
        self.runs = n;
        self
    }
    fn past_deadline(mut self) -> Self {
        self.deadline = now() - Duration::minutes(1);
        self
    }
    fn created_mins_ago(mut self, m: i64) -> Self {
        self.created = now() - Duration::minutes(m);
        self
    }
    fn deps(mut self, ids: &[&str]) -> Self {
        self.dependencies = ids.iter().map(|i| TaskId::new(*i)).collect();
        self
    }
    fn dependents(mut self, ids: &[&str]) -> Self {
        self.dependents = ids.iter().map(|i| TaskId::new(*i)).collect();
        self
    }
    fn named(mut self, name: &str) -> Self {
        self.name = (name != &*self.label).then(|| name.into());
        self
    }
    fn consumes(mut self, ids: &[&str]) -> Self {
        self.consumes = ids.iter().map(|i| TaskId::new(*i)).collect();
        self
    }
    fn kind(mut self, kind: &str) -> Self {
        self.tags.insert("kind", kind);
        self
    }
    fn never_ran(mut self, reason: &str) -> Self {
        self.ran = false;
        self.last_reason_resolved = Some(reason.into());
        self
    }
}

pub fn rerun(selectors: &[&str], force: bool) -> Command {
    Command::Rerun {
        selectors: selectors.iter().map(|s| s.to_string()).collect(),
        force,
    }
}

pub fn retrigger(times: u32, selectors: &[&str], force: bool) -> Command {
    Command::Retrigger {
        times,
        selectors: selectors.iter().map(|s| s.to_string()).collect(),
        force,
    }
}

/// Everything but the command and tasks, with defaults that let a write
/// collaborator act on an open pull request.
#[derive(Clone, Debug)]
pub struct Ctx {
    pub role: Role,
    pub author: bool,
    pub config: RepoConfig,
    pub ledger: Ledger,
    pub pr: PrState,
    pub command_index: usize,
    pub outside: Outside,
}

impl Default for Ctx {
    fn default() -> Self {
        Ctx {
            role: Role::Write,
            author: false,
            config: RepoConfig::default(),
            ledger: Ledger::default(),
            pr: PrState::Open,
            command_index: 0,
            outside: Outside::default(),
        }
    }
}

impl Ctx {
    pub fn plan(&self, command: &Command, tasks: &[TaskSnapshot]) -> Plan {
        let actor = Actor {
            login: Login::new("alice"),
            role: self.role,
            is_pr_author: self.author,
        };
        let delivery = DeliveryId::new("delivery-1");
        plan(&PlanInput {
            command,
            command_text: "/cmd",
            tasks,
            actor: &actor,
            config: &self.config,
            ledger: &self.ledger,
            pr: self.pr,
            delivery: &delivery,
            outside: &self.outside,
            command_index: self.command_index,
            now: now(),
        })
    }
}
