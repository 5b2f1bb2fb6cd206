// Input files (policy, site, --packets, captures) must be regular files (a
// symlink to one is fine) no larger than the limit: a FIFO, /dev/zero or a
// directory is a clear error within a second, never a hang or bad_alloc.
#include <criterion/criterion.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "pcap/reader.h"
#include "policy/policy.h"
#include "util/input_file.h"

namespace {

const char* kReference = "policies/lync2010-edge-hlb.yaml";

struct TempDir {
    std::string path;
    TempDir() {
        char tmpl[] = "/tmp/edgefw-input-XXXXXX";
        cr_assert_not_null(mkdtemp(tmpl));
        path = tmpl;
    }
    ~TempDir() { (void)system(("rm -rf '" + path + "'").c_str()); }
    std::string fifo() {
        std::string p = path + "/fifo.yaml";
        cr_assert_eq(mkfifo(p.c_str(), 0600), 0);
        return p;
    }
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// policy::load of (policy, site): must fail fast with `want` in an error.
void refused(const std::string& pol, const std::string& site, const std::string& want) {
    auto t0 = std::chrono::steady_clock::now();
    policy::Diagnostics d;
    auto p = policy::load(pol, site, d);
    double s = seconds_since(t0);
    cr_assert(!p.has_value(), "%s / %s was loaded", pol.c_str(), site.c_str());
    cr_assert_lt(s, 1.0, "took %.2f s", s);
    std::string all;
    for (const auto& x : d.all()) all += x.str() + "\n";
    cr_assert(all.find(want) != std::string::npos, "no '%s' in:\n%s", want.c_str(), all.c_str());
}

// Runs a shell command under `timeout`; returns its exit status and output.
int run(const std::string& cmd, std::string& out, double& secs) {
    auto t0 = std::chrono::steady_clock::now();
    FILE* f = popen(("timeout 10 " + cmd + " 2>&1").c_str(), "r");
    cr_assert_not_null(f);
    char buf[512];
    out.clear();
    while (fgets(buf, sizeof buf, f)) out += buf;
    int status = pclose(f);
    secs = seconds_since(t0);
    return WEXITSTATUS(status);
}

}  // namespace

Test(policy_input_files, fifo_policy_or_site_is_refused_fast, .timeout = 10) {
    TempDir t;
    std::string fifo = t.fifo();
    refused(fifo, "", "is a FIFO, not a regular file");
    refused(kReference, fifo, "is a FIFO, not a regular file");
}

Test(policy_input_files, devices_and_directories_are_refused_fast, .timeout = 10) {
    TempDir t;
    refused("/dev/zero", "", "'/dev/zero' is a character device, not a regular file");
    refused(kReference, "/dev/zero", "is a character device");
    refused("/dev/null", "", "is a character device");
    refused(t.path, "", "is a directory, not a regular file");
    refused(t.path + "/missing.yaml", "", "cannot read policy");
}

Test(policy_input_files, oversize_file_is_refused_before_reading, .timeout = 10) {
    TempDir t;
    std::string big = t.path + "/big.yaml";
    int fd = open(big.c_str(), O_CREAT | O_WRONLY, 0600);
    cr_assert_geq(fd, 0);
    cr_assert_eq(ftruncate(fd, static_cast<off_t>(policy::kMaxPolicyBytes) + 1), 0);  // sparse
    close(fd);
    refused(big, "", "16777217 bytes");
    refused(big, "", "limited to 16777216 bytes");
}

Test(policy_input_files, symlink_to_a_regular_file_is_fine) {
    TempDir t;
    char real[PATH_MAX];
    cr_assert_not_null(realpath(kReference, real));
    std::string link = t.path + "/policy.yaml";
    cr_assert_eq(symlink(real, link.c_str()), 0);
    policy::Diagnostics d;
    cr_assert(policy::load(link, "", d).has_value());
    // A symlink to a FIFO is still a FIFO.
    std::string fifo = t.fifo(), link2 = t.path + "/to-fifo.yaml";
    cr_assert_eq(symlink(fifo.c_str(), link2.c_str()), 0);
    refused(link2, "", "is a FIFO");
}

Test(policy_input_files, read_input_bounds_what_it_reads, .timeout = 10) {
    TempDir t;
    std::string err;
    cr_assert(!util::read_input("/dev/zero", "test", 1024, err));
    cr_assert(err.find("character device") != std::string::npos, "%s", err.c_str());
    std::string f = t.path + "/small";
    FILE* out = fopen(f.c_str(), "w");
    fputs("0123456789", out);
    fclose(out);
    auto text = util::read_input(f, "test", 10, err);
    cr_assert(text && *text == "0123456789");
    cr_assert(!util::read_input(f, "test", 9, err));
    cr_assert(err.find("limited to 9 bytes") != std::string::npos, "%s", err.c_str());
    std::string empty = t.path + "/empty";
    fclose(fopen(empty.c_str(), "w"));
    text = util::read_input(empty, "test", 10, err);
    cr_assert(text && text->empty());
}

Test(policy_input_files, capture_fifo_and_device_are_refused_fast, .timeout = 10) {
    TempDir t;
    std::string fifo = t.fifo();
    for (const std::string& path : {fifo, std::string("/dev/zero"), t.path}) {
        auto t0 = std::chrono::steady_clock::now();
        std::string err;
        bool ok = capture::read_frames(
            path, [](const capture::Frame&) { return true; }, err);
        cr_assert(!ok);
        cr_assert_lt(seconds_since(t0), 1.0);
        cr_assert(err.find("not a regular file") != std::string::npos, "%s", err.c_str());
    }
}

Test(policy_input_files, cli_refuses_fifo_and_dev_zero_fast, .timeout = 60) {
    TempDir t;
    std::string fifo = t.fifo();
    std::string out;
    double secs = 0;
    struct {
        std::string args;
        const char* want;
    } cases[] = {
        {"check " + fifo, "is a FIFO, not a regular file"},
        {"check /dev/zero", "is a character device"},
        {std::string("check ") + kReference + " --site " + fifo, "is a FIFO"},
        {std::string("compile ") + kReference + " --node edge1 --site /dev/zero",
         "is a character device"},
        {std::string("explain ") + kReference + " --node edge1 --iface external --packets " + fifo,
         "is a FIFO"},
        {std::string("explain ") + kReference +
             " --node edge1 --iface external --packets /dev/zero",
         "is a character device"},
        {std::string("explain ") + kReference + " --node edge1 --iface external --pcap " + fifo,
         "is a FIFO"},
    };
    for (const auto& c : cases) {
        int rc = run("build/edgefw " + c.args, out, secs);
        cr_assert_neq(rc, 0, "edgefw %s exited 0:\n%s", c.args.c_str(), out.c_str());
        cr_assert_neq(rc, 124, "edgefw %s hung", c.args.c_str());
        cr_assert_lt(secs, 1.0, "edgefw %s took %.2f s", c.args.c_str(), secs);
        cr_assert(out.find(c.want) != std::string::npos, "edgefw %s:\n%s", c.args.c_str(),
                  out.c_str());
    }
}
