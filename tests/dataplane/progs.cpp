// Program metadata for reports, and every configuration edgefw loads the
// programs in. The rodata constants prune different code in each, so each is
// its own verification: Linux 6.1 once rejected the drop-log path of `load`
// while the test-run configuration passed.
#include <bpf/libbpf.h>
#include <criterion/criterion.h>

#include "fixture.h"

using namespace dptest;

namespace {

void log_info(const char* variant, const kernel::Dataplane& dp) {
    for (auto dir : {packet::Dir::ingress, packet::Dir::egress}) {
        kernel::ProgInfo pi = dp.prog_info(dir);
        cr_expect_gt(pi.fd, 0);
        cr_expect_gt(pi.id, 0u);
        cr_expect_gt(pi.xlated_insns, 100u);
        cr_expect_gt(pi.jited_bytes, 0u);
        // vm/vm.sh reads the `load` line ("NAME: id ...") for its table.
        const char* name = dir == packet::Dir::ingress ? "ef_xdp_ingress" : "ef_tc_egress";
        if (std::string(variant) == "load")
            cr_log_info("%s: id %u, %u xlated insns, %u jited bytes, %u verified insns", name,
                        pi.id, pi.xlated_insns, pi.jited_bytes, pi.verified_insns);
        else
            cr_log_info("%s [%s]: id %u, %u xlated insns, %u verified insns", name, variant, pi.id,
                        pi.xlated_insns, pi.verified_insns);
    }
}

int count_event(void* ctx, void* data, size_t size) {
    auto* events = static_cast<std::vector<ef_drop_event>*>(ctx);
    if (size >= sizeof(ef_drop_event)) events->push_back(*static_cast<ef_drop_event*>(data));
    return 0;
}

}  // namespace

// What `edgefw load` runs: drop log on, flows created, no per-packet ef_last.
Test(progs, info) {
    require_root();
    kernel::Options o;
    o.log_per_sec_per_cpu = 100;
    kernel::Dataplane dp(o);
    log_info("load", dp);
}

// What `edgefw test`/`explain` and the self-test run, and the benchmarks.
Test(progs, other_configurations_load) {
    auto test_run = make_dataplane();
    log_info("test-run", *test_run);
    kernel::Options bench;
    bench.ct_create = false;
    kernel::Dataplane dp(bench);
    log_info("bench", dp);
}

// The `load` configuration does what it is loaded for: a denied packet is
// dropped, counted and logged once; with the log off nothing is queued.
Test(progs, load_configuration_logs_drops) {
    require_root();
    for (uint32_t rate : {100u, 0u}) {
        kernel::Options o;
        o.log_per_sec_per_cpu = rate;
        kernel::Dataplane dp(o);
        dp.write_image(build_image(test_rules()));
        dp.set_iface_role(kernel::Dataplane::kTestRunIfindex, EF_ROLE_EXTERNAL);
        auto r = dp.run(packet::Dir::ingress, frame_of("udp 203.0.113.9:4000 > 198.18.155.110:9"));
        cr_expect_not(r.pass, "a packet to port 9 passed");
        std::vector<ef_drop_event> events;
        ring_buffer* rb = ring_buffer__new(dp.shared_maps().log, count_event, &events, nullptr);
        cr_assert_not_null(rb, "ring_buffer__new on ef_log");
        ring_buffer__consume(rb);
        ring_buffer__free(rb);
        cr_expect_eq(events.size(), rate ? 1u : 0u, "log rate %u: %zu events", rate, events.size());
        if (!events.empty()) cr_expect_eq(events[0].dport, 9, "event dport %u", events[0].dport);
    }
}

Test(progs, bad_options_name_the_fix) {
    require_root();
    kernel::Options o;
    o.ct_size = 0;
    try {
        kernel::Dataplane dp(o);
        cr_expect_fail("ct_size 0 accepted");
    } catch (const kernel::Error& e) {
        cr_expect(std::string(e.what()).find("ef_ct") != std::string::npos, "%s", e.what());
    }
}
