#include "monitor/page.h"

#include <fmt/core.h>

namespace monitor {

using nlohmann::json;

std::string html_escape(std::string_view v) {
    std::string out;
    out.reserve(v.size());
    for (char c : v) {
        switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&quot;";
                break;
            case '\'':
                out += "&#39;";
                break;
            default:
                out += c;
        }
    }
    return out;
}

namespace {

std::string s(const json& j, const char* key) {
    if (!j.is_object() || !j.contains(key) || j[key].is_null()) return "";
    return j[key].is_string() ? j[key].get<std::string>() : j[key].dump();
}

}  // namespace

std::string to_html(const json& snapshot) {
    std::string out =
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>edgefw exporter</title>\n"
        "<style>body{font-family:sans-serif}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 8px}td.n{text-align:right}"
        ".up{color:green}.down{color:red}</style></head><body>\n"
        "<h1>edgefw exporter</h1>\n";
    out += fmt::format("<p>version {} &middot; <a href=\"/metrics\">/metrics</a></p>\n",
                       html_escape(s(snapshot, "version")));
    const json instances = snapshot.value("instances", json::array());
    if (instances.empty()) out += "<p>No edgefw instance is loaded.</p>\n";
    for (const auto& inst : instances) {
        const bool up = inst.value("up", false);
        const json& st = inst.contains("status") ? inst["status"] : json();
        const json& stats = inst.contains("stats") ? inst["stats"] : json();
        out += fmt::format("<h2>instance {} <span class=\"{}\">{}</span></h2>\n",
                           html_escape(s(inst, "instance_name")), up ? "up" : "down",
                           html_escape(st.is_object() ? s(st, "state") : "not loaded"));
        if (st.is_object())
            out += fmt::format(
                "<p>node {} &middot; policy {} &middot; hash {} &middot; generation "
                "{} &middot; conntrack {}/{}</p>\n",
                html_escape(s(st, "node")), html_escape(s(st, "policy_name")),
                html_escape(s(st, "policy_hash")), html_escape(s(st, "generation")),
                html_escape(s(stats, "conntrack_entries")), html_escape(s(stats, "conntrack_max")));
        if (!stats.is_object()) continue;
        out +=
            "<table><tr><th>rule</th><th>app</th><th>feature</th><th>proto</th><th>where</th>"
            "<th>packets</th><th>bytes</th></tr>\n";
        for (const auto& r : stats.value("rules", json::array())) {
            std::string where;
            for (const auto& p : r.value("placements", json::array()))
                where += (where.empty() ? "" : ", ") + s(p, "iface") + " " + s(p, "dir");
            out += fmt::format(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td "
                "class=\"n\">{}</td><td class=\"n\">{}</td></tr>\n",
                html_escape(s(r, "id")), html_escape(s(r, "app")), html_escape(s(r, "feature")),
                html_escape(s(r, "proto")), html_escape(where), html_escape(s(r, "packets")),
                html_escape(s(r, "bytes")));
        }
        out +=
            "</table>\n<h3>reasons</h3>\n<table><tr><th>reason</th><th>verdict</th>"
            "<th>packets</th><th>bytes</th></tr>\n";
        for (const auto& r : stats.value("reasons", json::array()))
            out += fmt::format(
                "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>\n",
                html_escape(s(r, "name")), r.value("passes", false) ? "pass" : "drop",
                html_escape(s(r, "packets")), html_escape(s(r, "bytes")));
        out += "</table>\n";
    }
    out += "</body></html>\n";
    return out;
}

}  // namespace monitor
