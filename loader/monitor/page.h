// The exporter's human page at "/": instances, rules and counts as HTML, from
// the same snapshot as monitor/prometheus.h. Pure, for unit tests.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace monitor {

std::string html_escape(std::string_view v);
std::string to_html(const nlohmann::json& snapshot);

}  // namespace monitor
