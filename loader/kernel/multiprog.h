// XDP beside other programs: libxdp's multi-program dispatcher (xdp-tools).
//
// libxdp attaches one dispatcher program per NIC and runs the programs of
// that NIC from its slots in order of run priority; a program's chain-call
// actions say which of its verdicts go on to the next one. The slots take
// freplace programs loaded against that dispatcher, so edgefw's policy
// program (loaded as XDP, swapped on reload) cannot sit in one: edgefw puts
// a small entry program there (bpf/edgefw_mp.bpf.c) that tail-calls the
// policy program through a one-slot program array, ef_xdp_next, pinned in
// the instance's directory. A reload stores the new program in that slot.
//
// edgefw's entry on a NIC is found by the kernel's truth, not by a record:
// it is the dispatcher's program that uses the instance's ef_xdp_next.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kernel/attach.h"

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
    bool edgefw = false;                  // the entry of the instance asked about
};

// What a NIC's XDP hook holds, as libxdp reads it.
struct XdpHook {
    enum class Kind { none, dispatcher, other } kind = Kind::none;
    uint32_t id = 0;  // the dispatcher, or the one program attached without it
    std::string name;
    XdpMode mode = XdpMode::auto_;       // native or generic when attached
    std::vector<XdpChainProg> programs;  // the dispatcher's, in run order
};

// next_map_id: mark the program that uses that map as edgefw's (0: none).
XdpHook xdp_hook(uint32_t ifindex, uint32_t next_map_id = 0);

// The one-slot program array the entry tail-calls: created holding prog_fd
// and pinned at pin_path (replacing a stale pin).
void xdp_next_create(int prog_fd, const std::string& pin_path);
// A reload's swap: one store, atomic for every packet on every NIC.
void xdp_next_set(const std::string& pin_path, int prog_fd);
// The program in the slot and the array's map id (0, 0 when the pin is gone).
uint32_t xdp_next_prog_id(const std::string& pin_path, uint32_t* map_id = nullptr);

// Adds edgefw's entry to the NIC's dispatcher (libxdp makes one when the NIC
// has no XDP program) at run priority `priority`, a pass chain-calling the
// next program. Joins an existing dispatcher in its mode. Refuses, in one
// line saying why, what libxdp cannot do: a NIC whose program was attached
// without the dispatcher, a full dispatcher, a mode other than the
// dispatcher's, a kernel where libxdp falls back to a single program.
// Returns the mode it got.
XdpMode xdp_mp_attach(const std::string& next_pin, uint32_t ifindex, const std::string& dev,
                      XdpMode mode, unsigned priority);

// Removes edgefw's entry (the program using next_pin's array) from the NIC's
// dispatcher; the other programs keep running (libxdp swaps in a dispatcher
// without it, or detaches the dispatcher when edgefw was its only program).
// Nothing attached there: nothing to do.
void xdp_mp_detach(const std::string& next_pin, uint32_t ifindex, const std::string& dev);

}  // namespace kernel
