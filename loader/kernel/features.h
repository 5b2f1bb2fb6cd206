// What the running kernel and libbpf offer edgefw, probed at run time rather
// than guessed from version numbers (distribution kernels backport). Each
// probe creates nothing that outlives it and attaches nowhere.
#pragma once

#include <string>

namespace kernel {

struct Features {
    std::string kernel;  // uname -r
    std::string libbpf;  // the shared library in use, e.g. "v1.1"
    // TC programs attached as bpf_links (tcx, Linux 6.6): hitless swap by link
    // update, released with the pin, and chained with other tcx programs.
    // Without it edgefw falls back to a cls_bpf filter on clsact (netlink).
    bool tc_link = false;
    bool btf_vmlinux = false;  // /sys/kernel/btf/vmlinux: tools like bpftool can show our maps
};

// Probes once per process and caches the answer.
const Features& features();

}  // namespace kernel
