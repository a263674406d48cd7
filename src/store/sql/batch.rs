//! Group commit for opening incidents. Every ack waits on this durable write, and writes
//! are one at a time (SQLite's lock, the store's on PostgreSQL), so acks that arrive together are written together: one transaction, one
//! look-up and three multi-row inserts for the whole batch, instead of one transaction of
//! five statements each.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use sqlx::{AnyPool, Transaction};
use tokio::sync::{mpsc, oneshot};

use super::rows::*;
use super::{Dialect, begin_write, insert_audit};
use crate::domain::audit::AuditAction;
use crate::domain::ids::IncidentId;
use crate::domain::incident::{Incident, IncidentState};
use crate::domain::job::Work;
use crate::domain::signal::Signal;
use crate::store::{AuditEntry, JobKind, NewIncident, Opened, Opening, StoreError};

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

fn fresh(new: &NewIncident, follows: Option<&IncidentId>) -> Incident {
    Incident {
        id: new.id.clone(),
        key: new.key.clone(),
        state: match new.opening {
            Opening::Contain => IncidentState::Containing,
            Opening::Triage => IncidentState::Triage,
        },
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
        hold: new.hold.clone(),
        signals: new.signal.iter().cloned().collect(),
        signals_said: 0,
        reach: None,
        reach_ts: None,
        follows: follows.cloned(),
    }
}

/// Opens or reuses an incident for each request, in order, in one transaction. A signal's
/// delivery seen before (or earlier in the batch) changes nothing.
async fn open_batch(
    write: &AnyPool,
    dialect: Dialect,
    batch: &[NewIncident],
) -> Result<Vec<Opened>, StoreError> {
    let mut tx = begin_write(write, dialect).await?;
    let mut open = find_open_many(&mut tx, batch).await?;
    let mut delivered = find_delivered(&mut tx, batch).await?;
    let mut in_batch = std::collections::HashSet::new();
    let duplicate: Vec<bool> = batch
        .iter()
        .map(|new| {
            new.signal.as_ref().is_some_and(|s| {
                let k = s.delivery_key();
                delivered.contains_key(&k) || !in_batch.insert(k)
            })
        })
        .collect();
    // First pass: which requests open a new incident (the first of each new key).
    let follows = find_last_closed(&mut tx, batch).await?;
    let mut created = vec![];
    for (new, dup) in batch.iter().zip(&duplicate) {
        if !dup && !open.contains_key(new.key.as_str()) {
            let incident = fresh(new, follows.get(new.key.as_str()));
            open.insert(new.key.as_str().to_string(), incident);
            created.push(new);
        }
    }
    insert_created(&mut tx, &created, &follows).await?;
    // Second pass, in request order: the rest reuse what is open.
    let mut out = Vec::with_capacity(batch.len());
    let mut signalled = vec![];
    for (new, dup) in batch.iter().zip(duplicate) {
        if dup {
            out.push(repeated(&mut tx, &open, &delivered, new).await?);
            continue;
        }
        let existing = open
            .get(new.key.as_str())
            .cloned()
            .ok_or_else(|| StoreError::Corrupt("batch lost an open incident".into()))?;
        if let Some(s) = &new.signal {
            delivered.insert(s.delivery_key(), existing.id.clone());
            signalled.push((s.delivery_key(), existing.id.clone(), new.now));
        }
        if created.iter().any(|c| std::ptr::eq(*c, new)) {
            out.push(Opened {
                incident: existing,
                created: true,
                queued: true,
                duplicate: false,
                from_triage: false,
            });
        } else {
            let reused = reuse(&mut tx, existing, new).await?;
            open.insert(new.key.as_str().to_string(), reused.incident.clone());
            out.push(reused);
        }
    }
    insert_deliveries(&mut tx, &signalled).await?;
    tx.commit().await?;
    Ok(out)
}

/// The answer to a delivery recorded before: the incident it went to, unchanged.
async fn repeated(
    tx: &mut Transaction<'_, Any>,
    open: &HashMap<String, Incident>,
    delivered: &HashMap<String, IncidentId>,
    new: &NewIncident,
) -> Result<Opened, StoreError> {
    let id = new
        .signal
        .as_ref()
        .and_then(|s| delivered.get(&s.delivery_key()))
        .ok_or_else(|| StoreError::Corrupt("a duplicate without its delivery".into()))?;
    let incident = match open.values().find(|i| &i.id == id) {
        Some(i) => i.clone(),
        None => {
            let sql = format!("SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id = $1");
            let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(id.as_str().to_string())
                .fetch_one(&mut **tx)
                .await?;
            incident_from_row(&row)?
        }
    };
    Ok(Opened {
        incident,
        created: false,
        queued: false,
        duplicate: true,
        from_triage: false,
    })
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

/// The batch's signal deliveries already recorded, and the incident each went to.
async fn find_delivered(
    tx: &mut Transaction<'_, Any>,
    batch: &[NewIncident],
) -> Result<HashMap<String, IncidentId>, StoreError> {
    let keys: Vec<String> = batch
        .iter()
        .filter_map(|n| n.signal.as_ref().map(Signal::delivery_key))
        .collect();
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let sql = format!(
        "SELECT delivery, incident_id FROM deliveries WHERE delivery IN ({})",
        placeholders(0, keys.len())
    );
    let mut q = sqlx::query_as::<_, (String, String)>(sqlx::AssertSqlSafe(sql));
    for k in keys {
        q = q.bind(k);
    }
    ids_by(q.fetch_all(&mut **tx).await?)
}

/// `(name, incident id)` rows as a map; a later row for a name replaces an earlier one.
fn ids_by(rows: Vec<(String, String)>) -> Result<HashMap<String, IncidentId>, StoreError> {
    rows.into_iter()
        .map(|(name, i)| {
            let id = IncidentId::parse(&i).map_err(|_| corrupt("incident id", &i))?;
            Ok((name, id))
        })
        .collect()
}

/// Each key's most recent closed incident, which a new one links to.
async fn find_last_closed(
    tx: &mut Transaction<'_, Any>,
    batch: &[NewIncident],
) -> Result<HashMap<String, IncidentId>, StoreError> {
    let sql = format!(
        "SELECT access_key_id, id FROM incidents WHERE state = 'closed' AND access_key_id IN ({}) \
         ORDER BY opened_at",
        placeholders(0, batch.len())
    );
    let mut q = sqlx::query_as::<_, (String, String)>(sqlx::AssertSqlSafe(sql));
    for new in batch {
        q = q.bind(new.key.as_str().to_string());
    }
    // Ordered oldest first: the last one kept for a key is its newest.
    ids_by(q.fetch_all(&mut **tx).await?)
}

async fn insert_deliveries(
    tx: &mut Transaction<'_, Any>,
    rows: &[(String, IncidentId, DateTime<Utc>)],
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "INSERT INTO deliveries (delivery, incident_id, received_at) VALUES {}",
        value_rows(rows.len(), 3)
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for (d, id, at) in rows {
        q = q
            .bind(d.clone())
            .bind(id.as_str().to_string())
            .bind(ms(*at));
    }
    q.execute(&mut **tx).await?;
    Ok(())
}

/// The new incidents, their first jobs (containment, or the triage run of its read-only
/// steps) and their audit rows: three statements.
async fn insert_created(
    tx: &mut Transaction<'_, Any>,
    created: &[&NewIncident],
    follows: &HashMap<String, IncidentId>,
) -> Result<(), StoreError> {
    if created.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "INSERT INTO incidents (id, access_key_id, state, reason, requested_by, opened_at, \
         fence_time, hold, signals, follows) VALUES {}",
        value_rows(created.len(), 10)
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for n in created {
        let i = fresh(n, follows.get(n.key.as_str()));
        q = q
            .bind(n.id.as_str().to_string())
            .bind(n.key.as_str().to_string())
            .bind(i.state.as_str())
            .bind(n.reason.clone())
            .bind(n.requested_by.to_stored())
            .bind(ms(n.now))
            .bind(ms(n.now))
            .bind(i.hold.as_ref().map(to_json).transpose()?)
            .bind(to_json(&i.signals)?)
            .bind(i.follows.map(|f| f.as_str().to_string()));
    }
    q.execute(&mut **tx).await?;
    let sql = format!(
        "INSERT INTO jobs (kind, incident_id, state, created_at, response_url, payload) VALUES {}",
        value_rows(created.len(), 6)
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for n in created {
        let (kind, payload) = work_columns(&Work::Contain {
            investigate_days: n.investigate_days,
        })?;
        q = q
            .bind(kind)
            .bind(n.id.as_str().to_string())
            .bind("queued")
            .bind(ms(n.now))
            .bind(n.response_url.clone())
            .bind(payload);
    }
    q.execute(&mut **tx).await?;
    let sql = format!(
        "INSERT INTO audit (at, actor, action, incident_id, detail, origin) VALUES {}",
        value_rows(created.len(), 6)
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for n in created {
        let action = match n.opening {
            Opening::Contain => AuditAction::ContainOpen,
            Opening::Triage => AuditAction::TriageOpen,
        };
        let a = audit_for(n, &n.id, action);
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

/// Reuses the open incident: a failed one is retried when nothing is pending, one in triage
/// starts containing when asked to, and a signal is added to its evidence.
async fn reuse(
    tx: &mut Transaction<'_, Any>,
    existing: Incident,
    new: &NewIncident,
) -> Result<Opened, StoreError> {
    let mut incident = existing;
    let from_triage = incident.state == IncidentState::Triage && new.opening == Opening::Contain;
    let mut queued = false;
    let action = match (incident.state, new.opening) {
        (IncidentState::Failed, Opening::Contain) => {
            if pending_contain(tx, &incident.id, "('queued', 'running')").await? == 0 {
                enqueue(tx, &incident.id, new).await?;
                incident.state = IncidentState::Containing;
                queued = true;
                AuditAction::ContainRetry
            } else {
                AuditAction::ContainReuse
            }
        }
        (IncidentState::Triage, Opening::Contain) => {
            // A queued job will find the incident containing. A triage run under way may
            // finish beside this one: it only reads, and stops before any change.
            if pending_contain(tx, &incident.id, "('queued')").await? == 0 {
                enqueue(tx, &incident.id, new).await?;
            }
            incident.state = IncidentState::Containing;
            // Sessions minted while the key was in triage are the attacker's too.
            incident.fence_time = new.now;
            if new.hold.is_some() {
                incident.hold = new.hold.clone();
            }
            queued = true;
            AuditAction::ContainStart
        }
        (IncidentState::Triage, Opening::Triage) if new.hold.is_some() => {
            incident.hold = new.hold.clone();
            AuditAction::SignalJoined
        }
        _ if new.signal.is_some() => AuditAction::SignalJoined,
        _ => AuditAction::ContainReuse,
    };
    if let Some(s) = &new.signal {
        incident.signals.push(s.clone());
    }
    sqlx::query(
        "UPDATE incidents SET state = $1, fence_time = $2, hold = $3, signals = $4 WHERE id = $5",
    )
    .bind(incident.state.as_str())
    .bind(ms(incident.fence_time))
    .bind(incident.hold.as_ref().map(to_json).transpose()?)
    .bind(to_json(&incident.signals)?)
    .bind(incident.id.as_str().to_string())
    .execute(&mut **tx)
    .await?;
    insert_audit(&mut **tx, &audit_for(new, &incident.id, action)).await?;
    Ok(Opened {
        incident,
        created: false,
        queued,
        duplicate: false,
        from_triage,
    })
}

async fn pending_contain(
    tx: &mut Transaction<'_, Any>,
    id: &IncidentId,
    states: &'static str,
) -> Result<i64, StoreError> {
    let sql = format!(
        "SELECT COUNT(*) FROM jobs WHERE incident_id = $1 AND kind = 'contain' AND state IN {states}"
    );
    Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(id.as_str().to_string())
        .fetch_one(&mut **tx)
        .await?)
}

fn audit_for(new: &NewIncident, id: &IncidentId, action: AuditAction) -> AuditEntry {
    let detail = match &new.signal {
        Some(s) => format!("key {} signal {} {}", new.key, s.source.as_str(), s.kind),
        None => format!("key {}", new.key),
    };
    AuditEntry {
        at: new.now,
        actor: new.requested_by.to_stored(),
        action,
        incident_id: Some(id.clone()),
        detail,
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
