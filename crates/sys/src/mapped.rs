//! A file mapped read-only and private, read in place: for `/sys/kernel/btf/vmlinux`, whose
//! pages the kernel maps straight from its own memory (Linux 6.16 and later), so that the
//! 5 MiB of kernel BTF never count in bpfscope's resident memory. Where a file cannot be
//! mapped, the caller reads it instead.

use std::{fs::File, io, ops::Deref, os::fd::AsRawFd, path::Path, ptr::NonNull};

/// A read-only private mapping of a whole file; unmapped on drop.
pub struct MappedFile {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is read-only and owned by this value: sharing `&[u8]` views of it
// between threads, or moving it, is as safe as for a `Box<[u8]>`.
unsafe impl Send for MappedFile {}
// SAFETY: as above; nothing writes to the mapping.
unsafe impl Sync for MappedFile {}

impl MappedFile {
    /// Maps the whole of `path`, or says why not (an empty file is refused: nothing to map).
    pub fn open(path: &Path) -> io::Result<MappedFile> {
        let file = File::open(path)?;
        let len = usize::try_from(file.metadata()?.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "file too large to map"))?;
        if len == 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "empty file"));
        }
        // SAFETY: a fresh read-only private mapping of an open file, of its length; the
        // result is checked before use. The fd may close afterwards: the mapping stays.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                file.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = NonNull::new(ptr.cast()).ok_or_else(io::Error::last_os_error)?;
        Ok(MappedFile { ptr, len })
    }
}

impl Deref for MappedFile {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        // SAFETY: `ptr` points at `len` readable bytes for as long as `self` lives.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for MappedFile {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `open`, once.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

#[cfg(test)]
mod tests {
    use super::MappedFile;

    #[test]
    fn maps_a_file_and_reads_it_in_place() {
        let path = std::env::temp_dir().join(format!("bpfscope-mapped-{}", std::process::id()));
        std::fs::write(&path, b"hello, mapping").unwrap();
        let mapped = MappedFile::open(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(&*mapped, b"hello, mapping");
        let empty = std::env::temp_dir().join(format!("bpfscope-empty-{}", std::process::id()));
        std::fs::write(&empty, b"").unwrap();
        assert!(MappedFile::open(&empty).is_err());
        std::fs::remove_file(&empty).unwrap();
    }
}
