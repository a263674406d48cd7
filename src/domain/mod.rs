//! The pure core: no I/O, no clocks, no randomness. Everything here is tested without peers.

pub mod action;
pub mod answer;
pub mod approval;
pub mod audit;
pub mod cleanup;
pub mod command;
pub mod credentials;
pub mod evidence;
pub mod grant;
pub mod ids;
pub mod incident;
pub mod job;
pub mod policy;
pub mod ratelimit;
pub mod reach;
pub mod report;
pub mod restore;
pub mod room;
pub mod secrets;
pub mod signal;
pub mod trail;
pub mod verbs;
