// `edgefw exporter`: a read-only HTTP endpoint (cpp-httplib) serving
// /metrics (Prometheus text, monitor/prometheus.h) and / (an HTML page).
// Every scrape reads the pins again, so it follows reloads and unloads.
#pragma once

#include <string>

namespace monitor {

struct ExporterArgs {
    std::string listen = "127.0.0.1:9839";  // HOST:PORT, [V6]:PORT
    std::string instance;                   // empty: every instance (and those seen before)
};

// Parses HOST:PORT; false with a message in *error when malformed.
bool parse_listen(const std::string& spec, std::string* host, int* port, std::string* error);

// Serves until SIGINT or SIGTERM; returns the process exit status.
int run_exporter(const ExporterArgs& a);

}  // namespace monitor
