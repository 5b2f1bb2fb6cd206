// Site-file merge: the fixed reference policy with a fuzzed site file, through
// policy::load_text, then compile_node for every node.
#include <cstddef>
#include <cstdint>
#include <string>

#include "compile/compile.h"
#include "fuzz_common.h"
#include "policy/policy.h"

namespace {
const std::string& reference() {
    static const std::string text = fuzz::repo_file("policies/lync2010-edge-hlb.yaml");
    return text;
}
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    (void)reference();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string site(reinterpret_cast<const char*>(data), size);
    policy::Diagnostics diags;
    auto p =
        policy::load_text(reference(), "lync2010-edge-hlb.yaml", site, "fuzz-site.yaml", diags);
    if (!p) return 0;
    for (const auto& [name, node] : p->nodes) {
        try {
            (void)compile::compile_node(*p, name);
        } catch (const compile::Error& e) {
            fuzz::fail("compile_node(" + name + ") threw on a site that loaded: " + e.what());
        }
    }
    return 0;
}
