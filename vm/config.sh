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
VM_MODULES=(veth sch_ingress cls_bpf act_bpf nf_tables)

# Host tools copied into the guest with their shared libraries (busybox `ip`
# has no netns support). A missing optional tool is skipped with a warning.
VM_TOOLS=(ip tc bpftool)
VM_TOOLS_OPTIONAL=(nft)

# Debian packages the harness needs on the host (installed when missing).
VM_HOST_PACKAGES=(qemu-system-x86 busybox-static cpio kmod xz-utils iproute2 bpftool nftables binutils)

# Guest size and limits.
VM_MEM=1024
VM_SMP=2
# Host-side timeout of one boot, seconds (KVM / TCG).
VM_TIMEOUT_KVM=420
VM_TIMEOUT_TCG=1500

# Size of the differential test in the guest: EDGEFW_DIFF_PACKETS caps the
# packets of each differential run (the host-side `make dataplane` keeps its
# full size). Overridable from the environment.
VM_DIFF_PACKETS_KVM=20000
VM_DIFF_PACKETS_TCG=4000
