//! keyleak: contain a leaked AWS access key from Slack, with a durable record of every step.
//!
//! Error policy by layer: `domain` and the ports return `thiserror` enums where callers branch
//! (`AwsError::NoSuchEntity`, `StoreError::NoSuchIncident`, `CommandParseError`); the engine uses
//! `anyhow` with context inside playbooks; what people see is built in `slack::messages`, and
//! anything unexpected is logged and answered generically. No error carries a secret.

pub mod archive;
pub mod aws;
pub mod cli;
pub mod config;
pub mod domain;
pub mod engine;
pub mod github;
pub mod inflight;
pub mod intake;
pub mod listener;
pub mod metrics;
pub mod notify;
pub mod sandbox;
pub mod serve;
pub mod slack;
pub mod store;
pub mod tls;
