// Per-node deployment bundles and the fleet's Ansible inventory.
//
// `edgefw bundle POLICY [--site F] --out DIR` writes, for every node of the
// policy, DIR/NODE/ with the policy and site files, the compiled map image
// (image.json, as `edgefw compile --json`), the self-test's probes with the
// model's and the kernel's verdict on each (selftest.json) and manifest.json:
// node, pool, the policy hash (sha256 of the policy and site bytes, the same
// on every node), the image hash (the node's compiled image, what `status`
// shows as policy_hash), edgefw's version, the minimum kernel and the sha256
// of each file. `load`/`reload --bundle DIR/NODE` take their policy and site
// from a bundle only after open() has checked all of it.
#pragma once

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "policy/policy.h"

namespace bundle {

struct Error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

inline constexpr int kFormat = 1;                 // manifest.json "edgefw_bundle"
inline constexpr const char* kMinKernel = "6.1";  // README: Kernels

// The fleet-wide policy hash: sha256 of the policy bytes followed by the site
// bytes (`cat policy.yaml site.yaml | sha256sum`). Nodes of one pool running
// one policy show the same value; the image hash differs per node.
std::string policy_hash(const std::string& policy_text, const std::string& site_text);

// Nodes that back a common VIP form a pool (a load-balanced group); the pool
// is named after its first node without trailing digits ("edge1" -> "edge").
// A node behind no VIP is a pool of its own, named as the node.
std::string pool_of(const policy::Policy& p, const std::string& node);

struct WriteArgs {
    std::string policy, site, out;
    policy::LoadOptions options;
};

// One line per node written, for the CLI.
struct Written {
    std::string node, dir, pool, image_hash;
    size_t probes = 0, passed = 0;
};

// Writes every node's bundle (throws Error: bad policy, a node whose
// self-test disagrees, an unwritable DIR). Nothing of a node is left half
// written: each file is replaced by rename, manifest.json last.
struct WriteResult {
    std::string policy_hash;
    std::vector<Written> nodes;
};
WriteResult write(const WriteArgs& a);

// A bundle checked for use: every file's sha256 as the manifest says, the
// policy hash, the node, the format and the running kernel, and this edgefw
// compiles the files into the image the bundle was tested with.
struct Opened {
    std::string dir;  // absolute
    std::string node, pool;
    std::string policy_path, policy_text;  // absolute path inside the bundle, bytes
    std::string site_path, site_text;      // empty when the bundle has no site file
    nlohmann::json manifest;
    // What the instance's description keeps (status --json "bundle").
    nlohmann::json summary() const;
};

// `node` is the node asked for (--node, or the instance's); empty: not known
// yet, the caller compares Opened::node itself. Throws Error naming the file,
// what is wrong and how to fix it.
Opened open(const std::string& dir, const std::string& node,
            const policy::LoadOptions& options = {});

// The refusal when a bundle's node is not the one asked for.
std::string wrong_node(const std::string& dir, const std::string& bundle_node,
                       const std::string& asked, const std::string& asked_where);

// An Ansible YAML inventory: group `edgefw` with one child group per pool
// (`pool_<name>`), every node with ansible_host (its management address:
// the internal NIC's address the site file's management entries admit),
// ansible_port when the management entry names one port, edgefw_node and
// edgefw_pool.
std::string inventory(const policy::Policy& p, const std::string& policy_file,
                      const std::string& site_file);

}  // namespace bundle
