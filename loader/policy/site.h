// The site file: a real deployment's addresses and features, applied over the
// reference policy without editing it.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "policy/policy.h"

namespace policy {

struct AddressMap {
    Cidr from, to;  // same family and prefix length; host part kept
    Loc loc;
};

struct Site {
    std::string file;
    std::vector<AddressMap> addresses;
    std::vector<std::pair<std::pair<std::string, Loc>, bool>> features;  // (name, where), enabled
    std::vector<Management> management;

    // The longest mapping containing `a` translates it; others stay as they are.
    packet::Addr map_address(const packet::Addr& a) const;
    // A prefix maps when a mapping contains it whole; a prefix that straddles a
    // mapping (wider than it but overlapping) cannot be mapped: nullopt + err.
    std::optional<Cidr> map_cidr(const Cidr& c, std::string& err) const;
};

// Besides the schema, refuses: one address mapped twice, mappings whose
// targets overlap (two ranges would become one), and, unless
// opts.allow_wide_management, management entries wider than /16 (IPv4) or
// /48 (IPv6) or for every port.
std::optional<Site> parse_site(const std::string& text, const std::string& file, Diagnostics& diags,
                               const LoadOptions& opts = {});

// The mapping that translates `a` (the longest containing it), if any.
const AddressMap* mapping_of(const Site& site, const packet::Addr& a);

}  // namespace policy
