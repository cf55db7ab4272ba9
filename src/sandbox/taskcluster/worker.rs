//! The sandbox's worker: it claims the sandbox queue's pending runs and
//! resolves them after a scripted delay with a scripted outcome, so tests
//! and the demo see real progressions (a rerun of an intermittent test goes
//! green, a broken build fails again, a dependent starts once its
//! dependency completed).
//!
//! Time is tokio's: a run seen at instant `t` resolves at `t + delay`, so a
//! test on a paused clock drives it with `tokio::time::advance`.
//!
//! Action tasks (`tags.kind == "action-callback"`, made by an action hook)
//! carry out their callback ([`super::callbacks`]) when their run is due to
//! complete: the run completes if the callback succeeds and fails if it
//! cannot be done. A script rule may still match them (by label, e.g.
//! `Action: *`); with no rule and no default they complete after 100 ms, so
//! an action always runs. Action tasks whose callback is held
//! (`SandboxQueue::hold_callback`, a test control) keep running, their
//! callback not carried out, until it is released.

use super::action_task::ActionTask;
use super::roles::SandboxRole;
use super::state::{runs, state_of, QueueData};
use crate::policy::task::TaskState;
use chrono::Utc;
use globset::{Glob, GlobMatcher};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use tokio::time::Instant;

/// One scripted resolution: after `after` (from when the worker first saw
/// the run), the run resolves as `state` with `reason` (the queue's
/// `reasonResolved`; the state's usual reason when `None`).
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub after: Duration,
    pub state: TaskState,
    pub reason: Option<String>,
}

impl Step {
    pub fn completed(after: Duration) -> Self {
        Step {
            after,
            state: TaskState::Completed,
            reason: None,
        }
    }
    pub fn failed(after: Duration) -> Self {
        Step {
            after,
            state: TaskState::Failed,
            reason: None,
        }
    }
    pub fn exception(after: Duration, reason: &str) -> Self {
        Step {
            after,
            state: TaskState::Exception,
            reason: Some(reason.to_owned()),
        }
    }
}

/// Tasks whose label (`tags.label`, else `metadata.name`) matches `pattern`
/// (a glob) or whose taskId equals it take the `steps` in turn: the first
/// run resolved takes the first step, the next the second, and the last
/// step repeats.
#[derive(Clone, Debug)]
pub struct ScriptRule {
    pub pattern: String,
    pub steps: Vec<Step>,
}

/// What the worker does. The first matching rule applies; tasks no rule
/// matches take `default` (or stay pending when it is `None`).
#[derive(Clone, Debug)]
pub struct WorkerScript {
    pub rules: Vec<ScriptRule>,
    pub default: Option<Step>,
    /// Also resolve runs that were already pending or running when the
    /// worker started (the fixtures' own); off by default, so a seeded
    /// world keeps the states its fixtures describe.
    pub include_existing: bool,
    /// How often the worker looks at the queue.
    pub tick: Duration,
}

impl Default for WorkerScript {
    /// Every run completes after 200 ms.
    fn default() -> Self {
        WorkerScript {
            rules: Vec::new(),
            default: Some(Step::completed(Duration::from_millis(200))),
            include_existing: false,
            tick: Duration::from_millis(20),
        }
    }
}

impl WorkerScript {
    /// Adds a rule (builder style).
    pub fn rule(mut self, pattern: &str, steps: Vec<Step>) -> Self {
        self.rules.push(ScriptRule {
            pattern: pattern.to_owned(),
            steps,
        });
        self
    }
}

/// A run the worker resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct Resolution {
    pub task_id: String,
    pub task_group_id: String,
    pub run_id: u32,
    pub state: TaskState,
}

/// The worker's memory between ticks.
pub(crate) struct WorkerState {
    rules: Vec<(Option<GlobMatcher>, ScriptRule)>,
    script: WorkerScript,
    /// Runs ignored because they were open when the worker started.
    existing: HashSet<(String, u32)>,
    /// Runs being worked on: when they resolve, and how.
    claimed: HashMap<(String, u32), (Instant, Step)>,
    /// Resolutions per rule so far (which step comes next).
    used: Vec<usize>,
}

fn label(def: &Value) -> &str {
    def.pointer("/tags/label")
        .and_then(Value::as_str)
        .or_else(|| def.pointer("/metadata/name").and_then(Value::as_str))
        .unwrap_or_default()
}

/// The open run of a task: its id, when the last run is pending or running.
fn open_run(status: &Value) -> Option<u32> {
    matches!(state_of(status), TaskState::Pending | TaskState::Running)
        .then(|| runs(status).len().checked_sub(1))
        .flatten()
        .and_then(|r| u32::try_from(r).ok())
}

impl WorkerState {
    pub(crate) fn new(script: WorkerScript, data: &QueueData) -> Self {
        let rules = script
            .rules
            .iter()
            .map(|r| {
                let glob = Glob::new(&r.pattern).ok().map(|g| g.compile_matcher());
                (glob, r.clone())
            })
            .collect::<Vec<_>>();
        let existing = if script.include_existing {
            HashSet::new()
        } else {
            data.tasks
                .iter()
                .filter_map(|(id, t)| open_run(&t.status).map(|r| (id.clone(), r)))
                .collect()
        };
        WorkerState {
            used: vec![0; rules.len()],
            rules,
            script,
            existing,
            claimed: HashMap::new(),
        }
    }

    fn step_for(&mut self, task_id: &str, def: &Value) -> Option<Step> {
        let label = label(def);
        let found = self.rules.iter().position(|(glob, rule)| {
            rule.pattern == task_id || glob.as_ref().is_some_and(|g| g.is_match(label))
        });
        match found {
            Some(i) => {
                let steps = &self.rules[i].1.steps;
                let step = steps.get(self.used[i]).or(steps.last()).cloned();
                self.used[i] += 1;
                step
            }
            None => self.script.default.clone(),
        }
    }

    /// One look at the queue: new open runs are claimed (and shown
    /// running), due ones resolved, except action tasks whose callback is
    /// in `held`. Returns what resolved.
    pub(crate) fn tick(
        &mut self,
        data: &mut QueueData,
        roles: &[SandboxRole],
        held: &HashSet<String>,
        now: Instant,
    ) -> Vec<Resolution> {
        let open: Vec<(String, u32, Value)> = data
            .tasks
            .iter()
            .filter_map(|(id, t)| {
                open_run(&t.status).map(|r| (id.clone(), r, t.definition.clone()))
            })
            .filter(|(id, r, _)| !self.existing.contains(&(id.clone(), *r)))
            .collect();
        let mut resolved = Vec::new();
        let wall = Utc::now();
        for (task_id, run_id, def) in open {
            let key = (task_id.clone(), run_id);
            let action = ActionTask::read(&task_id, &def);
            let is_action = action.is_some();
            let is_held = action.is_some_and(|a| held.contains(&a.callback));
            if !self.claimed.contains_key(&key) {
                let step = self
                    .step_for(&task_id, &def)
                    .or_else(|| is_action.then(|| Step::completed(Duration::from_millis(100))));
                let Some(step) = step else {
                    continue;
                };
                data.set_state(&task_id, TaskState::Running, None, wall);
                self.claimed.insert(key.clone(), (now + step.after, step));
            }
            let Some((due, step)) = self.claimed.get(&key).cloned() else {
                continue;
            };
            if due <= now && !is_held {
                self.claimed.remove(&key);
                let (mut state, mut reason, mut also) = (step.state, step.reason, Vec::new());
                if is_action && state == TaskState::Completed {
                    match super::callbacks::run(data, roles, &task_id, wall) {
                        Ok(done) => also = done,
                        Err(_) => (state, reason) = (TaskState::Failed, None),
                    }
                }
                data.set_state(&task_id, state, reason.as_deref(), wall);
                // What the callback resolved (a cancel) is announced first.
                resolved.extend(also);
                resolved.push(Resolution {
                    task_group_id: def
                        .get("taskGroupId")
                        .and_then(Value::as_str)
                        .unwrap_or(&task_id)
                        .to_owned(),
                    task_id,
                    run_id,
                    state,
                });
            }
        }
        // Runs resolved by someone else (a cancel) are forgotten.
        self.claimed.retain(|(id, run), _| {
            data.tasks.get(id).and_then(|t| open_run(&t.status)) == Some(*run)
        });
        resolved
    }

    pub(crate) fn tick_every(&self) -> Duration {
        self.script.tick.max(Duration::from_millis(1))
    }
}

#[cfg(test)]
mod tests {
    use super::super::{SandboxQueue, SandboxQueueConfig};
    use super::*;
    use serde_json::json;

    fn task(label: &str) -> Value {
        json!({
            "provisionerId": "p", "workerType": "w", "taskGroupId": "G",
            "metadata": {"name": label}, "tags": {"label": label},
            "deadline": "2999-01-01T00:00:00.000Z",
        })
    }

    fn pending() -> Value {
        json!({"runs": [{"runId": 0, "state": "pending", "reasonCreated": "scheduled"}]})
    }

    fn state(queue: &SandboxQueue, id: &str) -> (String, usize) {
        let t = queue.task(id).unwrap_or_default();
        let runs = t["status"]["runs"].as_array().map_or(0, Vec::len);
        (t["status"]["state"].as_str().unwrap_or("").to_owned(), runs)
    }

    /// A paused clock drives the worker: nothing resolves before the
    /// scripted delay, and the rule's steps are taken in turn.
    #[tokio::test(start_paused = true)]
    async fn runs_resolve_after_their_scripted_delay_in_turn() {
        let queue = SandboxQueue::start(SandboxQueueConfig::default())
            .await
            .expect("queue");
        queue.add_task("A", task("test-intermittent"), pending());
        queue.add_task("B", task("build-broken"), pending());
        let mut seen = queue.resolutions();
        let script = WorkerScript {
            include_existing: true,
            tick: Duration::from_millis(10),
            ..WorkerScript::default()
        }
        .rule(
            "test-*",
            vec![
                Step::failed(Duration::from_secs(5)),
                Step::completed(Duration::from_secs(5)),
            ],
        )
        .rule("build-*", vec![Step::failed(Duration::from_secs(2))]);
        let _worker = queue.start_worker(script);

        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(state(&queue, "A"), ("running".to_owned(), 1));
        assert_eq!(state(&queue, "B"), ("running".to_owned(), 1));
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(state(&queue, "B"), ("failed".to_owned(), 1));
        assert_eq!(state(&queue, "A").0, "running");
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(state(&queue, "A"), ("failed".to_owned(), 1));

        // A rerun of each: the intermittent test goes green, the build fails again.
        queue.set_state("A", TaskState::Pending, None);
        queue.set_state("B", TaskState::Pending, None);
        tokio::time::sleep(Duration::from_secs(6)).await;
        assert_eq!(state(&queue, "A"), ("completed".to_owned(), 2));
        assert_eq!(state(&queue, "B"), ("failed".to_owned(), 2));

        let mut order = Vec::new();
        while let Ok(r) = seen.try_recv() {
            order.push((r.task_id, r.run_id, r.state));
        }
        assert_eq!(
            order,
            vec![
                ("B".to_owned(), 0, TaskState::Failed),
                ("A".to_owned(), 0, TaskState::Failed),
                ("B".to_owned(), 1, TaskState::Failed),
                ("A".to_owned(), 1, TaskState::Completed),
            ]
        );
    }

    /// A held callback keeps its action task running, past its scripted
    /// delay, until released; other tasks go on meanwhile.
    #[test]
    fn held_callbacks_wait_for_their_release() {
        let mut data = QueueData::default();
        let mut action = task("Action: Cancel");
        action["tags"]["kind"] = json!("action-callback");
        action["payload"] =
            json!({"env": {"ACTION_CALLBACK": "cancel", "ACTION_TASK_ID": "\"A\""}});
        data.insert("CANCEL", action, pending());
        data.insert("A", task("x"), pending());
        let mut worker = WorkerState::new(
            WorkerScript {
                default: Some(Step::completed(Duration::ZERO)),
                include_existing: true,
                ..WorkerScript::default()
            },
            &data,
        );
        let held: HashSet<String> = ["cancel".to_owned()].into();
        let now = Instant::now();
        let done = worker.tick(&mut data, &[], &held, now);
        let resolved: Vec<&str> = done.iter().map(|r| r.task_id.as_str()).collect();
        assert_eq!(resolved, ["A"]);
        let later = now + Duration::from_secs(3600);
        assert!(worker.tick(&mut data, &[], &held, later).is_empty());
        let open = data.get("CANCEL").map(|t| state_of(&t.status));
        assert_eq!(open, Some(TaskState::Running));
        let done = worker.tick(&mut data, &[], &HashSet::new(), later);
        let resolved: Vec<&str> = done.iter().map(|r| r.task_id.as_str()).collect();
        assert_eq!(resolved, ["CANCEL"], "carried out once released");
    }

    /// Runs open when the worker started are left alone unless asked.
    #[test]
    fn existing_runs_are_left_alone_by_default() {
        let mut data = QueueData::default();
        data.insert("A", task("x"), pending());
        let mut worker = WorkerState::new(
            WorkerScript {
                default: Some(Step::completed(Duration::ZERO)),
                ..WorkerScript::default()
            },
            &data,
        );
        let now = Instant::now();
        assert!(worker.tick(&mut data, &[], &HashSet::new(), now).is_empty());
        data.set_state("A", TaskState::Failed, None, Utc::now());
        data.set_state("A", TaskState::Pending, None, Utc::now());
        let done = worker.tick(&mut data, &[], &HashSet::new(), now);
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].run_id, 1);
        assert_eq!(done[0].state, TaskState::Completed);
    }
}
