// `edgefw check` warnings: rules that can never count a packet, rules made
// redundant by others, rules no enabled feature keeps, VIPs without a backend.
#pragma once

#include "policy/diag.h"
#include "policy/policy.h"

namespace lint {

void check(const policy::Policy& p, policy::Diagnostics& diags);

}  // namespace lint
