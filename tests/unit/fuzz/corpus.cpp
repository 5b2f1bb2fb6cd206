// The fuzz seeds and regression cases (tests/fuzz/corpus/) replayed through the
// same calls as the fuzz targets, so the g++ unit build and `make unit-asan`
// catch a regression without libFuzzer. Outcomes are not checked here, only
// that every input goes through (crashes and sanitizer reports fail the run).
#include <criterion/criterion.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "compile/compile.h"
#include "packet/packet.h"
#include "policy/policy.h"

namespace fs = std::filesystem;

namespace {

std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

std::vector<fs::path> inputs(const char* target) {
    std::vector<fs::path> out;
    fs::path dir = fs::path("tests/fuzz/corpus") / target;
    cr_assert(fs::is_directory(dir), "no %s (run from the repo root)", dir.c_str());
    for (const auto& e : fs::directory_iterator(dir))
        if (e.is_regular_file()) out.push_back(e.path());
    cr_assert(!out.empty(), "%s is empty", dir.c_str());
    return out;
}

size_t compile_all(const policy::Policy& p) {
    size_t n = 0;
    for (const auto& [name, node] : p.nodes) {
        compile::compile_node(p, name);
        n++;
    }
    return n;
}

}  // namespace

Test(fuzz_corpus, policy_inputs_load_and_compile) {
    for (const auto& f : inputs("policy")) {
        policy::Diagnostics diags;
        auto p = policy::load_text(slurp(f), f.string(), "", "", diags);
        if (p) compile_all(*p);  // regression cases need not be valid policies
    }
}

Test(fuzz_corpus, site_inputs_merge_with_reference) {
    std::string reference = slurp("policies/lync2010-edge-hlb.yaml");
    for (const auto& f : inputs("site")) {
        policy::Diagnostics diags;
        auto p =
            policy::load_text(reference, "lync2010-edge-hlb.yaml", slurp(f), f.string(), diags);
        if (p) compile_all(*p);
    }
}

Test(fuzz_corpus, spec_inputs_round_trip) {
    for (const auto& f : inputs("spec")) {
        std::string data = slurp(f);
        if (data.empty()) continue;
        packet::SpecError err;
        auto p = packet::parse_spec(data.substr(1), packet::Dir::ingress, err);
        if (!p) continue;
        auto q = packet::parse_spec(packet::to_spec(*p), packet::Dir::ingress, err);
        cr_assert(q.has_value(), "%s: %s", f.c_str(), err.message.c_str());
        bool ext = p->proto == 0 || p->proto == 43 || p->proto == 44 || p->proto == 60;
        if (!p->dst.is_v4() && ext) continue;  // reads back as an IPv6 extension header
        auto frame = packet::build_frame(*p);
        cr_assert(packet::parse_frame(frame.data(), frame.size()).has_value(), "%s", f.c_str());
    }
}

Test(fuzz_corpus, frame_inputs_parse) {
    for (const auto& f : inputs("frame")) {
        std::string data = slurp(f);
        std::vector<uint8_t> frame(data.begin(), data.end());
        auto p = packet::parse_frame(frame.data(), frame.size());
        if (p) (void)packet::to_spec(*p);
    }
}
