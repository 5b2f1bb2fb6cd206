// A parsed YAML document as the policy reader needs it: nodes with their type,
// scalar text and mark, built in one pass over yaml-cpp's event stream (which
// also finds duplicate keys). YNode answers the subset of YAML::Node's const
// interface the readers use; a key lookup compares scalar keys directly.
#pragma once

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace policy {

class YNode;

namespace ytree {

struct Rec {
    YAML::NodeType::value type = YAML::NodeType::Null;
    YAML::Mark mark = YAML::Mark::null_mark();
    std::string scalar;
    // Sequence: item indices. Map: key, value, key, value... in file order.
    std::vector<uint32_t> kids;
};

struct Doc {
    std::vector<Rec> recs;
};

struct Entry;
class Iter;

}  // namespace ytree

class YNode {
  public:
    YNode() = default;  // undefined: a key that is not there
    YNode(std::shared_ptr<const ytree::Doc> doc, uint32_t index)
        : doc_(std::move(doc)), index_(index) {}

    bool IsDefined() const { return doc_ != nullptr; }
    explicit operator bool() const { return IsDefined(); }
    YAML::NodeType::value Type() const { return doc_ ? rec().type : YAML::NodeType::Undefined; }
    bool IsNull() const { return Type() == YAML::NodeType::Null; }
    bool IsScalar() const { return Type() == YAML::NodeType::Scalar; }
    bool IsSequence() const { return Type() == YAML::NodeType::Sequence; }
    bool IsMap() const { return Type() == YAML::NodeType::Map; }
    const std::string& Scalar() const;
    YAML::Mark Mark() const { return doc_ ? rec().mark : YAML::Mark::null_mark(); }
    // Items of a sequence, pairs of a map (a repeated key counts twice), else 0.
    size_t size() const;
    // The value of the first pair whose key is a scalar equal to `key`;
    // undefined when there is none or this is not a mapping.
    YNode operator[](const std::string& key) const;

    // In a sequence its items, in a mapping its pairs (ytree::Entry).
    ytree::Iter begin() const;
    ytree::Iter end() const;

  private:
    friend class ytree::Iter;
    const ytree::Rec& rec() const { return doc_->recs[index_]; }
    std::shared_ptr<const ytree::Doc> doc_;
    uint32_t index_ = 0;
};

namespace ytree {

// What iterating yields, as with yaml-cpp: in a sequence the item itself, in a
// mapping `first` (the key) and `second` (the value).
struct Entry : YNode {
    YNode first, second;
};

class Iter {
  public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = Entry;
    using difference_type = std::ptrdiff_t;
    using pointer = const Entry*;
    using reference = const Entry&;
    Iter() = default;
    Iter(YNode owner, size_t pos) : owner_(std::move(owner)), pos_(pos) {}
    reference operator*() const;
    pointer operator->() const { return &**this; }
    Iter& operator++();
    Iter operator++(int) {
        Iter old = *this;
        ++*this;
        return old;
    }
    bool operator==(const Iter& o) const { return pos_ == o.pos_; }
    bool operator!=(const Iter& o) const { return pos_ != o.pos_; }

  private:
    YNode owner_;  // a copy: begin() is often called on a temporary
    size_t pos_ = 0;
    mutable Entry cur_;
    mutable bool loaded_ = false;
};

// A repeated key of one mapping (only scalar keys are compared).
struct Duplicate {
    std::string key;
    YAML::Mark first, second;
};

// Parses the first document of `text` with yaml-cpp's parser, one pass over
// its events; no document gives a null node with a null mark (as YAML::Load
// does). Throws YAML::Exception on a syntax error.
YNode parse(const std::string& text, std::vector<Duplicate>& duplicates);

}  // namespace ytree

}  // namespace policy
