// Strict reading of YAML nodes: every accessor checks the type, every map is
// checked for unknown keys, every problem becomes a located diagnostic.
#pragma once

#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "policy/cidr.h"
#include "policy/diag.h"
#include "policy/ytree.h"

namespace policy {

class YamlReader {
  public:
    YamlReader(std::string file, Diagnostics& diags) : file_(std::move(file)), diags_(diags) {}

    Loc loc(const YNode& n) const;
    Diagnostics& diags() { return diags_; }
    const std::string& file() const { return file_; }

    // Parses the whole text; nullopt (with a located error) on a YAML syntax error.
    std::optional<YNode> parse(const std::string& text);

    bool expect_map(const YNode& n, const std::string& what);
    // Reports every key of `map` not in `allowed`, naming what `what` accepts.
    void check_keys(const YNode& map, std::initializer_list<const char*> allowed,
                    const std::string& what);
    bool require(const YNode& map, const char* key, const std::string& what);

    std::optional<std::string> string(const YNode& n, const std::string& what);
    std::optional<long long> integer(const YNode& n, const std::string& what, long long lo,
                                     long long hi);
    std::optional<bool> boolean(const YNode& n, const std::string& what);
    // A scalar or a sequence of scalars, each with its location.
    std::vector<std::pair<std::string, Loc>> scalars(const YNode& n, const std::string& what);
    // Port expression: any, N, A-B, or a list of those.
    std::optional<std::vector<PortRange>> ports(const YNode& n, const std::string& what);

  private:
    std::string file_;
    Diagnostics& diags_;
};

}  // namespace policy
