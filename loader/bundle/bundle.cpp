#include "bundle/bundle.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include "bundle/sha256.h"
#include "compile/compile.h"
#include "image/print.h"
#include "kernel/features.h"
#include "lifecycle/selftest.h"
#include "monitor/collect.h"
#include "util/input_file.h"

namespace bundle {

using nlohmann::json;

namespace {

constexpr const char* kManifest = "manifest.json";
constexpr const char* kPolicyFile = "policy.yaml";
constexpr const char* kSiteFile = "site.yaml";
constexpr const char* kImageFile = "image.json";
constexpr const char* kSelfTestFile = "selftest.json";

std::string absolute(const std::string& p) {
    if (p.empty() || p[0] == '/') return p;
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd)) return p;
    return std::string(cwd) + "/" + (p.rfind("./", 0) == 0 ? p.substr(2) : p);
}

std::string strip_slashes(std::string p) {
    while (p.size() > 1 && p.back() == '/') p.pop_back();
    return p;
}

std::string read_file(const std::string& path, const std::string& what) {
    std::string err;
    auto text = util::read_input(path, what, util::kMaxInputBytes, err);
    if (!text) throw Error(err);
    return *text;
}

void mkdirs(const std::string& path) {
    std::string cur;
    std::istringstream parts(path);
    std::string part;
    if (!path.empty() && path[0] == '/') cur = "/";
    while (std::getline(parts, part, '/')) {
        if (part.empty()) continue;
        cur += (cur.empty() || cur.back() == '/' ? "" : "/") + part;
        if (mkdir(cur.c_str(), 0755) && errno != EEXIST)
            throw Error("bundle: create directory " + cur + ": " + std::strerror(errno));
    }
    struct stat st {};
    if (stat(path.c_str(), &st) || !S_ISDIR(st.st_mode))
        throw Error("bundle: " + path + " is not a directory (give --out a directory)");
}

// Write beside, then rename: a reader sees the old file or the new one.
void write_file(const std::string& dir, const std::string& name, const std::string& text) {
    std::string path = dir + "/" + name, tmp = dir + "/." + name + ".tmp";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) throw Error("bundle: write " + tmp + ": " + std::strerror(errno));
    size_t off = 0;
    while (off < text.size()) {
        ssize_t n = ::write(fd, text.data() + off, text.size() - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            int e = errno;
            close(fd);
            unlink(tmp.c_str());
            throw Error("bundle: write " + tmp + ": " + std::strerror(e));
        }
        off += static_cast<size_t>(n);
    }
    if (fsync(fd) || close(fd) || rename(tmp.c_str(), path.c_str())) {
        int e = errno;
        unlink(tmp.c_str());
        throw Error("bundle: write " + path + ": " + std::strerror(e));
    }
}

// "6.1.0-13-amd64" -> {6, 1}; {0, 0} when it cannot be read.
std::pair<int, int> major_minor(const std::string& release) {
    int major = 0, minor = 0;
    if (sscanf(release.c_str(), "%d.%d", &major, &minor) < 1) return {0, 0};
    return {major, minor};
}

std::string running_kernel() {
    utsname u{};
    return uname(&u) == 0 ? u.release : "";
}

policy::Policy load_policy(const std::string& policy_text, const std::string& policy_name,
                           const std::string& site_text, const std::string& site_name,
                           const policy::LoadOptions& options, const std::string& what) {
    policy::Diagnostics diags;
    auto p = policy::load_text(policy_text, policy_name, site_text, site_name, diags, options);
    if (!p) {
        std::string msg = what + " has errors:";
        for (const auto& d : diags.all())
            if (d.severity == policy::Severity::error) msg += "\n  " + d.str();
        throw Error(msg);
    }
    return *p;
}

json image_json(const policy::Policy& p, const std::string& node, image::MapImage& img) {
    compile::Report report;
    img = compile::compile_node(p, node, &report);
    json j = image::to_json(img);
    for (const auto& [feature, ids] : report.disabled) j["disabled_features"][feature] = ids;
    j["not_on_node"] = report.not_on_node;
    return j;
}

// Pools: the connected groups of nodes that back a common VIP.
std::map<std::string, std::string> pools(const policy::Policy& p) {
    std::map<std::string, std::string> parent;
    for (const auto& [n, _] : p.nodes) parent[n] = n;
    std::function<std::string(const std::string&)> find = [&](const std::string& n) {
        return parent[n] == n ? n : parent[n] = find(parent[n]);
    };
    for (const auto& [vip_name, v] : p.vips) {
        std::string first;
        for (const auto& [n, _] : v.backends) {
            if (!parent.count(n)) continue;
            if (first.empty())
                first = find(n);
            else
                parent[find(n)] = first;  // nodes are visited in name order: first stays smallest
        }
    }
    std::map<std::string, std::string> name_of_root;
    std::set<std::string> taken;
    for (const auto& [n, _] : p.nodes) {
        std::string root = find(n);
        if (name_of_root.count(root)) continue;
        std::string name = root;
        bool grouped = false;
        for (const auto& [m, __] : p.nodes) grouped = grouped || (m != root && find(m) == root);
        if (grouped) {
            while (!name.empty() && isdigit(static_cast<unsigned char>(name.back())))
                name.pop_back();
            while (!name.empty() && (name.back() == '-' || name.back() == '_')) name.pop_back();
            if (name.empty() || taken.count(name) || p.nodes.count(name)) name = root;
        }
        taken.insert(name);
        name_of_root[root] = name;
    }
    std::map<std::string, std::string> out;
    for (const auto& [n, _] : p.nodes) out[n] = name_of_root[find(n)];
    return out;
}

std::string role_text(uint32_t role) { return policy::role_name(role); }

json run_self_test(const policy::Policy& p, const std::string& node, const image::MapImage& img,
                   lifecycle::SelfTest& st) {
    json probes = json::array();
    try {
        st = lifecycle::self_test(p, node, img, [&](const lifecycle::ProbeResult& r) {
            probes.push_back({{"iface", role_text(r.probe->role)},
                              {"packet", packet::to_spec(r.probe->pkt)},
                              {"from_rule", r.probe->rule},
                              {"inside", r.probe->inside},
                              {"model", r.model},
                              {"kernel", r.kernel},
                              {"ok", r.ok}});
        });
    } catch (const std::exception& e) {
        throw Error("node " + node + ": the self-test could not run the programs (" + e.what() +
                    "): edgefw bundle runs them through BPF_PROG_TEST_RUN and needs root "
                    "(CAP_BPF, CAP_PERFMON) on Linux " +
                    kMinKernel + " or later");
    }
    if (!st.mismatches.empty()) {
        std::string msg = "node " + node + ": self-test failed, " +
                          std::to_string(st.mismatches.size()) + " of " +
                          std::to_string(st.probes) +
                          " boundary packets disagree with the policy model; no bundle written:";
        for (size_t i = 0; i < st.mismatches.size() && i < 10; i++)
            msg += "\n  " + st.mismatches[i];
        throw Error(msg);
    }
    return probes;
}

}  // namespace

std::string policy_hash(const std::string& policy_text, const std::string& site_text) {
    return sha256_hex(policy_text + site_text);
}

std::string pool_of(const policy::Policy& p, const std::string& node) {
    auto all = pools(p);
    auto it = all.find(node);
    return it == all.end() ? node : it->second;
}

WriteResult write(const WriteArgs& a) {
    std::string policy_text = read_file(a.policy, "policy");
    std::string site_text = a.site.empty() ? "" : read_file(a.site, "site file");
    auto p = load_policy(policy_text, a.policy, site_text, a.site, a.options, "policy " + a.policy);
    WriteResult res;
    res.policy_hash = policy_hash(policy_text, site_text);
    auto pool = pools(p);
    mkdirs(a.out);
    // Every node is compiled and self-tested before any directory is written.
    struct Node {
        std::string name;
        json image, selftest;
        std::string image_hash;
        lifecycle::SelfTest st;
    };
    std::vector<Node> nodes;
    for (const auto& [name, _] : p.nodes) {
        Node n;
        n.name = name;
        image::MapImage img;
        try {
            n.image = image_json(p, name, img);
        } catch (const compile::Error& e) {
            throw Error("node " + name + ": compile: " + e.what());
        }
        n.image_hash = img.policy_hash;
        json probes = run_self_test(p, name, img, n.st);
        n.selftest = {{"node", name},
                      {"image_hash", img.policy_hash},
                      {"kernel", running_kernel()},
                      {"probes_run", n.st.probes},
                      {"probes_of", n.st.of},
                      {"passed", n.st.passed},
                      {"mismatches", n.st.mismatches},
                      {"probes", probes}};
        nodes.push_back(std::move(n));
    }
    for (const auto& n : nodes) {
        std::string dir = strip_slashes(a.out) + "/" + n.name;
        mkdirs(dir);
        json files = json::object();
        auto put = [&](const char* name, const std::string& text) {
            write_file(dir, name, text);
            files[name] = sha256_hex(text);
        };
        put(kPolicyFile, policy_text);
        if (!a.site.empty())
            put(kSiteFile, site_text);
        else
            (void)unlink((dir + "/" + kSiteFile).c_str());  // a stale one of an earlier bundle
        put(kImageFile, n.image.dump(2) + "\n");
        put(kSelfTestFile, n.selftest.dump(1) + "\n");
        json manifest = {{"edgefw_bundle", kFormat},
                         {"node", n.name},
                         {"pool", pool[n.name]},
                         {"policy_name", p.name},
                         {"policy_hash", res.policy_hash},
                         {"image_hash", n.image_hash},
                         {"edgefw_version", monitor::version()},
                         {"min_kernel", kMinKernel},
                         {"self_test",
                          {{"probes", n.st.probes},
                           {"of", n.st.of},
                           {"passed", n.st.passed},
                           {"kernel", running_kernel()}}},
                         {"files", files}};
        write_file(dir, kManifest, manifest.dump(2) + "\n");
        res.nodes.push_back({n.name, dir, pool[n.name], n.image_hash, n.st.probes, n.st.passed});
    }
    return res;
}

std::string wrong_node(const std::string& dir, const std::string& bundle_node,
                       const std::string& asked, const std::string& asked_where) {
    return "bundle " + dir + " is for node " + bundle_node + ", not " + asked + " (" + asked_where +
           "): use the bundle built for " + asked + " (" + dir.substr(0, dir.rfind('/') + 1) +
           asked + "), or check which node this host is. Nothing changed";
}

Opened open(const std::string& dir_in, const std::string& node,
            const policy::LoadOptions& options) {
    Opened b;
    b.dir = strip_slashes(absolute(dir_in));
    const std::string fix =
        "rebuild it with 'edgefw bundle POLICY --site SITE --out DIR' and "
        "copy DIR/NODE to this host again. Nothing changed";
    struct stat st {};
    if (int r = stat(b.dir.c_str(), &st); r || !S_ISDIR(st.st_mode)) {
        std::string why = r == 0            ? "not a directory"
                          : errno == ENOENT ? "no such directory"
                                            : std::strerror(errno);
        throw Error("bundle " + b.dir + ": " + why +
                    " (--bundle takes DIR/NODE, the node's directory of 'edgefw bundle --out "
                    "DIR'). Nothing changed");
    }
    std::string mtext;
    try {
        mtext = read_file(b.dir + "/" + kManifest, "bundle manifest");
        b.manifest = json::parse(mtext);
    } catch (const Error& e) {
        throw Error("bundle " + b.dir + ": " + e.what() + "; " + fix);
    } catch (const json::exception& e) {
        throw Error("bundle " + b.dir + ": " + kManifest + " is not valid JSON (" + e.what() +
                    "); " + fix);
    }
    const json& m = b.manifest;
    auto field = [&](const char* k) -> std::string {
        if (!m.is_object() || !m.contains(k) || !m[k].is_string())
            throw Error("bundle " + b.dir + ": " + kManifest + " has no \"" + k + "\"; " + fix);
        return m[k].get<std::string>();
    };
    if (!m.is_object() || m.value("edgefw_bundle", 0) != kFormat)
        throw Error("bundle " + b.dir + ": " + kManifest + " is not an edgefw bundle of format " +
                    std::to_string(kFormat) + "; " + fix);
    b.node = field("node");
    b.pool = m.value("pool", "");
    if (!node.empty() && b.node != node) throw Error(wrong_node(b.dir, b.node, node, "--node"));
    std::string base = b.dir.substr(b.dir.rfind('/') + 1);
    if (base != b.node)
        throw Error("bundle " + b.dir + " is named " + base + " but its manifest is for node " +
                    b.node + ": a bundle directory is named after its node; " + fix);

    // Every file the manifest lists, as it lists it, and only those.
    if (!m.contains("files") || !m["files"].is_object() || !m["files"].contains(kPolicyFile))
        throw Error("bundle " + b.dir + ": " + kManifest + " lists no " + kPolicyFile + "; " + fix);
    std::map<std::string, std::string> text;
    for (const auto& [name, want] : m["files"].items()) {
        if (name.find('/') != std::string::npos || name.empty() || name[0] == '.' ||
            !want.is_string())
            throw Error("bundle " + b.dir + ": " + kManifest + " lists a bad file entry '" + name +
                        "'; " + fix);
        std::string path = b.dir + "/" + name;
        try {
            text[name] = read_file(path, "bundle file");
        } catch (const Error& e) {
            throw Error("bundle " + b.dir + ": " + e.what() + "; " + fix);
        }
        std::string got = sha256_hex(text[name]);
        if (got != want.get<std::string>())
            throw Error("bundle " + b.dir + ": " + name + " does not match its manifest (sha256 " +
                        got + ", manifest says " + want.get<std::string>() +
                        "): it changed after 'edgefw bundle' wrote it; " + fix);
    }
    b.policy_text = text[kPolicyFile];
    b.policy_path = b.dir + "/" + kPolicyFile;
    if (text.count(kSiteFile)) {
        b.site_text = text[kSiteFile];
        b.site_path = b.dir + "/" + kSiteFile;
    } else {
        struct stat s2 {};
        if (stat((b.dir + "/" + kSiteFile).c_str(), &s2) == 0)
            throw Error("bundle " + b.dir + ": " + kSiteFile +
                        " is there but the manifest lists none (added after 'edgefw bundle'); " +
                        fix);
    }
    std::string ph = policy_hash(b.policy_text, b.site_text);
    if (ph != field("policy_hash"))
        throw Error("bundle " + b.dir + ": policy hash " + ph + " of its files is not the " +
                    "manifest's " + field("policy_hash") + "; " + fix);

    // This host can run it.
    std::string kernel = running_kernel();
    auto have = major_minor(kernel), need = major_minor(m.value("min_kernel", kMinKernel));
    if (have.first && have < need)
        throw Error("bundle " + b.dir + " needs Linux " + m.value("min_kernel", kMinKernel) +
                    " or later; this host runs " + kernel + ". Nothing changed");

    // This edgefw compiles the files into the image the bundle was built and
    // self-tested with (another edgefw version may compile them differently).
    auto p = load_policy(b.policy_text, b.policy_path, b.site_text, b.site_path, options,
                         "bundle " + b.dir + ": its policy");
    image::MapImage img;
    try {
        img = compile::compile_node(p, b.node);
    } catch (const compile::Error& e) {
        throw Error("bundle " + b.dir + ": compile: " + e.what() + ". Nothing changed");
    }
    if (img.policy_hash != field("image_hash"))
        throw Error("bundle " + b.dir + ": this edgefw (" + monitor::version() +
                    ") compiles it into image " + img.policy_hash + ", not the bundle's " +
                    field("image_hash") + " (built by edgefw " + m.value("edgefw_version", "?") +
                    "): rebuild the bundle with the edgefw this host runs. Nothing changed");
    return b;
}

json Opened::summary() const {
    return {{"dir", dir},
            {"node", node},
            {"pool", pool},
            {"policy_hash", manifest.value("policy_hash", "")},
            {"image_hash", manifest.value("image_hash", "")},
            {"edgefw_version", manifest.value("edgefw_version", "")}};
}

std::string inventory(const policy::Policy& p, const std::string& policy_file,
                      const std::string& site_file) {
    auto pool = pools(p);
    // The management port: one TCP port named by every management entry.
    std::set<uint16_t> ports;
    for (const auto& m : p.management)
        if (m.proto == policy::Proto::tcp)
            for (const auto& r : m.dport)
                if (r.lo == r.hi) ports.insert(r.lo);
    std::ostringstream out;
    out << "# Ansible inventory from edgefw inventory " << policy_file
        << (site_file.empty() ? "" : " --site " + site_file) << "\n"
        << "# ansible_host: the node's internal-NIC address, where the site file's management\n"
        << "# entries admit SSH" << (p.management.empty() ? " (this site file has none!)" : "")
        << ".\n";
    out << "all:\n  children:\n    edgefw:\n      vars:\n        edgefw_policy_name: \"" << p.name
        << "\"\n      children:\n";
    std::map<std::string, std::vector<std::string>> members;
    for (const auto& [n, pl] : pool) members[pl].push_back(n);
    for (const auto& [pl, nodes] : members) {
        std::string group = "pool_";
        for (char c : pl) group += isalnum(static_cast<unsigned char>(c)) ? c : '_';
        out << "        " << group << ":\n          hosts:\n";
        for (const auto& n : nodes) {
            const auto& node = p.nodes.at(n);
            std::string host;
            for (uint32_t role : {EF_ROLE_INTERNAL, EF_ROLE_EXTERNAL}) {
                auto it = node.interfaces.find(role);
                if (it == node.interfaces.end()) continue;
                for (const auto& a : it->second.addresses)
                    if (host.empty() && a.is_v4()) host = a.str();
                for (const auto& a : it->second.addresses)
                    if (host.empty()) host = a.str();
                if (!host.empty()) break;
            }
            out << "            " << n << ":\n";
            if (!host.empty()) out << "              ansible_host: " << host << "\n";
            if (ports.size() == 1 && *ports.begin() != 22)
                out << "              ansible_port: " << *ports.begin() << "\n";
            out << "              edgefw_node: " << n << "\n"
                << "              edgefw_pool: " << pl << "\n";
        }
    }
    return out.str();
}

}  // namespace bundle
