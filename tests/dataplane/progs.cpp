// Program metadata for reports: both programs loaded, instruction counts sane.
#include <criterion/criterion.h>

#include "fixture.h"

using namespace dptest;

Test(progs, info) {
    auto dp = make_dataplane();
    for (auto dir : {packet::Dir::ingress, packet::Dir::egress}) {
        kernel::ProgInfo pi = dp->prog_info(dir);
        cr_expect_gt(pi.fd, 0);
        cr_expect_gt(pi.id, 0u);
        cr_expect_gt(pi.xlated_insns, 100u);
        cr_expect_gt(pi.jited_bytes, 0u);
        cr_log_info("%s: id %u, %u xlated insns, %u jited bytes, %u verified insns",
                    dir == packet::Dir::ingress ? "ef_xdp_ingress" : "ef_tc_egress", pi.id,
                    pi.xlated_insns, pi.jited_bytes, pi.verified_insns);
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
