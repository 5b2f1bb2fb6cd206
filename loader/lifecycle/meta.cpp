#include "lifecycle/meta.h"

namespace lifecycle {

using nlohmann::json;

InstanceMeta parse_meta(const std::string& text) { return json::parse(text).get<InstanceMeta>(); }

namespace {

void put_conntrack(json& j, const Conntrack& c) {
    if (!c.tables.empty()) j["conntrack_tables"] = c.tables;
    j["conntrack_entries"] = c.entries;
    j["conntrack_max"] = c.max;
}

}  // namespace

void to_json(json& j, const IfaceStatus& s) {
    j = s.meta;
    j["xdp_prog_id"] = s.xdp_prog_id;
    j["tc_prog_id"] = s.tc_prog_id;
    j["xdp_attached"] = s.xdp_attached;
    j["attached"] = s.attached;
    j["attachment"] = s.attachment;
    j["current"] = s.current;
    if (s.xdp_dispatcher) j["xdp_dispatcher"] = *s.xdp_dispatcher;
}

void to_json(json& j, const Status& s) {
    if (!s.meta) {
        j = {{"instance", s.instance}, {"state", s.state}, {"error", s.error.value_or("")}};
        return;
    }
    j = *s.meta;
    j.erase("rules");
    j["rule_count"] = s.rule_count;
    j["prog_xdp_id"] = s.prog_xdp_id;
    j["prog_tc_id"] = s.prog_tc_id;
    put_conntrack(j, s.conntrack);
    j["ifaces"] = s.ifaces;
    if (s.error) j["error"] = *s.error;
    j["features"] = s.features;
    j["state"] = s.state;
    if (s.hint) j["hint"] = *s.hint;
    if (s.shadow) {
        json c = *s.shadow;
        c.erase("rules");
        j["shadow"] = c;
    }
}

void to_json(json& j, const RuleStats& s) {
    j = s.rule;
    j["packets"] = s.packets;
    j["bytes"] = s.bytes;
    j["last_hit_unix"] = s.last_hit_unix;
}

void to_json(json& j, const Stats& s) {
    j = {{"instance", s.instance},
         {"node", s.node},
         {"policy_hash", s.policy_hash},
         {"rules", s.rules},
         {"reasons", s.reasons}};
    put_conntrack(j, s.conntrack);
}

}  // namespace lifecycle
