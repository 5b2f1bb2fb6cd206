#include "monitor/exporter.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <set>
#include <unordered_set>

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

bool is_loopback(const sockaddr* sa) {
    if (sa->sa_family == AF_INET)
        return (ntohl(reinterpret_cast<const sockaddr_in*>(sa)->sin_addr.s_addr) >> 24) == 127;
    if (sa->sa_family == AF_INET6) {
        const in6_addr& a = reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr;
        if (IN6_IS_ADDR_LOOPBACK(&a)) return true;
        return IN6_IS_ADDR_V4MAPPED(&a) && a.s6_addr[12] == 127;
    }
    return false;
}

namespace {

using Clock = std::chrono::steady_clock;

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

// One connection as the bounds see it. `since` starts the current phase: the
// connection's opening or the end of its previous answer (waiting for a request
// head), or the start of an answer.
struct Conn {
    MHD_socket fd = MHD_INVALID_SOCKET;
    Clock::time_point since;
    bool answering = false;
    bool closing = false;  // shut down by us; libmicrohttpd frees it on its next turn
};

// The server: libmicrohttpd driven from this one thread (MHD_USE_EPOLL without an
// internal thread), so its callbacks, the bounds below and the scrapes never race.
// libmicrohttpd holds each request head in a fixed pool per connection
// (Limits::pool), answers 431 when it does not fit and closes the connection, and
// caps the connections it accepts. On top of it, what it has no option for:
//  - at most `connections` open: a new one past that closes the connection that
//    has been longest in its current phase, so slow clients cannot lock a scrape out;
//  - a deadline for the whole request head (libmicrohttpd's timeout is an idle
//    timeout, reset by every byte a trickling client sends) and for each answer;
//  - at most `headers` header fields and `head_bytes` of request line and fields.
class Server {
  public:
    struct Limits {
        unsigned connections = 64;
        // Connections shut down by the cap or a deadline but not yet freed by
        // libmicrohttpd (it frees them on its next turn). Open plus these is the hard
        // limit libmicrohttpd itself enforces: at it, it stops accepting and new
        // clients wait in the listen backlog rather than holding descriptors.
        unsigned closing = 16;
        size_t headers = 100;
        size_t head_bytes = 8192;  // request line + header fields
        size_t pool = 16 * 1024;   // libmicrohttpd's memory per connection
        unsigned idle_secs = 5;    // libmicrohttpd's inactivity timeout, a backstop
        std::chrono::milliseconds head_timeout{2000};
        std::chrono::milliseconds answer_timeout{10000};
    };

    Server(std::string instance, Limits lim) : instances_(std::move(instance)), lim_(lim) {}
    ~Server() {
        if (d_) MHD_stop_daemon(d_);
        for (Conn* c : conns_) delete c;
    }

    bool start(int listen_fd, bool ipv6) {
        unsigned flags = MHD_USE_EPOLL | (ipv6 ? MHD_USE_IPv6 : 0);
        d_ = MHD_start_daemon(
            flags, 0, nullptr, nullptr, &Server::on_request, this, MHD_OPTION_LISTEN_SOCKET,
            static_cast<MHD_socket>(listen_fd), MHD_OPTION_CONNECTION_LIMIT,
            lim_.connections + lim_.closing, MHD_OPTION_CONNECTION_MEMORY_LIMIT, lim_.pool,
            MHD_OPTION_CONNECTION_TIMEOUT, lim_.idle_secs, MHD_OPTION_NOTIFY_CONNECTION,
            &Server::on_connection, this, MHD_OPTION_NOTIFY_COMPLETED, &Server::on_completed, this,
            MHD_OPTION_END);
        return d_ != nullptr;
    }

    int epoll_fd() const {
        const MHD_DaemonInfo* i = MHD_get_daemon_info(d_, MHD_DAEMON_INFO_EPOLL_FD);
        return i ? i->epoll_fd : -1;
    }

    // Milliseconds until the next turn is due at the latest.
    int next_wait_ms() const {
        MHD_UNSIGNED_LONG_LONG t = 0;
        int ms = 100;  // the deadlines are checked at least this often
        if (MHD_get_timeout(d_, &t) == MHD_YES && t < static_cast<MHD_UNSIGNED_LONG_LONG>(ms))
            ms = static_cast<int>(t);
        return ms;
    }

    void turn() {
        MHD_run(d_);
        enforce_deadlines();
    }

  private:
    static void on_connection(void* cls, MHD_Connection* connection, void** socket_context,
                              MHD_ConnectionNotificationCode code) {
        auto* self = static_cast<Server*>(cls);
        if (code == MHD_CONNECTION_NOTIFY_STARTED) {
            auto* c = new Conn;
            const MHD_ConnectionInfo* i =
                MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
            if (i) c->fd = i->connect_fd;
            c->since = Clock::now();
            *socket_context = c;
            self->conns_.insert(c);
            self->enforce_cap(c);
        } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
            auto* c = static_cast<Conn*>(*socket_context);
            if (c) {
                self->conns_.erase(c);
                delete c;
            }
            *socket_context = nullptr;
        }
    }

    static Conn* conn_of(MHD_Connection* connection) {
        const MHD_ConnectionInfo* i =
            MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        return i ? static_cast<Conn*>(i->socket_context) : nullptr;
    }

    static void on_completed(void*, MHD_Connection* connection, void**,
                             MHD_RequestTerminationCode) {
        if (Conn* c = conn_of(connection)) {
            c->answering = false;
            c->since = Clock::now();
        }
    }

    void close_conn(Conn* c) {
        if (c->closing) return;
        c->closing = true;
        // libmicrohttpd sees the end of the stream and frees the connection; the
        // descriptor stays its own until then.
        if (c->fd != MHD_INVALID_SOCKET) shutdown(c->fd, SHUT_RDWR);
    }

    void enforce_cap(Conn* fresh) {
        size_t open = 0;
        for (Conn* c : conns_) open += !c->closing;
        while (open > lim_.connections) {
            Conn* oldest = nullptr;
            for (Conn* c : conns_)
                if (!c->closing && c != fresh && (!oldest || c->since < oldest->since)) oldest = c;
            if (!oldest) break;
            close_conn(oldest);
            --open;
        }
    }

    void enforce_deadlines() {
        auto now = Clock::now();
        for (Conn* c : conns_) {
            if (c->closing) continue;
            auto limit = c->answering ? lim_.answer_timeout : lim_.head_timeout;
            if (now - c->since > limit) close_conn(c);
        }
    }

    static MHD_Result reply(MHD_Connection* connection, unsigned status, const std::string& body,
                            const char* type, bool close = false, const char* allow = nullptr) {
        MHD_Response* r = MHD_create_response_from_buffer(
            body.size(), const_cast<char*>(body.data()), MHD_RESPMEM_MUST_COPY);
        if (!r) return MHD_NO;
        if (type) MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
        if (allow) MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
        if (close) MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
        MHD_Result ret = MHD_queue_response(connection, status, r);
        MHD_destroy_response(r);
        return ret;
    }

    struct HeadSize {
        size_t fields = 0, bytes = 0;
    };
    static MHD_Result count_field(void* cls, MHD_ValueKind kind, const char* key,
                                  const char* value) {
        auto* h = static_cast<HeadSize*>(cls);
        if (kind == MHD_HEADER_KIND) ++h->fields;
        // "key: value\r\n" for a header, "key=value&" for a query argument.
        h->bytes += (key ? std::strlen(key) : 0) + (value ? std::strlen(value) : 0) +
                    (kind == MHD_HEADER_KIND ? 4 : 2);
        return MHD_YES;
    }

    static MHD_Result on_request(void* cls, MHD_Connection* connection, const char* url,
                                 const char* method, const char* version, const char*,
                                 size_t* upload_size, void** req_cls) {
        auto* self = static_cast<Server*>(cls);
        if (*req_cls == &kAnswerNow) {
            // GET or HEAD, the whole request read (a body, if any, dropped): answer.
            if (*upload_size) {
                *upload_size = 0;
                return MHD_YES;
            }
        } else if (*req_cls) {  // a body after an answer queued early: dropped
            *upload_size = 0;
            return MHD_YES;
        } else {
            // The first call, with the head. Refusals are answered now (libmicrohttpd
            // then reads nothing more and closes); an answer queued this early would
            // also end keep-alive, so GET and HEAD wait for the next call.
            if (Conn* c = conn_of(connection)) {
                c->answering = true;
                c->since = Clock::now();
            }
            HeadSize h;
            h.bytes = std::strlen(method) + std::strlen(url) + std::strlen(version) + 4;
            MHD_get_connection_values(
                connection, static_cast<MHD_ValueKind>(MHD_HEADER_KIND | MHD_GET_ARGUMENT_KIND),
                &Server::count_field, &h);
            if (h.fields > self->lim_.headers || h.bytes > self->lim_.head_bytes) {
                *req_cls = self;
                return reply(connection, MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE,
                             "request head too large\n", "text/plain", true);
            }
            std::string m = method;
            if (m != "GET" && m != "HEAD") {
                *req_cls = self;
                return reply(connection, MHD_HTTP_METHOD_NOT_ALLOWED,
                             "read-only: GET /metrics or /\n", "text/plain", true, "GET, HEAD");
            }
            *req_cls = const_cast<char*>(&kAnswerNow);
            return MHD_YES;
        }
        std::string path = url, body;
        const char* type = nullptr;
        unsigned status = MHD_HTTP_OK;
        try {
            if (path == "/metrics") {
                body = to_prometheus(snapshot(self->instances_.current()));
                type = kPrometheusContentType;
            } else if (path == "/") {
                body = to_html(snapshot(self->instances_.current()));
                type = "text/html; charset=utf-8";
            } else {
                status = MHD_HTTP_NOT_FOUND;
            }
        } catch (const std::exception& e) {
            status = MHD_HTTP_INTERNAL_SERVER_ERROR;
            body = std::string("edgefw exporter: ") + e.what() + "\n";
            type = "text/plain";
        }
        // The time to send the answer counts from now, not from the request: a large
        // exposition takes a while to render.
        if (Conn* c = conn_of(connection)) c->since = Clock::now();
        return reply(connection, status, body, type);
    }

    static constexpr char kAnswerNow = 0;  // *req_cls of a GET or HEAD being read
    MHD_Daemon* d_ = nullptr;
    Instances instances_;
    Limits lim_;
    std::unordered_set<Conn*> conns_;
};

// A listening TCP socket on HOST:PORT, or -1. *sa gets its address.
int listen_on(const std::string& host, int port, sockaddr_storage* sa) {
    addrinfo hints{}, *res = nullptr;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res) != 0) return -1;
    int fd = -1;
    for (addrinfo* ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
        if (fd < 0) continue;
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 128) == 0) {
            std::memcpy(sa, ai->ai_addr, ai->ai_addrlen);
            break;
        }
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

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

    sockaddr_storage sa{};
    int lfd = listen_on(host, port, &sa);
    if (lfd < 0) {
        std::fprintf(stderr,
                     "edgefw: exporter: cannot listen on %s (address in use or not local?) -- "
                     "pick another with --listen HOST:PORT\n",
                     a.listen.c_str());
        return 1;
    }
    if (!is_loopback(reinterpret_cast<sockaddr*>(&sa)))
        std::fprintf(stderr,
                     "edgefw: exporter: warning: %s is not a loopback address: whoever reaches it "
                     "reads the policy's rule names and counters (there is no authentication); "
                     "keep it on 127.0.0.1 or behind a firewall\n",
                     a.listen.c_str());

    // SIGINT/SIGTERM end the loop through a signalfd.
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigprocmask(SIG_BLOCK, &sigs, nullptr);
    int sfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);

    Server server(a.instance, Server::Limits{});
    if (sfd < 0 || !server.start(lfd, sa.ss_family == AF_INET6)) {
        std::fprintf(stderr, "edgefw: exporter: cannot start the HTTP server: %s\n",
                     std::strerror(errno));
        close(lfd);
        if (sfd >= 0) close(sfd);
        return 1;
    }
    int ep = epoll_create1(EPOLL_CLOEXEC);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = server.epoll_fd();
    bool ok = ep >= 0 && ev.data.fd >= 0 && epoll_ctl(ep, EPOLL_CTL_ADD, ev.data.fd, &ev) == 0;
    ev.data.fd = sfd;
    ok = ok && epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev) == 0;
    if (!ok) {
        std::fprintf(stderr, "edgefw: exporter: epoll: %s\n", std::strerror(errno));
        return 1;
    }

    std::fprintf(stderr, "edgefw: exporter: serving http://%s/metrics (%s), read-only\n",
                 a.listen.c_str(),
                 a.instance.empty() ? "all instances" : ("instance " + a.instance).c_str());
    for (;;) {
        epoll_event evs[2];
        int n = epoll_wait(ep, evs, 2, server.next_wait_ms());
        if (n < 0 && errno != EINTR) {
            std::fprintf(stderr, "edgefw: exporter: epoll_wait: %s\n", std::strerror(errno));
            return 1;
        }
        bool stop = false;
        for (int i = 0; i < n; ++i) stop |= evs[i].data.fd == sfd;
        if (stop) break;
        server.turn();
    }
    close(ep);
    close(sfd);
    return 0;
}

}  // namespace monitor
