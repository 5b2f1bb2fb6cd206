#include "monitor/prometheus.h"

#include <fmt/core.h>

#include <utility>
#include <vector>

namespace monitor {

using nlohmann::json;

namespace {

// The exposition format's escapes: backslash and newline everywhere, the
// double quote in label values only.
std::string escape(std::string_view v, bool quote) {
    std::string out;
    out.reserve(v.size());
    for (char c : v) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '"' && quote)
            out += "\\\"";
        else if (c == '\n')
            out += "\\n";
        else
            out += c;
    }
    return out;
}

}  // namespace

std::string escape_label_value(std::string_view v) { return escape(v, true); }

std::string escape_help(std::string_view v) { return escape(v, false); }

namespace {

using Labels = std::vector<std::pair<std::string, std::string>>;

struct Family {
    const char* name;
    const char* type;
    const char* help;
    std::string samples;

    void add(const Labels& labels, const std::string& value) {
        samples += name;
        if (!labels.empty()) {
            samples += '{';
            bool first = true;
            for (const auto& [k, v] : labels) {
                if (!first) samples += ',';
                first = false;
                samples += k;
                samples += "=\"";
                samples += escape_label_value(v);
                samples += '"';
            }
            samples += '}';
        }
        samples += ' ';
        samples += value;
        samples += '\n';
    }
    void add(const Labels& labels, uint64_t value) { add(labels, std::to_string(value)); }
};

// A JSON field as text whatever its type (strings unquoted, null empty).
std::string text(const json& j, const char* key) {
    if (!j.is_object() || !j.contains(key)) return "";
    const json& v = j[key];
    if (v.is_string()) return v.get<std::string>();
    if (v.is_null()) return "";
    return v.dump();
}

uint64_t number(const json& j, const char* key) {
    if (!j.is_object() || !j.contains(key)) return 0;
    const json& v = j[key];
    if (v.is_number_unsigned()) return v.get<uint64_t>();
    if (v.is_number_integer()) return v.get<int64_t>() < 0 ? 0 : v.get<uint64_t>();
    if (v.is_number_float())
        return v.get<double>() < 0 ? 0 : static_cast<uint64_t>(v.get<double>());
    return 0;
}

// An array field by reference (json::value would copy it: for 10,000 rules,
// most of a scrape's time went to such copies); an empty array when absent.
const json& array_of(const json& j, const char* key) {
    static const json empty = json::array();
    if (!j.is_object()) return empty;
    auto it = j.find(key);
    return it != j.end() && it->is_array() ? *it : empty;
}

std::string joined(const json& placements, const char* key) {
    std::string out;
    if (!placements.is_array()) return out;
    for (const auto& p : placements) {
        if (!out.empty()) out += ',';
        out += text(p, key);
    }
    return out;
}

// Every metric family edgefw exports, in the order of the exposition.
struct Families {
    Family build{"edgefw_build_info", "gauge", "edgefw build; the value is always 1.", {}};
    Family up{"edgefw_up",
              "gauge",
              "1 when the instance is loaded and enforcing on all its NICs, 0 otherwise.",
              {}};
    Family policy{"edgefw_policy_info",
                  "gauge",
                  "The loaded policy (hash, name, reload generation); the value is always 1.",
                  {}};
    // Fleet: one value per pool when every node runs one policy (drift alert).
    Family source{"edgefw_policy_source_info",
                  "gauge",
                  "sha256 of the policy and site files the instance runs (the same on every "
                  "node of a pool); pool when loaded from a bundle; the value is always 1.",
                  {}};
    Family attach{"edgefw_attach_info",
                  "gauge",
                  "Where each NIC's programs run: XDP mode (native, generic) and TC egress hook "
                  "(tcx, netlink); 1 while attached, 0 otherwise.",
                  {}};
    Family rule_packets{"edgefw_rule_packets_total",
                        "counter",
                        "Packets admitted by the rule (counter slots follow rule ids across "
                        "reloads).",
                        {}};
    Family rule_bytes{"edgefw_rule_bytes_total", "counter", "Bytes admitted by the rule.", {}};
    Family rule_last_hit{"edgefw_rule_last_hit_timestamp_seconds",
                         "gauge",
                         "Unix time of the rule's last packet; 0 when it never matched.",
                         {}};
    Family drops{"edgefw_drops_total", "counter", "Packets dropped, by reason.", {}};
    Family passes{"edgefw_passes_total",
                  "counter",
                  "Packets passed without a rule, by reason (ARP, ND, related ICMP errors, "
                  "interfaces without a role).",
                  {}};
    Family ct{"edgefw_conntrack_entries", "gauge", "Flows in the conntrack table.", {}};
    Family ct_max{"edgefw_conntrack_entries_max", "gauge", "Size of the conntrack table.", {}};
    Family ct_table{"edgefw_conntrack_table_entries",
                    "gauge",
                    "Flows in one conntrack table (ef_ct, ef_ct_dgram: new, LRU; ef_ct_est, "
                    "ef_ct_dgram_est: established, never evicted).",
                    {}};
    Family ct_table_max{
        "edgefw_conntrack_table_entries_max", "gauge", "Size of one conntrack table.", {}};
    Family ct_inserts{"edgefw_conntrack_inserts_total",
                      "counter",
                      "Entries written to the table: new flows (new tables), promotions of "
                      "answered flows (established tables).",
                      {}};
    Family ct_removed{"edgefw_conntrack_removed_total",
                      "counter",
                      "Entries the programs deleted: expired, promoted to the established table, "
                      "replaced.",
                      {}};
    Family ct_refused{"edgefw_conntrack_refused_total",
                      "counter",
                      "Inserts the table refused (established tables: promotions refused because "
                      "the table is full; the flow stays in the new table).",
                      {}};
    Family ct_rst{"edgefw_conntrack_rst_total",
                  "counter",
                  "TCP RSTs that hit a flow of the table, blind ones included; a RST only "
                  "shortens the flow's timeout.",
                  {}};
    Family ct_evicted{"edgefw_conntrack_evicted_upper_bound",
                      "gauge",
                      "Upper bound of the entries the LRU evicted from a new table: inserts - "
                      "removed - entries.",
                      {}};
    Family map_entries{"edgefw_map_entries", "gauge", "Entries in a pinned BPF map.", {}};
    Family map_max{"edgefw_map_entries_max", "gauge", "max_entries of a pinned BPF map.", {}};
    Family shadow{"edgefw_shadow_info",
                  "gauge",
                  "A shadow candidate policy judged beside the enforced one (hash, policy, "
                  "since); the value is always 1.",
                  {}};
    Family shadow_packets{"edgefw_shadow_rule_packets_total",
                          "counter",
                          "Packets the shadow candidate's rule would admit (it only counts).",
                          {}};
    Family shadow_bytes{
        "edgefw_shadow_rule_bytes_total", "counter", "Bytes the candidate's rule would admit.", {}};
    Family shadow_disagree{
        "edgefw_shadow_disagreements_total",
        "counter",
        "Packets the candidate judges otherwise: would_drop (passed now, by the enforced rule or "
        "reason), would_pass (dropped now, by the candidate's rule or reason).",
        {}};

    // The exposition: each family that has samples, with its HELP and TYPE.
    std::string render() const {
        std::string out;
        for (const Family* f :
             {&build,        &up,         &policy,         &source,       &attach,
              &rule_packets, &rule_bytes, &rule_last_hit,  &drops,        &passes,
              &ct,           &ct_max,     &ct_table,       &ct_table_max, &ct_inserts,
              &ct_removed,   &ct_refused, &ct_rst,         &ct_evicted,   &map_entries,
              &map_max,      &shadow,     &shadow_packets, &shadow_bytes, &shadow_disagree}) {
            if (f->samples.empty()) continue;
            out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", f->name, escape_help(f->help),
                               f->name, f->type);
            out += f->samples;
        }
        return out;
    }
};

// edgefw_policy_info and edgefw_attach_info: from one lifecycle::status() entry.
void add_status(Families& f, const std::string& name, const std::string& node, const json& status) {
    if (!status.is_object()) return;
    if (status.contains("policy_hash")) {
        f.policy.add({{"instance_name", name},
                      {"node", node},
                      {"hash", text(status, "policy_hash")},
                      {"policy", text(status, "policy_name")},
                      {"generation", text(status, "generation")}},
                     1);
    }
    if (status.contains("policy_sha256")) {
        Labels l{{"instance_name", name}, {"node", node}};
        std::string pool = status.contains("bundle") ? text(status["bundle"], "pool") : "";
        if (!pool.empty()) l.push_back({"pool", pool});
        l.push_back({"sha256", text(status, "policy_sha256")});
        f.source.add(l, 1);
    }
    for (const auto& i : status.value("ifaces", json::array()))
        f.attach.add({{"instance_name", name},
                      {"node", node},
                      {"iface", text(i, "role")},
                      {"dev", text(i, "dev")},
                      {"xdp_mode", text(i, "xdp_mode")},
                      {"tc_hook", text(i, "tc_hook")}},
                     i.value("attached", false) ? 1 : 0);
}

// Per-rule and per-reason counters: from lifecycle::stats().
void add_counters(Families& f, const std::string& name, const std::string& node,
                  const json& stats) {
    for (const auto& r : array_of(stats, "rules")) {
        const json& placements = array_of(r, "placements");
        Labels l{{"instance_name", name},
                 {"node", node},
                 {"rule", text(r, "id")},
                 {"app", text(r, "app")},
                 {"feature", text(r, "feature")},
                 {"proto", text(r, "proto")},
                 {"iface", joined(placements, "iface")},
                 {"dir", joined(placements, "dir")}};
        f.rule_packets.add(l, number(r, "packets"));
        f.rule_bytes.add(l, number(r, "bytes"));
        if (r.contains("last_hit_unix")) f.rule_last_hit.add(l, number(r, "last_hit_unix"));
    }
    for (const auto& r : array_of(stats, "reasons")) {
        Labels l{{"instance_name", name}, {"node", node}, {"reason", text(r, "name")}};
        (r.value("passes", false) ? f.passes : f.drops).add(l, number(r, "packets"));
    }
}

// The conntrack tables: their sum and each table with its counters.
void add_conntrack(Families& f, const std::string& name, const std::string& node,
                   const json& stats) {
    if (stats.contains("conntrack_entries")) {
        Labels l{{"instance_name", name}, {"node", node}};
        f.ct.add(l, number(stats, "conntrack_entries"));
        f.ct_max.add(l, number(stats, "conntrack_max"));
    }
    if (!stats.contains("conntrack_tables") || !stats["conntrack_tables"].is_object()) return;
    for (const auto& [table, c] : stats["conntrack_tables"].items()) {
        Labels l{{"instance_name", name}, {"node", node}, {"table", table}};
        f.ct_table.add(l, number(c, "entries"));
        f.ct_table_max.add(l, number(c, "max"));
        if (!c.contains("inserts")) continue;
        f.ct_inserts.add(l, number(c, "inserts"));
        f.ct_removed.add(l, number(c, "removed"));
        f.ct_refused.add(l, number(c, "refused"));
        f.ct_rst.add(l, number(c, "rst"));
        f.ct_evicted.add(l, number(c, "evicted_bound"));
    }
}

// The fill of the pinned maps (monitor::map_fill).
void add_maps(Families& f, const std::string& name, const std::string& node, const json& inst) {
    if (!inst.contains("maps") || !inst["maps"].is_object()) return;
    for (const auto& [map, fill] : inst["maps"].items()) {
        Labels l{{"instance_name", name}, {"node", node}, {"map", map}};
        f.map_entries.add(l, number(fill, "entries"));
        f.map_max.add(l, number(fill, "max"));
    }
}

// The shadow candidate: from lifecycle::shadow_stats().
void add_shadow(Families& f, const std::string& name, const std::string& node, const json& inst) {
    if (!inst.contains("shadow") || !inst["shadow"].is_object()) return;
    const json& s = inst["shadow"];
    const json& c = s.contains("candidate") ? s["candidate"] : json();
    f.shadow.add({{"instance_name", name},
                  {"node", node},
                  {"hash", text(c, "policy_hash")},
                  {"policy", text(c, "policy_name")},
                  {"since", text(c, "started_at")}},
                 1);
    for (const auto& r : array_of(s, "rules")) {
        Labels l{{"instance_name", name}, {"node", node}, {"rule", text(r, "id")}};
        f.shadow_packets.add(l, number(r, "packets"));
        f.shadow_bytes.add(l, number(r, "bytes"));
    }
    for (const auto& d : array_of(s, "disagreements"))
        f.shadow_disagree.add({{"instance_name", name},
                               {"node", node},
                               {"kind", text(d, "kind")},
                               {"rule", text(d, "rule")}},
                              number(d, "packets"));
}

}  // namespace

std::string to_prometheus(const json& snapshot, Sections sections) {
    Families f;
    if (sections == Sections::all) f.build.add({{"version", text(snapshot, "version")}}, 1);
    for (const auto& inst : array_of(snapshot, "instances")) {
        const std::string name = text(inst, "instance_name");
        const json& status = inst.contains("status") ? inst["status"] : json();
        const json& stats = inst.contains("stats") ? inst["stats"] : json();
        std::string node = text(stats, "node");
        if (node.empty()) node = text(status, "node");
        add_shadow(f, name, node, inst);
        if (sections == Sections::shadow) continue;
        f.up.add({{"instance_name", name}}, inst.value("up", false) ? 1 : 0);
        add_status(f, name, node, status);
        if (stats.is_object()) {
            add_counters(f, name, node, stats);
            add_conntrack(f, name, node, stats);
        }
        add_maps(f, name, node, inst);
    }
    return f.render();
}

}  // namespace monitor
