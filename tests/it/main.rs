//! The integration tests, one binary: the harness in `support` (moto, the CloudTrail and
//! GuardDuty emulator, the fake Slack, a delaying proxy) and one module per area. One binary
//! links the AWS SDKs once, where a binary per file linked them sixteen times.

mod support;

mod approval_edges;
mod approval_store;
mod binary;
mod cleanup;
mod contain;
mod credentials;
mod deployment;
mod eradication;
mod evidence;
mod exposure;
mod faults;
mod footprint;
mod forensics;
mod front_door;
mod github;
mod grants;
mod intake;
mod lookup;
mod metrics;
mod monitor;
mod reach;
mod replicas;
mod report;
mod restore;
mod resume;
mod room;
mod slack_peer;
mod socket_mode;
mod transcripts;
mod triage;
