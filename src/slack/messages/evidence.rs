//! The report's account of the evidence kept before each deletion, and the file that holds it.

use std::fmt::Write as _;

use super::report::{cell, table_head};
use super::*;
use crate::domain::evidence::Evidence;
use crate::domain::ids::IncidentId;

/// The report's companion file with every evidence document, as stored.
pub fn evidence_file_name(incident: &IncidentId) -> String {
    format!("{incident}-evidence.json")
}

pub(super) fn report(md: &mut String, incident: &IncidentId, kept: &[Evidence]) {
    if kept.is_empty() {
        return;
    }
    let copied = kept.iter().any(|e| e.copy.is_some());
    let _ = writeln!(
        md,
        "\n## Evidence kept before deletion\n\nWhat AWS said each target was, read just before \
         the approved action ran. The documents are in `{}`{}; each SHA-256 is of the document \
         as kept.\n",
        evidence_file_name(incident),
        if copied {
            ", and copied to S3 as listed"
        } else {
            " and in keyleak's database"
        }
    );
    table_head(md, &["proposal", "what", "read at", "SHA-256", "copy"]);
    for e in kept {
        let copy = e.copy.as_ref().map_or_else(
            || "—".to_string(),
            |c| {
                let mut at = format!("`s3://{}/{}`", cell(&c.bucket), cell(&c.key));
                if let Some(v) = &c.version_id {
                    let _ = write!(at, " version `{}`", cell(v));
                }
                if let (Some(mode), Some(until)) = (&c.lock_mode, c.locked_until) {
                    let _ = write!(at, ", {} lock until {}", cell(mode), when(until));
                }
                at
            },
        );
        let _ = writeln!(
            md,
            "| {} | {} | {} | `{}` | {} |",
            e.proposal,
            cell(&super::describe(&e.action)),
            when(e.taken_at),
            e.sha256,
            copy
        );
    }
}
