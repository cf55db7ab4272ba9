//! How the delivery writer waits for SQLite's write lock. SQLite's own
//! busy handler (what `busy_timeout` installs) sleeps 1, 2, 5, 10, 15, 20,
//! 25 … ms between tries, whether the lock is freed after 50 µs or not: a
//! delivery that met a worker's short write waited milliseconds. This one
//! tries again every [`LOCK_RETRY`](super::intake::LOCK_RETRY) until
//! [`LOCK_TIMEOUT`](super::intake::LOCK_TIMEOUT), on the connection's own
//! thread (sqlx runs each SQLite connection on a thread of its own).

use super::intake::{LOCK_RETRY, LOCK_TIMEOUT};
use libsqlite3_sys as ffi;
use sqlx::SqliteConnection;
use std::os::raw::{c_int, c_void};

/// SQLite calls this with the number of times it was called for the same
/// lock: nonzero asks it to try again, zero gives up (`SQLITE_BUSY`).
extern "C" fn try_again(_data: *mut c_void, calls: c_int) -> c_int {
    let tries = LOCK_TIMEOUT.as_micros() / LOCK_RETRY.as_micros();
    if u128::try_from(calls).unwrap_or(u128::MAX) >= tries {
        return 0;
    }
    std::thread::sleep(LOCK_RETRY);
    1
}

/// Replaces `conn`'s busy handler with [`try_again`].
pub(super) async fn retry_often(conn: &mut SqliteConnection) -> Result<(), sqlx::Error> {
    let mut handle = conn.lock_handle().await?;
    let db = handle.as_raw_handle().as_ptr();
    // SAFETY: `db` is this connection's open handle, locked for us by
    // `lock_handle` (no statement runs on it meanwhile); the handler is a
    // plain function that keeps no pointer, so no data outlives the call.
    let code = unsafe { ffi::sqlite3_busy_handler(db, Some(try_again), std::ptr::null_mut()) };
    if code == ffi::SQLITE_OK {
        Ok(())
    } else {
        Err(sqlx::Error::Protocol(format!(
            "sqlite3_busy_handler answered {code}"
        )))
    }
}
