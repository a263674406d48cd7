//! The command line: the same engine as Slack, for when Slack itself is unavailable.

mod console;
mod offline;

use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use tokio::signal::unix::{SignalKind, signal};

use self::console::Console;
use crate::aws::{Aws, SdkAws};
use crate::config::{ConfigErrors, CoreConfig, SlackConfig};
use crate::domain::command::MAX_DAYS;
use crate::domain::ids::{AccessKeyId, IncidentId, KeyKind};
use crate::domain::incident::{Actor, IncidentState, StepFact};
use crate::engine::clock::SystemClock;
use crate::engine::{Engine, Status, StatusOf, Worker, WorkerSettings};
use crate::serve::{forensics, open_store};
use crate::slack::messages;

#[derive(Parser)]
#[command(name = "keyleak", version, about = "Contain a leaked AWS access key")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Verb,
}

#[derive(Subcommand)]
pub enum Verb {
    /// Serve Slack's requests and run the workers.
    Serve,
    /// Try keyleak on this machine, with no Slack app or AWS account: a page that plays
    /// Slack, moto for AWS, and a leaked key's story played into them, all on 127.0.0.1.
    Sandbox {
        /// The page's port (0: any free one).
        #[arg(long, default_value_t = 3030)]
        port: u16,
        /// Which story: a person contains the key (`leak`), or AWS Health reports it and
        /// keyleak contains it on its own (`health`).
        #[arg(long, value_enum, default_value = "leak")]
        scenario: crate::sandbox::Scenario,
    },
    /// Contain a key now, reporting to this terminal.
    Contain {
        /// The access key id (AKIA… or ASIA…).
        key: String,
        /// Why, for the record.
        reason: Vec<String>,
        /// Print what would be done without changing anything.
        #[arg(long)]
        dry_run: bool,
        /// Who is acting, for the audit log (else `$USER`).
        #[arg(long, env = "KEYLEAK_ACTOR", value_parser = actor)]
        actor: Option<String>,
    },
    /// Forensics over a local copy of a CloudTrail archive: no AWS, no Slack.
    Investigate {
        /// The access key id (AKIA… or ASIA…).
        key: String,
        /// The folder holding the copy (the `AWSLogs/…` tree, or any part of it).
        #[arg(long, required = true)]
        archive: std::path::PathBuf,
        /// How far back, in days, like `400d`.
        #[arg(long, default_value = "90d", value_parser = days)]
        since: u32,
        /// Where the timeline files go (made when missing).
        #[arg(long, default_value = ".")]
        out: std::path::PathBuf,
        /// Print the findings as one JSON object, for scripts, instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// A name for the audit log: what a person would type, not a paragraph or a terminal escape.
fn actor(v: &str) -> Result<String, String> {
    let v = v.trim();
    let plain = v
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@' | '+' | ' '));
    if v.is_empty() || v.chars().count() > 64 || !plain {
        return Err("1 to 64 letters, digits, spaces or . _ - @ +, like `jane@example.com`".into());
    }
    Ok(v.to_string())
}

/// `7d` or `7`: a number of days from 1 to ten years.
fn days(v: &str) -> Result<u32, String> {
    match v.trim_end_matches('d').parse::<u32>() {
        Ok(n @ 1..=MAX_DAYS) => Ok(n),
        _ => Err(format!(
            "`{v}` is not a number of days from 1 to {MAX_DAYS}, like `400d`"
        )),
    }
}

pub async fn main(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Verb::Serve => serve().await,
        Verb::Sandbox { port, scenario } => {
            let opts = crate::sandbox::Options { port, scenario };
            crate::sandbox::run(opts, shutdown_signal()).await
        }
        Verb::Contain {
            key,
            reason,
            dry_run,
            actor,
        } => contain(&key, reason, dry_run, actor).await,
        Verb::Investigate {
            key,
            archive,
            since,
            out,
            json,
        } => offline::investigate_archive(&key, &archive, since, &out, json).await,
    }
}

fn load_all() -> Result<(CoreConfig, SlackConfig), ConfigErrors> {
    match (CoreConfig::from_env(), SlackConfig::from_env()) {
        (Ok(c), Ok(s)) => Ok((c, s)),
        (c, s) => {
            let mut all = c.err().map(|e| e.0).unwrap_or_default();
            all.extend(s.err().map(|e| e.0).unwrap_or_default());
            Err(ConfigErrors(all))
        }
    }
}

async fn serve() -> anyhow::Result<()> {
    let (core, slack) = load_all()?;
    let aws = SdkAws::from_env(core.role_arn_template.clone())
        .await
        .with_role_external_id(core.role_external_id.clone())
        .with_archive_limits(core.archive_limits);
    let listener = tokio::net::TcpListener::bind(slack.listen)
        .await
        .with_context(|| format!("binding {}", slack.listen))?;
    crate::serve::run(core, slack, aws, listener, shutdown_signal()).await
}

async fn shutdown_signal() {
    let term = async {
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}

/// Writes a new file beside `path` (created exclusively, so nothing planted there is written
/// through) and renames it over `path`: a symlink at `path` is replaced, never followed.
fn replace_file(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let tmp = path.with_extension(format!("tmp-{:016x}", rand::random::<u64>()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)?;
    let written = f.write_all(bytes).and_then(|()| f.sync_all());
    if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(())
}

/// The reason as it is kept: any secret in it replaced, with a warning on the terminal.
fn redacted_reason(words: &[String]) -> Option<String> {
    let clean = crate::domain::secrets::redact(&words.join(" "));
    if clean.found {
        eprintln!(
            "keyleak: the reason held something shaped like a secret access key or session \
             token; it was replaced by {} and not stored. Treat that secret as exposed.",
            crate::domain::secrets::REDACTED
        );
    }
    (!clean.text.is_empty()).then_some(clean.text)
}

async fn contain(
    raw_key: &str,
    reason: Vec<String>,
    dry_run: bool,
    actor: Option<String>,
) -> anyhow::Result<()> {
    let key = match AccessKeyId::parse(raw_key) {
        Ok(k) => k,
        Err(e) => bail!("not an access key id: {e}"),
    };
    let core = CoreConfig::from_env()?;
    let aws = Arc::new(
        SdkAws::from_env(core.role_arn_template.clone())
            .await
            .with_role_external_id(core.role_external_id.clone())
            .with_archive_limits(core.archive_limits),
    );
    if dry_run {
        // A dry run that could not look is a failure, for a script as for a person.
        return match plan(aws.as_ref(), &key).await {
            Ok(plan) => {
                println!("{}", messages::for_terminal(&plan));
                Ok(())
            }
            Err(blocked) => bail!("{}", messages::for_terminal(&blocked)),
        };
    }
    let store = open_store(&core.database_url).await?;
    let engine = Engine::new(store, aws, Arc::new(Console), Arc::new(SystemClock))
        .with_forensics(forensics(&core));
    let who = actor
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "unknown".into());
    let reason = redacted_reason(&reason);
    let opened = engine
        .submit_contain(key, reason, Actor::Cli(who), "cli".into(), None)
        .await?;
    let worker = Worker::new(engine.clone(), WorkerSettings::default());
    // A temporary key's containment opens one for the key that minted it: run that too.
    let mut next = Some(opened.incident.id);
    let mut outcome = Ok(());
    while let Some(id) = next.take() {
        run_incident(&engine, &worker, &id).await?;
        let Status::One { incident, steps } = engine.status(StatusOf::Incident(id.clone())).await?
        else {
            bail!("incident {id} is not in the database");
        };
        if incident.state != IncidentState::Contained && outcome.is_ok() {
            outcome = Err(anyhow::anyhow!(
                "incident {} is {}",
                incident.id,
                messages::state_label(incident.state)
            ));
        }
        next = steps.into_iter().find_map(|s| match s.fact {
            StepFact::ParentQueued { incident, .. } => IncidentId::parse(&incident).ok(),
            _ => None,
        });
    }
    outcome
}

/// Only this incident's jobs: a server sharing the database keeps its own jobs, which must
/// report to Slack, not to this terminal.
async fn run_incident(engine: &Engine, worker: &Worker, id: &IncidentId) -> anyhow::Result<()> {
    while engine.pending_jobs(id).await? > 0 {
        if !worker.run_one(Some(id)).await? {
            // Another process holds the job; wait for it.
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
    }
    Ok(())
}

/// The read-only half of the playbook: what would be changed, and where; or why it could
/// not be seen.
async fn plan(aws: &dyn Aws, key: &AccessKeyId) -> Result<String, String> {
    let blocked = |e: crate::aws::AwsError| messages::plan_blocked(key, &e.to_string());
    let located = aws.locate_key(key).await.map_err(blocked)?;
    if key.kind() == KeyKind::Temporary {
        return Ok(messages::plan_temporary(key, &located.account));
    }
    let usage = aws
        .key_usage(&located.account, key)
        .await
        .map_err(blocked)?
        .value;
    let snapshot = match &usage.user_name {
        Some(user) => Some(
            aws.snapshot_user(&located.account, user)
                .await
                .map_err(blocked)?,
        ),
        None => None,
    };
    Ok(messages::plan(
        key,
        &located.account,
        &usage,
        snapshot.as_ref(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_output_file_planted_as_a_symlink_is_replaced_not_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"keep me").unwrap();
        let out = dir.path().join("AKIA-timeline.csv");
        std::os::unix::fs::symlink(&victim, &out).unwrap();
        replace_file(&out, b"timeline").unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep me");
        assert!(std::fs::symlink_metadata(&out).unwrap().is_file());
        assert_eq!(std::fs::read(&out).unwrap(), b"timeline");
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 2, "no temporary file left behind");
    }

    #[test]
    fn a_pasted_secret_in_a_cli_reason_is_replaced() {
        let words = [
            "leaked".to_string(),
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY.".into(),
        ];
        assert_eq!(
            redacted_reason(&words).as_deref(),
            Some("leaked [redacted].")
        );
        assert_eq!(redacted_reason(&[]), None);
    }
}
