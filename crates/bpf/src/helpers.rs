//! BPF helper function ids (`enum bpf_func_id` in `include/uapi/linux/bpf.h`).

/// The helpers the compiler calls. The discriminant is the kernel's helper id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum Helper {
    MapLookupElem = 1,
    MapUpdateElem = 2,
    MapDeleteElem = 3,
    ProbeRead = 4,
    KtimeGetNs = 5,
    GetPrandomU32 = 7,
    GetSmpProcessorId = 8,
    GetCurrentPidTgid = 14,
    GetCurrentUidGid = 15,
    GetCurrentComm = 16,
    GetCurrentTask = 35,
    GetStack = 67,
    GetCurrentCgroupId = 80,
    Jiffies64 = 118,
    ProbeReadUser = 112,
    ProbeReadKernel = 113,
    ProbeReadUserStr = 114,
    ProbeReadKernelStr = 115,
    KtimeGetBootNs = 125,
    SendSignal = 109,
    RingbufOutput = 130,
    RingbufQuery = 134,
    MapLookupPercpuElem = 195,
    ForEachMapElem = 164,
    GetFuncIp = 173,
    GetNumaNodeId = 42,
    KtimeGetTaiNs = 208,
    GetNsCurrentPidTgid = 120,
}

impl Helper {
    /// Every helper, for lookups by id.
    pub const ALL: &'static [Helper] = &[
        Helper::MapLookupElem,
        Helper::MapUpdateElem,
        Helper::MapDeleteElem,
        Helper::ProbeRead,
        Helper::KtimeGetNs,
        Helper::GetPrandomU32,
        Helper::GetSmpProcessorId,
        Helper::GetCurrentPidTgid,
        Helper::GetCurrentUidGid,
        Helper::GetCurrentComm,
        Helper::GetCurrentTask,
        Helper::GetStack,
        Helper::GetCurrentCgroupId,
        Helper::Jiffies64,
        Helper::ProbeReadUser,
        Helper::ProbeReadKernel,
        Helper::ProbeReadUserStr,
        Helper::ProbeReadKernelStr,
        Helper::KtimeGetBootNs,
        Helper::SendSignal,
        Helper::RingbufOutput,
        Helper::RingbufQuery,
        Helper::MapLookupPercpuElem,
        Helper::ForEachMapElem,
        Helper::GetFuncIp,
        Helper::GetNumaNodeId,
        Helper::KtimeGetTaiNs,
        Helper::GetNsCurrentPidTgid,
    ];

    /// The kernel's name for the helper, as the verifier prints it.
    pub const fn name(self) -> &'static str {
        match self {
            Helper::MapLookupElem => "bpf_map_lookup_elem",
            Helper::MapUpdateElem => "bpf_map_update_elem",
            Helper::MapDeleteElem => "bpf_map_delete_elem",
            Helper::ProbeRead => "bpf_probe_read",
            Helper::KtimeGetNs => "bpf_ktime_get_ns",
            Helper::GetPrandomU32 => "bpf_get_prandom_u32",
            Helper::GetSmpProcessorId => "bpf_get_smp_processor_id",
            Helper::GetCurrentPidTgid => "bpf_get_current_pid_tgid",
            Helper::GetCurrentUidGid => "bpf_get_current_uid_gid",
            Helper::GetCurrentComm => "bpf_get_current_comm",
            Helper::GetCurrentTask => "bpf_get_current_task",
            Helper::GetStack => "bpf_get_stack",
            Helper::GetCurrentCgroupId => "bpf_get_current_cgroup_id",
            Helper::Jiffies64 => "bpf_jiffies64",
            Helper::ProbeReadUser => "bpf_probe_read_user",
            Helper::ProbeReadKernel => "bpf_probe_read_kernel",
            Helper::ProbeReadUserStr => "bpf_probe_read_user_str",
            Helper::ProbeReadKernelStr => "bpf_probe_read_kernel_str",
            Helper::KtimeGetBootNs => "bpf_ktime_get_boot_ns",
            Helper::SendSignal => "bpf_send_signal",
            Helper::RingbufOutput => "bpf_ringbuf_output",
            Helper::RingbufQuery => "bpf_ringbuf_query",
            Helper::MapLookupPercpuElem => "bpf_map_lookup_percpu_elem",
            Helper::ForEachMapElem => "bpf_for_each_map_elem",
            Helper::GetFuncIp => "bpf_get_func_ip",
            Helper::GetNumaNodeId => "bpf_get_numa_node_id",
            Helper::KtimeGetTaiNs => "bpf_ktime_get_tai_ns",
            Helper::GetNsCurrentPidTgid => "bpf_get_ns_current_pid_tgid",
        }
    }

    /// The helper with this id, if the compiler knows it.
    pub fn from_id(id: i32) -> Option<Helper> {
        Helper::ALL.iter().copied().find(|h| *h as i32 == id)
    }
}
