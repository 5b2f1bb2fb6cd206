// Steps 3 and 4 of the classification as the kernel reads them: the compiler's
// longest-prefix tables (MapImage::remotes, ::sports) turned into sorted,
// disjoint ranges per group, for a binary search (maps/edgefw_abi.h). Plain
// data and a pure function of the image; tests check it against the prefixes.
#pragma once

#include <cstdint>
#include <vector>

#include "image/map_image.h"

namespace image {

struct FlatImage {
    std::vector<ef_range_index> remote_index;  // [bucket]: its ranges in remote_ranges
    std::vector<ef_remote_range> remote_ranges;
    std::vector<ef_range_index> sport_index;  // [remote class]: its ranges in sport_ranges
    std::vector<ef_sport_range> sport_ranges;
};

FlatImage flatten(const MapImage& img);

// What the programs compute from a FlatImage (for tests): the remote class of
// `addr` (16 bytes, network order) in `bucket`, and the rule + 1 of `sport` in
// `remote_class`; 0 when nothing matches.
uint32_t flat_remote(const FlatImage& f, uint32_t bucket, const uint8_t* addr);
uint32_t flat_sport(const FlatImage& f, uint32_t remote_class, uint16_t sport);

}  // namespace image
