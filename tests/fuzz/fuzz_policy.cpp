// Policy parser: YAML text -> policy::load_text -> compile::compile_node for
// every node. Diagnostics are fine; crashes, leaks, UB, hangs and exceptions
// escaping the parser are not. A policy that loads must compile (a compile
// error can only be a map limit, which these small inputs cannot reach).
#include <cstddef>
#include <cstdint>
#include <string>

#include "compile/compile.h"
#include "fuzz_common.h"
#include "policy/policy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string text(reinterpret_cast<const char*>(data), size);
    policy::Diagnostics diags;
    auto p = policy::load_text(text, "fuzz.yaml", "", "", diags);
    if (!p) return 0;
    for (const auto& [name, node] : p->nodes) {
        compile::Report report;
        try {
            (void)compile::compile_node(*p, name, &report);
        } catch (const compile::Error& e) {
            std::string msg = e.what();
            if (msg.find("limit") == std::string::npos && msg.find("too many") == std::string::npos)
                fuzz::fail("compile_node(" + name + ") threw on a policy that loaded: " + msg);
        }
        (void)p->local_addresses(name, EF_ROLE_EXTERNAL);
        (void)p->local_addresses(name, EF_ROLE_INTERNAL);
    }
    return 0;
}
