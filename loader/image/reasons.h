// Names of the reason counters (maps/edgefw_abi.h enum ef_reason), shared by
// the CLI, the exporter and the tests.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace image {

const char* reason_name(uint32_t reason);
std::optional<uint32_t> reason_by_name(std::string_view name);
// Whether packets counted under this reason are passed (the defaults of egress
// depend on the egress mode and are reported as drop here).
bool reason_passes(uint32_t reason);

}  // namespace image
