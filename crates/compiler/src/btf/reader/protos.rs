//! Prototypes beyond `FUNC`s, for typed probe arguments: the `btf_trace_<event>` typedefs
//! that type a raw tracepoint's arguments, the parameter type ids a listing spells as C, and
//! the names of every type of a kind (fentry wildcards and "did you mean" suggestions).
//!
//! The typedef is how the kernel publishes a tracepoint's prototype
//! (`include/trace/bpf_probe.h`): `typedef void (*btf_trace_sched_switch)(void *, bool,
//! struct task_struct *, struct task_struct *, unsigned int);`, whose first parameter is
//! the tracepoint's private data and not an argument. Its id is what a `tp_btf` program
//! attaches by, but its parameters have no names: those come, as bpftrace takes them, from
//! the function the same header generates for each tracepoint with the same prototype,
//! `__bpf_trace_<event>(void *__data, bool preempt, struct task_struct *prev, ...)` (or
//! `__probestub_<event>` where that one is missing; on kernels that have neither for an
//! event defined from a class, as 6.1's `sched_wakeup`, `__bpf_trace_<class>` with the same
//! parameter types).

use super::{word, BtfError, Function, Kind, Reader};

/// The prefix of the typedef that carries a raw tracepoint's prototype.
pub const TRACE_TYPEDEF_PREFIX: &str = "btf_trace_";

impl Reader {
    /// Every type of `kind` that has a name, as (id, name), in id order; for split BTF (a
    /// module's), only its own types, not its base's.
    pub fn named(&self, kind: Kind) -> impl Iterator<Item = (u32, &str)> + '_ {
        self.own_ids().filter_map(move |id| {
            let raw = self.raw(id).ok()?;
            if raw.kind != Some(kind) || raw.name_off == 0 {
                return None;
            }
            Some((id, std::str::from_utf8(self.string(raw.name_off)).ok()?))
        })
    }

    /// The arguments of raw tracepoint `event`, named, without the leading `void *`; the
    /// [`Function`]'s id is its `btf_trace_<event>` typedef's (what a `tp_btf` program
    /// attaches by).
    pub fn raw_tracepoint(&self, event: &str) -> Result<Function, BtfError> {
        let (typedef, proto) = self.raw_tracepoint_proto(event)?;
        let mut function = self.prototype(typedef, event, proto)?;
        if !function.params.is_empty() {
            function.params.remove(0);
        }
        Ok(function)
    }

    /// The parameters of a `FUNC` (by id), or of raw tracepoint `event` (`id` 0), as
    /// (name, type id), and the return type id (0 for `void`): what a listing spells as C.
    /// A raw tracepoint's leading `void *` is left out.
    pub fn param_ids(&self, id: u32, event: &str) -> Result<(Vec<(String, u32)>, u32), BtfError> {
        let (proto_id, skip) = match id {
            0 => (self.raw_tracepoint_proto(event)?.1, 1),
            _ => (self.raw(id)?.size_or_type, 0),
        };
        let proto = self.raw(proto_id)?;
        let mut params = Vec::new();
        for i in skip..proto.vlen {
            let (name_off, ty) = (word(proto.extra, i * 8)?, word(proto.extra, i * 8 + 4)?);
            if name_off == 0 && ty == 0 {
                continue;
            }
            params.push((String::from_utf8_lossy(self.string(name_off)).into_owned(), ty));
        }
        Ok((params, proto.size_or_type))
    }

    /// The `btf_trace_<event>` typedef's id and the prototype with parameter names.
    fn raw_tracepoint_proto(&self, event: &str) -> Result<(u32, u32), BtfError> {
        let name = format!("{TRACE_TYPEDEF_PREFIX}{event}");
        let typedef = self.find(&name, Kind::Typedef).ok_or(BtfError::NotFound(name))?;
        let named = ["__bpf_trace_", "__probestub_"]
            .iter()
            .find_map(|prefix| self.find(&format!("{prefix}{event}"), Kind::Func));
        let proto = match named {
            Some(func) => self.raw(func)?.size_or_type,
            None => {
                let unnamed = self.typedef_proto(typedef)?;
                self.class_proto(event, unnamed).unwrap_or(unnamed)
            }
        };
        Ok((typedef, proto))
    }

    /// The named prototype of an event defined from a class (`DEFINE_EVENT(sched_wakeup_template,
    /// sched_wakeup, ...)`) on kernels that generate `__bpf_trace_<class>` only (6.1: no
    /// `__probestub_<event>` yet): a `__bpf_trace_` function whose parameter types are the
    /// typedef's. Where several classes have those types and name the parameters
    /// differently, the class whose name shares the longest prefix with the event's;
    /// `None` when nothing matches.
    fn class_proto(&self, event: &str, unnamed: u32) -> Option<u32> {
        let types = |proto: u32| -> Option<Vec<u32>> {
            let raw = self.raw(proto).ok()?;
            (0..raw.vlen).map(|i| word(raw.extra, i * 8 + 4).ok()).collect()
        };
        let names = |proto: u32| -> Option<Vec<u32>> {
            let raw = self.raw(proto).ok()?;
            (0..raw.vlen).map(|i| word(raw.extra, i * 8).ok()).collect()
        };
        let wanted = types(unnamed)?;
        let common = |a: &str| a.bytes().zip(event.bytes()).take_while(|(x, y)| x == y).count();
        let mut candidates: Vec<(usize, u32)> = self
            .named(Kind::Func)
            .filter_map(|(id, name)| Some((name.strip_prefix("__bpf_trace_")?, id)))
            .filter_map(|(class, id)| {
                let proto = self.raw(id).ok()?.size_or_type;
                (types(proto)? == wanted).then(|| (common(class), proto))
            })
            .collect();
        candidates.sort_by_key(|(common, _)| std::cmp::Reverse(*common));
        let (_, best) = *candidates.first()?;
        // The parameter names, as strings (each function has its own string offsets).
        let spelled = |proto: u32| -> Option<Vec<Vec<u8>>> {
            Some(names(proto)?.into_iter().map(|off| self.string(off).to_vec()).collect())
        };
        let agree = candidates.iter().all(|(_, p)| spelled(*p) == spelled(best));
        (agree || candidates.get(1).is_none_or(|(c, _)| *c < candidates[0].0)).then_some(best)
    }

    /// The `FUNC_PROTO` a typedef of a function pointer names.
    fn typedef_proto(&self, id: u32) -> Result<u32, BtfError> {
        let pointer = self.raw(id)?.size_or_type;
        let proto = self.raw(pointer)?;
        match (proto.kind, self.raw(proto.size_or_type)?.kind) {
            (Some(Kind::Ptr), Some(Kind::FuncProto)) => Ok(proto.size_or_type),
            _ => Err(BtfError::NotAValue { id }),
        }
    }
}
