//! The SQL adapter of the store, on SQLite (the default: one process, a single file created
//! if absent) or PostgreSQL (several replicas on one database). The statements are the same
//! on both: numbered placeholders, times as integers, JSON as text; each database has its
//! own migrations.
//!
//! Writes that read before they write run one at a time, as SQLite runs every write: under
//! its database lock there, under one transaction-scoped advisory lock on PostgreSQL. So the
//! rules the statements enforce (one open incident per key, one approval decides, one job
//! issues a restore) hold across replicas as they hold in one process. Single statements
//! rely on the database's own row locks.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;
use tokio::sync::{Notify, mpsc};
use tracing::warn;

use super::{Store, StoreError};

/// Readers share a pool; on SQLite writers share one connection, so they queue in order
/// instead of contending for the write lock and sleeping in its busy handler.
pub struct SqlStore {
    read: AnyPool,
    write: AnyPool,
    dialect: Dialect,
    /// Acks queue here to be written in groups (see `batch`).
    opener: mpsc::Sender<batch::Request>,
    /// On PostgreSQL: what other replicas queue.
    listening: Option<Listening>,
}

/// The channel jobs are announced on (by a trigger, migrations/postgres).
const JOBS_CHANNEL: &str = "keyleak_jobs";

/// A task that hears `JOBS_CHANNEL` and wakes whoever waits on `queued`; it stops with the
/// store.
struct Listening {
    queued: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Listening {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Listening {
    fn start(url: &str) -> Self {
        let queued = Arc::new(Notify::new());
        let task = tokio::spawn(listen(url.to_string(), queued.clone()));
        Self { queued, task }
    }
}

/// Listens for as long as the store lives, reconnecting after a pause when the connection
/// is lost. A notification missed while reconnecting costs one poll interval, no more.
async fn listen(url: String, queued: Arc<Notify>) {
    loop {
        match listener(&url).await {
            Ok(mut l) => loop {
                match l.try_recv().await {
                    Ok(Some(_)) => queued.notify_waiters(),
                    // The connection was lost and is being made again: something may have
                    // been queued meanwhile.
                    Ok(None) => queued.notify_waiters(),
                    Err(e) => {
                        warn!(error = %e, "lost the job notifications; polling until they are back");
                        break;
                    }
                }
            },
            Err(e) => warn!(error = %e, "could not listen for job notifications; polling"),
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
}

async fn listener(url: &str) -> Result<sqlx::postgres::PgListener, sqlx::Error> {
    let mut l = sqlx::postgres::PgListener::connect(url).await?;
    l.listen(JOBS_CHANNEL).await?;
    Ok(l)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dialect {
    Sqlite,
    Postgres,
}

mod audit;
mod batch;
mod evidence;
mod forensics;
mod incidents;
mod jobs;
mod monitoring;
mod proposals;
mod restores;
mod rows;

use audit::insert_audit;
use jobs::insert_job;

/// The advisory lock that serialises the store's write transactions on PostgreSQL (any
/// 64-bit number no other application on the database uses: "keyleak" in ASCII).
const WRITE_LOCK: i64 = 0x006b_6579_6c65_616b;

/// Begins a write transaction that holds the database's write lock from its start. On SQLite
/// a deferred transaction that reads and then writes fails at once with "database is locked"
/// when another process (a second replica, the CLI) wrote in between; an immediate one waits
/// its turn (`busy_timeout`). On PostgreSQL the advisory lock plays the same part.
pub(super) async fn begin_write(
    pool: &AnyPool,
    dialect: Dialect,
) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
    match dialect {
        Dialect::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await,
        Dialect::Postgres => {
            let mut tx = pool.begin().await?;
            // Selected from, because the function's own result (void) is no type the
            // driver-neutral rows carry.
            sqlx::query("SELECT 1 FROM pg_advisory_xact_lock($1)")
                .bind(WRITE_LOCK)
                .execute(&mut *tx)
                .await?;
            Ok(tx)
        }
    }
}

impl SqlStore {
    /// Opens the database at `url` (`sqlite:` or `postgres:`) and brings its schema up to date.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let (read, write, dialect, listening) = if url.starts_with("postgres") {
            let pool = postgres(url).await?;
            let listening = Listening::start(url);
            (pool.clone(), pool, Dialect::Postgres, Some(listening))
        } else {
            let (read, write) = sqlite(url).await?;
            (read, write, Dialect::Sqlite, None)
        };
        let (opener, queued) = mpsc::channel(1024);
        tokio::spawn(batch::run_opener(write.clone(), dialect, queued));
        Ok(Self {
            read,
            write,
            dialect,
            opener,
            listening,
        })
    }
}

/// One pool for readers and writers. Migrations run under sqlx's own advisory lock, so
/// replicas started together apply them once.
async fn postgres(url: &str) -> Result<AnyPool, StoreError> {
    let pool = AnyPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(Duration::from_secs(10))
        .connect(url)
        .await?;
    sqlx::migrate!("migrations/postgres").run(&pool).await?;
    Ok(pool)
}

/// A reader pool and a one-connection writer, on the file in write-ahead-log mode.
async fn sqlite(url: &str) -> Result<(AnyPool, AnyPool), StoreError> {
    let with_mode = |mode: &str| -> Result<String, StoreError> {
        let mut u = url::Url::parse(url).map_err(|e| StoreError::Refused(Box::new(e)))?;
        let rest: Vec<(String, String)> = u
            .query_pairs()
            .filter(|(k, _)| k != "mode")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        u.query_pairs_mut()
            .clear()
            .extend_pairs(rest)
            .append_pair("mode", mode);
        Ok(u.to_string())
    };
    // A local file connection does not go stale: skip the liveness ping sqlx otherwise runs
    // before lending each connection (it doubled the cost of every query).
    let write = AnyPoolOptions::new()
        .max_connections(1)
        .test_before_acquire(false)
        .after_connect(|conn, _| {
            Box::pin(async move {
                use sqlx::Executor as _;
                conn.execute("PRAGMA journal_mode = WAL").await?;
                sqlite_pragmas(conn).await
            })
        })
        .connect(&with_mode("rwc")?)
        .await?;
    sqlx::migrate!("migrations/sqlite").run(&write).await?;
    let read = AnyPoolOptions::new()
        .max_connections(8)
        .test_before_acquire(false)
        .after_connect(|conn, _| Box::pin(sqlite_pragmas(conn)))
        .connect(&with_mode("ro")?)
        .await?;
    Ok((read, write))
}

/// Another process (a second replica, the CLI) may hold the write lock briefly. In WAL mode
/// NORMAL survives a process crash; only a power loss can drop the last transactions.
async fn sqlite_pragmas(conn: &mut sqlx::AnyConnection) -> Result<(), sqlx::Error> {
    use sqlx::Executor as _;
    conn.execute("PRAGMA busy_timeout = 10000").await?;
    conn.execute("PRAGMA synchronous = NORMAL").await?;
    conn.execute("PRAGMA foreign_keys = ON").await?;
    Ok(())
}

#[async_trait]
impl Store for SqlStore {
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

/// Codes that say "try again": SQLite's SQLITE_BUSY and SQLITE_LOCKED with their extended
/// codes (another writer held the database past the busy timeout); PostgreSQL's connection
/// exceptions (08…), serialization failure and deadlock (40001, 40P01), and shutdown (57P…).
fn is_busy(code: &str) -> bool {
    let postgres =
        code.starts_with("08") || code.starts_with("57P") || matches!(code, "40001" | "40P01");
    postgres || matches!(code.parse::<i32>().map(|c| c & 0xff), Ok(5 | 6))
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        Self::Migrate(Box::new(e))
    }
}
