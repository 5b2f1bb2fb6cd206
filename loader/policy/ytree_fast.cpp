// A fast reader for the plain subset of YAML that policies are usually written
// in (and `edgefw synth` writes): block mappings and sequences by indentation,
// one-line flow collections, plain one-line scalars, comments. It emits the
// very events yaml-cpp's parser emits for such text, marks included, and gives
// up (returns false) on anything else -- quotes, anchors, tags, block scalars,
// multi-line scalars, empty values, tabs, non-ASCII bytes, document markers --
// so the caller parses that text with yaml-cpp instead.
#include <yaml-cpp/eventhandler.h>

#include <cstring>
#include <string>
#include <vector>

#include "policy/ytree.h"

namespace policy::ytree {

namespace {

struct Unsupported {};

class FastReader {
  public:
    FastReader(const std::string& text, YAML::EventHandler& out) : t_(text), out_(out) {}

    void run() {
        split();
        if (lines_.empty() || lines_[0].indent != 0) throw Unsupported{};
        out_.OnDocumentStart(mark(0, 0));
        node(0);
        if (li_ != lines_.size()) throw Unsupported{};
        out_.OnDocumentEnd();
    }

  private:
    struct Line {
        size_t start, end;  // text of the line, without '\n'
        int number;         // 0-based, as yaml-cpp counts
        int indent;
    };

    static bool blank_or_end(char c) { return c == ' ' || c == '\0'; }
    static bool word(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    }
    // Characters a scalar may hold here; anything else makes the text unsupported.
    static bool scalar_char(char c) {
        return word(c) || std::strchr("._/-+=~();:?,$^", c) != nullptr;
    }
    static bool null_string(const std::string& s) {
        return s == "~" || s == "null" || s == "Null" || s == "NULL";
    }

    void split() {
        size_t pos = 0;
        int number = 0;
        while (pos < t_.size()) {
            size_t end = t_.find('\n', pos);
            if (end == std::string::npos) end = t_.size();
            for (size_t i = pos; i < end; i++) {
                unsigned char c = static_cast<unsigned char>(t_[i]);
                if (c < 0x20 || c > 0x7e) throw Unsupported{};
            }
            size_t first = pos;
            while (first < end && t_[first] == ' ') first++;
            if (first < end && t_[first] != '#') {
                if (t_.compare(first, 3, "---") == 0 || t_.compare(first, 3, "...") == 0 ||
                    t_[first] == '%')
                    throw Unsupported{};
                lines_.push_back(Line{pos, end, number, static_cast<int>(first - pos)});
            }
            pos = end + 1;
            number++;
        }
    }

    YAML::Mark mark(size_t line, int col) const {
        YAML::Mark m;
        m.pos = static_cast<int>(lines_[line].start) + col;
        m.line = lines_[line].number;
        m.column = col;
        return m;
    }
    // The character at column col of the current line ('\0' past its end).
    char at(int col) const {
        size_t i = lines_[li_].start + static_cast<size_t>(col);
        return i < lines_[li_].end ? t_[i] : '\0';
    }
    // Nothing but blanks and a comment from col on.
    bool rest_empty(int col) const {
        while (at(col) == ' ') col++;
        return at(col) == '\0' || (at(col) == '#' && at(col - 1) == ' ');
    }
    int skip_blanks(int col) const {
        while (at(col) == ' ') col++;
        return col;
    }

    void scalar(int col, const std::string& value) {
        if (null_string(value))
            out_.OnNull(mark(li_, col), YAML::NullAnchor);
        else
            out_.OnScalar(mark(li_, col), "?", YAML::NullAnchor, value);
    }

    // A plain scalar that starts at col: it must not start with an indicator.
    void check_start(int col) const {
        char c = at(col);
        if (!(word(c) || std::strchr("._/+~(", c) || (c == '-' && !blank_or_end(at(col + 1)))))
            throw Unsupported{};
    }

    // Where a block mapping key that starts at col ends (its ':'), or -1.
    int key_end(int col) const {
        for (int c = col; at(c) != '\0'; c++) {
            char ch = at(c);
            if (ch == ':' && blank_or_end(at(c + 1))) return c;
            if (ch == '#' && at(c - 1) == ' ') return -1;
            if (ch == '[' || ch == '{' || ch == '"' || ch == '\'') return -1;
        }
        return -1;
    }

    bool entry_at(int col) const { return at(col) == '-' && blank_or_end(at(col + 1)); }
    static bool flow_start(char c) { return c == '[' || c == '{'; }
    // A flow collection from column col that fills the rest of the line.
    void line_flow(int col) {
        if (!rest_empty(flow(col))) throw Unsupported{};
        li_++;
    }

    // The node whose first character is at column col of the current line.
    void node(int col) {
        if (entry_at(col)) return block_sequence(col);
        if (flow_start(at(col))) return line_flow(col);
        if (key_end(col) >= 0) return block_mapping(col);
        block_scalar(col);
    }

    // A plain scalar from col to the end of the line (or a comment).
    void block_scalar(int col) {
        check_start(col);
        int end = col;
        int last = col;  // one past the last non-blank
        for (; at(end) != '\0'; end++) {
            char ch = at(end);
            if (ch == ' ') {
                if (at(end + 1) == '#') break;
                continue;
            }
            if (!scalar_char(ch)) throw Unsupported{};
            if (ch == ':' && blank_or_end(at(end + 1))) throw Unsupported{};
            last = end + 1;
        }
        const Line& l = lines_[li_];
        scalar(col, t_.substr(l.start + col, last - col));
        li_++;
    }

    // After a value that ended its line, a more indented line would continue
    // it (a multi-line scalar): not handled here.
    void value_ends(int owner_indent) const {
        if (li_ < lines_.size() && lines_[li_].indent > owner_indent) throw Unsupported{};
    }

    void block_mapping(int col) {
        out_.OnMapStart(mark(li_, col), "?", YAML::NullAnchor, YAML::EmitterStyle::Block);
        while (true) {
            int colon = key_end(col);
            if (colon < 0) throw Unsupported{};
            int kend = colon;
            while (kend > col && at(kend - 1) == ' ') kend--;
            check_start(col);
            for (int c = col; c < kend; c++)
                if (!scalar_char(at(c)) && at(c) != ' ') throw Unsupported{};
            std::string key = t_.substr(lines_[li_].start + col, kend - col);
            if (null_string(key)) throw Unsupported{};
            out_.OnScalar(mark(li_, col), "?", YAML::NullAnchor, key);
            int v = skip_blanks(colon + 1);
            if (rest_empty(v)) {
                // The value is the block below, more indented than the key.
                li_++;
                if (li_ >= lines_.size() || lines_[li_].indent <= col) throw Unsupported{};
                node(lines_[li_].indent);
            } else {
                if (entry_at(v)) throw Unsupported{};
                if (flow_start(at(v)))
                    line_flow(v);
                else
                    block_scalar(v);
                value_ends(col);
            }
            if (li_ >= lines_.size() || lines_[li_].indent < col) break;
            if (lines_[li_].indent > col) throw Unsupported{};
            if (entry_at(col)) throw Unsupported{};
        }
        out_.OnMapEnd();
    }

    void block_sequence(int col) {
        out_.OnSequenceStart(mark(li_, col), "?", YAML::NullAnchor, YAML::EmitterStyle::Block);
        while (true) {
            int v = skip_blanks(col + 1);
            if (rest_empty(v)) throw Unsupported{};  // an item on the lines below, or none
            if (entry_at(v)) throw Unsupported{};
            if (flow_start(at(v))) {
                line_flow(v);
                value_ends(col);
            } else if (key_end(v) >= 0) {
                block_mapping(v);  // "- key: value" and its keys below at column v
            } else {
                block_scalar(v);
                value_ends(col);
            }
            if (li_ >= lines_.size() || lines_[li_].indent < col) break;
            if (lines_[li_].indent > col) throw Unsupported{};
            if (!entry_at(col)) break;
        }
        out_.OnSequenceEnd();
    }

    // A flow collection that opens at col and closes on the same line;
    // returns the column after it.
    int flow(int col) {
        bool map = at(col) == '{';
        char close = map ? '}' : ']';
        if (map)
            out_.OnMapStart(mark(li_, col), "?", YAML::NullAnchor, YAML::EmitterStyle::Flow);
        else
            out_.OnSequenceStart(mark(li_, col), "?", YAML::NullAnchor, YAML::EmitterStyle::Flow);
        int c = skip_blanks(col + 1);
        if (at(c) != close) {
            while (true) {
                if (map) {
                    c = flow_scalar(c, true);
                    if (!(at(c) == ':' && at(c + 1) == ' ')) throw Unsupported{};
                    c = skip_blanks(c + 1);
                }
                c = flow_start(at(c)) ? flow(c) : flow_scalar(c, false);
                c = skip_blanks(c);
                if (at(c) == close) break;
                if (at(c) != ',') throw Unsupported{};
                c = skip_blanks(c + 1);
                if (at(c) == close) throw Unsupported{};  // a trailing comma
            }
        }
        if (map)
            out_.OnMapEnd();
        else
            out_.OnSequenceEnd();
        return c + 1;
    }

    // A plain scalar inside a flow collection; returns the column after it.
    int flow_scalar(int col, bool key) {
        check_start(col);
        int end = col, last = col;
        for (; at(end) != '\0'; end++) {
            char ch = at(end);
            if (ch == ',' || ch == ']' || ch == '}') break;
            if (ch == ':') {
                char next = at(end + 1);
                if (next == ' ') break;
                if (!(word(next) || next == ':' || next == '/' || next == '.')) throw Unsupported{};
            } else if (ch == ' ') {
                if (at(end + 1) == '#') throw Unsupported{};
                continue;
            } else if (!scalar_char(ch) || ch == '?') {
                throw Unsupported{};
            }
            last = end + 1;
        }
        if (at(end) == '\0' || last == col) throw Unsupported{};
        std::string value = t_.substr(lines_[li_].start + col, last - col);
        if (key && null_string(value)) throw Unsupported{};
        scalar(col, value);
        return last;
    }

    const std::string& t_;
    YAML::EventHandler& out_;
    std::vector<Line> lines_;
    size_t li_ = 0;
};

}  // namespace

bool read_plain(const std::string& text, YAML::EventHandler& out) {
    try {
        FastReader(text, out).run();
        return true;
    } catch (const Unsupported&) {
        return false;
    }
}

}  // namespace policy::ytree
