//! SQLite adapter of the store: the default, a single file created if absent.

use std::str::FromStr;

use async_trait::async_trait;
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use tokio::sync::mpsc;

use super::{Store, StoreError};

/// Readers share a pool; writers share one connection, so they queue in order instead of
/// contending for SQLite's write lock and sleeping in its busy handler.
pub struct SqliteStore {
    read: SqlitePool,
    write: SqlitePool,
    /// Acks queue here to be written in groups (see `batch`).
    opener: mpsc::Sender<batch::Request>,
}

mod audit;
mod batch;
mod forensics;
mod incidents;
mod jobs;
mod monitoring;
mod proposals;
mod restores;
mod rows;

use audit::insert_audit;
use jobs::insert_job;

/// Begins a write transaction holding SQLite's write lock from its start. A deferred one that
/// reads and then writes fails at once with "database is locked" when another process (a
/// second replica, the CLI) wrote in between; an immediate one waits its turn (`busy_timeout`).
pub(super) async fn begin_write(
    pool: &SqlitePool,
) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
    pool.begin_with("BEGIN IMMEDIATE").await
}

impl SqliteStore {
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let opts = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // Another process (a second replica, the CLI) may hold the write lock briefly.
            .busy_timeout(std::time::Duration::from_secs(10))
            // In WAL mode NORMAL survives a process crash; only a power loss can drop the
            // last transactions.
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true);
        // A local file connection does not go stale: skip the liveness ping sqlx otherwise
        // runs before lending each connection (it doubled the cost of every query).
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .connect_with(opts.clone())
            .await?;
        sqlx::migrate!("migrations/sqlite").run(&write).await?;
        let read = SqlitePoolOptions::new()
            .max_connections(8)
            .test_before_acquire(false)
            .connect_with(opts.read_only(true))
            .await?;
        let (opener, queued) = mpsc::channel(1024);
        tokio::spawn(batch::run_opener(write.clone(), queued));
        Ok(Self {
            read,
            write,
            opener,
        })
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.write).await?;
        Ok(())
    }
}

/// sqlx's errors in the store's terms: what cannot be reached or timed out is passing, what
/// cannot be read back is corrupt, the rest is a refusal. The original stays the source.
impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        use sqlx::Error as E;
        match e {
            E::Io(_) | E::Tls(_) | E::PoolTimedOut | E::PoolClosed | E::WorkerCrashed => {
                Self::Unavailable(Box::new(e))
            }
            E::Database(ref d) if d.code().as_deref().is_some_and(is_busy) => {
                Self::Unavailable(Box::new(e))
            }
            E::RowNotFound
            | E::ColumnNotFound(_)
            | E::ColumnDecode { .. }
            | E::Decode(_)
            | E::TypeNotFound { .. } => Self::Corrupt(e.to_string()),
            _ => Self::Refused(Box::new(e)),
        }
    }
}

/// SQLite's SQLITE_BUSY and SQLITE_LOCKED, with their extended codes: another writer held
/// the database past the busy timeout.
fn is_busy(code: &str) -> bool {
    matches!(code.parse::<i32>().map(|c| c & 0xff), Ok(5 | 6))
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        Self::Migrate(Box::new(e))
    }
}
