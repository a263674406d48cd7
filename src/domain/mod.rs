//! The pure core: no I/O, no clocks, no randomness. Everything here is tested without peers.

pub mod action;
pub mod approval;
pub mod cleanup;
pub mod command;
pub mod ids;
pub mod incident;
pub mod policy;
pub mod ratelimit;
pub mod restore;
pub mod room;
pub mod secrets;
pub mod trail;
