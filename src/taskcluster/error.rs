//! The queue's answers as errors a reply can explain, and how a queue error
//! response (`{code, message}` with an HTTP status) maps onto them.

use crate::outcome::DispatchError;

/// Substrings of the queue's 409 messages (services/queue/src/api.js) that
/// tell the three conflicts apart. The sandbox answers with the same texts.
pub const DEADLINE_MESSAGE_MARK: &str = "past its deadline";
pub const RUN_LIMIT_MESSAGE_MARK: &str = "Maximum number of runs reached";

/// Why a queue call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    /// 409: the task's deadline has passed (rerun, cancel).
    #[error("the task's deadline has passed")]
    PastDeadline,
    /// 409: the task has the maximum number of runs (50).
    #[error("the task has reached the queue's maximum number of runs")]
    RunLimit,
    /// 409: any other conflict, e.g. a taskId used by a different definition.
    #[error("conflict: {message}")]
    Conflict { message: String },
    /// 403: the credentials lack scopes; the message names the missing ones.
    #[error("insufficient scopes: {message}")]
    InsufficientScopes { message: String },
    /// 404.
    #[error("not found")]
    NotFound,
    /// 5xx, timeouts or connection errors, after every retry.
    #[error("queue unavailable: {message}")]
    Unavailable { message: String },
    /// Any other answer (400 input errors, 401 authentication, bad responses).
    #[error("queue rejected the request ({status}): {message}")]
    Rejected { status: u16, message: String },
}

impl QueueError {
    /// Maps a non-success, non-5xx answer of the queue.
    pub fn from_response(status: u16, body: &[u8]) -> Self {
        let message = error_message(body);
        match status {
            404 => QueueError::NotFound,
            403 => QueueError::InsufficientScopes { message },
            409 if message.contains(DEADLINE_MESSAGE_MARK) => QueueError::PastDeadline,
            409 if message.contains(RUN_LIMIT_MESSAGE_MARK) => QueueError::RunLimit,
            409 => QueueError::Conflict { message },
            _ => QueueError::Rejected { status, message },
        }
    }
}

/// The `message` of a Taskcluster error body, without the `---` trailer the
/// API library appends (method, errorCode, time), or the raw text.
pub fn error_message(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let message = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_owned))
        .unwrap_or_else(|| text.chars().take(500).collect());
    match message.split_once("\n\n---") {
        Some((head, _)) => head.trim_end().to_owned(),
        None => message.trim_end().to_owned(),
    }
}

impl From<&QueueError> for DispatchError {
    fn from(err: &QueueError) -> Self {
        match err {
            QueueError::PastDeadline => DispatchError::PastDeadline,
            QueueError::RunLimit => DispatchError::RunLimit,
            QueueError::Conflict { message } => DispatchError::Conflict {
                message: message.clone(),
            },
            QueueError::InsufficientScopes { message } => DispatchError::InsufficientScopes {
                message: message.clone(),
            },
            QueueError::NotFound => DispatchError::NotFound,
            QueueError::Unavailable { message } => DispatchError::Unavailable {
                message: message.clone(),
            },
            QueueError::Rejected { status, message } => DispatchError::Rejected {
                status: *status,
                message: message.clone(),
            },
        }
    }
}

impl From<QueueError> for DispatchError {
    fn from(err: QueueError) -> Self {
        DispatchError::from(&err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(message: &str) -> Vec<u8> {
        serde_json::json!({ "code": "X", "message": message })
            .to_string()
            .into_bytes()
    }

    #[test]
    fn statuses_and_messages_map_to_variants() {
        let trailer = "\n\n---\n\n* method: rerunTask\n* errorCode: RequestConflict";
        let cases: Vec<(u16, String, QueueError)> = vec![
            (404, "`x` does not correspond to a task".into(), QueueError::NotFound),
            (
                409,
                format!("Task `x` can't be rescheduled past its deadline of 2020-01-01T00:00:00.000Z.{trailer}"),
                QueueError::PastDeadline,
            ),
            (
                409,
                "Task `x` can't be canceled past its deadline of 2020.".into(),
                QueueError::PastDeadline,
            ),
            (409, "Maximum number of runs reached (50).".into(), QueueError::RunLimit),
            (
                409,
                format!("taskId `x` already used by another task.\nThis could be the result of faulty idempotency!{trailer}"),
                QueueError::Conflict {
                    message: "taskId `x` already used by another task.\nThis could be the result of faulty idempotency!".into(),
                },
            ),
            (
                403,
                "Client ID c does not have sufficient scopes".into(),
                QueueError::InsufficientScopes {
                    message: "Client ID c does not have sufficient scopes".into(),
                },
            ),
            (
                400,
                "`created` cannot be in the past (max 15min drift)".into(),
                QueueError::Rejected {
                    status: 400,
                    message: "`created` cannot be in the past (max 15min drift)".into(),
                },
            ),
        ];
        for (status, message, expected) in cases {
            assert_eq!(
                QueueError::from_response(status, &body(&message)),
                expected,
                "{status} {message}"
            );
        }
    }

    #[test]
    fn non_json_bodies_keep_their_text() {
        assert_eq!(
            QueueError::from_response(401, b"nope"),
            QueueError::Rejected {
                status: 401,
                message: "nope".into()
            }
        );
    }

    #[test]
    fn converts_to_dispatch_error() {
        assert_eq!(
            DispatchError::from(&QueueError::RunLimit),
            DispatchError::RunLimit
        );
        assert_eq!(
            DispatchError::from(QueueError::Unavailable {
                message: "m".into()
            }),
            DispatchError::Unavailable {
                message: "m".into()
            }
        );
    }
}
