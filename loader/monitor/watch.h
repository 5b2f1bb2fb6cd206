// `edgefw stats --watch SECS`: one screen of counters with per-rule rates
// computed between two samples of lifecycle::stats(). Pure, for unit tests.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace monitor {

struct WatchFrame {
    const nlohmann::json* current = nullptr;   // lifecycle::stats()
    const nlohmann::json* previous = nullptr;  // the sample before, or null (no rates yet)
    double elapsed_secs = 0;                   // between previous and current
    int64_t now_unix = 0;                      // for "last hit N s ago"
    double interval_secs = 0;                  // shown in the header
};

// The screen's text, without the ANSI clear/home prefix.
std::string render_watch(const WatchFrame& f);

// 1234567 -> "1.23M"; below 1000 one decimal ("12.5").
std::string si_rate(double v);

// ANSI: cursor home, then clear the screen.
inline constexpr const char* kClearHome = "\x1b[H\x1b[2J";

}  // namespace monitor
