#include "kernel/features.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>

#include "kernel/attach.h"

namespace kernel {

namespace {

// A program that only returns TCX_NEXT, loaded to ask link_create about tcx.
int load_probe_prog() {
    bpf_insn insns[2]{};
    insns[0].code = BPF_ALU64 | BPF_MOV | BPF_K;  // r0 = -1 (TC_ACT_UNSPEC)
    insns[0].dst_reg = BPF_REG_0;
    insns[0].imm = -1;
    insns[1].code = BPF_JMP | BPF_EXIT;
    return bpf_prog_load(BPF_PROG_TYPE_SCHED_CLS, "ef_probe_tcx", "GPL", insns, 2, nullptr);
}

// Kernels with tcx look the device up and answer ENODEV for ifindex 0; older
// ones reject the attach type for a SCHED_CLS program with EINVAL. Nothing is
// ever attached.
bool probe_tc_link() {
    int prog = load_probe_prog();
    if (prog < 0) return false;
    int link = bpf_link_create(prog, 0, static_cast<bpf_attach_type>(kAttachTcxEgress), nullptr);
    int err = link < 0 ? errno : 0;
    if (link >= 0) close(link);
    close(prog);
    return link >= 0 || err == ENODEV;
}

Features probe() {
    Features f;
    utsname u{};
    if (uname(&u) == 0) f.kernel = u.release;
    f.libbpf = libbpf_version_string();
    f.tc_link = probe_tc_link();
    f.btf_vmlinux = access("/sys/kernel/btf/vmlinux", R_OK) == 0;
    return f;
}

}  // namespace

const Features& features() {
    static const Features f = probe();
    return f;
}

}  // namespace kernel
