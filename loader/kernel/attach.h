// Attaching programs to NICs: XDP through a pinned bpf_link (swapped in place
// on reload), TC egress through a pinned tcx link or, on kernels without tcx,
// a clsact filter (replaced in place on reload), and the network namespace the
// NICs live in.
#pragma once

#include <cstdint>
#include <string>

namespace kernel {

// Enters /var/run/netns/NAME for its lifetime (empty name: stays put).
class NetnsGuard {
  public:
    explicit NetnsGuard(const std::string& name);
    ~NetnsGuard();
    NetnsGuard(const NetnsGuard&) = delete;
    NetnsGuard& operator=(const NetnsGuard&) = delete;

  private:
    int saved_ = -1;
};

uint32_t ifindex_of(const std::string& dev);  // throws kernel::Error naming the device

// BPF_TCX_EGRESS (enum bpf_attach_type, Linux 6.6): newer than Debian 12's
// uapi headers (Linux 6.1), so spelled out here.
constexpr int kAttachTcxEgress = 47;

// auto: native when the driver has it, generic (skb) otherwise.
enum class XdpMode { auto_, native, generic };
const char* xdp_mode_name(XdpMode m);

// Creates an XDP link for prog_fd on ifindex and pins it at pin_path; returns
// the mode it got. Refuses, naming it, when another XDP program is attached
// (a libxdp dispatcher is joined instead: kernel/multiprog.h).
XdpMode xdp_attach(int prog_fd, uint32_t ifindex, const std::string& dev, XdpMode mode,
                   const std::string& pin_path);

// TC egress, two ways. tcx: a bpf_link (Linux 6.6), pinned at pin_path and
// chained after other tcx programs. netlink: a cls_bpf filter on clsact at
// edgefw's fixed handle and priority, for kernels without tcx.
void tc_link_attach(int prog_fd, uint32_t ifindex, const std::string& dev,
                    const std::string& pin_path);
void tc_attach(int prog_fd, uint32_t ifindex, const std::string& dev, bool replace);
void tc_detach(uint32_t ifindex);
// Program id of edgefw's netlink TC egress filter on ifindex, 0 if none.
uint32_t tc_prog_id(uint32_t ifindex);

// Pinned links (XDP and tcx): atomically swap the program; read the program
// id and the ifindex the link is on (0 if the pin is gone).
void link_replace(const std::string& pin_path, int new_prog_fd);
uint32_t link_prog_id(const std::string& pin_path, uint32_t* ifindex = nullptr);

}  // namespace kernel
