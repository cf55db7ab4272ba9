//! Pickers for [`super::next`]: the parts of a follow event a test waits
//! for.

use rerunbot::follow::FollowEvent;

/// The body of an edited reply.
pub fn edited(e: &FollowEvent) -> Option<String> {
    match e {
        FollowEvent::ReplyEdited { body, .. } => Some(body.clone()),
        _ => None,
    }
}

/// The reaction put on a command comment.
pub fn reacted(e: &FollowEvent) -> Option<&'static str> {
    match e {
        FollowEvent::Reacted { reaction, .. } => Some(*reaction),
        _ => None,
    }
}
