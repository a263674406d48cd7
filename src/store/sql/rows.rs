//! Row mapping between the database and domain types. Times are Unix milliseconds.

use chrono::{DateTime, Utc};
pub(super) use sqlx::Any;
use sqlx::Row;
pub(super) use sqlx::any::AnyRow;

use crate::domain::audit::AuditAction;
use crate::domain::ids::{AccessKeyId, AccountId, IncidentId};
use crate::domain::incident::{
    Actor, Incident, IncidentState, StepFact, StepKind, StepRecord, StepStatus,
};
use crate::store::{AuditEntry, StoreError, Work};

pub(super) fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(super) fn from_ms(v: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_millis(v).ok_or_else(|| StoreError::Corrupt(format!("time {v}")))
}

/// `$from+1, $from+2, …` for `n` values: numbered placeholders, which SQLite and PostgreSQL
/// both read.
pub(super) fn placeholders(from: usize, n: usize) -> String {
    (from + 1..=from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `($1, …, $cols), ($cols+1, …), …` for a multi-row `VALUES`.
pub(super) fn value_rows(rows: usize, cols: usize) -> String {
    (0..rows)
        .map(|r| format!("({})", placeholders(r * cols, cols)))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("{what} `{value}`"))
}

pub(super) fn to_json<T: serde::Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(StoreError::corrupt)
}

/// A job's work as the queue keeps it: the kind in a column of its own (what scheduling
/// reads), the rest as a JSON object.
pub(super) fn work_columns(work: &Work) -> Result<(&'static str, String), StoreError> {
    let mut v = serde_json::to_value(work).map_err(StoreError::corrupt)?;
    if let Some(fields) = v.as_object_mut() {
        fields.remove("kind");
    }
    Ok((work.kind().as_str(), v.to_string()))
}

pub(super) fn work_from(kind: &str, payload: Option<&str>) -> Result<Work, StoreError> {
    let mut fields = match payload {
        Some(p) => serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(p)
            .map_err(|e| corrupt("job payload", &e.to_string()))?,
        None => serde_json::Map::new(),
    };
    fields.insert("kind".into(), kind.into());
    serde_json::from_value(fields.into()).map_err(|e| corrupt("job", &e.to_string()))
}

pub(super) const INCIDENT_COLUMNS: &str = "id, access_key_id, state, reason, requested_by, opened_at, \
    fence_time, contained_at, account_id, user_name, slack_channel, slack_ts, late_activity, \
    hold, signals, signals_said, follows, reach, reach_ts";

pub(super) fn incident_from_row(row: &AnyRow) -> Result<Incident, StoreError> {
    let id: String = row.try_get("id")?;
    let key: String = row.try_get("access_key_id")?;
    let state: String = row.try_get("state")?;
    let by: String = row.try_get("requested_by")?;
    let account: Option<String> = row.try_get("account_id")?;
    let contained_at: Option<i64> = row.try_get("contained_at")?;
    let late_activity: Option<i64> = row.try_get("late_activity")?;
    Ok(Incident {
        id: IncidentId::parse(&id).map_err(|_| corrupt("incident id", &id))?,
        key: AccessKeyId::parse(&key).map_err(|_| corrupt("key id", &key))?,
        state: IncidentState::parse(&state).ok_or_else(|| corrupt("state", &state))?,
        reason: row.try_get("reason")?,
        requested_by: Actor::from_stored(&by).ok_or_else(|| corrupt("actor", &by))?,
        opened_at: from_ms(row.try_get("opened_at")?)?,
        fence_time: from_ms(row.try_get("fence_time")?)?,
        contained_at: contained_at.map(from_ms).transpose()?,
        account: account
            .map(|a| AccountId::parse(&a).map_err(|_| corrupt("account", &a)))
            .transpose()?,
        user_name: row.try_get("user_name")?,
        slack_channel: row.try_get("slack_channel")?,
        slack_ts: row.try_get("slack_ts")?,
        late_activity: late_activity.map(from_ms).transpose()?,
        hold: json_column(row, "hold")?,
        signals: json_column(row, "signals")?.unwrap_or_default(),
        signals_said: {
            let n: i64 = row.try_get("signals_said")?;
            usize::try_from(n).map_err(|_| corrupt("signals said", &n.to_string()))?
        },
        follows: {
            let f: Option<String> = row.try_get("follows")?;
            f.map(|f| IncidentId::parse(&f).map_err(|_| corrupt("incident id", &f)))
                .transpose()?
        },
        reach: json_column(row, "reach")?,
        reach_ts: row.try_get("reach_ts")?,
    })
}

/// A nullable column holding JSON.
fn json_column<T: serde::de::DeserializeOwned>(
    row: &AnyRow,
    column: &str,
) -> Result<Option<T>, StoreError> {
    let text: Option<String> = row.try_get(column)?;
    text.map(|t| serde_json::from_str(&t).map_err(|e| corrupt(column, &e.to_string())))
        .transpose()
}

pub(super) fn step_from_row(row: &AnyRow) -> Result<StepRecord, StoreError> {
    let kind: String = row.try_get("kind")?;
    let status: String = row.try_get("status")?;
    let fact: String = row.try_get("fact")?;
    Ok(StepRecord {
        kind: StepKind::parse(&kind).ok_or_else(|| corrupt("step", &kind))?,
        status: StepStatus::parse(&status).ok_or_else(|| corrupt("step status", &status))?,
        fact: serde_json::from_str::<StepFact>(&fact)
            .map_err(|e| corrupt("fact", &e.to_string()))?,
        request_id: row.try_get("request_id")?,
        finished_at: from_ms(row.try_get("finished_at")?)?,
        reply_ts: row.try_get("reply_ts")?,
    })
}

pub(super) fn audit_from_row(row: &AnyRow) -> Result<AuditEntry, StoreError> {
    let incident: Option<String> = row.try_get("incident_id")?;
    Ok(AuditEntry {
        at: from_ms(row.try_get("at")?)?,
        actor: row.try_get("actor")?,
        action: AuditAction::from_name(&row.try_get::<String, _>("action")?),
        incident_id: incident.and_then(|i| IncidentId::parse(&i).ok()),
        detail: row.try_get("detail")?,
        origin: row.try_get("origin")?,
    })
}
