// The plain-subset YAML reader (policy/ytree_fast.cpp) against yaml-cpp's
// parser: wherever the fast reader accepts a text, the two trees (types,
// scalars, marks, children, repeated keys) must be the same. Inputs: synthetic
// policies, the reference policy and site files, and byte-level mutations of
// them (tokens inserted, spans deleted, lines repeated or re-indented).
#include "policy/ytree.h"

#include <criterion/criterion.h>

#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "synth/synth.h"

namespace {

std::string read(const char* path) {
    std::ifstream f(path);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

// A canonical dump of the tree below n: type, mark, scalar, children.
void dump(const policy::YNode& n, std::string& out, int depth) {
    auto m = n.Mark();
    out += std::to_string(int(n.Type())) + "@" + std::to_string(m.line) + ":" +
           std::to_string(m.column) + ":" + std::to_string(m.pos) + " '" + n.Scalar() + "'";
    if (depth > 64) return;  // an alias loop; yaml-cpp only (the fast reader has no aliases)
    out += " {";
    for (const auto& e : n) {
        if (n.IsMap()) {
            dump(e.first, out, depth + 1);
            out += " : ";
            dump(e.second, out, depth + 1);
        } else {
            dump(e, out, depth + 1);
        }
        out += ", ";
    }
    out += "}";
}

// Whether the fast reader accepted text; if it did, that both trees agree.
bool same_tree(const std::string& text, std::string& why) {
    std::vector<policy::ytree::Duplicate> fast_dups, ref_dups;
    auto fast = policy::ytree::parse_plain(text, fast_dups);
    if (!fast) return false;
    std::string a, b;
    dump(*fast, a, 0);
    try {
        dump(policy::ytree::parse_yaml_cpp(text, ref_dups), b, 0);
    } catch (const YAML::Exception& e) {
        why = std::string("the fast reader accepted text yaml-cpp rejects: ") + e.what();
        return true;
    }
    for (const auto& d : ref_dups) b += " dup " + d.key + std::to_string(d.second.line);
    for (const auto& d : fast_dups) a += " dup " + d.key + std::to_string(d.second.line);
    if (a != b) why = "trees differ:\n" + a.substr(0, 2000) + "\n" + b.substr(0, 2000);
    return true;
}

std::vector<std::string> bases() {
    std::vector<std::string> out;
    for (uint64_t seed : {1, 2, 3}) out.push_back(synth::generate(synth::Options{200, seed, true}));
    for (const char* p : {"policies/lync2010-edge-hlb.yaml", "policies/site-test.yaml"})
        out.push_back(read(p));
    // The reference policy's scalars unquoted where that keeps them plain,
    // so that its block structure goes through the fast reader too.
    std::string ref = read("policies/lync2010-edge-hlb.yaml"), plain;
    std::istringstream in(ref);
    for (std::string line; std::getline(in, line);) {
        auto q = line.find('"');
        if (q != std::string::npos && line.rfind('"') > q) {
            std::string inner = line.substr(q + 1, line.rfind('"') - q - 1);
            if (inner.find_first_of(":#'\"[]{}&*!|>%@`") == std::string::npos)
                line = line.substr(0, q) + inner + line.substr(line.rfind('"') + 1);
        }
        plain += line + "\n";
    }
    out.push_back(plain);
    // Every construct of the plain subset: nested block mappings, sequences of
    // scalars, of flow collections and of compact mappings, nested flow
    // collections, comments, IPv6 scalars, nulls, inner blanks.
    out.push_back(
        "# a comment\n"
        "edgefw: 1\n"
        "name: plain subset test   # trailing comment\n"
        "features:\n"
        "  f1: {description: one two, enabled: yes}\n"
        "  f2: {}\n"
        "objects:\n"
        "  set1: [198.18.1.1, 198.18.2.0/24, 2001:db8::1, 2001:db8:f20::/48]\n"
        "  set2:\n"
        "    - 198.18.3.1\n"
        "    - ~\n"
        "\n"
        "nodes:\n"
        "  n1:\n"
        "    interfaces:\n"
        "      external:\n"
        "        addresses: [198.18.0.1, 2001:db8::2]\n"
        "      internal: {addresses: [198.18.1.1]}\n"
        "rules:\n"
        "  - id: r1\n"
        "    app: SIP (TLS)\n"
        "    proto: tcp\n"
        "    dport: [443, 5061-5062, {a: [1, 2]}]\n"
        "  - {id: r2, src: any, dport: null, sport: [ 1 , 2 ]}\n"
        "  -   plain item\n"
        "  - [x, y]\n"
        "summary:\n"
        "  - {a: b}\n"
        "x.y-z/1: -5\n");
    return out;
}

}  // namespace

Test(policy_ytree, fast_reader_takes_synthetic_policies) {
    for (uint64_t seed : {1, 7}) {
        std::string why;
        cr_assert(same_tree(synth::generate(synth::Options{2000, seed, true}), why),
                  "the fast reader gave up on a synthetic policy");
        cr_assert(why.empty(), "%s", why.c_str());
    }
}

Test(policy_ytree, fast_reader_matches_yaml_cpp_on_mutations) {
    const char* tokens[] = {"&a ",
                            "*a",
                            " ~",
                            " null",
                            "{",
                            "}",
                            "[",
                            "]",
                            ",",
                            ": ",
                            "- ",
                            "\"",
                            "'",
                            "\n  ",
                            "\n",
                            "#",
                            " #",
                            "!!str ",
                            "? ",
                            "\t",
                            "---\n",
                            "x: 1\nx: 2\n",
                            "  ",
                            ":",
                            "-",
                            "a b",
                            "{a: b}",
                            "[1, 2]",
                            "|\n",
                            ">\n",
                            "%",
                            "@",
                            "\r",
                            "\xc3\xa9",
                            "::1",
                            "NULL",
                            "2001:db8::/48"};
    std::mt19937_64 rng(14);
    size_t accepted = 0, tried = 0;
    for (const auto& base : bases()) {
        std::string why;
        bool took = same_tree(base, why);
        cr_log_info("ytree: base of %zu bytes: %s", base.size(), took ? "fast" : "yaml-cpp");
        cr_assert(why.empty(), "%s", why.c_str());
        for (int i = 0; i < (took ? 1200 : 300); i++) {
            std::string s = base;
            int edits = 1 + int(rng() % 3);
            for (int k = 0; k < edits; k++) {
                size_t pos = rng() % (s.size() + 1);
                switch (rng() % 4) {
                    case 0:
                        s.insert(pos, tokens[rng() % (sizeof tokens / sizeof *tokens)]);
                        break;
                    case 1:
                        s.erase(pos, 1 + rng() % 12);
                        break;
                    case 2: {  // repeat a line elsewhere
                        size_t a = s.rfind('\n', pos), b = s.find('\n', pos);
                        a = a == std::string::npos ? 0 : a + 1;
                        if (b == std::string::npos) b = s.size();
                        std::string line = s.substr(a, b - a) + "\n";
                        s.insert(rng() % (s.size() + 1), line);
                        break;
                    }
                    default:  // re-indent a line
                        s.insert(
                            s.rfind('\n', pos) == std::string::npos ? 0 : s.rfind('\n', pos) + 1,
                            std::string(rng() % 3 + 1, ' '));
                }
            }
            tried++;
            why.clear();
            if (same_tree(s, why)) accepted++;
            cr_assert(why.empty(), "mutation %d: %s\n--- text:\n%s", i, why.c_str(),
                      s.substr(0, 3000).c_str());
        }
    }
    cr_log_info("ytree: fast reader took %zu of %zu mutated texts, all as yaml-cpp reads them",
                accepted, tried);
    cr_assert(accepted > 400, "the fast reader took only %zu of %zu", accepted, tried);
}
