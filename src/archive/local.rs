//! A local copy of an archive: every log file under a directory, scanned by one worker per
//! core, each with its own decoder and buffer, so memory follows the per-file cap and the
//! number of cores, not the size of the archive.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use super::layout::Delivered;
use super::scan::{Needles, Scanner};
use super::{ArchiveLimits, ArchiveLog, MAX_OBJECT_BYTES, layout};

/// How deep under the folder given files are looked for. The organization layout is eight
/// levels (`AWSLogs/o-…/<account>/CloudTrail/<region>/<yyyy>/<mm>/<dd>`); a copy may sit a few
/// folders down.
pub const MAX_DEPTH: usize = 16;

/// How far scans have got, for a progress bar: files to read and read, compressed bytes
/// read, calls of the keys found.
#[derive(Debug, Default)]
pub struct ScanProgress {
    pub files: AtomicUsize,
    pub read: AtomicUsize,
    pub bytes: AtomicU64,
    pub found: AtomicUsize,
}

/// Scans every log file under `dir` that can hold calls of the span `delivered` for calls
/// made by the needles' keys. Only regular files are read: a symlink, a FIFO or a device
/// under the folder is counted and named as unreadable, as is a folder that cannot be listed
/// or lies too deep.
pub fn scan_dir(
    dir: &Path,
    needles: &Needles,
    delivered: &Delivered,
    workers: usize,
    progress: &ScanProgress,
) -> std::io::Result<ArchiveLog> {
    let mut all = ArchiveLog::default();
    let mut files = walk(dir, &mut all)?;
    files.retain(|f| delivered.holds(&f.to_string_lossy()));
    files.sort();
    progress.files.fetch_add(files.len(), Ordering::Relaxed);
    let next = AtomicUsize::new(0);
    // One file per worker at a time: the process-wide budget of the server is not needed,
    // only the per-file cap.
    let max_file = ArchiveLimits::default().max_file_bytes;
    let worker = || {
        let mut scanner = Scanner::default();
        let mut log = ArchiveLog::default();
        while let Some(path) = files.get(next.fetch_add(1, Ordering::Relaxed)) {
            let name = shown(dir, path);
            let before = log.events.len();
            match read(path) {
                Ok(gz) => {
                    progress.bytes.fetch_add(gz.len() as u64, Ordering::Relaxed);
                    log.add(&name, scanner.scan(&gz, needles, max_file, None));
                }
                Err(e) => log.unreadable(&name, e),
            }
            progress.read.fetch_add(1, Ordering::Relaxed);
            progress
                .found
                .fetch_add(log.events.len() - before, Ordering::Relaxed);
        }
        log
    };
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

fn shown(dir: &Path, path: &Path) -> String {
    path.strip_prefix(dir).unwrap_or(path).display().to_string()
}

/// Reads a regular file of at most `MAX_OBJECT_BYTES`. It is opened without following a
/// symlink and without blocking (a FIFO would wait for a writer for ever), then checked on
/// the opened file itself, so nothing swapped in after the walk is read either.
fn read(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    if meta.len() > MAX_OBJECT_BYTES {
        return Err(too_large(meta.len()));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    // The length may have grown since: never read past the cap.
    file.take(MAX_OBJECT_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_OBJECT_BYTES {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

fn too_large(len: u64) -> std::io::Error {
    std::io::Error::other(format!("{len} bytes, larger than any CloudTrail file"))
}

/// The log files under `dir`, found folder by folder (one folder open at a time, however
/// deep or wide the tree). What cannot be listed or read is counted in `log`, not fatal;
/// only `dir` itself must be readable.
fn walk(dir: &Path, log: &mut ArchiveLog) -> std::io::Result<Vec<PathBuf>> {
    let mut files = vec![];
    let mut folders = vec![(dir.to_path_buf(), 0usize)];
    while let Some((folder, depth)) = folders.pop() {
        let entries = match std::fs::read_dir(&folder) {
            Ok(e) => e.collect::<Vec<_>>(),
            Err(e) if depth == 0 => return Err(e),
            Err(e) => {
                log.unreadable(&shown(dir, &folder), e);
                continue;
            }
        };
        for entry in entries {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    log.unreadable(&shown(dir, &folder), e);
                    continue;
                }
            };
            let path = entry.path();
            // The entry's own type: a symlink is a symlink here, never what it points to.
            let kind = match entry.file_type() {
                Ok(k) => k,
                Err(e) => {
                    log.unreadable(&shown(dir, &path), e);
                    continue;
                }
            };
            if kind.is_dir() {
                if depth + 1 > MAX_DEPTH {
                    log.unreadable(
                        &shown(dir, &path),
                        format!("deeper than {MAX_DEPTH} folders"),
                    );
                } else {
                    folders.push((path, depth + 1));
                }
            } else if layout::is_log_file(&path.to_string_lossy()) {
                if kind.is_file() {
                    files.push(path);
                } else {
                    log.unreadable(&shown(dir, &path), "not a regular file");
                }
            }
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn needles() -> Needles {
        Needles::new(["AKIAIOSFODNN7EXAMPLE".to_string()])
    }

    #[test]
    fn symlinks_fifos_and_deep_folders_are_named_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::os::unix::fs::symlink("/dev/zero", root.join("zero.json.gz")).unwrap();
        let fifo = root.join("pipe.json.gz");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let mut deep = root.to_path_buf();
        for n in 0..(MAX_DEPTH + 4) {
            deep.push(format!("d{n}"));
        }
        std::fs::create_dir_all(&deep).unwrap();
        std::fs::write(deep.join("buried.json.gz"), b"not read").unwrap();

        let log = scan_dir(
            root,
            &needles(),
            &Delivered::ANY,
            2,
            &ScanProgress::default(),
        )
        .unwrap();
        assert_eq!(log.skipped, 3, "{:?}", log.reasons);
        let reasons = log.reasons.join("\n");
        assert!(
            reasons.contains("zero.json.gz: not a regular file"),
            "{reasons}"
        );
        assert!(
            reasons.contains("pipe.json.gz: not a regular file"),
            "{reasons}"
        );
        assert!(
            reasons.contains(&format!("deeper than {MAX_DEPTH} folders")),
            "{reasons}"
        );
        assert!(log.events.is_empty());
    }

    #[test]
    fn a_file_swapped_for_a_symlink_or_fifo_after_the_walk_is_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("late.json.gz");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        assert!(read(&link).is_err(), "a symlink is not followed");
        let fifo = dir.path().join("late-pipe.json.gz");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let err = read(&fifo).unwrap_err();
        assert_eq!(err.to_string(), "not a regular file");
    }

    #[test]
    fn eleven_hundred_nested_folders_neither_exhaust_descriptors_nor_fail_the_run() {
        let dir = tempfile::tempdir().unwrap();
        let mut deep = dir.path().to_path_buf();
        for _ in 0..1100 {
            deep.push("x");
        }
        std::fs::create_dir_all(&deep).unwrap();
        let log = scan_dir(
            dir.path(),
            &needles(),
            &Delivered::ANY,
            2,
            &ScanProgress::default(),
        )
        .unwrap();
        assert_eq!(log.skipped, 1, "{:?}", log.reasons);
        assert!(log.reasons[0].contains("deeper than"), "{:?}", log.reasons);
    }
}
