// loader/bundle: SHA-256 against FIPS 180-4 vectors, the fleet-wide policy
// hash, pools from shared VIP backends, the Ansible inventory, and the
// exporter's edgefw_policy_source_info. Writing and opening bundles needs the
// kernel's test run (the self-test): tests/fleet/bundle.sh.
#include "bundle/bundle.h"

#include <criterion/criterion.h>

#include <string>

#include "bundle/sha256.h"
#include "monitor/prometheus.h"

namespace {

const char* kReference = "policies/lync2010-edge-hlb.yaml";
const char* kSite = "policies/site-test.yaml";

policy::Policy reference(const char* site) {
    policy::Diagnostics diags;
    auto p = policy::load(kReference, site, diags);
    cr_assert(p.has_value(), "reference policy does not load");
    return *p;
}

}  // namespace

Test(bundle, sha256_vectors) {
    cr_assert_eq(bundle::sha256_hex(""),
                 std::string("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
    cr_assert_eq(bundle::sha256_hex("abc"),
                 std::string("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
    // 56 bytes: the length no longer fits the first padding block.
    cr_assert_eq(bundle::sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
                 std::string("248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"));
    cr_assert_eq(bundle::sha256_hex(std::string(1000000, 'a')),
                 std::string("cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"));
    // 64 and 119 bytes: block edges.
    cr_assert_eq(bundle::sha256_hex(std::string(64, 'a')),
                 std::string("ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"));
}

Test(bundle, policy_hash_is_policy_then_site) {
    cr_assert_eq(bundle::policy_hash("ab", "c"), bundle::sha256_hex("abc"));
    cr_assert_eq(bundle::policy_hash("abc", ""), bundle::sha256_hex("abc"));
}

Test(bundle, pools_from_vip_backends) {
    auto p = reference(kSite);
    cr_assert_eq(bundle::pool_of(p, "edge1"), std::string("edge"));
    cr_assert_eq(bundle::pool_of(p, "edge2"), std::string("edge"));
    cr_assert_eq(bundle::pool_of(p, "rproxy"), std::string("rproxy"));
}

Test(bundle, inventory_names_management_addresses) {
    auto p = reference(kSite);
    std::string inv = bundle::inventory(p, kReference, kSite);
    for (const char* want : {"    edgefw:\n", "        pool_edge:\n", "        pool_rproxy:\n",
                             "            edge1:\n              ansible_host: 198.19.33.10\n",
                             "            edge2:\n              ansible_host: 198.19.33.11\n",
                             "            rproxy:\n              ansible_host: 198.19.33.40\n",
                             "              edgefw_pool: edge\n"})
        cr_assert(inv.find(want) != std::string::npos, "inventory lacks '%s':\n%s", want,
                  inv.c_str());
    cr_assert(inv.find("ansible_port") == std::string::npos, "port 22 is SSH's default");
    cr_assert(inv.find("has none") == std::string::npos);
    // Without a site file: the reference addresses, and a warning that no
    // management entry admits SSH.
    std::string bare = bundle::inventory(reference(""), kReference, "");
    cr_assert(bare.find("ansible_host: 172.25.33.10") != std::string::npos, "%s", bare.c_str());
    cr_assert(bare.find("(this site file has none!)") != std::string::npos);
}

Test(bundle, open_refuses_a_missing_directory) {
    try {
        bundle::open("/nonexistent-edgefw-bundle/edge1", "edge1");
        cr_assert_fail("no error");
    } catch (const bundle::Error& e) {
        std::string m = e.what();
        cr_assert(m.find("no such directory") != std::string::npos, "%s", m.c_str());
        cr_assert(m.find("Nothing changed") != std::string::npos, "%s", m.c_str());
    }
}

Test(bundle, exporter_policy_source_info) {
    nlohmann::json status = {{"instance", "fleet"},
                             {"node", "edge1"},
                             {"policy_hash", "6f05b239165c4239"},
                             {"policy_sha256", "841b"},
                             {"bundle", {{"pool", "edge"}}}};
    nlohmann::json snap = {
        {"version", "0.1.0"},
        {"instances", {{{"instance_name", "fleet"}, {"up", true}, {"status", status}}}}};
    std::string t = monitor::to_prometheus(snap);
    cr_assert(t.find("edgefw_policy_source_info{instance_name=\"fleet\",node=\"edge1\",pool="
                     "\"edge\",sha256=\"841b\"} 1\n") != std::string::npos,
              "%s", t.c_str());
    status.erase("bundle");  // loaded from files, or rolled back by the confirm timer
    snap["instances"][0]["status"] = status;
    t = monitor::to_prometheus(snap);
    cr_assert(t.find("edgefw_policy_source_info{instance_name=\"fleet\",node=\"edge1\",sha256="
                     "\"841b\"} 1\n") != std::string::npos,
              "%s", t.c_str());
}
