//! `keyleak investigate KEY --archive DIR`: forensics over a local copy of a CloudTrail
//! archive, with no AWS and no Slack, printed for a terminal (or as JSON) with a progress bar
//! while it reads.

use std::sync::Arc;

use anyhow::{Context, bail};

use super::replace_file;
use crate::archive::ScanProgress;
use crate::domain::ids::AccessKeyId;
use crate::domain::trail::timeline;
use crate::slack::messages;

pub(super) async fn investigate_archive(
    raw_key: &str,
    dir: &std::path::Path,
    days: u32,
    out: &std::path::Path,
    as_json: bool,
) -> anyhow::Result<()> {
    let key = match AccessKeyId::parse(raw_key) {
        Ok(k) => k,
        Err(e) => bail!("not an access key id: {e}"),
    };
    if !dir.is_dir() {
        bail!("{} is not a folder", dir.display());
    }
    // Before the scan, which can take minutes: a folder that cannot be made fails now.
    std::fs::create_dir_all(out).with_context(|| format!("making {}", out.display()))?;
    let until = chrono::Utc::now();
    let since = until - chrono::Duration::days(i64::from(days));
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let progress = Arc::new(ScanProgress::default());
    let bar = tokio::spawn(draw_progress(progress.clone()));
    let (findings, events) =
        crate::engine::investigate_copy(dir, &key, since, until, workers, progress).await;
    // Cleared before anything else is printed: awaiting the stopped task waits for that.
    bar.abort();
    let _ = bar.await;
    // Nothing read is no finding: "0 calls" would read as "the key did nothing".
    if findings.archive.as_ref().is_none_or(|a| a.files == 0) {
        bail!(
            "{} holds no CloudTrail log file (`*.json.gz`, as CloudTrail writes them under \
             AWSLogs/<account>/CloudTrail/<region>/…) for the last {days} days",
            dir.display()
        );
    }
    let about = format!("archive {}", dir.display());
    let files = if events.is_empty() {
        None
    } else {
        let name = out.join(format!("{key}-timeline"));
        let (csv, json) = (name.with_extension("csv"), name.with_extension("json"));
        replace_file(&csv, &timeline::to_csv(&events)?)
            .with_context(|| format!("writing {}", csv.display()))?;
        replace_file(&json, &timeline::to_json(&about, key.as_str(), &events)?)
            .with_context(|| format!("writing {}", json.display()))?;
        Some((csv, json))
    };
    if as_json {
        let timeline = files.as_ref().map(|(csv, json)| {
            serde_json::json!({"csv": csv.display().to_string(), "json": json.display().to_string()})
        });
        let answer = serde_json::json!({ "findings": findings, "timeline": timeline });
        println!("{}", serde_json::to_string_pretty(&answer)?);
        return Ok(());
    }
    println!(
        "{}",
        messages::investigation_summary(&about, &findings).terminal_text()
    );
    if let Some((csv, json)) = files {
        println!("Timeline: {} and {}", csv.display(), json.display());
    }
    Ok(())
}

/// A progress bar on standard error while a long scan runs: files read of those to read,
/// megabytes and calls found. Drawn only when standard error is a terminal; cleared when the
/// task is stopped.
async fn draw_progress(progress: Arc<ScanProgress>) {
    use std::sync::atomic::Ordering::Relaxed;
    let style = indicatif::ProgressStyle::with_template(
        "{spinner} {bar:30} {pos}/{len} files · {msg} · {elapsed}",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    let bar = indicatif::ProgressBar::new(0).with_style(style);
    let _clear = ClearOnDrop(bar.clone());
    loop {
        bar.set_length(progress.files.load(Relaxed) as u64);
        bar.set_position(progress.read.load(Relaxed) as u64);
        bar.set_message(format!(
            "{:.1} MB · {} calls found",
            progress.bytes.load(Relaxed) as f64 / 1e6,
            progress.found.load(Relaxed)
        ));
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// Clears the bar when its task is stopped, so the summary starts on a clean line.
struct ClearOnDrop(indicatif::ProgressBar);

impl Drop for ClearOnDrop {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}
