//! Block devices and file systems for tests that need exact disk I/O: a loop device, where
//! O_DIRECT writes give an exact number of block requests, and an ext4 file system mounted
//! on one; and the checks the disk and file system tools' tests (`tools_disk.rs`,
//! `tools_rest.rs`) share: a kprobe tool's refusal on a kernel without kprobes, and every
//! tool run of a list passing the verifier.

use std::{path::PathBuf, process::Command};

use crate::{run, skip_note, wl, workload};

/// A loop block device over a sparse file, detached on drop. Writes straight to it (with
/// O_DIRECT) give an exact number of block requests: no filesystem adds metadata I/O.
pub struct LoopDevice {
    pub path: String,
    file: PathBuf,
}

impl LoopDevice {
    /// Sets one up, or says why not.
    pub fn new(size_mb: u64) -> Result<LoopDevice, String> {
        let file = std::env::temp_dir().join(format!("bpfscope-loop-{}.img", std::process::id()));
        let f = std::fs::File::create(&file).map_err(|e| e.to_string())?;
        f.set_len(size_mb << 20).map_err(|e| e.to_string())?;
        let out = Command::new("losetup")
            .args(["-f", "--show"])
            .arg(&file)
            .output()
            .map_err(|e| format!("losetup: {e}"))?;
        if !out.status.success() {
            let _ = std::fs::remove_file(&file);
            return Err(format!("losetup failed: {}", String::from_utf8_lossy(&out.stderr).trim()));
        }
        Ok(LoopDevice { path: String::from_utf8_lossy(&out.stdout).trim().to_string(), file })
    }

    /// The device number as the block tracepoints report it (`dev_t` in the kernel's
    /// encoding: major << 20 | minor).
    pub fn kernel_dev(&self) -> u64 {
        use std::os::unix::fs::MetadataExt;
        let rdev = std::fs::metadata(&self.path).expect("stat loop device").rdev();
        // SAFETY: major/minor only decode the number.
        let (major, minor) = (libc::major(rdev) as u64, libc::minor(rdev) as u64);
        (major << 20) | minor
    }

    /// One of `size_mb` MiB, where the test cannot go on without it.
    pub fn required(size_mb: u64) -> LoopDevice {
        LoopDevice::new(size_mb).unwrap_or_else(|why| panic!("cannot set up a loop device: {why}"))
    }

    /// The `-c` command line of the workload writing `count` blocks of 4 KiB to the device
    /// with O_DIRECT, one after the other (process name `wl-odirect`).
    pub fn odirect(&self, count: u64) -> String {
        wl(&format!("odirect {} {count}", self.path))
    }
}

impl Drop for LoopDevice {
    fn drop(&mut self) {
        let _ = Command::new("losetup").arg("-d").arg(&self.path).status();
        let _ = std::fs::remove_file(&self.file);
    }
}

/// An ext4 file system on a loop device, mounted on a fresh directory; unmounted on drop.
pub struct Ext4 {
    pub dir: PathBuf,
    pub device: LoopDevice,
}

impl Ext4 {
    /// Sets one up (64 MiB), or says why not.
    pub fn new() -> Result<Ext4, String> {
        let device = LoopDevice::new(64)?;
        let mkfs = Command::new("mkfs.ext4").args(["-q", &device.path]).output();
        match mkfs {
            Ok(out) if out.status.success() => {}
            Ok(out) => return Err(format!("mkfs.ext4: {}", String::from_utf8_lossy(&out.stderr))),
            Err(e) => return Err(format!("mkfs.ext4 (from e2fsprogs) cannot run: {e}")),
        }
        let dir = std::env::temp_dir().join(format!("bpfscope-ext4-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let out = Command::new("mount").args(["-t", "ext4"]).arg(&device.path).arg(&dir).output();
        match out {
            Ok(out) if out.status.success() => Ok(Ext4 { dir, device }),
            Ok(out) => Err(format!("mount: {}", String::from_utf8_lossy(&out.stderr))),
            Err(e) => Err(format!("mount: {e}")),
        }
    }

    /// The path of the file `name` in it.
    pub fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    /// Writes the file `name` of `pages` pages of 4 KiB (the workload's `fsops`, before the
    /// tracing starts) and returns its path.
    pub fn file_of_pages(&self, name: &str, pages: u64) -> String {
        let file = self.path(name);
        let status =
            Command::new(workload()).args(["fsops", &file, &pages.to_string(), "0"]).status();
        assert!(status.expect("run the fsops workload").success(), "fsops {file} {pages} 0");
        file
    }
}

impl Drop for Ext4 {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.dir).status();
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// Whether this kernel has kprobes (the kprobe PMU): the kernel matrix's do, this host's not.
pub fn have_kprobes() -> bool {
    std::path::Path::new("/sys/bus/event_source/devices/kprobe").exists()
}

/// The error of a kprobe tool on a kernel without kprobes: it names the probe and the
/// missing facility. Checks it and says loudly that the test is skipped here.
pub fn refused_without_kprobes(args: &[&str], probe: &str) {
    let r = run(args);
    assert_eq!(r.code, 1, "{args:?}: {}", r.stderr);
    let expected = format!("ERROR: cannot attach probe `{probe}`: this kernel has no kprobes");
    assert!(r.stderr.starts_with(&expected), "{args:?}: {}", r.stderr);
    skip_note(&format!("{}: needs kprobes, which this kernel lacks (checked its error)", args[0]));
}
