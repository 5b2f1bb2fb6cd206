// monitor::to_prometheus (text exposition 0.0.4), the exporter's HTML page,
// the --watch screen and --listen parsing: pure functions over snapshots.
#include "monitor/prometheus.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>

#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "monitor/exporter.h"
#include "monitor/page.h"
#include "monitor/watch.h"

using nlohmann::json;

namespace {

json rule(const char* id, const char* app, uint64_t packets, uint64_t bytes,
          json placements = json::array({{{"iface", "external"}, {"dir", "ingress"}}})) {
    return {{"id", id},           {"slot", 0},      {"app", app},
            {"feature", "av"},    {"proto", "udp"}, {"placements", placements},
            {"packets", packets}, {"bytes", bytes}};
}

json loaded(bool with_last_hit) {
    json stats = {
        {"instance", "t1"},
        {"node", "edge1"},
        {"policy_hash", "abc123"},
        {"rules", json::array({rule("ext-vip-av-stun-udp", "STUN/MSTURN", 42, 4200),
                               rule("odd\"rule", "SIP \\ \"x\"\nnext", 1, 2),
                               rule("two-nics", "RTP", 7, 70,
                                    json::array({{{"iface", "external"}, {"dir", "ingress"}},
                                                 {{"iface", "internal"}, {"dir", "egress"}}}))})},
        {"reasons",
         json::array({{{"name", "default_external_ingress"},
                       {"packets", 5},
                       {"bytes", 500},
                       {"passes", false}},
                      {{"name", "arp_pass"}, {"packets", 3}, {"bytes", 180}, {"passes", true}}})},
        {"conntrack_entries", 12},
        {"conntrack_max", 65536},
        {"conntrack_tables",
         {{"ef_ct",
           {{"entries", 10},
            {"max", 1024},
            {"inserts", 10340},
            {"removed", 100},
            {"refused", 0},
            {"rst", 0},
            {"evicted_bound", 9216}}},
          {"ef_ct_est",
           {{"entries", 2},
            {"max", 1024},
            {"inserts", 100},
            {"removed", 98},
            {"refused", 7},
            {"rst", 65},
            {"evicted_bound", 0}}}}}};
    if (with_last_hit) {
        stats["rules"][0]["last_hit_unix"] = 1700000000;
        stats["rules"][1]["last_hit_unix"] = 0;
        stats["rules"][2]["last_hit_unix"] = 1700000100;
    }
    json status = {{"instance", "t1"},
                   {"node", "edge1"},
                   {"policy_hash", "abc123"},
                   {"policy_name", "lync"},
                   {"generation", 3},
                   {"state", "enforcing"},
                   {"rule_count", 3},
                   {"ifaces", json::array({{{"role", "external"},
                                            {"dev", "eth0"},
                                            {"xdp_mode", "native"},
                                            {"tc_hook", "tcx"},
                                            {"attached", true}},
                                           {{"role", "internal"},
                                            {"dev", "eth1"},
                                            {"xdp_mode", "generic"},
                                            {"tc_hook", "netlink"},
                                            {"attached", false}}})}};
    return {{"instance_name", "t1"},
            {"up", true},
            {"status", status},
            {"stats", stats},
            {"maps",
             {{"ef_ct", {{"entries", 12}, {"max", 65536}}},
              {"ef_local", {{"entries", 33}, {"max", 1048576}}}}}};
}

json snapshot_of(std::vector<json> instances) {
    return {{"version", "0.1.0"}, {"instances", instances}};
}

std::vector<std::string> lines(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string l; std::getline(in, l);) out.push_back(l);
    return out;
}

bool has_line(const std::string& text, const std::string& line) {
    for (const auto& l : lines(text))
        if (l == line) return true;
    return false;
}

// The exposition format's grammar and Prometheus naming rules, line by line:
// HELP and TYPE once per family, before its samples; a family's samples are
// contiguous; counters end in _total; names and label names are valid; every
// label value is a properly escaped quoted string; values are numbers.
void check_exposition(const std::string& text) {
    static const std::regex help(R"(^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) .+$)");
    static const std::regex type(R"(^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge)$)");
    static const std::regex sample(
        R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\[\\"n])*")(,[a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\[\\"n])*")*\})? ([0-9]+(\.[0-9]+)?)$)");
    cr_assert(!text.empty() && text.back() == '\n', "exposition must end with a newline");
    std::set<std::string> done;
    std::map<std::string, std::string> types;
    std::string current;
    for (const auto& l : lines(text)) {
        std::smatch m;
        if (std::regex_match(l, m, help)) {
            cr_assert(done.count(m[1]) == 0, "family %s repeated", m[1].str().c_str());
            if (!current.empty()) done.insert(current);
            current = m[1];
        } else if (std::regex_match(l, m, type)) {
            cr_assert_eq(m[1].str(), current, "TYPE %s not after its HELP", m[1].str().c_str());
            types[current] = m[2];
            if (m[2] == "counter")
                cr_assert(current.size() > 6 && current.ends_with("_total"),
                          "counter %s must end in _total", current.c_str());
        } else {
            cr_assert(std::regex_match(l, m, sample), "not a sample line: '%s'", l.c_str());
            cr_assert_eq(m[1].str(), current, "sample of %s outside its family (%s)",
                         m[1].str().c_str(), current.c_str());
            cr_assert(types.count(current), "sample of %s before TYPE", current.c_str());
        }
    }
}

}  // namespace

Test(monitor_prometheus, escapes_label_values) {
    cr_assert_eq(monitor::escape_label_value("a\\b\"c\nd"), std::string("a\\\\b\\\"c\\nd"));
    cr_assert_eq(monitor::escape_label_value("SIP/MTLS"), std::string("SIP/MTLS"));
    cr_assert_eq(monitor::escape_help("x\\y\nz\"q"), std::string("x\\\\y\\nz\"q"));
}

Test(monitor_prometheus, loaded_instance_series) {
    std::string t = monitor::to_prometheus(snapshot_of({loaded(false)}));
    check_exposition(t);
    cr_assert(has_line(t, R"(edgefw_build_info{version="0.1.0"} 1)"));
    cr_assert(has_line(t, R"(edgefw_up{instance_name="t1"} 1)"));
    cr_assert(has_line(
        t,
        R"(edgefw_policy_info{instance_name="t1",node="edge1",hash="abc123",policy="lync",generation="3"} 1)"));
    cr_assert(has_line(
        t,
        R"(edgefw_rule_packets_total{instance_name="t1",node="edge1",rule="ext-vip-av-stun-udp",app="STUN/MSTURN",feature="av",proto="udp",iface="external",dir="ingress"} 42)"));
    cr_assert(has_line(
        t,
        R"(edgefw_rule_bytes_total{instance_name="t1",node="edge1",rule="ext-vip-av-stun-udp",app="STUN/MSTURN",feature="av",proto="udp",iface="external",dir="ingress"} 4200)"));
    cr_assert(has_line(
        t,
        R"(edgefw_attach_info{instance_name="t1",node="edge1",iface="external",dev="eth0",xdp_mode="native",tc_hook="tcx"} 1)"));
    cr_assert(has_line(
        t,
        R"(edgefw_attach_info{instance_name="t1",node="edge1",iface="internal",dev="eth1",xdp_mode="generic",tc_hook="netlink"} 0)"));
    // Escaped label values.
    cr_assert(has_line(
        t,
        R"(edgefw_rule_packets_total{instance_name="t1",node="edge1",rule="odd\"rule",app="SIP \\ \"x\"\nnext",feature="av",proto="udp",iface="external",dir="ingress"} 1)"));
    // One series per rule; several placements listed in order.
    cr_assert(has_line(
        t,
        R"(edgefw_rule_packets_total{instance_name="t1",node="edge1",rule="two-nics",app="RTP",feature="av",proto="udp",iface="external,internal",dir="ingress,egress"} 7)"));
    cr_assert(has_line(
        t,
        R"(edgefw_drops_total{instance_name="t1",node="edge1",reason="default_external_ingress"} 5)"));
    cr_assert(
        has_line(t, R"(edgefw_passes_total{instance_name="t1",node="edge1",reason="arp_pass"} 3)"));
    cr_assert(t.find(R"(edgefw_drops_total{instance_name="t1",node="edge1",reason="arp_pass"})") ==
              std::string::npos);
    cr_assert(has_line(t, R"(edgefw_conntrack_entries{instance_name="t1",node="edge1"} 12)"));
    cr_assert(
        has_line(t, R"(edgefw_conntrack_entries_max{instance_name="t1",node="edge1"} 65536)"));
    cr_assert(
        has_line(t, R"(edgefw_map_entries{instance_name="t1",node="edge1",map="ef_local"} 33)"));
    cr_assert(has_line(
        t, R"(edgefw_map_entries_max{instance_name="t1",node="edge1",map="ef_ct"} 65536)"));
    // Per conntrack table: fill and counters.
    cr_assert(has_line(
        t, R"(edgefw_conntrack_table_entries{instance_name="t1",node="edge1",table="ef_ct"} 10)"));
    cr_assert(has_line(
        t,
        R"(edgefw_conntrack_table_entries_max{instance_name="t1",node="edge1",table="ef_ct_est"} 1024)"));
    cr_assert(has_line(
        t,
        R"(edgefw_conntrack_inserts_total{instance_name="t1",node="edge1",table="ef_ct"} 10340)"));
    cr_assert(has_line(
        t,
        R"(edgefw_conntrack_removed_total{instance_name="t1",node="edge1",table="ef_ct_est"} 98)"));
    cr_assert(has_line(
        t,
        R"(edgefw_conntrack_refused_total{instance_name="t1",node="edge1",table="ef_ct_est"} 7)"));
    cr_assert(has_line(
        t, R"(edgefw_conntrack_rst_total{instance_name="t1",node="edge1",table="ef_ct_est"} 65)"));
    cr_assert(has_line(
        t,
        R"(edgefw_conntrack_evicted_upper_bound{instance_name="t1",node="edge1",table="ef_ct"} 9216)"));
    cr_assert(has_line(t, "# TYPE edgefw_conntrack_inserts_total counter"));
    cr_assert(has_line(t, "# TYPE edgefw_rule_packets_total counter"));
    cr_assert(has_line(t, "# TYPE edgefw_conntrack_entries gauge"));
    // Without last_hit_unix in the stats the family is left out.
    cr_assert(t.find("edgefw_rule_last_hit_timestamp_seconds") == std::string::npos);
}

Test(monitor_prometheus, last_hit_when_present) {
    std::string t = monitor::to_prometheus(snapshot_of({loaded(true)}));
    check_exposition(t);
    cr_assert(has_line(t, "# TYPE edgefw_rule_last_hit_timestamp_seconds gauge"));
    cr_assert(has_line(
        t,
        R"(edgefw_rule_last_hit_timestamp_seconds{instance_name="t1",node="edge1",rule="ext-vip-av-stun-udp",app="STUN/MSTURN",feature="av",proto="udp",iface="external",dir="ingress"} 1700000000)"));
    cr_assert(
        t.find(
            R"(rule="odd\"rule",app="SIP \\ \"x\"\nnext",feature="av",proto="udp",iface="external",dir="ingress"} 0)") !=
        std::string::npos);
}

Test(monitor_prometheus, unloaded_instance_is_down) {
    json gone = {{"instance_name", "t2"},
                 {"up", false},
                 {"status", nullptr},
                 {"stats", nullptr},
                 {"maps", json::object()}};
    std::string t = monitor::to_prometheus(snapshot_of({gone}));
    check_exposition(t);
    cr_assert(has_line(t, R"(edgefw_up{instance_name="t2"} 0)"));
    cr_assert(t.find("edgefw_rule_") == std::string::npos);
    cr_assert(t.find("edgefw_policy_info") == std::string::npos);
}

Test(monitor_prometheus, families_stay_contiguous_across_instances) {
    json a = loaded(true), b = loaded(false);
    b["instance_name"] = "t3";
    b["up"] = false;
    b["status"]["state"] = "degraded";
    std::string t = monitor::to_prometheus(snapshot_of({a, b}));
    check_exposition(t);
    cr_assert(has_line(t, R"(edgefw_up{instance_name="t1"} 1)"));
    cr_assert(has_line(t, R"(edgefw_up{instance_name="t3"} 0)"));
}

// A shadow candidate's series: in the full exposition, and alone for
// `shadow stats --prometheus`; an instance without one has none.
Test(monitor_prometheus, shadow_candidate_series) {
    json with = loaded(true), without = loaded(false);
    without["instance_name"] = "t4";
    with["shadow"] = {
        {"candidate",
         {{"policy_hash", "def456"},
          {"policy_name", "lync"},
          {"started_at", "2026-12-06T12:00:00Z"}}},
        {"rules",
         json::array({{{"id", "edge1-ext-av-stun-tcp-3479"}, {"packets", 5}, {"bytes", 300}}})},
        {"disagreements", json::array({{{"kind", "would_drop"},
                                        {"rule", "edge1-ext-av-rtp-udp-in"},
                                        {"packets", 20},
                                        {"bytes", 1200}},
                                       {{"kind", "would_pass"},
                                        {"rule", "edge1-ext-av-stun-tcp-3479"},
                                        {"packets", 5},
                                        {"bytes", 300}}})}};
    std::string all = monitor::to_prometheus(snapshot_of({with, without}));
    check_exposition(all);
    cr_assert(has_line(
        all,
        R"(edgefw_shadow_info{instance_name="t1",node="edge1",hash="def456",policy="lync",since="2026-12-06T12:00:00Z"} 1)"));
    cr_assert(has_line(
        all,
        R"(edgefw_shadow_rule_packets_total{instance_name="t1",node="edge1",rule="edge1-ext-av-stun-tcp-3479"} 5)"));
    cr_assert(has_line(
        all,
        R"(edgefw_shadow_disagreements_total{instance_name="t1",node="edge1",kind="would_drop",rule="edge1-ext-av-rtp-udp-in"} 20)"));
    cr_assert(has_line(
        all,
        R"(edgefw_shadow_disagreements_total{instance_name="t1",node="edge1",kind="would_pass",rule="edge1-ext-av-stun-tcp-3479"} 5)"));
    cr_assert(all.find(R"(edgefw_shadow_info{instance_name="t4")") == std::string::npos);
    cr_assert(has_line(all, R"(edgefw_up{instance_name="t1"} 1)"));

    std::string only =
        monitor::to_prometheus(snapshot_of({with, without}), monitor::Sections::shadow);
    check_exposition(only);
    cr_assert(has_line(
        only,
        R"(edgefw_shadow_rule_bytes_total{instance_name="t1",node="edge1",rule="edge1-ext-av-stun-tcp-3479"} 300)"));
    for (const auto& l : lines(only))
        cr_assert(l.find("edgefw_shadow_") != std::string::npos, "not a shadow line: %s",
                  l.c_str());
}

Test(monitor_page, escapes_html) {
    cr_assert_eq(monitor::html_escape("<a href=\"x\">&'"),
                 std::string("&lt;a href=&quot;x&quot;&gt;&amp;&#39;"));
    std::string h = monitor::to_html(snapshot_of({loaded(false)}));
    cr_assert(h.find("ext-vip-av-stun-udp") != std::string::npos);
    cr_assert(h.find("odd&quot;rule") != std::string::npos);
    cr_assert(h.find("odd\"rule") == std::string::npos);
    cr_assert(h.find("enforcing") != std::string::npos);
}

Test(monitor_watch, rates_between_samples) {
    json prev = loaded(true)["stats"], cur = loaded(true)["stats"];
    cur["rules"][0]["packets"] = 42 + 200;   // +200 packets over 2 s: 100 pps
    cur["rules"][0]["bytes"] = 4200 + 2000;  // +2000 bytes over 2 s: 8000 bit/s
    cur["rules"][0]["last_hit_unix"] = 1700000095;
    monitor::WatchFrame f;
    f.current = &cur;
    f.previous = &prev;
    f.elapsed_secs = 2;
    f.now_unix = 1700000100;
    f.interval_secs = 2;
    std::string s = monitor::render_watch(f);
    cr_assert(s.find("100.0") != std::string::npos, "%s", s.c_str());
    cr_assert(s.find("8.00k") != std::string::npos, "%s", s.c_str());
    cr_assert(s.find("5 s ago") != std::string::npos, "%s", s.c_str());
    cr_assert(s.find("never") != std::string::npos, "%s", s.c_str());
    cr_assert(s.find("conntrack 12/65536") != std::string::npos, "%s", s.c_str());
    // First sample: no rates yet.
    f.previous = nullptr;
    std::string first = monitor::render_watch(f);
    cr_assert(first.find("100.0") == std::string::npos);
    // A counter that went back (unload and load) shows no rate rather than a negative one.
    f.previous = &cur;
    f.current = &prev;
    std::string reset = monitor::render_watch(f);
    cr_assert(reset.find("-") != std::string::npos);
}

Test(monitor_watch, si_rates) {
    cr_assert_eq(monitor::si_rate(12.345), std::string("12.3"));
    cr_assert_eq(monitor::si_rate(1234567), std::string("1.23M"));
    cr_assert_eq(monitor::si_rate(-1), std::string("0.0"));
}

Test(monitor_exporter, parses_listen) {
    std::string host, err;
    int port = 0;
    cr_assert(monitor::parse_listen("127.0.0.1:9839", &host, &port, &err));
    cr_assert_eq(host, std::string("127.0.0.1"));
    cr_assert_eq(port, 9839);
    cr_assert(monitor::parse_listen("[::1]:80", &host, &port, &err));
    cr_assert_eq(host, std::string("::1"));
    cr_assert_eq(port, 80);
    cr_assert_not(monitor::parse_listen("127.0.0.1", &host, &port, &err));
    cr_assert_not(monitor::parse_listen("127.0.0.1:99999", &host, &port, &err));
    cr_assert_not(monitor::parse_listen(":80", &host, &port, &err));
    cr_assert_not(monitor::parse_listen("h:8x", &host, &port, &err));
}

Test(monitor_exporter, loopback) {
    auto v4 = [](const char* a) {
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        inet_pton(AF_INET, a, &sa.sin_addr);
        return monitor::is_loopback(reinterpret_cast<sockaddr*>(&sa));
    };
    auto v6 = [](const char* a) {
        sockaddr_in6 sa{};
        sa.sin6_family = AF_INET6;
        inet_pton(AF_INET6, a, &sa.sin6_addr);
        return monitor::is_loopback(reinterpret_cast<sockaddr*>(&sa));
    };
    cr_assert(v4("127.0.0.1"));
    cr_assert(v4("127.255.0.9"));
    cr_assert_not(v4("0.0.0.0"));
    cr_assert_not(v4("198.18.155.30"));
    cr_assert_not(v4("128.0.0.1"));
    cr_assert(v6("::1"));
    cr_assert(v6("::ffff:127.0.0.1"));
    cr_assert_not(v6("::"));
    cr_assert_not(v6("::ffff:10.0.0.1"));
    cr_assert_not(v6("fe80::1"));
}
