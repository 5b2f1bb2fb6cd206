#include "fixture.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <unistd.h>

#include <map>
#include <tuple>

namespace dptest {

namespace {

packet::Addr addr(const std::string& text) {
    auto a = packet::parse_addr(text);
    if (!a) cr_assert_fail("test image: bad address %s", text.c_str());
    return *a;
}

// "any" -> (::, 0); "a.b.c.d/n" -> (mapped, 96 + n); "v6/n" -> (v6, n).
std::pair<packet::Addr, uint32_t> cidr(const std::string& text) {
    if (text == "any") return {packet::Addr{}, 0};
    auto slash = text.find('/');
    packet::Addr a = addr(text.substr(0, slash));
    uint32_t len = a.is_v4() ? 32 : 128;
    if (slash != std::string::npos) len = uint32_t(std::stoul(text.substr(slash + 1)));
    return {a, a.is_v4() ? 96 + len : len};
}

}  // namespace

std::vector<RuleSpec> test_rules() {
    return {
        {EF_ROLE_EXTERNAL, EF_DIR_INGRESS, EF_PS_TCP, 443, 443, "198.18.155.110", "any"},
        {EF_ROLE_EXTERNAL, EF_DIR_INGRESS, EF_PS_UDP, 50000, 59999, "198.18.155.30", "any"},
        {EF_ROLE_EXTERNAL, EF_DIR_EGRESS, EF_PS_TCP, 80, 80, "198.18.155.10", "any"},
        {EF_ROLE_EXTERNAL, EF_DIR_INGRESS, EF_PS_TCP, 5061, 5061, "198.18.155.10",
         "198.19.10.90/31"},
        {EF_ROLE_EXTERNAL, EF_DIR_INGRESS, EF_PS_TCP, 443, 443, "2001:db8::10", "any"},
        {EF_ROLE_EXTERNAL, EF_DIR_INGRESS, EF_PS_ICMP, 8 << 8, 8 << 8, "198.18.155.10", "any"},
        {EF_ROLE_EXTERNAL, EF_DIR_EGRESS, EF_PS_UDP, 53, 53, "198.18.155.10", "198.51.100.53/32"},
        {EF_ROLE_EXTERNAL, EF_DIR_INGRESS, EF_PS_ICMP6, 128 << 8, 128 << 8, "2001:db8::10", "any"},
        {EF_ROLE_INTERNAL, EF_DIR_INGRESS, EF_PS_TCP, 22, 22, "198.19.0.10", "198.19.200.0/24"},
    };
}

// Same (combo, range) shares a port class; same (class, local) shares a bucket;
// each rule gets its own remote class. Test rules never overlap partially.
image::MapImage build_image(const std::vector<RuleSpec>& rules) {
    image::MapImage img;
    img.policy_name = "dataplane-test";
    img.node = "edge1";
    std::map<std::tuple<uint32_t, uint16_t, uint16_t>, uint32_t> classes;
    std::map<std::pair<uint32_t, packet::Addr>, uint32_t> buckets;

    for (uint32_t i = 0; i < rules.size(); ++i) {
        const RuleSpec& r = rules[i];
        image::RuleInfo info;
        info.index = i;
        info.id = "test-rule-" + std::to_string(i);
        info.placements.push_back({r.role, r.dir});
        img.rules.push_back(info);

        uint32_t combo = EF_COMBO(r.role, r.dir, r.slot);
        auto ckey = std::make_tuple(combo, r.dport_lo, r.dport_hi);
        auto [cit, new_class] = classes.emplace(ckey, uint32_t(classes.size() + 1));
        if (new_class) img.port_classes.push_back({combo, r.dport_lo, r.dport_hi, cit->second});

        packet::Addr local = addr(r.local);
        auto [bit, new_bucket] =
            buckets.emplace(std::make_pair(cit->second, local), uint32_t(buckets.size() + 1));
        if (new_bucket) {
            image::LocalEntry le;
            le.key.port_class = cit->second;
            std::copy(local.bytes.begin(), local.bytes.end(), le.key.addr);
            le.bucket = bit->second;
            img.locals.push_back(le);
        }

        auto [raddr, rlen] = cidr(r.remote);
        image::RemoteEntry re;
        re.key.prefixlen = 32 + rlen;
        re.key.bucket = bit->second;
        std::copy(raddr.bytes.begin(), raddr.bytes.end(), re.key.addr);
        re.remote_class = i + 1;
        img.remotes.push_back(re);

        // Anti-spoofing: the rule's local side is an address of the node on that role.
        ef_local_addr_key lak{};
        lak.role = r.role;
        std::copy(local.bytes.begin(), local.bytes.end(), lak.addr);
        bool seen = false;
        for (const auto& k : img.local_addrs)
            seen = seen || (k.role == lak.role && std::equal(k.addr, k.addr + 16, lak.addr));
        if (!seen) img.local_addrs.push_back(lak);

        image::SportEntry pe;
        pe.key.prefixlen = r.sport < 0 ? 32 : 48;
        pe.key.remote_class = i + 1;
        pe.key.port_be = r.sport < 0 ? 0 : htons(uint16_t(r.sport));
        pe.rule_plus_one = i + 1;
        img.sports.push_back(pe);
    }
    return img;
}

void require_root() {
    if (geteuid() != 0) cr_skip_test("data-plane tests need root (BPF_PROG_TEST_RUN): skipped");
}

std::unique_ptr<kernel::Dataplane> make_dataplane(uint32_t role, kernel::Options opts) {
    require_root();
    opts.record_last = true;
    auto dp = std::make_unique<kernel::Dataplane>(opts);
    dp->write_image(build_image(test_rules()));
    dp->set_iface_role(kernel::Dataplane::kTestRunIfindex, role);
    return dp;
}

packet::Packet spec(const std::string& line) {
    packet::SpecError err;
    auto p = packet::parse_spec(line, packet::Dir::ingress, err);
    if (!p) cr_assert_fail("bad spec '%s': %s", line.c_str(), err.message.c_str());
    return *p;
}

std::vector<uint8_t> frame_of(const std::string& line) { return packet::build_frame(spec(line)); }

void expect_run(kernel::Dataplane& dp, const std::string& what, packet::Dir dir,
                const std::vector<uint8_t>& frame, const Expect& want) {
    auto read = [&](uint32_t kind, uint32_t index) {
        return kind == EF_LAST_RULE ? dp.rule_counter(index) : dp.reason_counter(index);
    };
    ef_counter before = read(want.kind, want.index);
    kernel::RunResult got = dp.run(dir, frame);
    ef_counter after = read(want.kind, want.index);

    const char* w = what.c_str();
    cr_expect_eq(got.pass, want.pass, "%s: verdict %s, want %s (retval %u)", w,
                 got.pass ? "pass" : "drop", want.pass ? "pass" : "drop", got.retval);
    cr_expect(got.counted, "%s: no counter moved", w);
    cr_expect(got.kind == want.kind && got.index == want.index,
              "%s: counted under %s %u, want %s %u", w,
              got.kind == EF_LAST_RULE ? "rule" : "reason", got.index,
              want.kind == EF_LAST_RULE ? "rule" : "reason", want.index);
    cr_expect_eq(after.packets - before.packets, 1u, "%s: packets delta %llu, want 1", w,
                 (unsigned long long)(after.packets - before.packets));
    cr_expect_eq(after.bytes - before.bytes, frame.size(), "%s: bytes delta %llu, want %zu", w,
                 (unsigned long long)(after.bytes - before.bytes), frame.size());
}

void expect_spec(kernel::Dataplane& dp, const std::string& line, const Expect& want) {
    packet::Packet p = spec(line);
    expect_run(dp, line, p.dir, packet::build_frame(p), want);
}

void run_table(kernel::Dataplane& dp, const std::vector<Row>& rows) {
    for (const Row& row : rows) {
        packet::Packet p = spec(row.spec);
        if (row.shape) row.shape(p);
        expect_run(dp, row.name + " [" + row.spec + "]", p.dir, packet::build_frame(p), row.want);
    }
}

std::vector<uint8_t> raw_frame(uint16_t ethertype, size_t payload) {
    std::vector<uint8_t> f = {0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01};
    f.push_back(uint8_t(ethertype >> 8));
    f.push_back(uint8_t(ethertype));
    f.resize(f.size() + payload, 0);
    return f;
}

std::function<void(packet::Packet&)> first_fragment(uint32_t id) {
    return [id](packet::Packet& p) {
        p.fragment = true;
        p.more_fragments = true;
        p.frag_offset = 0;
        p.frag_id = id;
    };
}

std::function<void(packet::Packet&)> later_fragment(uint32_t id, uint16_t offset, bool more) {
    return [id, offset, more](packet::Packet& p) {
        p.fragment = true;
        p.more_fragments = more;
        p.frag_offset = offset;
        p.frag_id = id;
    };
}

}  // namespace dptest
