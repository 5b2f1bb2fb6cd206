// `edgefw shadow`: a candidate policy judged beside the enforced one. The
// kernel side is bpf/ef_shadow.h; this is the candidate's life: start (load,
// pin, plug into the enforced programs' shadow slots, take the open flows),
// stats and log (read through its pins), promote (the hitless reload) and stop.
#include "lifecycle/shadow.h"

#include <bpf/bpf.h>
#include <fcntl.h>
#include <fmt/core.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cstring>
#include <ctime>
#include <iostream>
#include <map>

#include "bundle/bundle.h"
#include "image/lookup.h"
#include "image/reasons.h"
#include "kernel/dataplane.h"
#include "kernel/instance.h"
#include "lifecycle/lock.h"
#include "lifecycle/steps.h"
#include "packet/packet.h"

namespace lifecycle {

using nlohmann::json;

namespace {

constexpr const char* kShadowMeta = "shadow_meta";
// The candidate's policy and site bytes as judged, in /run/edgefw/<instance>/:
// what promote enforces, whatever became of the files since.
constexpr const char* kShadowPolicyFile = "shadow-policy";
constexpr const char* kShadowSiteFile = "shadow-site";

std::string shadow_pin(const std::string& dir, const char* name) {
    return dir + "/" + kernel::kShadowPinPrefix + name;
}

kernel::Fd open_pin(const std::string& dir, const std::string& name, const std::string& shown) {
    kernel::Fd fd(bpf_obj_get((dir + "/" + name).c_str()));
    if (!fd)
        throw kernel::Error("kernel: open " + shown + "/" + name + ": " + std::strerror(errno) +
                            " -- reload the instance once with this edgefw (it adds the shadow "
                            "slots), then start the candidate again");
    return fd;
}

// The candidate's pins and description go; the slots are emptied first, so
// no packet reaches a candidate whose pins are half gone.
void remove_candidate(const kernel::InstanceDir& d) {
    const uint32_t slot = 0;
    for (const char* slots : {"ef_shadow_xdp", "ef_shadow_tc"}) {
        kernel::Fd fd(bpf_obj_get((d.path() + "/" + slots).c_str()));
        if (fd) (void)bpf_map_delete_elem(fd.get(), &slot);
    }
    for (const char* name : kernel::kShadowPins) (void)unlink(shadow_pin(d.path(), name).c_str());
    (void)unlink((d.path() + "/" + kShadowMeta).c_str());
}

std::string verdict_name(uint32_t slot, const std::map<uint32_t, std::string>& rule_of) {
    if (slot >= EF_MAX_RULES) return image::reason_name(slot - EF_MAX_RULES);
    auto it = rule_of.find(slot);
    return it != rule_of.end() ? it->second : "slot-" + std::to_string(slot);
}

std::map<uint32_t, std::string> ids_by_slot(const std::vector<RuleMeta>& rules) {
    std::map<uint32_t, std::string> out;
    for (const auto& r : rules) out[r.slot] = r.id;
    return out;
}

}  // namespace

std::optional<ShadowMeta> read_shadow(const std::string& instance_dir) {
    auto text = kernel::read_meta(instance_dir, kShadowMeta);
    if (!text) return std::nullopt;
    return json::parse(*text).get<ShadowMeta>();
}

ShadowMeta shadow_start(const LoadArgs& a_in) {
    kernel::check_instance_name(a_in.instance);
    Lock lock(a_in.instance, "shadow start");
    auto [d, meta] = open_loaded(a_in.instance);
    if (auto had = read_shadow(d.path()))
        throw Refused("instance '" + a_in.instance + "' has a candidate already (" +
                      had->policy_name + ", since " + had->started_at +
                      "): 'edgefw shadow stop' first; nothing changed");
    for (const auto& i : meta.ifaces)
        if (i.in_dispatcher())
            throw Refused("instance '" + a_in.instance + "' runs on " + i.dev +
                          " under libxdp's dispatcher, whose program has no shadow slot: a "
                          "candidate needs edgefw's own XDP link (load without other XDP "
                          "programs on the NIC); nothing changed");
    LoadArgs a = a_in;
    if (!a.node.empty() && a.node != meta.node)
        throw Refused("instance '" + a.instance + "' enforces node " + meta.node + ", not " +
                      a.node + ": a candidate is judged for the node it would replace");
    a.node = meta.node;
    Inputs in = read_inputs(a);
    if (in.bundle.is_object() && in.bundle["node"] != meta.node)
        throw Refused(bundle::wrong_node(in.bundle["dir"], in.bundle["node"], meta.node,
                                         "the node instance " + a.instance + " enforces"));
    Prepared pr = prepare(in, meta.node);
    SelfTest st = run_self_test(pr, meta.node);

    const std::string dir = d.path(), shown = d.shown();
    kernel::Fd ifaces = open_pin(dir, "ef_ifaces", shown);
    kernel::Fd handoff = open_pin(dir, "ef_shadow_handoff", shown);
    kernel::Fd slot_xdp = open_pin(dir, "ef_shadow_xdp", shown);
    kernel::Fd slot_tc = open_pin(dir, "ef_shadow_tc", shown);
    const kernel::PinnedCtTables tables = kernel::open_ct_tables(dir);

    kernel::SharedMaps enforced;
    enforced.ifaces = ifaces.get();
    enforced.shadow_handoff = handoff.get();
    kernel::Options opts = kernel::shadow_options(kernel::Options::from_image(pr.img), enforced);
    opts.ct_size = meta.ct_size;
    opts.ct_lru_per_cpu = meta.ct_lru.value_or("shared") == "per-cpu";
    opts.log_per_sec_per_cpu = meta.log_rate.value_or(100);
    kernel::set_verbose(a.verbose);
    kernel::Dataplane dp(opts);
    dp.write_image(pr.img);

    ShadowMeta sm;
    sm.policy = in.policy_path;
    sm.site = in.site_path;
    sm.policy_name = pr.img.policy_name;
    sm.policy_hash = pr.img.policy_hash;
    sm.policy_sha256 = bundle::policy_hash(in.policy_text, in.site_text);
    sm.started_at = now_text();
    sm.enforced_generation = meta.generation;
    std::map<uint32_t, uint32_t> same;
    for (const auto& r : pr.img.rules) same[r.index] = r.index;
    sm.rules = rules_meta(pr.img, same);
    sm.self_test = {st.probes, st.of};

    kernel::Fd run = open_run_dir(a.instance);
    write_run_file(run.get(), kShadowPolicyFile, in.policy_text);
    if (!in.site_path.empty())
        write_run_file(run.get(), kShadowSiteFile, in.site_text);
    else
        (void)unlinkat(run.get(), kShadowSiteFile, 0);

    // The open flows go in twice: before the candidate is plugged in (most of
    // them, so its first packets find them) and after (the flows opened in
    // between). Entries the candidate made itself meanwhile are kept.
    try {
        dp.pin_candidate(dir);
        kernel::write_meta(dir, json(sm).dump(), kShadowMeta);
        image::Lookup lookup(pr.img);
        auto first = dp.seed_conntrack(tables.fds, lookup);
        dp.plug_into(slot_xdp.get(), slot_tc.get());
        auto second = dp.seed_conntrack(tables.fds, lookup);
        sm.flows_taken = first.kept + first.moved + second.kept + second.moved;
        sm.flows_refused = second.closed;
        kernel::write_meta(dir, json(sm).dump(), kShadowMeta);
    } catch (...) {
        remove_candidate(d);
        throw;
    }
    return sm;
}

void shadow_stop(const std::string& instance) {
    kernel::check_instance_name(instance);
    Lock lock(instance, "shadow stop");
    auto [d, meta] = open_loaded(instance);
    if (!read_shadow(d.path()))
        throw Refused("instance '" + instance + "' has no candidate (see 'edgefw shadow start')");
    remove_candidate(d);
    kernel::Fd run = open_run_dir(instance);
    (void)unlinkat(run.get(), kShadowPolicyFile, 0);
    (void)unlinkat(run.get(), kShadowSiteFile, 0);
}

void shadow_promote(const LoadArgs& a) {
    kernel::check_instance_name(a.instance);
    Lock lock(a.instance, "shadow promote");
    auto [d, meta] = open_loaded(a.instance);
    auto sm = read_shadow(d.path());
    if (!sm)
        throw Refused("instance '" + a.instance +
                      "' has no candidate to promote (see 'edgefw shadow start'); nothing changed");
    kernel::Fd run = open_run_dir(a.instance);
    Inputs in;
    in.policy_name = in.policy_path = sm->policy;
    in.site_name = in.site_path = sm->site;
    in.options = a.policy_options;
    if (!read_run_file(run.get(), kShadowPolicyFile, in.policy_text) ||
        (!sm->site.empty() && !read_run_file(run.get(), kShadowSiteFile, in.site_text)))
        throw Refused("the candidate's policy as judged is missing from " + run_root() + "/" +
                      a.instance + ": 'edgefw shadow stop' and start it again; nothing changed");
    LoadArgs args = a;
    args.node = meta.node;
    args.bundle.clear();
    reload_inputs_locked(args, in);
    // Enforced now: the candidate has nothing left to compare.
    remove_candidate(d);
    (void)unlinkat(run.get(), kShadowPolicyFile, 0);
    (void)unlinkat(run.get(), kShadowSiteFile, 0);
}

ShadowStats shadow_stats(const std::string& instance) {
    kernel::check_instance_name(instance);
    auto [d, meta] = open_loaded(instance);
    auto sm = read_shadow(d.path());
    if (!sm)
        throw Refused("instance '" + instance + "' has no candidate (see 'edgefw shadow start')");
    ShadowStats out;
    out.instance = instance;
    out.node = meta.node;
    out.candidate = *sm;
    read_counters(d.path(), kernel::kShadowPinPrefix, instance, sm->rules, out.counters);
    kernel::Fd would(bpf_obj_get(shadow_pin(d.path(), "ef_shadow_would").c_str()));
    if (!would)
        throw kernel::Error("kernel: open " + d.shown() + "/" + kernel::kShadowPinPrefix +
                            "ef_shadow_would: " + std::strerror(errno) +
                            " -- 'edgefw shadow stop' and start the candidate again");
    const auto enforced = ids_by_slot(meta.rules), candidate = ids_by_slot(sm->rules);
    const std::vector<ef_counter> all = kernel::read_counters(would.get(), EF_SHADOW_WOULD_SLOTS);
    for (uint32_t kind : {EF_SHADOW_WOULD_DROP, EF_SHADOW_WOULD_PASS}) {
        for (uint32_t slot = 0; slot < EF_SHADOW_SLOTS; slot++) {
            const ef_counter& c = all[kind * EF_SHADOW_SLOTS + slot];
            if (!c.packets) continue;
            bool drop = kind == EF_SHADOW_WOULD_DROP;
            out.disagreements.push_back({drop ? "would_drop" : "would_pass",
                                         verdict_name(slot, drop ? enforced : candidate), c.packets,
                                         c.bytes});
        }
    }
    return out;
}

void to_json(json& j, const ShadowStats& s) {
    json rules = json::array(), reasons = json::array();
    for (const auto& r : s.counters.rules) rules.push_back(r);
    for (const auto& r : s.counters.reasons)
        if (r.packets) reasons.push_back(r);
    j = {{"instance", s.instance}, {"node", s.node},     {"candidate", s.candidate},
         {"rules", rules},         {"reasons", reasons}, {"disagreements", s.disagreements}};
}

namespace {

struct LogContext {
    InstanceMeta meta;
    ShadowMeta candidate;
    bool json_out = false;
    double mono_to_wall = 0;
};

std::string side_name(uint8_t kind, uint32_t index, const std::vector<RuleMeta>& rules) {
    if (kind != EF_LAST_RULE) return image::reason_name(index);
    for (const auto& r : rules)
        if (r.slot == index) return r.id;
    return "slot-" + std::to_string(index);
}

int on_shadow_event(void* ctx, void* data, size_t size) {
    const auto& c = *static_cast<LogContext*>(ctx);
    if (size < sizeof(ef_shadow_event)) return 0;
    ef_shadow_event e;
    std::memcpy(&e, data, sizeof e);
    double when = static_cast<double>(e.ts_ns) / 1e9 + c.mono_to_wall;
    const char* proto = event_proto(e.proto);
    std::string iface = event_iface(c.meta, e.ifindex);
    const char* kind = e.kind == EF_SHADOW_WOULD_DROP ? "would_drop" : "would_pass";
    std::string enforced = side_name(e.enforced_kind, e.enforced_index, c.meta.rules);
    std::string candidate = side_name(e.candidate_kind, e.candidate_index, c.candidate.rules);
    std::string src = event_addr(e.src), dst = event_addr(e.dst);
    const char* dir = e.dir == EF_DIR_INGRESS ? "ingress" : "egress";
    if (c.json_out) {
        std::cout << json{{"time", when},     {"kind", kind},         {"iface", iface},
                          {"dir", dir},       {"proto", proto},       {"src", src},
                          {"sport", e.sport}, {"dst", dst},           {"dport", e.dport},
                          {"len", e.len},     {"enforced", enforced}, {"candidate", candidate}}
                         .dump()
                  << std::endl;
        return 0;
    }
    std::cout << fmt::format("{} {:<10} {:<7} {} {}:{} > {}:{} {}: enforced {}, candidate {}",
                             event_clock(when), iface, dir, proto, src, e.sport, dst, e.dport, kind,
                             enforced, candidate)
              << std::endl;
    return 0;
}

}  // namespace

void print_shadow_log(const LogArgs& a) {
    kernel::check_instance_name(a.instance);
    auto [d, meta] = open_loaded(a.instance);
    auto sm = read_shadow(d.path());
    if (!sm)
        throw Refused("instance '" + a.instance + "' has no candidate (see 'edgefw shadow start')");
    LogContext c{meta, *sm, a.json, mono_to_wall()};
    read_ring(shadow_pin(d.path(), "ef_log"), on_shadow_event, &c, a.follow);
}

}  // namespace lifecycle
