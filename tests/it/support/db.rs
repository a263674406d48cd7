//! The database a test runs on: a SQLite file in a fresh folder, or, with
//! `KEYLEAK_TEST_STORE=postgres`, a fresh PostgreSQL database on this machine's server
//! (`KEYLEAK_TEST_POSTGRES`, by default postgres://postgres@127.0.0.1:5432), dropped when
//! the test ends. A server that cannot be reached fails the test; nothing is skipped.

use std::sync::Arc;

use keyleak::domain::ids::{AccessKeyId, IncidentId};
use keyleak::domain::incident::Actor;
use keyleak::store::{NewIncident, Opening, SqlStore, Store};

const DEFAULT_SERVER: &str = "postgres://postgres@127.0.0.1:5432";

pub struct TestDb {
    pub url: String,
    place: Place,
}

enum Place {
    Sqlite {
        path: std::path::PathBuf,
        _dir: tempfile::TempDir,
    },
    Postgres {
        server: String,
        name: String,
    },
    /// Another handle's database: left for its owner to drop.
    Shared {
        sqlite: Option<std::path::PathBuf>,
    },
}

pub fn on_postgres() -> bool {
    match std::env::var("KEYLEAK_TEST_STORE").as_deref() {
        Ok("postgres") => true,
        Ok("sqlite") | Err(_) => false,
        Ok(other) => panic!("KEYLEAK_TEST_STORE={other}: expected sqlite or postgres"),
    }
}

impl TestDb {
    /// On the store `KEYLEAK_TEST_STORE` names.
    pub async fn new() -> Self {
        if on_postgres() {
            Self::postgres().await
        } else {
            Self::sqlite()
        }
    }

    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keyleak.db");
        Self {
            url: format!("sqlite://{}", path.display()),
            place: Place::Sqlite { path, _dir: dir },
        }
    }

    /// On PostgreSQL whatever the run's store: for what only PostgreSQL does.
    pub async fn postgres() -> Self {
        let server = std::env::var("KEYLEAK_TEST_POSTGRES").unwrap_or(DEFAULT_SERVER.into());
        let name = format!("keyleak_test_{}", uuid::Uuid::new_v4().simple());
        admin(&server, &format!("CREATE DATABASE {name}")).await;
        Self {
            url: format!("{server}/{name}"),
            place: Place::Postgres { server, name },
        }
    }

    /// The same database, for a second replica; the first handle still owns it.
    pub fn shared(&self) -> Self {
        let sqlite = match &self.place {
            Place::Sqlite { path, .. } => Some(path.clone()),
            Place::Shared { sqlite } => sqlite.clone(),
            Place::Postgres { .. } => None,
        };
        Self {
            url: self.url.clone(),
            place: Place::Shared { sqlite },
        }
    }

    /// The same database reached through `proxy`, which stands for its server.
    pub fn through(&self, proxy: &super::tcp_proxy::TcpProxy) -> Self {
        let mut url = url::Url::parse(&self.url).unwrap();
        url.set_port(Some(proxy.addr.port())).unwrap();
        let mut shared = self.shared();
        shared.url = url.to_string();
        shared
    }

    /// Where the server is, as `host:port`.
    pub fn server(&self) -> String {
        let url = url::Url::parse(&self.url).unwrap();
        format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432))
    }

    pub async fn store(&self) -> Arc<dyn Store> {
        Arc::new(SqlStore::connect(&self.url).await.unwrap())
    }

    /// A plain connection, for a test that changes rows behind the store's back.
    pub async fn pool(&self) -> sqlx::AnyPool {
        sqlx::any::install_default_drivers();
        sqlx::AnyPool::connect(&self.url).await.unwrap()
    }

    /// Holds the store's write lock for `hold` (from when this returns), as a long write by
    /// another process would: SQLite's write lock, or the store's advisory lock on
    /// PostgreSQL (its key as src/store/sql/mod.rs has it).
    pub async fn hold_writes(&self, hold: std::time::Duration) {
        use sqlx::Executor as _;
        let mut conn = self.pool().await.acquire().await.unwrap().detach();
        let lock = match self.url.starts_with("postgres") {
            true => "BEGIN; SELECT pg_advisory_xact_lock(30229394692071787)",
            false => "BEGIN IMMEDIATE",
        };
        conn.execute(lock).await.unwrap();
        tokio::spawn(async move {
            tokio::time::sleep(hold).await;
            let _ = conn.execute("ROLLBACK").await;
        });
    }

    /// Everything the bot persisted, as text, for checks that a secret is not in it: every
    /// byte of the SQLite file and its log, or every row of every PostgreSQL table.
    pub async fn stored_text(&self) -> String {
        match &self.place {
            Place::Sqlite { path, .. } | Place::Shared { sqlite: Some(path) } => {
                let mut all = vec![];
                for suffix in ["", "-wal", "-shm"] {
                    if let Ok(b) = std::fs::read(format!("{}{suffix}", path.display())) {
                        all.extend(b);
                    }
                }
                String::from_utf8_lossy(&all).into_owned()
            }
            Place::Postgres { .. } | Place::Shared { sqlite: None } => {
                use sqlx::Row as _;
                let pool = self.pool().await;
                let tables: Vec<String> = sqlx::query_scalar(
                    "SELECT table_name::text FROM information_schema.tables \
                     WHERE table_schema = 'public'",
                )
                .fetch_all(&pool)
                .await
                .unwrap();
                let mut all = String::new();
                for t in tables {
                    let sql = format!("SELECT row_to_json(t)::text AS r FROM \"{t}\" t");
                    for row in sqlx::query(sqlx::AssertSqlSafe(sql))
                        .fetch_all(&pool)
                        .await
                        .unwrap()
                    {
                        all.push_str(&row.get::<String, _>("r"));
                        all.push('\n');
                    }
                }
                all
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Place::Postgres { server, name } = &self.place {
            let (server, sql) = (
                server.clone(),
                format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            );
            // A runtime of its own: the test's may be shutting down.
            let dropped = std::thread::spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map(|rt| rt.block_on(admin(&server, &sql)))
            })
            .join();
            if dropped.is_err() {
                eprintln!("could not drop the test database {name}");
            }
        }
    }
}

async fn admin(server: &str, sql: &str) {
    use sqlx::Connection as _;
    let url = format!("{server}/postgres");
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap_or_else(|e| {
        panic!("PostgreSQL at {server} is needed for KEYLEAK_TEST_STORE=postgres: {e}")
    });
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Incident number `n` as `keyleak contain` opens it, with a key of its own, for tests that
/// write to a store directly.
pub fn new_incident(n: u32) -> NewIncident {
    NewIncident {
        investigate_days: None,
        id: IncidentId::from_random(n),
        key: AccessKeyId::parse(&format!("AKIASTORETST{n:08}")).unwrap(),
        reason: None,
        requested_by: Actor::Cli("test".into()),
        now: chrono::Utc::now(),
        origin: "test".into(),
        response_url: None,
        opening: Opening::Contain,
        hold: None,
        signal: None,
    }
}
