//! Bearer token from a file that Kubernetes rotates (projected service-account token).

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::SystemTime;

/// Identity of one version of the file: a rotation (atomic symlink swap or rename) changes the
/// inode, an in-place rewrite changes size or mtime.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    inode: u64,
    len: u64,
    modified: Option<SystemTime>,
}

/// Reads the token, and reads it again only when the file changed or the server refused it.
#[derive(Debug)]
pub(crate) struct TokenSource {
    path: PathBuf,
    cached: Mutex<Option<(Stamp, String)>>,
}

impl TokenSource {
    pub(crate) fn new(path: PathBuf) -> Self {
        TokenSource {
            path,
            cached: Mutex::new(None),
        }
    }

    /// The current token.
    pub(crate) fn current(&self) -> io::Result<String> {
        let meta = fs::metadata(&self.path).map_err(|e| self.context(e))?;
        let stamp = Stamp {
            inode: meta.ino(),
            len: meta.len(),
            modified: meta.modified().ok(),
        };
        let mut cached = self
            .cached
            .lock()
            .map_err(|_| io::Error::other("token cache lock poisoned"))?;
        if let Some((seen, token)) = cached.as_ref()
            && *seen == stamp
        {
            return Ok(token.clone());
        }
        let token = fs::read_to_string(&self.path)
            .map_err(|e| self.context(e))?
            .trim()
            .to_owned();
        if token.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("token file {} is empty", self.path.display()),
            ));
        }
        *cached = Some((stamp, token.clone()));
        Ok(token)
    }

    /// Forgets the cached token (after a 401) so the next request reads the file again.
    pub(crate) fn invalidate(&self) {
        if let Ok(mut cached) = self.cached.lock() {
            *cached = None;
        }
    }

    fn context(&self, e: io::Error) -> io::Error {
        io::Error::new(e.kind(), format!("token file {}: {e}", self.path.display()))
    }
}
