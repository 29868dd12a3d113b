//! [`MappedFile`]: a file mapped once and read through the mapping; appended to with
//! `pwritev` (large appends) or through the mapping (small ones). The only module of
//! the storage layer with `unsafe`.
//!
//! # Invariants
//!
//! - The mapping has a fixed virtual `capacity`, usually larger than the file. Only the
//!   first `reserved` bytes are backed by the file: `reserved` is the file's size, grown
//!   with `fallocate` (which allocates blocks, so a full disk is an `io::Error` here and
//!   never a SIGBUS on a later store). Nothing touches mapped bytes at or past
//!   `reserved`.
//! - `len` (published) <= `reserved` <= `capacity`. Readers read only below `len`.
//! - Bytes below `len` are never modified while `&self` exists: appends write at `len`
//!   and publish the new `len` (Release) only once the bytes (and the caller's patches)
//!   are in place; readers load `len` with Acquire.
//! - Shrinking the file below `len` ([`MappedFile::truncate_to`]) or remapping
//!   ([`MappedFile::set_capacity`]) needs `&mut self`, so no slice or [`Bytes`] view of
//!   the mapping (which borrows `self` or owns an `Arc` of it) can be alive.
//! - [`MappedFile::trim`] shrinks the file to `len`; the mapping stays, and since nothing
//!   reads past `len` nothing touches the now unbacked pages. A later append reserves
//!   again first.
//! - One writer at a time: the reservation state sits behind a mutex held for a whole
//!   append (callers hold the partition lock anyway, so it is never contended).
//!   [`MappedFile::sync`] takes no lock: it only calls `fdatasync`.
//! - Another process truncating the file under us would break all of this; the data
//!   directory's LOCK file keeps other brokers out.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use memmap2::{MmapOptions, MmapRaw};

/// Appends of at least this many bytes are written with `pwritev`, smaller ones
/// (index entries) are copied through the mapping.
const WRITE_THROUGH_FILE: usize = 4096;

/// Most iovecs passed to one `pwritev` (Linux's IOV_MAX is 1024).
const MAX_IOVECS: usize = 512;

/// The largest step by which the reservation grows.
const MAX_STEP: usize = 64 << 20;

/// A file mapped with a fixed capacity, read through the mapping.
pub struct MappedFile {
    path: PathBuf,
    file: File,
    map: MmapRaw,
    /// Bytes written and visible to readers.
    len: AtomicUsize,
    writer: Mutex<Reservation>,
}

struct Reservation {
    /// The file's size: bytes of the mapping backed by allocated blocks.
    reserved: usize,
    /// The next growth step (doubles up to [`MAX_STEP`]).
    step: usize,
}

impl std::fmt::Debug for MappedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MappedFile")
            .field("path", &self.path)
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .finish()
    }
}

fn with_path(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

impl MappedFile {
    /// Creates (or empties) the file at `path` and reserves its first `first_step` bytes.
    pub fn create(path: &Path, capacity: usize, first_step: usize) -> io::Result<MappedFile> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .map_err(|e| with_path(path, e))?;
        let mapped = Self::map(path, file, capacity, 0, first_step)?;
        {
            let mut w = mapped.writer();
            let first = first_step.min(capacity);
            mapped.reserve(&mut w, first)?;
        }
        Ok(mapped)
    }

    /// Opens an existing file; everything in it counts as written (`len` = file size).
    /// The capacity is at least the file size.
    pub fn open(path: &Path, capacity: usize, first_step: usize) -> io::Result<MappedFile> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| with_path(path, e))?;
        let size = file.metadata().map_err(|e| with_path(path, e))?.len();
        let size = usize::try_from(size)
            .map_err(|_| io::Error::new(io::ErrorKind::FileTooLarge, "file too large"))?;
        Self::map(path, file, capacity.max(size), size, first_step)
    }

    fn map(
        path: &Path,
        file: File,
        capacity: usize,
        size: usize,
        first_step: usize,
    ) -> io::Result<MappedFile> {
        let map = MmapOptions::new()
            .len(capacity)
            .map_raw(&file)
            .map_err(|e| with_path(path, e))?;
        Ok(MappedFile {
            path: path.to_path_buf(),
            file,
            map,
            len: AtomicUsize::new(size),
            writer: Mutex::new(Reservation {
                reserved: size,
                step: first_step.max(4096),
            }),
        })
    }

    fn writer(&self) -> MutexGuard<'_, Reservation> {
        // The guarded state is two integers updated after each system call succeeds,
        // so a poisoned lock still holds consistent values.
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes written (published to readers).
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Size of the mapping: the most this file can hold.
    pub fn capacity(&self) -> usize {
        self.map.len()
    }

    /// Bytes that can still be appended.
    pub fn remaining(&self) -> usize {
        self.capacity() - self.len()
    }

    /// Makes sure the file is backed up to `end` (clamped to the capacity), growing the
    /// reservation by the current step.
    fn reserve(&self, w: &mut Reservation, end: usize) -> io::Result<()> {
        let end = end.min(self.capacity());
        if end <= w.reserved {
            return Ok(());
        }
        let target = end
            .max(w.reserved.saturating_add(w.step))
            .min(self.capacity());
        allocate(&self.file, w.reserved, target - w.reserved)
            .map_err(|e| with_path(&self.path, e))?;
        w.reserved = target;
        w.step = (w.step.saturating_mul(2)).min(MAX_STEP);
        Ok(())
    }

    /// Reserves disk space for `additional` more bytes past the written length, so a
    /// later append of that much cannot fail for lack of space.
    pub fn reserve_additional(&self, additional: usize) -> io::Result<()> {
        let mut w = self.writer();
        self.reserve(&mut w, self.len().saturating_add(additional))
    }

    /// Appends `data` and returns the position it was written at.
    pub fn append(&self, data: &[u8]) -> io::Result<usize> {
        self.append_patched(data, &[])
    }

    /// Appends `data` with each `(offset, bytes)` of `patches` (offsets into `data`,
    /// ascending, not overlapping) written in place of the bytes there, then publishes
    /// it all. Returns the position it was written at. On error nothing is published.
    ///
    /// Large appends go through `pwritev` into the page cache rather than through the
    /// mapping: a store to a not-yet-mapped page of a fallocated file faults and has the
    /// kernel zero-fill the page first, which cost more than the copy itself. Readers
    /// still read through the mapping; Linux keeps both views of the page cache coherent.
    pub fn append_patched(&self, data: &[u8], patches: &[(usize, [u8; 8])]) -> io::Result<usize> {
        let mut w = self.writer();
        let pos = self.len();
        let end = pos
            .checked_add(data.len())
            .filter(|&end| end <= self.capacity())
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::FileTooLarge,
                    format!(
                        "{}: append of {} bytes past capacity {} (at {pos})",
                        self.path.display(),
                        data.len(),
                        self.capacity()
                    ),
                )
            })?;
        if patches
            .iter()
            .any(|(at, _)| at.checked_add(8).is_none_or(|e| e > data.len()))
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "patch outside the data",
            ));
        }
        self.reserve(&mut w, end)?;
        if data.len() >= WRITE_THROUGH_FILE {
            write_patched_at(&self.file, data, patches, pos)
                .map_err(|e| with_path(&self.path, e))?;
        } else {
            // SAFETY: `pos..end` lies below `reserved` (just ensured), so it is inside
            // the mapping and backed by allocated file blocks. It is at or past `len`, so
            // no reader looks at it and no slice or view covers it; the writer lock (held
            // until the end of this function) excludes other writers. `data` cannot alias
            // the mapped region we write: it is a shared borrow, while this region is not
            // yet reachable through any shared reference.
            let dst = unsafe {
                std::slice::from_raw_parts_mut(self.map.as_mut_ptr().add(pos), data.len())
            };
            dst.copy_from_slice(data);
            for (at, bytes) in patches {
                dst[*at..*at + 8].copy_from_slice(bytes);
            }
        }
        self.len.store(end, Ordering::Release);
        Ok(pos)
    }

    /// The written bytes `pos..pos + len`, or None when they are not all written.
    pub fn as_slice(&self, pos: usize, len: usize) -> Option<&[u8]> {
        let end = pos.checked_add(len)?;
        if end > self.len() {
            return None;
        }
        // SAFETY: `pos..end` is below the published length, so it is inside the mapping,
        // backed by the file, fully written, and never modified while `&self` lives
        // (module invariants); `truncate_to`/`set_capacity` need `&mut self`.
        Some(unsafe { std::slice::from_raw_parts(self.map.as_ptr().add(pos), len) })
    }

    /// A [`Bytes`] view of the written bytes `pos..pos + len` that keeps the mapping
    /// alive; no copy. None when the range is not all written.
    pub fn slice(self: &Arc<Self>, pos: usize, len: usize) -> Option<Bytes> {
        self.as_slice(pos, len)?;
        Some(Bytes::from_owner(MappedView {
            file: Arc::clone(self),
            pos,
            len,
        }))
    }

    /// Forces written bytes (and the file size) to disk: `fdatasync`. Safe to call
    /// while another thread appends; covers at least what was published before the call.
    pub fn sync(&self) -> io::Result<()> {
        self.file.sync_data().map_err(|e| with_path(&self.path, e))
    }

    /// Shrinks the file to the written length, giving back the reserved space. The
    /// mapping stays; a later append reserves again.
    pub fn trim(&self) -> io::Result<()> {
        let mut w = self.writer();
        let len = self.len();
        if w.reserved != len {
            self.file
                .set_len(len as u64)
                .map_err(|e| with_path(&self.path, e))?;
            w.reserved = len;
        }
        Ok(())
    }

    /// Forgets everything past `len` and shrinks the file to it (recovery of a torn or
    /// zero-filled tail, index truncation). Exclusive access guarantees no reader holds
    /// a view of the bytes removed.
    pub fn truncate_to(&mut self, len: usize) -> io::Result<()> {
        let len = len.min(self.len());
        self.file
            .set_len(len as u64)
            .map_err(|e| with_path(&self.path, e))?;
        let w = self
            .writer
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        w.reserved = len;
        self.len.store(len, Ordering::Release);
        Ok(())
    }

    /// Maps the file anew with another capacity (at least the written length).
    pub fn set_capacity(&mut self, capacity: usize) -> io::Result<()> {
        let capacity = capacity.max(self.len());
        let map = MmapOptions::new()
            .len(capacity)
            .map_raw(&self.file)
            .map_err(|e| with_path(&self.path, e))?;
        self.map = map;
        Ok(())
    }
}

/// The owner behind a [`Bytes`] view: an `Arc` of the mapping and the viewed range.
struct MappedView {
    file: Arc<MappedFile>,
    pos: usize,
    len: usize,
}

impl AsRef<[u8]> for MappedView {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: the range was checked to be below the published length when the view
        // was made (`MappedFile::slice`); the length never shrinks while this `Arc`
        // exists (shrinking needs `&mut MappedFile`), and published bytes are never
        // modified, so the slice stays valid and unchanged for the view's lifetime.
        unsafe { std::slice::from_raw_parts(self.file.map.as_ptr().add(self.pos), self.len) }
    }
}

/// Allocates `len` bytes of `file` from `offset`, extending its size.
#[cfg(target_os = "linux")]
fn allocate(file: &File, offset: usize, len: usize) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let too_big = || io::Error::new(io::ErrorKind::FileTooLarge, "reservation too large");
    let off = libc::off_t::try_from(offset).map_err(|_| too_big())?;
    let n = libc::off_t::try_from(len).map_err(|_| too_big())?;
    loop {
        // SAFETY: plain system call on an open descriptor we own; no memory is passed.
        let rc = unsafe { libc::fallocate(file.as_raw_fd(), 0, off, n) };
        if rc == 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EINTR) => continue,
            // Filesystems without fallocate: write the zeros ourselves.
            Some(libc::EOPNOTSUPP) | Some(libc::ENOSYS) => return write_zeros(file, offset, len),
            _ => return Err(err),
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn allocate(file: &File, offset: usize, len: usize) -> io::Result<()> {
    write_zeros(file, offset, len)
}

fn write_zeros(file: &File, offset: usize, len: usize) -> io::Result<()> {
    let zeros = vec![0u8; len.min(1 << 16)];
    let mut done = 0;
    while done < len {
        let n = (len - done).min(zeros.len());
        file.write_all_at(zeros.get(..n).unwrap_or_default(), (offset + done) as u64)?;
        done += n;
    }
    Ok(())
}

/// Writes `data` at `pos` with `patches` substituted, without copying `data`.
fn write_patched_at(
    file: &File,
    data: &[u8],
    patches: &[(usize, [u8; 8])],
    pos: usize,
) -> io::Result<()> {
    let mut parts: Vec<&[u8]> = Vec::with_capacity(patches.len() * 2 + 1);
    let mut cursor = 0;
    for (at, bytes) in patches {
        parts.push(&data[cursor..*at]);
        parts.push(bytes);
        cursor = at + 8;
    }
    parts.push(&data[cursor..]);
    parts.retain(|p| !p.is_empty());

    let mut offset = pos as u64;
    let mut first = 0; // index of the first part not fully written
    let mut skip = 0; // bytes of parts[first] already written
    while first < parts.len() {
        let iov: Vec<libc::iovec> = parts[first..]
            .iter()
            .take(MAX_IOVECS)
            .enumerate()
            .map(|(i, p)| {
                let p = if i == 0 { &p[skip..] } else { p };
                libc::iovec {
                    iov_base: p.as_ptr() as *mut libc::c_void,
                    iov_len: p.len(),
                }
            })
            .collect();
        // SAFETY: every iovec points into a live shared borrow (`data` or a patch) of
        // exactly `iov_len` bytes, which pwritev only reads; `iov.len()` <= 512.
        let n = unsafe {
            libc::pwritev(
                std::os::fd::AsRawFd::as_raw_fd(file),
                iov.as_ptr(),
                iov.len() as libc::c_int,
                offset as libc::off_t,
            )
        };
        if n < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err);
        }
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        let mut n = n as usize;
        offset += n as u64;
        while n > 0 && first < parts.len() {
            let left = parts[first].len() - skip;
            if n >= left {
                n -= left;
                first += 1;
                skip = 0;
            } else {
                skip += n;
                n = 0;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_size(f: &MappedFile) -> u64 {
        std::fs::metadata(f.path()).unwrap().len()
    }

    #[test]
    fn append_reserves_ahead_and_trim_gives_it_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        let f = MappedFile::create(&path, 1 << 20, 4096).unwrap();
        assert_eq!(file_size(&f), 4096);
        assert_eq!(f.append(b"hello").unwrap(), 0);
        assert_eq!(f.append(b" world").unwrap(), 5);
        assert_eq!(f.len(), 11);
        assert_eq!(f.as_slice(0, 11).unwrap(), b"hello world");
        assert!(f.as_slice(5, 7).is_none(), "past the written length");
        // Growing past the first step doubles it.
        f.append(&vec![7u8; 5000]).unwrap();
        assert_eq!(file_size(&f), 4096 + 4096 * 2);
        f.trim().unwrap();
        assert_eq!(file_size(&f), 5011);
        // Appending after a trim reserves again.
        f.append(b"!").unwrap();
        assert!(file_size(&f) > 5012);
        assert_eq!(f.as_slice(5011, 1).unwrap(), b"!");
    }

    #[test]
    fn capacity_is_a_hard_limit() {
        let dir = tempfile::tempdir().unwrap();
        let f = MappedFile::create(&dir.path().join("a"), 10, 4096).unwrap();
        assert_eq!(file_size(&f), 10);
        f.append(b"0123456789").unwrap();
        let err = f.append(b"x").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::FileTooLarge);
        assert_eq!(f.len(), 10);
    }

    #[test]
    fn patch_rewrites_before_publishing_and_views_outlive_the_handle() {
        let dir = tempfile::tempdir().unwrap();
        let f = Arc::new(MappedFile::create(&dir.path().join("a"), 1 << 16, 4096).unwrap());
        f.append_patched(b"abcdefghij", &[(1, *b"12345678")])
            .unwrap();
        let view = f.slice(1, 4).unwrap();
        assert!(f.slice(8, 3).is_none());
        drop(f);
        assert_eq!(&view[..], b"1234");
    }

    #[test]
    fn large_appends_go_through_the_file_with_their_patches() {
        let dir = tempfile::tempdir().unwrap();
        let f = MappedFile::create(&dir.path().join("a"), 1 << 20, 4096).unwrap();
        f.append(b"head").unwrap();
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let patches = [(0, [1u8; 8]), (5000, [2u8; 8]), (99_992, [3u8; 8])];
        assert_eq!(f.append_patched(&data, &patches).unwrap(), 4);
        let mut expected = data.clone();
        for (at, bytes) in patches {
            expected[at..at + 8].copy_from_slice(&bytes);
        }
        assert_eq!(f.as_slice(4, data.len()).unwrap(), &expected[..]);
        assert!(
            f.append_patched(&data, &[(99_995, [0; 8])]).is_err(),
            "patch past the end"
        );
        assert_eq!(f.len(), 4 + data.len());
    }

    #[test]
    fn reopen_counts_the_file_as_written_and_truncate_shrinks_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a");
        {
            let f = MappedFile::create(&path, 1 << 16, 4096).unwrap();
            f.append(b"0123456789").unwrap();
            f.sync().unwrap();
            // No trim: a crash leaves the zero-filled reservation behind.
        }
        let mut f = MappedFile::open(&path, 1 << 16, 4096).unwrap();
        assert_eq!(f.len(), 4096);
        assert_eq!(f.as_slice(10, 4).unwrap(), &[0, 0, 0, 0]);
        f.truncate_to(10).unwrap();
        assert_eq!(f.len(), 10);
        assert_eq!(file_size(&f), 10);
        f.append(b"ab").unwrap();
        assert_eq!(f.as_slice(8, 4).unwrap(), b"89ab");
        f.set_capacity(20).unwrap();
        assert_eq!(f.capacity(), 20);
        assert_eq!(f.as_slice(0, 12).unwrap(), b"0123456789ab");
    }
}
