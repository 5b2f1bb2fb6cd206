// XDP beside other programs: libxdp's multi-program dispatcher (xdp-tools).
//
// libxdp attaches one dispatcher program per NIC and runs the programs of
// that NIC from its slots in order of run priority; a program's chain-call
// actions say which of its verdicts go on to the next one. A slot takes an
// freplace (BPF_PROG_TYPE_EXT) program, so under a dispatcher edgefw loads
// its XDP program as one (Options::xdp_ext_target). A freplace link cannot
// swap its program, and libxdp can only add or remove programs, so edgefw
// builds dispatchers itself the way libxdp 1.3 does (same object, same
// configuration, same pins under <bpffs>/xdp/dispatch-IFINDEX-ID, same lock)
// and swaps them atomically (XDP_FLAGS_REPLACE): a reload is one dispatcher
// holding the new program in the old one's place, and xdp-filter or
// xdp-loader read and rebuild it like one of their own.
//
// edgefw's program in a dispatcher is found by the kernel's truth, not by a
// record: it is the program that uses the instance's marker map (a map every
// generation of the instance shares, ef_rule_counters).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kernel/attach.h"

struct bpf_object;  // libbpf

namespace kernel {

// libxdp's default run priority (XDP_DEFAULT_RUN_PRIO): lower runs first.
constexpr unsigned kXdpDefaultPriority = 50;
// Programs one libxdp dispatcher holds (MAX_DISPATCHER_ACTIONS).
constexpr size_t kXdpDispatcherSlots = 10;

// libxdp's own messages go to stderr only when verbose (process-wide).
void set_libxdp_verbose(bool verbose);

struct XdpChainProg {
    std::string name;
    uint32_t id = 0;
    unsigned priority = 0;
    std::vector<std::string> chain_call;  // verdicts that go on: "XDP_PASS", ...
    bool edgefw = false;                  // uses the marker map asked about
};

// What a NIC's XDP hook holds, as libxdp reads it.
struct XdpHook {
    enum class Kind { none, dispatcher, other } kind = Kind::none;
    uint32_t id = 0;  // the dispatcher, or the one program attached without it
    std::string name;
    XdpMode mode = XdpMode::auto_;       // native or generic when attached
    std::vector<XdpChainProg> programs;  // the dispatcher's, in run order
};

// marker_map_id: mark the program that uses that map as edgefw's (0: none).
XdpHook xdp_hook(uint32_t ifindex, uint32_t marker_map_id = 0);
// Id of the map pinned at pin_path, 0 if none.
uint32_t pinned_map_id(const std::string& pin_path);

// An unattached dispatcher: the target edgefw's XDP program is loaded
// against (Options::xdp_ext_target). Closed on destruction.
class ScratchDispatcher {
  public:
    ScratchDispatcher();
    ~ScratchDispatcher();
    ScratchDispatcher(const ScratchDispatcher&) = delete;
    ScratchDispatcher& operator=(const ScratchDispatcher&) = delete;
    int fd() const;

  private:
    ::bpf_object* obj_ = nullptr;
};

// Puts ext_fd (edgefw's freplace program) in the NIC's dispatcher at run
// priority `priority`, a pass chain-calling the next program: a new
// dispatcher with the NIC's programs and edgefw's replaces the old one in
// one step (or is the first). Joins an existing dispatcher in its mode.
// Refuses, in one line saying why, what libxdp cannot do: a NIC whose
// program was attached without a dispatcher, a full dispatcher, a mode
// other than the dispatcher's. Returns the mode it got.
XdpMode xdp_mp_attach(int ext_fd, uint32_t ifindex, const std::string& dev, XdpMode mode,
                      unsigned priority);

// A reload: a new dispatcher where edgefw's program (the one using the
// marker map) is replaced by ext_fd, same slot, priority and chain-call
// actions, the other programs as they were; swapped in one step.
void xdp_mp_replace(int ext_fd, uint32_t marker_map_id, uint32_t ifindex, const std::string& dev);

// Takes edgefw's program out of the NIC's dispatcher through libxdp; the
// other programs keep running (libxdp swaps in a dispatcher without it, or
// detaches the dispatcher when edgefw was its only program). Nothing of
// edgefw's there: nothing to do.
void xdp_mp_detach(uint32_t marker_map_id, uint32_t ifindex, const std::string& dev);

}  // namespace kernel
