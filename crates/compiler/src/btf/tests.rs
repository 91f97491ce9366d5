//! The reader reads back what the writer writes: every kind the language resolves, and the
//! `func_info` BTF objects carry.

use std::sync::Arc;

use super::{build, Func, Kind, Member, Reader, Writer};
use crate::types::{Record, RecordKind, Ty};

const I32: Ty = Ty::Int { bits: 32, signed: true };

fn field<'a>(record: &'a Record, name: &str) -> &'a crate::types::Field {
    record.field(name).unwrap_or_else(|| panic!("no field {name} in {record:?}"))
}

fn record(ty: &Ty) -> &Arc<Record> {
    let Ty::Record(record) = ty else { panic!("not a record: {ty:?}") };
    record
}

/// `struct task { int pid; unsigned flags:3, state:5; char comm[16]; struct task *parent;
/// union { long a; const volatile pid_t b; }; enum mode m; _Bool on; }` and a function
/// `long go(struct task *t, int __user *p, ...)`.
fn sample() -> (Vec<u8>, u32) {
    let mut w = Writer::new();
    let int = w.int("int", 4, true);
    let uint = w.int("unsigned int", 4, false);
    let char_ = w.int("char", 1, true);
    let long = w.int("long", 8, true);
    let pid_t = w.typedef("pid_t", int);
    let volatile = w.modifier(Kind::Volatile, "", pid_t);
    let const_ = w.modifier(Kind::Const, "", volatile);
    let comm = w.array(char_, int, 16);
    let mode = w.enumeration("mode", 4, false, &[("OFF", 0), ("ON", 1)]);
    let bool_ = {
        let name = w.string("_Bool");
        // `Writer::int` has no `_Bool` encoding: write it as the kernel does.
        let words = [name, super::info(Kind::Int, 0, false), 1, (super::INT_BOOL << 24) | 8];
        let bytes: Vec<u8> = words.iter().flat_map(|x| x.to_le_bytes()).collect();
        w.raw(&bytes)
    };
    let anon = w.record(
        "",
        true,
        8,
        &[
            Member { name: "a", ty: long, offset_bits: 0, bitfield_size: 0 },
            Member { name: "b", ty: const_, offset_bits: 0, bitfield_size: 0 },
        ],
    );
    // The struct refers to a pointer to itself: ids are known before they are written.
    let task = anon + 2;
    let task_ptr = w.ptr(task);
    let written = w.record(
        "task",
        false,
        56,
        &[
            Member { name: "pid", ty: pid_t, offset_bits: 0, bitfield_size: 0 },
            Member { name: "flags", ty: uint, offset_bits: 32, bitfield_size: 3 },
            Member { name: "state", ty: uint, offset_bits: 35, bitfield_size: 5 },
            Member { name: "comm", ty: comm, offset_bits: 64, bitfield_size: 0 },
            Member { name: "parent", ty: task_ptr, offset_bits: 192, bitfield_size: 0 },
            Member { name: "", ty: anon, offset_bits: 256, bitfield_size: 0 },
            Member { name: "m", ty: mode, offset_bits: 320, bitfield_size: 0 },
            Member { name: "on", ty: bool_, offset_bits: 352, bitfield_size: 0 },
        ],
    );
    assert_eq!(written, task);
    let user = w.modifier(Kind::TypeTag, "user", int);
    let user_ptr = w.ptr(user);
    let (t, p) = (w.string("t"), w.string("p"));
    let proto = w.func_proto(long, &[(t, task_ptr), (p, user_ptr), (0, 0)]);
    w.func("go", proto, true);
    (w.finish(), task)
}

#[test]
fn resolves_structs_with_bitfields_arrays_unions_and_pointers() {
    let (blob, task_id) = sample();
    let reader = Reader::new(blob).unwrap();
    assert_eq!(reader.find("task", Kind::Struct), Some(task_id));
    let ty = reader.type_named("struct task").unwrap();
    assert_eq!(ty.name(), "struct task");
    assert_eq!((ty.size(), ty.c_size()), (56, 56));
    let task = record(&ty);
    assert_eq!((task.kind, task.btf_id), (RecordKind::Struct, Some(task_id)));
    let fields = task.fields.as_ref().unwrap();
    assert_eq!(fields.len(), 8);

    let pid = field(task, "pid");
    assert_eq!((&pid.ty, pid.offset_bits, pid.bitfield_size), (&I32, 0, None));
    let state = field(task, "state");
    assert_eq!((state.offset_bits, state.bitfield_size), (35, Some(5)));
    assert_eq!(state.ty, Ty::U32);
    let comm = field(task, "comm");
    assert_eq!(comm.ty, Ty::Str(16), "an array of `char` is a string");
    assert_eq!((comm.ty.c_size(), comm.offset_bits), (16, 64));

    // A pointer's record is not expanded until asked for.
    let parent = field(task, "parent");
    assert_eq!(parent.ty.name(), "struct task *");
    let Ty::Ptr { to, user: false } = &parent.ty else { panic!("{:?}", parent.ty) };
    assert!(record(to).fields.is_none());
    assert_eq!(**to, ty, "an unexpanded record is the same type as the full one");
    let full = reader.complete(record(to)).unwrap();
    assert_eq!(full.fields.as_ref().map(Vec::len), Some(8));

    // Typedefs, const and volatile are looked through; enums are integers.
    let anon = &fields[5];
    assert_eq!((anon.name.as_str(), anon.offset_bits), ("", 256));
    assert_eq!(anon.ty.name(), "union (anonymous)");
    assert_eq!(field(record(&anon.ty), "b").ty, I32);
    assert_eq!(field(task, "m").ty, mode_enum());
    assert_eq!(field(task, "on").ty, Ty::Bool);
}

#[test]
fn resolves_functions_and_user_pointers() {
    let (blob, task_id) = sample();
    let reader = Reader::new(blob).unwrap();
    let go = reader.function("go").unwrap();
    assert_eq!(reader.kind(go.id), Some(Kind::Func));
    assert_eq!(reader.name(go.id), "go");
    assert_eq!(go.ret, Ty::I64);
    assert!(go.variadic);
    let names: Vec<String> = go.params.iter().map(|(n, t)| format!("{n}: {}", t.name())).collect();
    assert_eq!(names, ["t: struct task *", "p: int32 *"]);
    assert_eq!(go.params[1].1, Ty::Ptr { to: Box::new(I32), user: true });
    let Ty::Ptr { to, .. } = &go.params[0].1 else { panic!() };
    assert_eq!(record(to).btf_id, Some(task_id));
    assert_eq!(reader.type_named("pid_t"), Ok(I32));
    assert_eq!(reader.type_named("enum mode"), Ok(mode_enum()));
}

/// `enum mode { OFF, ON }` of the sample: a `uint32` that `%s` prints by name.
fn mode_enum() -> Ty {
    let values = vec![("OFF".into(), 0), ("ON".into(), 1)];
    let e = crate::types::EnumTy { name: "mode".into(), bits: 32, signed: false, values };
    assert!(Ty::Enum(e.clone().into()).is_integer() && e.int() == Ty::U32);
    assert_eq!((e.name_of(1), e.name_of(7)), ("ON".to_string(), "7".to_string()));
    Ty::Enum(e.into())
}

#[test]
fn reports_what_is_missing_or_malformed() {
    let (blob, _) = sample();
    let reader = Reader::new(blob.clone()).unwrap();
    assert_eq!(reader.function("stop"), Err(super::BtfError::NotFound("stop".into())));
    assert_eq!(reader.find("go", Kind::Struct), None);
    assert_eq!(reader.find("task", Kind::Func), None);
    assert!(reader.resolve(9999).is_err());
    let func = reader.find("go", Kind::Func).unwrap();
    assert_eq!(reader.resolve(func), Err(super::BtfError::NotAValue { id: func }));
    assert!(Reader::new(b"junk".to_vec()).is_err());
    let mut truncated = blob;
    truncated.truncate(40);
    assert!(Reader::new(truncated).is_err());
}

#[test]
fn finds_every_name_among_many() {
    let mut w = Writer::new();
    let int = w.int("int", 4, true);
    let names: Vec<String> = (0..3000).map(|i| format!("function_number_{i}")).collect();
    let proto = w.func_proto(int, &[]);
    let ids: Vec<u32> = names.iter().map(|n| w.func(n, proto, false)).collect();
    let reader = Reader::new(w.finish()).unwrap();
    assert_eq!(reader.type_count(), 3003);
    for (name, id) in names.iter().zip(ids) {
        assert_eq!(reader.find(name, Kind::Func), Some(id), "{name}");
    }
    assert_eq!(reader.find("function_number_", Kind::Func), None);
    assert_eq!(reader.find("", Kind::Func), None);
}

#[test]
fn reads_the_func_info_btf_objects_carry() {
    let funcs = [
        Func { name: "p0_main", section: "kprobe/p0_main", offset: 0, args: 1, program: true },
        Func { name: "cb0", section: ".text", offset: 64, args: 4, program: false },
    ];
    let (btf, ext, ids) = build(&funcs);
    assert_eq!(&ext[0..2], &super::MAGIC.to_le_bytes());
    let reader = Reader::new(btf).unwrap();
    for (func, id) in funcs.iter().zip(ids) {
        let read = reader.function(func.name).unwrap();
        assert_eq!(read.id, id);
        assert_eq!(read.ret, Ty::I64);
        let void_ptr = Ty::Ptr { to: Box::new(Ty::None), user: false };
        assert!(read.params.iter().all(|(_, ty)| *ty == void_ptr));
        assert_eq!(read.params.len(), func.args);
        assert_eq!(void_ptr.name(), "void *");
    }
}

#[test]
fn function_pointers_are_void_pointers() {
    let mut w = Writer::new();
    let int = w.int("int", 4, true);
    let proto = w.func_proto(int, &[]);
    let handler_t = w.typedef("handler_t", proto);
    let (through_typedef, direct) = (w.ptr(handler_t), w.ptr(proto));
    let reader = Reader::new(w.finish()).unwrap();
    assert_eq!(reader.resolve(through_typedef).unwrap().name(), "void *");
    assert_eq!(reader.resolve(direct).unwrap().name(), "void *");
    assert_eq!(reader.resolve(handler_t), Err(super::BtfError::NotAValue { id: proto }));
}

#[test]
fn loops_in_a_malformed_blob_end() {
    let mut w = Writer::new();
    let a = w.typedef("a", 2);
    let b = w.typedef("b", a);
    let (ptr_a, const_b) = (w.ptr(a), w.modifier(Kind::Const, "", b));
    let ptr_const = w.ptr(const_b);
    let reader = Reader::new(w.finish()).unwrap();
    for id in [a, ptr_a, ptr_const] {
        assert!(matches!(reader.resolve(id), Err(super::BtfError::TooDeep { .. })), "{id}");
    }
}

#[test]
fn the_first_lookup_searches_and_later_ones_agree() {
    let (blob, _) = sample();
    let queries = [
        ("task", Kind::Struct),
        ("task", Kind::Func),
        ("pid_t", Kind::Typedef),
        ("go", Kind::Func),
        ("", Kind::Ptr),
        ("", Kind::Union),
        ("in", Kind::Int),
        ("int", Kind::Int),
        ("user", Kind::TypeTag),
    ];
    let indexed = Reader::new(blob.clone()).unwrap();
    indexed.find("warm up", Kind::Int);
    for (name, kind) in queries {
        let fresh = Reader::new(blob.clone()).unwrap();
        assert_eq!(fresh.find(name, kind), indexed.find(name, kind), "{name} {kind:?}");
    }
    assert_eq!(indexed.find("int", Kind::Int), Some(1));
}

/// A record asked for twice is resolved once and shared; a name asked for twice is searched
/// once, without building the name table.
#[test]
fn repeated_lookups_hit_the_caches() {
    let (blob, _) = sample();
    let reader = Reader::new(blob).unwrap();
    let first = reader.type_named("struct task").unwrap();
    assert!(!reader.indexed_names());
    let second = reader.type_named("struct task").unwrap();
    assert!(!reader.indexed_names(), "a repeated name must not index every name");
    assert!(Arc::ptr_eq(record(&first), record(&second)));
    // Through a pointer the record is opaque; completing it gives the cached one.
    let Some(Ty::Ptr { to, .. }) = record(&first).field("parent").map(|f| f.ty.clone()) else {
        panic!("parent is not a pointer")
    };
    let completed = reader.complete(record(&to)).unwrap();
    assert!(Arc::ptr_eq(&completed, record(&first)));
    assert_eq!(reader.find("task", Kind::Struct), reader.find("task", Kind::Struct));
    assert!(reader.find("mode", Kind::Enum).is_some());
    assert!(reader.indexed_names(), "a second, different name builds the table");
}

/// Split BTF (a module's) read on top of its base: ids and string offsets continue the
/// base's, module types refer to base types, lookups look in the module then the base.
#[test]
fn split_btf_continues_its_base() {
    use crate::{btf::fixture, target::Target};
    let base = Arc::new(Reader::new(fixture::vmlinux()).unwrap());
    let base_count = base.type_count();
    let blob = fixture::module(&base);
    // The module's own string section starts at the base's length: its header says only
    // its own bytes.
    let header = super::Header::parse(&blob).unwrap();
    assert!(header.str_len < base.strings_len(), "{header:?}");
    let module = Reader::split(base.clone(), blob).unwrap();
    assert_eq!(module.own_ids().start, base_count);
    assert_eq!(module.type_count(), base_count + 15);
    // Its own types, by name; their ids follow the base's.
    let dev_id = module.find("fix_dev", Kind::Struct).unwrap();
    assert!(dev_id >= base_count, "{dev_id} < {base_count}");
    assert_eq!(base.find("fix_dev", Kind::Struct), None);
    let Ty::Record(dev) = module.type_named("struct fix_dev").unwrap() else { panic!() };
    assert_eq!((dev.size, dev.btf_id), (32, Some(dev_id)));
    assert_eq!(field(&dev, "id").ty, I32);
    assert_eq!(field(&dev, "comm").ty, Ty::Str(16));
    assert_eq!(field(&dev, "comm").offset_bits, 128);
    let Ty::Enum(state) = &field(&dev, "state").ty else { panic!("state is an enum") };
    assert_eq!(state.values, [("FIX_IDLE".to_string(), 0), ("FIX_BUSY".to_string(), 2)]);
    // A member pointing to a base type, completed through the module reader.
    let Ty::Ptr { to, .. } = &field(&dev, "owner").ty else { panic!("owner is a pointer") };
    let task = module.complete(record(to)).unwrap();
    assert_eq!((task.name.as_str(), task.size), ("task_struct", 128));
    // Base types through the module: lookups fall back to the base, same ids.
    assert_eq!(module.find("task_struct", Kind::Struct), base.find("task_struct", Kind::Struct));
    assert!(matches!(module.type_named("struct task_struct"), Ok(Ty::Record(_))));
    assert_eq!(module.type_named("pid_t").unwrap(), I32);
    assert_eq!(module.enum_constant("FIX_BUSY"), Some(2));
    assert_eq!(module.enum_constant("PIDTYPE_SID"), Some(3));
    // Functions and raw tracepoints of the module, typed with base types.
    let open = module.function("fix_open").unwrap();
    assert!(open.id >= base_count);
    let names: Vec<&str> = open.params.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!((names, open.ret), (vec!["dev", "flags"], I32));
    let event = module.raw_tracepoint("fix_event").unwrap();
    assert_eq!(event.params.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), ["dev", "code"]);
    // `named` lists only the module's own functions (for `fentry:fixmod:*`).
    let funcs: Vec<&str> = module.named(Kind::Func).map(|(_, n)| n).collect();
    assert_eq!(funcs, ["fix_open", "fix_close", "__bpf_trace_fix_event"]);
    // A second, different name builds the name table (over own ids, with global ids).
    assert_eq!(module.find("fix_close", Kind::Func), Some(open.id + 2));
    assert!(module.indexed_names());
    assert_eq!(module.find("fix_state", Kind::Enum), Some(base_count));
    // The fixture target publishes it, and nothing else.
    let fixture = crate::target::Fixture;
    assert!(fixture.module_btf("fixmod").is_ok());
    assert_eq!(
        fixture.module_btf("nf_tables").err().unwrap(),
        "module 'nf_tables' is not loaded (no /sys/kernel/btf/nf_tables)"
    );
}

/// Split BTF whose base is missing types or whose blob is cut short fails cleanly.
#[test]
fn split_btf_rejects_bad_blobs() {
    let base = Arc::new(Reader::new(super::fixture::vmlinux()).unwrap());
    let mut blob = super::fixture::module(&base);
    assert!(Reader::split(base.clone(), b"junk".to_vec()).is_err());
    blob.truncate(blob.len() - 40);
    assert!(Reader::split(base.clone(), blob).is_err());
    let module = Reader::split(base.clone(), super::fixture::module(&base)).unwrap();
    assert_eq!(
        module.resolve(module.type_count()),
        Err(super::BtfError::NoType(module.type_count()))
    );
}
