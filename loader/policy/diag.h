// Diagnostics: every error and warning names file, line and column and says
// how to fix it. Errors are collected, never thrown one at a time.
#pragma once

#include <string>
#include <vector>

namespace policy {

struct Loc {
    std::string file;
    int line = 0;    // 1-based; 0 = whole file
    int column = 0;  // 1-based
};

enum class Severity { error, warning };

struct Diagnostic {
    Severity severity = Severity::error;
    Loc loc;
    std::string message;      // what is wrong
    std::string hint;         // how to fix it
    std::string str() const;  // "file:line:col: error: message (hint)"
};

class Diagnostics {
  public:
    void error(const Loc& loc, std::string message, std::string hint = {});
    void warning(const Loc& loc, std::string message, std::string hint = {});
    bool has_errors() const;
    const std::vector<Diagnostic>& all() const { return items_; }
    void append(const Diagnostics& other);

  private:
    std::vector<Diagnostic> items_;
};

}  // namespace policy
