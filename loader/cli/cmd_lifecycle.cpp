#include <fmt/core.h>

#include <ctime>
#include <iostream>

#include "cli/commands.h"
#include "kernel/dataplane.h"
#include "kernel/features.h"
#include "kernel/instance.h"
#include "lifecycle/lifecycle.h"

namespace cli {

namespace {

template <class F>
int guarded(const char* what, F f) {
    try {
        return f();
    } catch (const lifecycle::Refused& e) {
        std::cerr << "edgefw: " << what << ": " << e.what() << "\n";
        return kExitError;
    } catch (const kernel::Error& e) {
        std::cerr << "edgefw: " << what << ": " << e.what() << "\n";
        return kExitError;
    } catch (const std::exception& e) {
        std::cerr << "edgefw: " << what << ": " << e.what() << "\n";
        return kExitError;
    }
}

// What this kernel offers: the attach paths `load --mode auto --tc auto` picks.
void print_features() {
    const auto& f = kernel::features();
    fmt::print("  kernel {}  libbpf {}  tc egress links (tcx) {}\n", f.kernel, f.libbpf,
               f.tc_link ? "yes" : "no (netlink filters; tcx needs Linux 6.6)");
}

void print_status(const nlohmann::json& s) {
    fmt::print("instance {}: {}\n", s.value("instance", "?"), s.value("state", "?"));
    if (s.contains("error")) fmt::print("  error: {}\n", s["error"].get<std::string>());
    if (s.contains("hint")) fmt::print("  {}\n", s["hint"].get<std::string>());
    if (!s.contains("node")) return;
    fmt::print("  node {}  policy {} ({})  hash {}\n", s["node"].get<std::string>(),
               s["policy"].get<std::string>(), s["policy_name"].get<std::string>(),
               s["policy_hash"].get<std::string>());
    if (s.contains("bundle"))  // --bundle: the fleet-wide policy hash and where it came from
        fmt::print("  bundle {}  policy sha256 {}\n", s["bundle"].value("dir", "?"),
                   s.value("policy_sha256", "?"));
    fmt::print("  loaded {}  reloaded {}  generation {}  egress {}\n",
               s["loaded_at"].get<std::string>(),
               s["reloaded_at"].is_null() ? "never" : s["reloaded_at"].get<std::string>(),
               s["generation"].get<uint64_t>(), s["egress"].get<std::string>());
    fmt::print("  rules {}  conntrack {}/{}  programs xdp id {} tc id {}\n",
               s["rule_count"].get<size_t>(), s["conntrack_entries"].get<size_t>(),
               s["conntrack_max"].get<uint32_t>(), s["prog_xdp_id"].get<uint32_t>(),
               s["prog_tc_id"].get<uint32_t>());
    for (const auto& i : s["ifaces"])
        fmt::print("  {:<8} {:<16} ifindex {:<4} xdp {} link prog {}  tc {} prog {}  {}\n",
                   i["role"].get<std::string>(), i["dev"].get<std::string>(),
                   i["ifindex"].get<uint32_t>(), i.value("xdp_mode", s.value("mode", "?")),
                   i.value("xdp_prog_id", 0u),
                   i.value("tc_hook", "netlink") == "tcx" ? "tcx link" : "netlink filter",
                   i.value("tc_prog_id", 0u),
                   i.value("attachment", "") == "unknown" ? "attachment unknown (see hint)"
                   : i.value("attached", false)           ? "attached"
                                                          : "NOT ATTACHED");
    print_features();
    if (s.contains("reload_ms")) {
        const auto& t = s["reload_ms"];
        const auto& st = s["self_test"];
        fmt::print(
            "  last reload: parse+compile {:.0f} ms, self-test {:.0f} ms ({} of {} boundary "
            "probes), programs+maps {:.0f} ms, swap {:.1f} ms\n",
            t.value("parse_compile", 0.0), t.value("self_test", 0.0), st.value("probes", 0u),
            st.value("of", 0u), t.value("programs_maps", 0.0), t.value("swap", 0.0));
    }
    if (s.contains("reload_flows")) {
        const auto& f = s["reload_flows"];
        if (f.contains("error"))
            fmt::print("  last reload: open flows not judged again ({}); they keep their rules\n",
                       f["error"].get<std::string>());
        else if (f.contains("skipped"))
            fmt::print("  last reload: open flows kept their rules (--keep-flows)\n");
        else
            fmt::print("  last reload: open flows kept {}, moved {}, closed {} ({:.1f} ms)\n",
                       f.value("kept", 0u), f.value("moved", 0u), f.value("closed", 0u),
                       s.contains("reload_ms") ? s["reload_ms"].value("flows", 0.0) : 0.0);
    }
    if (!s["netns"].get<std::string>().empty())
        fmt::print("  netns {}\n", s["netns"].get<std::string>());
    const auto& c = s["confirm"];
    if (c.value("pending", false)) fmt::print("  waiting for 'edgefw confirm'\n");
    if (c.contains("error")) fmt::print("  confirm: {}\n", c["error"].get<std::string>());
}

}  // namespace

int cmd_load(const lifecycle::LoadArgs& a, bool reload) {
    return guarded(reload ? "reload" : "load", [&] {
        if (reload)
            lifecycle::reload(a);
        else
            lifecycle::load(a);
        auto s = lifecycle::status(a.instance);
        print_status(s.at(0));
        if (a.confirm_secs > 0)
            fmt::print(
                "run 'edgefw confirm --instance {}' within {} s or the previous state returns\n",
                a.instance, a.confirm_secs);
        return kExitOk;
    });
}

int cmd_unload(const std::string& instance) {
    return guarded("unload", [&] {
        lifecycle::unload(instance);
        fmt::print("instance {} unloaded\n", instance);
        return kExitOk;
    });
}

int cmd_log(const lifecycle::LogArgs& a) {
    return guarded("log", [&] {
        lifecycle::print_log(a);
        return kExitOk;
    });
}

int cmd_confirm(const std::string& instance) {
    return guarded("confirm", [&] {
        lifecycle::confirm(instance);
        fmt::print("instance {} confirmed\n", instance);
        return kExitOk;
    });
}

// Exit codes as `systemctl status` (LSB): 0 every instance asked about is
// enforcing; 3 not loaded, or loaded but not enforcing everywhere (degraded,
// mixed, damaged); 4 no such instance (an invalid name) or the state cannot
// be read (not root, bpffs hidden by `ip netns exec`, a NIC's namespace gone).
constexpr int kStatusNotRunning = 3;
constexpr int kStatusUnknown = 4;

int cmd_status(const std::string& instance, bool json) {
    nlohmann::json s;
    try {
        if (!instance.empty()) kernel::check_instance_name(instance);
        s = lifecycle::status(instance);
    } catch (const kernel::Unreadable& e) {
        std::cerr << "edgefw: status: " << e.what() << "\n";
        return kStatusUnknown;
    } catch (const std::exception& e) {
        std::cerr << "edgefw: status: " << e.what() << "\n";
        return kStatusUnknown;
    }
    if (json) {
        std::cout << s.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    } else if (s.empty()) {
        if (instance.empty())
            fmt::print("no edgefw instance is loaded\n");
        else
            fmt::print("instance {} is not loaded\n", instance);
        print_features();
    } else {
        for (const auto& one : s) print_status(one);
    }
    if (s.empty()) return kStatusNotRunning;
    int rc = kExitOk;
    for (const auto& one : s) {
        std::string st = one.value("state", "");
        if (st == "unknown")
            rc = kStatusUnknown;
        else if (st != "enforcing" && rc == kExitOk)
            rc = kStatusNotRunning;
    }
    return rc;
}

int cmd_stats(const std::string& instance, bool json) {
    return guarded("stats", [&] {
        auto s = lifecycle::stats(instance);
        if (json) {
            std::cout << s.dump() << "\n";
            return kExitOk;
        }
        fmt::print("{:<32} {:<14} {:<18} {:>12} {:>14}  {}\n", "rule", "app", "where", "packets",
                   "bytes", "last hit");
        double now = static_cast<double>(time(nullptr));
        for (const auto& r : s["rules"]) {
            std::string where;
            for (const auto& p : r["placements"])
                where += (where.empty() ? "" : ",") + p["iface"].get<std::string>().substr(0, 3) +
                         "/" + p["dir"].get<std::string>().substr(0, 2);
            double last = r.value("last_hit_unix", 0.0);
            std::string ago =
                last > 0 ? fmt::format("{:.0f} s ago", std::max(0.0, now - last)) : "never";
            fmt::print("{:<32} {:<14} {:<18} {:>12} {:>14}  {}\n", r["id"].get<std::string>(),
                       r["app"].get<std::string>(), where, r["packets"].get<uint64_t>(),
                       r["bytes"].get<uint64_t>(), ago);
        }
        fmt::print("\n{:<32} {:<5} {:>12} {:>14}\n", "reason", "", "packets", "bytes");
        for (const auto& r : s["reasons"])
            if (r["packets"].get<uint64_t>() > 0)
                fmt::print("{:<32} {:<5} {:>12} {:>14}\n", r["name"].get<std::string>(),
                           r["passes"].get<bool>() ? "pass" : "drop", r["packets"].get<uint64_t>(),
                           r["bytes"].get<uint64_t>());
        fmt::print("\nconntrack {}/{}\n", s["conntrack_entries"].get<size_t>(),
                   s["conntrack_max"].get<uint32_t>());
        return kExitOk;
    });
}

}  // namespace cli
