// Wire part of the bench: trafgen in one namespace floods a veth whose peer, in
// the other namespace, drops every packet with edgefw (native XDP), an nftables
// netdev-ingress ruleset, iptables raw PREROUTING, or nothing (the UDP stack
// finds no socket). Then 1,000 RTP flows that edgefw passes. The namespaces and
// the veth pair belong to tools/bench/run.sh, which removes them on exit;
// everything attached here dies with them.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <thread>

#include "bench.h"
#include "compile/compile.h"
#include "compile/placement.h"
#include "kernel/dataplane.h"
#include "packet/packet.h"
#include "policy/policy.h"

extern char** environ;

namespace bench {

std::string sh(const std::string& cmd) {
    std::string full = cmd + " 2>&1";
    FILE* f = popen(full.c_str(), "r");
    if (!f) throw Error("bench: run '" + cmd + "': " + std::strerror(errno));
    std::string out;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0) out.append(buf, n);
    int st = pclose(f);
    if (st != 0) throw Error("bench: '" + cmd + "' failed:\n" + out);
    return out;
}

namespace {

using Clock = std::chrono::steady_clock;

// Enters a named network namespace for the lifetime of the object.
class InNetns {
  public:
    explicit InNetns(const std::string& name) {
        self_ = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
        int fd = open(("/run/netns/" + name).c_str(), O_RDONLY | O_CLOEXEC);
        if (self_ < 0 || fd < 0 || setns(fd, CLONE_NEWNET)) {
            int e = errno;
            if (fd >= 0) close(fd);
            if (self_ >= 0) close(self_);
            throw Error("bench: enter netns " + name + ": " + std::strerror(e));
        }
        close(fd);
    }
    ~InNetns() {
        if (setns(self_, CLONE_NEWNET)) std::perror("bench: leave netns");
        close(self_);
    }
    InNetns(const InNetns&) = delete;
    InNetns& operator=(const InNetns&) = delete;

  private:
    int self_ = -1;
};

std::array<uint8_t, 6> mac_of(const std::string& dev) {
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ifreq ifr{};
    std::snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", dev.c_str());
    if (s < 0 || ioctl(s, SIOCGIFHWADDR, &ifr)) {
        int e = errno;
        if (s >= 0) close(s);
        throw Error("bench: MAC address of " + dev + ": " + std::strerror(e));
    }
    close(s);
    std::array<uint8_t, 6> m;
    std::memcpy(m.data(), ifr.ifr_hwaddr.sa_data, 6);
    return m;
}

// Busy jiffies of the whole machine (user, nice, system, irq, softirq, steal).
uint64_t busy_jiffies() {
    std::ifstream f("/proc/stat");
    std::string cpu;
    uint64_t v[8] = {};
    f >> cpu >> v[0] >> v[1] >> v[2] >> v[3] >> v[4] >> v[5] >> v[6] >> v[7];
    if (!f || cpu != "cpu") throw Error("bench: read /proc/stat");
    return v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
}

// Softirq jiffies of the whole machine (IRQ time accounting keeps them off tasks).
uint64_t softirq_jiffies() {
    std::ifstream f("/proc/stat");
    std::string cpu;
    uint64_t v[7] = {};
    f >> cpu >> v[0] >> v[1] >> v[2] >> v[3] >> v[4] >> v[5] >> v[6];
    if (!f || cpu != "cpu") throw Error("bench: read /proc/stat");
    return v[6];
}

// utime + stime (ticks) of every process in a process group (trafgen and its workers).
uint64_t group_ticks(pid_t pgid) {
    uint64_t t = 0;
    for (const auto& e : std::filesystem::directory_iterator("/proc")) {
        std::string name = e.path().filename();
        if (name.find_first_not_of("0123456789") != std::string::npos) continue;
        std::ifstream f(e.path() / "stat");
        std::string line;
        if (!std::getline(f, line)) continue;
        auto rp = line.rfind(')');
        if (rp == std::string::npos) continue;
        std::istringstream in(line.substr(rp + 2));
        std::string field;
        std::vector<std::string> v;
        while (in >> field && v.size() < 13) v.push_back(field);
        // After "(comm)": state ppid pgrp session tty tpgid flags minflt cminflt majflt
        // cmajflt utime stime.
        if (v.size() < 13 || std::stol(v[2]) != pgid) continue;
        t += std::stoull(v[11]) + std::stoull(v[12]);
    }
    return t;
}

struct TxStats {
    uint64_t packets = 0, dropped = 0;
};

TxStats tx_stats(const std::string& ns, const std::string& dev) {
    auto j = nlohmann::json::parse(sh("ip -n " + ns + " -s -j link show dev " + dev));
    const auto& tx = j.at(0).at("stats64").at("tx");
    return {tx.at("packets").get<uint64_t>(), tx.at("dropped").get<uint64_t>()};
}

uint64_t rx_packets(const std::string& ns, const std::string& dev) {
    auto j = nlohmann::json::parse(sh("ip -n " + ns + " -s -j link show dev " + dev));
    return j.at(0).at("stats64").at("rx").at("packets").get<uint64_t>();
}

uint64_t first_number_after(const std::string& text, const std::string& re) {
    std::smatch m;
    if (!std::regex_search(text, m, std::regex(re))) {
        throw Error("bench: no '" + re + "' in:\n" + text);
    }
    return std::stoull(m[1].str());
}

// trafgen in the sender namespace, in its own process group (it forks per CPU).
class Trafgen {
  public:
    Trafgen(const std::string& ns, const std::string& dev, const std::string& conf, uint32_t pps,
            const std::string& log) {
        std::vector<std::string> args = {"ip", "netns",  "exec", ns,       "trafgen", "--dev",
                                         dev,  "--conf", conf,   "--cpus", "1"};
        if (pps) {
            args.push_back("-b");
            args.push_back(std::to_string(pps) + "pps");
        }
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        posix_spawn_file_actions_adddup2(&fa, 1, 2);
        posix_spawnattr_t at;
        posix_spawnattr_init(&at);
        posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP);
        posix_spawnattr_setpgroup(&at, 0);
        int err = posix_spawnp(&pid_, "ip", &fa, &at, argv.data(), environ);
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&at);
        if (err) throw Error(std::string("bench: start trafgen: ") + std::strerror(err));
    }
    ~Trafgen() { stop(); }
    Trafgen(const Trafgen&) = delete;
    Trafgen& operator=(const Trafgen&) = delete;
    void stop() {
        if (pid_ <= 0) return;
        kill(-pid_, SIGINT);
        int st;
        for (int i = 0; i < 50; ++i) {
            if (waitpid(pid_, &st, WNOHANG) == pid_) {
                pid_ = -1;
                return;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        kill(-pid_, SIGKILL);
        waitpid(pid_, &st, 0);
        pid_ = -1;
    }
    bool alive() { return pid_ > 0 && waitpid(pid_, nullptr, WNOHANG) == 0; }
    pid_t pgid() const { return pid_; }

  private:
    pid_t pid_ = -1;
};

struct Window {
    double secs = 0;
    uint64_t offered = 0;  // into the veth: tx packets + tx drops of the sender's device
    uint64_t tx_dropped = 0;
    uint64_t dropped = 0;  // by the filter under test (its own counter; passed for multiflow)
    std::vector<uint64_t> extra;  // deltas of Filter::extra
    uint64_t busy = 0;            // jiffies, whole machine
    double idle_busy = 0;         // jiffies the machine spent without our traffic, same length
    uint64_t traffic = 0;         // ticks: trafgen's processes + the machine's softirq time
    double pps() const { return double(dropped) / secs; }
    double offered_pps() const { return double(offered) / secs; }
    // Busy time our traffic added: the window minus the quiet window before it,
    // so that other work on the machine cancels when it is steady.
    double cpu_ns() const {
        double j = std::max(0.0, double(busy) - idle_busy);
        return offered ? j * 1e9 / double(sysconf(_SC_CLK_TCK)) / double(offered) : 0;
    }
    double cpu_ns_traffic() const {
        return offered ? double(traffic) * 1e9 / double(sysconf(_SC_CLK_TCK)) / double(offered) : 0;
    }
    double cpu_ns_raw() const {
        return offered ? double(busy) * 1e9 / double(sysconf(_SC_CLK_TCK)) / double(offered) : 0;
    }
};

// One 1-line frame as a trafgen packet: the bytes, our MACs in front. `dynamic`
// replaces single bytes by trafgen expressions (offset -> text).
std::string trafgen_conf(std::vector<uint8_t> frame, const std::array<uint8_t, 6>& dst,
                         const std::array<uint8_t, 6>& src,
                         const std::map<size_t, std::string>& dynamic = {}) {
    std::memcpy(frame.data(), dst.data(), 6);
    std::memcpy(frame.data() + 6, src.data(), 6);
    std::ostringstream o;
    o << "{ ";
    for (size_t i = 0; i < frame.size(); ++i) {
        char b[8];
        std::snprintf(b, sizeof(b), "0x%02x", frame[i]);
        auto d = dynamic.find(i);
        o << (i ? ", " : "") << (d == dynamic.end() ? std::string(b) : d->second);
    }
    o << " }\n";
    return o.str();
}

// The multi-flow frame: 1,000 distinct UDP source ports from two one-byte
// trafgen counters that step on every packet, the port's high byte through 8
// values (0x9c-0xa3) and its low byte through 125 (0x40-0xbc): coprime periods,
// so the pair runs through all 8 x 125 ports before it repeats. The UDP
// checksum is 0 (none, valid for IPv4), since the ports change.
std::string trafgen_conf_flows(const std::vector<uint8_t>& frame, const std::array<uint8_t, 6>& dst,
                               const std::array<uint8_t, 6>& src) {
    const size_t l4 = 14 + size_t(frame.at(14) & 0xf) * 4;
    if (frame.at(23) != IPPROTO_UDP || frame.size() < l4 + 8)
        throw Error("bench: the multi-flow frame is not IPv4/UDP");
    return trafgen_conf(frame, dst, src,
                        {{l4, "dinc(0x9c, 0xa3, 1)"},
                         {l4 + 1, "dinc(0x40, 0xbc, 1)"},
                         {l4 + 6, "0x00"},
                         {l4 + 7, "0x00"}});
}

std::string v4(const packet::Addr& a) { return a.str(); }
bool is_v4_cidr(const policy::Cidr& c) { return c.plen == 0 || (c.addr.is_v4() && c.plen >= 96); }
std::string cidr_v4(const policy::Cidr& c) {
    return c.addr.str() + "/" + std::to_string(c.plen - 96);
}

// edge1's external ingress tcp/udp rules (IPv4 part) as nftables and iptables
// rules: the same rule set edgefw enforces there, written the way each tool
// is normally written (one rule per policy rule; iptables one per combination).
struct Rulesets {
    std::string nft, iptables;
    size_t nft_rules = 0, ipt_rules = 0;
};

Rulesets rulesets(const policy::Policy& p, const std::string& node, const std::string& dev) {
    Rulesets r;
    std::ostringstream nft, ipt;
    nft << "table netdev efbench {\n  counter drops { }\n  chain ingress {\n"
        << "    type filter hook ingress device \"" << dev << "\" priority 0; policy accept;\n"
        << "    meta protocol arp accept\n";
    ipt << "*raw\n:PREROUTING ACCEPT [0:0]\n";
    for (const auto& e : compile::place(p, node)) {
        if (e.role != EF_ROLE_EXTERNAL || e.dir != EF_DIR_INGRESS) continue;
        if (e.slot != EF_PS_TCP && e.slot != EF_PS_UDP) continue;
        const char* proto = e.slot == EF_PS_TCP ? "tcp" : "udp";
        std::vector<std::string> local, remote, dport, sport;
        for (const auto& a : e.local)
            if (a.is_v4()) local.push_back(v4(a));
        bool remote_any = false, remote_v4 = false;
        for (const auto& c : e.remote) {
            if (c.plen == 0) remote_any = true;
            if (c.plen > 0 && is_v4_cidr(c)) {
                remote.push_back(cidr_v4(c));
                remote_v4 = true;
            }
        }
        if (local.empty() || (!remote_any && !remote_v4)) continue;
        if (remote_any) remote.clear();
        auto ports = [](const std::vector<policy::PortRange>& v, std::vector<std::string>& out) {
            for (const auto& pr : v) {
                if (pr.lo == 0 && pr.hi == 65535) {
                    out.clear();
                    return;
                }
                out.push_back(pr.lo == pr.hi ? std::to_string(pr.lo)
                                             : std::to_string(pr.lo) + "-" + std::to_string(pr.hi));
            }
        };
        ports(e.dport, dport);
        ports(e.sport, sport);
        auto set = [](const std::vector<std::string>& v) {
            std::string s = "{ ";
            for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + v[i];
            return s + " }";
        };
        nft << "    ip daddr " << set(local);
        if (!remote.empty()) nft << " ip saddr " << set(remote);
        nft << " meta l4proto " << proto;
        if (!sport.empty()) nft << " " << proto << " sport " << set(sport);
        if (!dport.empty()) nft << " " << proto << " dport " << set(dport);
        nft << " accept\n";
        ++r.nft_rules;
        // iptables: one rule per combination; ranges as lo:hi.
        auto colon = [](std::string s) {
            auto d = s.find('-');
            if (d != std::string::npos) s[d] = ':';
            return s;
        };
        std::vector<std::string> rem = remote.empty() ? std::vector<std::string>{""} : remote;
        std::vector<std::string> dp = dport.empty() ? std::vector<std::string>{""} : dport;
        std::vector<std::string> sp = sport.empty() ? std::vector<std::string>{""} : sport;
        for (const auto& l : local)
            for (const auto& rm : rem)
                for (const auto& d : dp)
                    for (const auto& s : sp) {
                        ipt << "-A PREROUTING -i " << dev << " -p " << proto << " -d " << l;
                        if (!rm.empty()) ipt << " -s " << rm;
                        ipt << " -m " << proto;
                        if (!s.empty()) ipt << " --sport " << colon(s);
                        if (!d.empty()) ipt << " --dport " << colon(d);
                        ipt << " -j ACCEPT\n";
                        ++r.ipt_rules;
                    }
    }
    nft << "    counter name \"drops\" drop\n  }\n}\n";
    ipt << "-A PREROUTING -i " << dev << " -j DROP\nCOMMIT\n";
    r.nft = nft.str();
    r.iptables = ipt.str();
    return r;
}

void write_file(const std::string& path, const std::string& text) {
    std::ofstream f(path);
    f << text;
    if (!f) throw Error("bench: write " + path);
}

struct Filter {
    std::string name;
    std::function<void()> install, remove;
    std::function<uint64_t()> dropped;
    std::function<std::vector<uint64_t>()> extra = {};  // more counters, read with `dropped`
};

}  // namespace

void run_wire(const Settings& s, Results& r) {
    const std::string dir = "build/bench";
    const std::string log = dir + "/trafgen.log";
    write_file(log, "");

    // The dropped packet: UDP to a port no rule names, on edge1's A/V VIP as
    // the test site maps it (198.18.155.130); the sender is 198.18.155.200.
    const std::string spec = "udp 198.18.155.200:40000 > 198.18.155.130:9 len 64";
    packet::SpecError perr;
    auto pkt = packet::parse_spec(spec, packet::Dir::ingress, perr);
    if (!pkt) throw Error("bench: packet '" + spec + "': " + perr.message);
    r.info["packet_wire"] = spec;

    uint32_t rx_ifindex;
    std::array<uint8_t, 6> rx_mac, tx_mac;
    {
        InNetns in(s.rx_ns);
        rx_ifindex = if_nametoindex(s.rx_dev.c_str());
        if (!rx_ifindex) throw Error("bench: no device " + s.rx_dev + " in netns " + s.rx_ns);
        rx_mac = mac_of(s.rx_dev);
    }
    {
        InNetns in(s.tx_ns);
        tx_mac = mac_of(s.tx_dev);
    }
    const std::string conf = dir + "/trafgen.cfg";
    write_file(conf, trafgen_conf(packet::build_frame(*pkt), rx_mac, tx_mac));

    // edgefw with edge1 of the reference policy under the test site file.
    policy::Diagnostics d;
    auto pol = policy::load(s.policy, s.site, d);
    if (!pol) throw Error("bench: policy " + s.policy + " with site " + s.site + " does not load");
    auto img = compile::compile_node(*pol, "edge1");
    kernel::Dataplane dp(kernel::Options::from_image(img));
    dp.write_image(img);
    dp.set_iface_role(rx_ifindex, EF_ROLE_EXTERNAL);
    const int prog_fd = dp.prog_info(packet::Dir::ingress).fd;
    int link_fd = -1;

    auto rs = rulesets(*pol, "edge1", s.rx_dev);
    write_file(dir + "/nft.rules", rs.nft);
    write_file(dir + "/iptables.rules", rs.iptables);
    r.info["nft_ruleset"] = dir + "/nft.rules (" + std::to_string(rs.nft_rules) + " rules)";
    r.info["iptables_ruleset"] = dir + "/iptables.rules (" + std::to_string(rs.ipt_rules) +
                                 " rules, " +
                                 sh("iptables -V").substr(0, sh("iptables -V").find('\n')) + ")";
    const std::string rx = "ip netns exec " + s.rx_ns + " ";

    std::vector<Filter> filters = {
        {"edgefw",
         [&] {
             InNetns in(s.rx_ns);
             bpf_link_create_opts lo{};
             lo.sz = sizeof(lo);
             lo.flags = XDP_FLAGS_DRV_MODE;
             link_fd = bpf_link_create(prog_fd, int(rx_ifindex), BPF_XDP, &lo);
             if (link_fd < 0) {
                 throw Error("bench: attach edgefw XDP (native) to " + s.rx_dev + ": " +
                             std::strerror(errno));
             }
         },
         [&] {
             if (link_fd >= 0) close(link_fd);
             link_fd = -1;
         },
         [&] { return dp.reason_counter(EF_R_DEFAULT_EXTERNAL_INGRESS).packets; }},
        {"nft", [&] { sh(rx + "nft -f " + dir + "/nft.rules"); },
         [&] { sh(rx + "nft delete table netdev efbench"); },
         [&] {
             return first_number_after(sh(rx + "nft list counter netdev efbench drops"),
                                       "packets ([0-9]+)");
         }},
        {"iptables", [&] { sh(rx + "iptables-restore < " + dir + "/iptables.rules"); },
         [&] { sh(rx + "iptables -t raw -F PREROUTING"); },
         [&] {
             return first_number_after(sh(rx + "iptables -t raw -L PREROUTING -v -x -n"),
                                       "\n\\s*([0-9]+)\\s+[0-9]+\\s+DROP");
         }},
        {"none", [] {}, [] {},
         [&] {
             return first_number_after(sh(rx + "cat /proc/net/snmp"),
                                       "Udp: [0-9]+ ([0-9]+)");  // NoPorts
         }},
    };

    auto window = [&](const Filter& f, const std::string& conf_path, uint32_t pps, double secs,
                      const std::function<void()>& mid) {
        Window w;
        if (pps) {
            // Baseline: the machine's busy time with no traffic, half as long, doubled.
            uint64_t q0 = busy_jiffies();
            auto c0 = Clock::now();
            std::this_thread::sleep_for(std::chrono::duration<double>(secs / 2));
            uint64_t q1 = busy_jiffies();
            double qs = std::chrono::duration<double>(Clock::now() - c0).count();
            w.idle_busy = double(q1 - q0) * secs / qs;
        }
        Trafgen tg(s.tx_ns, s.tx_dev, conf_path, pps, log);
        std::this_thread::sleep_for(std::chrono::milliseconds(700));  // ring set up, rate steady
        if (!tg.alive()) throw Error("bench: trafgen exited early; see " + log);
        auto tx0 = tx_stats(s.tx_ns, s.tx_dev);
        uint64_t d0 = f.dropped(), b0 = busy_jiffies();
        auto e0 = f.extra ? f.extra() : std::vector<uint64_t>{};
        uint64_t g0 = group_ticks(tg.pgid()) + softirq_jiffies();
        auto t0 = Clock::now();
        if (mid) mid();
        std::this_thread::sleep_for(std::chrono::duration<double>(secs));
        auto t1 = Clock::now();
        uint64_t b1 = busy_jiffies(), d1 = f.dropped();
        auto e1 = f.extra ? f.extra() : std::vector<uint64_t>{};
        uint64_t g1 = group_ticks(tg.pgid()) + softirq_jiffies();
        auto tx1 = tx_stats(s.tx_ns, s.tx_dev);
        tg.stop();
        w.secs = std::chrono::duration<double>(t1 - t0).count();
        w.tx_dropped = tx1.dropped - tx0.dropped;
        w.offered = tx1.packets - tx0.packets + w.tx_dropped;
        w.dropped = d1 - d0;
        for (size_t i = 0; i < e1.size() && i < e0.size(); ++i) w.extra.push_back(e1[i] - e0[i]);
        w.busy = b1 - b0;
        w.traffic = g1 - g0;
        w.idle_busy *= w.secs / secs;
        return w;
    };

    // edgefw's own cost on the receive path: a third window at the fixed rate
    // with kernel BPF stats held on (an fd, closed at the end). Returns
    // {run_cnt, run_time_ns} deltas of its XDP program.
    auto stats_window = [&](const Filter& f, const std::string& conf_path) {
        int stats_fd = -1;
        bpf_prog_info i0{}, i1{};
        uint32_t len = sizeof(i0);
        window(f, conf_path, s.fixed_pps, s.wire_secs, [&] {
            stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
            if (stats_fd < 0)
                throw Error(std::string("bench: enable BPF stats: ") + std::strerror(errno));
            bpf_obj_get_info_by_fd(prog_fd, &i0, &len);
        });
        len = sizeof(i1);
        bpf_obj_get_info_by_fd(prog_fd, &i1, &len);
        if (stats_fd >= 0) close(stats_fd);
        return std::pair<uint64_t, uint64_t>{i1.run_cnt - i0.run_cnt,
                                             i1.run_time_ns - i0.run_time_ns};
    };

    bool all_reached = true;
    double sender_max = 0;
    for (auto& f : filters) {
        f.install();
        try {
            Window flood = window(f, conf, 0, s.wire_secs, {});
            Window fixed = window(f, conf, s.fixed_pps, s.wire_secs, {});
            r.wire[f.name + "_pps"] = flood.pps();
            r.wire["offered_pps_" + f.name] = flood.offered_pps();
            r.wire["sender_drops_" + f.name] = double(flood.tx_dropped);
            r.wire["cpu_ns_" + f.name] = fixed.cpu_ns();
            r.wire["cpu_ns_raw_" + f.name] = fixed.cpu_ns_raw();
            r.wire["cpu_ns_traffic_" + f.name] = fixed.cpu_ns_traffic();
            r.wire["fixed_offered_pps_" + f.name] = fixed.offered_pps();
            r.wire["fixed_dropped_pps_" + f.name] = fixed.pps();
            sender_max = std::max(sender_max, flood.offered_pps());
            if (f.name != "none" && flood.pps() < 0.95 * flood.offered_pps()) all_reached = false;
            if (f.name == "edgefw") {
                auto [cnt, ns] = stats_window(f, conf);
                r.wire["edgefw_stats_run_cnt"] = double(cnt);
                r.wire["edgefw_stats_ns"] = cnt ? double(ns) / double(cnt) : 0;
            }
        } catch (...) {
            f.remove();
            throw;
        }
        f.remove();
    }
    r.wire["sender_pps"] = sender_max;
    r.sender_limited = all_reached;

    // 1,000 RTP flows that edgefw passes: to the A/V Edge's own external address
    // (edge1-ext-av-rtp-udp-in, 198.18.155.30 under the test site; run.sh puts it
    // on the receiving device, so the stack takes them in and finds no socket).
    // Passed = that rule's counter (it counts conntrack hits too); received =
    // the receiving device's rx packets; delivered = Udp NoPorts in its netns.
    const std::string mf_spec = "udp 198.18.155.200:40000 > 198.18.155.30:50010 len 64";
    const std::string mf_rule = "edge1-ext-av-rtp-udp-in";
    auto mf_pkt = packet::parse_spec(mf_spec, packet::Dir::ingress, perr);
    if (!mf_pkt) throw Error("bench: packet '" + mf_spec + "': " + perr.message);
    const std::string mf_conf = dir + "/trafgen-flows.cfg";
    write_file(mf_conf, trafgen_conf_flows(packet::build_frame(*mf_pkt), rx_mac, tx_mac));
    uint32_t mf_index = UINT32_MAX;
    for (const auto& ri : img.rules)
        if (ri.id == mf_rule) mf_index = ri.index;
    if (mf_index == UINT32_MAX)
        throw Error("bench: rule " + mf_rule +
                    " is not enforced on edge1; the multi-flow case "
                    "needs it");
    r.info["packet_wire_multiflow"] =
        "udp 198.18.155.200:{1,000 ports in 40,000-41,916} > 198.18.155.30:50010 len 64, UDP "
        "checksum 0 (passed by rule " +
        mf_rule + ")";
    const auto& edgefw = filters.front();
    Filter mf{"multiflow", edgefw.install, edgefw.remove,
              [&] { return dp.rule_counter(mf_index).packets; },
              [&] {
                  return std::vector<uint64_t>{
                      rx_packets(s.rx_ns, s.rx_dev),
                      first_number_after(sh(rx + "cat /proc/net/snmp"), "Udp: [0-9]+ ([0-9]+)")};
              }};
    const uint64_t mf_drops0 = dp.reason_counter(EF_R_DEFAULT_EXTERNAL_INGRESS).packets;
    mf.install();
    try {
        Window flood = window(mf, mf_conf, 0, s.wire_secs, {});
        Window fixed = window(mf, mf_conf, s.fixed_pps, s.wire_secs, {});
        auto [cnt, ns] = stats_window(mf, mf_conf);
        r.wire["multiflow_pps"] = flood.pps();
        r.wire["offered_pps_multiflow"] = flood.offered_pps();
        r.wire["sender_drops_multiflow"] = double(flood.tx_dropped);
        r.wire["multiflow_rx_pps"] = double(flood.extra.at(0)) / flood.secs;
        r.wire["multiflow_delivered_pps"] = double(flood.extra.at(1)) / flood.secs;
        r.wire["cpu_ns_multiflow"] = fixed.cpu_ns();
        r.wire["cpu_ns_raw_multiflow"] = fixed.cpu_ns_raw();
        r.wire["cpu_ns_traffic_multiflow"] = fixed.cpu_ns_traffic();
        r.wire["fixed_offered_pps_multiflow"] = fixed.offered_pps();
        r.wire["fixed_passed_pps_multiflow"] = fixed.pps();
        r.wire["multiflow_stats_run_cnt"] = double(cnt);
        r.wire["multiflow_stats_ns"] = cnt ? double(ns) / double(cnt) : 0;
        r.wire["multiflow_ct_entries"] = double(dp.ct_entries());
    } catch (...) {
        mf.remove();
        throw;
    }
    mf.remove();
    // The verdict: these packets must pass by the rule, not fall to the default drop.
    const uint64_t mf_drops = dp.reason_counter(EF_R_DEFAULT_EXTERNAL_INGRESS).packets - mf_drops0;
    if (r.wire.at("multiflow_pps") <= 0 ||
        double(mf_drops) > 0.01 * r.wire.at("multiflow_pps") * s.wire_secs)
        throw Error("bench: in the multi-flow case edgefw passed " +
                    std::to_string(r.wire.at("multiflow_pps")) + " pps by " + mf_rule +
                    " and dropped " + std::to_string(mf_drops) +
                    " packets by default; the setup is wrong");
    r.wire_done = true;
}

}  // namespace bench
