//! The kernel's BTF, read from `/sys/kernel/btf/vmlinux` (about 5 MiB) and handed to the
//! compiler's [`Reader`], which does all the parsing. Read only when something needs it
//! (kernel types, fentry/fexit and tp_btf attach ids, through [`Target::kernel_btf`]), which keeps
//! start-up at a few milliseconds for every other script.
//!
//! [`Target::kernel_btf`]: bpfscope_compiler::Target::kernel_btf

#[cfg(test)]
use bpfscope_compiler::btf::Kind;
use std::sync::Arc;

use bpfscope_compiler::btf::Reader;

/// Where the kernel publishes its own BTF.
pub(crate) const VMLINUX: &str = "/sys/kernel/btf/vmlinux";

/// The kernel's BTF: mapped where the kernel allows it (Linux 6.16 and later map its pages
/// straight from kernel memory, so the 5 MiB count nothing in the whole-run peak RSS), else
/// read.
pub(crate) fn vmlinux() -> Result<Reader, String> {
    let reader = match bpfscope_sys::mapped::MappedFile::open(std::path::Path::new(VMLINUX)) {
        Ok(mapped) => Reader::from_bytes(mapped),
        Err(_) => Reader::new(
            std::fs::read(VMLINUX).map_err(|e| format!("reading kernel BTF ({VMLINUX}): {e}"))?,
        ),
    };
    reader.map_err(|e| format!("kernel BTF ({VMLINUX}): {e}"))
}

/// Whether the kernel's BTF has `record` (`struct cfs_rq`) with a member `member` (in it or
/// in an anonymous struct or union inside it): what a tool whose kernels differ by a field
/// reads before it picks its script. `false` when there is no BTF to read.
pub fn kernel_has_member(record: &str, member: &str) -> bool {
    let Ok(reader) = vmlinux() else { return false };
    let Ok(bpfscope_compiler::Ty::Record(found)) = reader.type_named(record) else {
        return false;
    };
    let Ok(found) = reader.complete(&found) else { return false };
    has_member(&reader, &found, member)
}

fn has_member(reader: &Reader, record: &bpfscope_compiler::types::Record, member: &str) -> bool {
    record.fields.as_deref().unwrap_or(&[]).iter().any(|field| {
        field.name == member
            || match (&field.ty, field.name.is_empty()) {
                (bpfscope_compiler::Ty::Record(inner), true) => {
                    reader.complete(inner).is_ok_and(|inner| has_member(reader, &inner, member))
                }
                _ => false,
            }
    })
}

/// Where the kernel publishes each loaded module's BTF (split BTF on top of vmlinux's).
const BTF_DIR: &str = "/sys/kernel/btf";

/// The BTF of kernel module `module` on top of `base` (vmlinux's), mapped or read as
/// [`vmlinux`]'s; a module that is not loaded has no file, and says so.
pub(crate) fn module(base: Arc<Reader>, module: &str) -> Result<Reader, String> {
    let path = std::path::Path::new(BTF_DIR).join(module);
    if module == "vmlinux" || module.contains('/') || !path.exists() {
        return Err(bpfscope_compiler::target::module_not_loaded(module));
    }
    let reader = match bpfscope_sys::mapped::MappedFile::open(&path) {
        Ok(mapped) => Reader::split(base, mapped),
        Err(_) => Reader::split(
            base,
            std::fs::read(&path).map_err(|e| format!("reading {}: {e}", path.display()))?,
        ),
    };
    reader.map_err(|e| format!("module BTF ({}): {e}", path.display()))
}

/// The loaded modules that publish BTF, sorted.
pub(crate) fn modules() -> Vec<String> {
    let entries = std::fs::read_dir(BTF_DIR).into_iter().flatten().flatten();
    let mut names: Vec<String> = entries
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|name| name != "vmlinux")
        .collect();
    names.sort();
    names
}

/// The id of the `FUNC` named `name` in a BTF blob, `None` also when it is not BTF.
#[cfg(test)]
fn function_id(data: Vec<u8>, name: &str) -> Option<u32> {
    Reader::new(data).ok()?.find(name, Kind::Func)
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use bpfscope_compiler::{btf::Kind, types::RecordKind, Ty};

    /// A hand-made blob: INT "int" (1), FUNC_PROTO with one parameter (2), FUNC "alpha" (3),
    /// STRUCT with two members (4), FUNC "beta" (5).
    fn blob() -> Vec<u8> {
        let strings = b"\0int\0alpha\0beta\0s\0a\0b\0";
        let words: Vec<u32> = vec![
            1,
            1 << 24,
            4,
            32, // INT int, 4 bytes
            0,
            (13 << 24) | 1,
            1,
            0,
            1, // FUNC_PROTO(int) -> int
            5,
            12 << 24,
            2, // FUNC alpha
            16,
            (4 << 24) | 2,
            8,
            18,
            1,
            0,
            20,
            1,
            32, // STRUCT s { a, b }
            11,
            12 << 24,
            2, // FUNC beta
        ];
        let types: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        let mut out = vec![0x9f, 0xeb, 1, 0];
        for w in [24u32, 0, types.len() as u32, types.len() as u32, strings.len() as u32] {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out.extend_from_slice(&types);
        out.extend_from_slice(strings);
        out
    }

    #[test]
    fn finds_functions_past_records_of_every_size() {
        assert_eq!(super::function_id(blob(), "alpha"), Some(3));
        assert_eq!(super::function_id(blob(), "beta"), Some(5));
        assert_eq!(super::function_id(blob(), "int"), None);
        assert_eq!(super::function_id(blob(), "gamma"), None);
        assert_eq!(super::function_id(b"junk".to_vec(), "alpha"), None);
    }

    /// A `tp_btf` program loads against a kernel BTF object passed as `attach_btf_obj_fd`
    /// (how a module's tracepoint or function is named): vmlinux's here, which has no
    /// modules with BTF. A field at the wrong offset of `bpf_attr` would be refused.
    #[test]
    fn a_program_loads_against_a_kernel_btf_object() {
        use bpfscope_sys::load::{attach_type, prog_load, prog_type, ProgLoad};
        use std::os::fd::AsFd;
        if bpfscope_sys::geteuid() != 0 || !std::path::Path::new(super::VMLINUX).exists() {
            eprintln!("SKIPPED a_program_loads_against_a_kernel_btf_object: needs root and BTF");
            return;
        }
        let reader = super::vmlinux().unwrap();
        let id = reader.find("btf_trace_sched_switch", Kind::Typedef).expect("the typedef");
        let vmlinux = bpfscope_sys::load::kernel_btf_fd("vmlinux").unwrap().expect("vmlinux");
        // r0 = 0; exit
        let insns = [0xb7u8, 0, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0];
        let load = |obj| ProgLoad {
            prog_type: prog_type::TRACING,
            expected_attach_type: attach_type::TRACE_RAW_TP,
            insns: &insns,
            name: "bpfscope_objfd",
            btf: None,
            func_info: &[],
            attach_btf_id: id,
            attach_btf_obj: obj,
            license: "GPL",
            log_size: 1 << 16,
        };
        let with_obj = prog_load(&load(Some(vmlinux.as_fd())));
        assert!(with_obj.is_ok(), "{:?}", with_obj.err().map(|e| e.error));
        assert!(prog_load(&load(None)).is_ok());
        // The kernel reads the field: an fd that is no BTF object is refused.
        let not_btf = std::fs::File::open("/dev/null").unwrap();
        assert!(prog_load(&load(Some(not_btf.as_fd()))).is_err());
    }

    /// Against the running kernel, when it publishes BTF (every kernel we support does).
    #[test]
    fn reads_the_live_kernel_btf() {
        if !std::path::Path::new(super::VMLINUX).exists() {
            eprintln!("skipped: no {}", super::VMLINUX);
            return;
        }
        let start = Instant::now();
        let reader = super::vmlinux().unwrap();
        let read = start.elapsed();
        let func = reader.find("vfs_read", Kind::Func).expect("vfs_read");
        let first_lookup = start.elapsed() - read;
        let again = Instant::now();
        assert_eq!(reader.find("vfs_read", Kind::Func), Some(func));
        let second_lookup = again.elapsed();
        let again = Instant::now();
        assert!(reader.find("vfs_write", Kind::Func).is_some());
        let third_lookup = again.elapsed();
        let function = reader.function("vfs_read").unwrap();
        assert_eq!(function.params.len(), 4, "{function:?}");
        assert!(function.params[0].1.is_pointer());

        let resolve = Instant::now();
        let Ty::Record(task) = reader.type_named("struct task_struct").unwrap() else {
            panic!("task_struct is not a record");
        };
        let resolved = resolve.elapsed();
        assert_eq!((task.kind, task.name.as_str()), (RecordKind::Struct, "task_struct"));
        assert!(task.size > 1000, "{}", task.size);
        let pid = task.field("pid").expect("task_struct has pid");
        assert_eq!(pid.ty, Ty::Int { bits: 32, signed: true });
        assert!(pid.offset_bits > 0 && pid.offset_bits % 32 == 0);
        // A pointer member's target is not expanded until asked for.
        let Some(Ty::Ptr { to, .. }) = task.field("mm").map(|f| &f.ty) else { panic!("mm") };
        let Ty::Record(mm) = &**to else { panic!("mm is not a record pointer") };
        assert!(mm.fields.is_none());
        // `pgd` sits in an anonymous struct (the kernel groups members by cache line).
        let mm = reader.complete(mm).unwrap();
        let anonymous = mm.fields.as_ref().unwrap().iter().filter_map(|f| match &f.ty {
            Ty::Record(inner) if f.name.is_empty() => Some(inner.clone()),
            _ => None,
        });
        assert!(anonymous.into_iter().any(|inner| inner.field("pgd").is_some()), "{mm:?}");
        eprintln!(
            "vmlinux BTF: read {read:?}, {} types, first lookup (a search) {first_lookup:?}, \
             second (indexing names) {second_lookup:?}, third {third_lookup:?}, \
             struct task_struct {resolved:?}{}",
            reader.type_count(),
            if cfg!(debug_assertions) {
                " (unoptimized: release is 20-50 times faster)"
            } else {
                ""
            }
        );
        assert!(first_lookup.as_secs() < 2 && resolved.as_secs() < 2);
    }
}
