//! Group commit for opening incidents. Every ack waits on this durable write, and writes
//! are one at a time (SQLite's lock, the store's on PostgreSQL), so acks that arrive together are written together: one transaction, one
//! look-up and three multi-row inserts for the whole batch, instead of one transaction of
//! five statements each.

use std::collections::HashMap;

use sqlx::{AnyPool, Transaction};
use tokio::sync::{mpsc, oneshot};

use super::rows::*;
use super::{Dialect, begin_write, insert_audit};
use crate::domain::audit::AuditAction;
use crate::domain::ids::IncidentId;
use crate::domain::incident::{Incident, IncidentState};
use crate::store::{AuditEntry, JobKind, NewIncident, Opened, StoreError};

/// The most acks written in one transaction (SQLite binds at most 32,766 values, PostgreSQL
/// 65,535).
const MAX_BATCH: usize = 64;

pub(super) type Request = (NewIncident, oneshot::Sender<Result<Opened, StoreError>>);

/// Writes the requests queued on `rx` until every sender is gone.
pub(super) async fn run_opener(write: AnyPool, dialect: Dialect, mut rx: mpsc::Receiver<Request>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        let news: Vec<NewIncident> = batch.iter().map(|(n, _)| n.clone()).collect();
        match open_batch(&write, dialect, &news).await {
            Ok(opened) => {
                for ((_, reply), o) in batch.into_iter().zip(opened) {
                    let _ = reply.send(Ok(o));
                }
            }
            // Another process raced us on a key, or one request is bad: write each on its
            // own so every request gets its own answer.
            Err(_) => {
                for (new, reply) in batch {
                    let _ = reply.send(open_one(&write, dialect, &new).await);
                }
            }
        }
    }
}

async fn open_one(
    write: &AnyPool,
    dialect: Dialect,
    new: &NewIncident,
) -> Result<Opened, StoreError> {
    let one = std::slice::from_ref(new);
    let first = open_batch(write, dialect, one).await;
    let opened = match first {
        // Another process opened one for this key after our look-up: reuse theirs.
        Err(StoreError::Refused(e)) if is_unique_violation(e.as_ref()) => {
            open_batch(write, dialect, one).await?
        }
        other => other?,
    };
    opened
        .into_iter()
        .next()
        .ok_or_else(|| StoreError::Corrupt("empty batch answer".into()))
}

fn fresh(new: &NewIncident) -> Incident {
    Incident {
        id: new.id.clone(),
        key: new.key.clone(),
        state: IncidentState::Containing,
        reason: new.reason.clone(),
        requested_by: new.requested_by.clone(),
        opened_at: new.now,
        fence_time: new.now,
        contained_at: None,
        account: None,
        user_name: None,
        slack_channel: None,
        slack_ts: None,
        late_activity: None,
    }
}

/// Opens or reuses an incident for each request, in order, in one transaction.
async fn open_batch(
    write: &AnyPool,
    dialect: Dialect,
    batch: &[NewIncident],
) -> Result<Vec<Opened>, StoreError> {
    let mut tx = begin_write(write, dialect).await?;
    let mut open = find_open_many(&mut tx, batch).await?;
    // First pass: which requests open a new incident (the first of each new key).
    let mut created = vec![];
    for new in batch {
        if !open.contains_key(new.key.as_str()) {
            open.insert(new.key.as_str().to_string(), fresh(new));
            created.push(new);
        }
    }
    insert_created(&mut tx, &created).await?;
    // Second pass, in request order: the rest reuse what is open.
    let mut out = Vec::with_capacity(batch.len());
    for new in batch {
        if created.iter().any(|c| std::ptr::eq(*c, new)) {
            out.push(Opened {
                incident: fresh(new),
                created: true,
                queued: true,
            });
        } else {
            let existing = open
                .get(new.key.as_str())
                .cloned()
                .ok_or_else(|| StoreError::Corrupt("batch lost an open incident".into()))?;
            let reused = reuse(&mut tx, existing, new).await?;
            open.insert(new.key.as_str().to_string(), reused.incident.clone());
            out.push(reused);
        }
    }
    tx.commit().await?;
    Ok(out)
}

async fn find_open_many(
    tx: &mut Transaction<'_, Any>,
    batch: &[NewIncident],
) -> Result<HashMap<String, Incident>, StoreError> {
    let sql = format!(
        "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE state <> 'closed' AND access_key_id IN ({})",
        placeholders(0, batch.len())
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for new in batch {
        q = q.bind(new.key.as_str().to_string());
    }
    let rows = q.fetch_all(&mut **tx).await?;
    rows.iter()
        .map(|r| incident_from_row(r).map(|i| (i.key.as_str().to_string(), i)))
        .collect()
}

/// The new incidents, their containment jobs and their audit rows: three statements.
async fn insert_created(
    tx: &mut Transaction<'_, Any>,
    created: &[&NewIncident],
) -> Result<(), StoreError> {
    if created.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "INSERT INTO incidents (id, access_key_id, state, reason, requested_by, opened_at, \
         fence_time) VALUES {}",
        value_rows(created.len(), 7)
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for n in created {
        q = q
            .bind(n.id.as_str().to_string())
            .bind(n.key.as_str().to_string())
            .bind(IncidentState::Containing.as_str())
            .bind(n.reason.clone())
            .bind(n.requested_by.to_stored())
            .bind(ms(n.now))
            .bind(ms(n.now));
    }
    q.execute(&mut **tx).await?;
    let sql = format!(
        "INSERT INTO jobs (kind, incident_id, state, created_at, response_url) VALUES {}",
        value_rows(created.len(), 5)
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for n in created {
        q = q
            .bind(JobKind::Contain.as_str())
            .bind(n.id.as_str().to_string())
            .bind("queued")
            .bind(ms(n.now))
            .bind(n.response_url.clone());
    }
    q.execute(&mut **tx).await?;
    let sql = format!(
        "INSERT INTO audit (at, actor, action, incident_id, detail, origin) VALUES {}",
        value_rows(created.len(), 6)
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for n in created {
        let a = audit_for(n, &n.id, AuditAction::ContainOpen);
        q = q
            .bind(ms(a.at))
            .bind(a.actor)
            .bind(a.action.name())
            .bind(n.id.as_str().to_string())
            .bind(a.detail)
            .bind(a.origin);
    }
    q.execute(&mut **tx).await?;
    Ok(())
}

/// Reuses the open incident; queues a retry when it failed and nothing is pending.
async fn reuse(
    tx: &mut Transaction<'_, Any>,
    existing: Incident,
    new: &NewIncident,
) -> Result<Opened, StoreError> {
    let mut queued = false;
    if existing.state == IncidentState::Failed {
        let pending: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM jobs WHERE incident_id = $1 AND kind = 'contain' \
             AND state IN ('queued', 'running')",
        )
        .bind(existing.id.as_str())
        .fetch_one(&mut **tx)
        .await?;
        if pending == 0 {
            enqueue(tx, &existing.id, new).await?;
            sqlx::query("UPDATE incidents SET state = 'containing' WHERE id = $1")
                .bind(existing.id.as_str())
                .execute(&mut **tx)
                .await?;
            queued = true;
        }
    }
    let action = if queued {
        AuditAction::ContainRetry
    } else {
        AuditAction::ContainReuse
    };
    insert_audit(&mut **tx, &audit_for(new, &existing.id, action)).await?;
    let incident = if queued {
        Incident {
            state: IncidentState::Containing,
            ..existing
        }
    } else {
        existing
    };
    Ok(Opened {
        incident,
        created: false,
        queued,
    })
}

fn audit_for(new: &NewIncident, id: &IncidentId, action: AuditAction) -> AuditEntry {
    AuditEntry {
        at: new.now,
        actor: new.requested_by.to_stored(),
        action,
        incident_id: Some(id.clone()),
        detail: format!("key {}", new.key),
        origin: new.origin.clone(),
    }
}

async fn enqueue(
    tx: &mut Transaction<'_, Any>,
    id: &IncidentId,
    new: &NewIncident,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO jobs (kind, incident_id, state, created_at, response_url) \
         VALUES ($1, $2, 'queued', $3, $4)",
    )
    .bind(JobKind::Contain.as_str())
    .bind(id.as_str())
    .bind(ms(new.now))
    .bind(&new.response_url)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn is_unique_violation(e: &(dyn std::error::Error + Send + Sync + 'static)) -> bool {
    matches!(e.downcast_ref(), Some(sqlx::Error::Database(d)) if d.is_unique_violation())
}
