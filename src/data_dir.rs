//! The data directory's own files: the LOCK that keeps a second broker out,
//! the clean-shutdown marker, and meta.properties with the cluster id.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

const LOCK: &str = ".lock";
const CLEAN_SHUTDOWN: &str = ".clean_shutdown";
const META: &str = "meta.properties";

pub struct DataDir {
    path: PathBuf,
    /// Held (flock) for the broker's lifetime; released when dropped.
    _lock: File,
    clean: bool,
    cluster_id: String,
}

/// Creates `path` if needed and takes its LOCK, or fails when a broker holds it.
pub fn lock(path: &Path) -> io::Result<File> {
    fs::create_dir_all(path)?;
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path.join(LOCK))?;
    if lock.try_lock().is_err() {
        return Err(io::Error::new(
            io::ErrorKind::WouldBlock,
            format!("{} is in use by another broker", path.display()),
        ));
    }
    Ok(lock)
}

impl DataDir {
    pub fn open(path: &Path) -> io::Result<DataDir> {
        let lock = lock(path)?;
        // The marker says the last run closed every log; remove it now so that a
        // crash during this run is seen as unclean by the next one.
        let marker = path.join(CLEAN_SHUTDOWN);
        let clean = marker.exists();
        if clean {
            fs::remove_file(&marker)?;
            sync_dir(path)?;
        }
        let cluster_id = load_or_create_cluster_id(path)?;
        Ok(DataDir {
            path: path.to_path_buf(),
            _lock: lock,
            clean,
            cluster_id,
        })
    }

    pub fn was_clean_shutdown(&self) -> bool {
        self.clean
    }

    pub fn cluster_id(&self) -> &str {
        &self.cluster_id
    }

    pub fn mark_clean_shutdown(&self) -> io::Result<()> {
        File::create(self.path.join(CLEAN_SHUTDOWN))?.sync_all()?;
        sync_dir(&self.path)
    }
}

/// A small file of the data dir's (quotas, credentials, ACLs), or None when
/// it does not exist yet.
pub(crate) fn read_optional(path: &Path) -> io::Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Replaces `path` with `body` so a crash leaves the old or the new file,
/// never a mix: a synced temp file (created with permissions `mode`) renamed
/// over it, then the directory synced.
pub(crate) fn write_atomically(path: &Path, body: &[u8], mode: u32) -> io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(body)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    match path.parent() {
        Some(dir) => sync_dir(dir),
        None => Ok(()),
    }
}

fn sync_dir(path: &Path) -> io::Result<()> {
    File::open(path)?.sync_all()
}

/// Kafka keeps `cluster.id` in meta.properties; so does runnel.
fn load_or_create_cluster_id(dir: &Path) -> io::Result<String> {
    let path = dir.join(META);
    if let Ok(text) = fs::read_to_string(&path)
        && let Some(id) = text
            .lines()
            .find_map(|l| l.strip_prefix("cluster.id="))
            .map(str::trim)
            .filter(|id| !id.is_empty())
    {
        return Ok(id.to_string());
    }
    let id = base64_url(uuid::Uuid::new_v4().as_bytes());
    let tmp = dir.join("meta.properties.tmp");
    {
        let mut f = File::create(&tmp)?;
        writeln!(f, "version=1\ncluster.id={id}")?;
        f.sync_all()?;
    }
    fs::rename(&tmp, &path)?;
    sync_dir(dir)?;
    Ok(id)
}

/// Kafka prints cluster ids as unpadded URL-safe base64 of 16 random bytes.
fn base64_url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | (b as u32) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

/// (total, usable) bytes of the file system holding `path`, as Kafka's
/// DescribeLogDirs reports them: all blocks, and the blocks an unprivileged
/// writer may still use.
pub fn disk_space(path: &Path) -> io::Result<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let mut stat = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c_path` is a NUL-terminated string that outlives the call, and
    // `stat` points to writable memory of the struct's size; statvfs writes the
    // whole struct on success, and it is read only then.
    let stat = unsafe {
        if libc::statvfs(c_path.as_ptr(), stat.as_mut_ptr()) != 0 {
            return Err(io::Error::last_os_error());
        }
        stat.assume_init()
    };
    let block = stat.f_frsize as u64;
    Ok((
        (stat.f_blocks as u64).saturating_mul(block),
        (stat.f_bavail as u64).saturating_mul(block),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_marker_and_cluster_id() {
        let dir = tempfile::tempdir().unwrap();
        let first = DataDir::open(dir.path()).unwrap();
        assert!(!first.was_clean_shutdown());
        assert_eq!(first.cluster_id().len(), 22);
        assert!(
            DataDir::open(dir.path()).is_err(),
            "second broker must be refused"
        );
        first.mark_clean_shutdown().unwrap();
        let id = first.cluster_id().to_string();
        drop(first);
        let second = DataDir::open(dir.path()).unwrap();
        assert!(second.was_clean_shutdown());
        assert_eq!(second.cluster_id(), id);
        drop(second);
        assert!(!DataDir::open(dir.path()).unwrap().was_clean_shutdown());
    }
}
