#include "monitor/exporter.h"

// Debian's libcpp-httplib is a compiled library; its header must see the
// options it was built with (pkg-config --cflags cpp-httplib).
#define CPPHTTPLIB_OPENSSL_SUPPORT
#define CPPHTTPLIB_ZLIB_SUPPORT
#define CPPHTTPLIB_BROTLI_SUPPORT
#include <httplib.h>
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <set>
#include <thread>

#include "kernel/instance.h"
#include "monitor/collect.h"
#include "monitor/page.h"
#include "monitor/prometheus.h"

namespace monitor {

bool parse_listen(const std::string& spec, std::string* host, int* port, std::string* error) {
    auto colon = spec.rfind(':');
    if (colon == std::string::npos || colon + 1 == spec.size()) {
        *error = "--listen '" + spec + "': expected HOST:PORT, e.g. 127.0.0.1:9839";
        return false;
    }
    std::string h = spec.substr(0, colon), p = spec.substr(colon + 1);
    if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
    if (h.empty() || h.find_first_of("[]") != std::string::npos) {
        *error = "--listen '" + spec + "': bad host (IPv6 goes in brackets: [::1]:9839)";
        return false;
    }
    int v = 0;
    for (char c : p) {
        if (c < '0' || c > '9' || v > 65535) {
            v = -1;
            break;
        }
        v = v * 10 + (c - '0');
    }
    if (v < 0 || v > 65535) {
        *error = "--listen '" + spec + "': port must be 0-65535";
        return false;
    }
    *host = h;
    *port = v;
    return true;
}

namespace {

class Instances {
  public:
    explicit Instances(std::string fixed) : fixed_(std::move(fixed)) {}
    // The instances to report: the fixed one, or every loaded one plus those
    // seen before (so an unload shows as edgefw_up 0 rather than vanishing).
    std::vector<std::string> current() {
        if (!fixed_.empty()) return {fixed_};
        try {
            for (auto& n : kernel::list_instances()) seen_.insert(n);
        } catch (const std::exception&) {
        }
        return {seen_.begin(), seen_.end()};
    }

  private:
    std::string fixed_;
    std::set<std::string> seen_;
};

}  // namespace

int run_exporter(const ExporterArgs& a) {
    std::string host, error;
    int port = 0;
    if (!parse_listen(a.listen, &host, &port, &error)) {
        std::fprintf(stderr, "edgefw: exporter: %s\n", error.c_str());
        return 2;
    }
    if (!a.instance.empty()) {
        try {
            kernel::check_instance_name(a.instance);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "edgefw: exporter: %s\n", e.what());
            return 2;
        }
    }

    // SIGINT/SIGTERM go to one thread that stops the server; block them before
    // the server's threads exist so they inherit the mask.
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

    std::mutex mu;  // one scrape at a time: each walks the maps
    Instances instances(a.instance);
    auto snap = [&] {
        std::lock_guard<std::mutex> lock(mu);
        return snapshot(instances.current());
    };

    httplib::Server svr;
    svr.set_pre_routing_handler([](const httplib::Request& req, httplib::Response& res) {
        if (req.method == "GET" || req.method == "HEAD")
            return httplib::Server::HandlerResponse::Unhandled;
        res.status = 405;
        res.set_header("Allow", "GET, HEAD");
        res.set_content("read-only: GET /metrics or /\n", "text/plain");
        return httplib::Server::HandlerResponse::Handled;
    });
    svr.Get("/metrics", [&](const httplib::Request&, httplib::Response& res) {
        res.set_content(to_prometheus(snap()), kPrometheusContentType);
    });
    svr.Get("/", [&](const httplib::Request&, httplib::Response& res) {
        res.set_content(to_html(snap()), "text/html; charset=utf-8");
    });

    if (!svr.bind_to_port(host, port)) {
        std::fprintf(stderr,
                     "edgefw: exporter: cannot listen on %s (address in use or not local?) -- "
                     "pick another with --listen HOST:PORT\n",
                     a.listen.c_str());
        return 1;
    }
    std::atomic<bool> stopping{false}, done{false};
    std::thread waiter([&] {
        int sig = 0;
        sigwait(&sigs, &sig);
        stopping = true;
        // stop() is a no-op until the listen loop runs: repeat until it returned.
        while (!done) {
            svr.stop();
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
    });
    std::fprintf(stderr, "edgefw: exporter: serving http://%s/metrics (%s), read-only\n",
                 a.listen.c_str(),
                 a.instance.empty() ? "all instances" : ("instance " + a.instance).c_str());
    bool ok = svr.listen_after_bind();
    done = true;
    if (!stopping) pthread_kill(waiter.native_handle(), SIGTERM);
    waiter.join();
    return ok || stopping ? 0 : 1;
}

}  // namespace monitor
