//! Pulse for the tests that run against the machine's RabbitMQ: the
//! broker's URL (or a skip), and a world's Pulse settings of its own.

use rerunbot::follow::pulse::PulseConfig;
use rerunbot::follow::FollowConfig;
use std::time::Duration;

/// The broker URL, or `None` (with a printed reason) when
/// `RERUNBOT_TEST_AMQP_URL` is unset. In CI the variable is set and
/// `RERUNBOT_REQUIRE_AMQP=1` turns a missing one into a failure.
pub fn amqp_url() -> Option<String> {
    match std::env::var("RERUNBOT_TEST_AMQP_URL") {
        Ok(url) => Some(url),
        Err(_) => {
            assert!(
                std::env::var("RERUNBOT_REQUIRE_AMQP").is_err(),
                "RERUNBOT_REQUIRE_AMQP is set but RERUNBOT_TEST_AMQP_URL is not"
            );
            eprintln!("skipping: RERUNBOT_TEST_AMQP_URL is not set (no RabbitMQ here)");
            None
        }
    }
}

/// A follow loop that polls so slowly (once an hour) that within a test
/// only Pulse can resolve anything; edits are sent at once.
pub fn pulse_only_follow() -> FollowConfig {
    FollowConfig {
        poll_interval: Duration::from_secs(3600),
        edit_every: Duration::ZERO,
        wake_every: Duration::from_millis(20),
        ..FollowConfig::default()
    }
}

/// Pulse settings with a queue and exchanges of their own
/// (`<name>-<fresh id>`), so parallel tests do not collide; bindings are
/// synced every 20 ms.
pub fn own_pulse(url: &str, name: &str) -> PulseConfig {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let mut pulse = PulseConfig::new(url, &format!("queue/guest/{name}-{id}"));
    pulse.exchange_prefix = format!("exchange/{name}-{id}/v1/");
    pulse.sync_every = Duration::from_millis(20);
    pulse
}
