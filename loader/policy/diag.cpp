#include "policy/diag.h"

#include <algorithm>

namespace policy {

std::string Diagnostic::str() const {
    std::string out = loc.file;
    if (loc.line > 0) out += ":" + std::to_string(loc.line) + ":" + std::to_string(loc.column);
    out += severity == Severity::error ? ": error: " : ": warning: ";
    out += message;
    if (!hint.empty()) out += " (" + hint + ")";
    return out;
}

void Diagnostics::error(const Loc& loc, std::string message, std::string hint) {
    items_.push_back({Severity::error, loc, std::move(message), std::move(hint)});
}

void Diagnostics::warning(const Loc& loc, std::string message, std::string hint) {
    items_.push_back({Severity::warning, loc, std::move(message), std::move(hint)});
}

bool Diagnostics::has_errors() const {
    return std::any_of(items_.begin(), items_.end(),
                       [](const Diagnostic& d) { return d.severity == Severity::error; });
}

void Diagnostics::append(const Diagnostics& other) {
    items_.insert(items_.end(), other.items_.begin(), other.items_.end());
}

}  // namespace policy
