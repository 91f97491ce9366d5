//! Kernel facts the compiler needs, behind a trait so the compiler stays pure: the runtime
//! implements it from tracefs and `/sys/kernel/btf/vmlinux`, tests use [`Fixture`].

pub(crate) mod fixture_btf;

/// One field of a tracepoint's `format` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TracepointField {
    pub name: String,
    /// The C type as written in the format file (`const char *`, `char[16]`, `int`).
    pub c_type: String,
    pub offset: u32,
    pub size: u32,
    pub signed: bool,
    /// `__data_loc` fields hold (length << 16 | offset) of data stored after the record.
    pub data_loc: bool,
}

/// Facts about the running kernel.
pub trait Target {
    /// Every tracepoint as `category:name`.
    fn tracepoints(&self) -> Vec<String>;
    /// The fields of a tracepoint after the common ones, or `None` if it does not exist.
    fn tracepoint_format(&self, category: &str, name: &str) -> Option<Vec<TracepointField>>;
    /// Whether some category has a tracepoint of this name (a raw tracepoint names none).
    /// The live kernel answers without listing every tracepoint (tracefs takes milliseconds
    /// to produce that list).
    fn has_tracepoint_named(&self, name: &str) -> bool {
        self.tracepoints().iter().any(|t| t.split_once(':').is_some_and(|(_, n)| n == name))
    }
    /// The kernel's own types (vmlinux BTF), read on first call, or `None` when the kernel
    /// has none. The checker asks when a script names a C type or uses `curtask`, and for
    /// typed probe arguments (fentry/fexit, raw tracepoints, tracepoint fields that point to
    /// structs).
    fn kernel_btf(&self) -> Option<&crate::btf::Reader> {
        None
    }
    /// The BTF of kernel module `module` (`/sys/kernel/btf/<module>`, split BTF on top of
    /// [`Target::kernel_btf`]), read on first call; the error says why there is none (a
    /// module that is not loaded).
    fn module_btf(&self, module: &str) -> Result<std::sync::Arc<crate::btf::Reader>, String> {
        Err(module_not_loaded(module))
    }
    /// The names of the loaded modules that publish BTF (`/sys/kernel/btf/*` but vmlinux),
    /// for wildcards over modules (`fentry:*:FUNCTION`).
    fn btf_modules(&self) -> Vec<String> {
        Vec::new()
    }
    /// The kernel functions that can be traced (ftrace's `available_filter_functions`), or
    /// `None` when the kernel does not say: fentry wildcards keep only these.
    fn traceable_functions(&self) -> Option<&std::collections::HashSet<String>> {
        None
    }
    /// The same functions with the module each is in (`lo_rw_aio [loop]` →
    /// `("lo_rw_aio", Some("loop"))`), for kprobe wildcards and module names; `None` when
    /// the kernel does not say.
    fn traceable_function_lines(&self) -> Option<&[FilterFunction]> {
        None
    }
    /// True when the kernel attaches one kprobe program to many functions with one
    /// kprobe_multi link (Linux 5.18+ with `CONFIG_FPROBE`); without, a kprobe wildcard
    /// expands into a program per function.
    fn kprobe_multi(&self) -> bool {
        true
    }
    /// True when the kernel attaches one uprobe program to many functions with one
    /// uprobe_multi link (Linux 6.6+); without, a uprobe wildcard expands into a program
    /// per function.
    fn uprobe_multi(&self) -> bool {
        true
    }
    /// The function names of `binary` (a path, or a library or program name as a uprobe
    /// takes it) as `(name, demangled C++ name)`, for uprobe wildcards and names; `None`
    /// when the target cannot say (the fixture), `Some(Err)` naming what is missing.
    fn user_functions(&self, _binary: &str) -> Option<Result<Vec<UserFunction>, String>> {
        None
    }
    /// The address of the kernel symbol `name` (`/proc/kallsyms`), for `kaddr()`, or `None`
    /// when the kernel has no symbol by that name.
    fn kernel_symbol(&self, _name: &str) -> Option<u64> {
        None
    }
    /// Every kernel symbol name, for "did you mean" after [`Target::kernel_symbol`] found
    /// nothing (read only then).
    fn kernel_symbol_names(&self) -> Vec<String> {
        Vec::new()
    }
    /// The address of `symbol` in the ELF symbol tables of `binary` (a path, or a library or
    /// program name as a uprobe takes it), for `uaddr()`; the error says what is missing.
    fn user_symbol(&self, binary: &str, symbol: &str) -> Result<u64, String> {
        Err(format!("no symbol `{symbol}` in `{binary}`"))
    }
    /// The USDT probes of `binary` (a path, or a library or program name as a uprobe takes
    /// it; with `-p PID`, one that process has mapped), one per location, from its
    /// `.note.stapsdt` notes (none: an empty list); the error says why the file was not read.
    fn usdt_probes(&self, binary: &str) -> Result<Vec<crate::providers::UsdtNote>, String> {
        Err(format!("no binary or library `{binary}`"))
    }
    /// The id of the cgroup (v2) directory at `path`, for `cgroupid()`; the error says why
    /// there is none.
    fn cgroup_id(&self, path: &str) -> Result<u64, String> {
        Err(format!("cannot read `{path}`"))
    }
    /// The formal parameters and return type of `function` in the DWARF debug info of
    /// `binary` (a path, or a library or program name as a uprobe takes it), for uprobe
    /// `args` and uretprobe `retval`; the error says what is missing (no debug info, no such
    /// function).
    fn user_function(
        &self,
        binary: &str,
        function: &str,
    ) -> Result<crate::providers::dwarf_args::UserFunction, String> {
        let _ = function;
        Err(no_dwarf(binary))
    }
}

/// The error of a binary without DWARF debug info.
pub fn no_dwarf(binary: &str) -> String {
    format!("no DWARF debug info in {binary}: build it with -g or use arg0..argN")
}

/// Why a module has no BTF: it is not loaded (`/sys/kernel/btf/<module>` is missing).
pub fn module_not_loaded(module: &str) -> String {
    format!("module '{module}' is not loaded (no /sys/kernel/btf/{module})")
}

/// A function of an ELF file: its symbol name and, for a C++ symbol, the demangled name
/// without its parameters (`ns::f` for `_ZN2ns1fEi`).
pub type UserFunction = (String, Option<String>);

/// A traceable kernel function and the module it is in (`None`: vmlinux).
pub type FilterFunction = (String, Option<String>);

/// Parses ftrace's `available_filter_functions` (`vfs_read`, `lo_rw_aio [loop]`) into
/// names and modules, without repeats (static functions of the same name in several files
/// are one name to a kprobe).
pub fn parse_filter_functions(text: &str) -> Vec<FilterFunction> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for line in text.lines() {
        let mut parts = line.split_whitespace();
        let Some(name) = parts.next() else { continue };
        let module = parts.next().and_then(|m| m.strip_prefix('[')?.strip_suffix(']'));
        if seen.insert((name, module)) {
            out.push((name.to_string(), module.map(str::to_string)));
        }
    }
    out
}

/// Parses the text of a tracefs `format` file into its non-common fields.
pub fn parse_tracepoint_format(text: &str) -> Vec<TracepointField> {
    let mut fields = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        let Some(rest) = line.strip_prefix("field:") else { continue };
        let mut parts = rest.split(';').map(str::trim);
        let decl = parts.next().unwrap_or("");
        let mut get = |key: &str| -> Option<u32> {
            parts.next().and_then(|p| p.strip_prefix(key)).and_then(|v| v.parse().ok())
        };
        let (Some(offset), Some(size), Some(signed)) =
            (get("offset:"), get("size:"), get("signed:"))
        else {
            continue;
        };
        let (c_type, name, data_loc) = split_decl(decl);
        if name.starts_with("common_") {
            continue;
        }
        fields.push(TracepointField { name, c_type, offset, size, signed: signed != 0, data_loc });
    }
    fields
}

/// Splits `const char * filename` / `char comm[16]` / `__data_loc char[] name` into type and name.
fn split_decl(decl: &str) -> (String, String, bool) {
    let (decl, data_loc) = match decl.strip_prefix("__data_loc ") {
        Some(rest) => (rest, true),
        None => (decl, false),
    };
    let mut decl = decl.trim().to_string();
    let mut array = String::new();
    if let Some(open) = decl.rfind('[') {
        if decl.ends_with(']') {
            array = decl[open..].to_string();
            decl.truncate(open);
        }
    }
    let decl = decl.trim_end();
    // After the last character that cannot be in a name (which may take several bytes).
    let split = decl
        .char_indices()
        .rfind(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_'))
        .map_or(0, |(i, c)| i + c.len_utf8());
    let name = decl[split..].to_string();
    let mut c_type = decl[..split].trim().to_string();
    if !array.is_empty() {
        if data_loc && array == "[]" {
            c_type.push_str("[]");
        } else {
            c_type.push_str(&array);
        }
    }
    if data_loc && !c_type.ends_with(']') {
        c_type.push_str("[]");
    }
    (c_type, name, data_loc)
}

/// A fixed set of tracepoints for tests that need no kernel.
#[derive(Debug, Default, Clone)]
pub struct Fixture;

const FIXTURE_FORMATS: &[(&str, &str)] = &[
    ("syscalls:sys_enter_getppid", "\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;\n"),
    ("syscalls:sys_exit_getppid", "\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;\n\tfield:long ret;\toffset:16;\tsize:8;\tsigned:1;\n"),
    ("syscalls:sys_enter_read", "\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;\n\tfield:unsigned int fd;\toffset:16;\tsize:8;\tsigned:0;\n\tfield:char * buf;\toffset:24;\tsize:8;\tsigned:0;\n\tfield:size_t count;\toffset:32;\tsize:8;\tsigned:0;\n"),
    ("syscalls:sys_exit_read", "\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;\n\tfield:long ret;\toffset:16;\tsize:8;\tsigned:1;\n"),
    ("syscalls:sys_enter_openat", "\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;\n\tfield:int dfd;\toffset:16;\tsize:8;\tsigned:0;\n\tfield:const char * filename;\toffset:24;\tsize:8;\tsigned:0;\n\tfield:int flags;\toffset:32;\tsize:8;\tsigned:0;\n\tfield:umode_t mode;\toffset:40;\tsize:8;\tsigned:0;\n"),
    ("syscalls:sys_exit_openat", "\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;\n\tfield:long ret;\toffset:16;\tsize:8;\tsigned:1;\n"),
    ("syscalls:sys_enter_execve", "\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;\n\tfield:const char * filename;\toffset:16;\tsize:8;\tsigned:0;\n\tfield:const char *const * argv;\toffset:24;\tsize:8;\tsigned:0;\n\tfield:const char *const * envp;\toffset:32;\tsize:8;\tsigned:0;\n"),
    ("raw_syscalls:sys_enter", "\tfield:long id;\toffset:8;\tsize:8;\tsigned:1;\n\tfield:unsigned long args[6];\toffset:16;\tsize:48;\tsigned:0;\n"),
    ("block:block_rq_issue", "\tfield:dev_t dev;\toffset:8;\tsize:4;\tsigned:0;\n\tfield:sector_t sector;\toffset:16;\tsize:8;\tsigned:0;\n\tfield:unsigned int nr_sector;\toffset:24;\tsize:4;\tsigned:0;\n\tfield:unsigned int bytes;\toffset:28;\tsize:4;\tsigned:0;\n\tfield:unsigned short ioprio;\toffset:32;\tsize:2;\tsigned:0;\n\tfield:char rwbs[10];\toffset:34;\tsize:10;\tsigned:0;\n\tfield:char comm[16];\toffset:44;\tsize:16;\tsigned:0;\n\tfield:__data_loc char[] cmd;\toffset:60;\tsize:4;\tsigned:0;\n"),
    ("sched:sched_switch", "\tfield:char prev_comm[16];\toffset:8;\tsize:16;\tsigned:0;\n\tfield:pid_t prev_pid;\toffset:24;\tsize:4;\tsigned:1;\n\tfield:int prev_prio;\toffset:28;\tsize:4;\tsigned:1;\n\tfield:long prev_state;\toffset:32;\tsize:8;\tsigned:1;\n\tfield:char next_comm[16];\toffset:40;\tsize:16;\tsigned:0;\n\tfield:pid_t next_pid;\toffset:56;\tsize:4;\tsigned:1;\n\tfield:int next_prio;\toffset:60;\tsize:4;\tsigned:1;\n"),
    ("sched:sched_wakeup", "\tfield:char comm[16];\toffset:8;\tsize:16;\tsigned:0;\n\tfield:pid_t pid;\toffset:24;\tsize:4;\tsigned:1;\n\tfield:int prio;\toffset:28;\tsize:4;\tsigned:1;\n\tfield:int target_cpu;\toffset:32;\tsize:4;\tsigned:1;\n"),
    ("block:block_rq_complete", "\tfield:dev_t dev;\toffset:8;\tsize:4;\tsigned:0;\n\tfield:sector_t sector;\toffset:16;\tsize:8;\tsigned:0;\n\tfield:unsigned int nr_sector;\toffset:24;\tsize:4;\tsigned:0;\n\tfield:int error;\toffset:28;\tsize:4;\tsigned:1;\n\tfield:unsigned short ioprio;\toffset:32;\tsize:2;\tsigned:0;\n\tfield:char rwbs[10];\toffset:34;\tsize:10;\tsigned:0;\n\tfield:__data_loc char[] cmd;\toffset:44;\tsize:4;\tsigned:0;\n"),
    ("sched:sched_wakeup_new", "\tfield:char comm[16];\toffset:8;\tsize:16;\tsigned:0;\n\tfield:pid_t pid;\toffset:24;\tsize:4;\tsigned:1;\n\tfield:int prio;\toffset:28;\tsize:4;\tsigned:1;\n\tfield:int target_cpu;\toffset:32;\tsize:4;\tsigned:1;\n"),
    ("syscalls:sys_enter_execveat", "\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;\n\tfield:int fd;\toffset:16;\tsize:8;\tsigned:0;\n\tfield:const char * filename;\toffset:24;\tsize:8;\tsigned:0;\n\tfield:const char *const * argv;\toffset:32;\tsize:8;\tsigned:0;\n\tfield:const char *const * envp;\toffset:40;\tsize:8;\tsigned:0;\n\tfield:int flags;\toffset:48;\tsize:8;\tsigned:0;\n"),
    ("syscalls:sys_enter_open", "\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;\n\tfield:const char * filename;\toffset:16;\tsize:8;\tsigned:0;\n\tfield:int flags;\toffset:24;\tsize:8;\tsigned:0;\n\tfield:umode_t mode;\toffset:32;\tsize:8;\tsigned:0;\n"),
    ("syscalls:sys_enter_nanosleep", "\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;\n\tfield:struct __kernel_timespec * rqtp;\toffset:16;\tsize:8;\tsigned:0;\n\tfield:struct __kernel_timespec * rmtp;\toffset:24;\tsize:8;\tsigned:0;\n"),
    ("syscalls:sys_exit_open", "\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;\n\tfield:long ret;\toffset:16;\tsize:8;\tsigned:1;\n"),    ("block:block_rq_insert", "\tfield:dev_t dev;\toffset:8;\tsize:4;\tsigned:0;\n\tfield:sector_t sector;\toffset:16;\tsize:8;\tsigned:0;\n\tfield:unsigned int nr_sector;\toffset:24;\tsize:4;\tsigned:0;\n\tfield:unsigned int bytes;\toffset:28;\tsize:4;\tsigned:0;\n\tfield:unsigned short ioprio;\toffset:32;\tsize:2;\tsigned:0;\n\tfield:char rwbs[10];\toffset:34;\tsize:10;\tsigned:0;\n\tfield:char comm[16];\toffset:44;\tsize:16;\tsigned:0;\n\tfield:__data_loc char[] cmd;\toffset:60;\tsize:4;\tsigned:0;\n"),
    ("raw_syscalls:sys_exit", "\tfield:long id;\toffset:8;\tsize:8;\tsigned:1;\n\tfield:long ret;\toffset:16;\tsize:8;\tsigned:1;\n"),
    ("block:block_io_start", "\tfield:dev_t dev;\toffset:8;\tsize:4;\tsigned:0;\n\tfield:sector_t sector;\toffset:16;\tsize:8;\tsigned:0;\n\tfield:unsigned int nr_sector;\toffset:24;\tsize:4;\tsigned:0;\n\tfield:unsigned int bytes;\toffset:28;\tsize:4;\tsigned:0;\n\tfield:unsigned short ioprio;\toffset:32;\tsize:2;\tsigned:0;\n\tfield:char rwbs[10];\toffset:34;\tsize:10;\tsigned:0;\n\tfield:char comm[16];\toffset:44;\tsize:16;\tsigned:0;\n\tfield:__data_loc char[] cmd;\toffset:60;\tsize:4;\tsigned:0;\n"),
    ("syscalls:sys_enter_sync", "\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;\n"),
    ("syscalls:sys_enter_fsync", "\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;\n\tfield:unsigned int fd;\toffset:16;\tsize:8;\tsigned:0;\n"),
    ("syscalls:sys_enter_syncfs", "\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;\n\tfield:int fd;\toffset:16;\tsize:8;\tsigned:0;\n"),
    ("syscalls:sys_enter_fdatasync", "\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;\n\tfield:unsigned int fd;\toffset:16;\tsize:8;\tsigned:0;\n"),
    ("syscalls:sys_enter_sync_file_range", "\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;\n\tfield:int fd;\toffset:16;\tsize:8;\tsigned:0;\n\tfield:loff_t offset;\toffset:24;\tsize:8;\tsigned:0;\n\tfield:loff_t nbytes;\toffset:32;\tsize:8;\tsigned:0;\n\tfield:unsigned int flags;\toffset:40;\tsize:8;\tsigned:0;\n"),
    ("syscalls:sys_enter_msync", "\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;\n\tfield:unsigned long start;\toffset:16;\tsize:8;\tsigned:0;\n\tfield:size_t len;\toffset:24;\tsize:8;\tsigned:0;\n\tfield:int flags;\toffset:32;\tsize:8;\tsigned:0;\n"),
    ("syscalls:sys_enter_statfs", "\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;\n\tfield:const char * pathname;\toffset:16;\tsize:8;\tsigned:0;\n\tfield:struct statfs * buf;\toffset:24;\tsize:8;\tsigned:0;\n"),
    ("syscalls:sys_enter_statx", "\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;\n\tfield:int dfd;\toffset:16;\tsize:8;\tsigned:0;\n\tfield:const char * filename;\toffset:24;\tsize:8;\tsigned:0;\n\tfield:unsigned flags;\toffset:32;\tsize:8;\tsigned:0;\n\tfield:unsigned int mask;\toffset:40;\tsize:8;\tsigned:0;\n\tfield:struct statx * buffer;\toffset:48;\tsize:8;\tsigned:0;\n"),
    ("syscalls:sys_enter_newstat", "\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;\n\tfield:const char * filename;\toffset:16;\tsize:8;\tsigned:0;\n\tfield:struct stat * statbuf;\toffset:24;\tsize:8;\tsigned:0;\n"),
    ("syscalls:sys_enter_newlstat", "\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;\n\tfield:const char * filename;\toffset:16;\tsize:8;\tsigned:0;\n\tfield:struct stat * statbuf;\toffset:24;\tsize:8;\tsigned:0;\n"),
    ("syscalls:sys_enter_newfstatat", "\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;\n\tfield:int dfd;\toffset:16;\tsize:8;\tsigned:0;\n\tfield:const char * filename;\toffset:24;\tsize:8;\tsigned:0;\n\tfield:struct stat * statbuf;\toffset:32;\tsize:8;\tsigned:0;\n\tfield:int flag;\toffset:40;\tsize:8;\tsigned:0;\n"),
    ("syscalls:sys_exit_statfs", "\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;\n\tfield:long ret;\toffset:16;\tsize:8;\tsigned:1;\n"),
    ("syscalls:sys_exit_statx", "\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;\n\tfield:long ret;\toffset:16;\tsize:8;\tsigned:1;\n"),
    ("syscalls:sys_exit_newstat", "\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;\n\tfield:long ret;\toffset:16;\tsize:8;\tsigned:1;\n"),
    ("syscalls:sys_exit_newlstat", "\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;\n\tfield:long ret;\toffset:16;\tsize:8;\tsigned:1;\n"),
    ("syscalls:sys_exit_newfstatat", "\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;\n\tfield:long ret;\toffset:16;\tsize:8;\tsigned:1;\n"),
    ("writeback:writeback_start", "\tfield:char name[32];\toffset:8;\tsize:32;\tsigned:0;\n\tfield:long nr_pages;\toffset:40;\tsize:8;\tsigned:1;\n\tfield:dev_t sb_dev;\toffset:48;\tsize:4;\tsigned:0;\n\tfield:int sync_mode;\toffset:52;\tsize:4;\tsigned:1;\n\tfield:int for_kupdate;\toffset:56;\tsize:4;\tsigned:1;\n\tfield:int range_cyclic;\toffset:60;\tsize:4;\tsigned:1;\n\tfield:int for_background;\toffset:64;\tsize:4;\tsigned:1;\n\tfield:int reason;\toffset:68;\tsize:4;\tsigned:1;\n\tfield:ino_t cgroup_ino;\toffset:72;\tsize:8;\tsigned:0;\n"),
    ("writeback:writeback_written", "\tfield:char name[32];\toffset:8;\tsize:32;\tsigned:0;\n\tfield:long nr_pages;\toffset:40;\tsize:8;\tsigned:1;\n\tfield:dev_t sb_dev;\toffset:48;\tsize:4;\tsigned:0;\n\tfield:int sync_mode;\toffset:52;\tsize:4;\tsigned:1;\n\tfield:int for_kupdate;\toffset:56;\tsize:4;\tsigned:1;\n\tfield:int range_cyclic;\toffset:60;\tsize:4;\tsigned:1;\n\tfield:int for_background;\toffset:64;\tsize:4;\tsigned:1;\n\tfield:int reason;\toffset:68;\tsize:4;\tsigned:1;\n\tfield:ino_t cgroup_ino;\toffset:72;\tsize:8;\tsigned:0;\n"),
    ("syscalls:sys_enter_creat", "\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;\n\tfield:const char * pathname;\toffset:16;\tsize:8;\tsigned:0;\n\tfield:umode_t mode;\toffset:24;\tsize:8;\tsigned:0;\n"),
    ("syscalls:sys_exit_creat", "\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;\n\tfield:long ret;\toffset:16;\tsize:8;\tsigned:1;\n"),
    ("ext4:ext4_allocate_inode", "\tfield:dev_t dev;\toffset:8;\tsize:4;\tsigned:0;\n\tfield:ino_t ino;\toffset:16;\tsize:8;\tsigned:0;\n\tfield:ino_t dir;\toffset:24;\tsize:8;\tsigned:0;\n\tfield:__u16 mode;\toffset:32;\tsize:2;\tsigned:0;\n"),
    ("syscalls:sys_enter_unlinkat", "\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;\n\tfield:int dfd;\toffset:16;\tsize:8;\tsigned:0;\n\tfield:const char * pathname;\toffset:24;\tsize:8;\tsigned:0;\n\tfield:int flag;\toffset:32;\tsize:8;\tsigned:0;\n"),
    ("syscalls:sys_enter_unlink", "\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;\n\tfield:const char * pathname;\toffset:16;\tsize:8;\tsigned:0;\n"),
    ("ext4:ext4_unlink_enter", "\tfield:dev_t dev;\toffset:8;\tsize:4;\tsigned:0;\n\tfield:ino_t ino;\toffset:16;\tsize:8;\tsigned:0;\n\tfield:ino_t parent;\toffset:24;\tsize:8;\tsigned:0;\n\tfield:loff_t size;\toffset:32;\tsize:8;\tsigned:1;\n"),
    ("syscalls:sys_exit_unlinkat", "\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;\n\tfield:long ret;\toffset:16;\tsize:8;\tsigned:1;\n"),
    ("syscalls:sys_exit_unlink", "\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;\n\tfield:long ret;\toffset:16;\tsize:8;\tsigned:1;\n"),
    ("signal:signal_generate", "\tfield:int sig;\toffset:8;\tsize:4;\tsigned:1;\n\tfield:int errno;\toffset:12;\tsize:4;\tsigned:1;\n\tfield:int code;\toffset:16;\tsize:4;\tsigned:1;\n\tfield:char comm[16];\toffset:20;\tsize:16;\tsigned:0;\n\tfield:pid_t pid;\toffset:36;\tsize:4;\tsigned:1;\n\tfield:int group;\toffset:40;\tsize:4;\tsigned:1;\n\tfield:int result;\toffset:44;\tsize:4;\tsigned:1;\n"),
    ("syscalls:sys_enter_kill", "\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;\n\tfield:pid_t pid;\toffset:16;\tsize:8;\tsigned:0;\n\tfield:int sig;\toffset:24;\tsize:8;\tsigned:0;\n"),
    ("syscalls:sys_exit_kill", "\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;\n\tfield:long ret;\toffset:16;\tsize:8;\tsigned:1;\n"),
    ("syscalls:sys_enter_setuid", "\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;\n\tfield:uid_t uid;\toffset:16;\tsize:8;\tsigned:0;\n"),
    ("syscalls:sys_exit_setuid", "\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;\n\tfield:long ret;\toffset:16;\tsize:8;\tsigned:1;\n"),
    ("syscalls:sys_enter_setfsuid", "\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;\n\tfield:uid_t uid;\toffset:16;\tsize:8;\tsigned:0;\n"),
    ("syscalls:sys_exit_setfsuid", "\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;\n\tfield:long ret;\toffset:16;\tsize:8;\tsigned:1;\n"),
    ("syscalls:sys_enter_setresuid", "\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;\n\tfield:uid_t ruid;\toffset:16;\tsize:8;\tsigned:0;\n\tfield:uid_t euid;\toffset:24;\tsize:8;\tsigned:0;\n\tfield:uid_t suid;\toffset:32;\tsize:8;\tsigned:0;\n"),
    ("syscalls:sys_exit_setresuid", "\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;\n\tfield:long ret;\toffset:16;\tsize:8;\tsigned:1;\n"),
    ("sched:sched_process_fork", "\tfield:__data_loc char[] parent_comm;\toffset:8;\tsize:4;\tsigned:0;\n\tfield:pid_t parent_pid;\toffset:12;\tsize:4;\tsigned:1;\n\tfield:__data_loc char[] child_comm;\toffset:16;\tsize:4;\tsigned:0;\n\tfield:pid_t child_pid;\toffset:20;\tsize:4;\tsigned:1;\n"),
    ("task:task_newtask", "\tfield:pid_t pid;\toffset:8;\tsize:4;\tsigned:1;\n\tfield:char comm[16];\toffset:12;\tsize:16;\tsigned:0;\n\tfield:u64 clone_flags;\toffset:32;\tsize:8;\tsigned:0;\n\tfield:short oom_score_adj;\toffset:40;\tsize:2;\tsigned:1;\n"),
    ("capability:cap_capable", "\tfield:const struct cred * cred;\toffset:8;\tsize:8;\tsigned:0;\n\tfield:struct user_namespace * target_ns;\toffset:16;\tsize:8;\tsigned:0;\n\tfield:const struct user_namespace * capable_ns;\toffset:24;\tsize:8;\tsigned:0;\n\tfield:int cap;\toffset:32;\tsize:4;\tsigned:1;\n\tfield:int ret;\toffset:36;\tsize:4;\tsigned:1;\n"),
    ("oom:mark_victim", "\tfield:int pid;\toffset:8;\tsize:4;\tsigned:1;\n\tfield:__data_loc char[] comm;\toffset:12;\tsize:4;\tsigned:0;\n\tfield:unsigned long total_vm;\toffset:16;\tsize:8;\tsigned:0;\n\tfield:unsigned long anon_rss;\toffset:24;\tsize:8;\tsigned:0;\n\tfield:unsigned long file_rss;\toffset:32;\tsize:8;\tsigned:0;\n\tfield:unsigned long shmem_rss;\toffset:40;\tsize:8;\tsigned:0;\n\tfield:uid_t uid;\toffset:48;\tsize:4;\tsigned:0;\n\tfield:unsigned long pgtables;\toffset:56;\tsize:8;\tsigned:0;\n\tfield:short oom_score_adj;\toffset:64;\tsize:2;\tsigned:1;\n"),
    ("irq:softirq_entry", "\tfield:unsigned int vec;\toffset:8;\tsize:4;\tsigned:0;\n"),
    ("irq:softirq_exit", "\tfield:unsigned int vec;\toffset:8;\tsize:4;\tsigned:0;\n"),
    ("irq:irq_handler_entry", "\tfield:int irq;\toffset:8;\tsize:4;\tsigned:1;\n\tfield:__data_loc char[] name;\toffset:12;\tsize:4;\tsigned:0;\n"),
    ("irq:irq_handler_exit", "\tfield:int irq;\toffset:8;\tsize:4;\tsigned:1;\n\tfield:int ret;\toffset:12;\tsize:4;\tsigned:1;\n"),
    ("vmscan:mm_vmscan_direct_reclaim_begin", "\tfield:int order;\toffset:8;\tsize:4;\tsigned:1;\n\tfield:unsigned long gfp_flags;\toffset:16;\tsize:8;\tsigned:0;\n"),
    ("vmscan:mm_vmscan_direct_reclaim_end", "\tfield:unsigned long nr_reclaimed;\toffset:8;\tsize:8;\tsigned:0;\n"),
    ("migrate:mm_migrate_pages_start", "\tfield:enum migrate_mode mode;\toffset:8;\tsize:4;\tsigned:0;\n\tfield:int reason;\toffset:12;\tsize:4;\tsigned:1;\n"),
    ("migrate:mm_migrate_pages", "\tfield:unsigned long succeeded;\toffset:8;\tsize:8;\tsigned:0;\n\tfield:unsigned long failed;\toffset:16;\tsize:8;\tsigned:0;\n\tfield:unsigned long thp_succeeded;\toffset:24;\tsize:8;\tsigned:0;\n\tfield:unsigned long thp_failed;\toffset:32;\tsize:8;\tsigned:0;\n\tfield:unsigned long thp_split;\toffset:40;\tsize:8;\tsigned:0;\n\tfield:unsigned long large_folio_split;\toffset:48;\tsize:8;\tsigned:0;\n\tfield:enum migrate_mode mode;\toffset:56;\tsize:4;\tsigned:0;\n\tfield:int reason;\toffset:60;\tsize:4;\tsigned:1;\n"),
    ("power:cpu_frequency", "\tfield:u32 state;\toffset:8;\tsize:4;\tsigned:0;\n\tfield:u32 cpu_id;\toffset:12;\tsize:4;\tsigned:0;\n"),
    ("lock:contention_begin", "\tfield:void * lock_addr;\toffset:8;\tsize:8;\tsigned:0;\n\tfield:unsigned int flags;\toffset:16;\tsize:4;\tsigned:0;\n"),
    ("lock:contention_end", "\tfield:void * lock_addr;\toffset:8;\tsize:8;\tsigned:0;\n\tfield:int ret;\toffset:16;\tsize:4;\tsigned:1;\n"),
];

impl Target for Fixture {
    fn tracepoints(&self) -> Vec<String> {
        FIXTURE_FORMATS.iter().map(|(n, _)| n.to_string()).collect()
    }

    fn tracepoint_format(&self, category: &str, name: &str) -> Option<Vec<TracepointField>> {
        let full = format!("{category}:{name}");
        FIXTURE_FORMATS.iter().find(|(n, _)| *n == full).map(|(_, f)| parse_tracepoint_format(f))
    }

    /// A small BTF with `struct task_struct`, `struct sock` and friends
    /// ([`crate::btf::fixture`]).
    fn kernel_btf(&self) -> Option<&crate::btf::Reader> {
        static BTF: std::sync::OnceLock<crate::btf::Reader> = std::sync::OnceLock::new();
        Some(BTF.get_or_init(|| {
            crate::btf::Reader::new(crate::btf::fixture::vmlinux()).expect("fixture BTF")
        }))
    }

    /// One module, `fixmod` ([`crate::btf::fixture::module`]), split BTF on top of
    /// [`Fixture::kernel_btf`]'s.
    fn module_btf(&self, module: &str) -> Result<std::sync::Arc<crate::btf::Reader>, String> {
        use std::sync::{Arc, OnceLock};
        static BTF: OnceLock<Arc<crate::btf::Reader>> = OnceLock::new();
        if module != crate::btf::fixture::MODULE {
            return Err(module_not_loaded(module));
        }
        let read = || {
            let base = Arc::new(crate::btf::Reader::new(crate::btf::fixture::vmlinux()).unwrap());
            let blob = crate::btf::fixture::module(&base);
            Arc::new(crate::btf::Reader::split(base, blob).expect("fixture module BTF"))
        };
        Ok(BTF.get_or_init(read).clone())
    }

    fn btf_modules(&self) -> Vec<String> {
        vec![crate::btf::fixture::MODULE.to_string()]
    }

    fn traceable_function_lines(&self) -> Option<&[FilterFunction]> {
        static LINES: std::sync::OnceLock<Vec<FilterFunction>> = std::sync::OnceLock::new();
        let lines = LINES.get_or_init(|| {
            parse_filter_functions("vfs_read\nvfs_write\nvfs_open\nksys_read\nlo_rw_aio [loop]\n")
        });
        Some(lines)
    }

    fn kernel_symbol(&self, name: &str) -> Option<u64> {
        FIXTURE_KSYMS.iter().find(|(n, _)| *n == name).map(|(_, a)| *a)
    }

    fn kernel_symbol_names(&self) -> Vec<String> {
        FIXTURE_KSYMS.iter().map(|(n, _)| n.to_string()).collect()
    }

    fn user_symbol(&self, binary: &str, symbol: &str) -> Result<u64, String> {
        match (binary, symbol) {
            ("/bin/bash", "main") => Ok(0x30f40),
            ("/bin/bash", _) => Err(format!("no symbol `{symbol}` in `{binary}`")),
            _ => Err(format!("cannot read `{binary}`")),
        }
    }

    /// `/fixture/app` has five functions, two of them C++; `/fixture/stripped` none.
    fn user_functions(&self, binary: &str) -> Option<Result<Vec<UserFunction>, String>> {
        let functions = [
            ("main", None),
            ("work_a", None),
            ("work_b", None),
            ("_ZN2ns1fEi", Some("ns::f")),
            ("_ZN2ns1gEv", Some("ns::g")),
        ];
        match binary {
            "/fixture/app" => Some(Ok(functions
                .iter()
                .map(|(n, d)| (n.to_string(), d.map(str::to_string)))
                .collect())),
            "/fixture/stripped" => Some(Err(format!("`{binary}` has no symbol table (stripped?)"))),
            _ => None,
        }
    }

    /// `/usr/bin/fixture`: `demo:two` (a semaphore; a register and a stack operand),
    /// `demo:three` and `demo:inlined` at two locations; `/bin/bash`: none.
    fn usdt_probes(&self, binary: &str) -> Result<Vec<crate::providers::UsdtNote>, String> {
        let note = |provider: &str, name: &str, pc: u64, semaphore: u64, args: &str| {
            crate::providers::UsdtNote {
                path: "/usr/bin/fixture".into(),
                provider: provider.into(),
                name: name.into(),
                pc,
                file_offset: pc,
                semaphore,
                args: args.into(),
            }
        };
        match binary {
            "/usr/bin/fixture" | "fixture" => Ok(vec![
                note("demo", "two", 0x10a5, 0x3010, "-4@%edx -8@8(%rsp)"),
                note("demo", "three", 0x10a9, 0, "-4@%ebx 1@$7 1@%dl"),
                note("demo", "inlined", 0x1100, 0, "8@%rdi"),
                note("demo", "inlined", 0x1200, 0, "8@-16(%rbp)"),
            ]),
            "/bin/bash" => Ok(Vec::new()),
            _ => Err(format!("no binary or library `{binary}`")),
        }
    }

    fn cgroup_id(&self, path: &str) -> Result<u64, String> {
        match path {
            "/sys/fs/cgroup" => Ok(1),
            "/sys/fs/cgroup/system.slice" => Ok(0x40),
            _ => Err(format!("`{path}`: No such file or directory")),
        }
    }

    /// `/fixture/prog` was built with `-g`: `int dw_target(int i, long l, char *s, struct pt
    /// { int x; int y; } *p, unsigned char c)`; `/fixture/stripped` has no debug info.
    fn user_function(
        &self,
        binary: &str,
        function: &str,
    ) -> Result<crate::providers::dwarf_args::UserFunction, String> {
        use std::sync::Arc;

        use crate::{
            providers::dwarf_args::{UserFunction, UserParam},
            Ty,
        };
        if binary != "/fixture/prog" {
            return Err(no_dwarf(binary));
        }
        if function != "dw_target" {
            return Err(format!("no function `{function}` in the DWARF debug info of {binary}"));
        }
        let int = Ty::Int { bits: 32, signed: true };
        let field = |name: &str, offset_bits| crate::types::Field {
            name: name.into(),
            ty: int.clone(),
            offset_bits,
            bitfield_size: None,
        };
        let pt = crate::types::Record {
            name: "pt".into(),
            kind: crate::types::RecordKind::Struct,
            size: 8,
            fields: Some(vec![field("x", 0), field("y", 32)]),
            btf_id: None,
        };
        let param = |name: &str, ty: Ty, c_type: &str| UserParam {
            name: name.into(),
            ty,
            c_type: c_type.into(),
        };
        let user_ptr = |to| Ty::Ptr { to: Box::new(to), user: true };
        Ok(UserFunction {
            params: vec![
                param("i", int.clone(), "int"),
                param("l", Ty::I64, "long int"),
                param("s", user_ptr(Ty::Int { bits: 8, signed: true }), "char *"),
                param("p", user_ptr(Ty::Record(Arc::new(pt))), "struct pt *"),
                param("c", Ty::Int { bits: 8, signed: false }, "unsigned char"),
            ],
            ret: Some((int, "int".into())),
        })
    }
}

/// Kernel symbols of the fixture target.
const FIXTURE_KSYMS: &[(&str, u64)] = &[
    ("vfs_read", 0xffff_ffff_8140_0000),
    ("vfs_write", 0xffff_ffff_8140_0400),
    ("jiffies", 0xffff_ffff_8260_0000),
    ("process_counts", 0x2_4e40),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_format_fields() {
        let fields = Fixture.tracepoint_format("block", "block_rq_issue").unwrap();
        let comm = fields.iter().find(|f| f.name == "comm").unwrap();
        assert_eq!((comm.c_type.as_str(), comm.offset, comm.size), ("char[16]", 44, 16));
        let cmd = fields.iter().find(|f| f.name == "cmd").unwrap();
        assert!(cmd.data_loc);
        assert_eq!(cmd.c_type, "char[]");
        let fields = Fixture.tracepoint_format("syscalls", "sys_enter_openat").unwrap();
        let filename = fields.iter().find(|f| f.name == "filename").unwrap();
        assert_eq!((filename.c_type.as_str(), filename.offset), ("const char *", 24));
    }
}
