// Policy -> map image for one node. The image is plain data: exactly the keys
// and values the kernel side writes (docs/classification.md).
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include "image/map_image.h"
#include "policy/policy.h"

namespace compile {

struct Report {
    std::vector<std::pair<std::string, std::vector<std::string>>> disabled;  // feature -> rule ids
    std::vector<std::string> not_on_node;  // enabled rules with no placement on this node
};

struct Error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Throws compile::Error when the node is unknown or a map limit is exceeded.
image::MapImage compile_node(const policy::Policy& p, const std::string& node,
                             Report* report = nullptr);

}  // namespace compile
