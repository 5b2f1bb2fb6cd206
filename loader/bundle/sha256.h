// SHA-256 (OpenSSL libcrypto) of bytes in memory: the bundle manifest's file hashes,
// which an operator can check with sha256sum(1).
#pragma once

#include <string>
#include <string_view>

namespace bundle {

std::string sha256_hex(std::string_view data);

}  // namespace bundle
