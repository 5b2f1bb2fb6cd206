// Attaching programs to NICs: XDP through a pinned bpf_link (swapped in place
// on reload), TC egress through clsact (replaced in place on reload), and the
// network namespace the NICs live in.
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

enum class XdpMode { native, generic };

// Creates an XDP link for prog_fd on ifindex and pins it at pin_path.
// Refuses, naming it, when another XDP program is attached.
void xdp_attach(int prog_fd, uint32_t ifindex, const std::string& dev, XdpMode mode,
                const std::string& pin_path);
// Atomically swaps the program of the pinned link.
void xdp_replace(const std::string& pin_path, int new_prog_fd);

// TC egress filter (clsact) at edgefw's fixed handle and priority.
void tc_attach(int prog_fd, uint32_t ifindex, const std::string& dev, bool replace);
void tc_detach(uint32_t ifindex);
// Program id of edgefw's TC egress filter on ifindex, 0 if none.
uint32_t tc_prog_id(uint32_t ifindex);

// Program id attached to the pinned XDP link (0 if the pin is gone).
uint32_t xdp_link_prog_id(const std::string& pin_path, uint32_t* ifindex = nullptr);

}  // namespace kernel
