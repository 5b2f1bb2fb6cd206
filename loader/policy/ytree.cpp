#include "policy/ytree.h"

#include <yaml-cpp/eventhandler.h>

#include <map>
#include <optional>
#include <sstream>

namespace policy {

const std::string& YNode::Scalar() const {
    static const std::string empty;
    return doc_ ? rec().scalar : empty;
}

size_t YNode::size() const {
    if (!doc_) return 0;
    const ytree::Rec& r = rec();
    if (r.type == YAML::NodeType::Sequence) return r.kids.size();
    if (r.type == YAML::NodeType::Map) return r.kids.size() / 2;
    return 0;
}

YNode YNode::operator[](const std::string& key) const {
    if (!doc_ || rec().type != YAML::NodeType::Map) return {};
    const auto& kids = rec().kids;
    for (size_t i = 0; i + 1 < kids.size(); i += 2) {
        const ytree::Rec& k = doc_->recs[kids[i]];
        if (k.type == YAML::NodeType::Scalar && k.scalar == key) return YNode(doc_, kids[i + 1]);
    }
    return {};
}

ytree::Iter YNode::begin() const { return ytree::Iter(*this, 0); }

ytree::Iter YNode::end() const {
    bool collection =
        doc_ && (rec().type == YAML::NodeType::Sequence || rec().type == YAML::NodeType::Map);
    return ytree::Iter(*this, collection ? rec().kids.size() : 0);
}

namespace ytree {

Iter::reference Iter::operator*() const {
    if (!loaded_) {
        const Rec& r = owner_.rec();
        if (r.type == YAML::NodeType::Map) {
            cur_.first = YNode(owner_.doc_, r.kids[pos_]);
            cur_.second = YNode(owner_.doc_, r.kids[pos_ + 1]);
        } else {
            static_cast<YNode&>(cur_) = YNode(owner_.doc_, r.kids[pos_]);
        }
        loaded_ = true;
    }
    return cur_;
}

Iter& Iter::operator++() {
    pos_ += owner_.rec().type == YAML::NodeType::Map ? 2 : 1;
    loaded_ = false;
    return *this;
}

namespace {

// YAML::Load's node building (yaml-cpp's NodeBuilder: a node's mark is its
// event's, an alias is the anchored node itself) plus the duplicate-key check:
// yaml-cpp keeps both pairs of a repeated key silently. Aliases are events,
// never expanded, so the pass is linear in the text.
class Builder : public YAML::EventHandler {
  public:
    explicit Builder(Doc& doc, std::vector<Duplicate>& dups) : doc_(doc), dups_(dups) {}

    void OnDocumentStart(const YAML::Mark&) override {}
    void OnDocumentEnd() override {}
    void OnNull(const YAML::Mark& m, YAML::anchor_t anchor) override {
        add(make(YAML::NodeType::Null, m, anchor), nullptr);
    }
    void OnAlias(const YAML::Mark& m, YAML::anchor_t anchor) override {
        auto it = anchors_.find(anchor);
        uint32_t idx = it != anchors_.end() ? it->second : make(YAML::NodeType::Null, m, 0);
        add(idx, nullptr);
    }
    void OnScalar(const YAML::Mark& m, const std::string&, YAML::anchor_t anchor,
                  const std::string& v) override {
        uint32_t idx = make(YAML::NodeType::Scalar, m, anchor);
        doc_.recs[idx].scalar = v;
        add(idx, &v);
    }
    void OnSequenceStart(const YAML::Mark& m, const std::string&, YAML::anchor_t anchor,
                         YAML::EmitterStyle::value) override {
        open(YAML::NodeType::Sequence, m, anchor);
    }
    void OnSequenceEnd() override { stack_.pop_back(); }
    void OnMapStart(const YAML::Mark& m, const std::string&, YAML::anchor_t anchor,
                    YAML::EmitterStyle::value) override {
        open(YAML::NodeType::Map, m, anchor);
    }
    void OnMapEnd() override { stack_.pop_back(); }

    bool has_root() const { return root_; }

  private:
    struct Level {
        uint32_t rec;
        bool map;
        bool at_value;  // the next node is a value (else a key)
        std::map<std::string, YAML::Mark> keys;
    };
    uint32_t make(YAML::NodeType::value type, const YAML::Mark& m, YAML::anchor_t anchor) {
        uint32_t idx = static_cast<uint32_t>(doc_.recs.size());
        doc_.recs.push_back(Rec{type, m, {}, {}});
        if (anchor) anchors_[anchor] = idx;
        return idx;
    }
    void open(YAML::NodeType::value type, const YAML::Mark& m, YAML::anchor_t anchor) {
        uint32_t idx = make(type, m, anchor);
        add(idx, nullptr);
        stack_.push_back(Level{idx, type == YAML::NodeType::Map, false, {}});
    }
    // A node starts; in a mapping it alternates key, value. Only scalar keys
    // are compared (a complex key is never a schema key anyway).
    void add(uint32_t idx, const std::string* scalar) {
        if (stack_.empty()) {
            root_ = true;
            return;
        }
        Level& l = stack_.back();
        doc_.recs[l.rec].kids.push_back(idx);
        if (!l.map) return;
        if (!l.at_value && scalar) {
            auto [it, fresh] = l.keys.emplace(*scalar, doc_.recs[idx].mark);
            if (!fresh) dups_.push_back(Duplicate{*scalar, it->second, doc_.recs[idx].mark});
        }
        l.at_value = !l.at_value;
    }

    Doc& doc_;
    std::vector<Duplicate>& dups_;
    std::vector<Level> stack_;
    std::map<YAML::anchor_t, uint32_t> anchors_;
    bool root_ = false;
};

}  // namespace

YNode parse(const std::string& text, std::vector<Duplicate>& duplicates) {
    auto doc = std::make_shared<Doc>();
    std::istringstream in(text);
    YAML::Parser parser(in);
    Builder b(*doc, duplicates);
    if (!parser.HandleNextDocument(b) || !b.has_root()) doc->recs.assign(1, Rec{});
    return YNode(std::move(doc), 0);
}

}  // namespace ytree

}  // namespace policy
