# Kernel matrix: the data-plane suite on Debian's stock 6.1 and 6.12 kernels
# under QEMU (vm/vm.sh; see vm/README.md). Not part of `make check`.
#   make vm-check                   every series in vm/config.sh, then a table
#   make vm-check VM_KERNELS=6.12   a subset
#   make vm-run-6.1                 one series (log: build/vm/6.1.log)
VM_KERNELS ?=
# The netns end-to-end suite runs in the guest too; EDGEFW_VM_E2E=0 skips it.
EDGEFW_VM_E2E ?= 1
export EDGEFW_VM_E2E
VM_INPUTS := $(BUILD)/edgefw $(BUILD)/tests/dataplane $(BUILD)/bpf/edgefw.bpf.o

.PHONY: vm-check vm-deps vm-run-%
vm-check: $(VM_INPUTS)
	$(Q)BUILD=$(BUILD) vm/vm.sh matrix $(VM_KERNELS)

vm-run-%: $(VM_INPUTS)
	$(Q)BUILD=$(BUILD) vm/vm.sh run $*

vm-deps:
	$(Q)vm/vm.sh deps
