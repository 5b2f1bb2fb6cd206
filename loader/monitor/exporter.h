// `edgefw exporter`: a read-only HTTP endpoint (libmicrohttpd) serving
// /metrics (Prometheus text, monitor/prometheus.h) and / (an HTML page).
// Every scrape reads the pins again, so it follows reloads and unloads.
// Bounded: at most 64 connections (a new one past that closes the one longest in
// its phase), 2 s for a request head, 100 header fields and 8 KiB of request line
// and fields (431 past that), 16 KiB of memory per connection, 10 s per answer.
#pragma once

#include <sys/socket.h>

#include <string>

namespace monitor {

struct ExporterArgs {
    std::string listen = "127.0.0.1:9839";  // HOST:PORT, [V6]:PORT
    std::string instance;                   // empty: every instance (and those seen before)
};

// Parses HOST:PORT; false with a message in *error when malformed.
bool parse_listen(const std::string& spec, std::string* host, int* port, std::string* error);

// True for 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104.
bool is_loopback(const sockaddr* sa);

// Serves until SIGINT or SIGTERM; returns the process exit status.
int run_exporter(const ExporterArgs& a);

}  // namespace monitor
