//! Evidence before deletion: before an approved action destroys anything, what AWS says the
//! target is goes to the database (and to `KEYLEAK_EVIDENCE_BUCKET` when set). If it cannot
//! be kept, nothing is destroyed.

use tracing::info;

use super::Engine;
use crate::domain::approval::Proposal;
use crate::domain::evidence::Evidence;

/// Keeps the evidence of a proposal's targets; `Err` says, for people, why it could not be
/// kept. A retried execution keeps what the first attempt read: the targets may since be
/// half taken apart.
pub(super) async fn keep(engine: &Engine, p: &Proposal) -> Result<(), String> {
    if !p.action.destroys() {
        return Ok(());
    }
    let store = &engine.store;
    let unsaved = |e: crate::store::StoreError| format!("the database did not take it ({e})");
    let mut evidence = match store.evidence_of(&p.id).await.map_err(unsaved)? {
        Some(kept) => kept,
        None => {
            let described = engine
                .aws
                .describe_targets(&p.action)
                .await
                .map_err(|e| format!("AWS could not describe the target ({e})"))?;
            let evidence = Evidence::new(
                p.id.clone(),
                engine.clock.now(),
                p.action.clone(),
                described,
            );
            store
                .keep_evidence(&p.incident, &evidence)
                .await
                .map_err(unsaved)?;
            evidence
        }
    };
    if let (Some(at), None) = (&engine.evidence_copy, &evidence.copy) {
        let name = evidence.object_key(&p.incident);
        let key = match at.prefix.as_str() {
            "" => name,
            prefix => format!("{prefix}/{name}"),
        };
        let copy = engine
            .aws
            .copy_evidence(&at.bucket, &key, evidence.document())
            .await
            .map_err(|e| format!("the copy to s3://{}/{key} failed ({e})", at.bucket))?;
        evidence.copy = Some(copy);
        store
            .keep_evidence(&p.incident, &evidence)
            .await
            .map_err(unsaved)?;
    }
    info!(proposal = %p.id, sha256 = %evidence.sha256, "evidence kept");
    Ok(())
}
