// Seed rows of the reference policy with the verdict each must get: shared by
// the model's unit test and the kernel's data-plane test.
#pragma once

namespace seedrows {

struct Row {
    const char* node;
    const char* iface;
    const char* spec;
    const char* want;  // rule id or reason name
};

extern const Row kRows[];
extern const unsigned kRowCount;

}  // namespace seedrows
