// The four classification lookups of the data plane, done in userspace over a
// map image. Lets the compiler be tested against the model without a kernel.
#pragma once

#include <array>
#include <map>
#include <optional>
#include <unordered_map>

#include "image/map_image.h"

namespace image {

class Lookup {
  public:
    explicit Lookup(const MapImage& img);

    // Rule index for a new flow, or nullopt (the default applies). Addresses
    // are 16 bytes, IPv4-mapped; for ICMP dport = type << 8 | code, sport = 0.
    std::optional<uint32_t> classify(uint32_t combo, const std::array<uint8_t, 16>& local,
                                     const std::array<uint8_t, 16>& remote, uint16_t dport,
                                     uint16_t sport) const;

  private:
    std::map<std::pair<uint32_t, uint16_t>, std::pair<uint16_t, uint32_t>>
        ports_;  // (combo, lo) -> (hi, class)
    std::map<std::pair<uint32_t, std::array<uint8_t, 16>>, uint32_t> locals_;
    std::map<std::pair<uint32_t, int>, std::map<std::array<uint8_t, 16>, uint32_t>>
        remotes_;                                                              // (bucket, plen)
    std::map<std::pair<uint32_t, int>, std::map<uint16_t, uint32_t>> sports_;  // (class, plen)
};

}  // namespace image
