//! The task that ends idle sessions on time, whether or not requests come: it wakes every
//! `TICK`, and ends each session whose idle clock ran out while no cell held it.
//!
//! Not here: what ending a session does (mod.rs's `expire_if_idle`), the clock itself
//! (session.rs).

use std::sync::Weak;
use std::time::Duration;

use super::Sessions;

/// How late past its `idle_timeout` a session may end, at most.
const TICK: Duration = Duration::from_secs(1);

/// Runs until the registry is dropped.
pub(super) fn spawn(sessions: Weak<Sessions>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(sessions) = sessions.upgrade() else {
                return;
            };
            for session in sessions.live() {
                sessions.expire_if_idle(&session).await;
            }
        }
    });
}
