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
//! `__probestub_<event>` where that one is missing).

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
            None => self.typedef_proto(typedef)?,
        };
        Ok((typedef, proto))
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
