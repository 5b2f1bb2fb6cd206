// The map image as text (for people) and JSON (for tools): deterministic, and
// showing exactly the keys and values the kernel side writes.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "image/map_image.h"

namespace image {

nlohmann::json to_json(const MapImage& img);
std::string to_text(const MapImage& img);
std::string combo_name(uint32_t combo);  // "external/ingress/tcp"
std::string addr_text(const uint8_t addr[16], int plen = 128);

}  // namespace image
