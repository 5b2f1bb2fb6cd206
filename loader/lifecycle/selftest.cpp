#include "lifecycle/selftest.h"

#include <netinet/in.h>

#include <algorithm>
#include <map>

#include "compile/placement.h"
#include "image/reasons.h"
#include "kernel/dataplane.h"
#include "kernel/map_write.h"
#include "model/model.h"

namespace lifecycle {

std::vector<Probe> boundary_probes(const policy::Policy& p, const std::string& node) {
    std::vector<Probe> out;
    const packet::Addr any_remote = *packet::parse_addr("203.0.113.7");
    const packet::Addr any_remote6 = *packet::parse_addr("2001:db8:ffff::7");
    std::map<uint32_t, std::vector<packet::Addr>> locals;
    auto is_local = [&](uint32_t role, const packet::Addr& a) {
        auto it = locals.find(role);
        if (it == locals.end()) it = locals.emplace(role, p.local_addresses(node, role)).first;
        return std::find(it->second.begin(), it->second.end(), a) != it->second.end();
    };
    for (const auto& e : compile::place(p, node)) {
        bool in = e.dir == EF_DIR_INGRESS;
        bool icmp = e.rule->proto == policy::Proto::icmp || e.rule->proto == policy::Proto::icmp6;
        for (const auto& local : e.local) {
            // ICMP is IPv4's and ICMPv6 IPv6's: an object of both families gives
            // an icmp rule IPv6 addresses it can never match. Not probed.
            if ((e.rule->proto == policy::Proto::icmp && !local.is_v4()) ||
                (e.rule->proto == policy::Proto::icmp6 && local.is_v4()))
                continue;
            const policy::Cidr* remote_cidr = nullptr;
            for (const auto& c : e.remote)
                if (c.is_any() || c.addr.is_v4() == local.is_v4()) {
                    remote_cidr = &c;
                    break;
                }
            if (!remote_cidr) continue;
            packet::Addr remote = remote_cidr->is_any() ? (local.is_v4() ? any_remote : any_remote6)
                                                        : remote_cidr->addr;
            if (!remote_cidr->is_any() && remote_cidr->plen < 128) remote.bytes[15] |= 1;
            // An ingress packet from one of the role's own addresses drops as
            // spoofed before any rule is asked (step 2): no probe there.
            if (in && is_local(e.role, remote)) continue;
            for (const auto& range : e.dport)
                for (int port : {range.lo - 1, int{range.lo}, int{range.hi}, range.hi + 1}) {
                    if (port < 0 || port > 65535) continue;
                    Probe pr;
                    pr.role = e.role;
                    pr.rule = e.rule->id;
                    pr.inside = port >= range.lo && port <= range.hi;
                    auto& pkt = pr.pkt;
                    pkt.dir = in ? packet::Dir::ingress : packet::Dir::egress;
                    pkt.proto = policy::proto_number(e.rule->proto);
                    pkt.src = in ? remote : local;
                    pkt.dst = in ? local : remote;
                    if (icmp) {
                        pkt.icmp_type = static_cast<uint8_t>(port >> 8);
                        pkt.icmp_code = static_cast<uint8_t>(port & 0xff);
                        if (model::is_icmp_error(pkt.proto, pkt.icmp_type)) continue;
                    } else {
                        pkt.dport = static_cast<uint16_t>(port);
                        pkt.sport = e.sport.front().lo == 0 ? 40000 : e.sport.front().lo;
                        pkt.tcp_flags = packet::tcp_flag::SYN;
                    }
                    out.push_back(pr);
                }
        }
    }
    return out;
}

SelfTest self_test(const policy::Policy& p, const std::string& node, const image::MapImage& img,
                   const std::function<void(const ProbeResult&)>& each) {
    SelfTest st;
    auto all = boundary_probes(p, node);
    st.of = all.size();
    // Evenly spaced: the k-th of n probes kept is all[k * size / n].
    std::vector<Probe> probes;
    size_t n = std::min(all.size(), kMaxSelfTestProbes);
    probes.reserve(n);
    for (size_t k = 0; k < n; ++k) probes.push_back(std::move(all[k * all.size() / n]));

    // The kernel side (load the scratch programs, write the image, run every
    // frame) on one thread, the model's verdicts on the other: neither reads
    // the other's results until both are done.
    std::vector<std::vector<uint8_t>> frames(probes.size());
    for (size_t i = 0; i < probes.size(); ++i) frames[i] = packet::build_frame(probes[i].pkt);
    std::vector<kernel::RunResult> got(probes.size());
    std::vector<model::Verdict> want(probes.size());
    kernel::run_parallel({
        [&] {
            kernel::Options opts = kernel::Options::from_image(img);
            opts.record_last = true;
            opts.ct_size = 1024;
            // Every probe is judged as the first packet of its flow: no entry
            // is made, so none has to be cleared between probes (the model's
            // are cleared).
            opts.ct_create = false;
            kernel::Dataplane dp(opts);
            dp.write_image(img);
            uint32_t role = ~0u;
            for (size_t i = 0; i < probes.size(); ++i) {
                if (probes[i].role != role)
                    dp.set_iface_role(kernel::Dataplane::kTestRunIfindex, role = probes[i].role);
                got[i] = dp.run(probes[i].pkt.dir, frames[i]);
            }
        },
        [&] {
            model::Model m(p, node);
            for (size_t i = 0; i < probes.size(); ++i) {
                m.clear();
                want[i] = m.run_frame(probes[i].role, probes[i].pkt.dir, frames[i]);
            }
        },
    });

    for (size_t i = 0; i < probes.size(); ++i) {
        const Probe& probe = probes[i];
        st.probes++;
        bool by_rule = got[i].kind == EF_LAST_RULE;
        bool agree = got[i].counted && got[i].pass == want[i].pass && by_rule == want[i].by_rule &&
                     got[i].index == want[i].index;
        bool sane = !probe.inside || want[i].pass;
        auto name = [&](bool rule, uint32_t i) {
            return rule ? (i < p.rules.size() ? p.rules[i].id : "?") : image::reason_name(i);
        };
        if (each)
            each({&probe, (want[i].pass ? "pass " : "drop ") + name(want[i].by_rule, want[i].index),
                  (got[i].pass ? "pass " : "drop ") + name(by_rule, got[i].index), agree && sane});
        if (agree && sane) {
            st.passed++;
            continue;
        }
        st.mismatches.push_back(std::string(policy::role_name(probe.role)) + " " +
                                packet::to_spec(probe.pkt) + " (from rule " + probe.rule +
                                "): model " + (want[i].pass ? "pass " : "drop ") +
                                name(want[i].by_rule, want[i].index) + ", kernel " +
                                (got[i].pass ? "pass " : "drop ") + name(by_rule, got[i].index));
    }
    return st;
}

}  // namespace lifecycle
