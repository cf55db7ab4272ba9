//! What a webhook delivery holds, before any I/O: the signature check on the
//! raw body (`signature`) and the `issue_comment` payload (`event`). The
//! request handling around them is `rerunbot::webhook`.

pub mod event;
pub mod signature;
