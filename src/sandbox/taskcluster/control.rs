//! Test controls of the sandbox queue: moving tasks through their states
//! as workers would, and the dependency tracker's scheduling of dependents.

use super::state::{refresh_state, runs, runs_mut, state_of, strings, QueueData};
use crate::policy::task::TaskState;
use crate::taskcluster::timestamps::format_timestamp;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

impl QueueData {
    /// Test control: moves a task to `state` the way a worker would.
    /// Returns false for an unknown task.
    pub fn set_state(
        &mut self,
        task_id: &str,
        state: TaskState,
        reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> bool {
        let Some(task) = self.tasks.get_mut(task_id) else {
            return false;
        };
        let stamp = format_timestamp(now);
        let current = state_of(&task.status);
        let Some(runs) = runs_mut(&mut task.status) else {
            return false;
        };
        let open = matches!(current, TaskState::Pending | TaskState::Running);
        match state {
            TaskState::Unscheduled => runs.clear(),
            TaskState::Pending if current == TaskState::Pending => {}
            TaskState::Pending | TaskState::Running => {
                if !open || state == TaskState::Pending {
                    let reason_created = if runs.is_empty() {
                        "scheduled"
                    } else {
                        "retry"
                    };
                    runs.push(json!({"runId": runs.len(), "state": "pending", "reasonCreated": reason_created, "scheduled": stamp}));
                }
                if state == TaskState::Running {
                    if let Some(Value::Object(run)) = runs.last_mut() {
                        run.insert("state".into(), json!("running"));
                        run.insert("started".into(), json!(stamp));
                        run.insert("workerGroup".into(), json!("sandbox"));
                        run.insert("workerId".into(), json!("sandbox-worker"));
                    }
                }
            }
            TaskState::Completed | TaskState::Failed | TaskState::Exception => {
                if !open {
                    let reason_created = if runs.is_empty() {
                        "scheduled"
                    } else {
                        "rerun"
                    };
                    runs.push(json!({"runId": runs.len(), "state": "pending", "reasonCreated": reason_created, "scheduled": stamp}));
                }
                let resolved = reason.unwrap_or(match state {
                    TaskState::Completed => "completed",
                    TaskState::Failed => "failed",
                    _ => "worker-shutdown",
                });
                if let Some(Value::Object(run)) = runs.last_mut() {
                    run.insert("state".into(), json!(state.as_str()));
                    run.insert("reasonResolved".into(), json!(resolved));
                    run.insert("resolved".into(), json!(stamp));
                }
            }
        }
        refresh_state(&mut task.status);
        if state == TaskState::Completed {
            self.schedule_ready_dependents(task_id, now);
        }
        true
    }

    /// Unscheduled tasks whose dependencies are now all completed get their
    /// first run, as the queue's dependency tracker does.
    fn schedule_ready_dependents(&mut self, task_id: &str, now: DateTime<Utc>) {
        let ready: Vec<String> = self
            .tasks
            .iter()
            .filter(|(_, t)| {
                state_of(&t.status) == TaskState::Unscheduled && runs(&t.status).is_empty()
            })
            .filter(|(_, t)| {
                strings(&t.definition, "dependencies")
                    .iter()
                    .any(|d| d == task_id)
            })
            .filter(|(_, t)| {
                strings(&t.definition, "dependencies").iter().all(|d| {
                    self.tasks
                        .get(d)
                        .is_some_and(|x| state_of(&x.status) == TaskState::Completed)
                })
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in ready {
            if let Some(t) = self.tasks.get_mut(&id) {
                if let Some(runs) = runs_mut(&mut t.status) {
                    runs.push(json!({"runId": 0, "state": "pending", "reasonCreated": "scheduled", "scheduled": format_timestamp(now)}));
                }
                refresh_state(&mut t.status);
            }
        }
    }
}
