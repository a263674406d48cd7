//! A local copy of an archive: every log file under a directory, scanned by one worker per
//! core, each with its own decoder and buffer, so memory follows the largest file and the
//! number of cores, not the size of the archive.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::scan::{Needles, Scanner};
use super::{ArchiveLog, MAX_OBJECT_BYTES, layout};

/// Scans every log file under `dir` for calls made by the needles' keys.
pub fn scan_dir(dir: &Path, needles: &Needles, workers: usize) -> std::io::Result<ArchiveLog> {
    let mut files = vec![];
    walk(dir, &mut files)?;
    files.sort();
    let next = AtomicUsize::new(0);
    let worker = || {
        let mut scanner = Scanner::default();
        let mut log = ArchiveLog::default();
        while let Some(path) = files.get(next.fetch_add(1, Ordering::Relaxed)) {
            let name = path.strip_prefix(dir).unwrap_or(path).display().to_string();
            match read(path) {
                Ok(gz) => log.add(&name, scanner.scan(&gz, needles)),
                Err(e) => log.unreadable(&name, e),
            }
        }
        log
    };
    let mut all = ArchiveLog::default();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers.max(1)).map(|_| s.spawn(worker)).collect();
        for h in handles {
            match h.join() {
                Ok(log) => all.merge(log),
                Err(_) => all.skip("a scanning worker stopped unexpectedly".into()),
            }
        }
    });
    all.settle();
    Ok(all)
}

fn read(path: &Path) -> std::io::Result<Vec<u8>> {
    let len = std::fs::metadata(path)?.len();
    if len > MAX_OBJECT_BYTES {
        return Err(std::io::Error::other(format!(
            "{len} bytes, larger than any CloudTrail file"
        )));
    }
    std::fs::read(path)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            walk(&path, out)?;
        } else if layout::is_log_file(&path.to_string_lossy()) {
            out.push(path);
        }
    }
    Ok(())
}
