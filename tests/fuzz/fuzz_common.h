// Helpers shared by the libFuzzer targets (mk/fuzz.mk builds them with clang++
// and -fsanitize=fuzzer,address,undefined; run them with `make fuzz`).
#pragma once

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace fuzz {

// The path of a file of the repository: the targets run from the repo root,
// or from anywhere with EDGEFW_ROOT set.
inline std::string repo_file_path(const std::string& rel) {
    const char* root = std::getenv("EDGEFW_ROOT");
    return root ? std::string(root) + "/" + rel : rel;
}

// The contents of a file of the repository.
inline std::string repo_file(const std::string& rel) {
    std::string path = repo_file_path(rel);
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        std::fprintf(stderr, "fuzz: cannot read %s (run from the repo root or set EDGEFW_ROOT)\n",
                     path.c_str());
        std::abort();
    }
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

// A failed property: print it and abort, so libFuzzer keeps the input.
[[noreturn]] inline void fail(const std::string& what) {
    std::fprintf(stderr, "fuzz: property failed: %s\n", what.c_str());
    std::abort();
}

}  // namespace fuzz
