//! JSON-lines output shared by the stdout/file sinks and the local recorder.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::Value;

/// A JSON-lines destination: standard output, an append-only file, or any writer (tests).
///
/// Clones share one lock, so lines from the sink and from local records never interleave.
#[derive(Clone)]
pub struct JsonLines {
    target: Arc<Target>,
}

enum Target {
    Writer(Mutex<Box<dyn Write + Send>>),
    File { path: PathBuf, lock: Mutex<()> },
}

impl std::fmt::Debug for JsonLines {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "JsonLines({})", self.describe())
    }
}

impl JsonLines {
    /// Lines on standard output.
    pub fn stdout() -> Self {
        Self::writer(Box::new(io::stdout()))
    }

    /// Lines appended to `path` (created if missing, opened per batch so log rotation by rename
    /// works), fsynced after every batch.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        JsonLines {
            target: Arc::new(Target::File {
                path: path.into(),
                lock: Mutex::new(()),
            }),
        }
    }

    /// Lines written to `writer`, flushed after every batch.
    pub fn writer(writer: Box<dyn Write + Send>) -> Self {
        JsonLines {
            target: Arc::new(Target::Writer(Mutex::new(writer))),
        }
    }

    /// `stdout`/`writer` or the file path, for logs and errors.
    pub fn describe(&self) -> String {
        match &*self.target {
            Target::Writer(_) => "stdout".to_owned(),
            Target::File { path, .. } => path.display().to_string(),
        }
    }

    /// Appends one line per value as a single write, then flushes (file: fsync).
    pub async fn append(&self, values: &[Value]) -> io::Result<()> {
        let mut buf = Vec::new();
        for value in values {
            serde_json::to_writer(&mut buf, value)?;
            buf.push(b'\n');
        }
        let target = Arc::clone(&self.target);
        tokio::task::spawn_blocking(move || target.write_batch(&buf))
            .await
            .map_err(|e| io::Error::other(format!("audit writer task failed: {e}")))?
    }
}

impl Target {
    fn write_batch(&self, buf: &[u8]) -> io::Result<()> {
        match self {
            Target::Writer(writer) => {
                let mut writer = writer
                    .lock()
                    .map_err(|_| io::Error::other("audit writer lock poisoned"))?;
                writer.write_all(buf)?;
                writer.flush()
            }
            Target::File { path, lock } => {
                let _guard = lock
                    .lock()
                    .map_err(|_| io::Error::other("audit file lock poisoned"))?;
                append_synced(path, buf)
            }
        }
    }
}

fn append_synced(path: &Path, buf: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new().create(true).append(true).open(path)?;
    file.write_all(buf)?;
    file.sync_data()
}
