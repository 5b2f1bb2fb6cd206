# Kernel-matrix harness configuration (sourced by vm/vm.sh; plain bash).
# Every value here is an input of the cached initramfs: change one and the
# next `make vm-check` rebuilds what depends on it.

# The matrix: series name -> extended regex over Debian package names. The
# newest matching package that apt serves is used (sort -V); a series can be
# pinned from the environment, e.g. EDGEFW_VM_PKG_6_1=linux-image-6.1.0-56-cloud-amd64.
VM_SERIES=(6.1 6.12)
declare -A VM_PKG_REGEX=(
  [6.1]='^linux-image-6\.1\.0-[0-9]+-cloud-amd64$'
  [6.12]='^linux-image-6\.12\.[0-9]+\+deb12-cloud-amd64$'
)

# Modules loaded in the guest, with their dependencies (resolved by depmod /
# modprobe --show-depends on the host, loaded in that order with insmod).
# clsact is provided by sch_ingress.
# clsact is provided by sch_ingress. bridge and the nft expressions are for
# tests/e2e (no modprobe autoload in the guest). A module a kernel lacks is
# reported and skipped.
VM_MODULES=(veth sch_ingress cls_bpf act_bpf nf_tables bridge nf_conntrack nft_ct
  nft_chain_nat nft_nat nft_masq nft_reject_inet nft_fib_inet nft_limit nft_log)

# Host tools copied into the guest with their shared libraries (busybox `ip`
# has no netns support). A missing optional tool is skipped with a warning.
# bash is /bin/sh in the guest.
VM_TOOLS=(bash ip tc ss bpftool)
VM_TOOLS_OPTIONAL=(nft timeout setsid mawk unshare nsenter)

# Whole Debian packages copied into the guest (every file dpkg -L lists, but
# docs, man pages and locales, plus the shared libraries of every ELF file,
# dlopen'ed modules included): what tests/e2e needs (tests/e2e/install-deps.sh
# installs them on the host; a package the host lacks is skipped).
VM_PACKAGES_OPTIONAL=(socat jq curl openssl coturn sipsak kamailio nginx-light
  dnsmasq-base bind9-dnsutils ethtool conntrack nginx nginx-common)
# libxdp's dispatcher object and xdp-filter, for tests/lifecycle/xdp_multiprog.sh.
VM_PACKAGES_OPTIONAL+=(libxdp1 xdp-tools)

# Debian packages the harness needs on the host (installed when missing).
VM_HOST_PACKAGES=(qemu-system-x86 busybox-static cpio kmod xz-utils iproute2 bpftool nftables binutils)

# Guest size and limits.
VM_MEM=1024
VM_SMP=2
# Host-side timeout of one boot, seconds (KVM / TCG). A whole 6.1 run under TCG
# took 1,345 s on a busy 2-core host (the data-plane suite loads its programs
# some hundred times, and 6.1 verifies them slowest).
VM_TIMEOUT_KVM=420
VM_TIMEOUT_TCG=2400
# With KVM, the guest's init must have spoken within this many seconds, else
# KVM is taken as unusable and the boot is retried with TCG.
VM_KVM_PROBE=30

# Size of the differential test in the guest: EDGEFW_DIFF_PACKETS caps the
# packets of each differential run (the host-side `make dataplane` keeps its
# full size). Overridable from the environment.
VM_DIFF_PACKETS_KVM=20000
VM_DIFF_PACKETS_TCG=4000
