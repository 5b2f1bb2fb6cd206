// SHA-256 (FIPS 180-4) of bytes in memory: the bundle manifest's file hashes,
// which an operator can check with sha256sum(1).
#pragma once

#include <string>
#include <string_view>

namespace bundle {

std::string sha256_hex(std::string_view data);

}  // namespace bundle
