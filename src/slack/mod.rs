//! Slack: the verified front door, the Web API adapter, and every message text.

pub mod client;
pub mod interactions;
pub mod messages;
mod outbox;
pub mod routes;
pub mod server;
pub mod socket;
pub mod verify;
