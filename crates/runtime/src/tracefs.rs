//! Tracepoint facts from tracefs: the [`Target`] implementation for the live kernel. Mounts
//! tracefs at `/sys/kernel/tracing` when it is missing. Kernel types come from
//! [`crate::btf`], read only when the compiler asks.

use std::{
    cell::{OnceCell, RefCell},
    collections::{HashMap, HashSet},
    path::PathBuf,
    sync::Arc,
};

use bpfscope_compiler::{
    btf::Reader,
    providers::dwarf_args::UserFunction as DwarfFunction,
    target::{parse_tracepoint_format, FilterFunction, Target, TracepointField, UserFunction},
};

/// Where tracefs lives.
pub const TRACEFS: &str = "/sys/kernel/tracing";

/// The live kernel's tracepoints, with formats read on demand and cached, and its BTF,
/// read on first use.
#[derive(Default)]
pub struct Tracefs {
    formats: RefCell<HashMap<String, Option<Vec<TracepointField>>>>,
    list: RefCell<Option<Vec<String>>>,
    btf: OnceCell<Option<Arc<Reader>>>,
    /// Modules' BTF read so far (split BTF on top of `btf`), by module name.
    modules: RefCell<HashMap<String, Arc<Reader>>>,
    traceable: OnceCell<Option<HashSet<String>>>,
    traceable_lines: OnceCell<Option<Vec<FilterFunction>>>,
    kprobe_multi: OnceCell<bool>,
    /// `kaddr()` answers by name: the checker runs twice and lowering asks again, and
    /// each read of /proc/kallsyms takes the kernel ~150 ms.
    ksyms: RefCell<HashMap<String, Option<u64>>>,
    /// DWARF-typed user functions by (binary, function): the checker runs twice and
    /// lowering asks again.
    user_functions: RefCell<HashMap<(String, String), Result<DwarfFunction, String>>>,
    /// The process of `-p PID`, whose mapped files name USDT binaries.
    pid: Option<u32>,
}

/// Mounts tracefs if it is not mounted. Errors are left for the first read to report.
pub fn ensure_mounted() -> Result<PathBuf, String> {
    let root = PathBuf::from(TRACEFS);
    if root.join("events").is_dir() {
        return Ok(root);
    }
    if PathBuf::from("/sys/kernel/debug/tracing/events").is_dir() {
        return Ok(PathBuf::from("/sys/kernel/debug/tracing"));
    }
    bpfscope_sys::mount_tracefs(TRACEFS)
        .map_err(|e| format!("tracefs is not mounted at {TRACEFS} and mounting it failed: {e}"))?;
    Ok(root)
}

impl Tracefs {
    /// A target reading the live tracefs.
    pub fn new() -> Tracefs {
        Tracefs::default()
    }

    /// A target for the process of `-p PID` (`None`: every process).
    pub fn for_process(pid: Option<u32>) -> Tracefs {
        Tracefs { pid, ..Tracefs::default() }
    }

    /// The tracefs directory, found (and mounted if needed) once per run.
    fn root() -> &'static PathBuf {
        static ROOT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
        ROOT.get_or_init(|| ensure_mounted().unwrap_or_else(|_| PathBuf::from(TRACEFS)))
    }

    /// The numeric id of a tracepoint (for perf_event_open).
    pub fn id(category: &str, name: &str) -> Option<u64> {
        let path = Tracefs::root().join("events").join(category).join(name).join("id");
        std::fs::read_to_string(path).ok()?.trim().parse().ok()
    }

    /// `available_filter_functions` as names and modules; `None` when it cannot be read.
    pub fn filter_functions() -> Option<Vec<FilterFunction>> {
        let path = Tracefs::root().join("available_filter_functions");
        let text = std::fs::read_to_string(path).ok()?;
        Some(bpfscope_compiler::target::parse_filter_functions(&text))
    }

    /// The raw `format` file of a tracepoint.
    pub fn format_text(category: &str, name: &str) -> Option<String> {
        std::fs::read_to_string(
            Tracefs::root().join("events").join(category).join(name).join("format"),
        )
        .ok()
    }
}

impl Target for Tracefs {
    fn tracepoints(&self) -> Vec<String> {
        if let Some(list) = &*self.list.borrow() {
            return list.clone();
        }
        let text =
            std::fs::read_to_string(Tracefs::root().join("available_events")).unwrap_or_default();
        let mut list: Vec<String> = text.lines().map(str::to_string).collect();
        list.sort();
        *self.list.borrow_mut() = Some(list.clone());
        list
    }

    /// `events/CATEGORY/NAME` looked for without reading `available_events` (which the
    /// kernel takes milliseconds to produce): first in the categories the name starts with
    /// (`sched` for `sched_switch`), then in every category.
    fn has_tracepoint_named(&self, name: &str) -> bool {
        if name.is_empty() || name.contains(['/', '.']) {
            return false;
        }
        let events = Tracefs::root().join("events");
        let exists = |category: &str| events.join(category).join(name).join("id").exists();
        let prefixes = name.match_indices('_').map(|(i, _)| &name[..i]);
        if prefixes.clone().any(exists) {
            return true;
        }
        let Ok(entries) = std::fs::read_dir(&events) else { return false };
        entries.flatten().any(|e| e.file_name().to_str().is_some_and(exists))
    }

    fn tracepoint_format(&self, category: &str, name: &str) -> Option<Vec<TracepointField>> {
        let key = format!("{category}:{name}");
        if let Some(cached) = self.formats.borrow().get(&key) {
            return cached.clone();
        }
        let fields = Tracefs::format_text(category, name).map(|t| parse_tracepoint_format(&t));
        self.formats.borrow_mut().insert(key, fields.clone());
        fields
    }

    fn kernel_btf(&self) -> Option<&Reader> {
        self.btf.get_or_init(|| crate::btf::vmlinux().ok().map(Arc::new)).as_deref()
    }

    /// `/sys/kernel/btf/<module>`, read on first use, on top of vmlinux's.
    fn module_btf(&self, module: &str) -> Result<Arc<Reader>, String> {
        if let Some(found) = self.modules.borrow().get(module) {
            return Ok(found.clone());
        }
        self.kernel_btf();
        let base = self.btf.get().cloned().flatten();
        let base =
            base.ok_or_else(|| format!("kernel BTF ({}) is missing", crate::btf::VMLINUX))?;
        let reader = Arc::new(crate::btf::module(base, module)?);
        self.modules.borrow_mut().insert(module.to_string(), reader.clone());
        Ok(reader)
    }

    fn btf_modules(&self) -> Vec<String> {
        crate::btf::modules()
    }

    /// `available_filter_functions` (`vfs_read`, `ext4_file_read_iter [ext4]`), read on
    /// first use; `None` when it cannot be read (some locked-down kernels refuse even root).
    fn traceable_functions(&self) -> Option<&HashSet<String>> {
        let read = || {
            let path = Tracefs::root().join("available_filter_functions");
            let text = std::fs::read_to_string(path).ok()?;
            let names = text.lines().filter_map(|l| l.split_whitespace().next());
            Some(names.map(str::to_string).collect())
        };
        self.traceable.get_or_init(read).as_ref()
    }

    /// Probed once: the kernel's BTF has the kprobe_multi link's type (Linux 5.18+) and the
    /// kernel does not answer a link request with EOPNOTSUPP (built without `CONFIG_FPROBE`).
    fn kprobe_multi(&self) -> bool {
        use bpfscope_compiler::btf::Kind;
        *self.kprobe_multi.get_or_init(|| {
            let has_type = self
                .kernel_btf()
                .is_some_and(|btf| btf.find("bpf_kprobe_multi_link", Kind::Struct).is_some());
            has_type && bpfscope_sys::load::kprobe_multi_supported()
        })
    }

    fn uprobe_multi(&self) -> bool {
        crate::usyms::uprobe_multi()
    }

    /// The functions of the binary a uprobe names; `None` for a name that is not a path and
    /// is not found without a process (the runtime looks again with `-p PID`'s mappings).
    fn user_functions(&self, binary: &str) -> Option<Result<Vec<UserFunction>, String>> {
        let path = match crate::usyms::resolve_binary_for(binary, None) {
            Ok(path) => path,
            Err(_) if !binary.contains('/') => return None,
            Err(message) => return Some(Err(message)),
        };
        Some(crate::usyms::user_functions(&path))
    }

    fn traceable_function_lines(&self) -> Option<&[FilterFunction]> {
        self.traceable_lines.get_or_init(Tracefs::filter_functions).as_deref()
    }

    /// The first `/proc/kallsyms` line with this name, of any kind (as bpftrace's
    /// `resolve_kname`); the file is read once per name asked, as only `kaddr()` asks.
    fn kernel_symbol(&self, name: &str) -> Option<u64> {
        if let Some(found) = self.ksyms.borrow().get(name) {
            return *found;
        }
        // A line at a time: the file is 5 MiB, and the whole-run peak RSS would count a copy.
        use std::io::BufRead;
        let file = std::fs::File::open("/proc/kallsyms").ok();
        let lines = file.map(|f| std::io::BufReader::with_capacity(1 << 16, f).lines());
        let found = lines.into_iter().flatten().map_while(Result::ok).find_map(|line| {
            let mut parts = line.split_whitespace();
            let addr = parts.next()?;
            (parts.nth(1)? == name).then(|| u64::from_str_radix(addr, 16).ok()).flatten()
        });
        self.ksyms.borrow_mut().insert(name.to_string(), found);
        found
    }

    fn kernel_symbol_names(&self) -> Vec<String> {
        let text = std::fs::read_to_string("/proc/kallsyms").unwrap_or_default();
        text.lines().filter_map(|l| l.split_whitespace().nth(2).map(str::to_string)).collect()
    }

    fn user_symbol(&self, binary: &str, symbol: &str) -> Result<u64, String> {
        let path = crate::usyms::resolve_binary(binary)
            .ok_or_else(|| format!("no binary or library `{binary}`"))?;
        crate::usyms::symbol_address(&path, symbol)
            .ok_or_else(|| format!("no symbol `{symbol}` in `{path}`"))
    }

    fn user_function(&self, binary: &str, function: &str) -> Result<DwarfFunction, String> {
        let key = (binary.to_string(), function.to_string());
        if let Some(found) = self.user_functions.borrow().get(&key) {
            return found.clone();
        }
        let found = match crate::usyms::resolve_binary(binary) {
            Some(path) => crate::dwarf::function(&path, function),
            None => Err(format!("no binary or library `{binary}`")),
        };
        self.user_functions.borrow_mut().insert(key, found.clone());
        found
    }

    fn usdt_probes(
        &self,
        binary: &str,
    ) -> Result<Vec<bpfscope_compiler::providers::UsdtNote>, String> {
        let path = crate::usdt_notes::resolve(binary, self.pid)
            .ok_or_else(|| format!("no binary or library `{binary}`"))?;
        crate::usdt_notes::read(&path)
    }

    /// A cgroup v2 directory's inode number is its cgroup id (kernfs node ids, Linux 5.5).
    fn cgroup_id(&self, path: &str) -> Result<u64, String> {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(path).map_err(|e| format!("`{path}`: {e}"))?;
        if !meta.is_dir() {
            return Err(format!("`{path}` is not a cgroup directory"));
        }
        Ok(meta.ino())
    }
}
